"""Claims: a suite's hypotheses tested against its results, paired by seed, Holm across the suite's claims.

`table` builds one row per cell (planned by the sweep, filled from the results folder), `groups` selects a claim's
cells, `judge` computes the verdicts, `render` prints them, `checks` refuses claims the sweep cannot answer."""

"""Loading a suite with everything it names registered: the pruning methods (whose options models validate
`prune.methods`) and the grid data (which checks `footprint.site` country and region names).

The config layer validates against registries it does not import (it is the ground floor); this module sits above
the packages that fill them and imports them first, so the command line and scripts load suites through it.
"""

from __future__ import annotations

import ecobench.footprint  # registers the grid data the site validators read
import ecobench.prune.methods  # noqa: F401 (registers every built-in method's options model)
from ecobench.config.load import SuiteFile, load_suite, suite_from_text

__all__ = ["SuiteFile", "load_suite", "suite_from_text"]

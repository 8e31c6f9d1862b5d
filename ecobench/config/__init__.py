"""The suite as data: schema (plain config objects the library reads), YAML loading, `--set`, error lines.

Deliberately empty: `ecobench.config.schema` is imported by library code (train, prune, data, models) and must not
pull in the YAML loader. Load suites with `ecobench.config.load.load_suite`.
"""

"""The suite as data: schema (plain config objects the library reads), YAML loading, `--set`, error lines.

Deliberately empty: `ecobench.config.schema` is imported by library code (train, prune, data, models) and must not
pull in the YAML loader. The config layer is the ground floor: it imports no other package of ecobench
(tests/test_layers.py); what it validates against (method options, grid data) is registered by the packages that own
it. Load suites with `ecobench.suites.load_suite`, which imports those packages first.
"""

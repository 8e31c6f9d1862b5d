"""Reports: tables (`compare`), figures (`plot`) and one HTML page (`report`), read only from results folders.

Nothing here trains or imports torch: every number comes through `ecobench.results`.
"""

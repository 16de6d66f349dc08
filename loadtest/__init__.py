"""Load testing and benchmarks for `live`: `python -m loadtest --help`."""

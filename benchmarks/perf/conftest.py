"""pytest-benchmark settings of the ratio benchmarks (``nox -s perf``)."""

"""``mmharness bench``: latency and throughput of a deployed model, measured the way
trtexec and MLPerf SingleStream do, with power and energy when the device reports them.

``stats.py`` holds the statistics (nearest-rank percentiles), ``measure.py`` the timed loop,
``api.py`` the one library call the CLI makes (inputs via ``harness.runner.feeds``, the backend
via ``backend.py``), ``document.py`` the validated ``bench.json``, ``render.py`` the text the
CLI prints. Nothing here imports a runtime at import time.
"""

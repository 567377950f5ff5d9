"""Device telemetry recorded around ``bench`` and ``run``: power rails, clocks, temperatures.

Sources are small readers, one per kind of hardware: Jetson ``tegrastats`` lines
(``tegrastats.py``), the Jetson INA3221 power monitors in sysfs (``ina3221.py``), NVML on desktop
GPUs (``nvml.py``), and the static Jetson power configuration from ``nvpmodel -q`` /
``jetson_clocks --show`` (``jetson.py``). ``sampler.py`` polls the chosen source on a thread and
turns the samples into mean power and energy per inference; ``probe.py`` picks a source and
records every source that cannot run here as skipped, with the reason. Nothing here imports a
heavy module at import time.
"""

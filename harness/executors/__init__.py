"""Executors: where the work units of ``mmharness run`` / ``bias`` execute (``--executor``).

``local`` runs them in this process, one after another; ``ray`` on the actors of a Ray
cluster (embedded when no ``--ray-address`` is given). Ray is imported only by ``ray.py``,
only when chosen."""

from __future__ import annotations

import json
import math

from harness.errors import ConfigError
from harness.executors.interface import EXECUTORS, Done, Executor, ExecutorSpec, Pool, Unit

RESOURCE_KEYS: tuple[str, ...] = ("num_cpus", "num_gpus", "memory")


def executor_for(spec: ExecutorSpec) -> Executor:
    """The executor ``spec`` names (ray is imported here, lazily)."""
    if spec.name == "local":
        if spec.address is not None or spec.resources:
            raise ConfigError("--ray-address/--ray-resources apply to --executor ray only; add --executor ray")
        from harness.executors.local import LocalExecutor

        return LocalExecutor()
    if spec.name == "ray":
        from harness.executors.ray import RayExecutor

        return RayExecutor(spec.address, dict(spec.resources))
    raise ConfigError(f"--executor {spec.name!r}: expected one of {', '.join(EXECUTORS)}")


def parse_resources(text: str | None) -> tuple[tuple[str, float], ...]:
    """``--ray-resources '{"num_gpus": 0.5}'`` -> ``(("num_gpus", 0.5),)``; a one-line error otherwise."""
    if not text:
        return ()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"--ray-resources {text!r}: not JSON ({error.msg}); e.g. '{{\"num_gpus\": 0.5}}'") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"--ray-resources {text!r}: expected a JSON object, e.g. '{{\"num_gpus\": 0.5, \"num_cpus\": 2}}'")
    out = []
    for key, value in doc.items():
        if key not in RESOURCE_KEYS:
            raise ConfigError(f"--ray-resources: unknown key {key!r}; use {', '.join(RESOURCE_KEYS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"--ray-resources: {key} must be a number >= 0, got {value!r}")
        out.append((key, float(value)))
    return tuple(sorted(out))


__all__ = ["EXECUTORS", "Done", "Executor", "ExecutorSpec", "Pool", "Unit", "executor_for", "parse_resources"]

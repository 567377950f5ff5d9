"""The Ray executor: work units run on Ray actors, each holding one worker (one backend
session, the samples it read) for the whole run; finished units stream back with
``ray.wait`` so the caller stores each one as it arrives.

An actor that dies is restarted and its unit retried (Ray's ``max_restarts`` /
``max_task_retries``); units already returned are the caller's and never re-run. Resources
per actor come from the backend (``num_gpus=1`` for the GPU backends, else ``num_cpus=1``)
unless ``--ray-resources`` says otherwise. Without ``--ray-address`` an embedded local Ray is
started (or the one this process already joined is reused) and stopped at the end."""

from __future__ import annotations

import logging
import math
import os
import socket
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from harness.errors import ConfigError, InfrastructureError
from harness.executors.interface import Done, OnSamples, Unit

GPU_BACKENDS: tuple[str, ...] = ("ort:cuda", "ort:tensorrt", "trt")
RETRIES = 3  # restarts of a dead actor, and retries of the unit it was running
DEPTH = 2  # units queued per actor, so it never waits for the driver between two
CONNECT_SECONDS = 5.0


def import_ray() -> Any:
    """``ray``, or the one-line error naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise InfrastructureError("--executor ray: Ray is not installed; pip install 'mmharness[ray]' (from a clone: pip install '.[ray]')") from None
    return ray


def default_resources(backend: str) -> dict[str, float]:
    """What one worker asks of the cluster for ``--backend``: a GPU, or a CPU core."""
    return {"num_gpus": 1.0} if backend.split(",")[0].strip() in GPU_BACKENDS else {"num_cpus": 1.0}


def _reachable(address: str) -> None:
    """Fail in seconds, not minutes (Ray's own connect retries for long), on a dead address."""
    if address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray-address {address!r}: expected HOST:PORT (the head's GCS, e.g. 10.0.0.1:6379), ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_SECONDS).close()
    except OSError as error:
        raise InfrastructureError(
            f"--ray-address {address}: nothing answers there ({error.strerror or error}); start the head with "
            "`ray start --head` or drop --ray-address for an embedded local Ray"
        ) from None


@contextmanager
def connected(address: str | None) -> Iterator[Any]:
    """``ray`` joined to the cluster at ``address`` (else embedded); shut down only if joined here."""
    ray = import_ray()
    joined = False
    if not ray.is_initialized():
        if address is not None:
            _reachable(address)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError) as error:
            where = f"--ray-address {address}" if address else "--executor ray (embedded local Ray)"
            raise InfrastructureError(f"{where}: Ray did not start: {str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
        joined = True
    try:
        yield ray
    finally:
        if joined:
            ray.shutdown()


def cluster_offer(address: str | None) -> dict[str, float]:
    """CPUs, GPUs and memory of the cluster at ``address`` (for ``mmharness doctor``)."""
    with connected(address) as ray:
        total = ray.cluster_resources()
        return {key.lower(): float(total[key]) for key in ("CPU", "GPU", "memory") if key in total} | {"nodes": float(len(ray.nodes()))}


class _Host:
    """The actor body. The worker is built on the first call, so an error there (a missing
    model, an unavailable backend) returns like any task error, one line with its exit code."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory
        self.worker: Any = None

    def _worker(self) -> Any:
        if self.worker is None:
            self.worker = self.factory()
        return self.worker

    def where(self) -> dict[str, Any]:
        import ray

        context = ray.get_runtime_context()
        return {"executor": "ray", "node": context.get_node_id(), "host": socket.gethostname(), "pid": os.getpid(),
                "gpus": [str(g) for g in ray.get_gpu_ids()], **self._worker().identity()}

    def ask(self, method: str, args: tuple[Any, ...]) -> Any:
        return getattr(self._worker(), method)(*args)

    def run(self, method: str, args: tuple[Any, ...]) -> tuple[Any, dict[str, Any]]:
        return getattr(self._worker(), method)(*args, on_batch=None), self.where()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None


def _value(ray: Any, ref: Any, what: str) -> Any:
    """``ray.get`` with the worker's own error re-raised (its message and exit code)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as error:
        cause = getattr(error, "cause", None)
        if isinstance(cause, BaseException):
            raise cause from None
        raise
    except ray.exceptions.RayActorError as error:
        raise InfrastructureError(
            f"--executor ray: the worker running {what} died and stayed dead after {RETRIES} restarts "
            f"({str(error).splitlines()[0]}); finished cells are kept, rerun with --resume"
        ) from None


class RayPool:
    def __init__(self, ray: Any, actors: list[Any]) -> None:
        self.ray, self.actors = ray, actors
        self.workers = len(actors)

    def _actor(self, group: int | None) -> Any:
        return self.actors[(group or 0) % self.workers]

    def ask(self, method: str, *args: Any, group: int | None = None) -> Any:
        return _value(self.ray, self._actor(group).ask.remote(method, args), method)

    def run(self, units: Sequence[Unit], on_samples: OnSamples) -> Iterator[Done]:
        shared = deque(unit for unit in units if unit.group is None)
        grouped: dict[int, deque[Unit]] = {}
        for unit in units:
            if unit.group is not None:
                grouped.setdefault(unit.group % self.workers, deque()).append(unit)
        flying: dict[Any, tuple[Unit, int]] = {}

        def submit(k: int) -> None:
            queue = grouped.get(k) or shared
            if queue:
                unit = queue.popleft()
                flying[self.actors[k].run.remote(unit.method, unit.args)] = (unit, k)

        for k in range(self.workers):
            for _ in range(DEPTH):
                submit(k)
        while flying:
            ready, _ = self.ray.wait(list(flying), num_returns=1)
            unit, k = flying.pop(ready[0])
            value, where = _value(self.ray, ready[0], str(unit.key))
            on_samples(unit.size)
            yield Done(unit, value, where)
            submit(k)


class RayExecutor:
    name = "ray"

    def __init__(self, address: str | None = None, resources: dict[str, float] | None = None) -> None:
        self.address = address
        self.resources = dict(resources or {})

    def _count(self, ray: Any, per: dict[str, float], most: int | None) -> int:
        """How many actors the cluster holds at once with ``per`` each (at most ``most``)."""
        total = ray.cluster_resources()
        counts = [math.floor(total.get(name, 0.0) / per[key] + 1e-9) for key, name in (("num_gpus", "GPU"), ("num_cpus", "CPU")) if per.get(key)]
        n = min(counts) if counts else int(total.get("CPU", 1))
        if n < 1:
            offer = ", ".join(f"{k} {v:g}" for k, v in sorted(total.items()) if k in ("CPU", "GPU")) or "nothing"
            raise InfrastructureError(f"--executor ray: each worker needs {per} but the cluster offers {offer}; "
                                      "add nodes with GPUs, or lower the request with --ray-resources")
        return max(1, min(n, most)) if most is not None else n

    @contextmanager
    def open(self, factory: Callable[[], Any], backend: str, most: int | None = None) -> Iterator[RayPool]:
        per = self.resources or default_resources(backend)
        with connected(self.address) as ray:
            options = {"max_restarts": RETRIES, "max_task_retries": RETRIES, **per}
            host = ray.remote(_Host).options(**options)
            actors = [host.remote(factory) for _ in range(self._count(ray, per, most))]
            try:
                yield RayPool(ray, actors)
            finally:
                _stop(ray, actors)


def _stop(ray: Any, actors: list[Any]) -> None:
    """Let each worker close its session (and drop its private cache), then free its resources."""
    try:
        ray.wait([actor.close.remote() for actor in actors], num_returns=len(actors), timeout=30)
    finally:
        for actor in actors:
            ray.kill(actor)

"""The local executor: one worker in this process, units in order, progress per batch."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from harness.executors.interface import Done, OnSamples, Unit


class LocalPool:
    workers = 1

    def __init__(self, worker: Any) -> None:
        self.worker = worker

    def ask(self, method: str, *args: Any, group: int | None = None) -> Any:
        return getattr(self.worker, method)(*args)

    def run(self, units: Sequence[Unit], on_samples: OnSamples) -> Iterator[Done]:
        for unit in units:
            value = getattr(self.worker, unit.method)(*unit.args, on_batch=on_samples)
            yield Done(unit, value, {"executor": "local", "node": socket.gethostname(), **self.worker.identity()})


class LocalExecutor:
    name = "local"

    @contextmanager
    def open(self, factory: Callable[[], Any], backend: str, most: int | None = None) -> Iterator[LocalPool]:
        worker = factory()
        try:
            yield LocalPool(worker)
        finally:
            worker.close()

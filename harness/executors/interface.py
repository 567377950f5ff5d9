"""Where the work units of a sweep or a probe run execute; nothing else about a run depends on it.

A *worker* is an object built once per worker process by a picklable ``factory`` (it opens
the backend session and keeps the data it reads); a ``Unit`` names one of its methods and the
arguments. ``Pool.run`` calls them and yields each ``Done`` as it finishes (completion order;
callers key results by ``Unit.key``). Units of one ``group`` always run on the same worker, so
a worker reads its block of samples once. Worker methods take ``on_batch`` (samples done so
far, for progress) and workers offer ``identity()`` (the device they run on)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

EXECUTORS: tuple[str, ...] = ("local", "ray")
OnSamples = Callable[[int], None]


@dataclass(frozen=True)
class ExecutorSpec:
    """``--executor``, ``--ray-address``, ``--ray-resources`` (not part of a run's identity)."""

    name: str = "local"
    address: str | None = None
    resources: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address, "resources": dict(self.resources)}


@dataclass(frozen=True)
class Unit:
    """One piece of work: ``method(*args)`` on a worker; ``size`` samples (progress on arrival)."""

    key: Hashable
    method: str
    args: tuple[Any, ...] = ()
    size: int = 0
    group: int | None = None


@dataclass(frozen=True)
class Done:
    """A finished unit, its value, and where it ran (``worker``: executor, node, device...)."""

    unit: Unit
    value: Any
    worker: dict[str, Any] = field(default_factory=dict)


class Pool(Protocol):
    """Live workers. ``workers`` is how many run at once (1 for the local executor)."""

    workers: int

    def ask(self, method: str, *args: Any, group: int | None = None) -> Any:
        """One worker's answer (the worker of ``group`` when given), e.g. its batching."""
        ...

    def run(self, units: Sequence[Unit], on_samples: OnSamples) -> Iterator[Done]: ...


class Executor(Protocol):
    name: str

    def open(self, factory: Callable[[], Any], backend: str, most: int | None = None) -> AbstractContextManager[Pool]:
        """Start the workers (at most ``most``) for a run on ``--backend`` ``backend``."""
        ...


def gather(finished: Iterable[Done], parts: int) -> Iterator[tuple[Hashable, list[Done]]]:
    """Units keyed ``(name, part)`` regrouped: ``(name, its parts in order)`` as soon as all
    ``parts`` of it are back (a cell split into sample blocks is finished when they all are)."""
    pending: dict[Hashable, dict[int, Done]] = {}
    for done in finished:
        name, part = done.unit.key  # type: ignore[misc]
        got = pending.setdefault(name, {})
        got[part] = done
        if len(got) == parts:
            del pending[name]
            yield name, [got[k] for k in range(parts)]

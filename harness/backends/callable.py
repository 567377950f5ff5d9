"""``CallableBackend``: any ``feeds -> outputs`` Python function as a backend (a shipped test
double, like httpx's ``MockTransport``).

Tests of the runner, scenarios and reports need no ONNX at all: declare the input and output
specs, give a function, and get a ``Session`` that checks feeds exactly like a real backend and
checks the function's outputs against the declared specs, so a broken double fails loudly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.backends.interface import TensorSpec, check_feed
from harness.errors import InternalError

Function = Callable[[Mapping[str, npt.NDArray[Any]]], Mapping[str, npt.NDArray[Any]]]


@dataclass(frozen=True)
class CallableBackend:
    """``fn`` with declared ``inputs``/``outputs``; picklable when ``fn`` is a module-level function."""

    fn: Function
    inputs: Sequence[TensorSpec]
    outputs: Sequence[TensorSpec]
    label: str = "callable"
    extra_provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.label

    def open(self) -> CallableSession:
        return CallableSession(self)


class CallableSession:
    """Runs the function; feeds checked by ``check_feed``, outputs checked against the specs."""

    def __init__(self, backend: CallableBackend) -> None:
        self.backend = backend
        self.calls = 0  # how many times ``run`` was called (tests assert batching with it)

    @property
    def inputs(self) -> list[TensorSpec]:
        return list(self.backend.inputs)

    @property
    def outputs(self) -> list[TensorSpec]:
        return list(self.backend.outputs)

    @property
    def provenance(self) -> dict[str, Any]:
        fn = self.backend.fn
        return {
            "backend": self.backend.label,
            "runtime": "python",
            "provider": "python",
            "device": "cpu",
            "function": f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}",
            **dict(self.backend.extra_provenance),
        }

    def run(self, feeds: Mapping[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        check_feed(feeds, self.inputs, where=f"{self.backend.label} feed")
        self.calls += 1
        result = {name: np.asarray(value) for name, value in self.backend.fn(feeds).items()}
        try:
            check_feed(result, self.outputs, where=f"{self.backend.label} outputs")
        except Exception as error:
            raise InternalError(f"the function behind CallableBackend broke its declared outputs: {error}") from None
        return result

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> CallableSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

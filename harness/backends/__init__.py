"""Runtimes that execute a deployed graph: ONNX Runtime (CPU/CUDA/TensorRT EP), native TensorRT.

``interface.py`` holds the protocol every backend implements; each implementation is one
module beside it and imports its runtime lazily. ``select.py`` turns ``--backend NAME`` and
``--backend-opt key=value`` into a backend; ``callable.py`` is the shipped test double.

    request = parse_backend("ort:cpu", ["threads=2"])
    with backend_for(manifest, request).open() as session:
        outputs = session.run(feeds)
"""

from __future__ import annotations

from harness.backends.interface import (
    Availability,
    Backend,
    Session,
    SessionBase,
    SupportsDeviceTiming,
    TensorSpec,
    cast_feeds_to,
    check_feed,
    parse_options,
)
from harness.backends.select import (
    BACKENDS,
    DEFAULT_BACKEND,
    BackendRequest,
    availability,
    backend_for,
    graph_file_for,
    parse_backend,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "Availability",
    "Backend",
    "BackendRequest",
    "Session",
    "SessionBase",
    "SupportsDeviceTiming",
    "TensorSpec",
    "availability",
    "backend_for",
    "cast_feeds_to",
    "check_feed",
    "graph_file_for",
    "parse_backend",
    "parse_options",
]

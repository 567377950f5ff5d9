"""Choosing a backend: ``--backend NAME`` and ``--backend-opt key=value`` -> a ``Backend``.

``BACKENDS`` maps names to factories ``(graph_path, options) -> Backend`` registered as lazy
``"module:attr"`` targets, so naming a backend imports nothing heavy. ``parse_backend``
validates the name (did-you-mean on typos) and the option syntax up front; ``backend_for``
picks the file a backend runs from a manifest (an ONNX graph for ``ort:*``, the engine for
``trt``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.backends.interface import Availability, Backend, parse_options
from harness.errors import ManifestError
from harness.registry import Registry

if TYPE_CHECKING:  # harness.manifest imports this package: no runtime import back
    from harness.manifest import Manifest

BackendFactory = Callable[[str, Mapping[str, str]], Backend]

BACKENDS: Registry[BackendFactory] = Registry("backend")
BACKENDS.add("ort:cpu", "harness.backends.ort:cpu_backend")
BACKENDS.add("ort:cuda", "harness.backends.ort:cuda_backend")
BACKENDS.add("ort:tensorrt", "harness.backends.ort:tensorrt_backend")
BACKENDS.add("trt", "harness.backends.tensorrt:trt_backend")

DEFAULT_BACKEND = "ort:cpu"
ENGINE_ROLE_SUFFIX = ".engine"


@dataclass(frozen=True)
class BackendRequest:
    """A validated ``--backend`` + ``--backend-opt`` pair; ``create`` makes the recipe."""

    name: str
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def needs_engine(self) -> bool:
        return self.name == "trt"

    def create(self, path: str) -> Backend:
        """The backend recipe for ``path`` (options are type-checked here)."""
        return BACKENDS.get(self.name)(path, dict(self.options))


def parse_backend(name: str = DEFAULT_BACKEND, opts: Sequence[str] = ()) -> BackendRequest:
    """Validate a backend name and its ``key=value`` options (``ConfigError`` otherwise)."""
    BACKENDS.get(name)  # unknown name -> "did you mean ..."; imports the module (cheap, lazy inside)
    request = BackendRequest(name, parse_options(tuple(opts)))
    request.create(os.devnull)  # type-check options now, before any work starts
    return request


def graph_file_for(manifest: Manifest, request: BackendRequest, role: str = "model") -> str:
    """The file ``request`` runs for graph ``role`` of ``manifest``: ``graphs[role]`` for ONNX
    Runtime, ``graphs[role + ".engine"]`` for ``trt``. Missing -> ``ManifestError`` with the fix."""
    graphs, model_dir = manifest.graphs, manifest.model_dir
    key = role + ENGINE_ROLE_SUFFIX if request.needs_engine else role
    if key not in graphs:
        fix = "build one with: mmharness build MODEL_DIR --target trt" if request.needs_engine else "export it"
        raise ManifestError(
            f"{os.path.join(model_dir, 'manifest.json')}: graphs.{key}: not present (graphs: {', '.join(graphs)}); "
            f"--backend {request.name} needs it; {fix}"
        )
    return os.path.join(model_dir, graphs[key])


def backend_for(manifest: Manifest, request: BackendRequest, role: str = "model") -> Backend:
    """The backend recipe that runs graph ``role`` of ``manifest`` as ``request`` asks."""
    return request.create(graph_file_for(manifest, request, role))


def availability(name: str) -> Availability:
    """Whether backend ``name`` can run here, why not, and the fix (for ``mmharness doctor``)."""
    if name.startswith("ort:"):
        from harness.backends.ort import availability as ort_availability

        return ort_availability(name.split(":", 1)[1])  # type: ignore[arg-type]
    if name == "trt":
        from harness.backends.tensorrt import availability as trt_availability

        return trt_availability()
    return Availability(name, False, "no availability check for this backend")

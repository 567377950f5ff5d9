"""Open the three graphs of a VLM export as ``Session``s of the shared backend layer.

``--backend`` / ``--backend-opt`` are parsed by ``harness.backends.parse_backend``; each graph
role (vision, embedding, decoder) gets its own session from the same request, so every rule
of the backend layer (explicit provider, asserted active, no silent CPU fallback) holds here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import SimpleNamespace

from harness.backends import BackendRequest, Session, graph_file_for, parse_backend
from harness.mllm.manifest import VqaSpec, load_vqa_spec
from harness.mllm.runtime import VlmRuntime

ROLES: tuple[str, ...] = ("vision", "embedding", "decoder")


def open_session(spec: VqaSpec, role: str, request: BackendRequest) -> Session:
    """A live session for graph ``role`` (``graphs[role]``, or ``graphs[role + '.engine']`` for trt)."""
    if request.needs_engine:
        manifest = SimpleNamespace(graphs=spec.raw_graphs, model_dir=str(spec.model_dir))
        return request.create(graph_file_for(manifest, request, role)).open()
    return request.create(str(spec.graphs[role])).open()


@contextmanager
def open_runtime(
    model_dir: str | Path, backend: str = "ort:cpu", options: Sequence[str] = (), spec: VqaSpec | None = None
) -> Iterator[VlmRuntime]:
    """Load the manifest and open vision, embedding and decoder; closes them on exit."""
    spec = spec or load_vqa_spec(model_dir)
    request = parse_backend(backend, tuple(options))
    with ExitStack() as stack:
        sessions = [stack.enter_context(open_session(spec, role, request)) for role in ROLES]
        yield VlmRuntime(spec, *sessions)

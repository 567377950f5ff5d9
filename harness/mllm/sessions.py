"""Open the three graphs of a VLM export as ``Session``s of the shared backend layer.

``--backend`` / ``--backend-opt`` are parsed by ``harness.backends.parse_backend``; each graph
role (vision, embedding, decoder) gets its session from ``backend_for`` on the shared
manifest, so every rule of the backend layer (explicit provider, asserted active, no silent
CPU fallback, ``<role>.engine`` files for ``trt``) holds here too. The opened sessions' inputs
and outputs are then checked against the three-graph contract (``check_vqa_graphs``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from harness.backends import backend_for, parse_backend
from harness.mllm.manifest import VqaSpec, check_vqa_graphs, load_vqa_spec
from harness.mllm.runtime import VlmRuntime

ROLES: tuple[str, ...] = ("vision", "embedding", "decoder")


@contextmanager
def open_runtime(
    model_dir: str | Path, backend: str = "ort:cpu", options: Sequence[str] = (), spec: VqaSpec | None = None,
    graphs: Mapping[str, str] | None = None,
) -> Iterator[VlmRuntime]:
    """Load the manifest and open vision, embedding and decoder; closes them on exit. ``graphs``
    swaps in manifest graph keys per role (a precision variant: ``{"decoder": "decoder.int4"}``)."""
    from harness.manifest import load_manifest

    spec = spec or load_vqa_spec(model_dir)
    manifest = load_manifest(spec.model_dir)
    request = parse_backend(backend, tuple(options))
    keys = {role: (graphs or {}).get(role, role) for role in ROLES}
    with ExitStack() as stack:
        sessions = [stack.enter_context(backend_for(manifest, request, keys[role]).open()) for role in ROLES]
        # the contract against what really opened (any backend), before anything runs
        check_vqa_graphs(spec, dict(zip(ROLES, sessions)), str(spec.model_dir / "manifest.json"))
        yield VlmRuntime(spec, *(Renamed(s, spec.io[role]) if spec.io.get(role) else s
                                 for role, s in zip(ROLES, sessions)))


class Renamed:
    """A session fed and read by contract names whose graph uses the folder's (``vqa.io``), so a
    folder mmharness did not export runs as it is."""

    def __init__(self, session: Any, names: Mapping[str, str]) -> None:
        self.session, self.names = session, dict(names)
        self.back = {graph: contract for contract, graph in self.names.items()}

    def __getattr__(self, name: str) -> Any:  # provenance, inputs, ...: the wrapped session's
        if name == "run_keeping":  # only when the wrapped session keeps outputs (AttributeError otherwise)
            keeping = self.session.run_keeping
            return lambda feeds, keep: self._contract(keeping(self._graph(feeds), [self.names.get(n, n) for n in keep]))
        return getattr(self.session, name)

    def run(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        return self._contract(self.session.run(self._graph(feeds)))

    def _graph(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        return {self.names.get(name, name): value for name, value in feeds.items()}

    def _contract(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        return {self.back.get(name, name): value for name, value in outputs.items()}

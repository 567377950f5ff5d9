"""Open the three graphs of a VLM export as ``Session``s on a named backend (``ort:cpu`` …).

Sessions come from the shared backend layer (``harness.backends``) when it provides an
opener; otherwise (until then) a minimal ONNX Runtime session is used that follows the same
rules: explicit provider, asserted active, no silent CPU fallback.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.backends.interface import Session, TensorSpec
from harness.errors import BackendUnavailable, ConfigError
from harness.mllm.manifest import VqaSpec, load_vqa_spec
from harness.mllm.runtime import VlmRuntime

_ORT_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(int64)": np.int64,
               "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


class _OrtSession:
    """A minimal ONNX Runtime session satisfying the ``Session`` protocol."""

    def __init__(self, path: Path, provider: str, threads: int) -> None:
        import onnxruntime as ort

        if provider not in ort.get_available_providers():
            raise BackendUnavailable(
                f"{provider} is not available in onnxruntime {ort.__version__} "
                f"(available: {', '.join(ort.get_available_providers())}); use --backend ort:cpu"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.disable_cpu_ep_fallback", "1" if provider != "CPUExecutionProvider" else "0")
        self._session = ort.InferenceSession(str(path), options, providers=[provider])
        active = self._session.get_providers()[0]
        if active != provider:
            raise BackendUnavailable(f"{path.name}: asked for {provider}, onnxruntime activated {active}")
        self._provenance = {"backend": "ort", "provider": active, "onnxruntime": ort.__version__, "graph": path.name}
        self._inputs = [self._spec(arg) for arg in self._session.get_inputs()]
        self._outputs = [self._spec(arg) for arg in self._session.get_outputs()]
        self._output_names = [spec.name for spec in self._outputs]

    @staticmethod
    def _spec(arg: Any) -> TensorSpec:
        dtype = np.dtype(_ORT_DTYPES.get(arg.type, np.float32))
        return TensorSpec(arg.name, dtype, tuple(arg.shape))

    @property
    def inputs(self) -> list[TensorSpec]:
        return self._inputs

    @property
    def outputs(self) -> list[TensorSpec]:
        return self._outputs

    @property
    def provenance(self) -> dict[str, Any]:
        return dict(self._provenance)

    def run(self, feeds: Mapping[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        values = self._session.run(self._output_names, dict(feeds))
        return dict(zip(self._output_names, values))

    def close(self) -> None:
        self._session = None

    def __enter__(self) -> _OrtSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_session(path: Path, backend: str, threads: int = 1) -> Session:
    """A ``Session`` for one graph on ``backend`` (``ort:cpu``, ``ort:cuda``, ``ort:tensorrt``)."""
    kind, _, device = backend.partition(":")
    if kind != "ort" or device not in _ORT_PROVIDERS:
        raise ConfigError(f"--backend {backend!r}: expected one of {', '.join('ort:' + d for d in _ORT_PROVIDERS)}")
    return _OrtSession(path, _ORT_PROVIDERS[device], threads)


@contextmanager
def open_runtime(model_dir: str | Path, backend: str = "ort:cpu", spec: VqaSpec | None = None) -> Iterator[VlmRuntime]:
    """Load the manifest and open vision, embedding and decoder; closes them on exit."""
    spec = spec or load_vqa_spec(model_dir)
    with ExitStack() as stack:
        sessions = [stack.enter_context(open_session(spec.graphs[role], backend)) for role in ("vision", "embedding", "decoder")]
        yield VlmRuntime(spec, *sessions)

"""ONNX Runtime backends ``ort:cpu``, ``ort:cuda`` and ``ort:tensorrt`` — never a silent CPU run.

Providers are always explicit. Before creating a session the requested provider must be in
the wheel's build list (else: what is installed, what to install); GPU sessions set
``session.disable_cpu_ep_fallback=1``; after creation ``get_providers()[0]`` must be the
provider asked for, because onnxruntime-gpu on a machine without a usable GPU logs an error and
runs on CPU anyway. GPU sessions copy inputs once through IOBinding and can time the copies
and the compute separately. The TensorRT EP caches its engines in a directory keyed by GPU SM,
TensorRT, ONNX Runtime and precision, so a cache is never reused across any of them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from harness.backends.interface import Availability, SessionBase, TensorSpec, check_feed
from harness.backends.options import OptionReader
from harness.errors import (
    BackendUnavailable,
    BadInputError,
    ConfigError,
    InfrastructureError,
    InternalError,
    ManifestError,
)

Device = Literal["cpu", "cuda", "tensorrt"]
PROVIDERS: dict[str, str] = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}
OPT_LEVELS = ("disable", "basic", "extended", "all")
PRECISIONS = ("fp32", "fp16", "int8")
HARNESS_OPTIONS = (
    "threads",
    "opt_level",
    "iobinding",
    "precision",
    "cache_dir",
    "log_severity",
    "device_id",
    "cpu_nodes",
)
FALLBACK_KEY = "session.disable_cpu_ep_fallback"
SESSION_PREFIX = "session."  # --backend-opt session.<key>=value -> SessionOptions.add_session_config_entry
# Session config entries ort:cpu sets unless the user passes the key (docs/backends.md).
# Intra-op worker threads that spin after each operator burn the time slices of everything else
# on the cores: the harness's own prefetch/scoring threads, CI neighbours, other jobs. Measured
# on 2 shared cores (benchmarks/bench_ort_spinning.py, `mmharness bench`): spinning off gave
# 1.9-2.3x the bare-loop images/s under load, an EMM sweep 1.33x faster, bench p99 ~40 % lower
# at the same p50; only on a quiet moment did spinning win (1.36x). Overridable with
# `--backend-opt session.intra_op.allow_spinning=1`, recorded in provenance either way.
CPU_SESSION_DEFAULTS: dict[str, str] = {"session.intra_op.allow_spinning": "0"}
CPU_FALLBACK_REFUSED = "fallback to CPU EP has been explicitly disabled"
DEFAULT_CACHE_ROOT = os.path.join(os.path.expanduser("~"), ".cache", "mmharness", "ort-trt")

_ORT_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int16)": np.int16,
    "tensor(uint16)": np.uint16,
    "tensor(int32)": np.int32,
    "tensor(uint32)": np.uint32,
    "tensor(int64)": np.int64,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
}
_GRAPH_ERRORS = {"InvalidGraph", "InvalidProtobuf", "NoSuchFile", "ModelLoaded"}


def ort_type_to_numpy(type_string: str) -> np.dtype:
    """``'tensor(float16)'`` -> ``float16``; other element types (bfloat16, strings) are refused."""
    try:
        return np.dtype(_ORT_TYPES[type_string])
    except KeyError:
        raise ManifestError(
            f"onnxruntime tensor type {type_string!r} has no NumPy equivalent; export with float32/float16"
        ) from None


def _import_ort() -> Any:
    try:
        import onnxruntime
    except ImportError as error:
        raise BackendUnavailable(
            f"onnxruntime is not importable ({error}); install with: pip install 'mmharness[cpu]' (or [gpu])"
        ) from None
    return onnxruntime


def installed_distribution() -> str:
    from harness.env import onnxruntime_distributions

    found = onnxruntime_distributions()
    return " + ".join(found) if found else "unknown distribution"


def missing_provider_message(
    backend: str, provider: str, build_providers: list[str], version: str, distribution: str
) -> str:
    """One line: what was asked, what this onnxruntime offers, what to install."""
    extra = {
        "CUDAExecutionProvider": "onnxruntime-gpu with CUDA 12 and cuDNN 9",
        "TensorrtExecutionProvider": "onnxruntime-gpu with CUDA 12, cuDNN 9 and TensorRT 10 libraries",
    }.get(provider, "an onnxruntime build with this provider")
    return (
        f"{backend} needs {provider}, but onnxruntime {version} ({distribution}) offers only {', '.join(build_providers)}. "
        f"Install {extra} in a clean environment: pip uninstall -y onnxruntime && pip install 'mmharness[gpu]'; "
        f"or run with --backend ort:cpu"
    )


def verify_active_provider(backend: str, requested: str, active: list[str]) -> None:
    """Refuse a session whose first active provider is not ``requested`` (a silent fallback)."""
    if not active or active[0] != requested:
        raise BackendUnavailable(
            f"{backend}: onnxruntime activated {active[0] if active else 'no provider'} instead of {requested} "
            f"(active: {', '.join(active) or 'none'}); the GPU, its driver or the CUDA/TensorRT libraries could not be "
            "loaded. Refusing to run on CPU silently; see `mmharness doctor`"
        )


def cpu_fallback_refused_message(backend: OrtBackend, gpu_detected: bool) -> str:
    """ONNX Runtime refused to place nodes on the CPU: say the likely cause and both ways out."""
    graph = os.path.basename(backend.path)
    if not gpu_detected:
        return (
            f"{backend.name}: {backend.provider} could not take {graph} and CPU fallback is disabled: no usable NVIDIA "
            "GPU was detected (driver, CUDA or cuDNN libraries missing?); see `mmharness doctor`, or run with --backend ort:cpu"
        )
    return (
        f"{backend.name}: some nodes of {graph} have no {backend.provider} kernel and would run on the CPU, which is "
        "disabled; accept that explicitly with --backend-opt cpu_nodes=allow (recorded in provenance), or re-export "
        "with operators the provider supports"
    )


def trt_ep_cache_dir(root: str, sm: str | None, trt_version: str | None, ort_version: str, precision: str) -> str:
    """``root/sm87-trt10.3.0-ort1.20.1-fp16``: engines are valid for exactly this combination."""
    sm_part = f"sm{sm.replace('.', '')}" if sm else "sm-unknown"
    return os.path.join(root, f"{sm_part}-trt{trt_version or '-unknown'}-ort{ort_version}-{precision}")


def _opt_level(ort: Any, name: str) -> Any:
    levels = ort.GraphOptimizationLevel
    return {
        "disable": levels.ORT_DISABLE_ALL,
        "basic": levels.ORT_ENABLE_BASIC,
        "extended": levels.ORT_ENABLE_EXTENDED,
        "all": levels.ORT_ENABLE_ALL,
    }[name]


@dataclass(frozen=True)
class OrtBackend:
    """Recipe for an ONNX Runtime session on one explicit provider (picklable, cheap)."""

    path: str
    device: Device = "cpu"
    provider_options: Mapping[str, str] = field(default_factory=dict)  # passed through to the provider
    threads: int = 0  # 0 = onnxruntime's default
    opt_level: str = "all"
    iobinding: bool = True  # GPU only: copy inputs once, bind outputs on device
    precision: str = "fp32"  # tensorrt EP only
    cache_dir: str = DEFAULT_CACHE_ROOT  # tensorrt EP only: root of the keyed engine cache
    log_severity: int = 3  # 0 verbose .. 4 fatal; 3 keeps provider errors visible
    device_id: int = 0  # GPU only
    allow_cpu_nodes: bool = False  # GPU only: explicit opt-in to nodes without a GPU kernel running on CPU
    session_config: Mapping[str, str] = field(default_factory=dict)  # session.* config entries, verbatim

    @property
    def name(self) -> str:
        return f"ort:{self.device}"

    @property
    def provider(self) -> str:
        return PROVIDERS[self.device]

    @classmethod
    def from_options(cls, path: str, device: Device, options: Mapping[str, str]) -> OrtBackend:
        """Take the harness options (``threads``, ``opt_level``, ...) and ``session.*`` config entries;
        pass the rest to a GPU provider. ``ort:cpu`` refuses the rest: the CPU provider takes no
        options and ONNX Runtime would ignore them silently (a typo like ``thraeds=2``)."""
        reader = OptionReader(f"ort:{device}", options)
        session_config = reader.take_prefixed(SESSION_PREFIX)
        if FALLBACK_KEY in session_config:
            raise ConfigError(
                f"--backend-opt {FALLBACK_KEY} is set by the harness; use cpu_nodes=allow (GPU backends) instead"
            )
        if device == "cpu":
            session_config = {**CPU_SESSION_DEFAULTS, **session_config}
        device_id = reader.take_int("device_id", 0)
        gpu_only = [key for key in ("device_id", "cpu_nodes", "iobinding") if key in options]
        if device == "cpu" and gpu_only:
            raise ConfigError(f"--backend-opt {', '.join(gpu_only)} applies to ort:cuda and ort:tensorrt, not ort:cpu")
        threads = reader.take_int("threads", 0)
        opt_level = reader.take_choice("opt_level", "all", OPT_LEVELS)
        log_severity = reader.take_int("log_severity", 3)
        allow_cpu_nodes = reader.take_choice("cpu_nodes", "forbid", ("forbid", "allow")) == "allow"
        iobinding = reader.take_bool("iobinding", True)
        precision = reader.take_choice("precision", "fp32", PRECISIONS)
        cache_dir = reader.take_str("cache_dir", DEFAULT_CACHE_ROOT)
        if device != "tensorrt" and (precision != "fp32" or "cache_dir" in options):
            raise ConfigError(f"--backend-opt precision/cache_dir apply to ort:tensorrt only, not ort:{device}")
        if log_severity > 4:
            raise ConfigError(f"--backend-opt log_severity={log_severity}: expected 0..4")
        if device == "cpu":
            reader.reject_rest(
                ("threads", "opt_level", "log_severity", "session.<key>"),
                "; CPUExecutionProvider takes no provider options; ONNX Runtime session settings go as "
                "session.<key>=value (e.g. session.intra_op.allow_spinning=0)",
            )
        return cls(
            path,
            device,
            reader.rest(),
            threads,
            opt_level,
            iobinding,
            precision,
            cache_dir,
            log_severity,
            device_id,
            allow_cpu_nodes,
            session_config,
        )

    def open(self) -> OrtSession:
        return OrtSession.create(self)


def provider_chain(
    backend: OrtBackend, ort_version: str, sm: str | None, trt_version: str | None
) -> tuple[list[str], list[dict[str, str]]]:
    """Providers and their options, in priority order. TensorRT EP runs with CUDA EP behind it
    (for subgraphs TensorRT cannot take) but never with the CPU fallback."""
    user = dict(backend.provider_options)
    if backend.device == "cpu":
        return ["CPUExecutionProvider"], [user]
    user["device_id"] = str(backend.device_id)
    if backend.device == "cuda":
        return ["CUDAExecutionProvider"], [user]
    cache = trt_ep_cache_dir(backend.cache_dir, sm, trt_version, ort_version, backend.precision)
    trt_options = {
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": cache,
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": cache,
        "trt_fp16_enable": str(backend.precision in ("fp16", "int8")),
        "trt_int8_enable": str(backend.precision == "int8"),
        **user,
    }
    cuda_options = {key: value for key, value in user.items() if key == "device_id"}
    return ["TensorrtExecutionProvider", "CUDAExecutionProvider"], [trt_options, cuda_options]


def _specs(args: list[Any]) -> list[TensorSpec]:
    return [TensorSpec(arg.name, ort_type_to_numpy(arg.type), tuple(arg.shape)) for arg in args]


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:300] if text else type(error).__name__


class OrtSession(SessionBase):
    """A live ``InferenceSession`` that really runs on the provider it was asked for."""

    def __init__(self, backend: OrtBackend, session: Any, provenance: dict[str, Any]) -> None:
        self.backend = backend
        self._session = session
        self._inputs = _specs(session.get_inputs())
        self._outputs = _specs(session.get_outputs())
        self._provenance = provenance

    @classmethod
    def create(cls, backend: OrtBackend) -> OrtSession:
        ort = _import_ort()
        build = list(ort.get_available_providers())
        if backend.provider not in build:
            raise BackendUnavailable(
                missing_provider_message(
                    backend.name, backend.provider, build, ort.__version__, installed_distribution()
                )
            )
        if not os.path.isfile(backend.path):
            raise ManifestError(f"{backend.path}: graph file does not exist")
        from harness.manifest.onnx_io import read_graph_io

        read_graph_io(backend.path)  # the one external-data check `validate` makes, wherever a model loads
        sm, trt_version = _gpu_facts(backend)
        providers, provider_options = provider_chain(backend, ort.__version__, sm, trt_version)
        if backend.device == "tensorrt":
            os.makedirs(provider_options[0]["trt_engine_cache_path"], exist_ok=True)
        try:
            session = ort.InferenceSession(
                backend.path,
                sess_options=_session_options(ort, backend),
                providers=providers,
                provider_options=provider_options,
            )
        except Exception as error:
            raise _creation_error(backend, error, gpu_detected=sm is not None) from None
        active = list(session.get_providers())
        verify_active_provider(backend.name, backend.provider, active)
        provenance = _provenance(backend, ort.__version__, active, provider_options[0], sm, trt_version)
        if backend.device == "cpu":
            return OrtCpuSession(backend, session, provenance)
        return OrtDeviceSession(backend, session, provenance, backend.device_id)

    def run(self, feeds: Mapping[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        check_feed(feeds, self._inputs, where=f"{self.backend.name} feed")
        session = self._live()
        try:
            values = session.run(None, dict(feeds))
        except Exception as error:
            raise _run_error(self.backend, error) from None
        return {spec.name: value for spec, value in zip(self._outputs, values, strict=True)}

    def _live(self) -> Any:
        if self._session is None:
            raise InternalError(
                f"{self.backend.name} session for {os.path.basename(self.backend.path)} used after close()"
            )
        return self._session

    def close(self) -> None:
        self._session = None


class OrtCpuSession(OrtSession):
    """A CPU session: its outputs live in host memory, so a decoding loop can keep its KV cache
    inside ONNX Runtime between runs (device sessions copy every output back instead)."""

    def run_keeping(self, feeds: Mapping[str, Any], keep: Sequence[str]) -> dict[str, Any]:
        """``run``, with the outputs named in ``keep`` left inside ONNX Runtime (``KeptValue``)
        and ``KeptValue`` feeds passed in as they are: a decoding loop's KV cache goes from one
        step to the next without two copies through NumPy (``SupportsKeptOutputs``)."""
        ort = _import_ort()
        check_feed(feeds, self._inputs, where=f"{self.backend.name} feed")
        values = {name: value.value if isinstance(value, KeptValue) else
                  ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(value)) for name, value in feeds.items()}
        names = [spec.name for spec in self._outputs]
        try:
            outputs = self._live().run_with_ort_values(names, values)
        except Exception as error:
            raise _run_error(self.backend, error) from None
        kept = set(keep)
        return {name: KeptValue(value) if name in kept else value.numpy() for name, value in zip(names, outputs, strict=True)}



class KeptValue:
    """An ``OrtValue`` output kept for the next run (``OrtSession.run_keeping``): ``shape``,
    ``dtype`` and ``ndim`` as NumPy names them; ``np.asarray`` copies it out when NumPy needs it."""

    __slots__ = ("value", "shape", "dtype")

    def __init__(self, value: Any) -> None:
        self.value = value
        self.shape = tuple(int(d) for d in value.shape())
        self.dtype = np.dtype(_ORT_TYPES[value.data_type()])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __array__(self, dtype: Any = None, copy: Any = None) -> npt.NDArray[Any]:
        array = self.value.numpy()
        return array if dtype is None else array.astype(dtype)


class OrtDeviceSession(OrtSession):
    """CUDA / TensorRT EP session: IOBinding (inputs copied once) and split device timing."""

    def __init__(self, backend: OrtBackend, session: Any, provenance: dict[str, Any], device_id: int) -> None:
        super().__init__(backend, session, provenance)
        self.device_id = device_id

    def run(self, feeds: Mapping[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        if not self.backend.iobinding:
            return super().run(feeds)
        return self.run_timed(feeds)[0]

    def run_timed(self, feeds: Mapping[str, npt.NDArray[Any]]) -> tuple[dict[str, npt.NDArray[Any]], dict[str, float]]:
        """Outputs plus ``h2d_ms``, ``compute_ms``, ``d2h_ms`` (wall clock around synchronized steps)."""
        import onnxruntime as ort

        check_feed(feeds, self._inputs, where=f"{self.backend.name} feed")
        session = self._live()
        try:
            binding = session.io_binding()
            t0 = time.perf_counter()
            device_values = [
                ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array), "cuda", self.device_id)
                for array in feeds.values()
            ]
            for name, value in zip(feeds, device_values, strict=True):
                binding.bind_ortvalue_input(name, value)
            for spec in self._outputs:
                binding.bind_output(spec.name, "cuda", self.device_id)
            binding.synchronize_inputs()
            t1 = time.perf_counter()
            session.run_with_iobinding(binding)
            binding.synchronize_outputs()
            t2 = time.perf_counter()
            values = binding.copy_outputs_to_cpu()
            t3 = time.perf_counter()
        except Exception as error:
            raise _run_error(self.backend, error) from None
        outputs = {spec.name: value for spec, value in zip(self._outputs, values, strict=True)}
        return outputs, {"h2d_ms": (t1 - t0) * 1e3, "compute_ms": (t2 - t1) * 1e3, "d2h_ms": (t3 - t2) * 1e3}


def _session_options(ort: Any, backend: OrtBackend) -> Any:
    """SessionOptions of ``backend``: optimization level, logging, threads, session config
    entries, and the strict no-CPU-fallback switch for GPU providers."""
    options = ort.SessionOptions()
    options.graph_optimization_level = _opt_level(ort, backend.opt_level)
    options.log_severity_level = backend.log_severity
    if backend.threads:
        options.intra_op_num_threads = backend.threads
    for key, value in backend.session_config.items():
        options.add_session_config_entry(key, value)
    if backend.device != "cpu" and not backend.allow_cpu_nodes:
        options.add_session_config_entry(FALLBACK_KEY, "1")
    return options


def _creation_error(backend: OrtBackend, error: BaseException, gpu_detected: bool) -> Exception:
    """A failed ``InferenceSession``: a graph problem is bad input, anything else infrastructure."""
    kind = type(error).__name__
    if kind in _GRAPH_ERRORS:
        return ManifestError(f"{backend.path}: onnxruntime cannot load the model ({kind}: {_first_line(error)})")
    if CPU_FALLBACK_REFUSED in str(error):
        return BackendUnavailable(cpu_fallback_refused_message(backend, gpu_detected=gpu_detected))
    return BackendUnavailable(
        f"{backend.name}: onnxruntime could not create a session on {backend.provider}: {kind}: {_first_line(error)}"
    )


def _provenance(
    backend: OrtBackend,
    ort_version: str,
    active: list[str],
    provider_options: Mapping[str, str],
    sm: str | None,
    trt_version: str | None,
) -> dict[str, Any]:
    """Where the session really runs and with which settings (recorded in every result)."""
    provenance: dict[str, Any] = {
        "backend": backend.name,
        "runtime": "onnxruntime",
        "runtime_version": ort_version,
        "distribution": installed_distribution(),
        "requested_provider": backend.provider,
        "provider": active[0],
        "active_providers": active,
        "provider_options": dict(provider_options),
        "device": "cpu" if backend.device == "cpu" else f"cuda:{backend.device_id}",
        "graph": os.path.basename(backend.path),
        "opt_level": backend.opt_level,
        "threads": backend.threads,
        "session_config": dict(backend.session_config),
    }
    if backend.device == "cpu":
        return provenance
    provenance["iobinding"] = backend.iobinding
    provenance["gpu_sm"] = sm
    provenance["cpu_ep_fallback"] = "allowed by --backend-opt cpu_nodes=allow" if backend.allow_cpu_nodes else "disabled"
    if backend.device == "tensorrt":
        provenance.update({"precision": backend.precision, "trt_version": trt_version})
    return provenance


def _run_error(backend: OrtBackend, error: BaseException) -> Exception:
    kind = type(error).__name__
    if kind in ("InvalidArgument", "InvalidGraph"):
        return BadInputError(f"{backend.name} run of {os.path.basename(backend.path)}: {kind}: {_first_line(error)}")
    return InfrastructureError(
        f"{backend.name} run of {os.path.basename(backend.path)} failed: {kind}: {_first_line(error)}"
    )


def _gpu_facts(backend: OrtBackend) -> tuple[str | None, str | None]:
    """GPU SM and TensorRT version for provenance and the TRT EP cache key (None when unknown)."""
    if backend.device == "cpu":
        return None, None
    from harness.env import gpu_sm, package_version, probe_gpus, run_probe

    sm = gpu_sm({"gpu": run_probe(probe_gpus)}, backend.device_id)
    if backend.device == "cuda":
        return sm, None
    return sm, package_version("tensorrt") or package_version("tensorrt-cu12") or package_version("tensorrt-libs")


def availability(device: Device) -> Availability:
    """Can ``ort:<device>`` run here? Checks the wheel's providers and, for GPUs, the hardware."""
    name = f"ort:{device}"
    try:
        ort = _import_ort()
    except BackendUnavailable as error:
        return Availability(name, False, str(error), "pip install 'mmharness[cpu]'")
    provider = PROVIDERS[device]
    build = list(ort.get_available_providers())
    if provider not in build:
        return Availability(
            name,
            False,
            f"{provider} is not in onnxruntime {ort.__version__} ({installed_distribution()}); it has {', '.join(build)}",
            "pip uninstall -y onnxruntime && pip install 'mmharness[gpu]' (onnxruntime-gpu) on a machine with an NVIDIA GPU, CUDA 12, cuDNN 9"
            + (" and TensorRT 10" if device == "tensorrt" else ""),
        )
    if device == "cpu":
        return Availability(name, True, f"onnxruntime {ort.__version__} with CPUExecutionProvider")
    from harness.env import probe_gpus, run_probe

    gpus = run_probe(probe_gpus)
    if not gpus.get("present"):
        return Availability(
            name,
            False,
            f"{provider} is built in, but {gpus.get('reason', 'no GPU present')}",
            "run on a machine with an NVIDIA GPU and driver",
        )
    return Availability(
        name, True, f"{provider} built in; GPU {gpus['devices'][0].get('name')} (verified again when a session opens)"
    )


def cpu_backend(path: str, options: Mapping[str, str]) -> OrtBackend:
    return OrtBackend.from_options(path, "cpu", options)


def cuda_backend(path: str, options: Mapping[str, str]) -> OrtBackend:
    return OrtBackend.from_options(path, "cuda", options)


def tensorrt_backend(path: str, options: Mapping[str, str]) -> OrtBackend:
    return OrtBackend.from_options(path, "tensorrt", options)

"""ONNX -> TensorRT engine with the TensorRT Python API (10.x and 11.x), plus its sidecar.

The decisions are made beforehand by plain functions (``exporters.variants``): the plan
(builder flags on TensorRT 10, a typed ONNX on the strongly typed path that TensorRT 11
requires), the optimization profile from the manifest, the cache names. This module only
executes them against the real ``tensorrt`` module:

``Builder`` -> ``create_network(flags)`` -> ``OnnxParser.parse_from_file`` ->
``create_builder_config`` (``set_memory_pool_limit(WORKSPACE)``, ``set_flag(FP16|INT8)``,
``add_optimization_profile``, ``int8_calibrator`` + ``set_calibration_profile`` on the
calibrated path, ``create_timing_cache``/``set_timing_cache``) -> ``build_serialized_network``
-> ``model.<precision>.engine`` + ``model.<precision>.engine.json``.

Every TensorRT call sits behind feature detection (``TrtFeatures``), never a version switch.
Device facts (GPU name, SM) come from the CUDA runtime (``harness.env``); the entropy
calibrator's buffers come from the ``trt`` backend's device memory (pycuda or cuda-python).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from exporters.variants.cache import (
    CACHE_DIR,
    calibration_cache_path,
    calibration_key,
    timing_cache_path,
)
from exporters.variants.features import TrtFeatures, detect_features, import_tensorrt
from exporters.variants.plan import BuildPlan, check_int8_support, plan_build
from exporters.variants.profiles import ShapeRange, derive_profiles, profiles_as_json
from harness.backends.cuda_memory import DeviceMemory
from harness.backends.engine_sidecar import EngineSidecar, write_sidecar
from harness.report.io import file_sha256
from harness.variants.calibration import CalibrationReader, describe, make_entropy_calibrator
from harness.errors import BackendUnavailable, ConfigError, InfrastructureError
from harness.manifest.contract import ResolvedContract
from harness.manifest.model import DEFAULT_GRAPH
from harness.manifest.onnx_io import read_graph_io

MIB = 1 << 20


@dataclass(frozen=True)
class EngineOptions:
    """The ``mmharness build --target trt`` flags, validated."""

    precision: str
    gpu_id: int = 0
    workspace_mib: int = 2048
    opt_batch: int | None = None
    max_batch: int | None = None
    strongly_typed: bool = False
    cache_dir: str | None = None  # default: <model_dir>/.mmharness-cache
    calib_method: str = "entropy"

    def __post_init__(self) -> None:
        if self.gpu_id < 0:
            raise ConfigError(f"--gpu-id {self.gpu_id} is invalid; expected a CUDA device index >= 0")
        if self.workspace_mib < 1:
            raise ConfigError(f"--workspace {self.workspace_mib} MiB is invalid; expected >= 1")


@dataclass(frozen=True)
class DeviceInfo:
    gpu_id: int
    name: str
    sm: str  # "major.minor"


@dataclass(frozen=True)
class EngineBuildResult:
    engine: Path
    sidecar: Path
    plan: BuildPlan
    typed_onnx: Path | None
    seconds: float
    details: Mapping[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# The GPU: facts from the CUDA runtime (harness.env), buffers from the backends' device memory.


def query_device(gpu_id: int) -> DeviceInfo:
    """Make ``gpu_id`` the current CUDA device (TensorRT builds on the current device) and
    return its name and compute capability as the CUDA runtime (cuda-python) sees them."""
    from harness.backends.cuda_memory import cudart_call, import_cudart
    from harness.env import cuda_runtime_devices

    devices = cuda_runtime_devices()
    if not 0 <= gpu_id < len(devices):
        raise ConfigError(f"--gpu-id {gpu_id}: this machine has {len(devices)} CUDA device(s)")
    cudart_call(import_cudart(), "cudaSetDevice", gpu_id)
    return DeviceInfo(gpu_id=gpu_id, name=str(devices[gpu_id]["name"]), sm=str(devices[gpu_id]["sm"]))


def device_memory(gpu_id: int) -> DeviceMemory:
    """pycuda or cuda-python buffers on ``gpu_id`` (the same choice the ``trt`` backend makes);
    initializing it makes ``gpu_id`` the current device, so the builder uses that GPU."""
    from harness.backends.cuda_memory import select_device_memory

    return select_device_memory("auto", gpu_id)


# ---------------------------------------------------------------------------------------------
# Steps that use only the plan and the tensorrt module (each small, each testable with a fake).


def network_flags(trt: Any, plan: BuildPlan) -> int:
    """The ``create_network`` bit mask: ``1 << int(flag)`` for each planned creation flag."""
    mask = 0
    for name in plan.network_flags:
        mask |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    return mask


def parse_onnx(trt: Any, network: Any, logger: Any, onnx_path: Path) -> Any:
    """Parse with ``parse_from_file`` (resolves external weights beside the file); every parser
    error is reported in one line."""
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(os.fspath(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise InfrastructureError(f"TensorRT could not parse {onnx_path.name}: {' | '.join(errors) or 'unknown error'}")
    return parser


def add_profiles(trt_builder: Any, config: Any, profiles: Sequence[Mapping[str, ShapeRange]]) -> list[Any]:
    """One ``IOptimizationProfile`` per derived profile, each input ``set_shape(min, opt, max)``."""
    created = []
    for profile in profiles:
        p = trt_builder.create_optimization_profile()
        for name, rng in profile.items():
            p.set_shape(name, rng.min, rng.opt, rng.max)
        if config.add_optimization_profile(p) < 0:
            raise InfrastructureError(f"TensorRT rejected the optimization profile {profiles_as_json([profile])}")
        created.append(p)
    return created


def configure(trt: Any, config: Any, plan: BuildPlan, features: TrtFeatures, workspace_mib: int) -> None:
    """Workspace limit and precision flags on the builder config."""
    if features.memory_pool_limit:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib * MIB)
    for name in plan.builder_flags:
        if not hasattr(trt.BuilderFlag, name):
            raise BackendUnavailable(f"tensorrt {features.version} has no BuilderFlag.{name}; use --strongly-typed")
        config.set_flag(getattr(trt.BuilderFlag, name))


def load_timing_cache(config: Any, path: Path) -> Any:
    """Create the timing cache from ``path`` (empty when absent) and attach it to ``config``."""
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data)
    config.set_timing_cache(cache, ignore_mismatch=False)
    return cache


def save_timing_cache(config: Any, path: Path) -> None:
    cache = config.get_timing_cache()
    if cache is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(bytes(cache.serialize()))
    os.replace(tmp, path)


def calibration_profile(trt_builder: Any, config: Any, shapes: Mapping[str, Sequence[int]]) -> Any:
    """Implicit INT8 calibration runs at one fixed shape: the calibration batch."""
    p = trt_builder.create_optimization_profile()
    for name, shape in shapes.items():
        p.set_shape(name, tuple(shape), tuple(shape), tuple(shape))
    config.set_calibration_profile(p)
    return p


# ---------------------------------------------------------------------------------------------


def _typed_onnx(plan: BuildPlan, source: Path, model_dir: Path, reader: Callable[[], CalibrationReader] | None,
                method: str) -> Path | None:
    """Produce the typed ONNX a strongly typed build parses (FP16 casts or Q/DQ)."""
    if plan.typed_onnx is None:
        return None
    from exporters.variants.quantize import convert_fp16, quantize_int8

    target = model_dir / plan.typed_onnx
    if plan.transform == "fp16":
        return convert_fp16(source, target)
    if reader is None:
        raise ConfigError("--precision int8 needs calibration data (--calib-data)")
    return quantize_int8(source, target, reader().ort_reader(), recipe="trt", method=method)


def build_engine(
    contract: ResolvedContract,
    options: EngineOptions,
    reader: Callable[[], CalibrationReader] | None = None,
    *,
    graph: str = DEFAULT_GRAPH,
    trt: Any | None = None,
    device: DeviceInfo | None = None,
    memory: DeviceMemory | None = None,
) -> EngineBuildResult:
    """Build ``model.<precision>.engine`` for ``graph`` of a validated model directory.

    ``reader`` makes the calibration reader (only called for INT8). ``trt``/``device``/``memory``
    are injectable for tests; by default ``tensorrt`` is imported, the GPU queried and the
    calibrator's buffers allocated with cuda-python.
    """
    trt = trt if trt is not None else import_tensorrt()
    features = detect_features(trt)
    manifest = contract.manifest
    model_dir = Path(manifest.model_dir)
    source_file = manifest.graphs[graph]
    source = model_dir / source_file
    plan = plan_build(options.precision, "trt", features, source_file=source_file, base_role=graph,
                      strongly_typed=options.strongly_typed)
    device = device if device is not None else query_device(options.gpu_id)
    cache_dir = Path(options.cache_dir) if options.cache_dir else model_dir / CACHE_DIR
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    if plan.precision == "int8":
        fast = bool(builder.platform_has_fast_int8) if features.platform_int8_query else None
        check_int8_support(device.sm, device.name, fast)

    started = time.perf_counter()
    typed = _typed_onnx(plan, source, model_dir, reader, options.calib_method)
    parsed = typed if typed is not None else source
    inputs = read_graph_io(os.fspath(parsed), os.fspath(model_dir)).inputs
    profiles = derive_profiles(inputs, manifest, opt_batch=options.opt_batch, max_batch=options.max_batch)

    timing_path = timing_cache_path(cache_dir, features.version, device.sm)
    attach = None
    if plan.calibrator:
        def attach(config: Any) -> tuple[Any, dict[str, Any]]:
            """Deferred until the builder config exists; device memory is allocated only then."""
            return _attach_calibrator(
                trt, builder, config, reader, source=source, stem=Path(plan.output).stem, cache_dir=cache_dir,
                trt_version=features.version, dynamic=bool(profiles),
                memory=memory if memory is not None else device_memory(device.gpu_id),
            )

    serialized, config, details = _serialize_network(trt, builder, logger, parsed, plan, features, options.workspace_mib,
                                                     profiles, timing_path, attach)
    seconds = time.perf_counter() - started
    if features.timing_cache:
        save_timing_cache(config, timing_path)
        details["timing_cache"] = timing_path.name

    engine = _write_engine(model_dir / plan.output, serialized)
    build = {"seconds": round(seconds, 3), "utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
             "workspace_mib": options.workspace_mib, "builder_flags": list(plan.builder_flags),
             "network_flags": list(plan.network_flags), **details}
    side = write_sidecar(engine, _sidecar(plan, features.version, device, source, source_file, typed, profiles, build))
    return EngineBuildResult(engine=engine, sidecar=side, plan=plan, typed_onnx=typed, seconds=seconds, details=details)


def _serialize_network(
    trt: Any, builder: Any, logger: Any, parsed: Path, plan: BuildPlan, features: TrtFeatures, workspace_mib: int,
    profiles: Sequence[Mapping[str, ShapeRange]], timing_path: Path,
    attach_calibrator: Callable[[Any], tuple[Any, dict[str, Any]]] | None,
) -> tuple[Any, Any, dict[str, Any]]:
    """Parse, configure and build in one scope, so the parser (it owns the parsed weights) lives
    exactly until the build and the calibrator's device buffers are released right after it.
    Returns the serialized engine, the builder config (for its timing cache) and the details."""
    network = builder.create_network(network_flags(trt, plan))
    parser = parse_onnx(trt, network, logger, parsed)  # keep it alive: it owns the parsed weights until the build
    config = builder.create_builder_config()
    configure(trt, config, plan, features, workspace_mib)
    add_profiles(builder, config, profiles)
    if features.timing_cache:
        load_timing_cache(config, timing_path)

    calibrator = None
    details: dict[str, Any] = {}
    if attach_calibrator is not None:
        calibrator, details["calibration"] = attach_calibrator(config)

    try:
        serialized = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            calibrator.release()
        del parser
    if serialized is None:
        raise InfrastructureError(
            f"TensorRT failed to build {plan.output} from {parsed.name} (see the TensorRT log above); "
            "try a larger --workspace or --precision fp32"
        )
    return serialized, config, details


def _write_engine(engine: Path, serialized: Any) -> Path:
    """Write through a temporary file so a failed write never leaves a truncated engine behind."""
    tmp = engine.with_name(engine.name + ".tmp")
    tmp.write_bytes(bytes(serialized))
    os.replace(tmp, engine)
    return engine


def _attach_calibrator(
    trt: Any, builder: Any, config: Any, reader: Callable[[], CalibrationReader] | None, *, source: Path, stem: str,
    cache_dir: Path, trt_version: str, dynamic: bool, memory: DeviceMemory,
) -> tuple[Any, dict[str, Any]]:
    """TensorRT 10 implicit INT8: an entropy calibrator over the calibration reader, its cache
    keyed by network + samples + shapes + TensorRT version, and (dynamic shapes) the
    calibration profile fixed at the calibration batch."""
    if reader is None:
        raise ConfigError("--precision int8 needs calibration data (--calib-data)")
    calib = reader()
    shapes = calib.batch_shapes()
    key = calibration_key(
        onnx_sha256=file_sha256(source), data_fingerprint=calib.fingerprint(), sample_indices=calib.indices,
        batch_size=calib.plan.batch_size, input_shapes=shapes, trt_version=trt_version,
    )
    path = calibration_cache_path(cache_dir, stem, key)
    details = {**describe(calib), "cache": path.name, "cache_reused": path.is_file()}
    calibrator = make_entropy_calibrator(trt, calib, path, memory)
    config.int8_calibrator = calibrator
    if dynamic:
        calibration_profile(builder, config, shapes)
    return calibrator, details


def _sidecar(plan: BuildPlan, trt_version: str, device: DeviceInfo, source: Path, source_file: str, typed: Path | None,
             profiles: Sequence[Mapping[str, ShapeRange]], build: Mapping[str, Any]) -> EngineSidecar:
    return EngineSidecar(
        engine=plan.output,
        precision=plan.precision,
        strategy=plan.strategy,
        trt_version=trt_version,
        device_name=device.name,
        sm=device.sm,
        gpu_id=device.gpu_id,
        source_onnx=source_file,  # relative to the model directory, as in graphs
        source_sha256=file_sha256(source),
        built_from=typed.name if typed is not None else None,
        built_from_sha256=file_sha256(typed) if typed is not None else None,
        profiles=tuple({n: r.as_dict() for n, r in p.items()} for p in profiles),
        build=dict(build),
    )

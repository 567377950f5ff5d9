"""What the installed TensorRT can do, detected by attribute at run time.

TensorRT 10 builds weakly typed networks with ``BuilderFlag.FP16``/``INT8`` and implicit INT8
calibration (``IInt8EntropyCalibrator2``); ``NetworkDefinitionCreationFlag.EXPLICIT_BATCH`` is
deprecated and ignored there. TensorRT 11 removes the precision builder flags, the calibrator
and ``platform_has_fast_int8``; every network is strongly typed, so reduced precision must be
written into the ONNX (FP16 casts, Q/DQ nodes). Checking attributes instead of the version
string keeps point releases that deprecate or restore an API working.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from harness.errors import BackendUnavailable

MIN_TRT_MAJOR = 10


@dataclass(frozen=True)
class TrtFeatures:
    """Capabilities of one ``tensorrt`` module (all booleans come from ``hasattr``)."""

    version: str
    major: int
    weak_typing: bool  # BuilderFlag.FP16 and BuilderFlag.INT8 exist (TRT <= 10)
    strongly_typed_flag: bool  # NetworkDefinitionCreationFlag.STRONGLY_TYPED exists (10.x; ignored in 11)
    explicit_batch_flag: bool  # deprecated no-op in 10, gone later: never needed, recorded only
    int8_calibrator: bool  # IInt8EntropyCalibrator2 and IBuilderConfig.int8_calibrator exist
    platform_int8_query: bool  # Builder.platform_has_fast_int8 exists
    memory_pool_limit: bool  # IBuilderConfig.set_memory_pool_limit + MemoryPoolType.WORKSPACE
    timing_cache: bool  # IBuilderConfig.create_timing_cache / set_timing_cache

    @property
    def always_strongly_typed(self) -> bool:
        """True when the builder has no weak typing at all (TRT 11): typed ONNX is mandatory."""
        return not self.weak_typing


def _major(version: str) -> int:
    head = version.split(".")[0]
    if not head.isdigit():
        raise BackendUnavailable(f"tensorrt reports version {version!r}; cannot read its major version")
    return int(head)


def detect_features(trt: ModuleType | Any) -> TrtFeatures:
    """Features of the given ``tensorrt`` module (or any object shaped like it, for tests)."""
    version = str(getattr(trt, "__version__", "0"))
    major = _major(version)
    if major < MIN_TRT_MAJOR:
        raise BackendUnavailable(
            f"tensorrt {version} is too old: mmharness builds with TensorRT >= {MIN_TRT_MAJOR} "
            "(named-tensor API); install with: pip install 'mmharness[tensorrt]'"
        )
    builder_flag = getattr(trt, "BuilderFlag", None)
    creation_flag = getattr(trt, "NetworkDefinitionCreationFlag", None)
    config_cls = getattr(trt, "IBuilderConfig", None)
    builder_cls = getattr(trt, "Builder", None)
    return TrtFeatures(
        version=version,
        major=major,
        weak_typing=hasattr(builder_flag, "FP16") and hasattr(builder_flag, "INT8"),
        strongly_typed_flag=hasattr(creation_flag, "STRONGLY_TYPED"),
        explicit_batch_flag=hasattr(creation_flag, "EXPLICIT_BATCH"),
        int8_calibrator=hasattr(trt, "IInt8EntropyCalibrator2") and hasattr(config_cls, "int8_calibrator"),
        platform_int8_query=hasattr(builder_cls, "platform_has_fast_int8"),
        memory_pool_limit=hasattr(config_cls, "set_memory_pool_limit") and hasattr(getattr(trt, "MemoryPoolType", None), "WORKSPACE"),
        timing_cache=hasattr(config_cls, "create_timing_cache") and hasattr(config_cls, "set_timing_cache"),
    )


def import_tensorrt() -> ModuleType:
    """Import ``tensorrt`` or say exactly what to install; nothing is auto-installed."""
    try:
        import tensorrt
    except Exception as error:  # noqa: BLE001 - ImportError, or a broken wheel failing on its shared libraries
        raise BackendUnavailable(
            f"tensorrt is not importable ({type(error).__name__}: {error}); install with: "
            "pip install 'mmharness[tensorrt]' on a machine with an NVIDIA GPU, "
            "or build CPU variants with --target ort"
        ) from None
    return tensorrt


def documented_features(major: int) -> TrtFeatures:
    """The features the TensorRT ``major`` release documents, for planning without TensorRT
    installed (``mmharness build --dry-run --assume-trt 11``); never used to build."""
    if major not in (10, 11):
        raise BackendUnavailable(f"--assume-trt {major}: mmharness knows the documented API of TensorRT 10 and 11")
    weak = major == 10
    return TrtFeatures(
        version=f"{major}.x (assumed)", major=major, weak_typing=weak, strongly_typed_flag=True,
        explicit_batch_flag=weak, int8_calibrator=weak, platform_int8_query=weak, memory_pool_limit=True,
        timing_cache=True,
    )

"""A recording stand-in for the ``tensorrt`` module, shaped like its documented Python API.

It lets the builder's argument handling run here (no GPU, no tensorrt wheel): every call the
builder makes is appended to ``calls`` so tests assert what would reach TensorRT. Two
flavours: ``make_trt(10)`` (weak typing: BuilderFlag.FP16/INT8, IInt8EntropyCalibrator2,
platform_has_fast_int8) and ``make_trt(11)`` (strongly typed only: those are absent).
"""

from __future__ import annotations

import enum
import types
import weakref
from typing import Any


def make_trt(major: int, *, fast_int8: bool = True, parse_ok: bool = True, build_ok: bool = True) -> types.SimpleNamespace:
    calls: list[tuple[Any, ...]] = []
    parsers: list[Any] = []  # weak references: TensorRT needs the parser alive until the build
    weak = major < 11

    flag_names = ["FP16", "INT8", "TF32"] if weak else ["TF32"]
    BuilderFlag = enum.IntEnum("BuilderFlag", flag_names, start=0)
    creation_names = (["EXPLICIT_BATCH"] if weak else []) + ["STRONGLY_TYPED"]
    NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag", creation_names, start=0)
    MemoryPoolType = enum.IntEnum("MemoryPoolType", ["WORKSPACE"], start=0)

    class Logger:
        WARNING = 2

        def __init__(self, level: int) -> None:
            calls.append(("Logger", level))

    class Profile:
        def __init__(self) -> None:
            self.shapes: dict[str, tuple[Any, Any, Any]] = {}

        def set_shape(self, name: str, lo: Any, opt: Any, hi: Any) -> None:
            self.shapes[name] = (tuple(lo), tuple(opt), tuple(hi))
            calls.append(("set_shape", name, tuple(lo), tuple(opt), tuple(hi)))

    class TimingCache:
        def __init__(self, data: bytes) -> None:
            self.data = data

        def serialize(self) -> bytes:
            return b"timing:" + self.data

    class IBuilderConfig:
        def __init__(self) -> None:
            self.profiles: list[Profile] = []
            self._cache: TimingCache | None = None
            self._calibrator: Any = None

        def set_memory_pool_limit(self, pool: Any, size: int) -> None:
            calls.append(("set_memory_pool_limit", pool.name, size))

        def set_flag(self, flag: Any) -> None:
            calls.append(("set_flag", flag.name))

        def add_optimization_profile(self, profile: Profile) -> int:
            self.profiles.append(profile)
            calls.append(("add_optimization_profile", len(self.profiles) - 1))
            return len(self.profiles) - 1

        def create_timing_cache(self, data: bytes) -> TimingCache:
            calls.append(("create_timing_cache", bytes(data)))
            return TimingCache(bytes(data))

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> bool:
            self._cache = cache
            calls.append(("set_timing_cache", ignore_mismatch))
            return True

        def get_timing_cache(self) -> TimingCache | None:
            return self._cache

    if weak:
        def _get_cal(self: Any) -> Any:
            return self._calibrator

        def _set_cal(self: Any, value: Any) -> None:
            self._calibrator = value
            calls.append(("int8_calibrator", type(value).__mro__[1].__name__))

        IBuilderConfig.int8_calibrator = property(_get_cal, _set_cal)  # type: ignore[attr-defined]

        def set_calibration_profile(self: Any, profile: Profile) -> bool:
            calls.append(("set_calibration_profile", dict(profile.shapes)))
            return True

        IBuilderConfig.set_calibration_profile = set_calibration_profile  # type: ignore[attr-defined]

    class Network:
        def __init__(self, flags: int) -> None:
            self.flags = flags

    class OnnxParser:
        def __init__(self, network: Network, logger: Logger) -> None:
            self.num_errors = 0 if parse_ok else 1
            parsers.append(weakref.ref(self))

        def parse_from_file(self, path: str) -> bool:
            calls.append(("parse_from_file", path))
            return parse_ok

        def get_error(self, index: int) -> str:
            return "In node 0 (Conv): unsupported"

    class Builder:
        def __init__(self, logger: Logger) -> None:
            calls.append(("Builder",))

        def create_network(self, flags: int = 0) -> Network:
            calls.append(("create_network", flags))
            return Network(flags)

        def create_builder_config(self) -> IBuilderConfig:
            return IBuilderConfig()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: IBuilderConfig) -> bytes | None:
            calls.append(("build_serialized_network", network.flags))
            assert any(ref() is not None for ref in parsers), "the OnnxParser (owner of the weights) was freed before the build"
            if config._calibrator is not None:
                cal = config._calibrator
                cache = cal.read_calibration_cache()
                assert cal.get_batch_size() == 1, "explicit-batch networks take the batch from the shapes"
                if cache is None:
                    names = sorted(config.profiles[0].shapes) if config.profiles else []
                    while cal.get_batch(names) is not None:
                        pass
                    cal.write_calibration_cache(b"calibration-table")
                calls.append(("calibrated", cache is not None))
            return b"ENGINE" if build_ok else None

    if weak:
        Builder.platform_has_fast_int8 = property(lambda self: fast_int8)  # type: ignore[attr-defined]

    module = types.SimpleNamespace(
        __version__=f"{major}.3.0",
        Logger=Logger,
        Builder=Builder,
        OnnxParser=OnnxParser,
        IBuilderConfig=IBuilderConfig,
        BuilderFlag=BuilderFlag,
        NetworkDefinitionCreationFlag=NetworkDefinitionCreationFlag,
        MemoryPoolType=MemoryPoolType,
        calls=calls,
    )
    if weak:
        class IInt8EntropyCalibrator2:
            def __init__(self) -> None:
                calls.append(("IInt8EntropyCalibrator2.__init__",))

        module.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2
    return module


class HostMemory:
    """``harness.backends.cuda_memory.DeviceMemory`` in host RAM: copies kept for inspection."""

    name = "host"

    def __init__(self) -> None:
        from harness.backends.cuda_memory import DeviceBuffer

        self._buffer = DeviceBuffer
        self.buffers: dict[int, bytes] = {}
        self.freed: list[int] = []
        self.syncs = 0
        self._next = 4096

    def allocate(self, nbytes: int) -> Any:
        self._next += 4096 + nbytes
        self.buffers[self._next] = b""
        return self._buffer(self._next, nbytes)

    def create_stream(self) -> Any:
        return "stream"

    def copy_htod(self, dst: Any, src: Any, stream: Any) -> None:
        assert src.nbytes == dst.nbytes
        self.buffers[dst.ptr] = src.tobytes()

    def synchronize(self, stream: Any) -> None:
        self.syncs += 1

    def free(self, buffer: Any) -> None:
        self.freed.append(buffer.ptr)

"""The TensorRT fakes and our TensorRT calls against the real Python bindings (issue 19).

TensorRT cannot run here, but its bindings wheels (``tensorrt-cu12-bindings`` = TensorRT 10,
``tensorrt-cu13-bindings`` = TensorRT 11; ~1.3 MB, no GPU needed) are fetched once into
``~/.cache/mmharness-tests/trt-wheels`` (``MMHARNESS_TEST_CACHE`` moves it) with
``pip download --no-deps`` and read *without importing*: the extension module's string
literals are its name table (pybind11 keeps every class, method, property, enum member and
keyword-argument name as a NUL-terminated literal; the linker may store a name as the tail of a
longer one, e.g. ``Logger`` inside ``ILogger``), and its ``tensorrt::<Class>Doc::<method>``
docstring symbols say which class documents which method.

Checked, per TensorRT major the code path targets:

- every name in ``USED`` (what exporters/tensorrt.py, harness/variants/calibration.py and
  harness/backends/tensorrt.py touch on a TensorRT object, kept honest by an AST scan) exists;
  the TensorRT-10-only names exist in 10, and those TensorRT 11 removed are really gone there;
- every public name the fakes expose (tests/trt_builder/fake_trt.py in both flavours, the
  session fake in tests/backends/test_tensorrt.py) exists in the version it imitates, with
  class ownership where the bindings document it;
- a fake method renamed to a name the bindings lack is caught (the negative cases).

Skips with the reason when the wheels can be neither found nor downloaded.
"""

from __future__ import annotations

import ast
import enum
import fcntl
import functools
import importlib.util
import inspect
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fake_trt import make_trt

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("MMHARNESS_TEST_CACHE", Path.home() / ".cache" / "mmharness-tests")) / "trt-wheels"
WHEELS = {10: ("tensorrt_cu12_bindings", "tensorrt-cu12-bindings>=10,<11"), 11: ("tensorrt_cu13_bindings", "tensorrt-cu13-bindings>=11,<12")}

# ---- what our code uses on TensorRT objects, by code path --------------------------------------
# (owner, name). Owner "tensorrt" is the module; enum members are owned by their enum.
BOTH = {
    ("tensorrt", n) for n in ("Logger", "Builder", "OnnxParser", "Runtime", "IBuilderConfig", "BuilderFlag",
                              "NetworkDefinitionCreationFlag", "MemoryPoolType", "TensorIOMode", "DataType")
} | {
    ("Logger", "WARNING"),
    ("Builder", "create_network"), ("Builder", "create_builder_config"), ("Builder", "create_optimization_profile"),
    ("Builder", "build_serialized_network"),
    ("OnnxParser", "parse_from_file"), ("OnnxParser", "get_error"), ("OnnxParser", "num_errors"),
    ("IOptimizationProfile", "set_shape"),
    ("IBuilderConfig", "set_memory_pool_limit"), ("IBuilderConfig", "set_flag"), ("IBuilderConfig", "add_optimization_profile"),
    ("IBuilderConfig", "create_timing_cache"), ("IBuilderConfig", "set_timing_cache"), ("IBuilderConfig", "get_timing_cache"),
    ("IBuilderConfig.set_timing_cache", "ignore_mismatch"),  # keyword argument
    ("ITimingCache", "serialize"), ("MemoryPoolType", "WORKSPACE"),
    ("Runtime", "deserialize_cuda_engine"),
    ("ICudaEngine", "num_io_tensors"), ("ICudaEngine", "get_tensor_name"), ("ICudaEngine", "get_tensor_mode"),
    ("ICudaEngine", "get_tensor_dtype"), ("ICudaEngine", "get_tensor_shape"), ("ICudaEngine", "create_execution_context"),
    ("IExecutionContext", "set_input_shape"), ("IExecutionContext", "set_tensor_address"),
    ("IExecutionContext", "get_tensor_shape"), ("IExecutionContext", "execute_async_v3"),
    ("TensorIOMode", "INPUT"), ("TensorIOMode", "OUTPUT"),
} | {("DataType", n) for n in ("FLOAT", "HALF", "INT8", "INT32", "INT64", "BOOL", "UINT8")}  # harness/backends/tensorrt.py _TRT_DTYPES
# The weakly typed path (feature-detected; exporters/variants/features.py): TensorRT 10 only.
TRT10_ONLY = {
    ("BuilderFlag", "FP16"), ("BuilderFlag", "INT8"), ("NetworkDefinitionCreationFlag", "STRONGLY_TYPED"),
    ("tensorrt", "IInt8EntropyCalibrator2"), ("IBuilderConfig", "int8_calibrator"), ("IBuilderConfig", "set_calibration_profile"),
    ("Builder", "platform_has_fast_int8"),
    ("IInt8Calibrator", "get_batch_size"), ("IInt8Calibrator", "get_batch"),
    ("IInt8Calibrator", "read_calibration_cache"), ("IInt8Calibrator", "write_calibration_cache"),
}
# Removed in TensorRT 11 (the reason the 10-only path exists), provably: no literal left at all.
# (BuilderFlag.INT8 cannot be shown gone: DataType.INT8 keeps the literal.)
GONE_IN_11 = {"FP16", "EXPLICIT_BATCH", "IInt8EntropyCalibrator2", "int8_calibrator", "set_calibration_profile",
              "platform_has_fast_int8", "get_batch_size", "read_calibration_cache", "write_calibration_cache"}
# Attributes the fakes keep for the tests' own inspection: not TensorRT API.
FAKE_INTERNALS = {"calls", "shapes", "profiles", "data", "flags", "addresses", "log", "context"}
# The fakes' class names -> the TensorRT class they imitate (for ownership checks).
FAKE_CLASS = {"Profile": "IOptimizationProfile", "TimingCache": "ITimingCache", "Network": "INetworkDefinition",
              "Engine": "ICudaEngine", "Context": "IExecutionContext"}


@dataclass(frozen=True)
class Bindings:
    """The name table of one TensorRT bindings wheel."""

    version: str
    data: bytes
    documented: dict[str, frozenset[str]]  # class -> methods with a docstring symbol

    def has(self, name: str) -> bool:
        return name.encode() + b"\0" in self.data

    def missing(self, names: set[tuple[str, str]]) -> list[str]:
        """``owner.name`` entries absent from the bindings: no such literal, or a method the
        bindings document on other classes but not on ``owner`` (when they document ``owner``)."""
        return [f"{owner}.{name}" for owner, name in sorted(names) if not self.has(name) or self._misplaced(owner, name)]

    def _misplaced(self, owner: str, name: str) -> bool:
        mine = self.documented.get(owner)
        return bool(mine) and name not in mine and any(name in methods for cls, methods in self.documented.items() if cls != owner)


def _fetch(major: int) -> Path | str:
    """The cached wheel of ``major``, downloading it once; a string says why there is none."""
    stem, requirement = WHEELS[major]
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:  # pytest-xdist workers: one download at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = sorted(CACHE.glob(f"{stem}-{major}.*.whl"))
        return found[-1] if found else _download(stem, major, requirement)


def _download(stem: str, major: int, requirement: str) -> Path | str:
    try:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
                               "--disable-pip-version-check", "-d", str(CACHE), requirement],
                              capture_output=True, text=True, timeout=180)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"pip download {requirement} failed: {error}"
    found = sorted(CACHE.glob(f"{stem}-{major}.*.whl"))
    if done.returncode != 0 or not found:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"pip download {requirement} failed (no network or package registry?): {last[0]}"
    return found[-1]


@functools.lru_cache(maxsize=None)
def bindings(major: int) -> Bindings | str:
    wheel = _fetch(major)
    if isinstance(wheel, str):
        return wheel
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [n for n in archive.namelist() if re.fullmatch(r"tensorrt_bindings/tensorrt[^/]*\.so", n)]
        data = archive.read(member)
    documented: dict[str, set[str]] = {}
    for match in re.finditer(rb"_ZN8tensorrt(\d+)", data):  # tensorrt::<Class>Doc::<member>
        rest = data[match.end():match.end() + 200]
        n = int(match.group(1))
        owner, rest = rest[:n].decode("ascii", "replace"), rest[n:].removeprefix(b"L")
        length = re.match(rb"\d+", rest)
        if owner.endswith("Doc") and length:
            k = int(length.group())
            documented.setdefault(owner[:-3], set()).add(rest[len(length.group()):len(length.group()) + k].decode("ascii", "replace"))
    version = wheel.name.split("-")[1]
    return Bindings(version, data, {k: frozenset(v) for k, v in documented.items()})


def _bindings_or_skip(major: int) -> Bindings:
    found = bindings(major)
    if isinstance(found, str):
        pytest.skip(f"TensorRT {major} bindings wheel unavailable: {found}")
    assert found.version.split(".")[0] == str(major), found.version
    return found


# ---- the names the fakes expose ------------------------------------------------------------------


def _public(cls: type) -> set[str]:
    names = set()
    for klass in cls.__mro__[:-1]:
        if klass.__module__ == __name__ or issubclass(klass, enum.Enum) and klass is not cls:
            continue
        names |= {n for n in vars(klass) if not n.startswith("_")}
    return names - FAKE_INTERNALS


def _owner(cls: type) -> str:
    return FAKE_CLASS.get(cls.__name__, cls.__name__)


def fake_names(trt: Any) -> set[tuple[str, str]]:
    """(owner, name) of everything the builder fake exposes: module attributes, enum members,
    class members, and the members of the objects its factories return."""
    out: set[tuple[str, str]] = set()
    classes: list[type] = []
    for name, value in vars(trt).items():
        if name.startswith("_") or name in FAKE_INTERNALS:
            continue
        out.add(("tensorrt", name))
        if isinstance(value, type) and issubclass(value, enum.Enum):
            out |= {(name, member) for member in value.__members__}
        elif isinstance(value, type):
            classes.append(value)
    builder = trt.Builder(trt.Logger(trt.Logger.WARNING))
    config = builder.create_builder_config()
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, trt.Logger(trt.Logger.WARNING))
    classes += [type(builder.create_optimization_profile()), type(config.create_timing_cache(b"")), type(network)]
    for cls in classes:
        out |= {(_owner(cls), member) for member in _public(cls)}
    out |= {("OnnxParser", n) for n in vars(parser) if not n.startswith("_")} - {("OnnxParser", n) for n in FAKE_INTERNALS}
    for name in ("set_timing_cache",):  # keyword arguments our code passes by name
        params = list(inspect.signature(getattr(config, name)).parameters)[1:]
        out |= {(f"IBuilderConfig.{name}", p) for p in params}
    return out


def _session_fake() -> tuple[Any, Any]:
    """The named-tensor session fake of tests/backends/test_tensorrt.py (TensorRT 10 and 11 alike)."""
    path = ROOT / "tests" / "backends" / "test_tensorrt.py"
    spec = importlib.util.spec_from_file_location("_trt_session_fake", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.make_fake_trt(module.FakeMemory())


def session_fake_names(trt: Any, engine: Any) -> set[tuple[str, str]]:
    out = {("tensorrt", n) for n in vars(trt) if not n.startswith("_")}
    for name, value in vars(trt).items():
        if isinstance(value, type) and issubclass(value, enum.Enum):
            out |= {(name, member) for member in value.__members__}
    context = engine.create_execution_context()
    for obj in (engine, context):
        out |= {(_owner(type(obj)), n) for n in _public(type(obj))}
    return out


# ---- the checks -------------------------------------------------------------------------------------


@pytest.mark.parametrize("major", [10, 11])
def test_every_name_our_code_uses_exists_in_the_targeted_tensorrt(major):
    real = _bindings_or_skip(major)
    used = BOTH | (TRT10_ONLY if major == 10 else set())
    assert real.missing(used) == [], f"TensorRT {real.version} lacks these names our code path uses"
    if major == 11:
        assert sorted(n for n in GONE_IN_11 if real.has(n)) == [], "TensorRT 11 still has these: the 10-only path may be obsolete"


@pytest.mark.parametrize("major", [10, 11])
def test_every_engine_io_dtype_name_the_session_maps_is_a_tensorrt_datatype(major):
    from harness.backends.tensorrt import _TRT_DTYPES

    real = _bindings_or_skip(major)
    assert real.missing({("DataType", name) for name in _TRT_DTYPES}) == []
    assert {("DataType", name) for name in _TRT_DTYPES} <= BOTH


@pytest.mark.parametrize("major", [10, 11])
def test_the_builder_fake_exposes_only_names_of_the_version_it_imitates(major):
    real = _bindings_or_skip(major)
    fake = make_trt(major)
    assert real.missing(fake_names(fake)) == [], f"fake_trt.make_trt({major}) has names TensorRT {real.version} lacks"


def test_the_trt11_fake_drops_exactly_what_tensorrt_11_removed():
    real = _bindings_or_skip(11)
    dropped = {name for _, name in fake_names(make_trt(10)) - fake_names(make_trt(11))}
    assert dropped - {"INT8"} == GONE_IN_11 - {"get_batch_size", "read_calibration_cache", "write_calibration_cache"}
    assert not any(real.has(name) for name in dropped - {"INT8"})


@pytest.mark.parametrize("major", [10, 11])
def test_the_session_fake_exposes_only_real_names(major):
    real = _bindings_or_skip(major)
    assert real.missing(session_fake_names(*_session_fake())) == []


RENAMES = [
    ("IBuilderConfig", "set_memory_pool_limit", "set_memory_pool_limits"),
    ("IBuilderConfig", "set_flag", "set_flags"),
    ("Builder", "build_serialized_network", "build_engine"),
    ("OnnxParser", "parse_from_file", "parse_file"),
]


@pytest.mark.parametrize(("cls", "old", "new"), RENAMES)
def test_a_fake_method_renamed_to_a_name_tensorrt_lacks_is_caught(cls, old, new):
    real = _bindings_or_skip(10)
    fake = make_trt(10)
    klass = getattr(fake, cls)
    setattr(klass, new, getattr(klass, old))
    delattr(klass, old)
    assert real.missing(fake_names(fake)) == [f"{cls}.{new}"]


def test_a_session_fake_method_renamed_is_caught():
    real = _bindings_or_skip(10)
    trt, engine = _session_fake()
    context_cls = type(engine.create_execution_context())
    context_cls.execute_async_v2 = context_cls.execute_async_v3  # the TensorRT 8 name, gone in 10
    del context_cls.execute_async_v3
    assert real.missing(session_fake_names(trt, engine)) == ["IExecutionContext.execute_async_v2"]


def test_a_documented_method_on_the_wrong_class_is_caught():
    real = _bindings_or_skip(10)
    assert real.missing({("Builder", "set_memory_pool_limit"), ("IBuilderConfig", "set_memory_pool_limit")}) == ["Builder.set_memory_pool_limit"]


# ---- USED stays complete: an AST scan of the code that talks to TensorRT ------------------------

SOURCES = ("exporters/tensorrt.py", "harness/variants/calibration.py", "harness/backends/tensorrt.py", "exporters/variants/features.py")
# local names bound to TensorRT objects in those files -> the TensorRT class
RECEIVERS = {"trt": "tensorrt", "builder": "Builder", "trt_builder": "Builder", "config": "IBuilderConfig", "parser": "OnnxParser",
             "p": "IOptimizationProfile", "cache": "ITimingCache", "runtime": "Runtime", "engine": "ICudaEngine",
             "_engine": "ICudaEngine", "_context": "IExecutionContext", "logger": "Logger"}
# the same local names bound to other things: `cache` and `engine` are also Paths, `p` a profile dict
NOT_TRT = {("ITimingCache", "read_bytes"), ("ITimingCache", "is_file"), ("ITimingCache", "parent"), ("ITimingCache", "with_name"),
           ("ITimingCache", "name"), ("ICudaEngine", "name"), ("ICudaEngine", "with_name"), ("IOptimizationProfile", "items")}


def test_every_tensorrt_attribute_the_code_touches_is_listed():
    seen: set[tuple[str, str]] = set()
    for source in SOURCES:
        for node in ast.walk(ast.parse((ROOT / source).read_text())):
            if isinstance(node, ast.Attribute):
                receiver = node.value
                name = receiver.attr if isinstance(receiver, ast.Attribute) and isinstance(receiver.value, ast.Name) and receiver.value.id == "self" \
                    else receiver.id if isinstance(receiver, ast.Name) else None
                if name in RECEIVERS:
                    seen.add((RECEIVERS[name], node.attr))
                elif isinstance(receiver, ast.Attribute) and isinstance(receiver.value, ast.Name) and receiver.value.id == "trt":
                    seen.add((receiver.attr, node.attr))  # trt.Logger.WARNING, trt.MemoryPoolType.WORKSPACE
    listed = BOTH | TRT10_ONLY
    assert sorted(seen - listed - NOT_TRT - {("tensorrt", "__version__")}) == []

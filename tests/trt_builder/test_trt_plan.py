"""Plain functions of the TensorRT path: feature detection, precision planning, profiles from
the manifest, cache keys. Fake ``tensorrt`` modules stand for 10.x and 11.x; the real module
is used too where it imports (skipped with a reason here)."""

from __future__ import annotations

import types

import numpy as np
import pytest
from fake_trt import make_trt

from exporters.variants.cache import calibration_key, timing_cache_path
from harness.report.io import file_sha256
from exporters.variants.features import detect_features
from exporters.variants.plan import check_int8_support, parse_precision, plan_build
from exporters.variants.profiles import ShapeRange, derive_profiles
from harness.backends.interface import TensorSpec
from harness.errors import BackendUnavailable, ConfigError, ManifestError
from harness.manifest import load_manifest, read_graph_io


def test_trt10_features_are_weakly_typed_with_a_calibrator():
    f = detect_features(make_trt(10))
    assert (f.major, f.weak_typing, f.int8_calibrator, f.strongly_typed_flag, f.platform_int8_query) == (10, True, True, True, True)
    assert f.memory_pool_limit and f.timing_cache and not f.always_strongly_typed


def test_trt11_features_are_strongly_typed_only():
    f = detect_features(make_trt(11))
    assert (f.major, f.weak_typing, f.int8_calibrator, f.platform_int8_query) == (11, False, False, False)
    assert f.always_strongly_typed


def test_too_old_or_unreadable_tensorrt_is_refused():
    with pytest.raises(BackendUnavailable, match="too old"):
        detect_features(types.SimpleNamespace(__version__="8.6.1"))
    with pytest.raises(BackendUnavailable, match="major version"):
        detect_features(types.SimpleNamespace(__version__="dev"))


@pytest.mark.tensorrt
def test_real_tensorrt_module_is_detected():
    import tensorrt

    f = detect_features(tensorrt)
    assert f.major == int(tensorrt.__version__.split(".")[0])
    assert f.weak_typing == (f.major < 11)


@pytest.mark.parametrize(
    ("major", "precision", "strategy", "flags", "net", "transform", "calibrator", "typed"),
    [
        (10, "fp32", "builder-flags", (), (), "none", False, None),
        (10, "fp16", "builder-flags", ("FP16",), (), "none", False, None),
        (10, "int8", "builder-flags", ("INT8",), (), "none", True, None),
        (11, "fp32", "strongly-typed", (), (), "none", False, None),
        (11, "fp16", "strongly-typed", (), (), "fp16", False, "model.fp16.onnx"),
        (11, "int8", "strongly-typed", (), (), "int8-qdq", False, "model.int8-trt.onnx"),
    ],
)
def test_plan_per_tensorrt_major(major, precision, strategy, flags, net, transform, calibrator, typed):
    plan = plan_build(precision, "trt", detect_features(make_trt(major)))
    assert (plan.strategy, plan.builder_flags, plan.network_flags, plan.transform, plan.calibrator, plan.typed_onnx) == (
        strategy, flags, net, transform, calibrator, typed)
    assert plan.output == f"model.{precision}.engine"
    assert plan.role == ("model.engine" if precision == "fp32" else f"model.{precision}.engine")
    assert plan.needs_calibration_data == (precision == "int8")


def test_strongly_typed_on_trt10_sets_the_creation_flag_and_uses_trt_qdq():
    plan = plan_build("int8", "trt", detect_features(make_trt(10)), strongly_typed=True)
    assert plan.strategy == "strongly-typed" and plan.network_flags == ("STRONGLY_TYPED",)
    assert plan.quant_recipe == "trt" and not plan.calibrator


def test_ort_plans_need_no_tensorrt():
    plan = plan_build("int8", "ort", None, source_file="net.onnx", base_role="model")
    assert (plan.output, plan.role, plan.quant_recipe) == ("net.int8.onnx", "model.int8", "ort-cpu")
    with pytest.raises(ConfigError, match="already is the FP32"):
        plan_build("fp32", "ort", None)
    with pytest.raises(ConfigError, match="needs TensorRT features"):
        plan_build("fp16", "trt", None)


def test_precision_and_target_typos_suggest_the_fix():
    assert parse_precision(" INT8 ") == "int8"
    with pytest.raises(ConfigError, match="did you mean 'int8'"):
        parse_precision("int9")
    with pytest.raises(ConfigError, match="did you mean 'ort'"):
        plan_build("fp16", "orf", None)


def test_int8_needs_a_gpu_with_int8_math():
    check_int8_support("8.7", "Orin")  # no error
    with pytest.raises(ConfigError, match=r"'Maxwell' \(SM 5.2\) has no fast INT8"):
        check_int8_support("5.2", "Maxwell")
    with pytest.raises(ConfigError, match="no fast INT8"):
        check_int8_support("8.6", "RTX", platform_fast_int8=False)


def test_profiles_cover_every_dynamic_input_from_the_manifest(model):
    manifest = load_manifest(model.dir)
    inputs = read_graph_io(model.path).inputs
    (profile,) = derive_profiles(inputs, manifest, opt_batch=4)
    assert profile == {
        "rgb": ShapeRange((1, 3, 16, 16), (4, 3, 16, 16), (8, 3, 16, 16)),  # batch.max = 8 in the manifest
        "depth": ShapeRange((1, 3, 16, 16), (4, 3, 16, 16), (8, 3, 16, 16)),
    }
    (overridden,) = derive_profiles(inputs, manifest, max_batch=2)
    assert overridden["rgb"].opt == (2, 3, 16, 16) and overridden["rgb"].max == (2, 3, 16, 16)


def test_dynamic_spatial_axes_take_input_size_and_unknown_axes_are_refused(model):
    manifest = load_manifest(model.dir)
    spatial = [TensorSpec("rgb", np.dtype(np.float32), ("N", 3, "H", "W"))]
    (profile,) = derive_profiles(spatial, manifest, opt_batch=1)
    assert profile["rgb"] == ShapeRange((1, 3, 16, 16), (1, 3, 16, 16), (8, 3, 16, 16))
    unknown = [TensorSpec("extra", np.dtype(np.float32), ("N", "T"))]
    with pytest.raises(ManifestError, match=r"'extra' axis 1 is dynamic \('T'\)"):
        derive_profiles(unknown, manifest)


def test_static_graphs_need_no_profile_and_bad_ranges_are_refused(model):
    manifest = load_manifest(model.dir)
    static = [TensorSpec("rgb", np.dtype(np.float32), (2, 3, 16, 16))]
    assert derive_profiles(static, manifest) == ()
    dynamic = [TensorSpec("rgb", np.dtype(np.float32), ("N", 3, 16, 16))]
    with pytest.raises(ConfigError, match="min <= opt <= max"):
        derive_profiles(dynamic, manifest, opt_batch=9)


def test_cache_keys_change_with_every_ingredient(tmp_path):
    base = {"onnx_sha256": "a" * 64, "data_fingerprint": "d1", "sample_indices": [0, 5], "batch_size": 2,
            "input_shapes": {"rgb": (2, 3, 16, 16)}, "trt_version": "10.3.0"}
    key = calibration_key(**base)
    assert key == calibration_key(**{**base, "input_shapes": {"rgb": [2, 3, 16, 16]}})  # tuple vs list: same
    for change in [{"onnx_sha256": "b" * 64}, {"data_fingerprint": "d2"}, {"sample_indices": [0, 6]},
                   {"batch_size": 1}, {"input_shapes": {"rgb": (2, 3, 32, 32)}}, {"trt_version": "10.4.0"}]:
        assert calibration_key(**{**base, **change}) != key, change
    assert timing_cache_path(tmp_path, "10.3.0", "8.7").name == "timing-trt10.3.0-sm8.7.cache"
    blob = tmp_path / "f.bin"
    blob.write_bytes(b"abc")
    assert file_sha256(blob) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2 "abc"


def test_engine_roles_are_where_the_trt_backend_looks(model):
    """``--backend trt`` runs graphs["model.engine"]; ``--compare trt@int8`` runs graphs["model.int8.engine"]."""
    from harness.backends.select import graph_file_for, parse_backend
    from harness.manifest.model import Manifest

    features = detect_features(make_trt(10))
    graphs = {"model": "model.onnx"}
    for precision in ("fp32", "int8"):
        plan = plan_build(precision, "trt", features)
        graphs[plan.role] = plan.output
    manifest = Manifest(schema_version=1, name="m", task="segmentation", graphs=graphs, model_dir="/m")
    request = parse_backend("trt")
    assert graph_file_for(manifest, request, "model") == "/m/model.fp32.engine"
    assert graph_file_for(manifest, request, "model.int8") == "/m/model.int8.engine"

"""ONNX Runtime backends: ort:cpu end to end through the manifest, checked against NumPy; GPU
providers refused clearly here; silent CPU fallback detected; TRT EP cache keys and options."""

from __future__ import annotations

import pickle

import numpy as np
import onnxruntime
import pytest
from onnx_graphs import build_seg_model_dir, random_feeds

from harness.backends import (
    BackendRequest,
    Session,
    SupportsDeviceTiming,
    backend_for,
    cast_feeds_to,
    parse_backend,
)
from harness.backends.ort import (
    OrtBackend,
    provider_chain,
    trt_ep_cache_dir,
    verify_active_provider,
)
from harness.errors import BackendUnavailable, BadInputError, ConfigError, ExitCode
from harness.manifest import load_manifest, validate_against_graph

_REAL_SESSION = onnxruntime.InferenceSession


def _gpu_build() -> bool:
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def test_ort_cpu_end_to_end_through_manifest(tmp_path):
    model = build_seg_model_dir(
        tmp_path / "m", modalities={"rgb": 3, "depth": 1, "event": 2}, masks={"event": "event_present"}
    )
    manifest = load_manifest(model.dir)
    contract = validate_against_graph(manifest)
    rng = np.random.default_rng(7)
    raw = {
        "rgb": rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8),
        "depth": rng.uniform(0, 80, (3, 8, 8, 1)).astype(np.float32),
        "event": rng.normal(size=(3, 8, 8, 2)).astype(np.float32),
    }
    feeds = {manifest.modality(name).input: manifest.modality(name).preprocess_array(x) for name, x in raw.items()}
    feeds["event_present"] = np.array([1, 0, 1], np.float32)
    with backend_for(manifest, parse_backend("ort:cpu")).open() as session:
        assert isinstance(session, Session)
        assert not isinstance(session, SupportsDeviceTiming)
        assert [s.name for s in session.inputs] == [i.spec.name for i in contract.inputs]
        out = session.run(feeds)
        again = session.run(feeds)
        provenance = session.provenance
    # independent NumPy forward on the same preprocessed tensors, preprocessing redone by hand
    expected_rgb = (raw["rgb"].astype(np.float64) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(feeds["rgb"], expected_rgb.transpose(0, 3, 1, 2), atol=1e-6)
    np.testing.assert_allclose(out["logits"], model.forward(feeds), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(out["logits"], again["logits"])  # same inputs -> bit-identical
    # the mask really removes the event stream for sample 1
    no_event = {**feeds, "event": np.zeros_like(feeds["event"])}
    np.testing.assert_allclose(out["logits"][1], model.forward(no_event)[1], rtol=1e-5, atol=1e-4)
    assert provenance["provider"] == "CPUExecutionProvider"
    assert provenance["active_providers"] == ["CPUExecutionProvider"]
    assert provenance["backend"] == "ort:cpu" and provenance["device"] == "cpu"
    assert provenance["runtime_version"] == onnxruntime.__version__


def test_argmax_variant_matches_numpy_argmax(tmp_path):
    model = build_seg_model_dir(tmp_path / "m", argmax=True, batch=2)
    manifest = load_manifest(model.dir)
    feeds = random_feeds(model, batch=2)
    with backend_for(manifest, parse_backend("ort:cpu")).open() as session:
        out = session.run(feeds)["logits"]
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, model.forward(feeds))


def test_fixed_batch_feed_is_checked(tmp_path):
    model = build_seg_model_dir(tmp_path / "m", batch=2)
    with backend_for(load_manifest(model.dir), parse_backend("ort:cpu")).open() as session:
        with pytest.raises(BadInputError, match=r"ort:cpu feed: rgb: shape \(3, 3, 8, 8\), expected \(2, 3, 8, 8\)"):
            session.run(random_feeds(model, batch=3))
        with pytest.raises(BadInputError, match=r"missing inputs \['depth'\]"):
            session.run({"rgb": np.zeros((2, 3, 8, 8), np.float32)})


def test_fp16_graph_needs_fp16_feeds_and_cast_helper_provides_them(tmp_path):
    model = build_seg_model_dir(tmp_path / "m", dtype=np.float16)
    feeds32 = random_feeds(model, batch=2)
    with backend_for(load_manifest(model.dir), parse_backend("ort:cpu")).open() as session:
        with pytest.raises(BadInputError, match="rgb: dtype float32, expected float16"):
            session.run(feeds32)
        out = session.run(cast_feeds_to(feeds32, session.inputs))["logits"]
    assert out.dtype == np.float16
    np.testing.assert_allclose(out.astype(np.float64), model.forward(cast_feeds_to(feeds32, [])), rtol=2e-2, atol=2e-2)


def test_cast_feeds_never_crosses_int_float():
    from harness.backends import TensorSpec

    specs = [TensorSpec("ids", np.dtype(np.int64), ("N",)), TensorSpec("x", np.dtype(np.float16), ("N",))]
    out = cast_feeds_to({"ids": np.zeros(2, np.int32), "x": np.zeros(2, np.float32), "extra": np.zeros(1)}, specs)
    assert out["ids"].dtype == np.int32 and out["x"].dtype == np.float16 and out["extra"].dtype == np.float64


@pytest.mark.skipif(_gpu_build(), reason="onnxruntime here is a GPU build")
@pytest.mark.parametrize(
    "name, provider", [("ort:cuda", "CUDAExecutionProvider"), ("ort:tensorrt", "TensorrtExecutionProvider")]
)
def test_gpu_providers_are_refused_clearly_here(tmp_path, name, provider):
    model = build_seg_model_dir(tmp_path / "m")
    backend = backend_for(load_manifest(model.dir), parse_backend(name))
    with pytest.raises(BackendUnavailable) as caught:
        backend.open()
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.INFRASTRUCTURE
    assert f"{name} needs {provider}" in message
    assert "CPUExecutionProvider" in message and "onnxruntime-gpu" in message and "--backend ort:cpu" in message
    assert "\n" not in message


class _FallbackSession:
    """Stands in for onnxruntime-gpu on a machine without a GPU: it accepts CUDA and runs on CPU."""

    seen: dict = {}

    def __init__(self, path, sess_options=None, providers=None, provider_options=None):
        type(self).seen = {"providers": providers, "options": provider_options, "sess_options": sess_options}
        self._real = _REAL_SESSION(path, providers=["CPUExecutionProvider"])

    def get_providers(self):
        return ["CPUExecutionProvider"]

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.mark.parametrize("name", ["ort:cuda", "ort:tensorrt"])
def test_silent_cpu_fallback_is_detected(tmp_path, monkeypatch, name):
    model = build_seg_model_dir(tmp_path / "m")
    build = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: build)
    monkeypatch.setattr(onnxruntime, "InferenceSession", _FallbackSession)
    backend = backend_for(
        load_manifest(model.dir),
        parse_backend(name, ["cache_dir=" + str(tmp_path / "cache")] if name == "ort:tensorrt" else []),
    )
    with pytest.raises(
        BackendUnavailable, match=r"activated CPUExecutionProvider instead of .*Refusing to run on CPU silently"
    ):
        backend.open()
    seen = _FallbackSession.seen
    assert "CPUExecutionProvider" not in seen["providers"]  # providers are explicit, CPU never listed
    assert seen["sess_options"].get_session_config_entry("session.disable_cpu_ep_fallback") == "1"


def test_verify_active_provider_accepts_the_requested_one():
    verify_active_provider("ort:cuda", "CUDAExecutionProvider", ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(BackendUnavailable, match="no provider"):
        verify_active_provider("ort:cuda", "CUDAExecutionProvider", [])


def test_trt_ep_cache_dir_is_keyed_by_sm_trt_ort_precision(tmp_path):
    root = str(tmp_path)
    keys = {
        trt_ep_cache_dir(root, sm, trt, ort, precision)
        for sm in ("8.7", "8.6")
        for trt in ("10.3.0", "10.7.0")
        for ort in ("1.20.1", "1.22.0")
        for precision in ("fp16", "int8")
    }
    assert len(keys) == 16  # every combination gets its own directory
    assert trt_ep_cache_dir(root, "8.7", "10.3.0", "1.20.1", "fp16").endswith("sm87-trt10.3.0-ort1.20.1-fp16")


def test_trt_ep_provider_chain_options():
    backend = OrtBackend.from_options(
        "m.onnx",
        "tensorrt",
        {"precision": "fp16", "device_id": "1", "trt_max_workspace_size": "1073741824", "cache_dir": "/c"},
    )
    providers, options = provider_chain(backend, "1.20.1", "8.7", "10.3.0")
    assert providers == ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
    trt, cuda = options
    assert trt["trt_fp16_enable"] == "True" and trt["trt_int8_enable"] == "False"
    assert trt["trt_engine_cache_path"] == "/c/sm87-trt10.3.0-ort1.20.1-fp16" == trt["trt_timing_cache_path"]
    assert trt["trt_max_workspace_size"] == "1073741824"  # passed through untouched
    assert trt["device_id"] == "1" and cuda == {"device_id": "1"}
    cuda_backend = OrtBackend.from_options("m.onnx", "cuda", {"cudnn_conv_algo_search": "HEURISTIC"})
    assert provider_chain(cuda_backend, "1.20.1", None, None) == (
        ["CUDAExecutionProvider"],
        [{"cudnn_conv_algo_search": "HEURISTIC", "device_id": "0"}],
    )


@pytest.mark.parametrize(
    "name, opts, message",
    [
        ("ort:cpu", ["precision=fp16"], "apply to ort:tensorrt only"),
        ("ort:cpu", ["device_id=0"], "device_id applies to ort:cuda"),
        ("ort:cuda", ["device_id=-1"], "expected an integer >= 0"),
        ("ort:cuda", ["iobinding=maybe"], "expected true or false"),
        ("ort:tensorrt", ["precision=int4"], "expected one of fp32, fp16, int8"),
        ("ort:cpu", ["log_severity=9"], "expected 0..4"),
        ("ort:cpu", ["iobinding=false"], "iobinding applies to ort:cuda"),
        # CPUExecutionProvider ignores unknown provider options silently: a typo must not be a no-op
        ("ort:cpu", ["thraeds=2"], r"thraeds not understood by ort:cpu .*session\.<key>=value"),
        ("ort:cuda", ["session.disable_cpu_ep_fallback=0"], "use cpu_nodes=allow"),
    ],
)
def test_typed_options_are_checked_up_front(name, opts, message):
    with pytest.raises(ConfigError, match=message):
        parse_backend(name, opts)


def test_backend_recipe_is_picklable_and_request_is_reusable(tmp_path):
    model = build_seg_model_dir(tmp_path / "m")
    request = parse_backend("ort:cpu", ["threads=1", "opt_level=basic"])
    assert request == BackendRequest("ort:cpu", {"threads": "1", "opt_level": "basic"})
    backend = backend_for(load_manifest(model.dir), request)
    clone = pickle.loads(pickle.dumps(backend))
    assert clone == backend and clone.threads == 1 and clone.opt_level == "basic"
    with clone.open() as session:
        assert session.provenance["threads"] == 1


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["ort:cuda", "ort:tensorrt"])
def test_gpu_session_matches_numpy_and_times_copies(tmp_path, name):
    if not _gpu_build():
        pytest.skip("onnxruntime here has no CUDA provider (install onnxruntime-gpu)")
    model = build_seg_model_dir(tmp_path / "m")
    backend = backend_for(
        load_manifest(model.dir), parse_backend(name, ["cache_dir=" + str(tmp_path)] if name == "ort:tensorrt" else [])
    )
    feeds = random_feeds(model, batch=2)
    with backend.open() as session:
        assert isinstance(session, SupportsDeviceTiming)
        outputs, timing = session.run_timed(feeds)
        assert session.provenance["provider"] == backend.provider
    np.testing.assert_allclose(outputs["logits"], model.forward(feeds), rtol=1e-3, atol=1e-3)
    assert set(timing) == {"h2d_ms", "compute_ms", "d2h_ms"} and all(v >= 0 for v in timing.values())


def test_graph_onnxruntime_cannot_load_is_bad_input(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from harness.errors import ManifestError

    graph = helper.make_graph(
        [helper.make_node("NoSuchOp", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ManifestError, match=r"bad.onnx: onnxruntime cannot load the model \(InvalidGraph: .*NoSuchOp"):
        OrtBackend(str(path)).open()


def test_session_used_after_close_is_an_internal_error(tmp_path):
    from harness.errors import InternalError

    model = build_seg_model_dir(tmp_path / "m")
    session = backend_for(load_manifest(model.dir), parse_backend("ort:cpu")).open()
    session.close()
    with pytest.raises(InternalError, match="used after close"):
        session.run(random_feeds(model))


class Fail(Exception):
    """Named like onnxruntime's pybind ``Fail`` exception."""


_ORT_REFUSAL = (
    "[ONNXRuntimeError] : 1 : FAIL : This session contains graph nodes that are assigned to the default CPU EP, "
    "but fallback to CPU EP has been explicitly disabled by the user."
)


def _refusing_session(*args, **kwargs):
    raise Fail(_ORT_REFUSAL)


@pytest.mark.parametrize(
    "gpu, expected",
    [
        (None, r"CUDAExecutionProvider could not take model.onnx and CPU fallback is disabled: no usable NVIDIA GPU"),
        ("8.6", r"some nodes of model.onnx have no CUDAExecutionProvider kernel .* --backend-opt cpu_nodes=allow"),
    ],
)
def test_strict_cpu_fallback_refusal_is_explained(tmp_path, monkeypatch, gpu, expected):
    from harness.backends import ort as ort_backend

    model = build_seg_model_dir(tmp_path / "m")
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(onnxruntime, "InferenceSession", _refusing_session)
    monkeypatch.setattr(ort_backend, "_gpu_facts", lambda backend: (gpu, None))
    with pytest.raises(BackendUnavailable, match=expected) as caught:
        backend_for(load_manifest(model.dir), parse_backend("ort:cuda")).open()
    assert "\n" not in str(caught.value)


def test_cpu_nodes_allow_is_explicit_and_recorded(tmp_path, monkeypatch):
    from harness.backends import ort as ort_backend

    class CudaFirst(_FallbackSession):
        def get_providers(self):
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    model = build_seg_model_dir(tmp_path / "m")
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(onnxruntime, "InferenceSession", CudaFirst)
    monkeypatch.setattr(ort_backend, "_gpu_facts", lambda backend: ("8.6", None))
    backend = backend_for(load_manifest(model.dir), parse_backend("ort:cuda", ["cpu_nodes=allow", "iobinding=false"]))
    with backend.open() as session:
        assert session.provenance["cpu_ep_fallback"] == "allowed by --backend-opt cpu_nodes=allow"
        assert session.provenance["provider"] == "CUDAExecutionProvider"
        feeds = random_feeds(model)
        np.testing.assert_allclose(session.run(feeds)["logits"], model.forward(feeds), rtol=1e-5, atol=1e-4)
    with pytest.raises(RuntimeError, match="does not have configuration with key"):  # never set
        CudaFirst.seen["sess_options"].get_session_config_entry("session.disable_cpu_ep_fallback")
    with pytest.raises(ConfigError, match="cpu_nodes applies to ort:cuda"):
        parse_backend("ort:cpu", ["cpu_nodes=allow"])


class _RecordingSession:
    """A real CPU session that remembers the SessionOptions it was created with."""

    seen: dict = {}

    def __init__(self, path, sess_options=None, providers=None, provider_options=None):
        type(self).seen = {"sess_options": sess_options}
        self._real = _REAL_SESSION(path, sess_options, providers=providers, provider_options=provider_options)

    def __getattr__(self, name):
        return getattr(self._real, name)


def test_session_config_entries_reach_onnxruntime_and_provenance(tmp_path, monkeypatch):
    model = build_seg_model_dir(tmp_path / "m")
    monkeypatch.setattr(onnxruntime, "InferenceSession", _RecordingSession)
    request = parse_backend("ort:cpu", ["session.intra_op.allow_spinning=1", "session.use_env_allocators=0"])
    with backend_for(load_manifest(model.dir), request).open() as session:
        provenance = session.provenance
        out = session.run(random_feeds(model))
    options = _RecordingSession.seen["sess_options"]
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"  # the user's value wins
    assert options.get_session_config_entry("session.use_env_allocators") == "0"
    assert provenance["session_config"]["session.intra_op.allow_spinning"] == "1"
    assert provenance["session_config"]["session.use_env_allocators"] == "0"
    np.testing.assert_allclose(out["logits"], model.forward(random_feeds(model)), rtol=1e-5, atol=1e-4)


def test_ort_cpu_does_not_spin_by_default_and_says_so(tmp_path, monkeypatch):
    """Spin-waiting intra-op threads starve the harness's helper threads on shared cores
    (benchmarks/bench_ort_spinning.py): off by default, visible in provenance, overridable."""
    model = build_seg_model_dir(tmp_path / "m")
    monkeypatch.setattr(onnxruntime, "InferenceSession", _RecordingSession)
    with backend_for(load_manifest(model.dir), parse_backend("ort:cpu")).open() as session:
        assert session.provenance["session_config"] == {"session.intra_op.allow_spinning": "0"}
    assert _RecordingSession.seen["sess_options"].get_session_config_entry("session.intra_op.allow_spinning") == "0"
    # GPU recipes keep ONNX Runtime's defaults (their intra-op pool only feeds the device)
    assert OrtBackend.from_options("m.onnx", "cuda", {}).session_config == {}

"""``mmharness bench``: statistics against independent definitions, the schedule, the document.

Percentiles are checked against NumPy's ``inverted_cdf`` method (the nearest-rank definition
implemented independently) and hand-worked examples; end-to-end runs use a tiny ONNX graph on
ONNX Runtime CPU and fake sessions that sleep, so the CoV warning and device split are
exercised for real.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from harness.bench.api import BenchConfig, run_bench
from harness.bench.document import BENCH_NAME, load_bench, problems, write_bench
from harness.bench.measure import Schedule, measure
from harness.bench.render import render_text
from harness.bench.stats import LatencyStats, nearest_rank
from harness.errors import ConfigError, ExitCode, InfrastructureError

SYNTH = {"rgb": 3, "depth": 3, "event": 3, "lidar": 3}
FAST = Schedule(warmup_s=0.01, min_iterations=8, min_duration_s=0.0)


# --- statistics -------------------------------------------------------------------------


def test_nearest_rank_hand_examples():
    ten = [float(v) for v in range(1, 11)]  # 1..10
    assert nearest_rank(ten, 50) == 5.0  # rank ceil(5) = 5
    assert nearest_rank(ten, 90) == 9.0
    assert nearest_rank(ten, 95) == 10.0  # rank ceil(9.5) = 10
    assert nearest_rank(ten, 100) == 10.0
    assert nearest_rank([7.0], 99) == 7.0
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 50) == 2.0  # no interpolation (numpy's linear gives 2.5)
    with pytest.raises(ValueError):
        nearest_rank(ten, 0)
    thousand = [float(v) for v in range(1, 1001)]
    assert nearest_rank(thousand, 99.9) == 999.0  # 99.9 % of 1000 is exactly rank 999 (float math says 999.0000000000001)
    assert nearest_rank(thousand, 99) == 990.0 and nearest_rank(thousand, 0.1) == 1.0


def test_nearest_rank_is_the_inverse_empirical_cdf():
    """Definition check, independent of numpy: the p-th percentile is the smallest sample x with
    F(x) = #{samples <= x} / n >= p / 100 (Hyndman & Fan type 1, numpy ``inverted_cdf``)."""
    rng = np.random.default_rng(7)
    for n in (1, 3, 10, 37, 200):
        ordered = sorted(rng.integers(0, 50, size=n).astype(float).tolist())  # ties included
        for tenths in (500, 900, 950, 990, 999, 125):  # p in tenths of a percent: integer arithmetic
            smallest = min(x for x in ordered if 1000 * sum(v <= x for v in ordered) >= tenths * n)
            assert nearest_rank(ordered, tenths / 10) == smallest, (n, tenths)


@pytest.mark.parametrize("n", [1, 2, 7, 100, 1001])
def test_stats_match_numpy_inverted_cdf_and_population_std(n):
    rng = np.random.default_rng(n)
    samples = rng.lognormal(0.0, 0.3, size=n)
    stats = LatencyStats.from_ms(samples.tolist())
    for p in (50, 90, 95, 99):
        assert getattr(stats, f"p{p}_ms") == float(np.percentile(samples, p, method="inverted_cdf"))
    assert stats.mean_ms == pytest.approx(float(samples.mean()), rel=1e-12)
    assert stats.cov == pytest.approx(float(samples.std(ddof=0) / samples.mean()), rel=1e-9)
    assert (stats.min_ms, stats.max_ms, stats.count) == (samples.min(), samples.max(), n)


def test_cov_threshold():
    assert not LatencyStats.from_ms([10.0, 10.1, 9.9, 10.0]).unstable
    assert LatencyStats.from_ms([10.0, 12.0, 8.0, 10.0]).unstable


# --- schedule ---------------------------------------------------------------------------


class FakeClock:
    """A clock that only moves when a step runs (``cost_ns`` per step)."""

    def __init__(self, cost_ns):
        self.t = 0
        self.costs = iter(cost_ns)

    def __call__(self):
        return self.t

    def step(self):
        self.t += next(self.costs)


def test_min_iterations_and_min_duration_are_both_required():
    # 1 ms per step; warm-up 5 ms -> 5 warm-up steps; then 3 iterations minimum but 10 ms minimum
    clock = FakeClock([1_000_000] * 1000)
    result = measure(clock.step, Schedule(warmup_s=0.005, min_iterations=3, min_duration_s=0.010), clock_ns=clock)
    assert result.warmup_iterations == 5
    assert len(result.latencies_ms) == 10 and all(x == 1.0 for x in result.latencies_ms)
    # now the iteration count binds: 50 iterations take 50 ms > 10 ms
    clock = FakeClock([1_000_000] * 1000)
    result = measure(clock.step, Schedule(warmup_s=0.0, min_iterations=50, min_duration_s=0.010), clock_ns=clock)
    assert result.warmup_iterations == 0 and len(result.latencies_ms) == 50
    assert result.wall_s == pytest.approx(0.050)


def test_max_iterations_caps_a_long_duration():
    clock = FakeClock([1_000_000] * 1000)
    result = measure(clock.step, Schedule(warmup_s=0.0, min_iterations=2, min_duration_s=10.0, max_iterations=7), clock_ns=clock)
    assert len(result.latencies_ms) == 7


@pytest.mark.parametrize(
    "kwargs, flag",
    [
        ({"min_iterations": 0}, "--iterations"),
        ({"min_iterations": -5}, "--iterations"),
        ({"warmup_s": -1.0}, "--warmup"),
        ({"min_duration_s": -0.5}, "--duration"),
        ({"min_duration_s": float("nan")}, "--duration"),
        ({"min_iterations": 10, "max_iterations": 5}, "--max-iterations"),
    ],
)
def test_bad_schedules_are_config_errors(kwargs, flag):
    with pytest.raises(ConfigError, match=flag) as info:
        Schedule(**kwargs)
    assert info.value.exit_code == ExitCode.BAD_INPUT


# --- end to end -------------------------------------------------------------------------


class OrtBackend:
    """Minimal ONNX Runtime CPU backend for these tests (the product's lives in harness.backends)."""

    name = "ort:cpu(test)"

    def __init__(self, path):
        self.path = path

    def open(self):
        return OrtSession(self.path)


class OrtSession:
    def __init__(self, path):
        import onnxruntime as ort

        from harness.backends.interface import TensorSpec

        self._s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        dtype = {"tensor(float)": np.dtype(np.float32), "tensor(int64)": np.dtype(np.int64)}
        self.inputs = [TensorSpec(i.name, dtype[i.type], tuple(i.shape)) for i in self._s.get_inputs()]
        self.outputs = [TensorSpec(o.name, dtype[o.type], tuple(o.shape)) for o in self._s.get_outputs()]
        self.provenance = {"backend": "ort:cpu", "providers": self._s.get_providers()}
        self.calls = 0

    def run(self, feeds):
        self.calls += 1
        names = [o.name for o in self.outputs]
        return dict(zip(names, self._s.run(names, dict(feeds))))

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from onnx_graphs import build_seg_model_dir

    return build_seg_model_dir(tmp_path_factory.mktemp("tiny"), modalities=SYNTH, num_classes=7, size=(16, 16))


def _config(model, **kw):
    base = dict(model_dir=model.dir, batch=2, schedule=FAST, telemetry="off")
    base.update(kw)
    return BenchConfig(**base)


def test_bench_on_ort_cpu_percentiles_agree_with_raw_samples(tiny_model, tmp_path):
    doc = run_bench(_config(tiny_model, telemetry="auto"), OrtBackend(tiny_model.path))
    assert problems(doc) is None
    result = doc["result"]
    samples = np.asarray(result["samples_ms"])
    assert len(samples) == result["iterations"] >= 8
    for p in (50, 90, 95, 99):
        assert result["latency_ms"][f"p{p}_ms"] == float(np.percentile(samples, p, method="inverted_cdf"))
    assert result["latency_ms"]["min_ms"] <= result["latency_ms"]["p50_ms"] <= result["latency_ms"]["p99_ms"] <= result["latency_ms"]["max_ms"]
    wall = result["throughput"]["wall_s"]
    assert wall >= samples.sum() / 1000.0 * 0.999  # the loop cannot be faster than its iterations
    assert result["throughput"]["samples_per_s"] == pytest.approx(2 * len(samples) / wall)
    assert "skipped" in result["device_ms"]
    assert doc["methodology"]["anchors"] == ["trtexec", "MLPerf SingleStream"]
    assert "nearest-rank" in doc["methodology"]["percentiles"]
    # no Jetson, no GPU here: every power source is recorded as skipped, with a reason
    telemetry = doc["telemetry"]
    if telemetry["power"] is None:
        assert {s["source"] for s in telemetry["skipped"]} >= {"ina3221", "tegrastats", "nvml"}
        assert all(s["reason"] for s in telemetry["skipped"])
    path = write_bench(tmp_path, doc)
    assert path.name == BENCH_NAME and load_bench(tmp_path)["result"] == doc["result"]
    text = render_text(doc)
    assert "p99" in text and "trtexec" in text


def test_the_inputs_are_the_real_preprocessed_samples(tiny_model):
    """The feeds are the first ``batch`` synthetic samples, preprocessed, not zeros or noise."""
    from harness.data.registry import open_dataset
    from harness.manifest import load_manifest

    seen = {}

    class Recording(OrtSession):
        def run(self, feeds):
            seen.update(feeds)
            return super().run(feeds)

    class RecordingBackend(OrtBackend):
        def open(self):
            return Recording(self.path)

    run_bench(_config(tiny_model), RecordingBackend(tiny_model.path))
    manifest = load_manifest(tiny_model.dir)
    dataset = open_dataset("synthetic", split="val", size=16)
    raw = np.stack([dataset[i].modalities["rgb"] for i in range(2)]).astype(np.float32)
    mean, std = np.asarray([0.485, 0.456, 0.406], np.float32), np.asarray([0.229, 0.224, 0.225], np.float32)
    expected = ((raw * np.float32(1 / 255) - mean) / std).transpose(0, 3, 1, 2)
    assert manifest.modality("rgb").preprocess.scale == pytest.approx(1 / 255)
    np.testing.assert_allclose(seen["rgb"], expected, rtol=1e-6, atol=1e-6)


class _SleepySession:
    """Sleeps a scripted number of milliseconds per run; optionally reports a device split."""

    inputs: list = []
    outputs: list = []
    provenance = {"backend": "fake"}

    def __init__(self, delays_ms, split=False):
        self.delays = delays_ms
        self.i = 0
        if split:
            self.run_timed = self._run_timed

    def run(self, feeds):
        time.sleep(self.delays[self.i % len(self.delays)] / 1000.0)
        self.i += 1
        return {}

    def _run_timed(self, feeds):
        self.run(feeds)
        return {}, {"h2d_ms": 0.1, "compute_ms": 1.0 + (self.i % 2), "d2h_ms": 0.05}

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


class _Fixed:
    name = "fake"

    def __init__(self, session):
        self.session = session

    def open(self):
        return self.session


def test_cov_warning_on_a_jittery_session(tiny_model):
    doc = run_bench(_config(tiny_model), _Fixed(_SleepySession([1.0, 6.0])))
    stats = doc["result"]["latency_ms"]
    assert stats["cov"] > 0.025 and stats["unstable"]
    assert any("coefficient of variation" in w for w in doc["result"]["warnings"])
    assert "WARNING" in render_text(doc)


def test_device_split_when_the_session_supports_device_timing(tiny_model):
    from harness.backends.interface import SupportsDeviceTiming

    session = _SleepySession([0.5], split=True)
    assert isinstance(session, SupportsDeviceTiming)
    doc = run_bench(_config(tiny_model), _Fixed(session))
    device = doc["result"]["device_ms"]
    assert set(device) == {"h2d_ms", "compute_ms", "d2h_ms"}
    assert device["h2d_ms"]["p50_ms"] == 0.1
    assert device["compute_ms"]["min_ms"] == 1.0 and device["compute_ms"]["max_ms"] == 2.0
    assert problems(doc) is None


def test_latency_per_corruption_cell(tiny_model):
    cells = Schedule(warmup_s=0.0, min_iterations=3, min_duration_s=0.0)
    doc = run_bench(_config(tiny_model, scenarios=("emm",), cell_schedule=cells), OrtBackend(tiny_model.path))
    assert len(doc["cells"]) == 2**4 - 2  # every missing set except the clean one (timed as the main result)
    reference = doc["cells_reference"]
    assert reference["iterations"] == 3  # clean inputs timed with the cell schedule, not the main one
    for entry in doc["cells"].values():
        assert entry["iterations"] == 3
        assert entry["p50_ratio_vs_clean"] == entry["latency_ms"]["p50_ms"] / reference["latency_ms"]["p50_ms"]
    method = doc["methodology"]["cell_schedule"]
    assert "shorter schedule" in method and "at least 3 iterations" in method and "cells_reference" in method
    assert doc["config"]["cell_min_duration_s"] == 0.0 and problems(doc) is None
    assert run_bench(_config(tiny_model), OrtBackend(tiny_model.path))["cells_reference"] is None


def test_model_that_fails_to_load_is_infrastructure_error(tiny_model):
    class Broken:
        name = "ort:cpu"

        def open(self):
            raise RuntimeError("[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model failed")

    with pytest.raises(InfrastructureError, match="model failed to load on 'ort:cpu'.*INVALID_PROTOBUF") as info:
        run_bench(_config(tiny_model), Broken())
    assert info.value.exit_code == ExitCode.INFRASTRUCTURE


@pytest.mark.parametrize("kw, flag", [({"batch": 0}, "--batch"), ({"batch": -2}, "--batch"), ({"telemetry": "jtop"}, "--telemetry")])
def test_bad_config(tiny_model, kw, flag):
    with pytest.raises(ConfigError, match=flag):
        _config(tiny_model, **kw)


def test_batch_larger_than_manifest_max_is_bad_input(tiny_model):
    with pytest.raises(ConfigError, match="batch.max"):
        run_bench(_config(tiny_model, batch=9), OrtBackend(tiny_model.path))


@pytest.mark.parametrize("argv", [["--iterations", "0"], ["--iterations", "-3"], ["--duration", "-1"], ["--batch", "0"],
                                  ["--cell-iterations", "0"], ["--cell-duration", "-1"], ["--warmup", "-1"]])
def test_cli_bad_counts_exit_2(tiny_model, argv, capsys):
    from harness.cli import main

    assert main(["bench", tiny_model.dir, *argv]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mmharness: error:" in err
    assert f"{argv[0]}:" in err  # names the flag the user typed


def test_non_finite_samples_never_reach_the_document():
    assert math.isfinite(LatencyStats.from_ms([0.0, 0.0]).cov)


# --- the command ------------------------------------------------------------------------

QUICK = ["--warmup", "0.02", "--iterations", "5", "--duration", "0", "--telemetry", "off"]


def test_cli_bench_writes_bench_json_and_prints_the_method(tiny_model, tmp_path, capsys):
    from harness.cli import main

    out = tmp_path / "out"
    assert main(["bench", tiny_model.dir, "--batch", "2", "--out", str(out), *QUICK]) == ExitCode.OK
    stdout = capsys.readouterr().out
    assert "nearest-rank" in stdout and "MLPerf SingleStream" in stdout and "p99" in stdout
    doc = load_bench(out)
    assert doc["config"]["batch"] == 2 and doc["result"]["iterations"] >= 5
    assert doc["provenance"]["session"]["backend"] == "ort:cpu"  # the product's backend, selected by --backend
    assert "python" in doc["provenance"]["environment"]


def test_cli_corrupt_model_exits_3_with_the_reason(tiny_model, tmp_path, capsys):
    import shutil

    from harness.cli import main

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model.dir, broken)
    (broken / "model.onnx").write_bytes((broken / "model.onnx").read_bytes()[:200])  # truncated graph
    code = main(["bench", str(broken), "--out", str(tmp_path / "o"), *QUICK])
    err = capsys.readouterr().err
    assert code == ExitCode.INFRASTRUCTURE, err
    assert "model failed to load" in err and "model.onnx" in err and err.count("\n") == 1


def test_cli_gpu_backend_without_gpu_exits_3(tiny_model, tmp_path, capsys):
    from harness.cli import main

    code = main(["bench", tiny_model.dir, "--backend", "ort:cuda", "--out", str(tmp_path / "o"), *QUICK])
    err = capsys.readouterr().err
    if code == ExitCode.OK:
        pytest.skip("a CUDA-capable ONNX Runtime and GPU are present here")
    assert code == ExitCode.INFRASTRUCTURE and "CUDA" in err


def test_cli_missing_model_dir_is_bad_input(tmp_path, capsys):
    from harness.cli import main

    assert main(["bench", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), *QUICK]) == ExitCode.BAD_INPUT
    assert "manifest" in capsys.readouterr().err


def test_report_shows_latency_when_bench_json_sits_beside_results(tmp_path, capsys):
    from onnx_graphs import build_seg_model_dir

    from harness.cli import main
    from harness.runner.config import RunConfig
    from harness.runner.sweep import run_sweep
    from harness.scenarios.plan import PlanSpec

    model = build_seg_model_dir(tmp_path / "m", modalities=SYNTH, num_classes=7, size=(64, 64))
    out = tmp_path / "out"
    run_sweep(RunConfig(model_dir=Path(model.dir), plan=PlanSpec(scenarios=("emm",)), limit=2, bootstrap=0, out=out, progress="off", batch=2))
    assert main(["report", str(out), "--format", "md"]) == ExitCode.OK
    assert "## Latency" not in capsys.readouterr().out
    # the sweep itself carries telemetry in its timing block: sampled, or skipped with reasons
    telemetry = json.loads((out / "results.json").read_text())["timing"]["telemetry"]
    assert telemetry["requested"] == "auto"
    _assert_power_or_reasons(telemetry)
    assert main(["bench", model.dir, "--out", str(out), *QUICK]) == ExitCode.OK
    capsys.readouterr()
    assert main(["report", str(out / "results.json"), "--format", "md"]) == ExitCode.OK
    text = capsys.readouterr().out
    doc = load_bench(out)
    assert "## Latency — ort:cpu, batch 1" in text
    assert f"| {doc['result']['latency_ms']['p50_ms']:.3f} |" in text
    power = doc["telemetry"]["power"]
    _assert_power_or_reasons(doc["telemetry"])
    if power is not None and power["status"] == "ok":  # a power rail was sampled (Jetson, INA3221)
        assert f"Power: {power['mean_power_w']:.2f} W mean ({power['total_from']})" in text
    else:  # the line names every skipped source with its reason
        reasons = "; ".join(f"{s['source']}: {s['reason']}" for s in doc["telemetry"]["skipped"])
        assert f"\nPower: not measured ({reasons}).\n" in text


def _assert_power_or_reasons(telemetry):
    """Either power was measured, or no power source ran and each skipped source says why."""
    power, skipped = telemetry["power"], telemetry["skipped"]
    if power is not None and power.get("status") == "ok":
        assert power["mean_power_w"] > 0
    else:
        assert skipped and all(s["source"] and s["reason"] for s in skipped), skipped


def test_cli_noise_cells_and_bad_scenario(tiny_model, tmp_path, capsys):
    from harness.cli import main

    out = tmp_path / "o"
    argv = ["bench", tiny_model.dir, "--out", str(out), "--scenarios", "nm", "--nm-suite", "rgb=gaussian_noise", "--cell-iterations", "2", *QUICK]
    assert main(argv) == ExitCode.OK
    cells = load_bench(out)["cells"]
    assert sum("liao" in c for c in cells) == 3  # low / mid / high
    assert sum("gaussian_noise" in c for c in cells) == 5  # an explicit suite runs severities 1..5
    assert all(e["iterations"] == 2 for e in cells.values())
    text = capsys.readouterr().out
    assert "p50 / clean" in text and "clean (same cell schedule)" in text and "shorter schedule" in text
    assert main(["bench", tiny_model.dir, "--out", str(out), "--scenarios", "nmm", *QUICK]) == ExitCode.BAD_INPUT
    assert "did you mean 'nm'" in capsys.readouterr().err


def test_telemetry_failures_mid_run_are_recorded_and_the_bench_completes(tiny_model, monkeypatch):
    """A power source that works once and then fails (an I2C error mid-run): the bench still
    returns its latency figures, and the failures are in the document."""
    from harness.telemetry import probe
    from harness.telemetry.interface import Reading

    class Flaky:
        name = "tegrastats"

        def __init__(self):
            self.calls = 0

        def read(self):
            self.calls += 1
            if self.calls > 1:
                raise OSError("tegrastats: read error on /dev/i2c-1")
            return Reading(time.perf_counter(), {"VDD_IN": 6000.0}, 6000.0, "input rail VDD_IN")

        def close(self):
            pass

    monkeypatch.setattr(probe, "_open_tegrastats", lambda interval_ms: Flaky())
    schedule = Schedule(warmup_s=0.0, min_iterations=5, min_duration_s=0.1)
    doc = run_bench(_config(tiny_model, telemetry="tegrastats", telemetry_interval_s=0.01, schedule=schedule, batch=2),
                    OrtBackend(tiny_model.path))
    power = doc["telemetry"]["power"]
    samples = doc["result"]["iterations"] * 2  # energy per inference is per sample: iterations x batch
    assert power["energy_per_inference_mj"] == pytest.approx(6000.0 * power["window_s"] / samples)
    assert power["window_s"] == pytest.approx(doc["result"]["throughput"]["wall_s"])
    assert power["failures"] and power["failures"][0]["message"].startswith("OSError: tegrastats: read error")
    assert power["status"] == "ok" and power["mean_power_w"] == pytest.approx(6.0)  # the one good sample, held
    assert doc["result"]["iterations"] >= 5 and problems(doc) is None


@pytest.mark.gpu
def test_bench_on_cuda_reports_the_device_split(tiny_model):
    from harness.bench.backend import resolve_backend
    from harness.manifest import load_manifest

    config = _config(tiny_model, backend="ort:cuda")
    doc = run_bench(config, resolve_backend(config, load_manifest(tiny_model.dir)))
    assert set(doc["result"]["device_ms"]) == {"h2d_ms", "compute_ms", "d2h_ms"}
    power = doc["telemetry"]["power"]
    assert power is not None and power["source"] in ("nvml", "ina3221", "tegrastats")


SHIPPED = Path(__file__).resolve().parent.parent / "models" / "mmss-synth-robust"


@pytest.mark.skipif(not (SHIPPED / "manifest.json").exists(), reason="the shipped model models/mmss-synth-robust has not landed")
def test_bench_the_shipped_model_on_ort_cpu(tmp_path, capsys, monkeypatch):
    from harness.cli import main

    out = tmp_path / "o"
    monkeypatch.chdir(tmp_path)  # no MODEL_DIR: the shipped model is found from any folder, as for `run`
    argv = ["bench", "--backend", "ort:cpu", "--warmup", "0.2", "--iterations", "20", "--duration", "0.5", "--out", str(out), "--telemetry", "off"]
    assert main(argv) == ExitCode.OK
    doc = load_bench(out)
    samples = np.asarray(doc["result"]["samples_ms"])
    assert len(samples) >= 20
    for p in (50, 90, 95, 99):
        assert doc["result"]["latency_ms"][f"p{p}_ms"] == float(np.percentile(samples, p, method="inverted_cdf"))
    stats = doc["result"]["latency_ms"]
    assert stats["cov"] == pytest.approx(float(samples.std() / samples.mean()), rel=1e-9)
    assert ("WARNING: latency coefficient of variation" in capsys.readouterr().out) == (stats["cov"] > 0.025)
    assert doc["model"]["name"] == "mmss-synth-robust" and Path(doc["model"]["dir"]).resolve() == SHIPPED

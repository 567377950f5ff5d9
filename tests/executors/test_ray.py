"""The Ray executor on an embedded local Ray (2 CPUs, started once for the module): results
equal a local run byte for byte apart from ``timing`` (cells and samples units), a worker
killed mid-unit is retried, and a driver killed mid-sweep resumes to the local run's result.

The module's tests share one Ray (``xdist_group``: the suite runs with ``--dist loadgroup``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sweep_fixtures import backend, config, linear_model, without_timing, write_model

from harness.executors import ExecutorSpec
from harness.runner import run_sweep
from harness.scenarios.plan import PlanSpec, Shard

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.xdist_group("ray")
TESTS = Path(__file__).resolve().parents[1]
RAY = ExecutorSpec("ray")
PLAN = PlanSpec(scenarios=("emm", "nm"), nm_levels=("mid",), nm_suite=(("rgb", ("gaussian_noise",)),), nm_severities=(3,))
DEADLINE = 240  # seconds; reached only when something is broken


@pytest.fixture(scope="module")
def cluster() -> str:
    """One embedded Ray for the module; its address lets a subprocess driver join it."""
    import logging

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
             runtime_env={"env_vars": {"PYTHONPATH": str(TESTS)}})
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def _same(a: Path, b: Path) -> None:
    assert without_timing(a / "results.json") == without_timing(b / "results.json")
    for name in ("per_image.npz", "samples.npz"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _local(model: Path, out: Path, fn: object = None, **changes: object) -> Path:
    run_sweep(config(model, out, plan=PLAN, **changes), backend=backend(fn))  # type: ignore[arg-type]
    return out


def test_cells_on_two_workers_equal_a_local_run(cluster: str, tmp_path: Path) -> None:
    model = write_model(tmp_path / "model")
    result = run_sweep(config(model, tmp_path / "ray", plan=PLAN, executor=RAY), backend=backend())
    _same(_local(model, tmp_path / "local"), tmp_path / "ray")
    timing = result.doc["timing"]
    assert timing["executor"] == {"name": "ray", "workers": 2}
    where = [w for ws in timing["cell_workers"].values() for w in ws]
    assert {w["executor"] for w in where} == {"ray"} and len({w["pid"] for w in where}) == 2  # both workers ran cells
    assert all(w["device"] == "cpu" and w["node"] for w in where)
    stored = json.loads((tmp_path / "ray" / "cells" / "emm__missing=none.json").read_text())
    assert stored["workers"][0]["executor"] == "ray"  # kept with the cell, out of results.json's cells


def test_each_worker_opens_one_session_for_all_its_cells(cluster: str, tmp_path: Path) -> None:
    from harness.backends.callable import CallableBackend

    opened = tmp_path / "opened"
    opened.mkdir()

    class Counted(CallableBackend):  # pickled by value into the workers
        def open(self):  # type: ignore[no-untyped-def]
            (opened / f"{os.getpid()}-{time.monotonic_ns()}").touch()
            return super().open()

    base = backend()
    model = write_model(tmp_path / "model")
    result = run_sweep(config(model, tmp_path / "ray", plan=PLAN, save_samples=0, executor=RAY),
                       backend=Counted(base.fn, base.inputs, base.outputs, label=base.label))
    assert len(result.doc["cells"]) == 17 and len(list(opened.iterdir())) == 2  # 17 cells, 2 workers, 2 sessions


def test_sample_blocks_on_two_workers_equal_a_local_run(cluster: str, tmp_path: Path) -> None:
    model = write_model(tmp_path / "model")
    by_samples = Shard(1, 1, "samples")
    result = run_sweep(config(model, tmp_path / "ray", plan=PLAN, shard=by_samples, executor=RAY), backend=backend())
    _same(_local(model, tmp_path / "local", shard=by_samples), tmp_path / "ray")
    blocks = result.doc["timing"]["cell_workers"]["emm/missing=none"]
    assert len(blocks) == 2 and blocks[0]["pid"] != blocks[1]["pid"]  # 6 samples, batch 4: one batch per worker


def test_a_worker_killed_mid_unit_is_retried(cluster: str, tmp_path: Path) -> None:
    model = write_model(tmp_path / "model")
    marker = tmp_path / "killed"
    fn = linear_model()
    calls = [0]

    def dies_once(feeds):  # pickled by value into each worker, so each counts its own calls
        calls[0] += 1
        if calls[0] == 3:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return fn(feeds)
            os.kill(os.getpid(), signal.SIGKILL)  # mid-unit: the cell's first batch already ran
        return fn(feeds)

    run_sweep(config(model, tmp_path / "ray", plan=PLAN, executor=RAY), backend=backend(dies_once))
    assert marker.exists()
    _same(_local(model, tmp_path / "local", dies_once), tmp_path / "ray")  # the marker is there: no kill


DRIVER = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from sweep_fixtures import backend, config, linear_model
from harness.executors import ExecutorSpec
from harness.runner import run_sweep
from harness.scenarios.plan import PlanSpec

model, out, address = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
fn = linear_model()
plan = PlanSpec(scenarios=("emm", "nm"), nm_levels=("mid",), nm_suite=(("rgb", ("gaussian_noise",)),), nm_severities=(3,))

def blocks_after_three(feeds):
    while len(list((out / "cells").glob("*.json"))) >= 3:
        time.sleep(0.5)  # the driver is killed meanwhile
    return fn(feeds)

run_sweep(config(model, out, plan=plan, executor=ExecutorSpec("ray", address)), backend=backend(blocks_after_three))
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_a_killed_driver_resumes_to_the_local_result(cluster: str, tmp_path: Path) -> None:
    model = write_model(tmp_path / "model")
    script, out = tmp_path / "driver.py", tmp_path / "ray"
    script.write_text(DRIVER.format(tests=str(TESTS)))
    with open(tmp_path / "driver.log", "wb") as log:
        driver = subprocess.Popen([sys.executable, str(script), str(model), str(out), cluster], stdout=log, stderr=log)
    deadline = time.monotonic() + DEADLINE
    while len(list((out / "cells").glob("*.json"))) < 3:
        assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-800:]
        assert time.monotonic() < deadline, "no 3 cells within the deadline"
        time.sleep(0.2)
    driver.send_signal(signal.SIGKILL)
    assert driver.wait(DEADLINE) == -signal.SIGKILL and not (out / "results.json").exists()
    kept = len(list((out / "cells").glob("*.json")))

    resumed = run_sweep(config(model, out, plan=PLAN, resume=True, executor=RAY), backend=backend())
    assert resumed.doc["timing"]["cells_resumed"] == kept >= 3
    _same(_local(model, tmp_path / "local"), out)


@pytest.mark.parametrize("units", ["cells", "items"])
def test_bias_probes_on_two_workers_equal_a_local_run(cluster: str, units: str) -> None:
    from harness.mllm.bias import DEFAULT_MODEL, BiasConfig, run_bias
    from harness.scenarios.bias import BiasPlan

    if not (DEFAULT_MODEL / "manifest.json").exists():
        pytest.skip(f"{DEFAULT_MODEL} is not shipped in this checkout")
    common = {"limit": 8, "plan": BiasPlan(permutations=1, corruptions=("contrast",), severities=(3,)), "bootstrap": 20,
              "backend_options": ("threads=1",)}
    local = run_bias(BiasConfig(**common))
    remote = run_bias(BiasConfig(**common, executor=RAY, units=units))
    where = remote.pop("timing")["cell_workers"]
    local.pop("timing")
    assert json.dumps(remote, sort_keys=True) == json.dumps(local, sort_keys=True)
    assert {w["executor"] for ws in where.values() for w in ws} == {"ray"}
    if units == "items":  # every probe cell in one block of items per worker
        assert all(len(ws) == 2 and ws[0]["pid"] != ws[1]["pid"] for ws in where.values())


def test_doctor_shows_what_the_cluster_offers(cluster: str, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    assert main(["doctor", "--ray-address", cluster]) == 0
    out = capsys.readouterr().out
    assert f"ray: {ray.__version__}" in out and f"cluster {cluster}: 1 node(s), 2 CPUs, 0 GPUs" in out


def test_an_error_on_a_worker_is_the_local_runs_error(cluster: str, tmp_path: Path) -> None:
    """Not retried (it would fail again) and raised in the driver as itself: same message, same exit code."""
    from harness.errors import InternalError

    model = write_model(tmp_path / "model")

    def wrong_outputs(feeds):
        return {"logits": np.zeros((1, 2), np.float32)}

    with pytest.raises(InternalError, match="broke its declared outputs"):
        run_sweep(config(model, tmp_path / "ray", plan=PLAN, executor=RAY), backend=backend(wrong_outputs))


def test_the_cli_runs_and_probes_on_ray_as_it_does_locally(cluster: str, tmp_path: Path) -> None:
    """`mmharness run|bias --executor ray --limit 16` on the shipped models write the local results."""
    from harness.cli import main

    run = ["run", "--limit", "16", "--scenarios", "emm,nm", "--nm-suite", "liao", "--bootstrap", "50", "--progress", "off"]
    bias = ["bias", "--limit", "16", "--permutations", "1", "--corruptions", "", "--bootstrap", "50"]
    for argv, name in ((run, "run"), (bias, "bias")):
        assert main([*argv, "--out", str(tmp_path / f"{name}-local")]) == 0
        assert main([*argv, "--out", str(tmp_path / f"{name}-ray"), "--executor", "ray"]) == 0
        local, remote = (json.loads((tmp_path / f"{name}-{where}" / "results.json").read_text()) for where in ("local", "ray"))
        assert remote.pop("timing")["executor"]["name"] == "ray" and local.pop("timing")["executor"]["name"] == "local"
        assert remote == local, name

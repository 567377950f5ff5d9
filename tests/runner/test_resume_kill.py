"""A sweep killed with SIGKILL mid-run (a real subprocess) resumes with --resume semantics
and ends byte-identical (apart from timing) to an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweep_fixtures import without_timing, write_model

SCRIPT = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from sweep_fixtures import backend, config, linear_model
from harness.runner import run_sweep
from harness.scenarios.plan import PlanSpec

fn = linear_model()

def model_fn(feeds):
    if os.environ.get("MMH_TEST_SLOW"):
        time.sleep(0.08)
    return fn(feeds)

model, out, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
plan = PlanSpec(scenarios=("emm", "rmm"), rmm_rates=(0.5,))  # RMM ids hold dots: file names must survive them
run_sweep(config(model, out, plan=plan, resume=mode == "resume"), backend=backend(model_fn))
"""


TOTAL = 15 + 14  # EMM sets + RMM sets at one rate


def _run(script: Path, model: Path, out: Path, mode: str, slow: bool = False) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MMH_TEST_SLOW": "1" if slow else ""}
    return subprocess.Popen([sys.executable, str(script), str(model), str(out), mode], env=env, stderr=subprocess.PIPE)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkilled_run_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    script = tmp_path / "sweep.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).resolve().parents[1])))
    model = write_model(tmp_path / "model")
    killed, reference = tmp_path / "killed", tmp_path / "reference"

    proc = _run(script, model, killed, "fresh", slow=True)
    deadline = time.monotonic() + 60
    while len(list((killed / "cells").glob("*.json"))) < 3:
        assert proc.poll() is None, f"sweep ended before it could be killed: {proc.stderr.read().decode()[-500:]}"
        assert time.monotonic() < deadline, "no cell finished within 60 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(list((killed / "cells").glob("*.json")))
    assert proc.returncode == -signal.SIGKILL and 3 <= finished < TOTAL
    assert not (killed / "results.json").exists()

    resumed = _run(script, model, killed, "resume")
    plain = _run(script, model, reference, "fresh")
    assert resumed.wait(120) == 0, resumed.stderr.read().decode()[-800:]
    assert plain.wait(120) == 0, plain.stderr.read().decode()[-800:]
    timing = json.loads((killed / "results.json").read_text())["timing"]
    assert timing["cells_resumed"] == finished and timing["cells_run"] == TOTAL - finished
    assert without_timing(killed / "results.json") == without_timing(reference / "results.json")
    assert (killed / "per_image.npz").read_bytes() == (reference / "per_image.npz").read_bytes()

"""A sweep killed with SIGKILL mid-run (a real subprocess) resumes with --resume semantics
and ends byte-identical (apart from timing) to an uninterrupted run.

No race with the clock: the sweep to be killed blocks inside the model once ``KILL_AFTER``
cells are on disk, so it can neither finish early under load nor be killed before any cell
was written; the test waits for those files (generous deadline), then kills."""

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

model, out, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
block_after = int(os.environ.get("MMH_TEST_BLOCK_AFTER") or 0)

def model_fn(feeds):
    while block_after and len(list((out / "cells").glob("*.json"))) >= block_after:
        time.sleep(1)  # wait here for SIGKILL
    return fn(feeds)

plan = PlanSpec(scenarios=("emm", "rmm"), rmm_rates=(0.5,))  # RMM ids hold dots: file names must survive them
run_sweep(config(model, out, plan=plan, resume=mode == "resume"), backend=backend(model_fn))
"""


TOTAL = 15 + 14  # EMM sets + RMM sets at one rate
KILL_AFTER = 3
DEADLINE = 240  # seconds; only reached when something is broken, never on a loaded machine


def _run(script: Path, model: Path, out: Path, mode: str, block_after: int = 0) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MMH_TEST_BLOCK_AFTER": str(block_after)}
    with open(out.parent / f"{out.name}-{mode}.log", "wb") as log:  # a file, not a pipe nobody drains
        return subprocess.Popen([sys.executable, str(script), str(model), str(out), mode], env=env, stderr=log, stdout=log)


def _log(out: Path, mode: str) -> str:
    return (out.parent / f"{out.name}-{mode}.log").read_text(errors="replace")[-800:]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_sigkilled_run_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    script = tmp_path / "sweep.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).resolve().parents[1])))
    model = write_model(tmp_path / "model")
    killed, reference = tmp_path / "killed", tmp_path / "reference"

    proc = _run(script, model, killed, "fresh", block_after=KILL_AFTER)
    deadline = time.monotonic() + DEADLINE
    while len(list((killed / "cells").glob("*.json"))) < KILL_AFTER:
        assert proc.poll() is None, f"sweep ended before it could be killed: {_log(killed, 'fresh')}"
        assert time.monotonic() < deadline, f"no {KILL_AFTER} cells finished within {DEADLINE} s"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(DEADLINE)
    finished = len(list((killed / "cells").glob("*.json")))
    assert proc.returncode == -signal.SIGKILL and finished == KILL_AFTER
    assert not (killed / "results.json").exists()

    resumed = _run(script, model, killed, "resume")
    plain = _run(script, model, reference, "fresh")
    assert resumed.wait(DEADLINE) == 0, _log(killed, "resume")
    assert plain.wait(DEADLINE) == 0, _log(reference, "fresh")
    timing = json.loads((killed / "results.json").read_text())["timing"]
    assert timing["cells_resumed"] == finished and timing["cells_run"] == TOTAL - finished
    assert without_timing(killed / "results.json") == without_timing(reference / "results.json")
    assert (killed / "per_image.npz").read_bytes() == (reference / "per_image.npz").read_bytes()

"""SIGINT and SIGTERM: a sweep stops after the cell in flight, keeps every finished cell, says
how to resume and exits 130 / 143; elsewhere a signal is one line with the same codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hostile_cli import cli

from harness.errors import ExitCode
from harness.runner.store import RunStore
from harness.signals import Interrupted, Terminated, graceful


def _argv(seg_model: Path, out: Path) -> list[str]:
    return ["run", str(seg_model), "--data", "synthetic:size=32,length=8", "--out", str(out), "--progress", "off",
            "--bootstrap", "0", "--nm-suite", "full", "--batch", "2", "--no-telemetry"]


def _signal_after_first_cell(out: Path, signum: int, pid: int) -> threading.Thread:
    def watch() -> None:
        deadline = time.monotonic() + 120
        while not list((out / "cells").glob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(pid, signum)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _check_stopped(out: Path, signum: int, err: str) -> None:
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"mmharness: error: stopped on {signal.Signals(signum).name}: ") and "--resume" in last, err
    kept = RunStore(out)._finished()
    assert kept and all(entry["status"] == "ok" for entry, _ in kept.values())
    assert f"{len(kept)} of " in last
    assert len(kept) < 100  # it stopped early: the full plan has hundreds of cells
    assert not (out / "results.json").exists()
    assert json.loads((out / "run.json").read_text())["config"]["seed"] == 0  # the header --resume checks


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_sweep_stops_after_the_cell_in_flight(signum: int, code: int, seg_model: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    watcher = _signal_after_first_cell(out, signum, os.getpid())
    outcome = cli(_argv(seg_model, out), capsys)
    watcher.join()
    assert outcome.code == code, outcome.err
    _check_stopped(out, signum, outcome.err)


def test_sigterm_to_a_real_process_exits_143(seg_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "harness", *_argv(seg_model, out)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    _signal_after_first_cell(out, signal.SIGTERM, process.pid).join()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    _check_stopped(out, signal.SIGTERM, err)


def test_a_second_signal_stops_at_once() -> None:
    with pytest.raises(KeyboardInterrupt), graceful() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert stop.signum == signal.SIGINT
        with pytest.raises(Interrupted) as first:
            stop.check("1 of 2 cells kept")
        assert first.value.exit_code == ExitCode.INTERRUPTED
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)


@pytest.mark.parametrize(("raised", "code", "name"), [(KeyboardInterrupt, 130, "SIGINT"), (Terminated, 143, "SIGTERM")])
def test_a_signal_outside_a_sweep_is_one_line(raised: type[BaseException], code: int, name: str, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.gate

    def interrupted(path: Path) -> None:
        raise raised()

    monkeypatch.setattr(harness.gate, "load_thresholds", interrupted)
    outcome = cli(["gate", tmp_path, "--thresholds", tmp_path / "t.yaml"], capsys)
    assert outcome.code == code
    assert len(outcome.lines) == 1 and outcome.lines[0].startswith(f"mmharness: error: interrupted by {name}"), outcome.err


def test_sigterm_raises_inside_the_cli_and_the_handler_is_restored() -> None:
    from harness.signals import sigterm_raises

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), sigterm_raises():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
    assert signal.getsignal(signal.SIGTERM) == before

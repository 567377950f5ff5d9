"""Every command with its output on a full disk (a tmpfs filled to the last byte) or on a
read-only one: exit 3 (full) or 2 (refused up front), one line naming the device and the file,
no traceback; and a fresh run that dies of a full disk keeps the previous complete results."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hostile_cli import cli
from mounts import fill, tmpfs

from harness.errors import ExitCode

SMALL = "synthetic:size=32,length=6"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(model: Path, out: Path, *flags: str) -> list[Any]:
    return ["run", model, "--data", SMALL, "--scenarios", "emm", "--out", out, "--progress", "off", "--bootstrap", "0", *flags]


def test_a_fresh_run_on_a_full_disk_keeps_the_previous_results(seg_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with tmpfs(tmp_path / "mnt", "2m") as mnt:
        out = mnt / "out"
        assert cli(_run(seg_model, out), capsys).code == ExitCode.OK
        kept = {name: _digest(out / name) for name in ("results.json", "per_image.npz")}
        filler = fill(mnt)
        outcome = cli(_run(seg_model, out, "--seed", "1"), capsys)
        assert outcome.code == ExitCode.INFRASTRUCTURE, outcome.err
        assert "Traceback" not in outcome.err
        assert outcome.lines[-1].startswith(f"mmharness: error: no space left on {mnt} while writing {out}"), outcome.err
        assert outcome.lines[-1].endswith("free space and rerun with --resume")
        assert {name: _digest(out / name) for name in kept} == kept  # the last good result is intact
        assert cli(["gate", out, "--thresholds", _floor0(tmp_path)], capsys).code == ExitCode.OK
        filler.unlink()
        resumed = cli(_run(seg_model, out, "--seed", "1", "--resume"), capsys)
        assert resumed.code == ExitCode.OK, resumed.err
        assert json.loads((out / "results.json").read_text())["config"]["seed"] == 1


def test_a_disk_clean_cache_that_does_not_fit_is_one_line_not_sigbus(seg_model: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    with tmpfs(tmp_path / "mnt", "200k") as mnt:  # the run folder fits, the mapped clean inputs (about 1 MiB) do not
        outcome = cli(_run(seg_model, mnt / "out", "--clean-cache", "disk", "--data", "synthetic:size=32,length=48"), capsys)
        assert outcome.code == ExitCode.INFRASTRUCTURE, outcome.err
        assert outcome.lines[-1].startswith(f"mmharness: error: no space left on {mnt} while writing {mnt / 'out' / 'clean-cache'}"), outcome.err


def _floor0(tmp_path: Path) -> Path:
    path = tmp_path / "floor0.yaml"
    path.write_text("floors:\n  clean: 0\n")
    return path


# Each writing command, pointed at OUT (a folder on the mounted file system); inputs live outside it.
WRITERS: dict[str, Callable[[Path, Path, dict[str, Path]], list[Any]]] = {
    "run": lambda out, tmp, fx: _run(fx["seg_model"], out / "run"),
    "bias": lambda out, tmp, fx: ["bias", "--limit", "2", "--permutations", "1", "--corruptions", "", "--bootstrap", "0", "--out", out / "bias"],
    "bench": lambda out, tmp, fx: ["bench", fx["seg_model"], "--data", SMALL, "--duration", "0", "--iterations", "1", "--warmup", "0", "--telemetry", "off", "--out", out / "bench"],
    "report": lambda out, tmp, fx: ["report", fx["finished"], "--format", "html", "-o", out / "report.html"],
    "gate": lambda out, tmp, fx: ["gate", fx["finished"], "--thresholds", _floor0(tmp), "--junit", out / "gate.xml"],
    "merge": lambda out, tmp, fx: ["merge", *fx["shards"], "-o", out / "merged"],
    "corruptions": lambda out, tmp, fx: ["corruptions", "preview", "--modality", "rgb", "--input", _photo(tmp), "--names", "fog", "--severities", "1", "--out", out / "previews"],
}
# Up-front refusals only (the write itself comes after a model export): a read-only location.
# (build writes beside the model: test_build_on_a_full_disk.)
REFUSE_ONLY: dict[str, Callable[[Path, Path, dict[str, Path]], list[Any]]] = {
    "export-mmss": lambda out, tmp, fx: ["export", "mmss", "--model", "x:y", "--modalities", "rgb", "--classes", "a,b", "--out", out / "m"],
    "export-mllm": lambda out, tmp, fx: ["export", "mllm", "--model", tmp, "--tokenizer", tmp / "t.json", "--out", out / "m"],
}
# Commands that write nothing: they must still work with the working folder on a full disk.
READERS: dict[str, list[Any]] = {"validate": ["validate"], "doctor": ["doctor", "--json"], "corruptions-list": ["corruptions", "--json"]}


def _photo(tmp: Path) -> Path:
    import numpy as np
    from PIL import Image

    path = tmp / "photo.png"
    Image.fromarray(np.full((16, 16, 3), 100, np.uint8)).save(path)
    return path


def _fixtures(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"seg_model": request.getfixturevalue("seg_model"), "finished": request.getfixturevalue("finished"),
            "shards": request.getfixturevalue("shards")}


@pytest.mark.parametrize("command", list(WRITERS))
def test_every_writer_on_a_full_disk(command: str, tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> None:
    fixtures = _fixtures(request)
    with tmpfs(tmp_path / "mnt", "256k") as mnt:
        fill(mnt)
        outcome = cli(WRITERS[command](mnt, tmp_path, fixtures), capsys)
        assert outcome.code == ExitCode.INFRASTRUCTURE, outcome.err
        assert "Traceback" not in outcome.err
        assert outcome.lines[-1].startswith(f"mmharness: error: no space left on {mnt} while writing {mnt}"), outcome.err
        assert not [p for p in mnt.rglob("*") if p.is_file() and p.name.endswith(".tmp")]  # no torn temporaries


@pytest.mark.parametrize("command", [*WRITERS, *REFUSE_ONLY])
def test_every_writer_refuses_a_read_only_output_up_front(command: str, tmp_path: Path, request: pytest.FixtureRequest,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    fixtures = _fixtures(request)
    with tmpfs(tmp_path / "ro", "64k", readonly=True) as ro:
        build = {**WRITERS, **REFUSE_ONLY}[command]
        outcome = cli(build(ro, tmp_path, fixtures), capsys)
        assert outcome.code == ExitCode.BAD_INPUT, outcome.err
        assert len(outcome.lines) == 1 and "not writable" in outcome.lines[0], outcome.err


def test_build_on_a_full_disk(seg_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with tmpfs(tmp_path / "mnt", "1m") as mnt:
        model = Path(shutil.copytree(seg_model, mnt / "model"))
        fill(mnt)
        outcome = cli(["build", model, "--precision", "int8", "--target", "ort", "--calib-samples", "4", "--calib-batch", "2",
                       "--calib-data", SMALL, "--cache-dir", tmp_path / "cache"], capsys)
        assert outcome.code == ExitCode.INFRASTRUCTURE, outcome.err  # the quantizer's own temporary files fail first
        assert "Traceback" not in outcome.err and len(outcome.lines) == 1, outcome.err
        assert json.loads((model / "manifest.json").read_text())["graphs"] == {"model": "model.onnx"}  # not registered


@pytest.mark.parametrize("command", list(READERS))
def test_readers_work_with_the_working_folder_on_a_full_disk(command: str, tmp_path: Path, seg_model: Path,
                                                             capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with tmpfs(tmp_path / "mnt", "64k") as mnt:
        fill(mnt)
        monkeypatch.chdir(mnt)
        argv = READERS[command] + ([seg_model] if command == "validate" else [])
        outcome = cli(argv, capsys)
        assert outcome.code == ExitCode.OK, outcome.err

"""Fixtures of the hostile-input corpus: a finished run, both shards of one (for merge), a
tiny ONNX segmentation model and a killed run of it (for --resume)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from onnx_graphs import build_seg_model_dir
from sweep_fixtures import backend, config, write_model

from harness.runner import run_sweep
from harness.scenarios.plan import PlanSpec

SEG_MODALITIES = {m: 3 for m in ("rgb", "depth", "event", "lidar")}


@pytest.fixture(scope="session")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run folder (results.json + per_image.npz + cells), EMM only, bootstrap CIs."""
    root = tmp_path_factory.mktemp("finished")
    model = write_model(root / "model")
    run_sweep(config(model, root / "out", plan=PlanSpec(scenarios=("emm",))), backend=backend())
    return root / "out"


@pytest.fixture(scope="session")
def shards(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Both shards (by cells) of the same EMM sweep."""
    root = tmp_path_factory.mktemp("shards")
    model = write_model(root / "model")
    outs = []
    for index in (1, 2):
        out = root / f"shard{index}"
        run_sweep(config(model, out, plan=PlanSpec(scenarios=("emm",)), shard=f"{index}/2"), backend=backend())
        outs.append(out)
    return outs[0], outs[1]


@pytest.fixture(scope="session")
def seg_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ONNX model (4 modalities, 7 classes, 32x32) that `mmharness run` can load."""
    root = tmp_path_factory.mktemp("seg")
    return Path(build_seg_model_dir(root / "model", SEG_MODALITIES, num_classes=7, size=(32, 32)).dir)


@pytest.fixture(scope="session")
def resumable_run(seg_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The --out of an EMM run of ``seg_model`` killed before results.json (hostile_cases._run's flags)."""
    from hostile_cases import RESUMABLE_FLAGS, Env, _run

    from harness.cli import main

    root = tmp_path_factory.mktemp("resumable")
    argv = _run(Env(root, {"seg_model": seg_model}.__getitem__), *RESUMABLE_FLAGS)
    assert main([str(a) for a in argv]) == 0
    (root / "out" / "results.json").unlink()
    return root / "out"


@pytest.fixture
def results(finished: Path, tmp_path: Path) -> Path:
    """A private copy of the finished run, free to damage."""
    return Path(shutil.copytree(finished, tmp_path / "results"))


"""harness.zoo finds the shipped models from a clone, from an installed share dir, or says where it looked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.errors import ManifestError
from harness.zoo import SHARE_DIR, shipped_model


def test_finds_the_source_tree_zoo_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = shipped_model("mmss-synth-robust")
    assert (found / "manifest.json").is_file() and found.is_absolute()


def test_a_models_folder_in_the_working_directory_wins(tmp_path, monkeypatch):
    local = tmp_path / "models" / "mmss-synth-robust"
    local.mkdir(parents=True)
    (local / "manifest.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert shipped_model("mmss-synth-robust") == Path("models") / "mmss-synth-robust"


def test_falls_back_to_the_installed_share_dir(tmp_path, monkeypatch):
    installed = tmp_path / SHARE_DIR / "only-installed"
    installed.mkdir(parents=True)
    (installed / "manifest.json").write_text("{}")
    monkeypatch.chdir(tmp_path / "share")
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    assert shipped_model("only-installed") == installed


def test_missing_model_is_one_line_naming_every_place_searched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    with pytest.raises(ManifestError) as error:
        shipped_model("no-such-model")
    message = str(error.value)
    assert "\n" not in message and str(tmp_path / SHARE_DIR / "no-such-model") in message and "MODEL_DIR" in message

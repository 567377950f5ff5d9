"""The pytest plugin, used the way a user would: a temporary project (pytester) whose tests
take the ``mmharness_results`` fixture and call ``assert_gate`` on a real results.json."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SYNTH = {"rgb": 3, "depth": 3, "event": 3, "lidar": 3}


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory) -> Path:
    """A real EMM sweep of a tiny 4-modality graph on 4 synthetic images (about a second)."""
    from onnx_graphs import build_seg_model_dir

    from harness.runner.config import RunConfig
    from harness.runner.sweep import run_sweep
    from harness.scenarios.plan import PlanSpec

    root = tmp_path_factory.mktemp("plugin")
    model = build_seg_model_dir(root / "model", modalities=SYNTH, num_classes=7, size=(64, 64))
    out = root / "out"
    run_sweep(RunConfig(model_dir=Path(model.dir), plan=PlanSpec(scenarios=("emm",)), limit=4, bootstrap=0, out=out, progress="off", batch=4))
    return out


def _clean_miou(results_dir: Path) -> float:
    doc = json.loads((results_dir / "results.json").read_text())
    return doc["cells"]["emm/missing=none"]["figures"]["miou"]


def _plugin_args() -> list[str]:
    """Load the plugin explicitly only when its entry point is not installed (editable installs
    made before the entry point existed); installed, pytest loads it by itself."""
    installed = any(ep.value == "harness.pytest_plugin" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "harness.pytest_plugin"]


def test_entry_point_is_declared():
    text = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    assert '[project.entry-points.pytest11]\nmmharness = "harness.pytest_plugin"' in text


def test_gate_pass_and_fail_in_a_user_project(pytester, results_dir):
    clean = _clean_miou(results_dir)
    pytester.makepyfile(
        test_release=f"""
        import pytest
        from harness.pytest_plugin import assert_gate

        def test_passes(mmharness_results):
            report = assert_gate(mmharness_results, {{"floors": {{"clean": {clean - 0.5}, "cell:emm/missing=rgb": 0}}}})
            assert report.passed

        def test_fails(mmharness_results):
            assert_gate(mmharness_results, {{"floors": {{"clean": {clean + 0.5}}}}})

        def test_path_and_file(tmp_path):
            path = tmp_path / "t.yaml"
            path.write_text("version: 1\\nfloors:\\n  clean: {clean - 0.5}\\n")
            assert_gate({str(results_dir)!r}, str(path)).passed

        def test_unknown_metric(mmharness_results):
            from harness.errors import ConfigError
            with pytest.raises(ConfigError, match="did you mean 'clean'"):
                assert_gate(mmharness_results, {{"floors": {{"claen": 1}}}})
        """
    )
    result = pytester.runpytest(*_plugin_args(), "--mmharness-results", str(results_dir / "results.json"))
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*mmharness gate failed: 1 of 2 checks (assert_gate thresholds)*", "*clean: >=*"])


def test_results_from_ini_or_environment(pytester, results_dir, monkeypatch):
    pytester.makepyfile(test_x="def test_loaded(mmharness_results):\n    assert mmharness_results['format'] == 'mmharness.results'\n")
    monkeypatch.setenv("MMHARNESS_RESULTS", str(results_dir))
    pytester.runpytest(*_plugin_args()).assert_outcomes(passed=1)
    monkeypatch.delenv("MMHARNESS_RESULTS")
    pytester.makeini(f"[pytest]\nmmharness_results = {results_dir / 'results.json'}\n")
    pytester.runpytest(*_plugin_args()).assert_outcomes(passed=1)


def test_missing_or_corrupt_results_fail_with_one_line(pytester, tmp_path, monkeypatch):
    monkeypatch.delenv("MMHARNESS_RESULTS", raising=False)
    pytester.makepyfile(test_x="def test_loaded(mmharness_results):\n    pass\n")
    result = pytester.runpytest(*_plugin_args())
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no results given; pass --mmharness-results PATH*"])
    bad = tmp_path / "results.json"
    bad.write_text("{not json")
    result = pytester.runpytest(*_plugin_args(), "--mmharness-results", str(bad))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*is not valid JSON*"])


def test_plugin_import_is_light():
    code = (
        "import sys, harness.pytest_plugin;"
        "heavy = [m for m in ('numpy', 'onnxruntime', 'jsonschema', 'yaml', 'harness.gate', 'harness.report') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"the plugin loads in every pytest session; it imported {out}"

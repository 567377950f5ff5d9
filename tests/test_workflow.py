"""The example GitHub Actions workflow: valid YAML, the shard -> merge -> gate -> report
pipeline in the right order, and every ``mmharness`` command and flag it names exists."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml

from harness.cli import SUBCOMMANDS, _module_exists

WORKFLOW = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "robustness.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(doc, dict)
    return doc


def _scripts(doc: dict) -> list[tuple[str, str]]:
    return [(job, step["run"]) for job, spec in doc["jobs"].items() for step in spec["steps"] if "run" in step]


def _invocations(script: str) -> list[list[str]]:
    """Every ``mmharness ...`` command line of a shell script, tokenised (env vars left as is)."""
    calls = []
    for line in script.replace("\\\n", " ").splitlines():
        line = line.split(">>")[0].strip()
        if line.startswith("mmharness "):
            calls.append(shlex.split(line))
    return calls


def test_triggers_and_permissions(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "pull_request" in triggers
    assert workflow["permissions"]["contents"] == "read"


def test_matrix_shards_feed_merge_then_gate(workflow):
    sweep, gate = workflow["jobs"]["sweep"], workflow["jobs"]["gate"]
    shards = sweep["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, int(workflow["env"]["SHARDS"]) + 1))
    assert sweep["strategy"]["fail-fast"] is False
    assert gate["needs"] == "sweep"
    order = [call[1] for _, script in _scripts({"jobs": {"gate": gate}}) for call in _invocations(script)]
    assert order.index("merge") < order.index("gate") < order.index("report")
    run_calls = [call for _, s in _scripts({"jobs": {"sweep": sweep}}) for call in _invocations(s)]
    assert run_calls and run_calls[0][1] == "run" and "--shard" in run_calls[0]
    uploads = [s for s in sweep["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert uploads and uploads[0]["with"]["if-no-files-found"] == "error"


def test_summary_and_junit_survive_a_failing_gate(workflow):
    steps = workflow["jobs"]["gate"]["steps"]
    summary = [s for s in steps if "GITHUB_STEP_SUMMARY" in s.get("run", "")]
    assert summary and summary[0]["if"] == "always()"
    junit = [s for s in steps if "junit" in str(s.get("uses", "")).lower()]
    assert junit and junit[0]["if"] == "always()" and junit[0]["with"]["report_paths"] == "gate-junit.xml"
    gate_call = [c for s in steps if "run" in s for c in _invocations(s["run"]) if c[1] == "gate"][0]
    assert gate_call[gate_call.index("--junit") + 1] == "gate-junit.xml"


def test_every_command_and_flag_exists(workflow):
    calls = [call for _, script in _scripts(workflow) for call in _invocations(script)]
    assert {call[1] for call in calls} >= {"run", "merge", "gate", "report", "bench"}
    for call in calls:
        name = call[1]
        assert name in SUBCOMMANDS, f"workflow calls unknown command mmharness {name}"
        module = SUBCOMMANDS[name][0]
        if not _module_exists(module):
            continue  # the command's module has not landed yet; its flags are checked once it does
        command = importlib.import_module(module).command
        known = {opt for param in command.params for opt in getattr(param, "opts", []) + getattr(param, "secondary_opts", [])}
        for token in call[2:]:
            if re.match(r"^--?[A-Za-z]", token):
                assert token.split("=")[0] in known, f"mmharness {name} has no option {token} (has: {sorted(known)})"


def test_thresholds_file_named_by_the_workflow_is_valid_for_a_real_sweep(workflow, tmp_path):
    """The example thresholds parse with the gate's loader and every metric they name exists
    in the results of an EMM+NM sweep (a tiny graph, so only names are checked, not values)."""
    from onnx_graphs import build_seg_model_dir

    from harness import gate
    from harness.runner.config import RunConfig
    from harness.runner.sweep import run_sweep
    from harness.scenarios.plan import PlanSpec

    path = WORKFLOW.parent.parent.parent / workflow["env"]["THRESHOLDS"]
    rules = gate.load_thresholds(path)
    assert rules.rules
    model = build_seg_model_dir(tmp_path / "m", modalities={"rgb": 3, "depth": 3, "event": 3, "lidar": 3}, num_classes=7, size=(64, 64))
    result = run_sweep(RunConfig(model_dir=Path(model.dir), plan=PlanSpec(scenarios=("emm",)), limit=2, bootstrap=0, out=tmp_path / "o", progress="off", batch=2))
    report = gate.evaluate(result.doc, rules)  # unknown metric names would raise ConfigError
    assert {c.metric for c in report.checks} >= {"clean", "emm.avg", "emm.e@0.1", "failed_cells"}


SHIPPED = WORKFLOW.parent.parent.parent / "models" / "mmss-synth-robust"


@pytest.mark.skipif(not (SHIPPED / "manifest.json").exists(), reason="the shipped model has not landed")
def test_the_shipped_model_passes_the_example_thresholds(workflow, tmp_path):
    from harness import gate
    from harness.runner.config import RunConfig
    from harness.runner.sweep import run_sweep
    from harness.scenarios.plan import PlanSpec

    result = run_sweep(RunConfig(model_dir=SHIPPED, plan=PlanSpec(scenarios=("emm",)), bootstrap=0, out=tmp_path, progress="off"))
    report = gate.evaluate(result.doc, gate.load_thresholds(WORKFLOW.parent.parent.parent / workflow["env"]["THRESHOLDS"]))
    assert report.passed, [c for c in report.checks if c.status == "fail"]

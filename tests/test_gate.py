"""`mmharness gate`: floors, baseline drops, significance, JUnit, and the exit codes 0/1/2."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest
from sweep_fixtures import DATA, backend, config, linear_model, write_model

from harness.cli import main
from harness.data import open_dataset
from harness.errors import ExitCode
from harness.gate import default_thresholds, evaluate, load_thresholds
from harness.manifest import load_manifest
from harness.report.results import load_results
from harness.runner import run_sweep
from harness.scenarios.plan import PlanSpec

EMM = PlanSpec(scenarios=("emm",))
_linear = linear_model()


def _oracle(model: Path, degraded_rows: tuple[int, ...] = ()):
    """Perfect on clean images it recognises (by their preprocessed rgb bytes), the linear model
    elsewhere; ``degraded_rows`` (row in batch) always fall back to the linear model."""
    manifest = load_manifest(model)
    dataset = open_dataset(DATA)
    rgb = manifest.modality("rgb")
    known = {rgb.preprocess_array(dataset[i].modalities["rgb"])[0].tobytes(): dataset[i].label for i in range(len(dataset))}

    def fn(feeds):
        out = _linear(feeds)
        for row in range(feeds["rgb"].shape[0]):
            label = known.get(feeds["rgb"][row].tobytes())
            if label is not None and row not in degraded_rows:
                out["logits"][row] = 10.0 * (np.arange(7)[:, None, None] == label)
        return out

    return fn


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("gate")
    model = write_model(root / "model")
    out = {}
    # slightly_worse: 2 of 6 images lose the oracle (row 0 of each batch of 4), a drop the
    # bootstrap cannot tell from chance; no_rgb: every image does
    good, worse = _oracle(model), _oracle(model, degraded_rows=(0,))
    no_rgb = lambda feeds: good({**feeds, "rgb": np.zeros_like(feeds["rgb"])})
    for name, fn in (("good", good), ("slightly_worse", worse), ("no_rgb", no_rgb)):
        out[name] = run_sweep(config(model, root / name, plan=EMM, bootstrap=200), backend=backend(fn)).path
    return out


def _thresholds(tmp_path: Path, text: str, suffix: str = ".yaml") -> Path:
    path = tmp_path / f"thresholds{suffix}"
    path.write_text(text)
    return path


def test_floors_pass_and_fail_with_exit_codes_and_junit(runs, tmp_path, capsys):
    doc = json.loads(runs["good"].read_text())
    clean = doc["cells"]["emm/missing=none"]["figures"]["miou"]
    ok = _thresholds(tmp_path, f"floors:\n  clean: {clean - 0.01}\n  'cell:emm/*': 0\n")
    junit = tmp_path / "gate.xml"
    assert main(["gate", str(runs["good"]), "--thresholds", str(ok), "--junit", str(junit)]) == ExitCode.OK
    suite = ET.parse(junit).getroot().find("testsuite")
    assert int(suite.get("tests")) == 1 + 1 + 15 and suite.get("failures") == "0"  # failed_cells, clean, 15 emm cells
    bad = _thresholds(tmp_path, json.dumps({"floors": {"clean": clean + 0.01}}), ".json")
    assert main(["gate", str(runs["good"]), "--thresholds", str(bad)]) == ExitCode.GATE_FAILED
    out = capsys.readouterr().out
    assert "FAIL    clean" in out and "gate: FAIL (1 check(s) failed)" in out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("floors:\n  emm.avgg: 10\n", "unknown metric 'emm.avgg'; did you mean 'emm.avg'"),
        ("flors:\n  clean: 10\n", "unknown key 'flors'; did you mean 'floors'"),
        ("floors:\n  clean: high\n", "floors.clean: expected a number"),
        ("floors: [unclosed\n", "not valid YAML/JSON"),
        ("max_drop:\n  clean: 1\n", "needs --baseline"),
    ],
)
def test_bad_thresholds_are_bad_input(runs, tmp_path, capsys, text, message):
    path = _thresholds(tmp_path, text)
    assert main(["gate", str(runs["good"]), "--thresholds", str(path)]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_gate_needs_something_to_compare_and_valid_results(runs, tmp_path, capsys):
    assert main(["gate", str(runs["good"])]) == ExitCode.BAD_INPUT
    broken = tmp_path / "results.json"
    broken.write_text("{}")
    assert main(["gate", str(broken), "--baseline", str(runs["good"])]) == ExitCode.BAD_INPUT


def test_baseline_drop_fails_and_identical_results_pass(runs):
    assert main(["gate", str(runs["good"]), "--baseline", str(runs["good"])]) == ExitCode.OK
    assert main(["gate", str(runs["no_rgb"]), "--baseline", str(runs["good"])]) == ExitCode.GATE_FAILED


def test_significant_only_uses_the_paired_bootstrap(runs, tmp_path):
    rules = load_thresholds(_thresholds(tmp_path, "max_drop:\n  'cell:emm/missing=none': 0\nsignificant_only: true\n"))
    good, good_images = load_results(runs["good"])
    results = {}
    for name in ("slightly_worse", "no_rgb"):
        doc, images = load_results(runs[name])
        drop = good["cells"]["emm/missing=none"]["figures"]["miou"] - doc["cells"]["emm/missing=none"]["figures"]["miou"]
        assert drop > 0, name
        (check,) = [c for c in evaluate(doc, rules, good, images, good_images).checks if c.metric.startswith("cell:")]
        results[name] = check
    assert results["slightly_worse"].status == "pass" and "paired bootstrap" in results["slightly_worse"].detail
    assert results["no_rgb"].status == "fail"
    # without significance the small drop fails too
    doc, _ = load_results(runs["slightly_worse"])
    strict = load_thresholds(_thresholds(tmp_path, "max_drop:\n  'cell:emm/missing=none': 0\n"))
    assert not evaluate(doc, strict, good).passed


def test_default_thresholds_cover_headline_metrics(runs):
    doc, _ = load_results(runs["no_rgb"])
    good, _ = load_results(runs["good"])
    report = evaluate(doc, default_thresholds(), good)
    assert {c.metric for c in report.checks} == {"failed_cells", "clean", "emm.avg"}

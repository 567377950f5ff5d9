"""pytest plugin: assert robustness from your own test suite.

Registered through the ``pytest11`` entry point, so it loads in *every* pytest session of an
environment where mmharness is installed; therefore this module imports only the standard
library and pytest at import time, and everything else inside the functions that need it.

    # test_release.py
    from harness.pytest_plugin import assert_gate

    def test_robust_enough(mmharness_results):
        assert_gate(mmharness_results, {"floors": {"clean": 60, "emm.avg": 45}})

Results come from ``--mmharness-results PATH`` (a results.json or the folder holding it), the
``mmharness_results`` ini option, or the ``MMHARNESS_RESULTS`` environment variable, in that
order. Thresholds use the format of ``mmharness gate --thresholds`` (see ``harness/gate.py``):
a mapping, or a path to a YAML/JSON file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

ENV_VAR = "MMHARNESS_RESULTS"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mmharness", "mmharness robustness results")
    group.addoption(
        "--mmharness-results",
        dest="mmharness_results",
        default=None,
        metavar="PATH",
        help=f"results.json (or its folder) for the mmharness_results fixture; default: ini mmharness_results, then ${ENV_VAR}",
    )
    parser.addini("mmharness_results", "results.json (or its folder) for the mmharness_results fixture", default="")


def results_location(config: pytest.Config) -> Path | None:
    """Where the results are, by the precedence in the module docstring (None: not given)."""
    cli = config.getoption("mmharness_results", default=None)
    if cli:
        return Path(cli)
    ini = config.getini("mmharness_results")
    if ini:
        return Path(config.rootpath, str(ini))
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else None


@pytest.fixture(scope="session")
def mmharness_results(pytestconfig: pytest.Config) -> dict[str, Any]:
    """The validated results document (``harness.report.results.load_results``).

    Missing configuration fails the test rather than skipping it: a release gate that silently
    skips is worse than none.
    """
    path = results_location(pytestconfig)
    if path is None:
        pytest.fail(
            f"mmharness_results: no results given; pass --mmharness-results PATH, set the ini option "
            f"mmharness_results, or set {ENV_VAR}",
            pytrace=False,
        )
    return _load(path)


def _load(path: Path) -> dict[str, Any]:
    from harness.errors import HarnessError
    from harness.report.results import load_results

    try:
        doc, _ = load_results(path, with_per_image=False)
    except HarnessError as error:
        pytest.fail(f"mmharness_results: {error}", pytrace=False)
    return doc


def assert_gate(
    results: Mapping[str, Any] | str | os.PathLike[str],
    thresholds: Mapping[str, Any] | str | os.PathLike[str],
    baseline: Mapping[str, Any] | str | os.PathLike[str] | None = None,
) -> Any:
    """Apply ``mmharness gate`` to ``results``; raise ``AssertionError`` listing every failed
    check (metric, rule, limit, value). Returns the ``GateReport`` when the gate passes.

    ``results``/``baseline``: a loaded document (e.g. the ``mmharness_results`` fixture) or a
    path. ``thresholds``: a mapping in the thresholds-file format, or a path to such a file.
    A thresholds problem (unknown metric, wrong type) raises the gate's own ``ConfigError``,
    exactly as ``mmharness gate`` would exit 2.
    """
    __tracebackhide__ = True
    from harness import gate

    doc, per_image = _document(results)
    base, base_per_image = _document(baseline) if baseline is not None else (None, None)
    rules = _thresholds(thresholds)
    report = gate.evaluate(doc, rules, base, per_image, base_per_image)
    if not report.passed:
        failed = [c for c in report.checks if c.status == "fail"]
        lines = [f"mmharness gate failed: {len(failed)} of {len(report.checks)} checks ({rules.source})"]
        for c in failed:
            limit = "" if c.limit is None else f" {c.limit:g}"
            against = f" (baseline {c.baseline})" if c.baseline is not None else ""
            detail = f" - {c.detail}" if c.detail else ""
            lines.append(f"  {c.metric}: {c.rule}{limit}, got {c.value}{against}{detail}")
        raise AssertionError("\n".join(lines))
    return report


def _document(value: Mapping[str, Any] | str | os.PathLike[str]) -> tuple[Mapping[str, Any], Any]:
    """(document, per-image sidecar or None); a path is loaded and validated like ``gate`` does.

    A document passed in (the fixture) carries no sidecar: significance-only drops then use the
    confidence intervals stored in the document, as ``mmharness gate`` does without one."""
    if isinstance(value, Mapping):
        return value, None
    from harness.report.results import load_results

    return load_results(Path(value))


def _thresholds(value: Mapping[str, Any] | str | os.PathLike[str]) -> Any:
    """A mapping is validated by the gate's own loader (via a temporary JSON file, so the
    rules and messages are exactly those of ``mmharness gate --thresholds``)."""
    from harness import gate

    if not isinstance(value, Mapping):
        return gate.load_thresholds(Path(value))
    import dataclasses
    import json
    import tempfile

    with tempfile.TemporaryDirectory(prefix="mmharness-thresholds-") as folder:
        path = Path(folder) / "assert_gate-thresholds.json"
        path.write_text(json.dumps(dict(value)), encoding="utf-8")
        loaded = gate.load_thresholds(path)
    return dataclasses.replace(loaded, source="assert_gate thresholds")

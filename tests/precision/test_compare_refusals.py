"""Every refusal of ``run --compare``'s input handling (harness/variants/compare.py) by its own message,
and the parity tolerance flags at their limits (issue 19). The end-to-end comparison is in
test_compare.py."""

from __future__ import annotations

import json
import math
import re

import pytest

from harness.variants.compare import COMPARE_NAME, DEFAULT_TOLERANCE, FORMAT, Candidate, compare_beside, parse_candidate, parse_candidates, tolerance_from_flags
from harness.errors import ConfigError, ResultsError
from harness.metrics.parity import Tolerance

BACKENDS = ["ort:cpu", "ort:cuda", "ort:tensorrt", "trt"]


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("  ", r"^--compare: empty candidate; expected e\.g\. int8, fp16, trt or trt@int8$"),
        ("trr@int8", r"^--compare trr@int8: unknown backend 'trr'; did you mean 'trt'\? \(backends: ort:cpu, ort:cuda, ort:tensorrt, trt\)$"),
        ("zzzz@int8", r"^--compare zzzz@int8: unknown backend 'zzzz' \(backends: ort:cpu, ort:cuda, ort:tensorrt, trt\)$"),
    ],
)
def test_a_bad_candidate_token_is_refused_with_its_message(token, message):
    with pytest.raises(ConfigError, match=message):
        parse_candidate(token, "ort:cpu", BACKENDS)


def test_candidate_tokens_resolve_variants_backends_and_the_fp32_alias():
    assert parse_candidate(" fp16 ", "trt", BACKENDS) == Candidate("fp16", "trt", "model.fp16")
    assert parse_candidate("fp32", "ort:cpu", BACKENDS) == Candidate("fp32", "ort:cpu", "model")
    assert parse_candidate("ort:cuda", "ort:cpu", BACKENDS) == Candidate("ort:cuda", "ort:cuda", "model")
    assert parse_candidate("trt@", "ort:cpu", BACKENDS) == Candidate("trt@", "trt", "model")
    assert Candidate("ort:cuda@int8", "ort:cuda", "model.int8").slug == "ort_cuda_int8"


@pytest.mark.parametrize(
    ("tokens", "message"),
    [
        ([], r"^--compare: no candidate given; expected e\.g\. --compare int8 --compare fp16$"),
        ([" , ", ""], r"^--compare: no candidate given"),
        (["int8", "fp32"], r"^--compare fp32: that is the reference itself \(--backend ort:cpu, graph model\)$"),
        (["ort:cpu"], r"^--compare ort:cpu: that is the reference itself"),
        (["int8", "fp16,int8"], r"^--compare int8: given twice$"),
    ],
)
def test_a_bad_candidate_list_is_refused_with_its_message(tokens, message):
    with pytest.raises(ConfigError, match=message):
        parse_candidates(tokens, "ort:cpu")


def test_comma_lists_keep_their_order():
    assert [c.label for c in parse_candidates(["int8,fp16", "trt"], "ort:cpu")] == ["int8", "fp16", "trt"]


def test_parity_tolerances_at_their_limits():
    assert DEFAULT_TOLERANCE == Tolerance(atol=1e-2, rtol=1e-2, check="elemwise")
    assert tolerance_from_flags(None, None, None) == DEFAULT_TOLERANCE
    assert tolerance_from_flags(0.0, 0, "max") == Tolerance(atol=0.0, rtol=0.0, check="max")  # 0 is the tightest allowed
    assert tolerance_from_flags(None, 0.5, None) == Tolerance(atol=1e-2, rtol=0.5, check="elemwise")
    for flag, args in (("--parity-atol", (-1e-12, None, None)), ("--parity-rtol", (None, -0.5, None)), ("--parity-atol", (math.nan, None, None))):
        value = args[0] if flag == "--parity-atol" else args[1]
        with pytest.raises(ConfigError, match=f"^{flag} {re.escape(str(value))}: expected a tolerance >= 0 \\(e\\.g\\. 1e-2\\)$"):
            tolerance_from_flags(*args)


@pytest.mark.parametrize(("check", "hint"), [("maxx", "; did you mean 'max'?"), ("p99", "")])
def test_an_unknown_parity_check_is_refused_naming_the_valid_ones(check, hint):
    with pytest.raises(ConfigError, match=f"^--parity-check {check!r} is not one of elemwise, max, mean, median, quantile{re.escape(hint)}$"):
        tolerance_from_flags(None, None, check)


def test_a_foreign_compare_file_beside_results_is_refused(tmp_path):
    assert compare_beside(tmp_path) is None and compare_beside(tmp_path / "results.json") is None
    path = tmp_path / COMPARE_NAME
    for foreign in ({"format": "someone-else", "candidates": {}}, {"format": FORMAT}, [FORMAT]):
        path.write_text(json.dumps(foreign))
        with pytest.raises(ResultsError, match=f"^{re.escape(str(path))}: not a `run --compare` file \\(format 'mmharness-compare'\\); "
                                               "move it away to report without it$"):
            compare_beside(tmp_path / "results.json")
    mine = {"format": FORMAT, "candidates": {}}
    path.write_text(json.dumps(mine))
    assert compare_beside(tmp_path) == mine

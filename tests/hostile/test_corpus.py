"""Every case of the hostile-input corpus (tests/hostile/hostile_cases.py) through the CLI, in process:
exit 2 or 3, exactly one stderr line that starts ``mmharness: error:``, no traceback, and
every file that existed before the command byte-identical after it (nothing lost)."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest
from hostile_cases import CASES, Case, Env
from hostile_cli import cli

COMMANDS = {"run", "bias", "bench", "validate", "doctor", "corruptions", "report", "gate", "merge", "export", "build"}


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_case(case: Case, tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "case"
    work.mkdir()
    argv = case.build(Env(work, request.getfixturevalue))
    before = _snapshot(work)
    outcome = cli(argv, capsys)
    assert outcome.code in case.codes, f"exit {outcome.code}: {outcome.err[-2000:]}"
    assert "Traceback" not in outcome.err, outcome.err
    assert len(outcome.lines) == 1 and outcome.lines[0].startswith("mmharness: error: "), outcome.err
    assert case.needle in outcome.lines[0], outcome.lines[0]
    after = _snapshot(work)
    lost = [name for name, digest in before.items() if after.get(name) != digest]
    assert not lost, f"changed or deleted: {lost}"


def test_the_corpus_covers_every_command_and_class() -> None:
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)
    assert {c.command for c in CASES} == COMMANDS
    kinds = Counter(c.kind for c in CASES)
    assert set(kinds) == {"out", "json", "range", "flags", "escape", "half"}, kinds

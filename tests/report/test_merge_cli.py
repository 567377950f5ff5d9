"""`mmharness merge` through the CLI, and reports of partial (shard) results."""

from __future__ import annotations

import json
from pathlib import Path

from sweep_fixtures import backend, config, write_model

from harness.cli import main
from harness.errors import ExitCode
from harness.report import render_report
from harness.runner import run_sweep


def test_merge_cli_and_partial_reports(tmp_path: Path, capsys) -> None:
    model = write_model(tmp_path / "model")
    shards = [run_sweep(config(model, tmp_path / f"s{i}", shard=f"{i}/3"), backend=backend()).path for i in (1, 2, 3)]
    partial = json.loads(shards[1].read_text())
    assert "emm/missing=none" not in partial["cells"]  # the clean cell went to shard 1
    md, html, junit = (render_report(partial, fmt) for fmt in ("md", "html", "junit"))
    emm = [cid for cid in partial["plan"]["cells"] if cid.startswith("emm/")]
    ran = [cid for cid in emm if cid in partial["cells"]]
    assert 0 < len(ran) < len(emm)
    for cid in emm:  # every EMM row: its figure when this shard ran the cell, "not run" otherwise
        missing = cid.split("=", 1)[1]
        present = ", ".join(m for m in partial["dataset"]["modalities"] if m not in missing.split("+"))
        shown = f"{partial['cells'][cid]['figures']['miou']:.2f}" if cid in ran else "not run"
        assert f"\n| {missing} | {present} | {shown} |" in md, cid
    for cid in ran:
        assert f">{partial['cells'][cid]['figures']['miou']:.2f}<" in html, cid
    assert all(f'name="{cid}"' in junit for cid in partial["cells"])
    n = len(partial["cells"])
    assert f"**cells**: {n} ok of {n} in these results; plan has {len(partial['plan']['cells'])} (partial: a shard)" in md
    assert "| EMM | unavailable | cell 'emm/missing=none' is missing or failed in these results |" in md

    assert main(["merge", *map(str, shards[:2]), "-o", str(tmp_path / "two")]) == ExitCode.OK
    assert "partial" in capsys.readouterr().err
    assert main(["merge", *map(str, shards), "-o", str(tmp_path / "all")]) == ExitCode.OK
    assert "complete" in capsys.readouterr().err
    merged = json.loads((tmp_path / "all" / "results.json").read_text())
    assert merged["plan"]["complete"] and merged["aggregates"]["emm"]["available"]

    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"hello": 1}))
    assert main(["merge", str(shards[0]), str(foreign), "-o", str(tmp_path / "bad")]) == ExitCode.BAD_INPUT
    assert "not an mmharness results file" in capsys.readouterr().err
    assert main(["merge", str(shards[0]), str(shards[0]), "-o", str(tmp_path / "same")]) == ExitCode.OK  # idempotent

"""The run folder's resume checks (harness/runner/store.py), each refusal reached by its own
input and matched by its own message (issue 19); a resumed run gets back exactly the cells
saved, and a fresh start drops the cells of the earlier run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.errors import ConfigError, ResultsError
from harness.runner.store import RunStore, cell_filename, load_matrices


def _header(**changes: Any) -> dict[str, Any]:
    header = {"config_hash": "sha256:aa", "model_hash": "sha256:bb", "dataset_fingerprint": "cc", "shard": {"index": 1, "count": 1},
              "config": {"seed": 0, "batch": 4, "plan": {"scenarios": ["emm"], "rmm_seeds": 1}}}
    header.update(changes)
    return header


def _ok_cell(cid: str) -> tuple[dict[str, Any], np.ndarray]:
    from harness.report.confusion_state import state_of

    matrices = np.arange(2 * 3 * 3, dtype=np.int64).reshape(2, 3, 3)
    return {"id": cid, "kind": "confusion", "status": "ok", "n_samples": 2, "state": state_of(matrices.sum(axis=0), None)}, matrices


def _started(tmp_path: Path) -> tuple[RunStore, Path]:
    store = RunStore(tmp_path / "out")
    assert store.start(_header(), resume=False) == {}
    return store, tmp_path / "out" / "run.json"


def test_cell_file_names_keep_the_dots_of_the_id():
    assert cell_filename("rmm/r=0.5/missing=rgb+depth/seed=0", ".json") == "rmm__r=0.5__missing=rgb+depth__seed=0.json"
    assert cell_filename("emm/missing=none", ".npz") == "emm__missing=none.npz"


def test_resume_returns_exactly_the_saved_cells(tmp_path):
    store, run_json = _started(tmp_path)
    assert json.loads(run_json.read_text()) == _header()
    entry, matrices = _ok_cell("emm/missing=rgb")
    saved = store.save_cell(entry, matrices)
    failed = {"id": "emm/missing=depth", "status": "failed", "reason": "NaN/Inf"}
    assert store.save_cell(failed, None) == (failed, None)
    done = RunStore(tmp_path / "out").start(_header(), resume=True)
    assert done == {"emm/missing=rgb": saved, "emm/missing=depth": (failed, None)}
    assert saved[1] == tmp_path / "out" / "cells" / "emm__missing=rgb.npz"
    assert np.array_equal(load_matrices(saved[1]), matrices)


def test_resume_with_nothing_to_resume_is_refused(tmp_path):
    run_json = tmp_path / "out" / "run.json"
    with pytest.raises(ConfigError, match=f"^--resume: {re.escape(str(run_json))} does not exist; nothing to resume \\(run without --resume first\\)$"):
        RunStore(tmp_path / "out").start(_header(), resume=True)


@pytest.mark.parametrize(
    ("content", "missing"),
    [([1, 2], "config_hash, model_hash, dataset_fingerprint, shard"), ({"config_hash": "x", "shard": 1}, "model_hash, dataset_fingerprint")],
)
def test_a_foreign_run_header_is_refused_naming_the_absent_keys(tmp_path, content, missing):
    store, run_json = _started(tmp_path)
    run_json.write_text(json.dumps(content))
    with pytest.raises(ResultsError, match=f"^--resume: {re.escape(str(run_json))}: not an mmharness run header \\(no {missing}\\); "
                                           "--out must be a folder written by `mmharness run`, or drop --resume to start fresh$"):
        store.start(_header(), resume=True)


def test_a_torn_run_header_is_refused(tmp_path):
    store, run_json = _started(tmp_path)
    run_json.write_text("{ torn")
    with pytest.raises(ResultsError, match="run.json: run header is not valid JSON"):
        store.start(_header(), resume=True)


@pytest.mark.parametrize(
    ("key", "value", "what"),
    [
        ("config_hash", "sha256:zz", ""),
        ("model_hash", "sha256:zz", ""),
        ("dataset_fingerprint", "zz", ""),
        ("shard", {"index": 2, "count": 2}, ""),
    ],
)
def test_each_changed_identity_field_is_refused_by_name(tmp_path, key, value, what):
    store, run_json = _started(tmp_path)
    was = _header()[key]
    with pytest.raises(ResultsError, match=f"^--resume: {re.escape(str(run_json))}: {key} changed{what} \\(was {re.escape(repr(was))}, "
                                           f"now {re.escape(repr(value))}\\); resume only the same run, or start a fresh one with another --out$"):
        store.start(_header(**{key: value}), resume=True)


def test_a_changed_config_names_the_fields_that_differ(tmp_path):
    store, _ = _started(tmp_path)
    config = {"seed": 3, "batch": 4, "plan": {"scenarios": ["emm", "rmm"], "rmm_seeds": 1}, "limit": 10}
    with pytest.raises(ResultsError, match=r": config_hash changed in limit, plan\.scenarios, seed \(was 'sha256:aa', now 'sha256:zz'\)"):
        store.start(_header(config_hash="sha256:zz", config=config), resume=True)
    same_config = _header(config_hash="sha256:zz")  # the hash moved but no field did: nothing to name
    with pytest.raises(ResultsError, match=r": config_hash changed \(was "):
        store.start(same_config, resume=True)


@pytest.mark.parametrize("record", [[1, 2], {"status": "ok"}, {"id": "emm/missing=rgb"}])
def test_a_foreign_cell_record_is_refused(tmp_path, record):
    store, _ = _started(tmp_path)
    path = tmp_path / "out" / "cells" / "emm__missing=rgb.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(record))
    with pytest.raises(ResultsError, match=f"^{re.escape(str(path))}: not a cell record of this run; delete it to re-run that cell$"):
        store.start(_header(), resume=True)


def test_an_ok_cell_whose_matrices_are_corrupt_or_gone_is_refused(tmp_path):
    store, _ = _started(tmp_path)
    store.save_cell(*_ok_cell("emm/missing=rgb"))
    npz = tmp_path / "out" / "cells" / "emm__missing=rgb.npz"
    npz.write_bytes(b"garbage")
    with pytest.raises(ResultsError, match=r"emm__missing=rgb\.npz: per-image matrices is corrupt \(.*\); re-run the sweep to regenerate it; "
                                           r"delete emm__missing=rgb\.json to re-run that cell$"):
        store.start(_header(), resume=True)
    npz.unlink()
    with pytest.raises(ResultsError, match=r"per-image matrices not found; .*; delete emm__missing=rgb\.json to re-run that cell$"):
        store.start(_header(), resume=True)


def test_a_fresh_start_refuses_to_drop_an_unfinished_run_and_clears_a_finished_one(tmp_path, capsys):
    store, _ = _started(tmp_path)
    out = tmp_path / "out"
    store.save_cell(*_ok_cell("emm/missing=rgb"))
    store.save_cell(*_ok_cell("emm/missing=depth"))
    with pytest.raises(ConfigError, match=f"^--out {re.escape(str(out))}: holds 2 finished cell\\(s\\) of an unfinished run \\(no results.json\\); "
                                          "continue it with --resume, discard them with --overwrite, or choose another --out$"):
        store.start(_header(), resume=False)
    assert len(list((out / "cells").iterdir())) == 4  # nothing was deleted
    (out / "results.json").write_text("{}")  # the earlier run finished
    assert store.start(_header(seed=1), resume=False) == {}
    assert f"starting fresh in {out}: dropping 2 cell(s) of an earlier run" in capsys.readouterr().err
    assert list((out / "cells").iterdir()) == []
    assert json.loads((out / "run.json").read_text())["seed"] == 1
    store.save_cell(*_ok_cell("emm/missing=rgb"))
    assert store.start(_header(), resume=False, overwrite=True) == {}  # --overwrite: unfinished cells may go
    assert list((out / "cells").iterdir()) == []

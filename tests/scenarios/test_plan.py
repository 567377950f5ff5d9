"""Plans are data: cell counts, ids, order, shard partitions and bad selections."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.scenarios.cells import CLEAN_ID
from harness.scenarios.plan import (
    PlanSpec,
    Shard,
    build_plan,
    parse_scenarios,
    parse_shard,
    sample_block,
    select_shard,
)

MODS = ("rgb", "depth", "event", "lidar")


def test_emm_has_every_missing_set_but_the_full_one_clean_first():
    cells = build_plan(MODS, PlanSpec(scenarios=("emm",)))
    assert len(cells) == 2 ** 4 - 1
    assert cells[0].id == CLEAN_ID and cells[0].steps == ()
    missing = {frozenset(step.modalities) for cell in cells[1:] for step in cell.steps}
    # an independent enumeration: all non-empty proper subsets via bit masks
    expected = {frozenset(m for bit, m in enumerate(MODS) if mask >> bit & 1) for mask in range(1, 2 ** 4 - 1)}
    assert missing == expected
    assert all(cell.steps[0].op == "fill" for cell in cells[1:])


def test_rmm_counts_rates_sets_and_seeds_and_shares_the_clean_cell():
    cells = build_plan(MODS, PlanSpec(scenarios=("rmm",), rmm_rates=(0.5, 0.25), rmm_seeds=3))
    assert cells[0].id == CLEAN_ID
    rmm = cells[1:]
    assert len(rmm) == 2 * (2 ** 4 - 2) * 3
    assert {c.param("r") for c in rmm} == {0.5, 0.25}
    assert "rmm/r=0.5/missing=depth+event/seed=2" in {c.id for c in rmm}


def test_nm_plan_holds_liao_levels_and_suite_severities():
    spec = PlanSpec(scenarios=("nm",), nm_suite=(("rgb", ("fog", "snow")),), nm_severities=(1, 5))
    ids = [c.id for c in build_plan(MODS, spec)]
    assert ids == [CLEAN_ID, "nm/preset=liao/level=low", "nm/preset=liao/level=mid", "nm/preset=liao/level=high",
                   "nm/rgb/fog/s1", "nm/rgb/fog/s5", "nm/rgb/snow/s1", "nm/rgb/snow/s5"]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_partition_the_plan_deterministically(count):
    cells = build_plan(MODS, PlanSpec(nm_suite=(("rgb", ("fog",)),)))
    shards = [select_shard(cells, Shard(i, count)) for i in range(1, count + 1)]
    ids = [c.id for shard in shards for c in shard]
    assert sorted(ids) == sorted(c.id for c in cells) and len(ids) == len(set(ids))
    assert shards == [select_shard(cells, Shard(i, count)) for i in range(1, count + 1)]
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_sample_shards_are_contiguous_balanced_blocks_of_whole_batches():
    for n_batches in range(12):
        for count in range(1, 6):
            blocks = [sample_block(n_batches, Shard(i, count, "samples")) for i in range(1, count + 1)]
            assert [b for block in blocks for b in block] == list(range(n_batches))  # in order, each batch once
            assert max(map(len, blocks)) - min(map(len, blocks)) <= 1
    cells = build_plan(MODS, PlanSpec())
    assert select_shard(cells, Shard(2, 3, "samples")) == cells  # every cell, on a block of images
    assert sample_block(5, Shard(2, 3)) == range(5)  # shards by cells see every batch
    assert parse_shard("2/3", "samples").to_dict() == {"index": 2, "count": 3, "by": "samples"}
    assert parse_shard("2/3").to_dict() == {"index": 2, "count": 3}


@pytest.mark.parametrize("text", ["3/2", "0/2", "1/0", "a/b", "2", "1/2/3"])
def test_bad_shard_is_one_line_config_error(text):
    with pytest.raises(ConfigError, match="--shard: expected I/N"):
        parse_shard(text)


def test_unknown_scenario_suggests_the_close_one():
    with pytest.raises(ConfigError, match="did you mean .*'rmm'"):
        parse_scenarios("emm,rnm")
    assert parse_scenarios("nm, emm") == ("emm", "nm")


def test_invalid_parameters_are_rejected():
    with pytest.raises(ValueError, match="drop rate"):
        build_plan(MODS, PlanSpec(rmm_rates=(1.5,)))
    with pytest.raises(ValueError, match="severities"):
        build_plan(MODS, PlanSpec(nm_suite=(("rgb", ("fog",)),), nm_severities=(0,)))

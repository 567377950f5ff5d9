"""Plan building at its limits and cell by cell (issue 19): drop rates and severities at the
edges of their ranges, every refusal by its message, and the exact cells (ids, params, steps)
of small plans, written out by hand."""

from __future__ import annotations

import math
import re

import pytest

from harness.errors import ConfigError
from harness.scenarios.cells import CLEAN_ID, Cell, Step, clean_cell, missing_label, missing_sets
from harness.scenarios.emm import emm_cells
from harness.scenarios.nm import LIAO_LEVELS, SEVERITIES, liao_cells, suite_cells
from harness.scenarios.plan import SCENARIOS, PlanSpec, Shard, build_plan, cells_by_id, parse_scenarios, parse_shard, sample_block, select_shard
from harness.scenarios.rmm import DEFAULT_RATES, rmm_cells

MODS = ("rgb", "depth")


def test_the_defaults_are_the_reference_protocol():
    # Liao et al. 2025: RMM drop rates 0.75 / 0.5 / 0.25, NM levels low / mid / high; ImageNet-C severities 1..5
    assert DEFAULT_RATES == (0.75, 0.5, 0.25)
    assert LIAO_LEVELS == ("low", "mid", "high") and SEVERITIES == (1, 2, 3, 4, 5)
    assert SCENARIOS == ("emm", "rmm", "nm")
    assert PlanSpec().to_dict() == {"scenarios": ["emm", "rmm", "nm"], "rmm_rates": [0.75, 0.5, 0.25], "rmm_seeds": 1,
                                    "nm_levels": ["low", "mid", "high"], "nm_suite": {}, "nm_severities": [1, 2, 3, 4, 5]}


def test_missing_sets_by_size_then_manifest_order_without_the_full_set():
    assert missing_sets(("a", "b", "c")) == [(), ("a",), ("b",), ("c",), ("a", "b"), ("a", "c"), ("b", "c")]
    assert missing_sets(("a",)) == [()]
    assert missing_label(()) == "none" and missing_label(("a", "c")) == "a+c"
    with pytest.raises(ValueError, match=r"^duplicate modality names: \('a', 'b', 'a'\)$"):
        missing_sets(("a", "b", "a"))


def test_emm_cells_of_two_modalities_written_out():
    assert emm_cells(MODS) == [
        Cell(CLEAN_ID, "emm", (("missing", "none"),), ()),
        Cell("emm/missing=rgb", "emm", (("missing", "rgb"),), (Step("fill", ("rgb",)),)),
        Cell("emm/missing=depth", "emm", (("missing", "depth"),), (Step("fill", ("depth",)),)),
    ]
    assert clean_cell().to_dict() == {"scenario": "emm", "params": {"missing": "none"}, "kind": "confusion"}
    assert emm_cells(MODS)[1].param("missing") == "rgb" and emm_cells(MODS)[1].param("r") is None


@pytest.mark.parametrize("rate", [1.0, math.nextafter(0.0, 1.0), 0.5])
def test_rmm_accepts_every_rate_in_the_half_open_unit_interval(rate):
    cells = rmm_cells(MODS, (rate,), seeds=1)
    assert [c.steps for c in cells] == [(Step("drop", ("rgb",), rate=rate),), (Step("drop", ("depth",), rate=rate),)]
    assert [c.id for c in cells] == [f"rmm/r={rate:g}/missing=rgb/seed=0", f"rmm/r={rate:g}/missing=depth/seed=0"]


@pytest.mark.parametrize("rate", [0.0, -0.25, math.nextafter(1.0, 2.0), math.nan])
def test_rmm_refuses_a_rate_outside_the_half_open_unit_interval(rate):
    with pytest.raises(ConfigError, match=rf"^--rmm-rates: drop rate {rate} is not a probability in \(0, 1\]; e\.g\. --rmm-rates 0\.75,0\.5,0\.25$"):
        rmm_cells(MODS, (0.5, rate))


def test_rmm_seeds_limit_and_order_rate_then_set_then_seed():
    with pytest.raises(ConfigError, match=r"^--rmm-seeds: RMM needs at least one seed, got 0$"):
        rmm_cells(MODS, (0.5,), seeds=0)
    cells = rmm_cells(MODS, (0.5, 0.25), seeds=2)
    assert [c.id for c in cells] == [
        "rmm/r=0.5/missing=rgb/seed=0", "rmm/r=0.5/missing=rgb/seed=1", "rmm/r=0.5/missing=depth/seed=0", "rmm/r=0.5/missing=depth/seed=1",
        "rmm/r=0.25/missing=rgb/seed=0", "rmm/r=0.25/missing=rgb/seed=1", "rmm/r=0.25/missing=depth/seed=0", "rmm/r=0.25/missing=depth/seed=1",
    ]
    assert cells[5].params == (("r", 0.25), ("missing", "rgb"), ("seed", 1)) and cells[5].scenario == "rmm"


def test_nm_cells_at_severities_1_and_5_and_the_liao_levels_written_out():
    assert suite_cells({"rgb": ["fog"], "depth": ["depth_holes"]}, (1, 5)) == [
        Cell("nm/rgb/fog/s1", "nm", (("modality", "rgb"), ("corruption", "fog"), ("severity", 1)), (Step("corrupt", ("rgb",), name="fog", severity=1),)),
        Cell("nm/rgb/fog/s5", "nm", (("modality", "rgb"), ("corruption", "fog"), ("severity", 5)), (Step("corrupt", ("rgb",), name="fog", severity=5),)),
        Cell("nm/depth/depth_holes/s1", "nm", (("modality", "depth"), ("corruption", "depth_holes"), ("severity", 1)),
             (Step("corrupt", ("depth",), name="depth_holes", severity=1),)),
        Cell("nm/depth/depth_holes/s5", "nm", (("modality", "depth"), ("corruption", "depth_holes"), ("severity", 5)),
             (Step("corrupt", ("depth",), name="depth_holes", severity=5),)),
    ]
    assert liao_cells(MODS, ("high",)) == [Cell("nm/preset=liao/level=high", "nm", (("preset", "liao"), ("level", "high")),
                                               (Step("preset", MODS, name="liao", level="high"),))]
    assert [c.id for c in liao_cells(MODS)] == ["nm/preset=liao/level=low", "nm/preset=liao/level=mid", "nm/preset=liao/level=high"]


@pytest.mark.parametrize("severities", [(0,), (6,), (1, 2.0), (-1,)])
def test_nm_refuses_severities_outside_1_to_5(severities):
    bad = [s for s in severities if s not in (1, 2, 3, 4, 5) or isinstance(s, float)]
    with pytest.raises(ValueError, match=rf"^NM severities must be integers in 1\.\.5, got {re.escape(str(bad))}$"):
        suite_cells({"rgb": ["fog"]}, severities)


def test_unknown_liao_levels_are_refused():
    with pytest.raises(ValueError, match=r"^unknown Liao NM level\(s\) \['extreme'\]; expected a subset of \['low', 'mid', 'high'\]$"):
        liao_cells(MODS, ("low", "extreme"))


def test_a_plan_always_holds_the_clean_cell_once_and_refuses_duplicates():
    only_nm = build_plan(MODS, PlanSpec(scenarios=("nm",), nm_levels=("mid",), nm_suite=(("rgb", ("fog",)),), nm_severities=(3,)))
    assert [c.id for c in only_nm] == [CLEAN_ID, "nm/preset=liao/level=mid", "nm/rgb/fog/s3"]
    everything = build_plan(MODS, PlanSpec(rmm_rates=(0.5,), nm_levels=(), nm_suite=()))
    assert [c.id for c in everything] == [CLEAN_ID, "emm/missing=rgb", "emm/missing=depth", "rmm/r=0.5/missing=rgb/seed=0", "rmm/r=0.5/missing=depth/seed=0"]
    assert list(cells_by_id(everything)) == [c.id for c in everything]
    with pytest.raises(ConfigError, match=r"^the plan holds duplicate cell ids: \['nm/rgb/fog/s1'\]$"):
        build_plan(MODS, PlanSpec(scenarios=("nm",), nm_levels=(), nm_suite=(("rgb", ("fog", "fog")),), nm_severities=(1,)))


def test_parse_scenarios_refusals_and_canonical_order():
    with pytest.raises(ConfigError, match=r"^--scenarios: empty selection; choose from emm, rmm, nm$"):
        parse_scenarios(" , ")
    with pytest.raises(ConfigError, match=r"^--scenarios: unknown scenario 'xyz' \(available: emm, rmm, nm\)$"):
        parse_scenarios("emm,xyz")
    assert parse_scenarios("NM,rmm,EMM,rmm") == ("emm", "rmm", "nm")
    with pytest.raises(ConfigError, match=r"^--scenarios: unknown scenario 'mm'; did you mean 'rmm' or 'emm'\? \(available: emm, rmm, nm\)$"):
        parse_scenarios("mm")  # at most two suggestions


def test_shards_by_cells_are_round_robin_and_by_samples_contiguous_blocks():
    cells = build_plan(("a", "b", "c"), PlanSpec(scenarios=("emm",)))  # 7 cells
    assert [c.id for c in select_shard(cells, Shard(1, 3))] == [cells[0].id, cells[3].id, cells[6].id]
    assert [c.id for c in select_shard(cells, Shard(3, 3))] == [cells[2].id, cells[5].id]
    assert select_shard(cells, Shard(1, 1)) == cells
    # 10 batches in 3 blocks: [0, 3), [3, 6), [6, 10) (floor of i * 10 / 3)
    assert [sample_block(10, Shard(i, 3, "samples")) for i in (1, 2, 3)] == [range(0, 3), range(3, 6), range(6, 10)]
    assert sample_block(10, Shard(3, 3)) == range(10)
    assert parse_shard("1/1") == Shard(1, 1) and parse_shard("4/4", "samples") == Shard(4, 4, "samples")
    assert Shard(2, 5).to_dict() == {"index": 2, "count": 5}

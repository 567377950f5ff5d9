"""The MLLM modality-bias probe plan and what each probe does to an item (harness/scenarios/bias.py),
checked without a model: exact cells, every refusal by its message, derangements without a
fixed point, and each probe's (image, question) written out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data.vqa import VqaDataset, VqaItem
from harness.errors import ConfigError
from harness.scenarios.bias import (
    DEFAULT_CORRUPTIONS,
    DEFAULT_SEVERITIES,
    MISLEADING_HINT,
    BiasPlan,
    Prober,
    bias_cells,
    derangement,
    probe_names,
)
from harness.scenarios.cells import Step
from harness.seeding import rng_for


def _item(index: int, image: bool = True, choices: tuple[str, ...] = ("red", "blue")) -> VqaItem:
    ramp = np.arange(8, dtype=np.uint8)[None, :, None] * 20  # structure for the corruptions; pixel (0, 0) names the item
    pixels = np.broadcast_to(10 * (index + 1) + ramp, (8, 8, 3)).copy() if image else None
    return VqaItem(index, f"q{index}", pixels, f"what colour is {index}?", choices, choices[0])


DATA = VqaDataset("tiny", (_item(0), _item(1), _item(2), _item(3, image=False)))


def test_the_default_probe_plan():
    assert DEFAULT_CORRUPTIONS == ("gaussian_noise", "defocus_blur", "contrast") and DEFAULT_SEVERITIES == (1, 3, 5)
    assert BiasPlan().to_dict() == {"permutations": 3, "corruptions": ["gaussian_noise", "defocus_blur", "contrast"],
                                    "severities": [1, 3, 5], "image_probes": ["removed", "blank", "noise"],
                                    "text_probes": ["removed", "misleading"]}
    assert len(bias_cells(BiasPlan())) == 1 + 3 + 3 + 3 * 3 + 2


def test_cells_in_order_with_their_params_and_steps():
    cells = bias_cells(BiasPlan(permutations=2, corruptions=("contrast",), severities=(1, 5), image_probes=("blank",), text_probes=("misleading",)))
    assert [c.id for c in cells] == ["bias/clean", "bias/image=blank", "bias/image=permuted/k=0", "bias/image=permuted/k=1",
                                     "bias/image=corrupted/contrast/s1", "bias/image=corrupted/contrast/s5", "bias/text=misleading"]
    assert probe_names(cells) == ["clean", "image=blank", "image=permuted", "image=permuted", "image=corrupted", "image=corrupted", "text=misleading"]
    assert all(c.scenario == "bias" and c.kind == "records" for c in cells)
    assert cells[3].params == (("probe", "image=permuted"), ("k", 1))
    assert cells[5].params == (("probe", "image=corrupted"), ("corruption", "contrast"), ("severity", 5))
    assert cells[5].steps == (Step("corrupt", ("image",), name="contrast", severity=5),) and cells[0].steps == ()


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        (BiasPlan(permutations=0), r"^--permutations 0: at least 1 seed is needed for the perceptual score$"),
        (BiasPlan(severities=(1, 0)), r"^--severities: 0 is outside 1\.\.5$"),
        (BiasPlan(severities=(6,)), r"^--severities: 6 is outside 1\.\.5$"),
        (BiasPlan(image_probes=("removed", "grey")), r"^image probe 'grey': expected removed, blank or noise$"),
        (BiasPlan(text_probes=("shuffled",)), r"^text probe 'shuffled': expected removed or misleading$"),
        (BiasPlan(corruptions=("gausian_noise",)), r"^--corruptions: 'gausian_noise' is not an image corruption; did you mean 'gaussian_noise'"),
        (BiasPlan(corruptions=("depth_holes",)), r"^--corruptions: 'depth_holes' is not an image corruption; (did you mean .*)?choose from "),
        (BiasPlan(corruptions=("gauss_noise",)), r"^--corruptions: 'gauss_noise' is not an image corruption; did you mean 'gaussian_noise' or 'shot_noise'\? choose"),
    ],
)
def test_each_bad_plan_is_refused_with_its_message(plan, message):
    with pytest.raises(ConfigError, match=message):
        bias_cells(plan)


def test_every_severity_from_1_to_5_is_allowed():
    cells = bias_cells(BiasPlan(permutations=1, corruptions=("contrast",), severities=(1, 2, 3, 4, 5), image_probes=(), text_probes=()))
    assert [c.param("severity") for c in cells[2:]] == [1, 2, 3, 4, 5]


def test_severities_1_and_5_and_one_permutation_are_allowed():
    ids = [c.id for c in bias_cells(BiasPlan(permutations=1, corruptions=("contrast",), severities=(1, 5), image_probes=(), text_probes=()))]
    assert ids == ["bias/clean", "bias/image=permuted/k=0", "bias/image=corrupted/contrast/s1", "bias/image=corrupted/contrast/s5"]
    assert [c.id for c in bias_cells(BiasPlan(permutations=1, corruptions=(), image_probes=(), text_probes=()))] == ["bias/clean", "bias/image=permuted/k=0"]


@pytest.mark.parametrize("n", [2, 3, 7])
def test_derangements_have_no_fixed_point(n):
    for seed in range(30):
        order = derangement(n, np.random.default_rng(seed))
        assert order.dtype == np.int64 and sorted(order.tolist()) == list(range(n))
        assert not np.any(order == np.arange(n))
    assert derangement(2, np.random.default_rng(0)).tolist() == [1, 0]  # the only one of 2
    with pytest.raises(ConfigError, match=r"^image=permuted needs at least 2 items with images, got 1$"):
        derangement(1, np.random.default_rng(0))


def _cell(plan: BiasPlan, cell_id: str):
    (cell,) = [c for c in bias_cells(plan) if c.id == cell_id]
    return cell


PLAN = BiasPlan(permutations=1, corruptions=("contrast",), severities=(5,))


def test_each_probe_changes_the_item_as_documented():
    prober = Prober(DATA, run_seed=3)
    item = DATA[1]
    same = prober.perturb(_cell(PLAN, "bias/clean"), item)
    assert same.image is item.image and same.question == item.question
    assert prober.perturb(_cell(PLAN, "bias/image=removed"), item).image is None
    blank = prober.perturb(_cell(PLAN, "bias/image=blank"), item).image
    assert blank.dtype == np.uint8 and np.all(blank == 128) and blank.shape == item.image.shape
    noise = prober.perturb(_cell(PLAN, "bias/image=noise"), item).image
    expected = rng_for(3, "bias/image=noise", 1, "image").integers(0, 256, item.image.shape, dtype=np.uint8)
    np.testing.assert_array_equal(noise, expected)
    assert prober.perturb(_cell(PLAN, "bias/text=removed"), item).question == ""
    misleading = prober.perturb(_cell(PLAN, "bias/text=misleading"), item)
    assert misleading.question == "what colour is 1? " + MISLEADING_HINT.format(wrong="blue") == "what colour is 1? hint : the answer is blue ."
    assert misleading.image is item.image
    corrupted = prober.perturb(_cell(PLAN, "bias/image=corrupted/contrast/s5"), item).image
    from harness.corruptions import corrupt

    assert not np.array_equal(corrupted, item.image)
    np.testing.assert_array_equal(corrupted, corrupt(item.image, "contrast", 5, rng_for(3, "bias/image=corrupted/contrast/s5", 1, "image"), kind="image"))


def test_removed_means_a_grey_image_when_the_manifest_declares_it_and_items_without_image_stay_so():
    grey = Prober(DATA, run_seed=3, missing_image="blank").perturb(_cell(PLAN, "bias/image=removed"), DATA[0]).image
    assert np.all(grey == 128)
    prober = Prober(DATA, run_seed=3)
    for cell_id in ("bias/image=blank", "bias/image=noise", "bias/image=permuted/k=0"):
        assert prober.perturb(_cell(PLAN, cell_id), DATA[3]).image is None  # no image to probe


def test_permuted_images_come_from_other_items_with_images():
    prober = Prober(DATA, run_seed=5)
    cell = _cell(PLAN, "bias/image=permuted/k=0")
    sources = [int(prober.perturb(cell, DATA[i]).image[0, 0, 0]) // 10 - 1 for i in range(3)]
    assert sorted(sources) == [0, 1, 2] and all(s != i for i, s in enumerate(sources))
    order = derangement(3, rng_for(5, cell.id, 0, "permutation"))
    assert sources == order.tolist()
    assert [int(prober.perturb(cell, DATA[i]).image[0, 0, 0]) // 10 - 1 for i in range(3)] == sources  # drawn once per cell


def test_a_misleading_hint_needs_a_wrong_option_and_an_unknown_probe_is_refused():
    prober = Prober(DATA, run_seed=0)
    only_right = _item(0, choices=("red",))
    with pytest.raises(ConfigError, match=r"^item q0: text=misleading needs choices with a wrong option$"):
        prober.perturb(_cell(PLAN, "bias/text=misleading"), only_right)
    odd = _cell(PLAN, "bias/clean").__class__("bias/odd", "bias", (("probe", "image=odd"),), kind="records")
    with pytest.raises(ConfigError, match=r"^cell bias/odd: unknown probe 'image=odd'$"):
        prober.perturb(odd, DATA[0])
    base = _cell(PLAN, "bias/clean").__class__("bias/base_llm", "bias", (("probe", "base_llm"),), kind="records")
    assert prober.perturb(base, DATA[0]).image is None and prober.perturb(base, DATA[0]).question == DATA[0].question

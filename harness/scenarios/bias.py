"""Modality-bias probes of an MLLM as cells (docs/metrics.md), and how each probe changes an item.

Each probe is a ``Cell`` of scenario ``bias`` and kind ``records`` (per-sample records):
``bias/clean``; ``bias/image=removed`` (no image tokens, or a blank image when the manifest
declares ``missing_image: blank``); ``bias/image=blank`` (uniform mid-grey);
``bias/image=noise`` (uniform random pixels); ``bias/image=permuted/k=K`` (images moved by a
uniformly drawn derangement, so no item keeps its own image; one cell per seed);
``bias/image=corrupted/<name>/s<severity>`` (the image corruption suite); ``bias/text=removed``
(empty question); ``bias/text=misleading`` (a hint naming a wrong option). ``perturb`` turns
an item into the (image, question) the model sees; it is a pure function of
``(run seed, cell, item)`` and, for permutations, the dataset's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.data.vqa import VqaDataset, VqaItem
from harness.errors import ConfigError
from harness.scenarios.cells import Cell, Step
from harness.seeding import rng_for

SCENARIO = "bias"
CLEAN_ID = "bias/clean"
REMOVED_ID = "bias/image=removed"
TEXT_REMOVED_ID = "bias/text=removed"
DEFAULT_CORRUPTIONS: tuple[str, ...] = ("gaussian_noise", "defocus_blur", "contrast")
DEFAULT_SEVERITIES: tuple[int, ...] = (1, 3, 5)
MISLEADING_HINT = "hint : the answer is {wrong} ."


@dataclass(frozen=True)
class BiasPlan:
    """Which probes to run: ``permutations`` seeds, corruptions x severities, text probes."""

    permutations: int = 3
    corruptions: tuple[str, ...] = DEFAULT_CORRUPTIONS
    severities: tuple[int, ...] = DEFAULT_SEVERITIES
    image_probes: tuple[str, ...] = ("removed", "blank", "noise")
    text_probes: tuple[str, ...] = ("removed", "misleading")

    def to_dict(self) -> dict[str, Any]:
        return {"permutations": self.permutations, "corruptions": list(self.corruptions),
                "severities": list(self.severities), "image_probes": list(self.image_probes),
                "text_probes": list(self.text_probes)}


def _cell(cell_id: str, params: tuple[tuple[str, str | int | float], ...], steps: tuple[Step, ...] = ()) -> Cell:
    return Cell(id=cell_id, scenario=SCENARIO, params=params, steps=steps, kind="records")


def bias_cells(plan: BiasPlan) -> list[Cell]:
    """Every probe cell in a fixed order: clean, image probes, permutations, corruptions, text."""
    if plan.permutations < 1:
        raise ConfigError(f"--permutations {plan.permutations}: at least 1 seed is needed for the perceptual score")
    for severity in plan.severities:
        if severity not in (1, 2, 3, 4, 5):
            raise ConfigError(f"--severities: {severity} is outside 1..5")
    _check_corruptions(plan.corruptions)
    cells = [_cell(CLEAN_ID, (("probe", "clean"),))]
    for probe in plan.image_probes:
        if probe not in ("removed", "blank", "noise"):
            raise ConfigError(f"image probe {probe!r}: expected removed, blank or noise")
        cells.append(_cell(f"bias/image={probe}", (("probe", f"image={probe}"),)))
    for k in range(plan.permutations):
        cells.append(_cell(f"bias/image=permuted/k={k}", (("probe", "image=permuted"), ("k", k))))
    for name in plan.corruptions:
        for severity in plan.severities:
            step = Step(op="corrupt", modalities=("image",), name=name, severity=severity)
            cells.append(_cell(f"bias/image=corrupted/{name}/s{severity}",
                               (("probe", "image=corrupted"), ("corruption", name), ("severity", severity)), (step,)))
    for probe in plan.text_probes:
        if probe not in ("removed", "misleading"):
            raise ConfigError(f"text probe {probe!r}: expected removed or misleading")
        cells.append(_cell(f"bias/text={probe}", (("probe", f"text={probe}"),)))
    return cells


def _check_corruptions(requested: Sequence[str]) -> None:
    """Every name is an image corruption (checked before any cell runs, not when its cell comes up)."""
    if not requested:
        return
    import difflib

    from harness.corruptions import names

    available = names(kind="image")
    for name in requested:
        if name not in available:
            close = difflib.get_close_matches(name, available, n=2)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
            raise ConfigError(f"--corruptions: {name!r} is not an image corruption; {hint}"
                              f"choose from {', '.join(available)}, or 'all'")


def derangement(n: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """A uniformly random permutation with no fixed point (rejection sampling; ~e draws expected)."""
    if n < 2:
        raise ConfigError(f"image=permuted needs at least 2 items with images, got {n}")
    while True:
        order = rng.permutation(n)
        if not np.any(order == np.arange(n)):
            return order.astype(np.int64)


@dataclass(frozen=True)
class ProbeInput:
    """What the model sees for one item in one cell: an image (or none) and the question."""

    image: npt.NDArray[np.uint8] | None
    question: str


class Prober:
    """Applies the probes of one run to a dataset (the permutation of each seed is drawn once)."""

    def __init__(self, dataset: VqaDataset, run_seed: int, missing_image: str = "no_image_tokens") -> None:
        self.dataset, self.run_seed, self.missing_image = dataset, run_seed, missing_image
        self._with_image = [item.index for item in dataset if item.image is not None]
        self._permutations: dict[str, dict[int, int]] = {}

    def _permuted_index(self, cell: Cell, item: VqaItem) -> int:
        if cell.id not in self._permutations:
            order = derangement(len(self._with_image), rng_for(self.run_seed, cell.id, 0, "permutation"))
            self._permutations[cell.id] = {self._with_image[i]: self._with_image[int(j)] for i, j in enumerate(order)}
        return self._permutations[cell.id][item.index]

    def perturb(self, cell: Cell, item: VqaItem) -> ProbeInput:
        """The (image, question) of ``item`` under ``cell``."""
        probe = str(cell.param("probe"))
        image, question = item.image, item.question
        if image is None or probe in ("clean", "text=removed", "text=misleading"):
            pass
        elif probe == "base_llm":  # a text-only base model sees the same question, never an image
            image = None
        elif probe == "image=removed":
            image = None if self.missing_image == "no_image_tokens" else np.full_like(image, 128)
        elif probe == "image=blank":
            image = np.full_like(image, 128)
        elif probe == "image=noise":
            image = rng_for(self.run_seed, cell.id, item.index, "image").integers(0, 256, image.shape, dtype=np.uint8)
        elif probe == "image=permuted":
            image = self.dataset[self._permuted_index(cell, item)].image
        elif probe == "image=corrupted":
            from harness.corruptions import corrupt

            step = cell.steps[0]
            image = corrupt(image, step.name, step.severity, rng_for(self.run_seed, cell.id, item.index, "image"), kind="image")
        else:
            raise ConfigError(f"cell {cell.id}: unknown probe {probe!r}")
        if probe == "text=removed":
            question = ""
        elif probe == "text=misleading":
            question = f"{question} {MISLEADING_HINT.format(wrong=self._wrong_option(cell, item))}"
        return ProbeInput(image, question)

    def _wrong_option(self, cell: Cell, item: VqaItem) -> str:
        wrong = [choice for choice in item.choices if choice != item.answer]
        if not wrong:
            raise ConfigError(f"item {item.sample_id}: text=misleading needs choices with a wrong option")
        rng = rng_for(self.run_seed, cell.id, item.index, "text")
        return wrong[int(rng.integers(0, len(wrong)))]


def probe_names(cells: Sequence[Cell]) -> list[str]:
    return [str(cell.param("probe")) for cell in cells]

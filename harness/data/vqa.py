"""VQA items: a JSONL format on disk and the ``synthetic-vqa`` generator.

JSONL (one item per line, the shape of MMStar/MMBench items)::

    {"id": "q1", "image": "images/q1.png", "question": "what color is the circle ?",
     "choices": ["red", "green", "blue", "yellow"], "answer": "blue",
     "category": "color", "tags": ["tempting"]}

``image`` is relative to the JSONL file (or null for text-only items); ``choices``,
``category`` and ``tags`` are optional. Every error names ``file:line`` and the field.

``synthetic-vqa`` renders scenes of coloured shapes and asks about colour, shape, count and
position. Its text carries a *language prior* (circles are usually red, "how many" is
usually two, ...): ``prior_strength`` is the probability an item's answer equals the prior's
answer. Items whose image contradicts the prior are tagged ``tempting``: a model that leans
on language gets exactly those wrong.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import DataError
from harness.paths import confined
from harness.safeload import json_loads

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class VqaItem:
    """One question: raw ``H x W x 3`` uint8 image (or None), text, options and the answer."""

    index: int
    sample_id: str
    image: Image | None
    question: str
    choices: tuple[str, ...]
    answer: str
    category: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class VqaDataset:
    """A finite, deterministic list of ``VqaItem``s with a content fingerprint."""

    name: str
    items: tuple[VqaItem, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> VqaItem:
        return self.items[index]

    def __iter__(self) -> Iterator[VqaItem]:
        return iter(self.items)

    def fingerprint(self) -> str:
        """SHA-256 over ids, texts, answers and image bytes (recorded in provenance)."""
        digest = hashlib.sha256()
        for item in self.items:
            digest.update(json.dumps([item.sample_id, item.question, item.choices, item.answer]).encode())
            if item.image is not None:
                digest.update(np.ascontiguousarray(item.image).tobytes())
        return digest.hexdigest()


# ---- JSONL ---------------------------------------------------------------------------------


def _read_image(path: Path, where: str) -> Image:
    from PIL import Image as PILImage

    if not path.is_file():
        raise DataError(f"{where}: image: file {path} not found; paths are relative to the JSONL file")
    try:
        with PILImage.open(path) as handle:
            return np.asarray(handle.convert("RGB"), dtype=np.uint8)
    except Exception as error:  # noqa: BLE001  (PIL raises several unrelated types for unreadable files)
        raise DataError(f"{where}: image: cannot read {path} ({type(error).__name__}); re-save it as PNG/JPEG") from None


def _string(record: dict[str, Any], key: str, where: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: {key}: expected a non-empty string, got {value!r}")
    return value


def _parse_item(record: Any, index: int, base: Path, where: str) -> VqaItem:
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object per line, got {type(record).__name__}")
    unknown = sorted(set(record) - {"id", "image", "question", "choices", "answer", "category", "tags"})
    if unknown:
        raise DataError(f"{where}: unknown fields {unknown} (allowed: id, image, question, choices, answer, category, tags)")
    question, answer = _string(record, "question", where), _string(record, "answer", where)
    choices = record.get("choices", [])
    if not isinstance(choices, list) or not all(isinstance(c, str) and c for c in choices):
        raise DataError(f"{where}: choices: expected a list of non-empty strings, got {choices!r}")
    if choices and answer not in choices:
        raise DataError(f"{where}: answer: {answer!r} is not one of choices {choices}")
    image_field = record.get("image")
    if image_field is not None and not isinstance(image_field, str):
        raise DataError(f"{where}: image: expected a relative path string or null, got {image_field!r}")
    image = _read_image(confined(base, image_field, f"{where}: image", DataError), where) if image_field else None
    tags = record.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise DataError(f"{where}: tags: expected a list of strings, got {tags!r}")
    return VqaItem(
        index=index,
        sample_id=str(record.get("id", index)),
        image=image,
        question=question,
        choices=tuple(choices),
        answer=answer,
        category=str(record.get("category", "")),
        tags=tuple(tags),
    )


def load_vqa_jsonl(path: str | Path) -> VqaDataset:
    """Read a VQA JSONL file; images are loaded and checked up front."""
    source = Path(path)
    if not source.is_file():
        raise DataError(f"{source}: not found; pass a VQA JSONL file (see harness/data/vqa.py for the format)")
    items: list[VqaItem] = []
    for number, line in enumerate(source.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            record = json_loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{where}: malformed JSON ({error.msg} at column {error.colno})") from None
        except ValueError as error:  # too deep, an integer too long, NaN (harness.safeload)
            raise DataError(f"{where}: refused ({error})") from None
        items.append(_parse_item(record, len(items), source.parent, where))
    if not items:
        raise DataError(f"{source}: no items; expected one JSON object per line")
    ids = [item.sample_id for item in items]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise DataError(f"{source}: id {duplicate!r} appears more than once; ids must be unique")
    return VqaDataset(name=f"jsonl:{source}", items=tuple(items))


def write_vqa_jsonl(dataset: VqaDataset, folder: str | Path) -> Path:
    """Write ``dataset`` as ``folder/data.jsonl`` + ``folder/images/<id>.png``; returns the JSONL path."""
    from PIL import Image as PILImage

    target = Path(folder)
    (target / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for item in dataset:
        image = None
        if item.image is not None:
            image = f"images/{item.sample_id}.png"
            PILImage.fromarray(item.image).save(target / image)
        record = {"id": item.sample_id, "image": image, "question": item.question, "choices": list(item.choices),
                  "answer": item.answer, "category": item.category, "tags": list(item.tags)}
        lines.append(json.dumps(record))
    path = target / "data.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


# ---- synthetic-vqa -------------------------------------------------------------------------

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40), "green": (40, 200, 60), "blue": (50, 80, 230), "yellow": (230, 210, 40),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
COUNTS: tuple[str, ...] = ("one", "two", "three")
SIDES: tuple[str, ...] = ("left", "right")
CATEGORIES: tuple[str, ...] = ("color", "shape", "count", "position")
# The language prior: what the text alone suggests.
PRIOR_COLOR = {"circle": "red", "square": "blue", "triangle": "green"}
PRIOR_SHAPE = {"red": "circle", "blue": "square", "green": "triangle", "yellow": "circle"}
PRIOR_SIDE = {"circle": "left", "square": "right", "triangle": "left"}
PRIOR_COUNT = "two"
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
GENERATOR_VERSION = "synthetic-vqa-v1"


def vocabulary() -> list[str]:
    """Every word the synthetic questions, answers and probe hints use (for tokenizers)."""
    words = ["what", "color", "is", "the", "shape", "object", "how", "many", "shapes", "are", "there",
             "on", "left", "or", "right", "answer", "hint", ":", "?", "of"]
    return list(dict.fromkeys([*words, *COLORS, *SHAPES, *COUNTS, *SIDES]))


def _draw(canvas: npt.NDArray[np.float32], shape: str, cy: float, cx: float, radius: float, color: str) -> None:
    size = canvas.shape[0]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dy, dx = yy - cy, xx - cx
    if shape == "circle":
        mask = dy**2 + dx**2 <= radius**2
    elif shape == "square":
        mask = (np.abs(dy) <= radius * 0.85) & (np.abs(dx) <= radius * 0.85)
    else:  # triangle pointing up: below the two slanted edges, above the base
        mask = (dy <= radius * 0.8) & (dy >= -radius) & (np.abs(dx) <= (dy + radius) * 0.6)
    canvas[mask] = COLORS[color]


def _place(rng: np.random.Generator, count: int, size: int, sides: Sequence[str | None]) -> list[tuple[float, float]]:
    """Non-overlapping centres; ``sides[i]`` pins object i to the left or right half."""
    spots: list[tuple[float, float]] = []
    margin = size * 0.2
    while len(spots) < count:
        side = sides[len(spots)]
        low, high = (margin, size / 2 - 2) if side == "left" else (size / 2 + 2, size - margin) if side == "right" else (margin, size - margin)
        cy, cx = float(rng.uniform(margin, size - margin)), float(rng.uniform(low, high))
        if all((cy - y) ** 2 + (cx - x) ** 2 >= (size * 0.33) ** 2 for y, x in spots):
            spots.append((cy, cx))
    return spots


def _follow_prior(rng: np.random.Generator, prior: str, options: Sequence[str], strength: float) -> str:
    if rng.random() < strength:
        return prior
    return str(rng.choice([option for option in options if option != prior]))


SceneObject = tuple[str, str, str | None]  # shape, colour, pinned side (or None)


def _scene(rng: np.random.Generator, category: str, strength: float) -> tuple[list[SceneObject], str, tuple[str, ...], str, str]:
    """Objects (shape, colour, side), question, choices, answer and the prior's answer."""
    if category == "count":
        answer = _follow_prior(rng, PRIOR_COUNT, COUNTS, strength)
        number = COUNTS.index(answer) + 1
        objects: list[SceneObject] = [(str(rng.choice(SHAPES)), str(rng.choice(list(COLORS))), None) for _ in range(number)]
        return objects, "how many shapes are there ?", COUNTS, answer, PRIOR_COUNT
    shape = str(rng.choice(SHAPES))
    if category == "shape":
        color = str(rng.choice(list(COLORS)))
        shape = _follow_prior(rng, PRIOR_SHAPE[color], SHAPES, strength)
        target: SceneObject = (shape, color, None)
        question, choices, answer, prior = f"what shape is the {color} object ?", SHAPES, shape, PRIOR_SHAPE[color]
    elif category == "color":
        color = _follow_prior(rng, PRIOR_COLOR[shape], list(COLORS), strength)
        target = (shape, color, None)
        question, choices, answer, prior = f"what color is the {shape} ?", tuple(COLORS), color, PRIOR_COLOR[shape]
    else:
        side = _follow_prior(rng, PRIOR_SIDE[shape], SIDES, strength)
        target = (shape, str(rng.choice(list(COLORS))), side)
        question, choices, answer, prior = f"is the {shape} on the left or right ?", SIDES, side, PRIOR_SIDE[shape]
    objects = [target]
    if rng.random() < 0.5:  # a distractor with another shape and colour keeps the question unambiguous
        other_shape = str(rng.choice([s for s in SHAPES if s != target[0]]))
        other_color = str(rng.choice([c for c in COLORS if c != target[1]]))
        other_side = None if target[2] is None else ("right" if target[2] == "left" else "left")
        objects.append((other_shape, other_color, other_side))
    return objects, question, choices, answer, prior


def render_item(seed: int, split: str, index: int, size: int = 32, prior_strength: float = 0.5) -> VqaItem:
    """Item ``index`` of a split; depends only on its arguments (SeedSequence([seed, split, index]))."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, SPLIT_IDS[split], index]))
    category = CATEGORIES[index % len(CATEGORIES)]
    objects, question, choices, answer, prior = _scene(rng, category, prior_strength)
    canvas = np.empty((size, size, 3), dtype=np.float32)
    canvas[:] = rng.uniform(40, 90, size=3)
    spots = _place(rng, len(objects), size, [side for _, _, side in objects])
    for (shape, color, _), (cy, cx) in zip(objects, spots):
        _draw(canvas, shape, cy, cx, float(rng.uniform(size * 0.14, size * 0.2)), color)
    canvas += rng.normal(0.0, 6.0, size=canvas.shape)
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    tags = ("tempting",) if answer != prior else ("typical",)
    return VqaItem(index, f"{split}-{index:05d}", image, question, choices, answer, category, tags)


def synthetic_vqa(
    size: int = 240, split: str = "val", seed: int = 0, image_size: int = 32, prior_strength: float = 0.5
) -> VqaDataset:
    """The ``synthetic-vqa`` dataset: ``size`` items, categories in turn, priors at ``prior_strength``."""
    if split not in SPLIT_IDS:
        raise DataError(f"synthetic-vqa: split {split!r}: expected one of {sorted(SPLIT_IDS)}")
    if not 0.0 <= prior_strength <= 1.0:
        raise DataError(f"synthetic-vqa: prior_strength {prior_strength}: expected a probability in [0, 1]")
    items = tuple(render_item(seed, split, index, image_size, prior_strength) for index in range(size))
    meta = {"generator": GENERATOR_VERSION, "seed": seed, "split": split, "prior_strength": prior_strength,
            "image_size": image_size}
    return VqaDataset(name=f"synthetic-vqa:{split}", items=items, meta=meta)


def open_vqa(spec: str, size: int = 240, seed: int = 0, image_size: int = 32) -> VqaDataset:
    """``synthetic-vqa[:split]``, a path to a JSONL file, or a VLMEvalKit benchmark TSV (``harness.data.vlmeval``)."""
    if spec.lower().endswith(".tsv"):
        from harness.data.vlmeval import load_vlmeval_tsv

        return load_vlmeval_tsv(spec)
    if spec.startswith("synthetic-vqa"):
        _, _, split = spec.partition(":")
        return synthetic_vqa(size=size, split=split or "val", seed=seed, image_size=image_size)
    return load_vqa_jsonl(spec)

"""VLMEvalKit's TSV benchmark files (MMStar and MMBench are distributed in this format), read as
VQA items, and predictions written back in the format VLMEvalKit's eval-only mode reads.

A benchmark TSV has one row per question: ``index``, ``question``, option columns named by
capital letters (``A``, ``B``, ``C``, ``D``, ...; an empty cell means the option does not
exist), ``answer`` (the correct letter), ``category``, and ``image`` (base64-encoded JPEG/PNG;
MMBench stores, for a repeated image, the ``index`` of the row holding it). Optional ``hint``
is put before the question (as VLMEvalKit's prompt does); other columns (``l2-category``,
``split``, ...) are kept for the predictions file.

Predictions: VLMEvalKit names the file ``{model}_{dataset}.{xlsx|tsv|json}`` (``tsv`` with
``PRED_FORMAT=tsv``) and reads the benchmark's columns without the image plus ``prediction``,
matched to the benchmark by ``index``. We write the option letter the model chose (its
answer text in ``generate`` mode), which VLMEvalKit's exact-matching MCQ evaluation maps to
an option.
"""

from __future__ import annotations

import base64
import csv
import io
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.vqa import VqaDataset, VqaItem
from harness.errors import DataError

REQUIRED = ("index", "question", "answer")
LETTERS = tuple(chr(c) for c in range(ord("A"), ord("Z") + 1))


def is_vlmeval_tsv(spec: str) -> bool:
    return spec.lower().endswith(".tsv")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a TSV written by pandas (``to_csv(sep='\\t')``: quoted when needed)."""
    csv.field_size_limit(sys.maxsize)  # base64 images are far longer than csv's 128 KiB default
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = [c for c in (*REQUIRED, "image") if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: columns {missing} missing (have {reader.fieldnames}); expected VLMEvalKit's TSV "
                            "with index, question, A, B, ..., answer, image")
        for row in reader:
            yield reader.line_num, row


def _decode(text: str, where: str) -> np.ndarray:
    from PIL import Image

    if text.lstrip().startswith("["):
        raise DataError(f"{where}: image: a list of images; multi-image items are not supported")
    try:
        with Image.open(io.BytesIO(base64.b64decode(text, validate=False))) as handle:
            return np.asarray(handle.convert("RGB"), dtype=np.uint8)
    except Exception as error:  # noqa: BLE001  (binascii and PIL raise several unrelated types)
        raise DataError(f"{where}: image: not a base64 JPEG/PNG ({type(error).__name__})") from None


def _options(row: Mapping[str, str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(letters, texts) of the options present, in letter order."""
    present = [(letter, row[letter].strip()) for letter in LETTERS if (row.get(letter) or "").strip()]
    return tuple(p[0] for p in present), tuple(p[1] for p in present)


def load_vlmeval_tsv(path: str | Path) -> VqaDataset:
    """Read a VLMEvalKit benchmark TSV; images are decoded and every row checked up front."""
    source = Path(path)
    if not source.is_file():
        raise DataError(f"{source}: not found; pass a VLMEvalKit benchmark TSV (e.g. MMStar.tsv)")
    rows = list(_rows(source))
    by_index = {row["index"]: row["image"] for _, row in rows}
    items: list[VqaItem] = []
    for line, row in rows:
        where = f"{source}:{line}"
        letters, texts = _options(row)
        answer = row["answer"].strip()
        if letters and answer not in letters:
            raise DataError(f"{where}: answer {answer!r} is not one of the options {', '.join(letters)}")
        image_field = row["image"].strip()
        if image_field.isdigit() and len(image_field) <= 64:  # MMBench: the index of the row with the image
            image_field = by_index.get(image_field, "")
        hint = (row.get("hint") or "").strip()
        question = f"{hint}\n{row['question']}" if hint and hint.lower() != "nan" else row["question"]
        items.append(VqaItem(
            index=len(items), sample_id=row["index"], image=_decode(image_field, where) if image_field else None,
            question=question, choices=texts, answer=texts[letters.index(answer)] if letters else answer,
            category=row.get("category") or "",
        ))
    if not items:
        raise DataError(f"{source}: no rows")
    ids = [item.sample_id for item in items]
    if len(set(ids)) != len(ids):
        raise DataError(f"{source}: an index appears more than once; VLMEvalKit matches predictions by index")
    return VqaDataset(name=f"vlmeval:{source.stem}", items=tuple(items), meta={"format": "vlmeval-tsv", "file": source.name})


def predictions_name(model: str, data: str) -> str:
    """``{model}_{dataset}.tsv`` as VLMEvalKit names prediction files (``get_pred_file_path``)."""
    return f"{model}_{Path(data).stem}.tsv"


def write_predictions(tsv: str | Path, state: Mapping[str, Any], target: Path) -> Path:
    """The benchmark's rows without ``image`` plus ``prediction``, from one cell's records state."""
    source = Path(tsv)
    rows = list(_rows(source))
    by_id = dict(zip(state["sample_id"], zip(state["choice"], state["prediction"])))
    columns = [c for c in rows[0][1] if c != "image"] + ["prediction"]
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(columns)
    for line, row in rows:
        if row["index"] not in by_id:
            continue  # --limit: VLMEvalKit scores a subset of the benchmark's indices
        choice, text = by_id[row["index"]]
        letters, _ = _options(row)
        prediction = letters[choice] if 0 <= choice < len(letters) else text
        writer.writerow([*(row[c] for c in columns[:-1]), prediction])
    from harness.report.io import atomic_write

    atomic_write(target, out.getvalue().encode("utf-8"))
    return target


def write_predictions_beside(out_dir: Path, doc: Mapping[str, Any], cell: str = "bias/clean") -> Path | None:
    """For a run on a VLMEvalKit TSV: its clean-cell predictions in VLMEvalKit's format in ``out_dir``."""
    data = str(doc["config"]["data"])
    entry = doc["cells"].get(cell)
    if not is_vlmeval_tsv(data) or entry is None or entry["status"] != "ok":
        return None
    return write_predictions(data, entry["state"], out_dir / predictions_name(doc["model"]["name"], data))

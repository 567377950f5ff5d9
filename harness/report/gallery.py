"""The report's sample gallery: for each sample kept by ``run --save-samples`` (``samples.npz``
beside results.json), its sensor frames, the ground truth and the predicted class maps under
clean, every EMM missing set and the worst NM cells (with the corrupted frames the model saw).
Pictures are embedded as PNG data URIs: the report stays one offline file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ResultsError
from harness.report import colormap, palette, png
from harness.scenarios.cells import CLEAN_ID

SAMPLES_NAME = "samples.npz"
SAMPLES_FORMAT = "mmharness.samples"
HURT_POINTS = 10.0  # a prediction this many mIoU points below the sample's clean one is flagged


@dataclass(frozen=True)
class Gallery:
    meta: Mapping[str, Any]
    arrays: Mapping[str, np.ndarray]


def load_gallery(results: Path, doc: Mapping[str, Any]) -> Gallery | None:
    """``samples.npz`` beside ``results`` (file or folder), checked to belong to ``doc``; None when absent."""
    from harness.report.io import read_npz

    path = (results if results.is_dir() else results.parent) / SAMPLES_NAME
    if not path.exists():
        return None
    lazy = read_npz(path, "sample gallery")
    arrays = {key: lazy[key] for key in lazy}
    try:
        meta = json.loads(str(np.asarray(arrays["meta"]).reshape(-1)[0]))
    except (KeyError, ValueError, IndexError):
        raise ResultsError(f"{path}: not an mmharness sample gallery (no meta); delete it or re-run with --save-samples") from None
    if not isinstance(meta, dict) or meta.get("format") != SAMPLES_FORMAT:
        raise ResultsError(f"{path}: not an mmharness sample gallery (format {SAMPLES_FORMAT!r}); delete it or re-run")
    if meta.get("config_hash") != doc.get("config_hash") or meta.get("model_hash") != doc["model"]["hash"]:
        raise ResultsError(f"{path}: kept by another run (config or model hash differs from results.json); delete it or re-run")
    return Gallery(meta, arrays)


def _img(rgb: np.ndarray, alt: str) -> str:
    h, w = rgb.shape[:2]
    return f'<img src="{png.data_uri(rgb)}" width="{w}" height="{h}" alt="{escape(alt)}">'


def _tile(rgb: np.ndarray, caption: str, cls: str = "", attrs: str = "", tip: str = "") -> str:
    title = f' title="{escape(tip)}"' if tip else ""
    return f'<figure class="tile {cls}"{attrs}{title}>{_img(rgb, caption)}<figcaption>{caption}</figcaption></figure>'


def _cell_caption(cid: str) -> str:
    if cid == CLEAN_ID:
        return "clean"
    if cid.startswith("emm/missing="):
        return "no " + cid.split("=", 1)[1].replace("+", " + ")
    if "/preset=liao/" in cid:
        return "Liao preset, " + cid.rsplit("=", 1)[1]
    _, modality, name, severity = cid.split("/")
    return f"{modality}: {name} {severity}"


class _Painter:
    """Turns the stored arrays of one sample into pictures (frames on the clean frame's scale)."""

    def __init__(self, gallery: Gallery, doc: Mapping[str, Any]) -> None:
        self.g = gallery
        self.kinds = {m["name"]: m["kind"] for m in gallery.meta["modalities"]}
        self.palette_name, self.colours = palette.palette_for(doc["dataset"]["classes"])
        self.ignore = doc["dataset"].get("ignore_index")

    def frame(self, key: str, name: str, j: int) -> np.ndarray:
        clean = self.g.arrays[f"input/{name}"][j]
        span = colormap.display_range(clean, self.kinds[name])
        return colormap.to_rgb(self.g.arrays[key][j], self.kinds[name], span)

    def classes(self, key: str, j: int) -> np.ndarray:
        return palette.colorize(self.g.arrays[key][j], self.colours, self.ignore)


def _legend(painter: _Painter, doc: Mapping[str, Any]) -> str:
    swatches = "".join(f'<span class="swatch"><i style="background:{palette.hex_colour(c)}"></i>{escape(name)}</span>'
                       for name, c in zip(doc["dataset"]["classes"], painter.colours))
    ignore = '<span class="swatch"><i style="background:#000"></i>ignored</span>' if painter.ignore is not None else ""
    return f'<div class="legend" data-palette="{painter.palette_name}"><b>classes ({painter.palette_name} palette):</b> {swatches}{ignore}</div>'


def _sample(painter: _Painter, j: int) -> str:
    meta = painter.g.meta
    sample = meta["samples"][j]
    score = {c["id"]: c["miou"][j] for c in meta["cells"]}
    clean = score.get(CLEAN_ID)
    out = [f'<div class="sample" data-sample="{escape(sample["id"])}"><h3>{escape(sample["id"])} <small>(index {sample["index"]}, {escape(sample["role"])})</small></h3>']
    row = [_tile(painter.frame(f"input/{m}", m, j), escape(m), "input") for m in painter.kinds]
    row.append(_tile(painter.classes("label", j), "ground truth", "truth"))
    row.append(_tile(painter.classes(f"pred/{CLEAN_ID}", j), f"prediction, clean · {clean:.1f}", "pred", f' data-cell="{CLEAN_ID}"'))
    out.append('<div class="tiles">' + "".join(row) + "</div>")
    emm = [c for c in meta["cells"] if c["id"].startswith("emm/") and c["id"] != CLEAN_ID]
    if emm:
        out.append("<h4>Predictions with modalities missing (EMM)</h4><div class=\"tiles\">")
        out += [_pred_tile(painter, c["id"], j, score[c["id"]], clean) for c in emm]
        out.append("</div>")
    noisy = [c for c in meta["cells"] if c["id"].startswith("nm/")]
    if noisy:
        out.append("<h4>The worst corruptions (NM): what the model saw and predicted</h4><div class=\"tiles\">")
        for c in noisy:
            seen = sorted(k.rsplit("/", 1)[1] for k in painter.g.arrays if k.startswith(f"seen/{c['id']}/"))
            frames = "".join(_tile(painter.frame(f"seen/{c['id']}/{m}", m, j), f"{escape(m)} as seen", "input") for m in seen)
            out.append(f'<div class="group">{frames}{_pred_tile(painter, c["id"], j, score[c["id"]], clean)}</div>')
        out.append("</div>")
    return "".join(out) + "</div>"


def _pred_tile(painter: _Painter, cid: str, j: int, value: float, clean: float | None) -> str:
    hurt = clean is not None and clean - value >= HURT_POINTS
    caption = f"{escape(_cell_caption(cid))} · <b>{value:.1f}</b>"
    tip = f"{cid}: mIoU of this sample {value:.2f}" + (f" (clean {clean:.2f})" if clean is not None else "")
    return _tile(painter.classes(f"pred/{cid}", j), caption, "pred hurt" if hurt else "pred", f' data-cell="{escape(cid)}"', tip)


def render(gallery: Gallery | None, doc: Mapping[str, Any]) -> str:
    """The gallery section (or a note on how to get one)."""
    head = '<section id="samples"><h2>What the model saw and predicted</h2>'
    if gallery is None:
        return head + ('<p class="note">No samples kept for this run (sharded, or <code>--save-samples 0</code>); '
                       "run <code>mmharness run --save-samples 4</code> to see inputs, ground truth and predictions here.</p></section>")
    meta = gallery.meta
    painter = _Painter(gallery, doc)
    h, w = meta["stored_size"]
    fh, fw = meta["frame_size"]
    size = f"{w}×{h} px" + (f" (frames of {fw}×{fh} subsampled)" if (h, w) != (fh, fw) else "")
    note = (f'<p class="note">{len(meta["samples"])} samples: a seeded choice and the one the perturbations hurt most. '
            "Numbers are this sample's mIoU (classes present in the frame); red captions lose ≥ "
            f"{HURT_POINTS:g} points against its clean prediction. Pictures at {size}; depth magma, LiDAR viridis "
            "(dark: no return), thermal inferno, events as recorded.</p>")
    body = "".join(_sample(painter, j) for j in range(len(meta["samples"])))
    return head + note + _legend(painter, doc) + body + "</section>"

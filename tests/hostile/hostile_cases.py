"""The hostile-input corpus: what a hostile or unlucky user hands each command. Every case
builds its files in a private folder and returns the argv; the test expects exit 2 or 3, one
stderr line, no traceback, and every file that existed before unchanged.

Classes (issue 16): out = output paths, json = hostile JSON, range = values out of range,
flags = conflicting flags, escape = paths that escape, half = half-written inputs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from harness.data.synthetic import CLASSES as SYNTHETIC_CLASSES

GATE_OK = "floors:\n  clean: 0\n"


@dataclass
class Env:
    """What a case may use: a private folder and lazily built fixtures."""

    tmp: Path
    get: Callable[[str], Any]

    @property
    def results(self) -> Path:
        return self.get("results")

    @property
    def seg_model(self) -> Path:
        return self.get("seg_model")

    def shards(self) -> tuple[Path, Path]:
        first, second = self.get("shards")
        return (Path(shutil.copytree(first, self.tmp / "s1")), Path(shutil.copytree(second, self.tmp / "s2")))

    def file(self, name: str, text: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return path

    def thresholds(self, text: str = GATE_OK) -> Path:
        return self.file("t.yaml", text)


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # out, json, range, flags, escape, half
    command: str
    build: Callable[[Env], list[Any]]
    codes: tuple[int, ...] = (2,)
    needle: str = ""


CASES: list[Case] = []


def case(id: str, kind: str, command: str, codes: tuple[int, ...] = (2,), needle: str = "") -> Callable[[Callable[[Env], list[Any]]], Callable[[Env], list[Any]]]:
    def register(build: Callable[[Env], list[Any]]) -> Callable[[Env], list[Any]]:
        CASES.append(Case(id, kind, command, build, codes, needle))
        return build

    return register


# ---- hostile results.json, given to report (md, html), gate and merge ------------------------


def _doc(env: Env) -> dict[str, Any]:
    return json.loads((env.results / "results.json").read_text())


def _save(env: Env, doc: dict[str, Any]) -> None:
    (env.results / "results.json").write_text(json.dumps(doc, indent=2))


def _text(env: Env, change: Callable[[str], str]) -> None:
    path = env.results / "results.json"
    path.write_text(change(path.read_text()))


def _first_miou(text: str, value: str) -> str:
    return re.sub(r'"miou": [-0-9.e+]+', f'"miou": {value}', text, count=1)


def _set(path: list[Any], value: Any) -> Callable[[Env], None]:
    def damage(env: Env) -> None:
        doc = _doc(env)
        node = doc
        for key in path[:-1]:
            node = node[key] if not callable(key) else key(node)
        node[path[-1]] = value
        _save(env, doc)

    return damage


def _first_cell(cells: dict[str, Any]) -> dict[str, Any]:
    return next(iter(cells.values()))


HOSTILE_RESULTS: dict[str, Callable[[Env], None]] = {
    "nested-100000": lambda env: (env.results / "results.json").write_text("[" * 100_000 + "]" * 100_000),
    "nested-80-in-config": _set(["config", "deep"], json.loads("[" * 80 + "]" * 80)),
    "int-5000-digits": lambda env: _text(env, lambda t: _first_miou(t, "1" * 5000)),
    "miou-1e999": lambda env: _text(env, lambda t: _first_miou(t, "1e999")),
    "miou-NaN": lambda env: _text(env, lambda t: _first_miou(t, "NaN")),
    "miou--Infinity": lambda env: _text(env, lambda t: _first_miou(t, "-Infinity")),
    "miou-forged-1e308": _set(["cells", _first_cell, "figures", "miou"], 1e308),
    "miou-forged-99.99": _set(["cells", _first_cell, "figures", "miou"], 99.995),
    "miou-string": _set(["cells", _first_cell, "figures", "miou"], "high"),
    "aggregate-forged": _set(["aggregates", "emm", "values", "avg"], 100.0),
    "ci-forged": _set(["cells", _first_cell, "figures", "miou_ci"], [0.0, 1e308]),
    "figure-invented": _set(["cells", _first_cell, "figures", "bonus"], 1.0),
    "state-wrong-size": _set(["cells", _first_cell, "state", "matrix"], [[1, 2], [3, 4]]),
    "state-negative": _set(["cells", _first_cell, "state", "matrix"], [[-1] * 7] * 7),
    "sidecar-escapes": _set(["per_image", "file"], "../../../../etc/passwd"),
    "sidecar-absolute": _set(["per_image", "file"], "/etc/passwd"),
    "sidecar-sha-mismatch": _set(["per_image", "sha256"], "sha256:" + "0" * 64),
    "truncated": lambda env: _text(env, lambda t: t[: len(t) // 2]),
    "empty": lambda env: (env.results / "results.json").write_text(""),
    "binary": lambda env: (env.results / "results.json").write_bytes(bytes(range(256)) * 4),
    "utf16": lambda env: (env.results / "results.json").write_bytes(json.dumps({"format": "x"}).encode("utf-16")),
    "foreign-format": _set(["format"], "someone-else"),
    "schema-version-99": _set(["schema_version"], 99),
    "results-is-a-list": lambda env: (env.results / "results.json").write_text("[1, 2, 3]"),
}
SIDECAR_ONLY = {"sidecar-escapes", "sidecar-absolute", "sidecar-sha-mismatch"}  # report reads no sidecar


def _consumer(name: str, damage: Callable[[Env], None], consumer: str) -> Callable[[Env], list[Any]]:
    def build(env: Env) -> list[Any]:
        damage(env)
        if consumer == "report-md":
            return ["report", env.results]
        if consumer == "report-html":
            return ["report", env.results, "--format", "html", "-o", env.tmp / "r.html"]
        if consumer == "gate":
            return ["gate", env.results, "--thresholds", env.thresholds("floors:\n  clean: 99.99\n")]
        first, second = env.shards()
        shutil.copy(env.results / "results.json", first / "results.json")
        return ["merge", first, second, "-o", env.tmp / "merged"]

    return build


for _name, _damage in HOSTILE_RESULTS.items():
    for _consumer_name in ("report-md", "report-html", "gate", "merge"):
        if _name in SIDECAR_ONLY and _consumer_name.startswith("report"):
            continue
        if _consumer_name == "report-html" and _name not in ("miou-1e999", "nested-100000", "int-5000-digits", "miou-forged-1e308"):
            continue
        _command = _consumer_name.split("-")[0]
        CASES.append(Case(f"json/{_name}/{_consumer_name}", "json", _command, _consumer(_name, _damage, _consumer_name)))


def _bias_results(env: Env, damage: Callable[[dict[str, Any]], None]) -> Path:
    """A small bias run of the shipped VLM, then ``damage`` applied to its results.json."""
    from harness.cli import main

    out = env.tmp / "bias"
    assert main(["bias", "--limit", "4", "--permutations", "1", "--corruptions", "", "--bootstrap", "20", "--out", str(out)]) == 0
    doc = json.loads((out / "results.json").read_text())
    damage(doc)
    (out / "results.json").write_text(json.dumps(doc))
    return out


def _forge_accuracy(doc: dict[str, Any]) -> None:
    doc["cells"]["bias/clean"]["figures"]["accuracy"] = 100.0


def _forge_gain_ci(doc: dict[str, Any]) -> None:
    doc["aggregates"]["bias"]["ci"]["multimodal_gain"] = {"low": 50.0, "high": -50.0, "level": 0.95}


for _name, _forge, _needle in (("accuracy-forged", _forge_accuracy, "figures/accuracy"), ("ci-reversed", _forge_gain_ci, "confidence interval")):
    CASES.append(Case(f"json/bias-{_name}/gate", "json", "gate",
                      lambda env, f=_forge: ["gate", _bias_results(env, f), "--thresholds", env.thresholds("floors:\n  cell:bias/clean: 99\n")],
                      needle=_needle))


# ---- output paths ---------------------------------------------------------------------------


def _a_file(env: Env) -> Path:
    return env.file("taken.txt", "someone's file\n")


@case("out/run-out-is-file", "out", "run")
def _(env: Env) -> list[Any]:
    return ["run", env.seg_model, "--data", "synthetic:size=32,length=4", "--out", _a_file(env)]


@case("out/run-out-under-file", "out", "run")
def _(env: Env) -> list[Any]:
    return ["run", env.seg_model, "--data", "synthetic:size=32,length=4", "--out", _a_file(env) / "out"]


@case("out/run-results-json-is-folder", "out", "run")
def _(env: Env) -> list[Any]:
    (env.tmp / "out" / "results.json").mkdir(parents=True)
    return ["run", env.seg_model, "--data", "synthetic:size=32,length=4", "--out", env.tmp / "out"]


@case("out/run-cells-is-file", "out", "run")
def _(env: Env) -> list[Any]:
    env.file("out/cells", "not a folder")
    return ["run", env.seg_model, "--data", "synthetic:size=32,length=4", "--out", env.tmp / "out"]


@case("out/report-o-is-folder", "out", "report")
def _(env: Env) -> list[Any]:
    (env.tmp / "dir").mkdir()
    return ["report", env.results, "-o", env.tmp / "dir"]


@case("out/report-o-under-file", "out", "report")
def _(env: Env) -> list[Any]:
    return ["report", env.results, "--format", "html", "-o", _a_file(env) / "r.html"]


@case("out/gate-junit-is-folder", "out", "gate")
def _(env: Env) -> list[Any]:
    (env.tmp / "dir").mkdir()
    return ["gate", env.results, "--thresholds", env.thresholds(), "--junit", env.tmp / "dir"]


@case("out/gate-junit-under-file", "out", "gate")
def _(env: Env) -> list[Any]:
    return ["gate", env.results, "--thresholds", env.thresholds(), "--junit", _a_file(env) / "gate.xml"]


@case("out/merge-o-is-file", "out", "merge")
def _(env: Env) -> list[Any]:
    return ["merge", *env.shards(), "-o", _a_file(env)]


@case("out/merge-o-under-file", "out", "merge")
def _(env: Env) -> list[Any]:
    return ["merge", *env.shards(), "-o", _a_file(env) / "m"]


@case("out/merge-results-json-is-folder", "out", "merge")
def _(env: Env) -> list[Any]:
    (env.tmp / "m" / "results.json").mkdir(parents=True)
    return ["merge", *env.shards(), "-o", env.tmp / "m"]


@case("out/bias-out-is-file", "out", "bias")
def _(env: Env) -> list[Any]:
    return ["bias", "--out", _a_file(env), "--limit", "4"]


@case("out/bias-out-under-file", "out", "bias")
def _(env: Env) -> list[Any]:
    return ["bias", "--out", _a_file(env) / "b", "--limit", "4"]


@case("out/bias-results-json-is-folder", "out", "bias")
def _(env: Env) -> list[Any]:
    (env.tmp / "b" / "results.json").mkdir(parents=True)
    return ["bias", "--out", env.tmp / "b", "--limit", "4"]


@case("out/bench-out-is-file", "out", "bench")
def _(env: Env) -> list[Any]:
    return ["bench", env.seg_model, "--data", "synthetic:size=32,length=2", "--out", _a_file(env)]


@case("out/bench-out-under-file", "out", "bench")
def _(env: Env) -> list[Any]:
    return ["bench", env.seg_model, "--data", "synthetic:size=32,length=2", "--out", _a_file(env) / "b"]


@case("out/bench-json-is-folder", "out", "bench")
def _(env: Env) -> list[Any]:
    (env.tmp / "b" / "bench.json").mkdir(parents=True)
    return ["bench", env.seg_model, "--data", "synthetic:size=32,length=2", "--out", env.tmp / "b"]


def _png(env: Env) -> Path:
    from PIL import Image

    path = env.tmp / "photo.png"
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(path)
    return path


@case("out/preview-out-is-file", "out", "corruptions")
def _(env: Env) -> list[Any]:
    return ["corruptions", "preview", "--modality", "rgb", "--input", _png(env), "--out", _a_file(env)]


@case("out/preview-out-under-file", "out", "corruptions")
def _(env: Env) -> list[Any]:
    return ["corruptions", "preview", "--modality", "rgb", "--input", _png(env), "--out", _a_file(env) / "p"]


@case("out/export-mmss-out-under-file", "out", "export")
def _(env: Env) -> list[Any]:
    return ["export", "mmss", "--model", "x:y", "--modalities", "rgb", "--classes", "a,b", "--out", _a_file(env) / "m"]


@case("out/export-mmss-model-onnx-is-folder", "out", "export", needle="model.onnx")
def _(env: Env) -> list[Any]:
    (env.tmp / "m" / "model.onnx").mkdir(parents=True)
    return ["export", "mmss", "--model", "x:y", "--modalities", "rgb", "--classes", "a,b", "--out", env.tmp / "m"]


@case("out/export-mllm-decoder-is-folder", "out", "export", needle="decoder.onnx")
def _(env: Env) -> list[Any]:
    (env.tmp / "m" / "decoder.onnx").mkdir(parents=True)
    return ["export", "mllm", "--model", env.tmp, "--tokenizer", env.tmp / "t.json", "--out", env.tmp / "m"]


@case("out/export-mllm-out-is-file", "out", "export")
def _(env: Env) -> list[Any]:
    return ["export", "mllm", "--model", env.tmp, "--tokenizer", env.tmp / "t.json", "--out", _a_file(env)]


@case("out/export-mllm-out-under-file", "out", "export")
def _(env: Env) -> list[Any]:
    return ["export", "mllm", "--model", env.tmp, "--tokenizer", env.tmp / "t.json", "--out", _a_file(env) / "m"]


@case("out/build-variant-is-folder", "out", "build", needle="model.int8.onnx")
def _(env: Env) -> list[Any]:
    model = Path(shutil.copytree(env.seg_model, env.tmp / "m"))
    (model / "model.int8.onnx").mkdir()
    return ["build", model, "--precision", "int8", "--target", "ort", "--calib-data", "synthetic:size=32,length=4", "--calib-samples", "4", "--calib-batch", "2"]


# ---- values out of range ----------------------------------------------------------------------


def _run(env: Env, *flags: Any) -> list[Any]:
    return ["run", env.seg_model, "--data", "synthetic:size=32,length=4", "--out", env.tmp / "out", "--progress", "off", *flags]


for _rates in ("1.5", "0", "-0.25", "nan", "inf", "0.5,abc", "1e999"):
    CASES.append(Case(f"range/rmm-rates={_rates}", "range", "run", lambda env, r=_rates: _run(env, "--scenarios", "rmm", "--rmm-rates", r), needle="--rmm-rates"))

for _name, _text_value in {
    "floor-nan": "floors:\n  clean: .nan\n",
    "floor-inf": "floors:\n  clean: .inf\n",
    "floor-huge-int": "floors:\n  clean: " + "9" * 400 + "\n",
    "floor-int-5000-digits": "floors:\n  clean: " + "9" * 5000 + "\n",
    "floor-string": "floors:\n  clean: high\n",
    "floor-list": "floors:\n  clean: [1, 2]\n",
    "max-drop-negative-inf": "max_drop:\n  clean: -.inf\n",
    "floors-nested-deep": "floors: " + "[" * 200 + "]" * 200 + "\n",
    "yaml-alias-bomb": "a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\nfloors: {clean: 1}\n",
    "python-object-tag": "floors: !!python/object/apply:os.system ['true']\n",
    "not-a-mapping": "- clean\n- 60\n",
    "unknown-key": "floor:\n  clean: 60\n",
    "binary": "\x00\x01\x02",
}.items():
    CASES.append(Case(f"range/thresholds-{_name}", "range", "gate",
                      lambda env, t=_text_value: ["gate", env.results, "--thresholds", env.file("bad.yaml", t)], needle="bad.yaml"))


for _drop in ("nan", "inf"):
    CASES.append(Case(f"range/gate-max-drop-{_drop}", "range", "gate",
                      lambda env, d=_drop: ["gate", env.results, "--baseline", env.results, "--max-drop", d], needle="--max-drop"))


@case("range/dynamic-class-axis-5-of-7", "range", "run", needle="channels")
def _(env: Env) -> list[Any]:
    from onnx_graphs import build_seg_model_dir

    model = build_seg_model_dir(env.tmp / "dyn", {m: 3 for m in ("rgb", "depth", "event", "lidar")}, num_classes=5, size=(32, 32))
    proto = onnx.load(model.path)
    dim = proto.graph.output[0].type.tensor_type.shape.dim[1]
    dim.Clear()
    dim.dim_param = "classes"
    onnx.save(proto, model.path)
    manifest = json.loads((Path(model.dir) / "manifest.json").read_text())
    manifest["classes"] = list(SYNTHETIC_CLASSES)  # the dataset's 7 names: only the graph disagrees
    (Path(model.dir) / "manifest.json").write_text(json.dumps(manifest))
    return ["run", model.dir, "--data", "synthetic:size=32,length=4", "--scenarios", "emm", "--out", env.tmp / "out", "--progress", "off"]


def _spec(env: Env, text: str) -> list[Any]:
    spec = env.file("spec.yaml", text)
    return ["export", "mmss", "--model", "x:y", "--modalities", "rgb", "--classes", "a,b", "--out", env.tmp / "m", "--modality-spec", spec]


for _name, _spec_text in {
    "channels-abc": "- {name: rgb, channels: abc}\n",
    "channels-zero": "- {name: rgb, channels: 0}\n",
    "channels-bool": "- {name: rgb, channels: true}\n",
    "channels-huge": "- {name: rgb, channels: " + "9" * 30 + "}\n",
    "name-list": "- {name: [rgb, depth]}\n",
    "name-missing": "- {channels: 3}\n",
    "name-duplicate": "- {name: rgb}\n- {name: rgb}\n",
    "not-a-list": "name: rgb\n",
    "entry-not-mapping": "- rgb\n",
    "names-disagree": "- {name: depth}\n",
    "nan": "- {name: rgb, channels: .nan}\n",
}.items():
    CASES.append(Case(f"range/modality-spec-{_name}", "range", "export", lambda env, t=_spec_text: _spec(env, t), needle="--modality-spec"))


# ---- conflicting flags --------------------------------------------------------------------------


@case("flags/resume-and-overwrite", "flags", "run", needle="--overwrite")
def _(env: Env) -> list[Any]:
    return _run(env, "--resume", "--overwrite")


@case("flags/resume-and-overwrite-over-finished-run", "flags", "run", needle="--resume")
def _(env: Env) -> list[Any]:
    return ["run", env.seg_model, "--out", env.results, "--resume", "--overwrite"]


@case("flags/gate-max-drop-with-thresholds", "flags", "gate")
def _(env: Env) -> list[Any]:
    return ["gate", env.results, "--thresholds", env.thresholds(), "--max-drop", "1"]


@case("flags/doctor-unknown-flag", "flags", "doctor")
def _(env: Env) -> list[Any]:
    return ["doctor", "--no-such-flag"]


@case("flags/validate-no-model", "flags", "validate")
def _(env: Env) -> list[Any]:
    return ["validate", env.tmp / "nowhere"]


@case("flags/corruptions-unknown-kind", "flags", "corruptions")
def _(env: Env) -> list[Any]:
    return ["corruptions", "--kind", "smell"]


@case("flags/build-unknown-precision", "flags", "build")
def _(env: Env) -> list[Any]:
    return ["build", env.seg_model, "--precision", "int3", "--target", "ort", "--dry-run"]


@case("flags/bench-batch-zero", "flags", "bench")
def _(env: Env) -> list[Any]:
    return ["bench", env.seg_model, "--batch", "0", "--out", env.tmp / "b"]


# ---- paths that escape ----------------------------------------------------------------------------


def _vqa(env: Env, image: str | None, setup: Callable[[Path], None] = lambda folder: None) -> list[Any]:
    folder = env.tmp / "vqa"
    (folder / "images").mkdir(parents=True)
    setup(folder)
    item = {"id": "q1", "image": image, "question": "what color is the circle ?", "choices": ["red", "blue"], "answer": "red"}
    jsonl = env.file("vqa/data.jsonl", json.dumps(item) + "\n" + json.dumps({**item, "id": "q2"}) + "\n")
    return ["bias", "--data", jsonl, "--out", env.tmp / "b", "--limit", "2"]


def _outside_png(folder: Path) -> None:
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder.parent / "outside.png")


@case("escape/vqa-image-dotdot", "escape", "bias", needle="outside")
def _(env: Env) -> list[Any]:
    return _vqa(env, "../outside.png", _outside_png)


@case("escape/vqa-image-absolute", "escape", "bias", needle="absolute")
def _(env: Env) -> list[Any]:
    _outside_png(env.tmp / "vqa")
    return _vqa(env, str(env.tmp / "outside.png"))


@case("escape/vqa-image-symlink-out", "escape", "bias", needle="outside")
def _(env: Env) -> list[Any]:
    def link(folder: Path) -> None:
        _outside_png(folder)
        os.symlink(folder.parent / "outside.png", folder / "images" / "q1.png")

    return _vqa(env, "images/q1.png", link)


@case("escape/vqa-image-etc-passwd", "escape", "bias")
def _(env: Env) -> list[Any]:
    return _vqa(env, "../../../../../../../../etc/passwd")


def _vlm_copy(env: Env) -> Path:
    from harness.zoo import shipped_model

    return Path(shutil.copytree(shipped_model("vlm-synth-tiny"), env.tmp / "vlm"))


@case("escape/tokenizer-symlink-out", "escape", "bias", needle="vqa.tokenizer")
def _(env: Env) -> list[Any]:
    vlm = _vlm_copy(env)
    shutil.move(vlm / "tokenizer.json", env.tmp / "tokenizer.json")
    os.symlink(env.tmp / "tokenizer.json", vlm / "tokenizer.json")
    return ["bias", vlm, "--out", env.tmp / "b", "--limit", "4"]


@case("escape/tokenizer-dotdot", "escape", "validate", needle="vqa.tokenizer")
def _(env: Env) -> list[Any]:
    vlm = _vlm_copy(env)
    manifest = json.loads((vlm / "manifest.json").read_text())
    shutil.copy(vlm / "tokenizer.json", env.tmp / "tokenizer.json")
    manifest["vqa"]["tokenizer"] = "../tokenizer.json"
    (vlm / "manifest.json").write_text(json.dumps(manifest))
    return ["validate", vlm]


@case("escape/base-llm-is-segmentation", "escape", "bias", needle="--base-llm")
def _(env: Env) -> list[Any]:
    return ["bias", "--base-llm", env.seg_model, "--out", env.tmp / "b", "--limit", "4"]


def _folder_spec(env: Env, label: str, modalities: str = '{rgb: "rgb/{id}.png"}') -> list[Any]:
    spec = env.file("data/spec.yaml", f"classes: [a, b]\nmodalities: {modalities}\nlabel: \"{label}\"\n")
    return ["run", env.seg_model, "--data", f"folder:{spec}", "--out", env.tmp / "out"]


@case("escape/folder-label-absolute", "escape", "run", needle="label")
def _(env: Env) -> list[Any]:
    return _folder_spec(env, "/etc/{id}")


@case("escape/folder-label-dotdot", "escape", "run", needle="label")
def _(env: Env) -> list[Any]:
    return _folder_spec(env, "../../{id}.png")


@case("escape/folder-modality-absolute", "escape", "run", needle="modalities.rgb")
def _(env: Env) -> list[Any]:
    return _folder_spec(env, "label/{id}.png", '{rgb: "/tmp/{id}.png"}')


@case("range/folder-label-map-huge", "range", "run", needle="label_map")
def _(env: Env) -> list[Any]:
    spec = env.file("data/spec.yaml", 'classes: [a, b]\nmodalities: {rgb: "rgb/{id}.png"}\nlabel: "label/{id}.png"\nlabel_map: {0: ' + "9" * 400 + "}\n")
    return ["run", env.seg_model, "--data", f"folder:{spec}", "--out", env.tmp / "out"]


@case("escape/folder-label-symlink-out", "escape", "run", needle="outside")
def _(env: Env) -> list[Any]:
    from PIL import Image

    data = env.tmp / "data"
    (data / "rgb").mkdir(parents=True)
    (data / "label").mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(data / "rgb" / "f0.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(env.tmp / "stolen.png")
    os.symlink(env.tmp / "stolen.png", data / "label" / "f0.png")
    return _folder_spec(env, "label/{id}.png")


def _external_passwd(env: Env) -> Path:
    """A copy of the ONNX model with an unused initializer whose external data is /etc/passwd."""
    model = Path(shutil.copytree(env.seg_model, env.tmp / "evil"))
    proto = onnx.load(str(model / "model.onnx"))
    tensor = onnx.TensorProto(name="unused_secret", data_type=onnx.TensorProto.UINT8, dims=[16])
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", "/etc/passwd"), ("offset", "0"), ("length", "16")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    proto.graph.initializer.append(tensor)
    (model / "model.onnx").write_bytes(proto.SerializeToString())
    return model


@case("escape/external-data-etc-passwd-run", "escape", "run", needle="outside the model")
def _(env: Env) -> list[Any]:
    return ["run", _external_passwd(env), "--data", "synthetic:size=32,length=4", "--out", env.tmp / "out", "--progress", "off"]


@case("escape/external-data-etc-passwd-bench", "escape", "bench", codes=(2, 3), needle="outside the model")  # bench: a model that fails to load is 3
def _(env: Env) -> list[Any]:
    return ["bench", _external_passwd(env), "--data", "synthetic:size=32,length=2", "--out", env.tmp / "b", "--duration", "0", "--iterations", "1"]


@case("escape/external-data-etc-passwd-validate", "escape", "validate", needle="outside the model")
def _(env: Env) -> list[Any]:
    return ["validate", _external_passwd(env)]


@case("escape/external-data-etc-passwd-build", "escape", "build")
def _(env: Env) -> list[Any]:
    return ["build", _external_passwd(env), "--precision", "int8", "--target", "ort", "--calib-data", "synthetic:size=32,length=4", "--calib-samples", "4"]


# ---- half-written inputs --------------------------------------------------------------------------


def _hf_folder(env: Env, config: str | None = '{"architectures": ["LlavaForConditionalGeneration"], "model_type": "llava"}',
               weights: bool = True, tokenizer: str | None = None) -> list[Any]:
    folder = env.tmp / "hf"
    folder.mkdir()
    if config is not None:
        (folder / "config.json").write_text(config)
    if weights:
        (folder / "model.safetensors").write_bytes(b"\0" * 16)
    if tokenizer is None:
        from harness.zoo import shipped_model

        tok = Path(shutil.copy(shipped_model("vlm-synth-tiny") / "tokenizer.json", env.tmp / "tokenizer.json"))
    else:
        tok = env.file("tokenizer.json", tokenizer)
    return ["export", "mllm", "--model", folder, "--tokenizer", tok, "--out", env.tmp / "out", "--no-parity"]


for _name, _kwargs in {
    "config-invalid-json": {"config": '{"architectures": ["Llava'},
    "config-a-list": {"config": "[1, 2]"},
    "config-missing": {"config": None},
    "config-nested-deep": {"config": "[" * 5000 + "]" * 5000},
    "config-nan": {"config": '{"architectures": ["LlavaForConditionalGeneration"], "x": NaN}'},
    "no-weights": {"weights": False},
    "tokenizer-garbage": {"tokenizer": "garbage, not json"},
    "tokenizer-wrong-json": {"tokenizer": '{"model": 3}'},
    "tokenizer-empty": {"tokenizer": ""},
}.items():
    CASES.append(Case(f"half/export-mllm-{_name}", "half", "export", lambda env, k=_kwargs: _hf_folder(env, **k)))


@case("half/export-mllm-tokenizer-is-folder", "half", "export", needle="--tokenizer")
def _(env: Env) -> list[Any]:
    argv = _hf_folder(env)
    (env.tmp / "tokdir").mkdir()
    argv[argv.index("--tokenizer") + 1] = env.tmp / "tokdir"
    return argv


@case("half/export-mllm-model-missing", "half", "export", needle="--model")
def _(env: Env) -> list[Any]:
    return ["export", "mllm", "--model", env.tmp / "nope", "--tokenizer", env.tmp / "t.json", "--out", env.tmp / "out"]


def _damaged_manifest(env: Env, text: str) -> Path:
    model = Path(shutil.copytree(env.seg_model, env.tmp / "m"))
    (model / "manifest.json").write_text(text)
    return model


for _name, _manifest_text in {
    "truncated": '{"schema_version": 1, "name": "x", "task": "segm',
    "nested-deep": "[" * 100_000 + "]" * 100_000,
    "int-5000-digits": '{"schema_version": ' + "1" * 5000 + "}",
    "nan": '{"schema_version": NaN}',
    "empty": "",
}.items():
    for _command in ("run", "validate", "bench"):
        def _build(env: Env, t: str = _manifest_text, c: str = _command) -> list[Any]:
            model = _damaged_manifest(env, t)
            if c == "validate":
                return ["validate", model]
            return [c, model, "--data", "synthetic:size=32,length=2", "--out", env.tmp / "o"]

        CASES.append(Case(f"half/manifest-{_name}-{_command}", "half", _command, _build, needle="manifest.json"))


for _name, _line in {
    "truncated-line": '{"id": "q1", "question": "wh',
    "nested-deep": "[" * 100_000 + "]" * 100_000,
    "int-5000-digits": '{"id": ' + "1" * 5000 + ', "question": "q", "answer": "a"}',
    "nan-field": '{"id": "q1", "question": "q", "answer": "a", "x": NaN}',
    "not-an-object": "[1, 2]",
    "image-a-number": '{"id": "q1", "image": 7, "question": "q", "answer": "a"}',
}.items():
    CASES.append(Case(f"half/vqa-jsonl-{_name}", "half", "bias",
                      lambda env, line=_line: ["bias", "--data", env.file("v/data.jsonl", line + "\n"), "--out", env.tmp / "b", "--limit", "2"],
                      needle="data.jsonl"))


@case("half/run-resume-run-json-truncated", "half", "run", needle="run.json")
def _(env: Env) -> list[Any]:
    out = env.tmp / "out"
    (out / "cells").mkdir(parents=True)
    (out / "run.json").write_text('{"config": {"seed": ')
    return _run(env, "--resume")


RESUMABLE_FLAGS = ("--scenarios", "emm", "--bootstrap", "0")


def _resume_damaged(env: Env, damage: Callable[[Path], None]) -> list[Any]:
    """A run killed before its end (``resumable_run``) whose first cell record is then damaged, resumed."""
    out = Path(shutil.copytree(env.get("resumable_run"), env.tmp / "out"))
    damage(sorted((out / "cells").glob("*.json"))[0])
    return [*_run(env, *RESUMABLE_FLAGS), "--resume"]


def _cell_field(key: str, value: Any) -> Callable[[Path], None]:
    def damage(cell: Path) -> None:
        cell.write_text(json.dumps({**json.loads(cell.read_text()), key: value}))

    return damage


def _npz_of_shape(cell: Path) -> None:
    np.savez(cell.with_name(cell.name.removesuffix(".json") + ".npz"), per_image=np.zeros((2, 3, 3), np.int64))


for _name, _damage_cell in {
    "nested-deep": lambda cell: cell.write_text("[" * 100_000 + "]" * 100_000),
    "status-unknown": _cell_field("status", "maybe"),
    "id-not-a-string": _cell_field("id", 5),
    "state-garbage": _cell_field("state", {"matrix": "x"}),
    "n-samples-negative": _cell_field("n_samples", -5),
    "matrices-of-another-shape": _npz_of_shape,
}.items():
    CASES.append(Case(f"half/run-resume-cell-{_name}", "half", "run", lambda env, d=_damage_cell: _resume_damaged(env, d), needle="cells/"))


@case("half/corruptions-preview-input-garbage", "half", "corruptions", needle="--input")
def _(env: Env) -> list[Any]:
    return ["corruptions", "preview", "--modality", "rgb", "--input", env.file("x.png", b"\x89PNG garbage"), "--out", env.tmp / "p"]

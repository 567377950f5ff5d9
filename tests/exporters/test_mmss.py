"""MMSS export: round trips for list/dict/kwargs models, the folded-input and parity failures, bad input."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from exporters.mmss import (
    ExportError,
    MmssExportConfig,
    default_modality,
    export_mmss,
    load_factory,
)
from exporters.verify import ParityError
from harness.cli import main
from harness.errors import ConfigError, ExitCode
from harness.manifest import load_manifest, validate_against_graph

SIZE = (8, 8)
NAMES = ("rgb", "depth", "event")


class Fusion(nn.Module):
    """Every modality matters and each has its own weights (so a swapped input would show)."""

    def __init__(self, n: int = 3, classes: int = 4) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(3, classes, 3, padding=1) for _ in range(n))

    def fuse(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return sum(conv(x) * (i + 1) for i, (conv, x) in enumerate(zip(self.convs, xs)))


class ListModel(Fusion):
    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return self.fuse(x)


class DictModel(Fusion):
    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.fuse([batch["rgb"], batch["depth"], batch["event"]])


class KwargsModel(Fusion):
    def forward(self, rgb: torch.Tensor, depth: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
        return self.fuse([rgb, depth, event])


class IgnoresDepth(Fusion):
    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return self.fuse([x[0], torch.zeros_like(x[0]), x[2]])


class Mismatched(Fusion):
    """Computes something else while being exported: the parity check must catch it."""

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        out = self.fuse(x)
        if torch.onnx.is_in_onnx_export():
            out = out + 0.01
        return out


def config(**overrides) -> MmssExportConfig:
    values = {
        "name": "tiny",
        "modalities": tuple(default_modality(n) for n in NAMES),
        "classes": ("a", "b", "c", "d"),
        "input_size": SIZE,
    }
    values.update(overrides)
    return MmssExportConfig(**values)


def run_onnx(path, feed):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feed)[0]


def distinct_inputs(batch: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {n: rng.standard_normal((batch, 3, *SIZE)).astype(np.float32) for n in NAMES}


def test_list_model_round_trip_with_dynamic_batch(tmp_path):
    torch.manual_seed(0)
    model = ListModel().eval()
    result = export_mmss(model, tmp_path, config())
    graph = onnx.load(str(result.onnx_path))
    assert [i.name for i in graph.graph.input] == list(NAMES)
    assert [o.name for o in graph.graph.output] == ["logits"]
    manifest = load_manifest(str(tmp_path))
    contract = validate_against_graph(manifest)
    assert contract is not None
    doc = json.loads(result.manifest_path.read_text())
    assert doc["provenance"]["exporter"] == "torch.onnx (dynamo)" and doc["provenance"]["opset"] == 18
    assert doc["batch"] == {"dynamic": True, "max": 16}
    assert set(doc["parity"]["cases"]) == {"random", "missing=rgb", "missing=depth", "missing=event"}
    assert doc["parity"]["passed"] is True
    # a batch size never seen at export time, checked against an independent torch evaluation
    feed = distinct_inputs(5)
    with torch.no_grad():
        expected = model([torch.from_numpy(feed[n]) for n in NAMES]).numpy()
    np.testing.assert_allclose(run_onnx(result.onnx_path, feed), expected, atol=1e-5)
    # inputs are not interchangeable: swapping two modalities changes the output
    swapped = dict(feed, rgb=feed["depth"], depth=feed["rgb"])
    assert np.abs(run_onnx(result.onnx_path, swapped) - expected).max() > 1e-3


def test_dict_model_with_torchscript_exporter_and_static_batch(tmp_path):
    model = DictModel().eval()
    result = export_mmss(model, tmp_path, config(call="dict", exporter="torchscript", opset=17, dynamic_batch=False, static_batch=2))
    doc = json.loads(result.manifest_path.read_text())
    assert doc["provenance"]["exporter"] == "torch.onnx (torchscript)" and doc["provenance"]["opset"] == 17
    assert doc["batch"] == {"dynamic": False, "size": 2}
    feed = distinct_inputs(2)
    with torch.no_grad():
        expected = model({n: torch.from_numpy(v) for n, v in feed.items()}).numpy()
    np.testing.assert_allclose(run_onnx(result.onnx_path, feed), expected, atol=1e-5)


def test_kwargs_model_argmax_variant(tmp_path):
    model = KwargsModel().eval()
    result = export_mmss(model, tmp_path, config(call="kwargs", argmax=True))
    doc = json.loads(result.manifest_path.read_text())
    assert doc["outputs"] == [{"name": "class_map", "role": "class_map", "layout": "NHW"}]
    feed = distinct_inputs(3)
    with torch.no_grad():
        logits = model(**{n: torch.from_numpy(v) for n, v in feed.items()}).numpy()
    out = run_onnx(result.onnx_path, feed)
    assert out.shape == (3, *SIZE) and out.dtype == np.int64
    assert np.array_equal(out, logits.argmax(1))


def test_input_folded_away_is_an_error(tmp_path):
    with pytest.raises(ExportError, match="modality 'depth' .*folded away"):
        export_mmss(IgnoresDepth().eval(), tmp_path, config())


def test_parity_failure_fails_the_export_and_keeps_an_earlier_one(tmp_path):
    with pytest.raises(ParityError, match=r"parity FAILED on case 'random', output 'logits': max abs error 0\.01"):
        export_mmss(Mismatched().eval(), tmp_path, config())
    assert not (tmp_path / "manifest.json").exists() and not (tmp_path / "model.onnx").exists()
    good = export_mmss(ListModel().eval(), tmp_path, config())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ParityError):  # a failed re-export into the same folder
        export_mmss(Mismatched().eval(), tmp_path, config())
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert validate_against_graph(load_manifest(str(good.manifest_path.parent))) is not None


def test_modality_names_must_match_the_forward_signature(tmp_path):
    bad = config(call="kwargs", modalities=tuple(default_modality(n) for n in ("rgb", "depth", "thermal")))
    with pytest.raises(ExportError, match=r"modality names \['thermal'\] do not match the forward signature"):
        export_mmss(KwargsModel().eval(), tmp_path, bad)
    with pytest.raises(ExportError, match="cannot be called with --call dict"):
        export_mmss(DictModel().eval(), tmp_path, config(call="dict", modalities=bad.modalities))


@torch.library.custom_op("mmharness_test::mystery", mutates_args=())
def _mystery(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@_mystery.register_fake
def _(x):
    return torch.empty_like(x)


class Unsupported(Fusion):
    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return _mystery(self.fuse(x))


@pytest.mark.parametrize(("exporter", "opset"), [("dynamo", 18), ("torchscript", 17)])
def test_unsupported_op_names_op_and_opset(tmp_path, capfd, exporter, opset):
    pattern = rf"operator mmharness_test::mystery is not supported by the {exporter} exporter at opset {opset}"
    with pytest.raises(ExportError, match=pattern):
        export_mmss(Unsupported().eval(), tmp_path, config(exporter=exporter, opset=opset))
    # the exporters dump graphs to fds 1/2 (TorchScript from C++) on failure: kept in a log the error names, off the terminal
    out, err = capfd.readouterr()
    assert out == "" and "graph" not in err.lower()
    assert not (tmp_path / "model.onnx").exists()
    if exporter == "torchscript":  # its C++ dump always lands in the log; dynamo's logging depends on torch's log config
        assert "mmharness_test::mystery" in (tmp_path / "tiny.export.log").read_text()


class DataDependent(Fusion):
    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        y = self.fuse(x)
        return y if x[0].abs().mean() > 0.5 else -y  # random inputs: ~0.8; rgb missing (zeros): 0


def test_data_dependent_branch_names_the_root_cause(tmp_path):
    # dynamo refuses with its innermost cause (not the generic "step 1/3" headline); TorchScript bakes one branch in
    with pytest.raises(ExportError, match=r"export failed by the dynamo exporter at opset 18 \(GuardOnDataDependentSymNode: "):
        export_mmss(DataDependent().eval(), tmp_path, config())
    with pytest.raises(ParityError, match="parity FAILED on case 'missing=rgb'"):
        export_mmss(DataDependent().eval(), tmp_path, config(exporter="torchscript"))


class Tied(nn.Module):
    """Classes 0 and 1 score exactly the same everywhere (2 and 3 score 10 less); the export nudges one class up at one pixel."""

    def __init__(self, nudge: float, cls: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(9, 1, 3, padding=1)
        bump = torch.zeros(1, 4, *SIZE)
        bump[0, cls, 2, 5] = nudge
        self.register_buffer("bump", bump)

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        z = self.conv(torch.cat(x, 1))
        out = torch.cat([z, z, z - 10, z - 10], 1)
        if torch.onnx.is_in_onnx_export():
            out = out + self.bump
        return out


def test_argmax_parity_allows_a_few_near_ties_only(tmp_path):
    # 1 flipped pixel per image of 8 x 8: 1/64 of the map, all at exact ties of the torch logits
    result = export_mmss(Tied(1e-6).eval(), tmp_path / "ok", config(argmax=True, tie_fraction=0.02))
    figures = json.loads(result.manifest_path.read_text())["parity"]["cases"]["random"]["class_map"]
    assert figures["near_ties"] == 3 and figures["mismatches"] == 0 and figures["numel"] == 3 * 64
    assert figures["class_agreement"] == pytest.approx(1 - 1 / 64)
    with pytest.raises(ParityError, match=r"at 0 clear pixels and 3 near ties of 192 \(allowed: 0 clear, near ties <= 0\.01"):
        export_mmss(Tied(1e-6).eval(), tmp_path / "strict", config(argmax=True, tie_fraction=0.01))
    # a flip to a class 10 below the top is never a tie, whatever the allowance
    with pytest.raises(ParityError, match=r"at 3 clear pixels and 0 near ties of 192 .*largest logit gap 10"):
        export_mmss(Tied(20.0, cls=2).eval(), tmp_path / "clear", config(argmax=True, tie_fraction=1.0))


def test_class_map_parity_against_a_hand_loop():
    from exporters.verify import class_map_parity
    from harness.metrics.parity import Tolerance

    rng = np.random.default_rng(4)
    logits = rng.standard_normal((2, 5, 6, 7))
    logits[0, 3, 1, 1] = logits[0, :, 1, 1].max() - 1e-7  # a near tie for class 3 at (0, 1, 1)
    candidate = logits.argmax(1)
    candidate[0, 1, 1] = 3
    candidate[1, 4, 6] = (candidate[1, 4, 6] + 1) % 5  # an arbitrary flip: almost surely not a tie
    tol = Tolerance(1e-4, 1e-3)
    ties = clear = 0
    for n, y, x in np.ndindex(2, 6, 7):
        top, chosen = logits[n, :, y, x].max(), logits[n, candidate[n, y, x], y, x]
        if candidate[n, y, x] != logits[n, :, y, x].argmax():
            if top - chosen <= 2 * (tol.atol + tol.rtol * abs(top)):
                ties += 1
            else:
                clear += 1
    got = class_map_parity(candidate, logits, tol, tie_fraction=1.0)
    assert (got["near_ties"], got["mismatches"]) == (ties, clear) == (1, 1)
    assert got["passed"] is False and got["class_agreement"] == pytest.approx(1 - 2 / 84)
    candidate[1, 4, 6] = logits[1, :, 4, 6].argmax()
    assert class_map_parity(candidate, logits, tol, tie_fraction=1 / 84)["passed"] is True
    assert class_map_parity(candidate, logits, tol, tie_fraction=0.0)["passed"] is False
    candidate[0, 0, 0] = 9  # not a class at all
    assert class_map_parity(candidate, logits, tol, tie_fraction=1.0)["mismatches"] == 1


def test_wrong_class_count_or_output_size_fails_before_anything_is_written(tmp_path):
    with pytest.raises(ExportError, match=r"returns shape \(2, 4, 8, 8\) .* expected N x C x H x W logits with C = 3"):
        export_mmss(ListModel().eval(), tmp_path / "m", config(classes=("a", "b", "c")))
    with pytest.raises(ExportError, match=r"returns 4x4 logits for 8x8 inputs; .* must be at input resolution"):
        export_mmss(Downsampling().eval(), tmp_path / "m", config())
    assert not (tmp_path / "m").exists()


class Downsampling(Fusion):
    """Forgets the final upsampling: its logits are at 1/2 resolution."""

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return nn.functional.avg_pool2d(self.fuse(x), 2)


CMNEXT = """
import torch
from torch import nn


class TinyCMNeXt(nn.Module):
    \"\"\"CMNeXt's calling convention: forward(x: list), x[0] the RGB stream, x[1:] the other modalities in 'modals' order.\"\"\"

    def __init__(self, modals, num_classes):
        super().__init__()
        self.num_modals = len(modals)
        self.rgb = nn.Conv2d(3, 4, 3, padding=1)
        self.extra = nn.Conv2d(3, 4, 3, padding=1)
        self.score = nn.Conv2d(4, 1, 1)
        self.head = nn.Conv2d(8, num_classes, 1)

    def forward(self, x):
        ext = torch.stack([self.extra(x[i]) for i in range(1, self.num_modals)], 0)
        weights = torch.softmax(torch.stack([self.score(e) for e in ext], 0), 0)
        return self.head(torch.cat([self.rgb(x[0]), (ext * weights).sum(0)], 1))


def build(modals=("img", "depth", "event", "lidar"), num_classes=25):
    return TinyCMNeXt(modals, num_classes)
"""


def test_cli_exports_a_cmnext_style_package_from_a_fresh_directory(tmp_path):
    """A user's package on PYTHONPATH (outside the repo), run from an empty directory by the installed command."""
    import os
    import shutil
    import subprocess
    import sys

    package = tmp_path / "src" / "userzoo"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "cmnext.py").write_text(CMNEXT)
    work = tmp_path / "work"
    work.mkdir()
    exe = shutil.which("mmharness", path=os.path.dirname(sys.executable)) or "mmharness"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}

    def export(modalities: str, out: str) -> subprocess.CompletedProcess:
        args = [exe, "export", "mmss", "--model", "userzoo.cmnext:build", "--factory-arg", "modals=[img,depth,event,lidar]",
                "--factory-arg", "num_classes=25", "--modalities", modalities, "--classes", "deliver",
                "--input-size", "8x8", "--out", out]
        return subprocess.run(args, check=False, cwd=work, env=env, capture_output=True, text=True, timeout=120)

    done = export("rgb,depth,event,lidar", "cmnext")
    assert done.returncode == ExitCode.OK, done.stderr
    assert done.stdout.strip() == "cmnext/manifest.json"  # stdout: only the manifest path
    assert "torchvision" not in done.stderr and done.stderr.count("PASSED") == 5
    doc = json.loads((work / "cmnext" / "manifest.json").read_text())
    assert [m["input"] for m in doc["modalities"]] == ["rgb", "depth", "event", "lidar"]
    assert doc["provenance"]["source_model"] == "userzoo.cmnext:build" and len(doc["classes"]) == 25
    # one input per list entry, in list order: rgb feeds the RGB stream, and swapping two extras changes the output
    feed = {n: np.random.default_rng(i).standard_normal((2, 3, 8, 8)).astype(np.float32) for i, n in enumerate(NAMES + ("lidar",))}
    out = run_onnx(work / "cmnext" / "model.onnx", feed)
    assert np.abs(run_onnx(work / "cmnext" / "model.onnx", dict(feed, rgb=feed["depth"], depth=feed["rgb"])) - out).max() > 1e-4
    # a list shorter than the model's modals: the model indexes past it; named, exit 2, nothing written
    short = export("rgb,depth", "short")
    assert short.returncode == ExitCode.BAD_INPUT and short.stderr.count("\n") == 1, short.stderr
    assert "cannot be called with --call list and modalities ['rgb', 'depth']" in short.stderr and "IndexError" in short.stderr
    assert not (work / "short").exists()


def test_factory_loading_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot import 'no_such_pkg.models'"):
        load_factory("no_such_pkg.models:build")
    source = tmp_path / "net.py"
    source.write_text("def build():\n    return 42\n")
    with pytest.raises(ConfigError, match="returned int; expected a torch.nn.Module"):
        load_factory(f"{source}:build")
    with pytest.raises(ConfigError, match="not MODULE:FACTORY"):
        load_factory("just_a_name")
    (tmp_path / "blocks_for_mmss_test.py").write_text("import torch\ndef head():\n    return torch.nn.Conv2d(3, 2, 1)\n")
    source.write_text("from blocks_for_mmss_test import head\ndef build():\n    return head()\n")
    assert isinstance(load_factory(f"{source}:build"), nn.Conv2d)  # a file's sibling modules import, as with `python net.py`
    source.write_text("def build(path='w.pth'):\n    raise RuntimeError(f'checkpoint {path} not found')\n")
    with pytest.raises(ConfigError, match=r"calling build\(\*\*\{'path': 'x.pth'\}\) failed \(RuntimeError: checkpoint x.pth not found\)"):
        load_factory(f"{source}:build", {"path": "x.pth"})


def test_bad_export_options_are_config_errors():
    from harness.commands.export import parse_factory_args

    assert parse_factory_args(("modals=[img,depth]", "num_classes=25", "name=x")) == {
        "modals": ["img", "depth"], "num_classes": 25, "name": "x"}
    with pytest.raises(ConfigError, match=r"--factory-arg 'modals=\[': the value is not YAML"):
        parse_factory_args(("modals=[",))
    with pytest.raises(ConfigError, match="--static-batch 0 is invalid"):
        config(dynamic_batch=False, static_batch=0)
    with pytest.raises(ConfigError, match="parity tolerances must be >= 0"):
        config(atol=-1.0)
    with pytest.raises(ConfigError, match="--tie-fraction 2 is invalid"):
        config(tie_fraction=2)


def test_cli_exports_and_reports_bad_input(tmp_path, capsys):
    source = tmp_path / "net.py"
    source.write_text(textwrap.dedent("""
        import torch
        class Net(torch.nn.Module):
            def __init__(self, classes):
                super().__init__()
                self.a = torch.nn.Conv2d(3, classes, 1)
                self.b = torch.nn.Conv2d(3, classes, 1)
            def forward(self, x):
                return self.a(x[0]) + self.b(x[1])
        def build(classes=2):
            return Net(classes)
    """))
    out = tmp_path / "exported"
    def args(modalities: str) -> list[str]:
        return ["export", "mmss", "--model", f"{source}:build", "--factory-arg", "classes=3", "--modalities", modalities,
                "--classes", "x,y,z", "--input-size", "8x8", "--out", str(out), "--exporter", "torchscript"]

    assert main(args("rgb,lidar")) == ExitCode.OK
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["name"] == "exported" and doc["classes"] == ["x", "y", "z"]
    assert [m["kind"] for m in doc["modalities"]] == ["image", "lidar"]
    assert main([*args("rgb,lidar"), "--argmax", "--tie-fraction", "0.25"]) == ExitCode.OK
    doc = json.loads((out / "manifest.json").read_text())
    assert doc["outputs"][0]["role"] == "class_map" and doc["parity"]["cases"]["random"]["class_map"]["tie_fraction"] == 0.25
    capsys.readouterr()
    assert main(args("rgb,lidar,depth")) == ExitCode.BAD_INPUT
    assert "modality 'depth'" in capsys.readouterr().err  # a third input the list model never reads
    assert main(["export", "mmss", "--model", "nope:build", "--modalities", "rgb", "--classes", "a", "--out", str(out)]) == ExitCode.BAD_INPUT
    assert "cannot import 'nope'" in capsys.readouterr().err


def test_weights_load_from_safetensors_and_torch_files(tmp_path):
    from safetensors.torch import save_file

    from exporters.mmss import load_weights

    source = ListModel()
    save_file(source.state_dict(), str(tmp_path / "w.safetensors"))
    torch.save(source.state_dict(), tmp_path / "w.pt")
    for name in ("w.safetensors", "w.pt"):
        target = ListModel()
        load_weights(target, tmp_path / name)
        assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), target.state_dict().values()))
    with pytest.raises(ConfigError, match=r"cannot load into Fusion \(Error.*Unexpected key"):
        load_weights(Fusion(n=2), tmp_path / "w.pt")
    with pytest.raises(ConfigError, match="file not found"):
        load_weights(ListModel(), tmp_path / "missing.pt")


def test_cli_modality_spec_sets_preprocessing_and_fill(tmp_path):
    spec = tmp_path / "modalities.yaml"
    spec.write_text(textwrap.dedent("""
        - {name: rgb}
        - name: depth
          channels: 1
          preprocess: {scale: 0.001, mean: [5.0], std: [2.0]}
          missing: {fill: zero_raw}
    """))
    source = tmp_path / "net.py"
    source.write_text(textwrap.dedent("""
        import torch
        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.a = torch.nn.Conv2d(3, 2, 1)
                self.b = torch.nn.Conv2d(1, 2, 1)
            def forward(self, rgb, depth):
                return self.a(rgb) + self.b(depth)
        def build():
            return Net()
    """))
    out = tmp_path / "m"
    args = ["export", "mmss", "--model", f"{source}:build", "--modalities", "rgb,depth", "--modality-spec", str(spec),
            "--call", "kwargs", "--classes", "p,q", "--input-size", "4x6", "--out", str(out), "--exporter", "torchscript"]
    assert main(args) == ExitCode.OK
    doc = json.loads((out / "manifest.json").read_text())
    depth = doc["modalities"][1]
    assert depth["channels"] == 1 and depth["kind"] == "depth" and depth["missing"] == {"fill": "zero_raw"}
    assert depth["preprocess"] == {"scale": 0.001, "mean": [5.0], "std": [2.0]}
    assert doc["modalities"][0]["preprocess"]["mean"] == [0.485, 0.456, 0.406]
    assert doc["input_size"] == [4, 6] and "missing=depth" in doc["parity"]["cases"]


def test_export_is_byte_identical_and_holds_no_local_paths(tmp_path):
    torch.manual_seed(3)
    model = ListModel().eval()
    first = export_mmss(model, tmp_path / "a", config()).onnx_path.read_bytes()
    second = export_mmss(model, tmp_path / "b", config()).onnx_path.read_bytes()
    assert first == second
    assert b"stack_trace" not in first and str(tmp_path).encode() not in first and b".py" not in first


def test_parity_cases_feed_each_manifest_missing_fill():
    """The missing cases feed what a run would: zero_raw -> (0 - mean) / std, mean -> each sample's own channel means."""
    from exporters.mmss import parity_cases

    rgb = default_modality("rgb")
    depth = {**default_modality("depth", 1), "preprocess": {"scale": 0.001, "mean": [5.0], "std": [2.0]},
             "missing": {"fill": "zero_raw"}}
    event = {**default_modality("event"), "missing": {"fill": "mean"}}
    cases = {c.name: c.feed for c in parity_cases(config(modalities=(rgb, depth, event)))}
    base = cases["random"]
    assert base["depth"].shape == (3, 1, *SIZE) and not np.array_equal(base["rgb"], base["event"])
    assert np.all(cases["missing=rgb"]["rgb"] == 0) and np.array_equal(cases["missing=rgb"]["depth"], base["depth"])
    assert np.allclose(cases["missing=depth"]["depth"], (0.0 - 5.0) / 2.0)
    for n, c in np.ndindex(3, 3):
        assert np.allclose(cases["missing=event"]["event"][n, c], base["event"][n, c].mean(), atol=1e-6)
    with pytest.raises(ConfigError, match="missing fill 'mask'"):
        config(modalities=(rgb, {**depth, "missing": {"fill": "mask", "mask_input": "depth_mask"}}))

"""export mmss: --seed makes a random init reproducible, provenance names the weights, every file
it writes gets the mode the umask gives (0644 / 0755 under 022), and the scaled parity tolerance."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import textwrap

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from exporters.verify import ParityCase, ParityError, compare, require_parity
from harness.cli import main
from harness.errors import ExitCode
from harness.metrics.parity import Tolerance

NET = textwrap.dedent("""
    import numpy as np
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Conv2d(3, 3, 3, padding=1)
            self.b = torch.nn.Conv2d(1, 3, 3, padding=1)
            self.gain = float(np.random.rand()) + 0.5  # NumPy's global generator is seeded too

        def forward(self, x):
            return (self.a(x[0]) + self.b(x[1])) * self.gain

    def build():
        return Net()
""")


def export(tmp_path, out: str, *extra: str) -> int:
    source = tmp_path / "net.py"
    if not source.exists():
        source.write_text(NET)
    spec = tmp_path / "spec.yaml"
    spec.write_text("- {name: rgb}\n- {name: depth, channels: 1}\n")
    return main(["export", "mmss", "--model", f"{source}:build", "--modalities", "rgb,depth", "--modality-spec", str(spec),
                 "--classes", "a,b,c", "--input-size", "8x8", "--exporter", "torchscript", "--out", str(tmp_path / out), *extra])


def initializers(path) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


def test_seed_fixes_the_random_init_and_provenance_names_it(tmp_path):
    assert export(tmp_path, "s3a", "--seed", "3") == ExitCode.OK
    assert export(tmp_path, "s3b", "--seed", "3") == ExitCode.OK
    assert export(tmp_path, "s4", "--seed", "4") == ExitCode.OK
    a, b, c = (initializers(tmp_path / d / "model.onnx") for d in ("s3a", "s3b", "s4"))
    assert a.keys() == b.keys() and len(a) >= 4
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert any(not np.array_equal(a[k], c[k]) for k in a)
    doc = json.loads((tmp_path / "s3a" / "manifest.json").read_text())
    assert doc["provenance"]["weights"] == "random init, seed 3" and doc["provenance"]["seed"] == 3
    parity = doc["parity"]
    assert parity["tolerance"] == {"atol": 1e-5, "rtol": 1e-3, "check": "elemwise", "rel_to_max": 1e-4, "tie_fraction": 1e-3}
    figures = parity["cases"]["missing=depth"]["logits"]
    assert figures["class_agreement"] == 1.0 and figures["class_mismatches"] == 0 and figures["max_abs"] < 1e-5
    assert figures["abs_to_ref_max"] == pytest.approx(figures["max_abs"] / figures["ref_max_abs"])
    assert figures["atol_effective"] == pytest.approx(1e-5 + 1e-4 * figures["ref_max_abs"]) and "max_rel" in figures


def test_weights_file_is_recorded_by_sha256(tmp_path):
    import torch

    from exporters.mmss import load_factory

    (tmp_path / "net.py").write_text(NET)
    state = load_factory(f"{tmp_path / 'net.py'}:build", seed=11).state_dict()
    weights = tmp_path / "w.pt"
    torch.save(state, weights)
    assert export(tmp_path, "out", "--weights", str(weights)) == ExitCode.OK
    doc = json.loads((tmp_path / "out" / "manifest.json").read_text())
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert doc["provenance"]["weights"] == f"sha256:{digest} (w.pt)"


@pytest.mark.parametrize(("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_every_written_file_has_the_umask_mode(tmp_path, umask, file_mode, dir_mode):
    from harness.manifest import load_manifest, write_manifest
    from harness.report.io import atomic_write

    old = os.umask(umask)
    try:
        assert export(tmp_path, "model") == ExitCode.OK
        folder = tmp_path / "model"
        write_manifest(folder, load_manifest(folder))  # a re-write goes through the same atomic writer
        atomic_write(tmp_path / "results" / "results.json", b"{}\n")
    finally:
        os.umask(old)
    written = [folder / "model.onnx", folder / "manifest.json", tmp_path / "results" / "results.json"]
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "model.onnx"]  # no temporary left behind
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == {p.name: oct(file_mode) for p in written}
    for path in (folder, tmp_path / "results"):
        assert oct(stat.S_IMODE(path.stat().st_mode)) == oct(dir_mode)


def test_current_umask_reads_without_changing_it():
    from harness.filemode import current_umask, new_file_mode

    old = os.umask(0o027)
    try:
        assert current_umask() == 0o027 and new_file_mode() == 0o640
        assert os.umask(0o027) == 0o027  # still set
    finally:
        os.umask(old)


# -- the scaled tolerance ------------------------------------------------------------------------
def logits_case(seed: int = 0, scale: float = 25.0) -> np.ndarray:
    """N x C x H x W logits spanning +-scale, with many values near zero."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((2, 5, 16, 16)) * scale / 4).astype(np.float32)


def check(reference: np.ndarray, candidate: np.ndarray, **kwargs):
    kwargs.setdefault("rel_to_max", 1e-4)
    kwargs.setdefault("tie_fraction", 1e-3)
    return compare(lambda feed: {"logits": reference}, lambda feed: {"logits": candidate}, [ParityCase("random", {})],
                   Tolerance(1e-5, 1e-3), {"logits": 1}, **kwargs)


def test_float32_noise_on_large_logits_passes_only_with_the_output_scale():
    """The CMNeXt-B2 case of issue 13: 2 elements off by 1.2e-4 where |logits| reach 25, at logits near 0."""
    ref = logits_case()
    ref[0, 0, 0, 0] = 25.0
    near_zero = np.argsort(np.abs(ref).ravel())[:2]
    cand = ref.copy().ravel()
    cand[near_zero] += np.float32(1.2e-4)
    cand = cand.reshape(ref.shape)
    report = check(ref, cand)
    figures = report.cases["random"]["logits"]
    assert report.passed and figures["ref_max_abs"] == 25.0
    assert figures["atol_effective"] == pytest.approx(1e-5 + 1e-4 * 25.0)
    assert figures["abs_to_ref_max"] == pytest.approx(1.2e-4 / 25.0, rel=1e-3)
    summary = report.summary()
    assert summary["tolerance"] == {"atol": 1e-5, "rtol": 1e-3, "check": "elemwise", "rel_to_max": 1e-4, "tie_fraction": 1e-3}
    assert {"max_abs", "max_rel", "ref_max_abs", "abs_to_ref_max", "class_agreement"} <= set(summary["cases"]["random"]["logits"])
    plain = check(ref, cand, rel_to_max=0.0)  # Polygraphy's atol/rtol alone: the near-zero logits fail
    assert not plain.passed and plain.cases["random"]["logits"]["mismatches"] == 2
    with pytest.raises(ParityError, match=r"max abs error 0.00012 \(4.8e-06 of max\|ref\|\).*2 of 2560 elements beyond atol 1e-05"):
        require_parity(plain, "model.onnx")


def test_a_real_divergence_is_refused_by_value_and_by_class():
    ref = logits_case(1)
    moved = ref + np.float32(0.05) * (np.arange(ref.size).reshape(ref.shape) % 7 == 0)  # 2e-3 of max|ref|
    report = check(ref, moved)
    assert not report.passed
    with pytest.raises(ParityError, match=r"--rel-to-max 0.0001 x max\|ref\|"):
        require_parity(report, "model.onnx")
    # every logit within tolerance, but 1/8 of the pixels are near ties that all flip: more than --tie-fraction
    tied = ref.copy()
    pixels = (np.arange(16)[:, None] + np.arange(16)[None, :]) % 8 == 0
    tied[:, 0][:, pixels], tied[:, 1][:, pixels] = 30.0, np.float32(30.0 - 1e-3)
    flipped = tied.copy()
    flipped[:, 0][:, pixels], flipped[:, 1][:, pixels] = tied[:, 1][:, pixels], tied[:, 0][:, pixels]
    report = check(tied, flipped)
    figures = report.cases["random"]["logits"]
    assert not report.passed and figures["mismatches"] == 0 and figures["classes"]["near_ties"] == 2 * 32
    with pytest.raises(ParityError, match=r"the arg-max class differs from torch's at 0 clear pixels and 64 near ties of 512"):
        require_parity(report, "model.onnx")
    assert check(tied, flipped, tie_fraction=0.2).passed

"""Export parity on a CMNeXt-sized network at the default tolerances.

SegFormer MiT-B2 (27.4 M parameters, random weights, logits up to about +-20) with an RGB and a
1-channel depth stem, exported by the dynamo exporter at 128x128: float32 noise must pass the
defaults; one weight of the ONNX graph moved by one standard deviation must be refused.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from exporters.mmss import MmssExportConfig, check_parity, default_modality, export_mmss
from exporters.verify import ParityError, require_parity
from harness.data.deliver import CLASSES

pytest.importorskip("transformers")
pytestmark = pytest.mark.slow

PERTURBED = "model.segformer.segformer.stages.0.patch_embeddings.proj.weight"  # the first layer after the stems


def test_segformer_b2_passes_default_parity_and_a_moved_weight_is_refused(tmp_path):
    from segformer_mm import build

    torch.manual_seed(0)
    model = build().eval()
    assert 25e6 < sum(p.numel() for p in model.parameters()) < 30e6
    config = MmssExportConfig(name="segformer-b2-mm", modalities=(default_modality("rgb"), default_modality("depth", 1)),
                              classes=CLASSES, input_size=(128, 128))
    result = export_mmss(model, tmp_path, config)
    figures = [f for case in result.parity.cases.values() for f in case.values()]
    assert result.parity.passed and len(figures) == 3
    worst = max(f["abs_to_ref_max"] for f in figures)
    print(f"\nSegFormer-B2 x2 modalities, 128x128: max|ref| {min(f['ref_max_abs'] for f in figures):.3g}.."
          f"{max(f['ref_max_abs'] for f in figures):.3g}, max abs error {max(f['abs']['max'] for f in figures):.3g}, "
          f"max abs / max|ref| {worst:.3g}, class agreement {min(f['class_agreement'] for f in figures):.6f}")
    assert min(f["ref_max_abs"] for f in figures) > 5.0  # large logits: the case the scaled tolerance is for
    assert worst < 1e-5 and all(f["class_agreement"] > 0.999 for f in figures)  # 10x under the default 1e-4

    graph = onnx.load(str(result.onnx_path))
    weight = next(i for i in graph.graph.initializer if i.name == PERTURBED)
    values = numpy_helper.to_array(weight).copy()
    values.flat[values.size // 3] += values.std()
    weight.CopyFrom(numpy_helper.from_array(values, weight.name))
    broken = tmp_path / "broken.onnx"
    onnx.save(graph, str(broken))
    report = check_parity(model, broken, config)
    moved = report.cases["random"]["logits"]
    print(f"one weight moved: max abs / max|ref| {moved['abs_to_ref_max']:.3g}, class agreement {moved['class_agreement']:.6f}")
    assert not report.passed and moved["abs_to_ref_max"] > 10 * 1e-4  # refused with a wide margin
    with pytest.raises(ParityError, match=r"parity FAILED on case 'random', output 'logits': max abs error .* of max\|ref\|"):
        require_parity(report, str(broken))

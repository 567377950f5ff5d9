"""A CMNeXt-sized multi-modal segmenter for export tests: SegFormer MiT-B2 (Xie et al. 2021,
the backbone family CMNeXt builds on) with one stem per modality, fused by a learned sum.

``forward(list_of_tensors)`` as CMNeXt; logits upsampled to the input size. Random weights:
parity is about the arithmetic, not about what the network learned.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

MIT_B2 = {"depths": [3, 4, 6, 3], "hidden_sizes": [64, 128, 320, 512], "num_attention_heads": [1, 2, 5, 8],
          "sr_ratios": [8, 4, 2, 1], "decoder_hidden_size": 768}


class MultiModalSegformer(nn.Module):
    """Per-modality 3x3 stems to 3 channels, summed with learned weights, then SegFormer-B2."""

    def __init__(self, channels: tuple[int, ...] = (3, 1), num_classes: int = 25, logit_gain: float = 50.0) -> None:
        super().__init__()
        from transformers import SegformerConfig, SegformerForSemanticSegmentation

        config = SegformerConfig(num_labels=num_classes, **MIT_B2)
        self.stems = nn.ModuleList(nn.Conv2d(c, 3, 3, padding=1) for c in channels)
        self.mix = nn.Parameter(torch.ones(len(channels)))
        self.segformer = SegformerForSemanticSegmentation(config)
        with torch.no_grad():  # random init gives logits of +-0.5; trained ones reach +-25 (CMNeXt-B2 on DELIVER)
            self.segformer.decode_head.classifier.weight.mul_(logit_gain)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        fused = sum(w * stem(x) for w, stem, x in zip(self.mix, self.stems, xs))
        logits = self.segformer(pixel_values=fused).logits
        return F.interpolate(logits, size=xs[0].shape[-2:], mode="bilinear", align_corners=False)


def build(num_classes: int = 25, depth_channels: int = 1) -> MultiModalSegformer:
    """Factory for ``mmharness export mmss --model``: rgb (3 channels) + depth."""
    return MultiModalSegformer((3, depth_channels), num_classes)

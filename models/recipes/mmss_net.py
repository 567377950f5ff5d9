"""A small CMNeXt-style fusion segmenter for the synthetic zoo: ``model([rgb, depth, event, lidar])``.

Why this shape: the RGB stream is the backbone and every other modality is fused *into* it by
addition of a projected feature at two scales, as in CMNeXt's RGB-X hub. Such a model works
well when every sensor is present and is exactly the kind of model that falls apart when one
disappears, unless it was trained with modality dropout — the effect the zoo demonstrates.
Inputs are normalized NCHW float32 tensors, three channels each; output ``N x C x H x W``
logits at input resolution. Only standard ops (Conv, BatchNorm, ReLU, Resize) so it exports
to any ONNX opset >= 13 and runs on TensorRT.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

MODALITIES = ("rgb", "depth", "event", "lidar")


def conv_bn(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class AuxStem(nn.Module):
    """Two strided convolutions of one auxiliary modality: features at 1/2 and 1/4 resolution."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.s1 = conv_bn(3, width // 2, stride=2)
        self.s2 = conv_bn(width // 2, width, stride=2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f1 = self.s1(x)
        return f1, self.s2(f1)


class FusionSegmenter(nn.Module):
    """RGB backbone with additive fusion of auxiliary streams at 1/2 and 1/4 resolution."""

    def __init__(self, num_classes: int = 7, width: int = 32, modalities: tuple[str, ...] = MODALITIES) -> None:
        super().__init__()
        if modalities[0] != "rgb":
            raise ValueError(f"the first modality must be rgb (the backbone stream); got {modalities}")
        self.modalities = tuple(modalities)
        self.rgb1 = conv_bn(3, width // 2, stride=2)
        self.rgb2 = conv_bn(width // 2, width, stride=2)
        self.aux = nn.ModuleList(AuxStem(width) for _ in modalities[1:])
        self.fuse1 = nn.Conv2d(width // 2 * len(modalities[1:]), width // 2, 1)
        self.fuse2 = nn.Conv2d(width * len(modalities[1:]), width, 1)
        self.body = nn.Sequential(
            conv_bn(width, width * 3 // 2, stride=2),
            conv_bn(width * 3 // 2, width * 3 // 2, dilation=2),
            conv_bn(width * 3 // 2, width * 3 // 2, dilation=4),
        )
        self.up4 = conv_bn(width * 3 // 2 + width, width)
        self.up2 = conv_bn(width + width // 2, width // 2)
        self.head = nn.Conv2d(width // 2, num_classes, 1)

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        rgb, *others = x
        h, w = rgb.shape[-2:]
        f1 = self.rgb1(rgb)
        aux = [stem(t) for stem, t in zip(self.aux, others)]
        f1 = f1 + self.fuse1(torch.cat([a[0] for a in aux], 1))
        f2 = self.rgb2(f1) + self.fuse2(torch.cat([a[1] for a in aux], 1))
        f3 = self.body(f2)
        y = F.interpolate(f3, size=f2.shape[-2:], mode="bilinear", align_corners=False)
        y = self.up4(torch.cat([y, f2], 1))
        y = F.interpolate(y, size=f1.shape[-2:], mode="bilinear", align_corners=False)
        y = self.up2(torch.cat([y, f1], 1))
        y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        return self.head(y)


def build(num_classes: int = 7, width: int = 32) -> FusionSegmenter:
    """Factory for ``mmharness export mmss --model models/recipes/mmss_net.py:build``."""
    return FusionSegmenter(num_classes=int(num_classes), width=int(width))

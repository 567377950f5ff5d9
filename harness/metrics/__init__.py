"""Pure-NumPy metric core: mergeable confusion matrices and every figure derived from them.

Imports NumPy only (no torch, no scipy), so the harness can score on a bare Jetson image.
``confusion`` holds the state, ``segmentation`` the per-cell figures (percent), ``robustness``
the EMM/RMM/NM aggregates and Shapley attribution, ``bias`` the MLLM modality-bias scores and
``stats`` the seeded bootstrap confidence intervals.
"""

from __future__ import annotations

from harness.metrics.confusion import ConfusionMatrix, per_image_confusion
from harness.metrics.segmentation import mean_iou, paper_round, per_class_iou, scores

__all__ = ["ConfusionMatrix", "mean_iou", "paper_round", "per_class_iou", "per_image_confusion", "scores"]

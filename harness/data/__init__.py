"""Datasets that yield raw per-modality sensor arrays and label maps (synthetic, DELIVER, folder, VQA)."""

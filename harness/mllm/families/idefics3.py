"""Idefics3 and SmolVLM: one tile per image, fixed image tokens per tile, 1-D positions."""

from harness.mllm.families.base import RuntimeFamily

FAMILY = RuntimeFamily(name="idefics3", manifest_names=("idefics3", "smolvlm"))

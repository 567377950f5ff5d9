"""Llava (CLIP or SigLIP tower): fixed image tokens per image, 1-D positions."""

from harness.mllm.families.base import RuntimeFamily

FAMILY = RuntimeFamily(name="llava", manifest_names=("llava",))

"""Gemma 3: fixed soft tokens per image, 1-D positions; image blocks attend bidirectionally
(``vqa.attention: image_blocks``, filled by the runtime from the image-token runs)."""

from harness.mllm.families.base import RuntimeFamily

FAMILY = RuntimeFamily(name="gemma3", manifest_names=("gemma3",))

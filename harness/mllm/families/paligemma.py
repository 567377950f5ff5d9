"""PaliGemma: one token per patch, 0-based positions (the graph adds 1); the prompt is a
bidirectional prefix (``vqa.attention: prefix``)."""

from harness.mllm.families.base import RuntimeFamily

FAMILY = RuntimeFamily(name="paligemma", manifest_names=("paligemma",))

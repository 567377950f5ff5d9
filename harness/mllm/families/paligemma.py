"""PaliGemma and PaliGemma 2: one token per patch, 0-based positions (the graph adds the 1); the
prompt is a bidirectional prefix (``vqa.attention: prefix``). PaliGemma 2's sliding window and
soft caps live in its decoder graph, so the runtime rules are the same."""

from harness.mllm.families.base import RuntimeFamily

FAMILY = RuntimeFamily(name="paligemma", manifest_names=("paligemma",))

"""Prompt building: question text + template -> token ids with the image tokens expanded.

The tokenizer is any HF ``tokenizers`` JSON. The template's ``{image}`` placeholder becomes
``tokens_per_image`` copies of ``image_token_id`` (or nothing, for the image-removed probe),
so the count the embedding graph sees always equals the feature rows the vision graph made.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import ManifestError
from harness.mllm.manifest import VqaSpec

IntIds = npt.NDArray[np.int64]


class PromptTokenizer:
    """Encodes prompts and answer options for one model (its ``vqa`` block)."""

    def __init__(self, spec: VqaSpec) -> None:
        from tokenizers import Tokenizer

        try:
            self._tokenizer: Any = Tokenizer.from_file(str(spec.tokenizer))
        except Exception as error:  # tokenizers raises a bare Exception on malformed JSON
            raise ManifestError(
                f"{spec.tokenizer}: vqa.tokenizer: not a HF tokenizers JSON ({str(error).splitlines()[0]}); re-export it"
            ) from None
        self.spec = spec
        head, _, tail = spec.prompt_template.partition("{image}")
        self._head, self._tail = head, tail

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens (answer options, hints)."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids) if text.strip() else []

    def decode(self, ids: list[int]) -> str:
        return str(self._tokenizer.decode(ids, skip_special_tokens=True))

    def prompt_ids(self, question: str, num_images: int = 1) -> IntIds:
        """``[bos] head <image>*T*num_images tail`` with ``{question}`` filled, as int64 1-D."""
        spec = self.spec
        ids: list[int] = [spec.bos_token_id] if spec.add_bos else []
        ids += self.encode(self._head.replace("{question}", question))
        ids += [spec.image_token_id] * (spec.tokens_per_image * num_images)
        ids += self.encode(self._tail.replace("{question}", question))
        return np.asarray(ids, dtype=np.int64)

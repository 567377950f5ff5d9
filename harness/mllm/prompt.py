"""Prompt building: question text + template -> token ids with the image tokens expanded.

The tokenizer is any HF ``tokenizers`` JSON. The template's ``{image}`` placeholder becomes
``tokens_per_image`` copies of ``image_token_id`` (or nothing, for the image-removed probe),
so the count the embedding graph sees always equals the feature rows the vision graph made;
or, for a family that writes a whole block per image (``vqa.image_block``), the images' blocks
one after another (``VlmRuntime.prompt_ids`` builds them; ``token_id`` and ``encode`` serve the
family's block as ``harness.mllm.families.base.Vocab``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import ManifestError
from harness.mllm.manifest import VqaSpec

IntIds = npt.NDArray[np.int64]


class PromptTokenizer:
    """Encodes prompts and answer options for one model (its ``vqa`` block)."""

    def __init__(self, tokenizer: Path, template: str, image_token_id: int, tokens_per_image: int, bos_token_id: int | None) -> None:
        from tokenizers import Tokenizer

        try:
            self._tokenizer: Any = Tokenizer.from_file(str(tokenizer))
        except Exception as error:  # noqa: BLE001  (tokenizers raises a bare Exception on malformed JSON)
            raise ManifestError(
                f"{tokenizer}: vqa.tokenizer: not a HF tokenizers JSON ({str(error).splitlines()[0]}); re-export it"
            ) from None
        self.image_token_id, self.tokens_per_image, self.bos_token_id = image_token_id, tokens_per_image, bos_token_id
        self._path = tokenizer
        head, _, tail = template.partition("{image}")
        self._head, self._tail = head, tail

    @classmethod
    def from_spec(cls, spec: VqaSpec) -> PromptTokenizer:
        bos = spec.bos_token_id if spec.add_bos else None
        return cls(spec.tokenizer, spec.prompt_template, spec.image_token_id, spec.tokens_per_image, bos)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens (answer options, hints)."""
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids) if text.strip() else []

    def decode(self, ids: list[int]) -> str:
        return str(self._tokenizer.decode(ids, skip_special_tokens=True))

    def token_id(self, text: str) -> int:
        """The id of ``text`` when it is one token of the tokenizer (a family's marker string)."""
        token = self._tokenizer.token_to_id(text)
        if token is None:
            raise ManifestError(f"{self._path}: vqa.tokenizer: no token {text!r}, which the family's image block needs; "
                                "export the model's own tokenizer (its processor's special tokens included)")
        return int(token)

    def token_text(self, token_id: int) -> str:
        """The string of token ``token_id`` (e.g. the image token a processor writes)."""
        text = self._tokenizer.id_to_token(int(token_id))
        if text is None:
            raise ManifestError(f"{self._path}: vqa.tokenizer: no token of id {token_id}; fix vqa.image_token_id or "
                                "export the model's own tokenizer")
        return str(text)

    def prompt_ids(self, question: str, num_images: int = 1, image_tokens: Sequence[int] | None = None,
                   image_blocks: Sequence[str] | None = None) -> IntIds:
        """``[bos] head <image>*T*num_images tail`` with ``{question}`` filled, as int64 1-D.
        ``image_tokens``: each image's own count (dynamic-resolution families, from
        ``VlmRuntime.image_tokens``) instead of ``tokens_per_image``. ``image_blocks``: each
        image's whole block as text, put in place of ``{image}`` and the prompt then tokenized
        once, as transformers' processors tokenize their expanded prompt."""
        ids: list[int] = [] if self.bos_token_id is None else [self.bos_token_id]
        head, tail = self._head.replace("{question}", question), self._tail.replace("{question}", question)
        if image_blocks is not None:
            return np.asarray(ids + self.encode(head + "".join(image_blocks) + tail), dtype=np.int64)
        counts = [self.tokens_per_image] * num_images if image_tokens is None else list(image_tokens)
        ids += self.encode(head) + [self.image_token_id] * sum(counts) + self.encode(tail)
        return np.asarray(ids, dtype=np.int64)

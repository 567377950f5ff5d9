"""Answer one VQA question with a ``VlmRuntime``: rank the options or generate, then judge.

``choices`` mode predicts the option with the highest summed log-likelihood (ties: the first
listed). ``generate`` mode decodes greedily and compares the normalized text (lower case,
single spaces, trailing punctuation stripped) with the answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import ConfigError
from harness.mllm.prompt import PromptTokenizer
from harness.mllm.runtime import VlmRuntime


@dataclass(frozen=True)
class Answer:
    """The model's answer to one item: the text, its option index (choices mode) and the scores."""

    text: str
    choice: int
    scores: tuple[float, ...]


def normalize_answer(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower()).rstrip(" .?!")


class Answerer:
    """Binds a runtime and its tokenizer; ``answer`` handles one (image, question, choices)."""

    def __init__(self, runtime: VlmRuntime, mode: str | None = None) -> None:
        self.runtime = runtime
        self.tokenizer = PromptTokenizer.from_spec(runtime.spec)
        self.mode = mode or runtime.spec.answer_mode  # any decoder ranks options; the manifest only sets the default
        if self.mode not in ("choices", "generate"):
            raise ConfigError(f"--mode {self.mode!r}: expected 'choices' or 'generate'")

    def answer(self, image: npt.NDArray[np.uint8] | None, question: str, choices: Sequence[str]) -> Answer:
        images: list[npt.NDArray[Any]] = [] if image is None else [image]
        features = self.runtime.image_features(images)
        ids = self.runtime.prompt_ids(self.tokenizer, question, features, len(images))
        if self.mode == "choices":
            if not choices:
                raise ConfigError("answer mode 'choices' needs items with choices; pass --mode generate for open answers")
            scores = self.runtime.score_choices(ids, features, [self.tokenizer.encode(c) for c in choices])
            best = int(np.argmax(scores))
            return Answer(choices[best], best, tuple(float(s) for s in scores))
        generation = self.runtime.generate(ids, features)
        tokens = [t for t in generation.tokens if t not in self.runtime.spec.stop_token_ids]
        text = self.tokenizer.decode(tokens)
        normalized = [normalize_answer(c) for c in choices]
        choice = normalized.index(normalize_answer(text)) if normalize_answer(text) in normalized else -1
        return Answer(text, choice, ())

    def is_correct(self, answer: Answer, truth: str) -> bool:
        return normalize_answer(answer.text) == normalize_answer(truth)

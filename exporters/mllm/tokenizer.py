"""Word-level tokenizers for tiny models built offline (tests, the synthetic reference VLM).

The files written are ordinary HF ``tokenizers`` JSON (what the harness loads for any model)
plus the ``tokenizer_config.json`` onnxruntime-genai requires beside it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

SPECIALS = ("[PAD]", "<s>", "</s>", "[UNK]", "<image>")  # ids 0..4


def build_word_tokenizer(words: Iterable[str], path: str | Path) -> dict[str, int]:
    """Write a whitespace/punctuation word-level tokenizer over ``SPECIALS + words``; returns the vocab."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab: dict[str, int] = {}
    for word in (*SPECIALS, *words):
        vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    tokenizer.add_special_tokens(list(SPECIALS))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(target))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
    }
    target.with_name("tokenizer_config.json").write_text(json.dumps(config, indent=1) + "\n")
    return vocab

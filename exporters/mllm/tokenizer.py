"""Tokenizer files of an export: HF ``tokenizers`` JSON that onnxruntime-genai can read too.

onnxruntime-genai 0.18 tokenizes through onnxruntime-extensions, which reads ``tokenizer.json``
only as BPE or Unigram, picked by ``tokenizer_config.json``'s ``tokenizer_class`` (a fixed list:
GPT2Tokenizer, LlamaTokenizer, Qwen2Tokenizer, ...; PreTrainedTokenizerFast is not on it). It
pre-tokenizes with the regex of a top-level ``Split`` and looks each piece up whole before
merging. So a word-level tokenizer becomes a BPE with no merges (``ignore_merges``), the same
vocabulary and ids, split by a regex that is the word-level pre-tokenizer on ASCII text; both
readers then give the word-level ids (out-of-vocabulary words: ``[UNK]`` here, -1 in og; og
also gives -1 for whitespace that ends a piece of text, e.g. right before ``<image>``: its regex
splitter returns unmatched trailing characters as tokens, so og prompts put none there).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SPECIALS = ("[PAD]", "<s>", "</s>", "[UNK]", "<image>")  # ids 0..4

# WhitespaceSplit + Punctuation(Isolated) on ASCII: runs of non-space non-punctuation, or one punctuation mark
WORD_REGEX = r"[^\s!-/:-@\[-`{-~]+|[!-/:-@\[-`{-~]"
_WORD_PRE_TOKENIZER = {"type": "Sequence", "pretokenizers": [
    {"type": "WhitespaceSplit"}, {"type": "Punctuation", "behavior": "Isolated"}]}
# tokenizer_class values onnxruntime-extensions maps to its BPE and Unigram readers (ours: the first)
OG_CLASSES = {
    "BPE": ("GPT2Tokenizer", "LlamaTokenizer", "Qwen2Tokenizer", "GemmaTokenizer", "Phi3Tokenizer", "CLIPTokenizer",
            "CodeGenTokenizer", "GPTNeoXTokenizer", "PreTrainedTokenizer"),
    "Unigram": ("T5Tokenizer", "XLMRobertaTokenizer", "MarianTokenizer", "DebertaV2Tokenizer"),
}


def build_word_tokenizer(words: Iterable[str], path: str | Path, specials: Iterable[str] = SPECIALS,
                         unk_token: str = "[UNK]") -> dict[str, int]:
    """Write a whitespace/punctuation word-level tokenizer over ``specials + words`` (as og-readable
    BPE, see the module docstring) and its ``tokenizer_config.json``; returns the vocab. The
    specials (ids in their order, from 0) are matched whole before splitting, e.g. Gemma 3's
    ``<start_of_image>`` and ``"\n\n"``; ``unk_token`` must be one of them."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    specials = list(specials)
    if unk_token not in specials:
        raise ValueError(f"unk_token {unk_token!r} is not among the specials {specials}")
    vocab: dict[str, int] = {}
    for word in (*specials, *words):
        vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk_token))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    tokenizer.add_special_tokens(specials)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    doc = og_readable(json.loads(tokenizer.to_str()))
    target.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    write_tokenizer_config(doc, target.with_name("tokenizer_config.json"))
    return vocab


def og_readable(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (a tokenizer.json) with a word-level model over ASCII words as the equivalent BPE;
    any other tokenizer unchanged (BPE is read as it is; a word-level one over non-ASCII words stays
    word-level, which og cannot read)."""
    model = doc.get("model") or {}
    if model.get("type") != "WordLevel" or doc.get("pre_tokenizer") != _WORD_PRE_TOKENIZER:
        return doc
    vocab: dict[str, int] = model["vocab"]
    special = {token["content"] for token in doc.get("added_tokens", []) if token.get("special")}
    if not all(word in special or _is_ascii_piece(word) for word in vocab):
        return doc
    bpe = {"type": "BPE", "dropout": None, "unk_token": model.get("unk_token"), "continuing_subword_prefix": None,
           "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": False, "ignore_merges": True,
           "vocab": vocab, "merges": []}
    split = {"type": "Split", "pattern": {"Regex": WORD_REGEX}, "behavior": "Removed", "invert": True}
    return {**doc, "pre_tokenizer": split, "model": bpe}


def _is_ascii_piece(word: str) -> bool:
    """A word the regex keeps whole and og looks up as it is: ASCII (og byte-encodes a piece before
    the lookup), and either one punctuation mark or none."""
    return word.isascii() and re.fullmatch(WORD_REGEX, word) is not None


def write_tokenizer_config(doc: dict[str, Any], path: Path, given: dict[str, Any] | None = None) -> None:
    """``tokenizer_config.json`` og can read: the given one when its class is one og reads, else
    og's first class for the model type (BPE, Unigram); the special tokens from the given config
    or the tokenizer's own. og's Unigram reader puts its ``▁`` prefix before a leading special
    token (measured), so there a prompt should not start with one."""
    config = dict(given or {})
    # og 0.18's encode adds no BOS whatever this says (measured); the prompt text carries it, as the
    # harness's prompt_ids does (the manifest's add_bos), so no reader adds a second one
    config["add_bos_token"] = False
    classes = OG_CLASSES.get((doc.get("model") or {}).get("type", ""), ())
    if classes and config.get("tokenizer_class") not in classes:
        config["tokenizer_class"] = classes[0]
        config.setdefault("add_eos_token", False)
        config.update({key: value for key, value in _special_tokens(doc).items() if not config.get(key)})
    config.setdefault("tokenizer_class", "PreTrainedTokenizerFast")
    path.write_text(json.dumps(config, indent=1) + "\n")


def _special_tokens(doc: dict[str, Any]) -> dict[str, str]:
    """bos/eos/pad/unk by the usual spellings among the tokenizer's special tokens."""
    names = {"bos_token": ("<s>", "<|startoftext|>", "<bos>", "[CLS]"), "eos_token": ("</s>", "<|endoftext|>", "<eos>", "[SEP]"),
             "pad_token": ("[PAD]", "<pad>", "<|pad|>"), "unk_token": ("[UNK]", "<unk>", "<|unk|>")}
    present = {token["content"] for token in doc.get("added_tokens", [])}
    return {key: next(s for s in spellings if s in present) for key, spellings in names.items()
            if any(s in present for s in spellings)}


def export_tokenizer(tokenizer: Path, out: Path) -> None:
    """Write ``tokenizer.json`` (og-readable, see ``og_readable``) and ``tokenizer_config.json``
    into ``out``; the config beside ``tokenizer`` is kept where og reads its class."""
    source = json.loads(Path(tokenizer).read_text(encoding="utf-8"))
    doc = og_readable(source)
    target = out / "tokenizer.json"
    if doc is source:
        if Path(tokenizer).resolve() != target.resolve():
            shutil.copyfile(tokenizer, target)
    else:
        target.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    config = Path(tokenizer).with_name("tokenizer_config.json")
    given = json.loads(config.read_text(encoding="utf-8")) if config.is_file() else None
    write_tokenizer_config(doc, out / "tokenizer_config.json", given)

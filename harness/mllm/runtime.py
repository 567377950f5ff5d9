"""Generation over the three graphs with a KV cache, in NumPy, on any ``Session``.

``VlmRuntime`` holds the vision, embedding and decoder sessions of one export. It offers:
``generate`` (greedy, max new tokens, stop tokens, image token suppressed; with the KV cache
or, for checking, by re-running the whole sequence each step) and ``score_choices`` (summed log-likelihood of each
answer option: one prefill of the prompt, then one batched decoder pass over all options
with the prompt's cache tiled across the batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from harness.backends.interface import Session, SupportsKeptOutputs
from harness.errors import BadInputError, HarnessError, ManifestError
from harness.mllm.families import runtime_family
from harness.mllm.families.base import Vocab
from harness.mllm.manifest import VqaSpec
from harness.mllm.preprocess import vision_feeds

if TYPE_CHECKING:
    from harness.mllm.prompt import PromptTokenizer

Floats = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int64]


class NonFiniteOutput(HarnessError):
    """The decoder returned NaN/Inf logits: the cell is recorded as failed, never scored."""


def _finite(logits: npt.NDArray[Any], where: str) -> npt.NDArray[Any]:
    if not np.all(np.isfinite(logits)):
        raise NonFiniteOutput(f"{where}: decoder logits hold NaN/Inf ({int(np.count_nonzero(~np.isfinite(logits)))} values)")
    return logits


class GridFeatures(np.ndarray):
    """Image feature rows of a dynamic-resolution family (Qwen2-VL) carrying each image's grid:
    still the plain ``[rows, hidden]`` array every caller passes on, while the decoder's position
    rule (``RuntimeFamily.position_ids``) reads ``grids`` from it."""

    grids: tuple[Any, ...] = ()


def image_grids(features: npt.NDArray[Any]) -> tuple[Any, ...]:
    """The per-image grids ``features`` carry (empty for fixed-size families and for no image)."""
    return tuple(getattr(features, "grids", ()))


@dataclass(frozen=True)
class Generation:
    """Greedy output: new token ids (stop token included when hit) and the step logits [n, vocab]."""

    tokens: tuple[int, ...]
    logits: Floats
    stopped: bool


def attention_groups(ids: Ids, prompt_length: int, rule: str, image_token_id: int) -> Ids:
    """The decoder's ``attention_groups [B, T]`` (docs/vlm-contract.md): a query attends causally,
    and also to every key of its own group when its group is >= 0. ``prefix``: the prompt is
    group 0 (PaliGemma); ``image_blocks``: each contiguous run of image tokens is its own group
    (Gemma 3); generated tokens and answer options are -1 (causal only), as in transformers."""
    if rule == "prefix":
        groups = np.where(np.arange(ids.shape[1]) < prompt_length, 0, -1)
        return np.broadcast_to(groups.astype(np.int64), ids.shape).copy()
    is_image = ids == image_token_id
    starts = is_image & ~np.pad(is_image, ((0, 0), (1, 0)))[:, :-1]
    return np.where(is_image, np.cumsum(starts, axis=1) - 1, -1).astype(np.int64)


def log_softmax(logits: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Row-wise log-softmax in float64 (stable: shift by the max)."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class VlmRuntime:
    """One exported VLM: ``vision``, ``embedding`` and ``decoder`` sessions plus its ``vqa`` spec."""

    def __init__(self, spec: VqaSpec, vision: Session, embedding: Session, decoder: Session) -> None:
        self.spec = spec
        self.vision, self.embedding, self.decoder = vision, embedding, decoder
        self._dtype = np.float16 if spec.kv.dtype == "float16" else np.float32
        self._past_names = spec.kv.past_names()
        self._present_names = spec.kv.present_names()
        self.empty_features = np.zeros((0, spec.hidden_size), dtype=self._dtype)
        self.family = runtime_family(spec.family, str(spec.model_dir / "manifest.json"))
        # a backend that can keep outputs (ORT on CPU) holds the KV cache between steps: no copies through NumPy
        self._keeps_cache = isinstance(decoder, SupportsKeptOutputs)
        self.uses_blocks = self.family.uses_blocks(spec)
        if self.uses_blocks and self.family.image_block is None:
            raise ManifestError(f"{spec.model_dir / 'manifest.json'}: vqa.image_block: 'family', but family "
                                f"{self.family.name} has no per-image block; remove the field (the template holds the markers)")

    # ---- graphs -----------------------------------------------------------------------------

    def image_features(self, images: Sequence[npt.NDArray[Any]]) -> Floats:
        """``[image tokens of all images, hidden]`` features of raw HWC images. A family with a
        ``vision_feeds`` hook computes the feeds and each image's grid, which the rows then carry
        (``GridFeatures``); without grids every image counts ``vqa.tokens_per_image``."""
        if not images:
            return self.empty_features
        grids: list[Any] = []
        if self.family.vision_feeds is not None:
            feeds, grids = self.family.vision_feeds(images, self.spec)
        else:
            feeds = vision_feeds(images, self.spec.image)
        features = self.vision.run(feeds)["image_features"]
        if features.ndim == 3:  # vqa.features_rank 3: [images, tokens, hidden], flattened as transformers.js does
            features = features.reshape(-1, features.shape[-1])
        self._check_rows(features, len(images), grids)
        if not grids:
            return features
        rows = np.asarray(features).view(GridFeatures)
        rows.grids = tuple(grids)
        return rows

    def _check_rows(self, features: npt.NDArray[Any], num_images: int, grids: Sequence[Any]) -> None:
        """The vision graph gave one row per image token: ``tokens_per_image`` each, or the grids' counts."""
        where = self.spec.model_dir / "manifest.json"
        if grids:
            assert self.family.image_tokens is not None
            expected = sum(self.family.image_tokens(grids, self.spec))
            if features.shape != (expected, self.spec.hidden_size):
                field = "vqa.hidden_size" if features.shape[0] == expected else "vqa.tokens_per_image"
                raise ManifestError(f"{where}: {field}: the vision graph returned {features.shape} for grids "
                                    f"{list(grids)}, expected ({expected}, {self.spec.hidden_size}) from the grids' "
                                    f"token counts (vqa.tokens_per_image {self.spec.tokens_per_image} per tile or "
                                    "view, or the grid alone); fix the field or re-export the model")
            return
        expected = num_images * self.spec.tokens_per_image
        if features.shape != (expected, self.spec.hidden_size):
            field = "vqa.hidden_size" if features.ndim == 2 and features.shape[0] == expected else "vqa.tokens_per_image"
            raise ManifestError(
                f"{where}: {field}: the vision graph returned {features.shape} for "
                f"{num_images} image(s), expected ({expected}, {self.spec.hidden_size}) from vqa.tokens_per_image "
                f"{self.spec.tokens_per_image} and vqa.hidden_size {self.spec.hidden_size}; fix the field or re-export"
            )

    def image_tokens(self, features: Floats, num_images: int) -> list[int]:
        """Image tokens of each of ``num_images`` images in ``features``: their grids' counts, or
        ``vqa.tokens_per_image`` each. The prompt expands ``{image}`` with these."""
        grids = image_grids(features)
        if grids and self.family.image_tokens is not None:
            return self.family.image_tokens(grids, self.spec)
        return [self.spec.tokens_per_image] * num_images

    def image_blocks(self, features: Floats, num_images: int, vocab: Vocab) -> list[str] | None:
        """Each image's whole block (text) when the manifest expands ``{image}`` to blocks
        (``RuntimeFamily.uses_blocks``), else None (the plain run of image tokens)."""
        if not self.uses_blocks:
            return None
        assert self.family.image_block is not None
        grids = image_grids(features) or (None,) * num_images
        return [self.family.image_block(grid, self.spec, vocab) for grid in grids]

    def prompt_ids(self, tokenizer: PromptTokenizer, question: str, features: Floats, num_images: int) -> Ids:
        """The prompt of ``question`` for ``num_images`` images whose features are ``features``:
        the family's per-image blocks, or each image's count of image tokens in one run. A prompt
        of blocks must hold the images' own count of image tokens (the tokenizer's image token
        string must be ``vqa.image_token_id``)."""
        blocks = self.image_blocks(features, num_images, tokenizer)
        counts = self.image_tokens(features, num_images)
        ids = tokenizer.prompt_ids(question, image_tokens=counts, image_blocks=blocks)
        held = int(np.count_nonzero(ids == self.spec.image_token_id))
        if blocks is not None and held != sum(counts):
            raise ManifestError(f"{self.spec.model_dir / 'manifest.json'}: vqa.image_token_id: the {self.family.name} "
                                f"image blocks hold {held} tokens of id {self.spec.image_token_id}, expected "
                                f"{sum(counts)}; the tokenizer's image token must be that id (export the model's own "
                                "tokenizer)")
        return ids

    def embed(self, ids: Ids, features: Floats) -> Floats:
        """``inputs_embeds [B,S,H]``; checks the image-token count first (the graph cannot)."""
        count = int(np.count_nonzero(ids == self.spec.image_token_id))
        if count != features.shape[0] and image_grids(features):  # dynamic resolution: counts from the grids
            counts = self.image_tokens(features, len(image_grids(features)))
            raise BadInputError(f"the prompt holds {count} image tokens (id {self.spec.image_token_id}) but the images' "
                                f"grids give {counts} feature rows; expand {{image}} with VlmRuntime.image_tokens")
        if count != features.shape[0]:
            per_image = self.spec.tokens_per_image
            raise BadInputError(
                f"{self.spec.model_dir / 'manifest.json'}: vqa.tokens_per_image: the prompt holds {count} image tokens "
                f"(id {self.spec.image_token_id}) but {features.shape[0]} image feature rows were given "
                f"({per_image} per image); expand the {{image}} placeholder to {per_image} tokens once per image"
            )
        if self.spec.merge == "runtime":  # a token-only embedding (transformers.js): merge as masked_scatter does
            embeds = np.array(self.embedding.run({"input_ids": ids})["inputs_embeds"])
            embeds[ids == self.spec.image_token_id] = np.asarray(features, dtype=embeds.dtype)
            return embeds
        return self.embedding.run({"input_ids": ids, "image_features": np.asarray(features)})["inputs_embeds"]

    def empty_past(self, batch: int) -> dict[str, Floats]:
        kv = self.spec.kv
        empty = np.zeros((batch, kv.num_kv_heads, 0, kv.head_dim), dtype=self._dtype)
        return {name: empty for name in self._past_names}

    def decode(
        self, embeds: Floats, mask: Ids, positions: Ids, past: dict[str, Floats], extra: dict[str, Ids] | None = None
    ) -> tuple[Floats, dict[str, Floats]]:
        """One decoder run: logits ``[B,S,V]`` and the presents renamed as the next past.
        ``extra``: the family's further decoder inputs (``attention_groups``)."""
        feeds = {"inputs_embeds": embeds, "attention_mask": mask, "position_ids": positions, **past, **(extra or {})}
        if self._keeps_cache:
            outputs = self.decoder.run_keeping(feeds, self._present_names)
        else:
            outputs = self.decoder.run(feeds)
        present = {past_name: outputs[name] for past_name, name in zip(self._past_names, self._present_names)}
        return _finite(outputs["logits"], "decoder"), present

    # ---- generation -------------------------------------------------------------------------

    def inputs_for(self, ids: Ids, new: int, prompt_length: int, grids: Sequence[Any] = ()) -> tuple[Ids, dict[str, Ids]]:
        """``position_ids`` of the last ``new`` columns of ``ids [B, T]`` (the whole sequence so far)
        and the extra decoder inputs the manifest's attention rule needs; ``grids``: the images'."""
        positions = self.family.position_ids(ids, new, self.spec, grids)
        if self.spec.attention == "causal":
            return positions, {}
        return positions, {"attention_groups": attention_groups(ids, prompt_length, self.spec.attention,
                                                                self.spec.image_token_id)}

    def prefill(self, ids: Ids, features: Floats, prompt_length: int | None = None) -> tuple[Floats, dict[str, Floats]]:
        """Run the prompt ``ids`` (1-D) once: logits ``[1,S,V]`` and the cache. ``prompt_length``
        (default all of ``ids``): where the prompt ends when ``ids`` also holds generated tokens."""
        row = ids[np.newaxis]
        length = row.shape[1]
        mask = np.ones((1, length), dtype=np.int64)
        embeds = self.embed(row, features)  # first: a wrong image-token count is refused by its own message
        positions, extra = self.inputs_for(row, length, length if prompt_length is None else prompt_length,
                                           image_grids(features))
        return self.decode(embeds, mask, positions, self.empty_past(1), extra)

    def generate(
        self,
        ids: Ids,
        features: Floats,
        max_new_tokens: int | None = None,
        stop_token_ids: Sequence[int] | None = None,
        use_cache: bool = True,
    ) -> Generation:
        """Greedy decoding of the prompt ``ids`` (1-D int64) with ``features`` for its image tokens."""
        budget = self.spec.max_new_tokens if max_new_tokens is None else max_new_tokens
        stops = set(self.spec.stop_token_ids if stop_token_ids is None else stop_token_ids)
        logits, past = self.prefill(ids, features)
        steps: list[Floats] = [logits[0, -1]]
        tokens: list[int] = []
        sequence = [int(token) for token in ids]
        while True:
            token = self._greedy(steps[-1])
            tokens.append(token)
            sequence.append(token)
            if token in stops:
                return Generation(tuple(tokens), np.stack(steps), True)
            if len(tokens) >= budget:
                return Generation(tuple(tokens), np.stack(steps), False)
            if use_cache:
                step = np.asarray([[token]], dtype=np.int64)
                positions, extra = self.inputs_for(np.asarray([sequence], dtype=np.int64), 1, len(ids),
                                                   image_grids(features))
                logits, past = self.decode(
                    self.embed(step, self.empty_features),
                    np.ones((1, len(sequence)), dtype=np.int64),
                    positions,
                    past,
                    extra,
                )
            else:
                logits, _ = self.prefill(np.asarray(sequence, dtype=np.int64), features, prompt_length=len(ids))
            steps.append(logits[0, -1])

    def _greedy(self, logits: Floats) -> int:
        """Argmax over the vocabulary except the image token: a generated image token would be
        merged with a (missing) image feature by the embedding graph, so it is never emitted."""
        masked = logits.astype(np.float64, copy=True)
        masked[self.spec.image_token_id] = -np.inf
        return int(np.argmax(masked))

    # ---- choices ----------------------------------------------------------------------------

    def score_choices(self, ids: Ids, features: Floats, choices: Sequence[Sequence[int]]) -> npt.NDArray[np.float64]:
        """Summed log-likelihood of each option's tokens after the prompt, ``[len(choices)]`` float64.

        The prompt runs once; all options then run in ONE decoder call of batch ``len(choices)``,
        right-padded (padding sits after every real token, so causal attention never sees it).
        """
        if not choices or any(len(choice) == 0 for choice in choices):
            raise BadInputError("every answer option must encode to at least one token")
        logits, past = self.prefill(ids, features)
        first = log_softmax(logits[0, -1])
        scores = np.asarray([first[choice[0]] for choice in choices], dtype=np.float64)
        longest = max(len(choice) for choice in choices)
        if longest == 1:
            return scores
        count, width, prompt = len(choices), longest - 1, len(ids)
        feed = np.full((count, width), self.spec.pad_token_id, dtype=np.int64)
        valid = np.zeros((count, width), dtype=bool)
        for row, choice in enumerate(choices):
            feed[row, : len(choice) - 1] = choice[:-1]
            valid[row, : len(choice) - 1] = True
        mask = np.concatenate([np.ones((count, prompt), dtype=np.int64), valid.astype(np.int64)], axis=1)
        positions, extra = self.inputs_for(np.concatenate([np.repeat(ids[np.newaxis], count, axis=0), feed], axis=1),
                                           width, prompt, image_grids(features))
        tiled = {name: np.repeat(value, count, axis=0) for name, value in past.items()}
        step_logits, _ = self.decode(self.embed(feed, self.empty_features), mask, positions, tiled, extra)
        logp = log_softmax(step_logits)
        for row, choice in enumerate(choices):
            for offset, token in enumerate(choice[1:]):
                scores[row] += logp[row, offset, token]
        return scores

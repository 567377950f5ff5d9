"""Choices mode against a direct computation, stop tokens, answer modes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.mllm.answer import Answerer
from harness.mllm.preprocess import normalize
from harness.mllm.prompt import PromptTokenizer
from harness.mllm.sessions import open_runtime


def _direct_scores(model, ids, pixels, choices):  # type: ignore[no-untyped-def]
    """Summed log p(option | prompt) from the source torch model, one full forward per option."""
    scores = []
    for choice in choices:
        sequence = torch.tensor([list(ids) + list(choice)])
        with torch.no_grad():
            logits = model(input_ids=sequence, pixel_values=pixels, attention_mask=torch.ones_like(sequence)).logits[0]
        logp = torch.log_softmax(logits.double(), dim=-1)
        scores.append(sum(float(logp[len(ids) - 1 + j, token]) for j, token in enumerate(choice)))
    return np.asarray(scores)


def test_choices_scores_equal_direct_log_likelihood(llava_export):  # type: ignore[no-untyped-def]
    model, export = llava_export
    choices = [[10], [11, 12], [13, 14, 15], [16, 17]]  # different lengths: exercises right padding
    rng = np.random.default_rng(7)
    with open_runtime(export) as runtime:
        tokenizer = PromptTokenizer.from_spec(runtime.spec)
        for question in ("w1 w2", "w9 w8 w7"):
            image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            ids = tokenizer.prompt_ids(question)
            ours = runtime.score_choices(ids, runtime.image_features([image]), choices)
            direct = _direct_scores(model, ids, torch.from_numpy(normalize([image], runtime.spec.image)), choices)
            np.testing.assert_allclose(ours, direct, atol=1e-4)
            assert int(np.argmax(ours)) == int(np.argmax(direct))


def test_choices_are_scored_in_one_batched_decoder_pass(llava_export):  # type: ignore[no-untyped-def]
    _, export = llava_export
    with open_runtime(export) as runtime:
        calls = []
        original = runtime.decoder.run_keeping

        def counting(feeds, keep):  # type: ignore[no-untyped-def]
            calls.append(feeds["inputs_embeds"].shape)
            return original(feeds, keep)

        runtime.decoder.run_keeping = counting  # type: ignore[method-assign]
        ids = PromptTokenizer.from_spec(runtime.spec).prompt_ids("w3")
        runtime.score_choices(ids, runtime.image_features([np.zeros((16, 16, 3), np.uint8)]), [[5, 6], [7, 8, 9], [10]])
    assert len(calls) == 2  # prefill + one batched pass
    assert calls[1][:2] == (3, 2)


def test_generation_stops_at_stop_token_and_budget(llava_export):  # type: ignore[no-untyped-def]
    _, export = llava_export
    with open_runtime(export) as runtime:
        ids = PromptTokenizer.from_spec(runtime.spec).prompt_ids("w4")
        features = runtime.image_features([np.full((16, 16, 3), 90, np.uint8)])
        free = runtime.generate(ids, features, max_new_tokens=5, stop_token_ids=())
        assert len(free.tokens) == 5 and not free.stopped
        stop = free.tokens[2]
        stopped = runtime.generate(ids, features, max_new_tokens=5, stop_token_ids=(stop,))
        assert stopped.stopped and stopped.tokens == free.tokens[: free.tokens.index(stop) + 1]


def test_mode_choices_overrides_a_generate_mode_manifest(idefics3_export):  # type: ignore[no-untyped-def]
    _, export = idefics3_export
    image = np.zeros((32, 32, 3), np.uint8)
    with open_runtime(export) as runtime:
        assert runtime.spec.answer_mode == "generate"
        ranked = Answerer(runtime, "choices").answer(image, "w1", ["w2", "w3 w4"])
        tokenizer = PromptTokenizer.from_spec(runtime.spec)
        expected = runtime.score_choices(tokenizer.prompt_ids("w1"), runtime.image_features([image]),
                                         [tokenizer.encode("w2"), tokenizer.encode("w3 w4")])
        assert ranked.scores == tuple(expected) and ranked.text == ["w2", "w3 w4"][int(np.argmax(expected))]
        answer = Answerer(runtime).answer(image, "w1", ["w2", "w3"])
        assert answer.scores == () and isinstance(answer.text, str)


def test_greedy_never_emits_the_image_token(llava_export):  # type: ignore[no-untyped-def]
    _, export = llava_export
    with open_runtime(export) as runtime:
        logits = np.zeros(64, dtype=np.float32)
        logits[runtime.spec.image_token_id], logits[9] = 5.0, 3.0
        assert runtime._greedy(logits) == 9


def test_nan_logits_raise_non_finite(llava_export):  # type: ignore[no-untyped-def]
    from harness.mllm.runtime import NonFiniteOutput

    _, export = llava_export
    with open_runtime(export) as runtime:
        original = runtime.decoder.run_keeping

        def poisoned(feeds, keep):  # type: ignore[no-untyped-def]
            out = original(feeds, keep)
            out["logits"] = np.full_like(out["logits"], np.nan)
            return out

        runtime.decoder.run_keeping = poisoned  # type: ignore[method-assign]
        ids = PromptTokenizer.from_spec(runtime.spec).prompt_ids("w1")
        with pytest.raises(NonFiniteOutput, match="NaN"):
            runtime.score_choices(ids, runtime.image_features([np.zeros((16, 16, 3), np.uint8)]), [[5], [6]])


def test_the_kv_cache_stays_in_onnxruntime_and_changes_nothing(llava_export):  # type: ignore[no-untyped-def]
    """On ORT CPU the presents come back as OrtValues (``KeptValue``) and go in as the next past
    unconverted; greedy tokens, step logits and option scores equal the plain NumPy path's."""
    from harness.backends.ort import KeptValue

    _, export = llava_export
    image = np.random.default_rng(3).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    with open_runtime(export) as runtime:
        ids = PromptTokenizer.from_spec(runtime.spec).prompt_ids("w4 w5")
        features = runtime.image_features([image])
        _, past = runtime.prefill(ids, features)
        assert all(isinstance(value, KeptValue) for value in past.values())
        assert np.asarray(next(iter(past.values()))).shape == next(iter(past.values())).shape
        kept = runtime.generate(ids, features, max_new_tokens=6, stop_token_ids=())
        kept_scores = runtime.score_choices(ids, features, [[5, 6], [7, 8, 9]])
        runtime._keeps_cache = False  # the NumPy path every other backend takes
        plain = runtime.generate(ids, features, max_new_tokens=6, stop_token_ids=())
        assert kept.tokens == plain.tokens and np.array_equal(kept.logits, plain.logits)
        assert np.array_equal(kept_scores, runtime.score_choices(ids, features, [[5, 6], [7, 8, 9]]))

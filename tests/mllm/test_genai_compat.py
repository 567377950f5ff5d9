"""onnxruntime-genai runs our export (genai_config.json, surrogate type gemma3) to the same greedy
tokens as the harness runtime. Skipped where onnxruntime-genai is not installed (it is not a
dependency: it may pin another onnxruntime)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.mllm.prompt import PromptTokenizer
from harness.mllm.sessions import open_runtime

og = pytest.importorskip("onnxruntime_genai", reason="onnxruntime-genai is not installed")


def test_genai_generates_the_same_greedy_tokens(llava_export):  # type: ignore[no-untyped-def]
    from harness.mllm.preprocess import vision_feeds

    _, export = llava_export
    model = og.Model(str(export))
    rng = np.random.default_rng(2)
    with open_runtime(export) as runtime:
        tokenizer = PromptTokenizer.from_spec(runtime.spec)
        for question in ("w1 w2", "w3 w9 w11"):
            image = rng.integers(0, 256, (*runtime.spec.image.size, 3), dtype=np.uint8)
            ids = tokenizer.prompt_ids(question)
            ours = runtime.generate(ids, runtime.image_features([image]), max_new_tokens=8)
            params = og.GeneratorParams(model)
            params.set_search_options(max_length=len(ids) + 8, do_sample=False)
            generator = og.Generator(model, params)
            inputs = og.NamedTensors()
            inputs["input_ids"] = ids.astype(np.int32)[np.newaxis]
            inputs["pixel_values"] = vision_feeds([image], runtime.spec.image)["pixel_values"]
            inputs["num_image_tokens"] = np.array([runtime.spec.tokens_per_image], dtype=np.int64)
            generator.set_inputs(inputs)
            theirs = []
            while not generator.is_done():
                generator.generate_next_token()
                theirs.append(int(generator.get_next_tokens()[0]))
            assert theirs == list(ours.tokens)

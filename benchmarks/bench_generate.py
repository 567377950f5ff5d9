"""Generation speed of the harness's ONNX loop vs transformers' ``generate``, and per-probe cost.

Both peers run the same architecture and weights (a Llava of exactly the vlm-synth-tiny
configuration, built by the recipe's ``build_model``, exported here), greedy, the same prompt
ids and pixels, a fixed number of new tokens (stop tokens disabled), one thread each
(``torch.set_num_threads(1)``, ORT ``threads=1``), measured in the same run. Tokens/s counts
new tokens over wall time including the prefill and the vision pass. Then the per-probe cost
of ``mmharness bias`` on the shipped model (ms per item per cell).

Run: ``python benchmarks/bench_generate.py [--prompts 20] [--new-tokens 16] [--probe-items 100]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "models" / "recipes"))


def _prompts(count: int, spec, rng):  # type: ignore[no-untyped-def]
    from harness.data.vqa import synthetic_vqa
    from harness.mllm.prompt import PromptTokenizer

    tokenizer = PromptTokenizer.from_spec(spec)
    data = synthetic_vqa(size=count, seed=int(rng.integers(1000)))
    return [(tokenizer.prompt_ids(item.question), item.image) for item in data]


def bench_generation(prompts: int, new_tokens: int) -> dict[str, float]:
    from train_vlm import TEMPLATE, build_model  # type: ignore[import-not-found]

    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.tokenizer import build_word_tokenizer
    from harness.data.vqa import vocabulary
    from harness.mllm.preprocess import normalize
    from harness.mllm.sessions import open_runtime

    torch.set_num_threads(1)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        vocab = build_word_tokenizer(vocabulary(), Path(tmp) / "tok" / "tokenizer.json")
        model = build_model(((len(vocab) + 15) // 16) * 16).eval()
        export_mllm(model, Path(tmp) / "m", ExportOptions(tokenizer=Path(tmp) / "tok" / "tokenizer.json", prompt_template=TEMPLATE))
        with open_runtime(Path(tmp) / "m", "ort:cpu", ("threads=1",)) as runtime:
            items = _prompts(prompts, runtime.spec, np.random.default_rng(0))
            runtime.generate(items[0][0], runtime.image_features([items[0][1]]), max_new_tokens=2, stop_token_ids=())
            start = time.perf_counter()
            ours_tokens = []
            for ids, image in items:
                ours_tokens.append(runtime.generate(ids, runtime.image_features([image]), max_new_tokens=new_tokens,
                                                    stop_token_ids=()).tokens)
            ours = time.perf_counter() - start
            spec = runtime.spec
        hf_tokens = []
        with torch.no_grad():
            model.generate(input_ids=torch.from_numpy(items[0][0])[None], pixel_values=torch.from_numpy(normalize([items[0][1]], spec.image)),
                           max_new_tokens=2, do_sample=False, pad_token_id=0)
            start = time.perf_counter()
            for ids, image in items:
                out = model.generate(input_ids=torch.from_numpy(ids)[None], attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                     pixel_values=torch.from_numpy(normalize([image], spec.image)), max_new_tokens=new_tokens,
                                     min_new_tokens=new_tokens, do_sample=False, eos_token_id=None, pad_token_id=0,
                                     suppress_tokens=[int(model.config.image_token_id)])
                hf_tokens.append(tuple(out[0, len(ids):].tolist()))
            theirs = time.perf_counter() - start
    total = prompts * new_tokens
    return {"ours_tok_s": total / ours, "hf_tok_s": total / theirs, "speedup": theirs / ours,
            "same_tokens": float(np.mean([a == b for a, b in zip(ours_tokens, hf_tokens)]))}


def bench_probes(items: int) -> dict[str, float]:
    from harness.mllm.bias import BiasConfig, run_bias
    from harness.scenarios.bias import BiasPlan

    plan = BiasPlan(permutations=1, corruptions=("gaussian_noise", "defocus_blur"), severities=(3,))
    doc = run_bias(BiasConfig(limit=items, plan=plan, bootstrap=0, backend_options=("threads=1",)))
    return dict(doc["timing"]["per_sample_ms"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--probe-items", type=int, default=100)
    args = parser.parse_args()
    gen = bench_generation(args.prompts, args.new_tokens)
    print(f"generation, {args.prompts} prompts x {args.new_tokens} new tokens, 1 thread each (vlm-synth-tiny architecture):")
    print(f"  harness ONNX loop (ort:cpu, KV cache): {gen['ours_tok_s']:8.1f} tokens/s")
    print(f"  transformers generate (torch CPU):     {gen['hf_tok_s']:8.1f} tokens/s")
    print(f"  ratio ours / transformers:             {gen['speedup']:8.2f}x   (identical greedy tokens: {gen['same_tokens']:.0%})")
    if args.probe_items:
        print(f"\nper-probe cost of mmharness bias on models/vlm-synth-tiny ({args.probe_items} items, ms per item):")
        for cell, ms in bench_probes(args.probe_items).items():
            print(f"  {cell:<42} {ms:7.2f}")


if __name__ == "__main__":
    main()

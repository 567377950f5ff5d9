"""Generation speed of the harness's ONNX loop vs transformers' ``generate``, and per-probe cost.

Both peers run the same architecture and weights (a Llava of exactly the vlm-synth-tiny
configuration, built by the recipe's ``build_model``, exported here), greedy, the same prompt
ids and pixels, a fixed number of new tokens (stop tokens disabled), one thread each
(``torch.set_num_threads(1)``, ORT ``threads=1``), measured in the same run. Tokens/s counts
new tokens over wall time including the prefill and the vision pass. Then the per-probe cost
of ``mmharness bias`` on the shipped model (ms per item per cell).

``--og`` (with ``MMHARNESS_OG_PYTHON`` naming a venv's python that has onnxruntime-genai 0.18):
the harness loop against onnxruntime-genai on one export of a random Qwen2.5-VL-shaped model
(``harness/mllm`` vs og's C++ loop, both ORT CPU, same threads, prompt, pixels and greedy tokens;
asserted equal). Prefill is the time to the first token (vision + prompt); decode tokens/s is
over the remaining tokens. The harness feeds each step's ``present`` outputs back as ``past``
unchanged (ORT returns them as views, no copy); the one copy per step is the graph's own Concat,
as in og with ``past_present_share_buffer: false`` (what our genai_config declares). Measured
2026-12-02, 2 cores, load average ~4.4 (other jobs running), 268 M params, prompt 75 tokens,
32 new tokens, 2 threads each: harness decode 4.44 tokens/s (prefill 1.32 s), og 2.57 tokens/s
(prefill 2.36 s): 1.73x og's decode speed. Caveat: each side keeps its ORT defaults beyond the
thread count; the harness turns intra-op spinning off (``CPU_SESSION_DEFAULTS``), og keeps ORT's
spinning pool, which loses more on a loaded 2-core box, so part of the gap may be the load.

Run: ``python benchmarks/bench_generate.py [--prompts 20] [--new-tokens 16] [--probe-items 100] [--og]``
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


def bench_og(new_tokens: int, repeats: int = 3) -> dict[str, float]:
    """The harness loop vs onnxruntime-genai (a subprocess of the og venv) on one Qwen2.5-VL export."""
    import json
    import os
    import subprocess

    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.tokenizer import build_word_tokenizer
    from harness.mllm.families.qwen2_vl import vision_feeds
    from harness.mllm.prompt import PromptTokenizer
    from harness.mllm.sessions import open_runtime

    python = os.environ.get("MMHARNESS_OG_PYTHON")
    if not python:
        raise SystemExit("--og needs MMHARNESS_OG_PYTHON: a venv's python that has onnxruntime-genai 0.18")
    threads = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_word_tokenizer([f"w{i}" for i in range(40)], root / "tok" / "tokenizer.json")
        model, params = build_qwen2_5_vl()
        start = time.perf_counter()
        export_mllm(model, root / "m", ExportOptions(tokenizer=root / "tok" / "tokenizer.json",
                                                     prompt_template="w38 {image} w39 {question}"))
        export_s = time.perf_counter() - start
        del model
        _set_og_threads(root / "m" / "genai_config.json", threads)
        image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
        with open_runtime(root / "m", "ort:cpu", (f"threads={threads}",)) as runtime:
            features = runtime.image_features([image])
            counts = runtime.image_tokens(features, 1)
            ids = PromptTokenizer.from_spec(runtime.spec).prompt_ids("w1 w2 w3 w4 w5 w6 w7 w8", image_tokens=counts)
            feeds, _ = vision_feeds([image], runtime.spec)
            ours, first = _time_harness(runtime, ids, image, new_tokens, repeats)
        np.savez(root / "case.npz", ids=ids, pixel_values=feeds["pixel_values"], image_grid_thw=feeds["image_grid_thw"],
                 tokens=np.array(counts, np.int64), steps=new_tokens, repeats=repeats)
        (root / "client.py").write_text(OG_TIMER)
        done = subprocess.run([python, str(root / "client.py"), str(root / "m"), str(root / "case.npz")],
                              capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            raise SystemExit(f"onnxruntime-genai client failed: {done.stderr[-2000:]}")
        theirs = json.loads(done.stdout.strip().splitlines()[-1])
    assert theirs["tokens"] == list(ours["tokens"]), f"og {theirs['tokens']} != harness {list(ours['tokens'])}"
    return {"params_m": params / 1e6, "export_s": export_s, "prompt": len(ids), "threads": threads,
            "ours_prefill_s": first, "ours_decode_tok_s": ours["decode_tok_s"],
            "og_prefill_s": theirs["prefill_s"], "og_decode_tok_s": theirs["decode_tok_s"],
            "ratio": ours["decode_tok_s"] / theirs["decode_tok_s"]}


def build_qwen2_5_vl():  # type: ignore[no-untyped-def]
    """Random weights, Qwen2.5-VL-shaped (a Qwen2.5-0.5B-like text stack of 12 layers, 32k vocab,
    an 8-block windowed vision tower): ~250 M parameters, exportable in minutes on 2 cores."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(0)
    text = dict(vocab_size=32000, hidden_size=896, intermediate_size=4864, num_hidden_layers=12, num_attention_heads=14,
                num_key_value_heads=2, max_position_embeddings=2048, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [8, 12, 12]})
    vision = dict(depth=8, hidden_size=512, out_hidden_size=896, intermediate_size=1376, num_heads=8, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, window_size=112, fullatt_block_indexes=[3, 7])
    model = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(
        text_config=text, vision_config=vision, image_token_id=4, video_token_id=45, vision_start_token_id=43,
        vision_end_token_id=44)).eval()
    return model, sum(p.numel() for p in model.parameters())


def _time_harness(runtime, ids, image, new_tokens: int, repeats: int):  # type: ignore[no-untyped-def]
    """Best of ``repeats``: prefill = vision + a one-token generate; decode over the other tokens."""
    firsts, totals, tokens = [], [], ()
    runtime.generate(ids, runtime.image_features([image]), max_new_tokens=2, stop_token_ids=())  # warm-up
    for _ in range(repeats):
        start = time.perf_counter()
        runtime.generate(ids, runtime.image_features([image]), max_new_tokens=1, stop_token_ids=())
        firsts.append(time.perf_counter() - start)
        start = time.perf_counter()
        tokens = runtime.generate(ids, runtime.image_features([image]), max_new_tokens=new_tokens, stop_token_ids=()).tokens
        totals.append(time.perf_counter() - start)
    decode = min(totals) - min(firsts)
    return {"tokens": tokens, "decode_tok_s": (new_tokens - 1) / decode}, min(firsts)


def _set_og_threads(config: Path, threads: int) -> None:
    """og's sessions get the harness's intra-op thread count (both loops on the same cores)."""
    import json

    doc = json.loads(config.read_text())
    for role in ("decoder", "embedding", "vision"):
        if role in doc["model"]:
            doc["model"][role].setdefault("session_options", {})["intra_op_num_threads"] = threads
    config.write_text(json.dumps(doc, indent=1))


OG_TIMER = '''
import json, sys, time
import numpy as np
import onnxruntime_genai as og

model = og.Model(sys.argv[1])
case = np.load(sys.argv[2])
steps, ids = int(case["steps"]), case["ids"]

def run():
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + steps, do_sample=False)
    generator = og.Generator(model, params)
    inputs = og.NamedTensors()
    inputs["input_ids"] = ids.astype(np.int32)[None]
    for name in ("pixel_values", "image_grid_thw"):
        inputs[name] = case[name]
    inputs["num_image_tokens"] = case["tokens"]
    start = time.perf_counter()
    generator.set_inputs(inputs)
    out = []
    generator.generate_next_token()
    out.append(int(generator.get_next_tokens()[0]))
    first = time.perf_counter()
    while not generator.is_done():
        generator.generate_next_token()
        out.append(int(generator.get_next_tokens()[0]))
    return out, first - start, time.perf_counter() - first

run()
runs = [run() for _ in range(int(case["repeats"]))]
tokens = runs[-1][0]
decode = min(r[2] for r in runs)
print(json.dumps({"tokens": tokens, "prefill_s": min(r[1] for r in runs), "decode_tok_s": (len(tokens) - 1) / decode}))
'''


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
    parser.add_argument("--og", action="store_true", help="only the harness vs onnxruntime-genai comparison")
    args = parser.parse_args()
    if args.og:
        og = bench_og(max(args.new_tokens, 2))
        print(f"harness vs onnxruntime-genai 0.18, random Qwen2.5-VL-shaped model ({og['params_m']:.0f} M params, "
              f"exported in {og['export_s']:.0f} s), prompt {og['prompt']} tokens, {args.new_tokens} new tokens, "
              f"{og['threads']} threads each, identical greedy tokens:")
        print(f"  harness: prefill {og['ours_prefill_s']:.3f} s, decode {og['ours_decode_tok_s']:7.2f} tokens/s")
        print(f"  og:      prefill {og['og_prefill_s']:.3f} s, decode {og['og_decode_tok_s']:7.2f} tokens/s")
        print(f"  decode ratio harness / og: {og['ratio']:.2f}x")
        return
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

"""onnxruntime-genai 0.18 reads our exports' tokenizer as written (issue 14 item 4): og's own
``og.Tokenizer`` encodes the rendered prompts to the harness's ids, and og's greedy tokens on
those ids equal the harness runtime's (and transformers' ``generate`` where the model is here):
the shipped vlm-synth-tiny as shipped, a word-level export (converted to BPE by the exporter)
and an export with a real byte-level BPE trained here. og runs in its own venv
(``MMHARNESS_OG_PYTHON``); skipped with the reason when absent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.mllm.conftest import SHIPPED, WORDS, tiny_llava

torch = pytest.importorskip("torch")

OG_CLIENT = '''
import json, sys
import numpy as np
import onnxruntime_genai as og

model = og.Model(sys.argv[1])
tokenizer = og.Tokenizer(model)
cases = json.loads(open(sys.argv[2]).read())
arrays = np.load(sys.argv[3])
out = []
for index, case in enumerate(cases):
    ids = tokenizer.encode(case["prompt"])
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + case["steps"], do_sample=False)
    generator = og.Generator(model, params)
    inputs = og.NamedTensors()
    inputs["input_ids"] = np.asarray(ids, dtype=np.int32)[None]
    for name in case["vision_inputs"]:
        inputs[name] = arrays[f"{index}.{name}"]
    inputs["num_image_tokens"] = np.array(case["image_tokens"], dtype=np.int64)
    generator.set_inputs(inputs)
    tokens = []
    while not generator.is_done():
        generator.generate_next_token()
        tokens.append(int(generator.get_next_tokens()[0]))
    out.append({"ids": [int(i) for i in ids], "tokens": tokens})
print(json.dumps(out))
'''


OG_ENCODE = '''
import json, sys
import onnxruntime_genai as og

tokenizer = og.Tokenizer(og.Model(sys.argv[1]))
print(json.dumps([[int(i) for i in tokenizer.encode(text)] for text in json.loads(sys.argv[2])]))
'''


def _og_python():  # type: ignore[no-untyped-def]
    from tests.mllm.test_qwen2_vl import _og_python as find

    python = find()
    if python is None:
        pytest.skip("onnxruntime-genai is not installed (set MMHARNESS_OG_PYTHON to a venv's python that has it)")
    return python


def _prompt_text(spec, question: str, image_tokens: int) -> str:  # type: ignore[no-untyped-def]
    """The prompt as text, the way an og user writes it: BOS and the image tokens spelled out, no
    whitespace right before them (og 0.18 encodes a piece's trailing whitespace as -1; a word-level
    tokenizer ignores whitespace, so the ids are the template's)."""
    head, _, tail = spec.prompt_template.replace("{question}", question).partition("{image}")
    return ("<s>" if spec.add_bos else "") + head.rstrip() + "<image>" * image_tokens + tail


def _vision_inputs(runtime, image):  # type: ignore[no-untyped-def]
    """The vision graph's feeds (og passes them to it as they are): the family's, else pixels."""
    from harness.mllm.preprocess import vision_feeds

    if runtime.family.vision_feeds is not None:
        return runtime.family.vision_feeds([image], runtime.spec)[0]
    return vision_feeds([image], runtime.spec.image)


def _compare(export, questions, tmp_path, model=None, steps: int = 6, size=None):  # type: ignore[no-untyped-def]
    """og (own tokenizer) vs the harness (and ``model`` through transformers): ids and greedy tokens.
    og has no suppressed tokens: where it emits the image token (the harness never does), that
    token must be the argmax of the harness's logits there, and the tokens before it equal."""
    from harness.mllm.preprocess import normalize
    from harness.mllm.prompt import PromptTokenizer
    from harness.mllm.sessions import open_runtime

    python = _og_python()
    rng = np.random.default_rng(5)
    cases, arrays, ours, hf = [], {}, [], []
    with open_runtime(export) as runtime:
        spec = runtime.spec
        tokenizer = PromptTokenizer.from_spec(spec)
        for index, question in enumerate(questions):
            image = rng.integers(0, 256, (*(size or spec.image.size), 3), dtype=np.uint8)
            features = runtime.image_features([image])
            counts = runtime.image_tokens(features, 1)
            ids = tokenizer.prompt_ids(question, image_tokens=counts)
            # og stops at EOS: so does the harness here
            ours.append((ids, runtime.generate(ids, features, max_new_tokens=steps, stop_token_ids=[spec.eos_token_id])))
            feeds = _vision_inputs(runtime, image)
            arrays.update({f"{index}.{name}": value for name, value in feeds.items()})
            cases.append({"prompt": _prompt_text(spec, question, sum(counts)), "steps": steps,
                          "image_tokens": list(counts), "vision_inputs": sorted(feeds)})
            if model is not None:
                with torch.no_grad():
                    out = model.generate(input_ids=torch.from_numpy(ids)[None], pixel_values=torch.from_numpy(normalize([image], spec.image)),
                                         max_new_tokens=steps, do_sample=False, eos_token_id=spec.eos_token_id, pad_token_id=0,
                                         suppress_tokens=[spec.image_token_id])
                hf.append(tuple(out[0, len(ids):].tolist()))
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    np.savez(tmp_path / "arrays.npz", **arrays)
    (tmp_path / "client.py").write_text(OG_CLIENT)
    done = subprocess.run([python, str(tmp_path / "client.py"), str(export), str(tmp_path / "cases.json"),
                           str(tmp_path / "arrays.npz")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    for (ids, generation), result in zip(ours, theirs):
        assert result["ids"] == ids.tolist()  # og's own tokenizer, the harness's ids
        tokens = result["tokens"]
        cut = tokens.index(spec.image_token_id) if spec.image_token_id in tokens else len(tokens)
        assert tuple(tokens[:cut]) == generation.tokens[:cut]
        if cut < len(tokens):
            assert int(np.argmax(generation.logits[cut])) == spec.image_token_id
        else:
            assert tuple(tokens) == generation.tokens
    if model is not None:
        assert hf == [generation.tokens for _, generation in ours]
    return theirs


def test_og_reads_the_shipped_tokenizer_as_shipped(tmp_path):  # type: ignore[no-untyped-def]
    if not (SHIPPED / "manifest.json").is_file():
        pytest.skip("shipped VLM not built")
    theirs = _compare(SHIPPED, ("what color is the shape?", "how many shapes are there?", "is the shape on the left or right?"),
                      tmp_path)
    assert all(len(result["ids"]) > 16 for result in theirs)


def test_og_reads_a_word_level_export(llava_export, tmp_path):  # type: ignore[no-untyped-def]
    model, export = llava_export
    assert json.loads((export / "tokenizer.json").read_text())["model"]["type"] == "BPE"  # converted for og
    assert json.loads((export / "tokenizer_config.json").read_text())["tokenizer_class"] == "GPT2Tokenizer"
    _compare(export, ("w1 w2", "w3 w9 w11", "w20 w5"), tmp_path, model)


def test_the_conversion_keeps_every_word_id(tmp_path):  # type: ignore[no-untyped-def]
    """The BPE written for a word-level tokenizer encodes like the word-level one (HF tokenizers)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    from exporters.mllm.tokenizer import SPECIALS, export_tokenizer

    vocab = {word: index for index, word in enumerate((*SPECIALS, *WORDS, "?", ":", "w1?"))}
    word = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    word.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    word.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    word.add_special_tokens(list(SPECIALS))
    (tmp_path / "src").mkdir()
    word.save(str(tmp_path / "src" / "tokenizer.json"))
    export_tokenizer(tmp_path / "src" / "tokenizer.json", tmp_path)
    bpe = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    for text in ("<s>w1 w2?", "w3  w9\tw11 : w4", "w7?? w8", "<image><image> w39", "zz w1"):
        assert bpe.encode(text).ids == word.encode(text).ids
        assert bpe.decode(bpe.encode(text).ids) == word.decode(word.encode(text).ids)
    assert bpe.get_vocab() == word.get_vocab()


def _bpe_tokenizer(path):  # type: ignore[no-untyped-def]
    """A byte-level BPE (GPT-2 style) trained here; the five specials first, so <image> is id 4."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from exporters.mllm.tokenizer import SPECIALS

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    corpus = ["the red circle is on the left", "a blue square on the right", "question: what is it", "red or blue"] * 20
    trainer = trainers.BpeTrainer(vocab_size=64, special_tokens=list(SPECIALS), show_progress=False,
                                  initial_alphabet=sorted(set("".join(corpus).replace(" ", "Ġ"))))
    tokenizer.train_from_iterator(corpus, trainer)
    assert tokenizer.get_vocab_size() <= 64 and tokenizer.token_to_id("<image>") == 4
    tokenizer.save(str(path))


def test_og_reads_a_bpe_export(tmp_path):  # type: ignore[no-untyped-def]
    from exporters.mllm import ExportOptions, export_mllm

    _bpe_tokenizer(tmp_path / "tokenizer.json")
    model = tiny_llava()
    export_mllm(model, tmp_path / "export", ExportOptions(tokenizer=tmp_path / "tokenizer.json",
                                                          prompt_template="{image} question: {question}"))
    assert json.loads((tmp_path / "export" / "tokenizer_config.json").read_text())["tokenizer_class"] == "GPT2Tokenizer"
    theirs = _compare(tmp_path / "export", ("what is red", "the blue square on the left", "is it red or blue"),
                      tmp_path, model)
    vocab = json.loads((tmp_path / "export" / "tokenizer.json").read_text())["model"]["vocab"]
    assert vocab["Ġred"] in theirs[0]["ids"] and vocab["Ġblue"] in theirs[1]["ids"]  # merged pieces, not bytes


def test_og_reads_a_qwen2_5_vl_export(tmp_path):  # type: ignore[no-untyped-def]
    """og's ``qwen2_5_vl`` type (3-D positions from vision_start + image_grid_thw) with its own
    tokenizer on a word-level export; transformers' tokens are the export's parity."""
    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.tokenizer import build_word_tokenizer
    from tests.mllm.test_qwen2_vl import QUESTIONS, TEMPLATE, tiny_qwen2_5_vl

    build_word_tokenizer(WORDS, tmp_path / "src" / "tokenizer.json")
    manifest = export_mllm(tiny_qwen2_5_vl(), tmp_path / "export", ExportOptions(
        tokenizer=tmp_path / "src" / "tokenizer.json", prompt_template=TEMPLATE, parity_questions=QUESTIONS))
    assert manifest["parity"]["greedy_tokens_equal"] is True
    theirs = _compare(tmp_path / "export", ("w1 w2", "w9", "w3 w4 w5"), tmp_path, size=(56, 84))
    assert all(result["ids"].count(4) == 6 for result in theirs)  # 56x84 px: 6 merged image tokens


def test_og_reads_a_unigram_tokenizer(tmp_path):  # type: ignore[no-untyped-def]
    """A Unigram tokenizer.json (SentencePiece style, trained here) given no tokenizer_config.json:
    the export names a Unigram class og reads, and og's ids equal HF tokenizers' on plain text."""
    import shutil

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from exporters.mllm.tokenizer import SPECIALS, export_tokenizer

    python = _og_python()
    if not (SHIPPED / "manifest.json").is_file():
        pytest.skip("shipped VLM not built")
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    corpus = ["the red circle is on the left", "a blue square on the right", "question: what is it", "red or blue"] * 20
    tokenizer.train_from_iterator(corpus, trainers.UnigramTrainer(vocab_size=48, special_tokens=list(SPECIALS),
                                                                  unk_token="[UNK]", show_progress=False))
    (tmp_path / "src").mkdir()
    tokenizer.save(str(tmp_path / "src" / "tokenizer.json"))
    model = Path(shutil.copytree(SHIPPED, tmp_path / "model", ignore=shutil.ignore_patterns("tokenizer*")))
    export_tokenizer(tmp_path / "src" / "tokenizer.json", model)
    assert json.loads((model / "tokenizer_config.json").read_text())["tokenizer_class"] == "T5Tokenizer"
    texts = ["the blue square on the left", "question: is it red", "what is red<image><image> or blue"]
    done = subprocess.run([python, "-c", OG_ENCODE, str(model), json.dumps(texts)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    ours = [Tokenizer.from_file(str(model / "tokenizer.json")).encode(text, add_special_tokens=False).ids for text in texts]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ours

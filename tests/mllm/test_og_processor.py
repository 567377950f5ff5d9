"""The export's ``processor_config.json`` read by onnxruntime-genai 0.18's own processors, the way
its users call them (``model.create_multimodal_processor()``, ``og.Images.open(file)``,
``processor(prompt, images=images)``): on PNG files og's pixels equal our processor's (1e-6),
its ids ours, its greedy tokens the harness runtime's. JPEG files decode differently in og
(its decoder is not PIL's): the pixels differ, measured here, and with og's pixels fed to our
graphs the tokens are still og's. og runs in its own venv (``MMHARNESS_OG_PYTHON``); skipped with
the reason when absent."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.mllm.conftest import WORDS
from tests.mllm.test_og_gemma3 import export_gemma3_og, og_python, run_og, write_images

torch = pytest.importorskip("torch")

# og 0.18's Qwen processor replaces "<|vision_start|>...<|vision_end|>" by the image's "<|image_pad|>" run
QWEN_SPECIALS = ("[PAD]", "<s>", "</s>", "[UNK]", "<|image_pad|>", "<|vision_start|>", "<|vision_end|>", "<|video_pad|>")
QWEN_TEMPLATE = "<|vision_start|>{image}<|vision_end|>{question}"
QWEN_SIZES = ((40, 56), (56, 84), (100, 61))  # grids (1, 4, 6), (1, 4, 6), (1, 8, 4) after smart_resize


def tiny_qwen2_5_vl_og():  # type: ignore[no-untyped-def]
    """tests/mllm/test_qwen2_vl.py's tiny Qwen2.5-VL with og's token ids (image 4, vision start/end 5/6)."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from tests.mllm.test_qwen2_vl import _text

    torch.manual_seed(1)
    vision = dict(depth=2, hidden_size=32, out_hidden_size=32, intermediate_size=64, num_heads=2, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[1])
    config = Qwen2_5_VLConfig(text_config=_text(), vision_config=vision, image_token_id=4, video_token_id=7,
                              vision_start_token_id=5, vision_end_token_id=6)
    return Qwen2_5_VLForConditionalGeneration(config).eval()


def _png(path, size, seed):  # type: ignore[no-untyped-def]
    from PIL import Image

    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def _decoded(path):  # type: ignore[no-untyped-def]
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def qwen_og(tmp_path_factory):  # type: ignore[no-untyped-def]
    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.tokenizer import build_word_tokenizer

    root = tmp_path_factory.mktemp("qwen_og")
    build_word_tokenizer(WORDS, root / "src" / "tokenizer.json", specials=QWEN_SPECIALS)
    manifest = export_mllm(tiny_qwen2_5_vl_og(), root / "export", ExportOptions(
        tokenizer=root / "src" / "tokenizer.json", image_token="<|image_pad|>", prompt_template=QWEN_TEMPLATE))
    return root / "export", manifest


def test_qwen2_5_vl_processor_config_in_og(qwen_og, tmp_path):  # type: ignore[no-untyped-def]
    from harness.mllm.processors import preprocess
    from harness.mllm.prompt import PromptTokenizer
    from harness.mllm.runtime import GridFeatures
    from harness.mllm.sessions import open_runtime

    og_python()
    export, manifest = qwen_og
    assert "processor_config.json" in manifest["checksums"]
    ops = [t["operation"] for t in json.loads((export / "processor_config.json").read_text())["processor"]["transforms"]]
    assert [op["type"] for op in ops] == ["DecodeImage", "ConvertRGB", "Resize", "Rescale", "Normalize", "PatchImage"]
    assert ops[2]["attrs"] == {"interpolation": "CUBIC", "smart_resize": 1, "min_pixels": 3136, "max_pixels": 1003520,
                               "patch_size": 14, "merge_size": 2}
    files = [_png(tmp_path / f"image{index}.png", size, index) for index, size in enumerate(QWEN_SIZES)]
    from PIL import Image

    Image.open(files[2]).save(tmp_path / "image2.jpg", quality=90)
    files.append(tmp_path / "image2.jpg")
    prompt = "<s><|vision_start|><|image_pad|><|vision_end|>w1 w2"
    cases = [{"prompt": prompt, "images": [str(path)], "steps": 8} for path in files]
    cases.append({"prompt": "<s>w1 w2 w3", "images": [], "steps": 8})
    results, arrays = run_og(export, cases, tmp_path)
    config = json.loads((export / "preprocessor_config.json").read_text())
    jpeg_diff = 0.0
    with open_runtime(export) as runtime:
        tokenizer = PromptTokenizer.from_spec(runtime.spec)
        for index, (case, result) in enumerate(zip(cases, results)):
            if not case["images"]:
                ids, features = np.asarray([1, *tokenizer.encode("w1 w2 w3")], dtype=np.int64), runtime.empty_features
            else:
                assert result["inputs"] == ["image_grid_thw", "input_ids", "num_image_tokens", "pixel_values"]
                ours = preprocess([_decoded(files[index])], config)
                grid = arrays[f"{index}.image_grid_thw"]
                assert grid.tolist() == ours.image_grid_thw.tolist()
                diff = float(np.abs(arrays[f"{index}.pixel_values"] - ours.pixel_values).max())
                if str(files[index]).endswith(".png"):
                    assert diff < 1e-6, diff  # measured 4.8e-7
                else:
                    jpeg_diff = diff
                pixels = arrays[f"{index}.pixel_values"]  # og's own, into our vision graph
                features = np.asarray(runtime.vision.run({"pixel_values": pixels, "image_grid_thw": grid})["image_features"])
                features = features.view(GridFeatures)
                features.grids = tuple(tuple(int(v) for v in row) for row in grid)
                ids = tokenizer.prompt_ids("w1 w2", image_tokens=runtime.image_tokens(features, 1))
                assert int(arrays[f"{index}.num_image_tokens"][0]) == int(np.count_nonzero(ids == 4))
            assert result["ids"] == ids.tolist()
            generation = runtime.generate(ids, features, max_new_tokens=8, stop_token_ids=[runtime.spec.eos_token_id])
            assert tuple(result["tokens"]) == generation.tokens
    assert 0.5 < jpeg_diff < 2.0, jpeg_diff  # og's JPEG decoder is not PIL's: measured 1.44 (normalised units)


def test_gemma3_processor_config_in_og_on_a_jpeg(tmp_path):  # type: ignore[no-untyped-def]
    """Gemma 3's pipeline (bilinear resize to 64 x 64, rescale, normalise, CHW) on the JPEG of the
    PNG test_og_gemma3.py runs: ids equal, pixels off by og's JPEG decoding only (measured 0.48
    max), og's tokens equal to the harness runtime's with causal groups fed og's pixels."""
    from harness.mllm import runtime as runtime_module
    from harness.mllm.processors import preprocess
    from harness.mllm.prompt import PromptTokenizer
    from harness.mllm.sessions import open_runtime

    og_python()
    _, export, _ = export_gemma3_og(tmp_path)
    images = write_images(tmp_path)
    results, arrays = run_og(export, [{"prompt": "<bos><start_of_image>w5 w6", "images": [str(images["jpeg"])], "steps": 8}],
                             tmp_path)
    config = json.loads((export / "preprocessor_config.json").read_text())
    pixels = arrays["0.pixel_values"]
    png_pixels = preprocess([_decoded(images["png"])], config).pixel_values
    jpeg_pixels = preprocess([_decoded(images["jpeg"])], config).pixel_values
    diff = float(np.abs(pixels - jpeg_pixels).max())
    assert 0.1 < diff < 1.0, diff  # measured 0.478: og's JPEG decoder, not the resize (the PNG gives 1.2e-7)
    assert float(np.abs(jpeg_pixels - png_pixels).max()) > 0.1  # the JPEG is lossy: not the PNG's pixels either
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime_module, "attention_groups", lambda ids, *args: np.full(ids.shape, -1, dtype=np.int64))
        with open_runtime(export) as runtime:
            ids = PromptTokenizer.from_spec(runtime.spec).prompt_ids("w5 w6")
            assert results[0]["ids"] == ids.tolist()
            features = runtime.vision.run({"pixel_values": pixels})["image_features"]
            generation = runtime.generate(ids, features, max_new_tokens=8, stop_token_ids=[runtime.spec.eos_token_id])
    assert tuple(results[0]["tokens"]) == generation.tokens


def _og_folder(export, folder):  # type: ignore[no-untyped-def]
    """The export as an onnxruntime-genai folder without the transformers processor: init must read
    processor_config.json."""
    import shutil

    shutil.copytree(export, folder)
    (folder / "manifest.json").unlink()
    (folder / "preprocessor_config.json").unlink()
    return folder


def test_init_reads_processor_config_when_no_preprocessor_config(qwen_og, tmp_path):  # type: ignore[no-untyped-def]
    """`mmharness init DIR` on an og folder whose only image processor is processor_config.json
    (Qwen2.5-VL and Gemma 3 pipelines): the transformers config it writes preprocesses PNG-decoded
    images exactly as the export's own; the Qwen folder's prompt logits equal the export's."""
    from harness.cli import main
    from harness.errors import ExitCode
    from harness.mllm.folder import FolderOptions, init_vlm_folder
    from harness.mllm.processors import preprocess
    from tests.mllm.test_init_folder import _same_logits

    export, _ = qwen_og
    folder = _og_folder(export, tmp_path / "qwen")
    result = init_vlm_folder(folder, FolderOptions(prompt_template=QWEN_TEMPLATE))
    image = result.manifest["vqa"]["image"]
    assert image["processor"] == "preprocessor_config.og.json" and image["layout"] == "patches"
    assert "preprocessor_config.og.json" in result.manifest["checksums"]
    assert any("processor_config.json" in line for line in result.confirm)
    derived = json.loads((folder / "preprocessor_config.og.json").read_text())
    original = json.loads((export / "preprocessor_config.json").read_text())
    images = [np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8) for seed, size in enumerate(QWEN_SIZES)]
    for picture in images:
        ours, theirs = preprocess([picture], original), preprocess([picture], derived)
        assert theirs.image_grid_thw.tolist() == ours.image_grid_thw.tolist()
        np.testing.assert_array_equal(theirs.pixel_values, ours.pixel_values)
    assert main(["validate", str(folder)]) == ExitCode.OK
    _same_logits(export, folder)

    _, gemma, _ = export_gemma3_og(tmp_path / "gemma")
    folder = _og_folder(gemma, tmp_path / "gemma3-og")
    result = init_vlm_folder(folder, FolderOptions(prompt_template="{image} {question}"))
    assert result.manifest["graphs"]["decoder"] == "genai_decoder.onnx" and result.manifest["vqa"]["attention"] == "causal"
    derived = json.loads((folder / "preprocessor_config.og.json").read_text())
    original = json.loads((gemma / "preprocessor_config.json").read_text())
    assert derived["size"] == {"height": 64, "width": 64} and derived["resample"] == 2
    for picture in images:
        np.testing.assert_array_equal(preprocess([picture], derived).pixel_values, preprocess([picture], original).pixel_values)


def test_init_refuses_a_pipeline_it_cannot_reproduce(qwen_og, tmp_path):  # type: ignore[no-untyped-def]
    from harness.errors import ConfigError
    from harness.mllm.folder import FolderOptions, init_vlm_folder

    export, _ = qwen_og
    folder = _og_folder(export, tmp_path / "qwen")
    config = json.loads((folder / "processor_config.json").read_text())
    config["processor"]["transforms"].insert(2, {"operation": {"name": "crop", "type": "CenterCrop",
                                                               "attrs": {"height": 28, "width": 28}}})
    (folder / "processor_config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"processor_config.json: processor.transforms: \['DecodeImage', 'ConvertRGB', "
                                          r"'CenterCrop', .* is not a pipeline mmharness reproduces"):
        init_vlm_folder(folder, FolderOptions())
    assert not (folder / "manifest.json").exists() and not (folder / "preprocessor_config.og.json").exists()
    config["processor"]["transforms"].pop(2)
    config["processor"]["transforms"][2]["operation"]["attrs"]["interpolation"] = "LANCZOS"
    (folder / "processor_config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=r"processor_config.json: Resize.interpolation: 'LANCZOS', expected one of "
                                          r"\['CUBIC', 'LINEAR', 'NEAREST'\]"):
        init_vlm_folder(folder, FolderOptions())
    (folder / "processor_config.json").unlink()
    with pytest.raises(ConfigError, match=r"preprocessor_config.json: not found; .*processor_config.json is not read"):
        init_vlm_folder(folder, FolderOptions())

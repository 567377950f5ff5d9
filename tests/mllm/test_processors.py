"""The runtime's image processors (NumPy + PIL) against transformers' own, built from configs
offline: pixel values within 1e-4 after normalisation, same shapes, on odd sizes and aspect
ratios, configured only from the JSON the exporter writes (``to_json_string``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.errors import ManifestError
from harness.mllm.processors import preprocess

SIZES = [(48, 40), (17, 61), (90, 33), (7, 9), (64, 64)]  # (height, width): tall, wide, tiny, square


def _processors():  # type: ignore[no-untyped-def]
    from transformers import (
        CLIPImageProcessor,
        Gemma3ImageProcessor,
        Idefics3ImageProcessor,
        SiglipImageProcessor,
        SmolVLMImageProcessor,
    )

    return {
        "clip": CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}),
        "clip-rect-crop": CLIPImageProcessor(size={"shortest_edge": 20}, crop_size={"height": 18, "width": 14}),
        "clip-llava-mean": CLIPImageProcessor(size={"shortest_edge": 24}, crop_size={"height": 24, "width": 24},
                                              image_mean=[0.5, 0.4, 0.3], image_std=[0.2, 0.25, 0.3]),
        "siglip": SiglipImageProcessor(size={"height": 28, "width": 28}),
        "gemma3": Gemma3ImageProcessor(size={"height": 32, "width": 32}),
        "idefics3": Idefics3ImageProcessor(do_image_splitting=False, size={"longest_edge": 40},
                                           max_image_size={"longest_edge": 32}),
        # image splitting: 1 to 3 x 3 tiles + the whole image (the defaults: 1456 / 364, so up to 4 x 4)
        "idefics3-split": Idefics3ImageProcessor(size={"longest_edge": 96}, max_image_size={"longest_edge": 32}),
        "idefics3-split-default": Idefics3ImageProcessor(),
        "smolvlm-split-bilinear": SmolVLMImageProcessor(size={"longest_edge": 100}, max_image_size={"longest_edge": 32},
                                                        resample=2),
    }


@pytest.mark.parametrize("name", ["clip", "clip-rect-crop", "clip-llava-mean", "siglip", "gemma3", "idefics3",
                                  "idefics3-split", "idefics3-split-default", "smolvlm-split-bilinear"])
def test_pixels_equal_transformers_processor(name):  # type: ignore[no-untyped-def]
    processor = _processors()[name]
    config = json.loads(processor.to_json_string())
    rng = np.random.default_rng(7)
    for height, width in SIZES:
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        ours = preprocess([image], config)
        ref = processor(images=[image], return_tensors="np")
        expected = ref["pixel_values"]
        if expected.ndim == 5:  # Idefics3: [batch, tiles, 3, S, S] and its mask
            expected = expected[0]
            np.testing.assert_array_equal(ours.pixel_attention_mask, ref["pixel_attention_mask"][0].astype(bool))
        assert ours.pixel_values.shape == expected.shape, (name, height, width)
        diff = float(np.abs(ours.pixel_values - expected).max())
        assert diff <= 1e-4, f"{name} on {height}x{width}: max |diff| {diff}"


def test_the_bilinear_squash_is_not_the_clip_processor():  # type: ignore[no-untyped-def]
    """Why this matters (issue 14): llava-1.5's shortest-edge bicubic + centre crop differs from a
    plain bilinear resize by far more than the tolerance on a non-square image."""
    import cv2

    processor = _processors()["clip"]
    image = np.random.default_rng(1).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    ref = processor(images=[image], return_tensors="np")["pixel_values"][0]
    squash = cv2.resize(image, (16, 16), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    squash = ((squash - processor.image_mean) / processor.image_std).transpose(2, 0, 1)
    assert float(np.abs(squash - ref).max()) > 0.5


def test_unsupported_configs_are_refused_in_one_line():  # type: ignore[no-untyped-def]
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ManifestError, match="^preprocessor_config.json: image_processor_type: 'PixtralImageProcessor' is not supported"):
        preprocess([image], {"image_processor_type": "PixtralImageProcessor"})
    with pytest.raises(ManifestError, match="^preprocessor_config.json: do_image_splitting: 'yes' is not a valid value"):
        preprocess([image], {"image_processor_type": "Idefics3ImageProcessor", "do_image_splitting": "yes",
                             "size": {"longest_edge": 16}, "max_image_size": {"longest_edge": 8}})
    with pytest.raises(ManifestError, match="^preprocessor_config.json: size: .*height, width"):
        preprocess([image], {"image_processor_type": "SiglipImageProcessorPil", "size": {"height": 0}})
    with pytest.raises(ManifestError, match="^preprocessor_config.json: crop_size: .* in 1..8192"):
        preprocess([image], {"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 8},
                             "crop_size": {"height": 10**9, "width": 8}})


@pytest.mark.parametrize("name", ["idefics3-split", "idefics3-split-default", "smolvlm-split-bilinear"])
def test_tile_grids_equal_transformers_rows_and_columns(name):  # type: ignore[no-untyped-def]
    """Each image's (rows, cols) from its size alone (what the runtime sizes the prompt block by)
    equals the processor's ``return_row_col_info``, and the tiles of two images stack in order."""
    from harness.mllm.processors.idefics3 import tile_grid

    processor = _processors()[name]
    config = json.loads(processor.to_json_string())
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [*SIZES, (300, 20), (6, 97)]]
    grids = []
    for image in images:
        ref = processor(images=[image], return_tensors="np", return_row_col_info=True)
        grids.append((ref["rows"][0][0], ref["cols"][0][0]))
        assert tile_grid(*image.shape[:2], config) == preprocess([image], config).tiles[0] == grids[-1]
    assert any(rows > 1 and cols > 1 for rows, cols in grids) and any(rows != cols for rows, cols in grids)
    both = preprocess(images[:2], config)
    expected = processor(images=[images[:2]], return_tensors="np")["pixel_values"][0]
    assert both.tiles == tuple(grids[:2]) and both.pixel_values.shape == expected.shape
    assert float(np.abs(both.pixel_values - expected).max()) <= 1e-4

"""The calibration reader yields exactly the declared, preprocessed inputs; bad data is refused
with the counts in the message."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_graphs import IMAGENET_MEAN, IMAGENET_STD, build_seg_model_dir
from onnxruntime.quantization import CalibrationDataReader
from precision_data import ArrayDataset

from harness.variants.calibration import CalibrationPlan, CalibrationReader, spread_indices
from harness.errors import ConfigError, DataError
from harness.manifest import load_manifest, validate_against_graph


def _contract(model_dir):
    return validate_against_graph(load_manifest(model_dir))


def test_batches_hold_the_declared_inputs_preprocessed_like_the_manifest_says(model):
    data = ArrayDataset(length=10)
    reader = CalibrationReader(_contract(model.dir), data, CalibrationPlan(num_samples=4, batch_size=2))
    batches = list(reader.batches())
    assert len(batches) == len(reader) == 2
    assert reader.indices == (0, 2, 5, 7)  # floor(i * 10 / 4)
    for batch, rows in zip(batches, [(0, 2), (5, 7)]):
        assert set(batch) == {"rgb", "depth"}
        for name in ("rgb", "depth"):
            raw = data.raw[name][list(rows)].astype(np.float64)  # (2, H, W, 3)
            expected = ((raw / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)).transpose(0, 3, 1, 2)
            assert batch[name].dtype == np.float32 and batch[name].shape == (2, 3, 16, 16)
            np.testing.assert_allclose(batch[name], expected, rtol=1e-5, atol=1e-5)


def test_mask_inputs_are_all_present(tmp_path):
    m = build_seg_model_dir(tmp_path / "masked", modalities={"rgb": 3, "depth": 3}, size=(16, 16),
                            masks={"depth": "depth_mask"})
    reader = CalibrationReader(_contract(m.dir), ArrayDataset(length=4), CalibrationPlan(4, 4))
    batch = next(reader.batches())
    assert set(batch) == {"rgb", "depth", "depth_mask"}
    np.testing.assert_array_equal(batch["depth_mask"], np.ones(4, dtype=np.float32))


def test_ort_adapter_follows_the_onnxruntime_protocol_and_rewinds(model):
    reader = CalibrationReader(_contract(model.dir), ArrayDataset(length=8), CalibrationPlan(4, 2)).ort_reader()
    assert isinstance(reader, CalibrationDataReader)
    first = [reader.get_next() for _ in range(3)]
    assert first[2] is None and first[0] is not None
    reader.rewind()
    np.testing.assert_array_equal(reader.get_next()["rgb"], first[0]["rgb"])


def test_too_few_samples_names_both_counts(model):
    with pytest.raises(DataError, match=r"has 3 samples, calibration needs 8.*--calib-samples"):
        CalibrationReader(_contract(model.dir), ArrayDataset(length=3), CalibrationPlan(8, 4))


def test_wrong_modalities_are_named(model):
    with pytest.raises(DataError, match=r"provides modalities \(rgb, event\).*missing: depth"):
        CalibrationReader(_contract(model.dir), ArrayDataset(length=8, modalities=("rgb", "event")), CalibrationPlan(4, 2))


def test_partial_batches_are_refused_up_front():
    with pytest.raises(ConfigError, match="not a multiple of --calib-batch 4"):
        CalibrationPlan(num_samples=10, batch_size=4)
    with pytest.raises(ConfigError, match=">= 1"):
        CalibrationPlan(num_samples=0, batch_size=1)


def test_spread_indices_are_distinct_sorted_and_cover_the_range():
    for length in (1, 7, 48, 1000):
        for count in {1, length // 3 or 1, length}:
            idx = spread_indices(length, count)
            assert len(set(idx)) == count and list(idx) == sorted(idx)
            assert idx[0] == 0 and idx[-1] < length


def test_calibration_batch_must_match_a_fixed_graph_batch(tmp_path):
    m = build_seg_model_dir(tmp_path / "fixed", modalities={"rgb": 3, "depth": 3}, size=(16, 16), batch=2)
    with pytest.raises(ConfigError, match="fixed batch of 2; pass --calib-batch 2"):
        CalibrationReader(_contract(m.dir), ArrayDataset(length=8), CalibrationPlan(8, 4))
    reader = CalibrationReader(_contract(m.dir), ArrayDataset(length=8), CalibrationPlan(4, 2))
    assert next(reader.batches())["rgb"].shape == (2, 3, 16, 16)


def test_frames_of_another_size_are_refused_naming_the_input(model):
    reader = CalibrationReader(_contract(model.dir), ArrayDataset(length=4, size=24), CalibrationPlan(4, 2))
    with pytest.raises(DataError, match=r"modality 'rgb' gives shape \(2, 3, 24, 24\).*input_size \(16, 16\)"):
        next(reader.batches())

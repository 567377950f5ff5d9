"""The clean-input cache on disk (``--clean-cache disk``): same bytes and same results as the
in-RAM path, RAM bounded by a sample while it is written, re-opened by ``--resume``, removed
at the end unless kept, never trusted when incomplete or from another run."""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from sweep_fixtures import backend, config, without_timing, write_model

from harness.data import open_dataset
from harness.data.interface import Sample
from harness.errors import DataError
from harness.manifest import load_manifest
from harness.runner import run_sweep
from harness.runner.clean_cache import CACHE_DIR, MARKER, DiskCache
from harness.runner.feeds import load_clean

BIG = "synthetic:size=32,length=24"  # the tiny model's input_size: frames are cached as read


def test_disk_cache_holds_the_same_bytes_as_batch_preprocessing(tiny_model: Path, tmp_path: Path) -> None:
    manifest = load_manifest(tiny_model)
    dataset = open_dataset(BIG)
    disk = load_clean(manifest, dataset, None, mode="disk", cache=DiskCache.of(tmp_path, "k"))
    assert disk.place == "disk" and isinstance(disk.tensors["rgb"].base, np.memmap)
    samples = [dataset[i] for i in range(len(dataset))]  # the old path: stack, then preprocess the batch
    for m in manifest.modalities:
        raw = np.stack([s.modalities[m.name] for s in samples])
        assert np.array_equal(disk.raw[m.name], raw)
        assert disk.tensors[m.name].tobytes() == m.preprocess_array(raw).tobytes()
    assert np.array_equal(disk.labels, np.stack([s.label for s in samples]).astype(np.int64))
    assert disk.sample_ids == tuple(s.sample_id for s in samples)
    assert not disk.tensors["rgb"].flags.writeable  # perturbations can never corrupt the cache


def test_writing_the_disk_cache_keeps_ram_bounded_by_a_sample(tiny_model: Path, tmp_path: Path) -> None:
    manifest = load_manifest(tiny_model)
    dataset = open_dataset(BIG)
    dataset[0]  # warm lazy dataset state outside the measurement

    def peak(**kwargs: object) -> tuple[int, int]:
        tracemalloc.start()
        clean = load_clean(manifest, dataset, None, **kwargs)  # type: ignore[arg-type]
        size = sum(a.nbytes for a in (*clean.raw.values(), *clean.tensors.values(), clean.labels))
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top, size

    in_ram, size = peak(mode="memory")
    on_disk, _ = peak(mode="disk", cache=DiskCache.of(tmp_path, "k"))
    assert in_ram >= size  # the whole split in RAM
    assert on_disk < size / 6  # a few samples' worth (24 samples here), not the split


def test_complete_cache_is_reopened_and_foreign_or_torn_ones_are_rebuilt(tiny_model: Path, tmp_path: Path) -> None:
    manifest = load_manifest(tiny_model)
    dataset = open_dataset(BIG)
    first = load_clean(manifest, dataset, 8, mode="disk", cache=DiskCache.of(tmp_path, "run-a"))
    again = load_clean(manifest, dataset, 8, mode="disk", cache=DiskCache.of(tmp_path, "run-a"))
    assert again.place == "disk (re-opened)" and again.tensors["depth"].tobytes() == first.tensors["depth"].tobytes()
    assert load_clean(manifest, dataset, 8, mode="auto", cache=DiskCache.of(tmp_path, "run-b")).place == "memory"  # small: auto keeps RAM
    assert load_clean(manifest, dataset, 8, mode="disk", cache=DiskCache.of(tmp_path, "run-b")).place == "disk"  # other run: rebuilt
    assert load_clean(manifest, dataset, 6, mode="disk", cache=DiskCache.of(tmp_path, "run-b")).place == "disk"  # other size: rebuilt
    (tmp_path / CACHE_DIR / MARKER).unlink()  # killed while writing: no marker
    assert load_clean(manifest, dataset, 6, mode="disk", cache=DiskCache.of(tmp_path, "run-b")).place == "disk"


def test_sweep_results_are_identical_from_memory_and_disk_and_the_cache_is_removed(tiny_model: Path, tmp_path: Path) -> None:
    results = {}
    for mode in ("memory", "disk"):
        out = tmp_path / mode
        result = run_sweep(config(tiny_model, out, clean_cache=mode), backend=backend())  # EMM, RMM and raw-space NM cells
        assert result.doc["timing"]["clean_inputs"] == mode
        assert not (out / CACHE_DIR).exists()
        results[mode] = (without_timing(result.path), (out / "per_image.npz").read_bytes())
    assert results["memory"] == results["disk"]
    kept = run_sweep(config(tiny_model, tmp_path / "kept", clean_cache="disk", keep_clean_cache=True), backend=backend())
    assert (tmp_path / "kept" / CACHE_DIR / MARKER).is_file()
    resumed = run_sweep(config(tiny_model, tmp_path / "kept", clean_cache="disk", resume=True), backend=backend())
    assert resumed.doc["timing"]["clean_inputs"] == "disk (re-opened)"
    assert without_timing(resumed.path) == without_timing(kept.path) == results["disk"][0]
    assert not (tmp_path / "kept" / CACHE_DIR).exists()


@dataclass
class _Ragged:
    """A dataset whose third frame has another size."""

    inner: object
    name: str = "ragged"

    def __getattr__(self, key: str) -> object:
        return getattr(self.inner, key)

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Sample:
        sample = self.inner[index]  # type: ignore[index]
        if index != 2:
            return sample
        return replace(sample, modalities={k: v[:16] for k, v in sample.modalities.items()}, label=sample.label[:16])


def test_frames_of_another_size_are_one_line_bad_input(tmp_path: Path) -> None:
    model = write_model(tmp_path / "model")
    with pytest.raises(DataError) as error:
        load_clean(load_manifest(model), _Ragged(open_dataset("synthetic:size=32,length=6")), None)  # type: ignore[arg-type]
    message = str(error.value)
    # the default shorter-edge resize (to input_size 32) scales the 16x32 frame to 32x64: still not 32x32
    assert "\n" not in message and "sample" in message and "same size" in message and "[32, 64, 3] (frames 16x32 on disk" in message

"""Deterministic random streams: the same sample in the same cell gets the same draws anywhere.

Every random perturbation in mmharness draws from a ``numpy.random.Generator`` derived from
``(run seed, cell id, sample index, modality)`` through ``SeedSequence``, so a cell yields
bit-identical inputs whatever the batch size, the order of samples, or the shard that runs it
(Polygraphy's data loader gives "the same data for the same index" the same way). Strings are
hashed with a fixed BLAKE2b digest, never Python's ``hash``, which is salted per process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

__all__ = ["rng_for", "rngs_for", "stable_hash"]


def stable_hash(text: str) -> int:
    """A 64-bit unsigned integer from ``text`` that is the same in every process and on every machine.

    BLAKE2b with an 8-byte digest, read little-endian. Used as SeedSequence entropy, so it
    must never depend on ``PYTHONHASHSEED``.
    """
    if not isinstance(text, str):
        raise TypeError(f"stable_hash expects a str, got {type(text).__name__}")
    return int.from_bytes(
        hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little"
    )


def rng_for(
    run_seed: int, cell_id: str, sample_index: int, modality: str
) -> np.random.Generator:
    """The generator for one sample of one modality in one cell.

    Entropy is ``[run_seed, sample_index, stable_hash(cell_id), stable_hash(modality)]`` (all
    non-negative integers), fed to ``SeedSequence`` and a PCG64 bit generator.
    """
    if run_seed < 0 or sample_index < 0:
        raise ValueError(
            f"run_seed and sample_index must be >= 0 (got {run_seed}, {sample_index})"
        )
    sequence = np.random.SeedSequence(
        [int(run_seed), int(sample_index), stable_hash(cell_id), stable_hash(modality)]
    )
    return np.random.Generator(np.random.PCG64(sequence))


def rngs_for(
    run_seed: int, cell_id: str, sample_indices: Iterable[int], modality: str
) -> list[np.random.Generator]:
    """One generator per sample of a batch (``rng_for`` for each index, in order)."""
    return [rng_for(run_seed, cell_id, index, modality) for index in sample_indices]

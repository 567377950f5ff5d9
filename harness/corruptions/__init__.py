"""Named corruptions and missing-modality fills, seeded and vectorized over the batch."""

from __future__ import annotations

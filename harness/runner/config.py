"""The run configuration: one frozen value built by ``mmharness run`` and handed to the
runner. ``identity()`` is the part that defines the results (hashed into ``config_hash``);
where the files go, resuming, sharding, progress display and where the clean inputs are
cached are not part of it, so shards of one sweep share a hash and ``merge`` can check they
belong together."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.manifest.model import Evaluation
from harness.executors.interface import ExecutorSpec
from harness.runner.clean_cache import CacheMode
from harness.scenarios.plan import PlanSpec, Shard

ProgressMode = Literal["auto", "rich", "plain", "off"]
DEFAULT_MODEL = "models/mmss-synth-robust"
DEFAULT_BATCH = 8
DEFAULT_BOOTSTRAP = 1000
DEFAULT_SAVE_SAMPLES = 4  # the report gallery: a seeded choice plus the most-hurt sample
EXPECTED_PS: tuple[float, ...] = (0.2, 0.1, 0.05)


@dataclass(frozen=True)
class RunConfig:
    """Everything ``run_sweep`` needs. ``batch`` is the requested batch size; a graph with a
    fixed batch dimension overrides it (recorded per cell)."""

    model_dir: Path = Path(DEFAULT_MODEL)
    data: str = "synthetic"
    split: str = "val"
    backend: str = "ort:cpu"
    backend_options: tuple[str, ...] = ()
    batch: int = DEFAULT_BATCH
    limit: int | None = None
    seed: int = 0
    plan: PlanSpec = field(default_factory=PlanSpec)
    bootstrap: int = DEFAULT_BOOTSTRAP
    expected_ps: tuple[float, ...] = EXPECTED_PS
    out: Path = Path("mmharness-results")
    shard: Shard = field(default_factory=Shard)
    resume: bool = False
    overwrite: bool = False  # start fresh even over the cells of an unfinished run in ``out``
    progress: ProgressMode = "auto"
    prefetch: bool = True
    clean_cache: CacheMode = "auto"  # where the clean inputs live (harness/runner/clean_cache.py)
    keep_clean_cache: bool = False
    telemetry: bool = True  # sample power/energy during the sweep (harness/telemetry); not part of identity()
    evaluation: Evaluation | None = None  # --evaluation model|native; None: the manifest's (run_header records the resolved one)
    save_samples: int = DEFAULT_SAVE_SAMPLES  # samples kept for the report's gallery (harness/runner/samples.py); not part of identity()
    executor: ExecutorSpec = field(default_factory=ExecutorSpec)  # where the cells run (harness/executors); not part of identity()
    class_map: str | None = None  # --class-map FILE | names: dataset labels onto the model's classes (harness/data/agreement.py)

    def identity(self, model_name: str) -> dict[str, Any]:
        """The results-defining part of the config, as stored in results.json ``config``."""
        data = self.data if self.split == "val" else f"{self.data}@{self.split}"
        return {
            "model": model_name,
            "data": data,
            "backend": self.backend,
            "backend_options": list(self.backend_options),
            "batch": self.batch,
            "limit": self.limit,
            "seed": self.seed,
            "plan": self.plan.to_dict(),
            "bootstrap": self.bootstrap,
            "expected_ps": list(self.expected_ps),
            **({"class_map": self.class_map} if self.class_map else {}),
        }


def config_hash(identity: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of ``identity`` (sorted keys, no whitespace)."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()

"""Where the shipped reference models live, however mmharness was installed.

From a clone they sit in ``models/`` beside the package; a regular (non-editable) install
copies them to ``<prefix>/share/mmharness/models`` (pyproject ``data-files``). A
``models/<name>`` folder in the working directory wins, so a user can shadow one.
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.errors import ManifestError

SHARE_DIR = Path("share") / "mmharness" / "models"


def zoo_locations(name: str) -> list[Path]:
    """The folders searched for shipped model ``name``, in order."""
    source_tree = Path(__file__).resolve().parent.parent / "models"
    return [Path("models") / name, source_tree / name, Path(sys.prefix) / SHARE_DIR / name]


def shipped_model(name: str) -> Path:
    """The directory of shipped model ``name`` (the first location holding a manifest.json)."""
    locations = zoo_locations(name)
    for folder in locations:
        if (folder / "manifest.json").is_file():
            return folder
    looked = ", ".join(str(folder) for folder in locations)
    raise ManifestError(
        f"shipped model {name!r} not found (looked in {looked}); pass MODEL_DIR explicitly, "
        "or install mmharness from its repository clone (pip install -e '.[cpu]')"
    )

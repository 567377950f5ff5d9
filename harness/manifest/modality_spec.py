"""``export mmss --modality-spec FILE``: a YAML/JSON list of manifest modality entries that
override the defaults. Checked here, before anything is exported, because a field of the
wrong type (``channels: abc``, a list as ``name``) used to surface as a Python traceback; the
rest of each entry is checked by the manifest schema when the manifest is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.safeload import yaml_loads


def load_modality_spec(path: Path | str, names: list[str]) -> list[dict[str, Any]]:
    """The entries of ``path`` in file order; ``names`` (from ``--modalities``, may be empty)
    must list the same modalities in the same order."""
    where = f"--modality-spec {path}"
    try:
        entries = yaml_loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{where}: cannot read ({getattr(error, 'strerror', None) or error})") from None
    except ValueError as error:
        raise ConfigError(f"{where}: not valid YAML/JSON ({error})") from None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where}: expected a non-empty list of manifest modality entries, got {type(entries).__name__}")
    seen: list[str] = []
    for index, entry in enumerate(entries):
        at = f"{where}: [{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{at}: expected a mapping (a manifest modality entry), got {type(entry).__name__}")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{at}.name: expected a non-empty string, got {name!r}")
        if name in seen:
            raise ConfigError(f"{at}.name: {name!r} is listed twice; one entry per modality")
        channels = entry.get("channels", 3)
        if isinstance(channels, bool) or not isinstance(channels, int) or not 1 <= channels <= 4096:
            raise ConfigError(f"{at}.channels: expected an integer from 1 to 4096, got {channels!r}")
        seen.append(name)
    if names and seen != names:
        raise ConfigError(f"{where} names {seen}; --modalities says {names}; list the same modalities in the same order")
    return entries

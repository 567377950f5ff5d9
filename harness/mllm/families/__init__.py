"""Runtime VLM families: one module per family in this package (``FAMILY = RuntimeFamily(...)``),
discovered on first use; ``runtime_family(name)`` serves a manifest's ``vqa.family``."""

from __future__ import annotations

from harness.errors import ManifestError
from harness.mllm.families.base import RuntimeFamily
from harness.registry import Registry, register_modules

_REGISTRY: Registry[RuntimeFamily] = Registry("VLM family")
_BY_MANIFEST_NAME: dict[str, RuntimeFamily] = {}


def _families() -> dict[str, RuntimeFamily]:
    if not _BY_MANIFEST_NAME:
        if not len(_REGISTRY):
            register_modules(_REGISTRY, __name__, "FAMILY")
        for name in _REGISTRY.names():
            family = _REGISTRY.get(name)
            _BY_MANIFEST_NAME.update({alias: family for alias in family.manifest_names})
    return _BY_MANIFEST_NAME


def family_names() -> list[str]:
    """Every ``vqa.family`` value some runtime family serves, sorted."""
    return sorted(_families())


def runtime_family(name: str, where: str = "manifest.json") -> RuntimeFamily:
    """The runtime family of ``vqa.family`` ``name``; unknown names list the known ones."""
    families = _families()
    if name not in families:
        raise ManifestError(f"{where}: vqa.family: {name!r} is not a known family (known: {', '.join(sorted(families))}); "
                            "re-export with `mmharness export mllm`")
    return families[name]

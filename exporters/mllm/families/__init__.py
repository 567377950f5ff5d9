"""The VLM family registry: one module per family in this package, discovered on first use.

A family joins by adding ``<name>.py`` here that defines ``FAMILY = Family(...)``
(``exporters.mllm.families.base``); modules whose name starts with ``_`` and ``base`` are not
families. Discovery imports torch (the families trace graphs), so it runs only when a model is
looked up, never when the CLI lists commands.
"""

from __future__ import annotations

import importlib
from typing import Any

from harness.errors import ConfigError
from harness.registry import Registry, register_modules

_REGISTRY: Registry[Any] = Registry("MLLM family")
_DISCOVERED = False


def registry() -> Registry[Any]:
    """Every family module of this package, imported and registered by ``FAMILY.name``."""
    global _DISCOVERED
    if not _DISCOVERED:
        register_modules(_REGISTRY, __name__, "FAMILY")
        _DISCOVERED = True
    return _REGISTRY


def all_families() -> tuple[Any, ...]:
    """The registered ``Family`` values, by name."""
    families = registry()
    return tuple(families.get(name) for name in families.names())


def supported_architectures() -> list[str]:
    """Every transformers class name some family exports, sorted."""
    return sorted(arch for family in all_families() for arch in family.architectures)


def family_for_architecture(architecture: str) -> Any:
    """The family exporting ``architecture``; an unknown one names the supported list."""
    for family in all_families():
        if architecture in family.architectures:
            return family
    raise ConfigError(f"architecture {architecture!r} is not supported by the MLLM exporter "
                      f"(supported: {', '.join(supported_architectures())})")


def family_of(model: Any) -> Any:
    """The family of a transformers model, by class name, after the family's own checks
    (a variant it cannot export is refused in one line)."""
    family = family_for_architecture(type(model).__name__)
    family.check(model)
    return family


def __getattr__(name: str) -> Any:
    if name == "FAMILIES":  # the registered families as a tuple (the former module constant)
        return all_families()
    if name == "Family":
        return importlib.import_module(f"{__name__}.base").Family
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

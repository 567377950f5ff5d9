"""A small generic name -> object registry, shared by backends, corruptions, datasets and probes.

Registration is by decorator or by a lazy ``"module:attr"`` target (so that registering a
backend does not import onnxruntime). Duplicate names are rejected; an unknown name is
answered with "did you mean ..." and the list of what is available.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from harness.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> objects of one kind; ``what`` names the kind in error messages."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T | str] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T]:
        """Register ``obj`` (or decorate it) under ``name``; a duplicate name is a bug."""

        def add(target: T) -> T:
            self.add(name, target)
            return target

        if obj is not None:
            add(obj)
        return add

    def add(self, name: str, target: T | str) -> None:
        """Register ``target``: an object, or a lazy ``"package.module:attr"`` string."""
        if name in self._entries:
            raise ValueError(f"{self.what} {name!r} is already registered")
        self._entries[name] = target

    def get(self, name: str) -> T:
        """The object registered as ``name``; imports lazy targets on first use."""
        try:
            entry = self._entries[name]
        except KeyError:
            raise ConfigError(self.unknown_message(name)) from None
        if isinstance(entry, str):
            module_name, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module_name), attr)
            self._entries[name] = entry
        return entry  # type: ignore[return-value]

    def unknown_message(self, name: str) -> str:
        """One line: unknown name, the closest matches, everything available."""
        close = difflib.get_close_matches(name, self._entries, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        return f"unknown {self.what} {name!r}{hint} (available: {', '.join(sorted(self._entries))})"

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


def register_modules(registry: Registry[T], package: str, attr: str, skip: tuple[str, ...] = ("base",)) -> None:
    """Import every module of ``package`` (except ``_private`` ones and ``skip``) and register its
    ``attr`` under ``attr.name``: a plug-in joins by adding a file to the package."""
    import pkgutil

    module = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda info: info.name):
        if info.name.startswith("_") or info.name in skip:
            continue
        value = getattr(importlib.import_module(f"{package}.{info.name}"), attr, None)
        if value is None:
            raise RuntimeError(f"{package}.{info.name}: no {attr}; a module of this package defines {attr} = ...")
        registry.add(value.name, value)

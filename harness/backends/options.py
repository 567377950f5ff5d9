"""Typed reading of ``--backend-opt key=value`` pairs for one backend.

Each backend takes the options it understands (``take_int``, ``take_choice``...) and either
passes the rest through to its runtime (ONNX Runtime provider options) or refuses them
(``reject_rest``). A value of the wrong type is a ``ConfigError`` naming the backend, the key,
what was given and what is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class OptionReader:
    """Consumes options of ``backend`` one key at a time; what is left is ``rest()``."""

    def __init__(self, backend: str, options: Mapping[str, str]) -> None:
        self.backend = backend
        self._left = dict(options)

    def _bad(self, key: str, value: str, expected: str) -> ConfigError:
        return ConfigError(f"--backend-opt {key}={value}: invalid for {self.backend}, expected {expected}")

    def take_str(self, key: str, default: str) -> str:
        return self._left.pop(key, default)

    def take_int(self, key: str, default: int, minimum: int = 0) -> int:
        if key not in self._left:
            return default
        value = self._left.pop(key)
        try:
            number = int(value)
        except ValueError:
            raise self._bad(key, value, f"an integer >= {minimum}") from None
        if number < minimum:
            raise self._bad(key, value, f"an integer >= {minimum}")
        return number

    def take_bool(self, key: str, default: bool) -> bool:
        if key not in self._left:
            return default
        value = self._left.pop(key)
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise self._bad(key, value, "true or false")

    def take_choice(self, key: str, default: str, choices: Sequence[str]) -> str:
        if key not in self._left:
            return default
        value = self._left.pop(key)
        if value not in choices:
            raise self._bad(key, value, f"one of {', '.join(choices)}")
        return value

    def take_prefixed(self, prefix: str) -> dict[str, str]:
        """Every option whose key starts with ``prefix`` (e.g. ``session.``), passed on verbatim."""
        taken = {key: value for key, value in self._left.items() if key.startswith(prefix)}
        for key in taken:
            del self._left[key]
        return taken

    def rest(self) -> dict[str, str]:
        """Options nobody took (ONNX Runtime passes these to its provider)."""
        return dict(self._left)

    def reject_rest(self, known: Sequence[str], hint: str = "") -> None:
        """Refuse leftovers, for backends that do not pass options through."""
        if self._left:
            unknown = ", ".join(sorted(self._left))
            raise ConfigError(
                f"--backend-opt: {unknown} not understood by {self.backend} (options: {', '.join(known)}){hint}"
            )

"""Turn ``--backend`` / ``--backend-opt`` of a bench config into the backend recipe, through
the same selection ``mmharness run`` uses (``harness.backends.select``)."""

from __future__ import annotations

from typing import Any

from harness.backends.interface import Backend


def resolve_backend(config: Any, manifest: Any) -> Backend:
    """The backend that runs the ``model`` graph of ``manifest`` as ``config`` asks."""
    from harness.backends import backend_for, parse_backend

    request = parse_backend(config.backend, [f"{key}={value}" for key, value in config.backend_options])
    return backend_for(manifest, request)

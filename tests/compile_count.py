"""Counting XLA compilations with JAX's own monitoring events (issue 16: a public jaxdl
function used eagerly at the course's sizes costs at most one compiled program).

Tests use shapes no other test uses, so the jit caches are cold for them."""

from __future__ import annotations

import contextlib

import jax

_EVENT = "/jax/core/compile/backend_compile_duration"
_active: list[list[float]] = []


def _listener(event: str, duration: float, **kwargs) -> None:
    if event == _EVENT:
        for seen in _active:
            seen.append(duration)


jax.monitoring.register_event_duration_secs_listener(_listener)


@contextlib.contextmanager
def compiles():
    """``with compiles() as seen: ...``: ``len(seen)`` programs compiled inside the block."""
    seen: list[float] = []
    _active.append(seen)
    try:
        yield seen
    finally:
        _active.remove(seen)

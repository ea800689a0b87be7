"""Keeping compiled programs: one memo for the builders of ``fit`` and ``random_search``.

A builder returns a ``jax.jit`` function; handing back the same object for equal arguments
lets jax's own cache skip tracing, lowering and loading on later calls.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def reused(maxsize: int) -> Callable[[F], F]:
    """Memoize a program builder on its arguments (the last ``maxsize`` programs).

    Arguments that cannot be hashed (an optimizer closing over arrays, a callable object
    without ``__hash__``) build a fresh program, never cached.
    """

    def decorate(build: F) -> F:
        cached = functools.lru_cache(maxsize=maxsize)(build)

        @functools.wraps(build)
        def program(*args: Any) -> Any:
            try:
                hash(args)
            except TypeError:
                return build(*args)
            return cached(*args)

        return program  # type: ignore[return-value]

    return decorate


class ByRepr:
    """A memo key for values that may be unhashable (lists of layer sizes): equal by ``repr``."""

    __slots__ = ("value", "_repr")

    def __init__(self, value: Any):
        self.value = value
        self._repr = repr(value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ByRepr) and self._repr == other._repr

    def __hash__(self) -> int:
        return hash(self._repr)

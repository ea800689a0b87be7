"""Keeping compiled programs: one memo for the builders of ``fit`` and ``random_search``.

A builder returns a ``jax.jit`` function; handing back the same object for equal arguments
lets jax's own cache skip tracing, lowering and loading on later calls.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import numpy as np

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


def value_key(value: Any) -> Any:
    """A hashable stand-in for ``value``, equal exactly when the values are equal and of the
    same types (``1`` and ``1.0`` trace differently, so they differ here).

    Containers (list, tuple, dict, set) by their items, NumPy and concrete JAX arrays by
    dtype, shape and bytes (every element, unlike ``repr``, which NumPy truncates beyond
    1000 elements), floating and complex scalars by their bits (``0.0`` and ``-0.0`` compare
    equal but are different constants in a program; a NaN is the same constant as itself),
    other hashable scalars by value; anything else by identity (the key holds a reference,
    so the id cannot be reused while the key lives).
    """
    if isinstance(value, (float, complex, np.inexact)):
        return (type(value), np.asarray(value).tobytes())
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(value_key(v) for v in value))
    if isinstance(value, dict):
        return (dict, tuple((value_key(k), value_key(v)) for k, v in value.items()))
    if isinstance(value, (set, frozenset)):
        return (type(value), frozenset(value_key(v) for v in value))
    if isinstance(value, np.ndarray) or (isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer)):
        a = np.asarray(value)
        if a.dtype != object:
            return (type(value), a.dtype.str, a.shape, a.tobytes())
    try:
        hash(value)
    except TypeError:
        return ("id", id(value), _Held(value))
    return (type(value), value)


class _Held:
    """Keeps an object alive inside a key; compares equal to any other ``_Held`` (the id
    beside it in the key tuple does the comparing)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any):
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Held)

    def __hash__(self) -> int:
        return 0


class ByValue:
    """A memo key for values that may be unhashable (lists of layer sizes, arrays): equal by
    value (see :func:`value_key`), never by a printed form."""

    __slots__ = ("value", "_key")

    def __init__(self, value: Any):
        self.value = value
        self._key = value_key(value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ByValue) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

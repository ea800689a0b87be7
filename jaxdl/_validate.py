"""Argument checks shared by every public jaxdl function.

Each check raises a ``ValueError`` or ``TypeError`` whose message names the argument and
what was seen (shape, dtype, value), so a mistake is found where it was made. The checks
only look at static facts (shapes, dtypes, Python numbers), so they are free under ``jit``:
they run once, at trace time.
"""

from __future__ import annotations

import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def shape_of(x: Any) -> tuple[int, ...]:
    """The shape of an array-like (``()`` for Python scalars)."""
    return tuple(np.shape(x))


def check_array(name: str, x: Any) -> None:
    """``x`` must be an array (jax/numpy) or a Python number, not a list or a pytree."""
    if isinstance(x, (jax.Array, np.ndarray, np.generic, numbers.Number)) or hasattr(x, "aval"):
        return
    raise TypeError(f"{name} must be an array, got {type(x).__name__}")


def check_ndim(name: str, x: Any, ndim: int | tuple[int, ...]) -> None:
    """``x`` must have rank ``ndim`` (or one of the ranks in a tuple)."""
    check_array(name, x)
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if np.ndim(x) not in allowed:
        want = " or ".join(str(a) for a in allowed)
        raise ValueError(f"{name} must have rank {want}, got shape {shape_of(x)}")


def check_shape(name: str, x: Any, shape: tuple[int | None, ...]) -> None:
    """``x`` must have ``shape``; ``None`` entries match any size."""
    check_array(name, x)
    got = shape_of(x)
    if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got shape {got}")


def check_floating(name: str, x: Any) -> None:
    """``x`` must have a floating dtype."""
    if not jnp.issubdtype(jnp.result_type(x), jnp.floating):
        raise TypeError(f"{name} must be a floating-point array, got dtype {jnp.result_type(x)}")


def check_same_leading(names: tuple[str, str], a: Any, b: Any) -> None:
    """Two batch-first arrays must hold the same number of examples."""
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb or sa[0] != sb[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must have the same number of examples (axis 0), "
            f"got shapes {sa} and {sb}"
        )


def check_same_shape(names: tuple[str, str], a: Any, b: Any) -> None:
    """Two arrays must have the same shape."""
    sa, sb = shape_of(a), shape_of(b)
    if sa != sb:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {sa} and {sb}")


def check_same_structure(names: tuple[str, str], a: Any, b: Any) -> None:
    """Two pytrees must have the same structure and leaf shapes."""
    ta, tb = jax.tree_util.tree_structure(a), jax.tree_util.tree_structure(b)
    if ta != tb:
        raise ValueError(f"{names[0]} and {names[1]} must have the same tree structure, got {ta} and {tb}")
    for path_leaf_a, leaf_b in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree_util.tree_leaves(b)):
        path, leaf_a = path_leaf_a
        if shape_of(leaf_a) != shape_of(leaf_b):
            where = jax.tree_util.keystr(path)
            raise ValueError(
                f"{names[0]}{where} and {names[1]}{where} must have the same shape, "
                f"got {shape_of(leaf_a)} and {shape_of(leaf_b)}"
            )


def is_concrete_number(x: Any) -> bool:
    """True for Python numbers and concrete (non-traced) scalar arrays."""
    if isinstance(x, numbers.Number):
        return True
    if isinstance(x, jax.core.Tracer):
        return False
    return np.ndim(x) == 0 and isinstance(x, (np.ndarray, np.generic, jax.Array))


def check_range(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> None:
    """A concrete scalar must lie in the interval; traced values are not checked (not knowable)."""
    if not is_concrete_number(value):
        if isinstance(value, jax.core.Tracer):
            return
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    ok = not np.isnan(v)
    if low is not None:
        ok = ok and (v >= low if low_inclusive else v > low)
    if high is not None:
        ok = ok and (v <= high if high_inclusive else v < high)
    if not ok:
        lo = "(-inf" if low is None else ("[" if low_inclusive else "(") + f"{low:g}"
        hi = "inf)" if high is None else f"{high:g}" + ("]" if high_inclusive else ")")
        raise ValueError(f"{name} must be in {lo}, {hi}, got {value!r}")


def check_positive_int(name: str, value: Any, *, allow_zero: bool = False) -> None:
    """``value`` must be a Python int (not a bool) that is > 0 (or >= 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def check_key(name: str, key: Any) -> None:
    """``key`` must be a JAX PRNG key (typed ``jax.random.key`` or raw ``PRNGKey`` uint32[2])."""
    if isinstance(key, (jax.Array, np.ndarray)) or hasattr(key, "aval"):
        dtype = key.dtype
        if jnp.issubdtype(dtype, jax.dtypes.prng_key) and np.ndim(key) == 0:
            return
        if dtype == jnp.uint32 and shape_of(key) == (2,):
            return
        raise TypeError(
            f"{name} must be a PRNG key from jax.random.key(seed) or jax.random.PRNGKey(seed), "
            f"got an array of dtype {dtype} and shape {shape_of(key)}"
        )
    raise TypeError(
        f"{name} must be a PRNG key from jax.random.key(seed) or jax.random.PRNGKey(seed), "
        f"got {type(key).__name__}"
    )

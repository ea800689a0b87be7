"""Diagnostics: bias/variance (the course's "basic recipe") and per-layer gradient norms.

``bias_variance`` turns train/dev error into the lecture's verdict::

    avoidable_bias = train_error - bayes_error      # high -> fit the training set better
    variance       = dev_error  - train_error       # high -> generalize better

``gradient_norms`` reports ``||dW_l||_2`` per layer, to see vanishing (norms shrinking
towards the input layer) or exploding (growing) gradients.
"""

from __future__ import annotations

import re

import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import _validate as v

__all__ = ["BiasVariance", "bias_variance", "gradient_norms", "global_norm"]

# Lecture's "basic recipe for machine learning".
HIGH_BIAS_ADVICE = (
    "bigger network (more hidden units or layers)",
    "train longer / use a better optimizer (momentum, RMSprop, Adam)",
    "try another network architecture",
)
HIGH_VARIANCE_ADVICE = (
    "get more training data (or augment it)",
    "add regularization (L2, dropout)",
    "try another network architecture",
)
DONE_ADVICE = ("low bias and low variance: the model is fine; check it on the test set",)

# Gaps are compared as `gap > threshold + _TOL`, so that 0.16 - 0.15 (= 0.010000000000000009
# in floating point) counts as a 1-point gap, not as more than 1 point.
_TOL = 1e-9


class BiasVariance(NamedTuple):
    """Result of :func:`bias_variance`.

    Attributes:
      avoidable_bias: ``train_error - bayes_error`` (may be < 0 if train beats the bound).
      variance: ``dev_error - train_error``.
      high_bias, high_variance: whether each gap exceeds ``threshold``.
      verdict: ``"high bias"``, ``"high variance"``, ``"high bias and high variance"`` or
        ``"low bias and low variance"``.
      focus: ``"bias"`` or ``"variance"``, whichever gap is larger (the lecture's "focus on
        the bigger one"; ties go to bias, which is fixed first in the recipe).
      advice: the recipe's remedies for the verdict (bias ones first when both are high).
    """

    avoidable_bias: float
    variance: float
    high_bias: bool
    high_variance: bool
    verdict: str
    focus: str
    advice: tuple[str, ...]


def _check_error(name: str, value: Any) -> float:
    if isinstance(value, bool) or not v.is_concrete_number(value) or isinstance(value, complex):
        raise TypeError(
            f"{name} must be a concrete real number (an error rate in [0, 1]), got "
            f"{type(value).__name__} with shape {v.shape_of(value) if hasattr(value, 'shape') else ()}"
        )
    v.check_range(name, value, 0.0, 1.0)
    return float(value)


def bias_variance(
    train_error: float, dev_error: float, bayes_error: float = 0.0, *, threshold: float = 0.01
) -> BiasVariance:
    """Diagnose bias and variance from error rates (fractions in ``[0, 1]``, not %).

    Rule: ``avoidable_bias = train_error - bayes_error`` and
    ``variance = dev_error - train_error``; a gap is *high* when it is larger than
    ``threshold`` (default 0.01, one percentage point; a gap of exactly ``threshold`` is
    low). ``bayes_error`` is the best achievable error (human level as a proxy; 0 for
    tasks people do perfectly).

    Args:
      train_error, dev_error, bayes_error: Python numbers or concrete scalar arrays in
        ``[0, 1]`` (this is a host-side function; it does not run under ``jit``).
      threshold: the gap (in [0, 1]) above which bias or variance counts as high.

    Returns:
      :class:`BiasVariance` with the two gaps, flags, verdict, focus and advice.

    Examples (the lecture's, bayes error 0 unless given)::

        >>> bias_variance(0.01, 0.11).verdict      # 1% / 11%
        'high variance'
        >>> bias_variance(0.15, 0.16).verdict
        'high bias'
        >>> bias_variance(0.15, 0.30).verdict
        'high bias and high variance'
        >>> bias_variance(0.005, 0.01).verdict
        'low bias and low variance'
        >>> bias_variance(0.155, 0.16, bayes_error=0.15).verdict
        'low bias and low variance'
    """
    train = _check_error("train_error", train_error)
    dev = _check_error("dev_error", dev_error)
    bayes = _check_error("bayes_error", bayes_error)
    thr = _check_error("threshold", threshold)
    bias = train - bayes
    variance = dev - train
    high_bias = bias > thr + _TOL
    high_variance = variance > thr + _TOL
    if high_bias and high_variance:
        verdict = "high bias and high variance"
        advice = HIGH_BIAS_ADVICE + tuple(a for a in HIGH_VARIANCE_ADVICE if a not in HIGH_BIAS_ADVICE)
    elif high_bias:
        verdict, advice = "high bias", HIGH_BIAS_ADVICE
    elif high_variance:
        verdict, advice = "high variance", HIGH_VARIANCE_ADVICE
    else:
        verdict, advice = "low bias and low variance", DONE_ADVICE
    focus = "bias" if bias >= variance else "variance"
    return BiasVariance(bias, variance, high_bias, high_variance, verdict, focus, advice)


def _key_name(entry: Any) -> str:
    for attr in ("key", "name", "idx"):
        if hasattr(entry, attr):
            return str(getattr(entry, attr))
    return str(entry)


def _leaves_by_name(tree: Any, name: str) -> list[tuple[str, Any]]:
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    if not leaves:
        raise ValueError(f"{name} must contain at least one array leaf, got {tree!r}")
    out = []
    for path, leaf in leaves:
        where = f"{name}{jax.tree_util.keystr(path)}"
        v.check_array(where, leaf)
        if not jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            raise TypeError(
                f"{where} must be a floating-point array, got dtype {jnp.result_type(leaf)} "
                f"and shape {v.shape_of(leaf)}"
            )
        out.append(("/".join(_key_name(e) for e in path) or "value", leaf))
    return out


def gradient_norms(grads: Any, *, weights_only: bool = False) -> dict[str, jax.Array]:
    """Per-leaf L2 (Frobenius) norms of a gradient pytree, to spot vanishing/exploding.

    Args:
      grads: a pytree of float arrays, e.g. ``jax.grad(loss)(params)`` for the flat
        ``{"W1", "b1", ..., "WL", "bL"}`` dict; nested dicts/lists work too.
      weights_only: keep only leaves whose last key starts with ``"W"`` (the weights).

    Returns:
      ``{name: ||leaf||_2}`` (scalars in the leaf's dtype), where ``name`` is the leaf's
      path joined by ``"/"`` (``"W1"`` for the flat dict, ``"layer1/W"`` for nested ones),
      in natural layer order (``W1, W2, ..., W10``, not the pytree's ``W1, W10, W2``).
      Jit-friendly: the keys are static.

    The norm is computed as ``s * sqrt(sum((x / s)**2))`` with ``s = max|x|``, so a float32
    gradient of entries ~1e30 (exploding) or ~1e-30 (vanishing) gets its true norm instead
    of ``inf`` or ``0`` from squaring out of range.

    Example::

        >>> norms = gradient_norms({"W1": jnp.full((2, 2), 0.5), "b1": jnp.zeros(2)})
        >>> float(norms["W1"]), float(norms["b1"])
        (1.0, 0.0)
    """
    out: dict[str, jax.Array] = {}
    for name, leaf in sorted(_leaves_by_name(grads, "grads"), key=lambda item: _natural_key(item[0])):
        if weights_only and not name.split("/")[-1].startswith("W"):
            continue
        out[name] = _scaled_norm(jnp.asarray(leaf))
    return out


def _natural_key(name: str) -> list:
    """``"W10"`` after ``"W2"``: digit runs compare as numbers."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part]


def _scaled_norm(x: jax.Array) -> jax.Array:
    """L2 norm without overflow/underflow of the squares (empty or all-zero -> 0)."""
    if x.size == 0:
        return jnp.zeros((), x.dtype)
    scale = jnp.max(jnp.abs(x))
    safe = jnp.where(scale > 0, scale, jnp.ones_like(scale))
    return scale * jnp.sqrt(jnp.sum(jnp.square(x / safe)))


def global_norm(grads: Any) -> jax.Array:
    """``sqrt(sum of squares of all entries of all leaves)``: the norm of the whole gradient.

    Computed in float32 (float64 if every leaf is float64). Jit-friendly.
    """
    leaves = [jnp.asarray(leaf) for _, leaf in _leaves_by_name(grads, "grads")]
    dtype = jnp.float64 if all(x.dtype == jnp.float64 for x in leaves) else jnp.float32
    return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(dtype))) for x in leaves))

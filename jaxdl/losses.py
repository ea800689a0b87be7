"""Losses (batch means, computed from logits) and the L2 weight penalty.

Losses take *logits* (pre-activation outputs), never probabilities: computing the loss from
logits is stable for any finite logit (no ``log(0)``), with exact gradients
``(sigmoid(z) - y) / m`` and ``(softmax(z) - onehot) / m``. Infinite logits are taken at
their limits, with ``0 * (-inf) = 0`` for a zero label (a masked class costs nothing), so
the result is NaN only where the mathematics is undefined or the input holds NaN. Labels must have exactly the
shape of the logits: ``(m,)`` against ``(m, 1)`` is an error, not a broadcast.

Example::

    >>> import jax.numpy as jnp
    >>> from jaxdl import losses
    >>> round(float(losses.binary_cross_entropy(jnp.array([0.0, 0.0]), jnp.array([0.0, 1.0]))), 4)  # log 2
    0.6931
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxdl import _validate as v
from jaxdl.nn import log_softmax

__all__ = ["binary_cross_entropy", "softmax_cross_entropy", "l2_penalty"]


def _check_logits_labels(lname: str, logits: Any, yname: str, labels: Any, *, min_ndim: int) -> tuple[jax.Array, jax.Array]:
    v.check_array(lname, logits)
    v.check_array(yname, labels)
    v.check_floating(lname, logits)
    if jnp.ndim(logits) < min_ndim:
        raise ValueError(f"{lname} must have rank >= {min_ndim}, got shape {v.shape_of(logits)}")
    if v.shape_of(logits) != v.shape_of(labels):
        raise ValueError(
            f"{lname} and {yname} must have the same shape, got {lname} shape {v.shape_of(logits)} "
            f"and {yname} shape {v.shape_of(labels)} (no broadcasting: reshape one of them)"
        )
    dt = jnp.result_type(labels)
    if not (jnp.issubdtype(dt, jnp.floating) or jnp.issubdtype(dt, jnp.integer) or dt == jnp.bool_):
        raise TypeError(f"{yname} must be a real (float, int or bool) array, got dtype {dt}")
    logits = jnp.asarray(logits)
    return logits, jnp.asarray(labels).astype(logits.dtype)


def _times(y: jax.Array, log_term: jax.Array) -> jax.Array:
    """``y * log_term`` with ``0 * (+-inf) = 0``: a zero label ignores an infinite log-probability.

    (The limit ``y log p -> 0`` as ``y -> 0``, as in ``scipy.special.xlogy``.) Finite terms
    are untouched, so values and gradients (w.r.t. the labels too) are those of ``y * t``;
    at a masked infinite term the gradient w.r.t. the logits is 0, not NaN.
    """
    return y * jnp.where((y == 0) & jnp.isinf(log_term), jnp.zeros_like(log_term), log_term)


def binary_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean binary cross-entropy of ``sigmoid(logits)`` against ``labels`` in ``[0, 1]``.

    ``loss = mean(-y log sigmoid(z) - (1 - y) log(1 - sigmoid(z)))``, computed for finite
    ``z`` as ``mean(max(z, 0) - z * y + log1p(exp(-|z|)))`` (finite for any finite ``z``;
    evaluated via ``jnp.logaddexp(z, 0) - z * y``, the same expression with an exact
    gradient at 0). At ``z = +-inf`` (where that is ``inf - inf``) it takes the two-term
    form ``y * softplus(-z) + (1 - y) * softplus(z)`` (optax's formula) with a term whose
    factor ``y`` or ``1 - y`` is 0 counting 0: ``z = +inf`` with ``y = 1`` and ``z = -inf``
    with ``y = 0`` give loss 0 and gradient 0 (not NaN); a wrong label at an infinite
    logit gives ``+inf``, with the finite gradient ``sigmoid(z) - y``.

    Args:
      logits: floating ``(m,)`` or ``(m, 1)`` (or ``(m, k)`` for k independent labels; the
        mean is over all entries, like ``optax.sigmoid_binary_cross_entropy(z, y).mean()``).
      labels: the same shape; float in ``[0, 1]``, int or bool (cast to the logits' dtype).

    Returns:
      A scalar in the logits' dtype. Gradient w.r.t. ``logits``: ``(sigmoid(z) - y) / size``.

    Raises:
      TypeError: ``logits`` not floating, ``labels`` not real.
      ValueError: different shapes (no broadcasting), or ``logits`` a scalar.

    >>> float(binary_cross_entropy(jnp.array([1000.0, -1000.0]), jnp.array([1.0, 0.0])))
    0.0
    >>> float(binary_cross_entropy(jnp.array([jnp.inf, -jnp.inf]), jnp.array([1.0, 0.0])))
    0.0
    """
    z, y = _check_logits_labels("logits", logits, "labels", labels, min_ndim=1)
    zero = jnp.zeros_like(z)
    # softplus(z) = max(z, 0) + log1p(exp(-|z|)) is what jnp.logaddexp(z, 0) computes; unlike the
    # hand-written expression its custom JVP is exact at z == 0 too (there, the derivatives of
    # max and abs at their kinks would give -y instead of sigmoid(0) - y = 0.5 - y).
    finite = jnp.logaddexp(z, zero) - z * y
    # At z = +-inf that is inf - inf: use the two-term form there, with 0 * inf = 0.
    limit = _times(y, jnp.logaddexp(-z, zero)) + _times(1 - y, jnp.logaddexp(z, zero))
    return jnp.mean(jnp.where(jnp.isinf(z), limit, finite))


def softmax_cross_entropy(logits: jax.Array, onehot: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy: ``mean_i( -sum_c onehot[i, c] * log_softmax(logits)[i, c] )``.

    ``logits`` and ``onehot`` are ``(m, C)`` (classes last; any leading axes are averaged).
    ``onehot`` may also hold soft labels (rows summing to 1). Equals
    ``optax.softmax_cross_entropy(logits, onehot).mean()``; gradient ``(softmax(z) - onehot) / m``.
    Finite for logits like ``±1000``. A ``-inf`` logit (a masked class) whose label is 0
    contributes 0, not ``0 * (-inf) = NaN``, and the gradient stays finite:
    ``[[0, -inf, 1]]`` against ``[[1, 0, 0]]`` is ``log(1 + e) = 1.3133``. A row of all
    ``-inf`` is uniform (see :func:`jaxdl.nn.log_softmax`).

    Args:
      logits: floating ``(m, C)`` (rank >= 1).
      onehot: the same shape; one-hot or soft labels (float, int or bool).

    Returns:
      A scalar in the logits' dtype.

    Raises:
      TypeError: ``logits`` not floating, ``onehot`` not real.
      ValueError: different shapes (no broadcasting), or ``logits`` a scalar.

    >>> float(softmax_cross_entropy(jnp.array([[1000.0, -1000.0]]), jnp.array([[0.0, 1.0]])))
    2000.0
    >>> round(float(softmax_cross_entropy(jnp.array([[0.0, -jnp.inf, 1.0]]), jnp.array([[1.0, 0.0, 0.0]]))), 4)
    1.3133
    """
    z, y = _check_logits_labels("logits", logits, "onehot", onehot, min_ndim=1)
    return jnp.mean(-jnp.sum(_times(y, log_softmax(z, axis=-1)), axis=-1))


def _is_weight_path(path: tuple) -> bool:
    if not path:
        return False
    last = path[-1]
    name = getattr(last, "key", getattr(last, "name", None))
    return isinstance(name, str) and name.startswith("W")


def l2_penalty(params: Any, lambd: float, m: int) -> jax.Array:
    """L2 regularization cost ``lambd / (2 m) * sum_l ||W_l||_F^2`` (weights only).

    Which leaves are weights: a leaf counts when the *last* dict key (or attribute name) on
    its path is a string starting with ``"W"`` -- ``"W1"``, ``"W2"``, ... in the course's
    flat dict, also inside nested dicts (``{"mlp": {"W1": ...}}``). Biases (``"b1"``),
    batch-norm ``"gamma"``/``"beta"`` and anything else are excluded. ``m`` is the number of
    training examples (> 0), ``lambd >= 0``. Raises if ``params`` has no weight leaf at all.

    >>> float(l2_penalty({"W1": jnp.ones((2, 2)), "b1": jnp.ones(2)}, 0.5, 2))
    0.5
    """
    if isinstance(m, bool) or not v.is_concrete_number(m):
        if isinstance(m, jax.core.Tracer):
            pass
        else:
            raise TypeError(f"m must be a positive number (the batch size), got {type(m).__name__} {m!r}")
    else:
        v.check_range("m", m, 0.0, low_inclusive=False)
    v.check_range("lambd", lambd, 0.0)
    leaves = jax.tree_util.tree_leaves_with_path(params)
    weights = [(p, x) for p, x in leaves if _is_weight_path(p)]
    if not weights:
        raise ValueError(
            "params has no weight leaves (dict keys starting with 'W'), got leaves "
            + (", ".join(f"params{jax.tree_util.keystr(p)}" for p, _ in leaves) or "none")
        )
    for p, x in weights:
        v.check_array(f"params{jax.tree_util.keystr(p)}", x)
        v.check_floating(f"params{jax.tree_util.keystr(p)}", x)
    total = sum(jnp.sum(jnp.square(jnp.asarray(x))) for _, x in weights)
    if v.is_concrete_number(lambd) and v.is_concrete_number(m):
        coef = float(lambd) / (2.0 * float(m))  # Python float: weakly typed, keeps total's dtype
        return coef * total
    return (lambd / (2 * m)) * total

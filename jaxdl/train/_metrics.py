"""Metrics: ``evaluate`` (accuracy and loss of a classifier) and the dev metrics ``fit`` records."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from jaxdl import _validate as v
from jaxdl._reuse import reused
from jaxdl.train._checks import check_batch_arrays, check_callable


EVALUATE_PROGRAMS_KEPT = 32  # evaluate programs kept for reuse (each holds its apply_fn alive)


def as_metric_dict(out: Any, prefix: str) -> dict[str, jax.Array]:
    """``metric_fn``'s scalar or dict of scalars as ``{prefix + name: scalar}`` (a scalar is ``"metric"``).

    Raises:
      ValueError: a metric is not a scalar.
    """
    items = dict(out) if isinstance(out, Mapping) else {"metric": out}
    result = {}
    for name, value in items.items():
        value = jnp.asarray(value)
        if value.shape != ():
            raise ValueError(f"metric_fn must return scalars, got {name!r} of shape {value.shape}")
        result[prefix + str(name)] = value
    return result


def evaluate(
    apply_fn: Callable,
    params: Any,
    X: Any,
    Y: Any,
    *,
    model_state: Any = None,
) -> dict[str, jax.Array]:
    """Accuracy and loss of a classifier on ``(X, Y)``.

    Args:
      apply_fn: ``apply_fn(params, X) -> logits``, or with ``model_state`` given
        ``apply_fn(params, model_state, X) -> logits`` (evaluation mode: running statistics,
        no dropout -- e.g. ``lambda p, X: mlp_apply(p, X)``).
      params: parameters passed to ``apply_fn``.
      X: inputs ``(m, ...)``.
      Y: labels. Binary task (logits ``(m,)`` or ``(m, 1)``): ``Y`` ``(m,)`` or ``(m, 1)``
        of 0/1 (int, bool or float). Multi-class (logits ``(m, C)``, ``C >= 2``): integer
        labels ``(m,)`` or one-hot ``(m, C)``.
      model_state: optional non-trainable state forwarded to ``apply_fn``.

    Returns:
      ``{"accuracy": ..., "loss": ...}``, float32 scalars (0-d JAX arrays; ``float()``
      them). Binary: prediction ``logits > 0`` (``sigmoid > 0.5``), loss
      :func:`jaxdl.losses.binary_cross_entropy`. Multi-class: prediction
      ``argmax(logits, -1)``, loss :func:`jaxdl.losses.softmax_cross_entropy`.
      jit-compatible, so usable as ``fit``'s ``metric_fn``. Called eagerly, it runs as one
      compiled program per ``apply_fn`` object (reused for later calls with that same
      function: define ``apply_fn`` once rather than a new lambda per call). Infinite logits (a masked
      class at ``-inf``) give the losses' limits, never ``0 * inf = NaN`` (see
      :mod:`jaxdl.losses`).

    Raises:
      TypeError: ``apply_fn`` is not callable or returns a tuple/list or non-floating
        logits; multi-class labels ``(m,)`` are not integers.
      ValueError: ``X`` and ``Y`` differ in length; the logits are not ``(m,)`` or
        ``(m, C)``; ``Y``'s shape fits neither the binary nor the multi-class form.

    >>> evaluate(lambda p, X: X @ p, jnp.ones((2, 1)), jnp.array([[1., 1.], [-1., -2.]]),
    ...          jnp.array([1, 1]))["accuracy"]
    Array(0.5, dtype=float32)
    """
    check_callable("apply_fn", apply_fn)
    check_batch_arrays("X", X, "Y", Y)
    if any(isinstance(leaf, jax.core.Tracer)
           for leaf in jax.tree_util.tree_leaves((params, X, Y, model_state))):
        return _evaluate(apply_fn, params, X, Y, model_state)  # inside the caller's program
    return _evaluate_program(apply_fn)(params, X, Y, model_state)


@reused(EVALUATE_PROGRAMS_KEPT)
def _evaluate_program(apply_fn: Callable) -> Callable:
    # Called eagerly, one compiled program per apply_fn object (run op by op, the course's
    # MLP cost 37 programs on a first call); jax's cache then serves each new shape.
    return jax.jit(functools.partial(_evaluate, apply_fn))


def _evaluate(apply_fn: Callable, params: Any, X: Any, Y: Any, model_state: Any) -> dict[str, jax.Array]:
    from jaxdl import losses

    m = v.shape_of(X)[0]
    logits = apply_fn(params, X) if model_state is None else apply_fn(params, model_state, X)
    if isinstance(logits, (tuple, list)):
        raise TypeError(
            f"apply_fn must return the logits (one array), got a {type(logits).__name__} of length {len(logits)}; "
            "e.g. with batch norm use lambda p, s, X: mlp_apply(p, X, batchnorm=(bn_p, s))[0]"
        )
    v.check_array("apply_fn(params, X)", logits)
    logits = jnp.asarray(logits)
    v.check_floating("apply_fn(params, X)", logits)
    Y = jnp.asarray(Y)
    if logits.ndim not in (1, 2) or logits.shape[0] != m:
        raise ValueError(f"apply_fn must return logits (m,) or (m, C) with m={m}, got shape {logits.shape}")
    binary = logits.ndim == 1 or logits.shape[1] == 1
    if binary:
        if Y.shape not in ((m,), (m, 1)):
            raise ValueError(f"binary task (logits shape {logits.shape}): Y must have shape ({m},) or ({m}, 1), got {Y.shape}")
        z = logits.reshape(m)
        y = Y.reshape(m)
        y_int = (y > 0.5) if jnp.issubdtype(y.dtype, jnp.floating) else y.astype(bool)
        accuracy = jnp.mean(((z > 0) == y_int).astype(jnp.float32))
        loss = losses.binary_cross_entropy(z, y.astype(z.dtype))
    else:
        C = logits.shape[1]
        if Y.shape == (m,):
            if not jnp.issubdtype(Y.dtype, jnp.integer):
                raise TypeError(f"multi-class labels Y of shape ({m},) must be integers, got dtype {Y.dtype}")
            labels = Y.astype(jnp.int32)
            onehot = (labels[:, None] == jnp.arange(C, dtype=jnp.int32)[None, :]).astype(logits.dtype)
        elif Y.shape == (m, C):
            onehot = Y.astype(logits.dtype)
            labels = jnp.argmax(onehot, axis=-1)
        else:
            raise ValueError(
                f"multi-class task (logits shape {logits.shape}): Y must be labels ({m},) or one-hot ({m}, {C}), "
                f"got shape {Y.shape}"
            )
        accuracy = jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))
        loss = losses.softmax_cross_entropy(logits, onehot)
    return {"accuracy": accuracy, "loss": loss.astype(jnp.float32)}

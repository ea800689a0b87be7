"""Argument checks shared by ``TrainState``, ``make_train_step``, ``fit`` and ``evaluate``.

Each raises a ``TypeError``/``ValueError`` naming the argument and what it got.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from jaxdl import _validate as v


def check_optimizer(optimizer: Any) -> None:
    if not (callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None))):
        raise TypeError(
            "optimizer must be an optax.GradientTransformation (with .init and .update), "
            f"got {type(optimizer).__name__}"
        )


def check_callable(name: str, fn: Any) -> None:
    if not callable(fn):
        raise TypeError(f"{name} must be callable, got {type(fn).__name__} {fn!r}")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a Python bool, got {type(value).__name__} {value!r}")


def check_batch_arrays(xname: str, X: Any, yname: str, Y: Any) -> None:
    v.check_array(xname, X)
    v.check_array(yname, Y)
    if np.ndim(X) < 1:
        raise ValueError(f"{xname} must be batch-first with rank >= 1, got shape {v.shape_of(X)}")
    if np.ndim(Y) < 1:
        raise ValueError(f"{yname} must be batch-first with rank >= 1, got shape {v.shape_of(Y)}")
    v.check_same_leading((xname, yname), X, Y)


def is_traced(tree: Any) -> bool:
    """Whether any leaf of ``tree`` is a tracer (we run under ``jit``/``vmap``/``grad``)."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(tree))

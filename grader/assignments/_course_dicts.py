"""The course's dict conventions, shared by the assignments' case builders.

Parameters are ``{"W1", "b1", ..., "WL", "bL"}`` (batch-first: ``W_l`` is ``(n_{l-1}, n_l)``,
``b_l`` is ``(n_l,)``); gradients and optimizer state use the same names with a ``d``
prefix (``{"dW1", "db1", ...}``), as in the course. ``jaxdl`` keys everything by the parameter
names; these helpers translate, and draw random networks for hidden cases.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

F32 = np.float32


def random_params(r: np.random.Generator, layers_dims: Sequence[int], scale: float = 1.0) -> dict:
    """A float32 parameter dict for ``layers_dims`` with normal entries (biases non-zero too)."""
    params = {}
    for l in range(1, len(layers_dims)):
        params[f"W{l}"] = (scale * r.normal(size=(layers_dims[l - 1], layers_dims[l]))).astype(F32)
        params[f"b{l}"] = (scale * r.normal(size=(layers_dims[l],))).astype(F32)
    return params


def to_grad_keys(tree: Mapping[str, Any]) -> dict:
    """``{"W1": x}`` -> ``{"dW1": x}``."""
    return {f"d{k}": v for k, v in tree.items()}


def to_param_keys(tree: Mapping[str, Any]) -> dict:
    """``{"dW1": x}`` -> ``{"W1": x}``."""
    return {k[1:]: v for k, v in tree.items()}


def as_numpy(tree: Mapping[str, Any]) -> dict:
    """A dict of arrays as plain numpy copies (float32 kept)."""
    return {k: np.asarray(v) for k, v in tree.items()}


def random_dims(r: np.random.Generator, low: int = 2, high: int = 7, layers: tuple[int, int] = (2, 4)) -> list[int]:
    """Random layer sizes: ``layers`` bounds the number of weight layers (inclusive)."""
    n = int(r.integers(layers[0], layers[1] + 1))
    return [int(d) for d in r.integers(low, high, size=n + 1)]

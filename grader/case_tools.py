"""Tools shared by the assignments' case builders (``assignment.py`` in each course folder).

- Seeded inputs: :func:`rng` (NumPy generator for a case's seed), :func:`key` (a typed or raw
  JAX PRNG key from a seed), :func:`random_params`, :func:`random_dims`.
- The course's dict conventions: :func:`to_grad_keys`, :func:`to_param_keys`, :func:`as_numpy`.
- Judging a trained model in the parent (a case's ``validate``): :func:`trained_params_problem`
  (structure and finiteness of what training returned) and :func:`held_out_accuracy_problem`
  (the accuracy the parent measures on data it never sent, against a threshold).

Parameters are ``{"W1", "b1", ..., "WL", "bL"}`` (batch-first: ``W_l`` is ``(n_{l-1}, n_l)``,
``b_l`` is ``(n_l,)``); gradients and optimizer state use the same names with a ``d``
prefix (``{"dW1", "db1", ...}``), as in the course. ``jaxdl`` keys everything by the parameter
names; these helpers translate, and draw random networks for hidden cases.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

F32 = np.float32


def rng(seed: int) -> np.random.Generator:
    """The NumPy generator a hidden-case builder draws its inputs from (one per seed)."""
    return np.random.default_rng(seed)


def key(seed: int, raw: bool = False):
    """A JAX PRNG key for ``seed`` (taken modulo 2**31): typed (``jax.random.key``) or, with
    ``raw``, the legacy ``uint32[2]`` of ``jax.random.PRNGKey``."""
    import jax

    seed = int(seed) % 2**31
    return jax.random.PRNGKey(seed) if raw else jax.random.key(seed)


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


def trained_params_problem(params: Any, template: Mapping[str, Any], *,
                           what: str = "parameters") -> str | None:
    """``None``, or the feedback when trained ``params`` do not have ``template``'s structure
    (keys, shapes, dtypes: :func:`grader.judge.compare` without values) or hold NaN/inf."""
    from grader import judge

    msg = judge.compare(params, template, values=False, path=f"the returned {what}")
    if msg:
        return msg
    if not all(np.all(np.isfinite(np.asarray(v))) for v in params.values()):
        return f"the returned {what} contain NaN or infinity"
    return None


def held_out_accuracy_problem(predicted: Any, labels: Any, threshold: float, *,
                              model: str = "the trained model",
                              data: str = "held-out points") -> str | None:
    """``None``, or the feedback when the accuracy of ``predicted`` labels (computed by the
    parent from the student's trained model, on data the worker never saw) is below
    ``threshold`` (a fraction)."""
    acc = float(np.mean(np.asarray(predicted) == np.asarray(labels)))
    if acc < threshold:
        return f"{model} classifies {acc:.0%} of {data} correctly; at least {threshold:.0%} is required"
    return None

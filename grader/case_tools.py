"""Tools shared by the assignments' case builders (``assignment.py`` in each course folder).

- Seeded inputs: :func:`rng` (NumPy generator for a case's seed), :func:`key` (a typed or raw
  JAX PRNG key from a seed), :func:`random_params`, :func:`random_dims`.
- The course's dict conventions: :func:`to_grad_keys`, :func:`to_param_keys`, :func:`as_numpy`.
- Judging a trained model in the parent (a case's ``validate``): :func:`trained_params_problem`
  (structure and finiteness of what training returned) and :func:`held_out_accuracy_problem`
  (the accuracy the parent measures on data it never sent, against a threshold).
- How close is close enough: :func:`tolerance` (the rule below).

**The tolerance rule** (every case builder follows it; a correct answer must never score 0).
Expected values are computed in float64 (NumPy, or ``jax`` under ``jax.enable_x64``) from the
case's own inputs and cast to the input dtype only at the end. A correct implementation, in
whatever order it does its operations, rounds each intermediate with a relative error of at
most ``eps`` (``np.finfo(dtype).eps`` of the *input* dtype: 1.19e-7 for float32, 2.2e-16 for
float64). Its error against the float64 reference is then bounded by ::

    |out - ref| <= atol + rtol * |ref|,   rtol = eps * (ULPS + ops * cond),  atol = rtol * scale

- ``ULPS`` (64) covers the rounding of a well-conditioned computation of a few dozen
  operations (a dot product, a short sum): float32 gives rtol = 7.6e-6;
- ``cond`` is the condition number of the result with respect to those roundings, stated by
  the builder from the inputs it drew: how much a relative rounding error of size ``eps`` in an
  intermediate grows in the result. For a softmax or a log-softmax it is the largest ``|z|``
  of the logits (``z - logsumexp(z)`` rounds at the scale of ``z``; at logits of +-1000 a
  float32 probability is only good to ~1e-4); for a sum of ``m`` such losses ``m * max|z|``
  in absolute terms; for a division by ``sqrt(v) + eps`` with a tiny ``v`` the ratio of the
  numerator's scale to the result's; ``0`` when nothing is amplified;
- ``ops`` (4) is how many such amplified roundings a reasonable formulation makes;
- ``scale`` turns the relative bound into an absolute one for entries near zero: the typical
  magnitude of the result (1 for probabilities, the loss for a loss).

The known mistakes stay far outside this bound (they are off by factors, signs, axes or
NaN), which the project's tests check for every mistake in ``mistakes.py``; every correct
alternative formulation in an assignment's ``alternatives.py`` (stable forms, other operation
orders, float64 intermediates, NumPy where a case is not jitted) must pass it under several
seeds (``tests/grader/test_alternatives.py``). ``grader.spec.Case``'s defaults (rtol=1e-5,
atol=1e-6) are this rule at ``cond=0`` for float32 results of magnitude ~0.1-1, rounded.

Parameters are ``{"W1", "b1", ..., "WL", "bL"}`` (batch-first: ``W_l`` is ``(n_{l-1}, n_l)``,
``b_l`` is ``(n_l,)``); gradients and optimizer state use the same names with a ``d``
prefix (``{"dW1", "db1", ...}``), as in the course. ``jaxdl`` keys everything by the parameter
names; these helpers translate, and draw random networks for hidden cases.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

F32 = np.float32


ULPS = 64  # the rounding slack of a well-conditioned computation, in units of eps (see above)


def tolerance(dtype: Any = np.float32, *, cond: float = 0.0, ops: float = 4.0, scale: float = 1.0,
              ulps: float = ULPS) -> dict:
    """``{"rtol", "atol"}`` for a result computed in ``dtype`` (the input dtype) and compared
    with a float64 reference: ``rtol = eps * (ulps + ops * cond)``, ``atol = rtol * scale``
    (the module docstring states the rule and how to choose ``cond`` and ``scale``)."""
    eps = float(np.finfo(np.dtype(dtype)).eps)
    rtol = eps * (float(ulps) + float(ops) * max(float(cond), 0.0))
    return {"rtol": rtol, "atol": rtol * float(scale)}


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

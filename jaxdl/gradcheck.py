"""Numerical gradient checking (the course's ``gradient_check_n``), vectorized, in float64.

For a scalar function ``J = f(params)`` and a claimed gradient ``g`` (a pytree shaped like
``params``; by default ``jax.grad(f)``), every parameter ``theta_i`` (all leaves flattened
and concatenated in ``jax.flatten_util.ravel_pytree`` order) is nudged one at a time::

    g_approx[i] = (f(theta + eps e_i) - f(theta - eps e_i)) / (2 eps)
    difference  = ||g - g_approx||_2 / (||g||_2 + ||g_approx||_2)

A correct gradient gives a difference around 1e-7 or less (the course's threshold is
2e-7); a backprop bug typically gives 1e-2 or more.

Why float64. The rounding error of a central difference is about ``u |J| / eps`` (``u``
the unit roundoff). With ``eps = 1e-7`` that is ``1e-16 / 1e-7 = 1e-9`` in float64 but
``6e-8 / 1e-7 ~ 0.6`` in float32 - the float32 difference is noise. So the check runs
inside a scoped ``with jax.enable_x64(True):`` block: params (and a given ``grads``) are
cast to float64 there, and the result leaves as a Python float. Nothing leaks: after the
call, ``jnp.zeros(1).dtype`` is float32 again.

Closed-over float32 data. ``f`` usually closes over float32 arrays (``X``, ``Y``). Inside
the check, NumPy-style dtype promotion is scoped to ``"standard"`` so that
``X_float32 @ W_float64`` is float64 (the data values are exact in float64; only the
params carry the perturbation), even where the caller runs with
``jax_numpy_dtype_promotion="strict"``. What ``f`` must not do is force float32 itself
(``.astype(jnp.float32)``, ``dtype=jnp.float32`` on computed values): that throws the
precision away. Write ``f`` dtype-generic (``x.astype(W.dtype)`` if a cast is needed).
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from jaxdl import _validate as v

__all__ = ["gradient_check"]

# Perturbed copies of the parameter vector evaluated per vmap batch (bounds memory to
# _CHUNK * n_params floats instead of n_params ** 2).
_CHUNK = 256


def _check_eps(eps: Any) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"eps must be a positive number, got {type(eps).__name__} {eps!r}")
    if not (float(eps) > 0.0 and np.isfinite(float(eps))):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    return float(eps)


def _check_float_leaves(name: str, tree: Any) -> None:
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    if not leaves:
        raise ValueError(f"{name} must contain at least one array leaf, got {tree!r}")
    for path, leaf in leaves:
        where = f"{name}{jax.tree_util.keystr(path)}"
        if isinstance(leaf, jax.core.Tracer):
            raise TypeError(f"gradient_check cannot run under jit/vmap/grad: {where} is traced")
        v.check_array(where, leaf)
        dtype = jnp.result_type(leaf)
        if isinstance(leaf, (bool, np.bool_)) or not (
            jnp.issubdtype(dtype, jnp.floating) or isinstance(leaf, numbers.Real)
        ):
            raise TypeError(
                f"{where} must be a real floating-point array, got dtype {dtype} and shape {v.shape_of(leaf)}"
            )


def _match_grads(params: Any, grads: Any) -> Any:
    """Accept grads shaped like params, or the course's ``{"dW1": ..., "db1": ...}`` dict."""
    if (
        isinstance(params, dict)
        and isinstance(grads, dict)
        and jax.tree_util.tree_structure(params) != jax.tree_util.tree_structure(grads)
        and all(isinstance(k, str) and "d" + k in grads for k in params)
    ):
        grads = {k: grads["d" + k] for k in params}
    v.check_same_structure(("params", "grads"), params, grads)
    return grads


def _to64(x: Any) -> jax.Array:
    return jnp.asarray(x, dtype=jnp.float64)


def gradient_check(
    f: Callable[[Any], Any],
    params: Any,
    grads: Any = None,
    eps: float = 1e-7,
    *,
    vectorize: bool = True,
) -> float:
    """Relative difference between a gradient and its central-difference estimate.

    Args:
      f: ``f(params) -> scalar`` (the cost ``J``). It is evaluated in float64 (see the
        module docstring); it must be traceable by JAX, and with ``vectorize=True``
        ``jax.vmap``-able (pure ``jax.numpy`` code is).
      params: a pytree of real floating arrays (e.g. ``{"W1": (n0, n1), "b1": (n1,), ...}``)
        or a single array/number. Fine for up to a few thousand parameters.
      grads: the gradient to check, shaped like ``params`` (e.g. from a hand-written
        backprop). A dict keyed like the course's ``{"dW1", "db1", ...}`` (extra keys such
        as ``"dZ1"`` ignored) is accepted for a dict ``params``. Default: ``jax.grad(f)``
        at ``params``, computed in float64.
      eps: the perturbation ``epsilon`` (course: 1e-7).
      vectorize: evaluate the ``2 n`` perturbed costs with ``vmap`` in chunks (fast);
        ``False`` evaluates them one by one (for an ``f`` that cannot be vmapped).

    Returns:
      ``||g - g_approx||_2 / (||g||_2 + ||g_approx||_2)`` as a Python float, with the norms
      over all parameters of the pytree; ``0.0`` when both gradients are exactly zero.

    Raises:
      TypeError / ValueError: non-float params, ``grads`` of another structure or shape,
        ``f`` not returning a real scalar, ``eps <= 0``.

    Example (the course's ``J = theta * x``)::

        >>> gradient_check(lambda theta: theta * 3.0, jnp.array(4.0), grads=jnp.array(3.0))
        7.8...e-11
    """
    if not callable(f):
        raise TypeError(f"f must be a callable f(params) -> scalar, got {type(f).__name__}")
    eps = _check_eps(eps)
    _check_float_leaves("params", params)
    if grads is not None:
        grads = _match_grads(params, grads)
        _check_float_leaves("grads", grads)

    with jax.enable_x64(True), jax.numpy_dtype_promotion("standard"):
        params64 = jax.tree_util.tree_map(_to64, params)
        out = jax.eval_shape(f, params64)
        if not hasattr(out, "shape") or out.shape != () or not jnp.issubdtype(out.dtype, jnp.floating):
            got = (
                f"shape {out.shape} and dtype {out.dtype}"
                if hasattr(out, "shape")
                else type(out).__name__
            )
            raise TypeError(f"f(params) must return a real scalar (shape ()), got {got}")
        if grads is None:
            grads64 = jax.grad(f)(params64)
        else:
            grads64 = jax.tree_util.tree_map(_to64, grads)

        theta, unravel = ravel_pytree(params64)
        g, _ = ravel_pytree(grads64)
        n = theta.shape[0]

        def cost_at(i: jax.Array, sign: float) -> jax.Array:
            return f(unravel(theta.at[i].add(sign * eps)))

        def central(i: jax.Array) -> jax.Array:
            return (cost_at(i, 1.0) - cost_at(i, -1.0)) / (2.0 * eps)

        if vectorize:
            # ceil(n / _CHUNK) equal chunks (the last index repeated as padding), so f is
            # traced once under vmap; lax.map runs the chunks one after another.
            n_chunks = -(-n // _CHUNK)
            chunk = -(-n // n_chunks)
            idx = jnp.minimum(jnp.arange(n_chunks * chunk), n - 1).reshape(n_chunks, chunk)
            g_approx = jax.jit(lambda idx: jax.lax.map(jax.vmap(central), idx))(idx).reshape(-1)[:n]
        else:
            central_jit = jax.jit(central)
            g_approx = jnp.stack([central_jit(jnp.asarray(i)) for i in range(n)])

        numerator = float(jnp.linalg.norm(g - g_approx))
        denominator = float(jnp.linalg.norm(g)) + float(jnp.linalg.norm(g_approx))
    if denominator == 0.0:
        return 0.0
    return numerator / denominator

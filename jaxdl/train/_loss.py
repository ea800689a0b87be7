"""The loss-function contract: adapters from the four ``loss_fn`` signatures to one, and ``masked_mean``.

``stateful`` and ``needs_key`` select the signature (table in :mod:`jaxdl.train`);
``masked`` adds a keyword ``mask``. :func:`canonical_loss` turns any of them into
``f(params, model_state, X, Y, key, mask) -> (loss, new_model_state)`` and checks, at trace
time, that the loss is a floating scalar.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxdl import _validate as v


def masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of ``values`` over the rows where ``mask`` is True: ``sum(values*mask)/sum(mask)``.

    ``values`` is ``(batch,)`` (per-example losses) or ``(batch, ...)`` (then every entry of a
    kept row counts); ``mask`` is bool ``(batch,)``. Rows with ``mask=False`` contribute
    neither value nor gradient. The loss of a ``last_batch="masked"`` ``fit``::

        def loss_fn(params, X, Y, *, mask):
            z = mlp_apply(params, X)[:, 0]
            per_example = jnp.maximum(z, 0) - z * Y + jnp.log1p(jnp.exp(-jnp.abs(z)))
            return masked_mean(per_example, mask)

    Returns:
      A scalar of ``values``' dtype.

    Raises:
      ValueError: ``mask`` is not 1-D or its length is not ``values.shape[0]``.
    """
    values = jnp.asarray(values)
    mask = jnp.asarray(mask)
    if mask.ndim != 1 or values.ndim < 1 or values.shape[0] != mask.shape[0]:
        raise ValueError(
            f"masked_mean needs values (batch, ...) and mask (batch,), got shapes {values.shape} and {mask.shape}"
        )
    w = mask.astype(values.dtype).reshape(mask.shape + (1,) * (values.ndim - 1))
    w = jnp.broadcast_to(w, values.shape)
    return jnp.sum(values * w) / jnp.sum(w)


def canonical_loss(loss_fn: Callable, *, stateful: bool, needs_key: bool, masked: bool) -> Callable:
    """Wrap any supported ``loss_fn`` as ``f(params, model_state, X, Y, key, mask) -> (loss, model_state)``."""

    def f(params, model_state, X, Y, key, mask):
        args = (params, model_state, X, Y) if stateful else (params, X, Y)
        kwargs = {}
        if needs_key:
            kwargs["key"] = key
        if masked:
            kwargs["mask"] = mask
        out = loss_fn(*args, **kwargs)
        if stateful:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise TypeError(
                    "with stateful=True, loss_fn(params, model_state, X, Y, ...) must return "
                    f"(loss, new_model_state), got {type(out).__name__}"
                )
            loss, new_model_state = out
        else:
            loss, new_model_state = out, model_state
        if isinstance(loss, (tuple, list, dict)) or loss is None:
            hint = "; for (loss, new_model_state) pass stateful=True" if isinstance(loss, tuple) else ""
            raise TypeError(
                f"loss_fn must return a scalar loss{' as the first element' if stateful else ''}, "
                f"got {type(loss).__name__}{hint}"
            )
        if jnp.shape(loss) != ():
            raise ValueError(
                f"loss_fn must return a scalar (the mean over the batch's rows), got shape {jnp.shape(loss)} "
                f"for X of shape {v.shape_of(X)}"
            )
        if not jnp.issubdtype(jnp.result_type(loss), jnp.floating):
            raise TypeError(f"loss_fn must return a floating-point loss, got dtype {jnp.result_type(loss)}")
        return loss, new_model_state

    return f

"""The update: ``value_and_grad`` + ``optimizer.update`` + ``apply_updates``, and the jitted step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxdl import _validate as v
from jaxdl.train._checks import (
    check_batch_arrays,
    check_bool,
    check_callable,
    check_optimizer,
)
from jaxdl.train._loss import canonical_loss
from jaxdl.train._state import TrainState


def make_update(canonical: Callable, optimizer: optax.GradientTransformation) -> Callable:
    """``update(state, X, Y, key, mask) -> (new_state, loss)``: one optimizer step (not jitted)."""
    grad_fn = jax.value_and_grad(canonical, has_aux=True)

    def update(state: TrainState, X, Y, key, mask):
        (loss, new_model_state), grads = grad_fn(state.params, state.model_state, X, Y, key, mask)
        if jax.tree.structure(new_model_state) != jax.tree.structure(state.model_state):
            raise ValueError(
                "loss_fn must return new_model_state with the structure of model_state, got "
                f"{jax.tree.structure(new_model_state)} for model_state {jax.tree.structure(state.model_state)}"
            )
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        new_state = state._replace(
            params=params, opt_state=opt_state, model_state=new_model_state, step=state.step + 1
        )
        return new_state, loss

    return update


def make_train_step(
    loss_fn: Callable,
    optimizer: optax.GradientTransformation,
    *,
    stateful: bool = False,
    needs_key: bool = False,
    masked: bool = False,
    donate: bool = True,
) -> Callable:
    """One jitted training step: ``value_and_grad`` + ``optimizer.update`` + ``apply_updates``.

    Args:
      loss_fn: the loss; its signature depends on ``stateful``/``needs_key`` (see the module
        docstring): ``loss_fn(params, X, Y) -> loss`` by default.
      optimizer: an ``optax.GradientTransformation`` (``jaxdl.optim.adam(...)``, ``optax.sgd``...).
      stateful: ``loss_fn(params, model_state, X, Y, ...) -> (loss, new_model_state)``.
      needs_key: ``loss_fn`` takes a keyword ``key`` (dropout).
      masked: ``loss_fn`` takes a keyword ``mask`` (bool ``(batch,)``).
      donate: donate the input state's buffers to the output (``donate_argnums=0``), so the
        update happens in place on CPU, GPU and TPU (jax 0.10 CPU supports donation without
        warnings). The state passed in is consumed: do not use it after the call (use the
        returned one; :meth:`TrainState.create` copies your params, so those stay valid).

    Returns:
      ``step(state, X, Y, *, key=None, mask=None) -> (new_state, loss)``, a ``jax.jit``
      function (traced once per input shape/dtype). ``X``/``Y`` are one mini-batch
      ``(batch, ...)``. With ``needs_key=True`` and ``key=None``, the step splits
      ``state.key`` (``state.key, key = jax.random.split(state.key)``); pass ``key=`` to
      follow :func:`fit`'s convention exactly. With ``masked=True`` and ``mask=None``, every
      row counts. ``new_state.step = state.step + 1``.

    Raises:
      TypeError: ``loss_fn`` is not callable, ``optimizer`` has no ``init``/``update``, or a
        flag is not a bool. The step raises (at trace time) ``TypeError`` for a state that is
        not a :class:`TrainState` or a loss that is not a floating scalar, and ``ValueError``
        for ``X``/``Y`` of different lengths, a missing or unexpected ``key``/``mask``, or a
        ``new_model_state`` whose structure differs from ``model_state``.

    Example::

        state = TrainState.create(params, jaxdl.optim.adam(1e-3))
        step = make_train_step(lambda p, X, Y: bce(mlp_apply(p, X)[:, 0], Y), jaxdl.optim.adam(1e-3))
        for Xb, Yb in jaxdl.data.random_minibatches(key, X, Y, 64):
            state, loss = step(state, Xb, Yb)
    """
    check_callable("loss_fn", loss_fn)
    check_optimizer(optimizer)
    for name, flag in (("stateful", stateful), ("needs_key", needs_key), ("masked", masked), ("donate", donate)):
        check_bool(name, flag)
    update = make_update(
        canonical_loss(loss_fn, stateful=stateful, needs_key=needs_key, masked=masked), optimizer
    )

    def step(state: TrainState, X: Any, Y: Any, *, key: Any = None, mask: Any = None):
        if not isinstance(state, TrainState):
            raise TypeError(f"state must be a jaxdl.train.TrainState, got {type(state).__name__}")
        if state.step is None:
            state = state._replace(step=jnp.zeros((), jnp.int32))
        check_batch_arrays("X", X, "Y", Y)
        if needs_key:
            if key is None:
                if state.key is None:
                    raise ValueError(
                        "needs_key=True: pass key=... to the step or create the TrainState with key=..."
                    )
                chain, key = jax.random.split(state.key)
                state = state._replace(key=chain)
            else:
                v.check_key("key", key)
        elif key is not None:
            raise ValueError("key was given but the step was made with needs_key=False")
        if masked:
            if mask is None:
                mask = jnp.ones(v.shape_of(X)[:1], bool)
            v.check_shape("mask", mask, v.shape_of(X)[:1])
        elif mask is not None:
            raise ValueError("mask was given but the step was made with masked=False")
        return update(state, X, Y, key, mask)

    return jax.jit(step, donate_argnums=(0,) if donate else ())

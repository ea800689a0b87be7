"""``TrainState``: everything that changes during training, as one pytree."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import _validate as v
from jaxdl.train._checks import check_optimizer


def copy_tree(tree: Any) -> Any:
    """Fresh buffers for every array leaf (so donating them never deletes the caller's arrays)."""
    return jax.tree.map(lambda x: jnp.array(x, copy=True) if isinstance(x, (jax.Array, np.ndarray)) else x, tree)


class TrainState(NamedTuple):
    """Everything that changes during training, as one pytree.

    Fields:
      params: the trainable parameters (any pytree, e.g. ``{"W1", "b1", ...}``).
      opt_state: the optimizer's state (``optimizer.init(params)``).
      model_state: non-trainable state updated by the forward pass, e.g. batch-norm running
        statistics; ``None`` when the model has none.
      step: int32 scalar, number of optimizer updates applied so far.
      key: PRNG key (or ``None``): the key chain ``fit`` continues from and the source of
        per-step keys for a ``make_train_step(..., needs_key=True)`` step called without
        ``key=``.

    A ``NamedTuple``, hence a pytree: it can be passed through ``jit``, ``scan``, ``vmap``
    and ``jax.tree.map`` as is. Build one with :meth:`create`.

    >>> import optax
    >>> s = TrainState.create({"w": jnp.zeros(3)}, optax.sgd(0.1), key=jax.random.key(0))
    >>> int(s.step)
    0
    """

    params: Any
    opt_state: Any
    model_state: Any = None
    step: Any = None
    key: Any = None

    @classmethod
    def create(
        cls,
        params: Any,
        optimizer: optax.GradientTransformation,
        *,
        model_state: Any = None,
        key: Any = None,
        step: int = 0,
    ) -> TrainState:
        """A fresh state: ``opt_state = optimizer.init(params)``, ``step = 0``.

        ``params``, ``model_state`` and ``key`` are copied, so the caller's arrays stay usable after
        a donating train step consumed the state (e.g. to compare optimizers from the same
        initial parameters).

        Raises:
          TypeError: ``optimizer`` has no ``init``/``update``; ``key`` is not a PRNG key;
            ``step`` is not an int.
          ValueError: ``step`` is negative.
        """
        check_optimizer(optimizer)
        if key is not None:
            v.check_key("key", key)
        v.check_positive_int("step", step, allow_zero=True)
        leaves = jax.tree.leaves((params, model_state, key))
        if all(isinstance(x, jax.Array) for x in leaves):
            # One compiled program builds the whole state (fresh output buffers, zeros of the
            # optimizer state) instead of one tiny program per leaf: a cold ``fit`` compiles
            # 1 program here rather than ~15.
            params, opt_state, model_state, key = _fresh_state(optimizer, params, model_state, key)
        else:
            params = copy_tree(params)
            opt_state = optimizer.init(params)
            model_state, key = copy_tree(model_state), copy_tree(key)
        # device_put of a NumPy scalar: no conversion program to compile (or load) for it
        return cls(params=params, opt_state=opt_state, model_state=model_state,
                   step=jax.device_put(np.int32(step)), key=key)


@functools.partial(jax.jit, static_argnums=0)
def _fresh_state(optimizer, params, model_state, key):
    # jit outputs are new buffers (nothing is donated), so the caller's arrays survive a
    # donating train step.
    return params, optimizer.init(params), model_state, key

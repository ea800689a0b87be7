"""The parent's replay of a course training loop, for judging a student's loop by its trajectory.

Week 3's ``model`` (``jax_intro``) and ``model_with_batchnorm`` (``batch_norm``) document one
loop: ``init_key, shuffle_key = jax.random.split(key)``; initial values from ``init_key``;
epoch ``e`` draws ``jaxdl.data.random_minibatches(jax.random.fold_in(shuffle_key, e), X, Y,
minibatch_size)``; every mini-batch takes one Adam step (``jaxdl.optim.adam(learning_rate)``)
from the optimizer state the previous step returned; a cost history with one entry per epoch.
:func:`adam_loop` computes that loop in float64 or float32 from the same key, and the ways of
writing its known mistakes (:class:`Loop`, :func:`loop_variants`);
:func:`grader.case_tools.trajectory_verdict` compares a student's run with them (the
trajectory rule of :mod:`grader.case_tools`). How ``costs[e]`` is formed from the batches
differs between the two stubs (a summed loss, a mean cost) and stays with each assignment.

Adam's ``eps`` is the one hyperparameter whose usual values differ between libraries: 1e-8
(optax, PyTorch, the course, ``jaxdl``) and 1e-7 (Keras). Both are accepted (:data:`ACCEPTED`):
a run that follows the replay with either passes. The difference is that of an ``eps`` in the
denominator of every step: after the 4 epochs of the hidden cases (seeds 11-16) it is 0.06-6.3
trajectory bounds in ``week3/jax_intro`` (a summed loss: large gradients) and 1.2-13
bounds in ``week3/batch_norm`` (a mean cost), so without the second replay it would pass or
fail by the seed; it is not a mistake worth a zero. A larger change is neither accepted nor
reliably caught: ``eps = 1e-6`` lies 2-101 bounds from both replays at seeds 11-14, but 0.6 (a
pass) at one ``jax_intro`` seed of the four.

Runs in the parent only: no helper a case binds refers to this module (:mod:`grader.helper_source`).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping, NamedTuple, Sequence

import numpy as np

from grader import case_tools

# A training loop that runs out of time (both week-3 stubs' ``model``): the part's timeout hint
# and the message of its slow-loop mistakes. Time alone cannot tell the ways of getting there
# apart, so it names them all and claims none.
SLOW_LOOP = ("one of these (time alone cannot tell which): a step not jitted, a new jax.jit every step or epoch, "
             "or a jitted epoch whose Python loop is unrolled (use lax.scan). Jit the step once, before the loop.")

OPTIMIZER_STATES = ("carried", "initial", "reset_each_epoch")
SHUFFLES = ("fold_in_epoch", "shuffle_key", "fold_in_0", "key")
COST_FORMS = ("example", "batch_mean", "nominal")
ADAM_EPS = 1e-8  # jaxdl.optim.adam's (and optax's) default
KERAS_EPS = 1e-7  # tf.keras.optimizers.Adam's default


class Loop(NamedTuple):
    """One way of writing the loop (the defaults: the documented one).

    ``optimizer_state`` (:data:`OPTIMIZER_STATES`) and ``shuffle`` (:data:`SHUFFLES`): as
    :func:`adam_loop`'s; ``cost``: how ``costs[e]`` is formed (:data:`COST_FORMS`: per
    example, the batch costs averaged, or each batch weighted by the nominal batch size);
    ``eps``: Adam's."""

    optimizer_state: str = "carried"
    shuffle: str = "fold_in_epoch"
    cost: str = "example"
    eps: float = ADAM_EPS


DOCUMENTED = Loop()
# Loops that are right too: the documented one with Keras's eps (module docstring).
ACCEPTED = (Loop(eps=KERAS_EPS),)


def loop_variants(hints: Mapping[str, str]) -> tuple[tuple[str, list[Loop]], ...]:
    """``(message, variants)`` for each known loop mistake, the message taken from ``hints``
    (an assignment's ``HINTS``, keys ``model_optimizer_state_not_carried``,
    ``model_same_shuffle_every_epoch``, ``model_cost_per_minibatch``): Adam's state never
    carried or reset every epoch; one shuffle for every epoch, drawn with ``shuffle_key``,
    ``fold_in(shuffle_key, 0)`` or ``key``; the cost averaged per mini-batch, or each batch
    weighted by the nominal batch size (the last one is smaller)."""
    return (
        (hints["model_optimizer_state_not_carried"],
         [Loop(optimizer_state="initial"), Loop(optimizer_state="reset_each_epoch")]),
        (hints["model_same_shuffle_every_epoch"], [Loop(shuffle=s) for s in SHUFFLES[1:]]),
        (hints["model_cost_per_minibatch"], [Loop(cost=c) for c in COST_FORMS[1:]]),
    )


@functools.lru_cache(maxsize=16)
def _adam_epoch(loss_fn: Callable, learning_rate: float, minibatch_size: int, carry_opt_state: bool,
                eps: float = ADAM_EPS):
    """``(init, epoch)``: Adam's ``init``, jitted, and ``epoch(parameters, state, opt_state, X, Y,
    epoch_key) -> (parameters, state, opt_state, losses)``: one step of ``loss_fn`` on every
    mini-batch of ``jaxdl.data.random_minibatches(epoch_key, X, Y, minibatch_size)`` (the same
    permutation, the same batches, in order) as one jitted program, so a replay compiles one
    program per shape and dtype, not one per operation of the shuffle.
    ``carry_opt_state=False``: every step from the ``opt_state`` the epoch started with;
    ``eps``: Adam's."""
    import jax
    import jax.numpy as jnp

    from jaxdl import data, optim

    optimizer = optim.adam(learning_rate, eps=eps)

    def train_step(carry, batch):
        parameters, state, opt_state = carry
        X_batch, Y_batch = batch
        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(parameters, state, X_batch, Y_batch)
        updates, new_opt_state = optimizer.update(grads, opt_state, parameters)
        return (optim.apply_updates(parameters, updates), state,
                new_opt_state if carry_opt_state else opt_state), loss

    @jax.jit
    def epoch(parameters, state, opt_state, X, Y, epoch_key):
        (m, n_x), C = X.shape, Y.shape[1]
        full, rest = divmod(m, minibatch_size)
        perm = data.permutation(epoch_key, m)
        X, Y = X[perm], Y[perm]
        n = full * minibatch_size
        carry, losses = jax.lax.scan(train_step, (parameters, state, opt_state),
                                     (X[:n].reshape(full, minibatch_size, n_x), Y[:n].reshape(full, minibatch_size, C)))
        if rest:
            carry, loss = train_step(carry, (X[n:], Y[n:]))
            losses = jnp.concatenate([losses, loss[None]])
        return carry + (losses,)

    return jax.jit(optimizer.init), epoch


def _epoch_keys(key, num_epochs: int, shuffle: str) -> list:
    """The key of every epoch: ``shuffle`` (:data:`SHUFFLES`) as in :func:`adam_loop`."""
    return _epoch_keys_program()(key, num_epochs, shuffle)


@functools.lru_cache(maxsize=1)
def _epoch_keys_program():
    """All the epochs' keys as one jitted program (jax imported only when a replay runs)."""
    import jax

    def keys(key, num_epochs, shuffle):
        shuffle_key = jax.random.split(key)[1]
        return [{"fold_in_epoch": jax.random.fold_in(shuffle_key, e), "shuffle_key": shuffle_key,
                 "fold_in_0": jax.random.fold_in(shuffle_key, 0), "key": key}[shuffle] for e in range(num_epochs)]

    return jax.jit(keys, static_argnums=(1, 2))


def adam_loop(key, X_train, Y_train, *, init_fn: Callable, loss_fn: Callable, learning_rate: float,
              num_epochs: int, minibatch_size: int, dtype: Any = np.float64, optimizer_state: str = "carried",
              shuffle: str = "fold_in_epoch", eps: float = ADAM_EPS):
    """The documented Adam loop (module docstring), or a known mistake, computed in ``dtype``.

    Args:
      key: the key the student's loop gets; split into ``init_key, shuffle_key``.
      X_train, Y_train: ``(m, n_x)`` and ``(m, C)`` arrays (cast to ``dtype``).
      init_fn: ``init_key -> (parameters, state)``, the stub's float32 initial values (``state``:
        a dict of arrays carried through the loop beside the parameters, e.g. batch norm's
        running statistics, or ``{}``). Drawn before x64 is enabled: the replay starts from the
        very values the student's loop starts from.
      loss_fn: ``(parameters, state, X_batch, Y_batch) -> (loss, new_state)``, differentiated
        in ``parameters``; a module-level function (replays are cached by it).
      learning_rate, num_epochs, minibatch_size: as the stub's arguments.
      dtype: ``np.float64`` (under ``jax.enable_x64``) or the student's ``np.float32``.
      optimizer_state: ``"carried"`` (documented), ``"initial"`` (every step from
        ``optimizer.init``) or ``"reset_each_epoch"``.
      shuffle: ``"fold_in_epoch"`` (documented), or one shuffle for every epoch drawn with
        ``"shuffle_key"``, ``"fold_in_0"`` (``fold_in(shuffle_key, 0)``) or ``"key"`` itself.
      eps: Adam's ``eps`` (documented: :data:`ADAM_EPS`).

    Returns:
      ``(initial, trained, batch_losses)``: ``{**parameters, **state}`` at the start (float32)
      and after the last epoch (``dtype``), and per epoch the list of ``(loss, examples)`` of
      its mini-batches, in order.

    Raises:
      ValueError: an unknown ``optimizer_state`` or ``shuffle``.
    """
    if optimizer_state not in OPTIMIZER_STATES or shuffle not in SHUFFLES:
        raise ValueError(f"optimizer_state must be one of {OPTIMIZER_STATES} and shuffle one of {SHUFFLES}, "
                         f"got {optimizer_state!r}, {shuffle!r}")
    import jax

    m = X_train.shape[0]
    sizes = [minibatch_size] * (m // minibatch_size) + ([m % minibatch_size] if m % minibatch_size else [])
    parameters, state = init_fn(jax.random.split(key)[0])
    initial = {**parameters, **state}
    epoch_keys = _epoch_keys(key, num_epochs, shuffle)
    init_opt_state, epoch = _adam_epoch(loss_fn, float(learning_rate), int(minibatch_size),
                                        optimizer_state != "initial", float(eps))
    batch_losses = []
    with jax.enable_x64(np.dtype(dtype) == np.float64):
        X_train, Y_train, parameters, state = case_tools.as_jax((X_train, Y_train, parameters, state), dtype)
        start = init_opt_state(parameters)
        opt_state = start
        for epoch_key in epoch_keys:
            if optimizer_state == "reset_each_epoch":
                opt_state = start
            parameters, state, opt_state, losses = epoch(parameters, state, opt_state, X_train, Y_train, epoch_key)
            batch_losses.append(list(zip(np.asarray(losses).tolist(), sizes)))
        return initial, {**parameters, **state}, batch_losses


def replayer(train: Callable, costs: Callable[[Sequence, str], list[float]]):
    """``replay(loop, dtype) -> (initial, trained, costs, steps)`` for
    :func:`grader.case_tools.trajectory_verdict`: the :class:`Loop` trained once per
    ``(optimizer_state, shuffle, eps, dtype)`` (``train(optimizer_state=..., shuffle=...,
    eps=..., dtype=...) -> adam_loop's result``) and its cost history formed by
    ``costs(batch_losses, loop.cost)``; ``steps``: the optimizer steps taken by the end of each
    epoch. ``replay.documented()`` is ``replay(DOCUMENTED, np.float64)``."""
    @functools.cache
    def trained(optimizer_state: str, shuffle: str, eps: float, dtype):
        initial, final, batch_losses = train(optimizer_state=optimizer_state, shuffle=shuffle, eps=eps, dtype=dtype)
        return case_tools.as_numpy(initial), case_tools.as_numpy(final), batch_losses

    def replay(loop: Loop, dtype):
        initial, final, batch_losses = trained(loop.optimizer_state, loop.shuffle, float(loop.eps),
                                               np.dtype(dtype).type)
        return initial, final, costs(batch_losses, loop.cost), np.cumsum([len(epoch) for epoch in batch_losses])

    # The documented loop in float64: what every trajectory verdict replays first, so what a
    # trajectory case's ``prepare`` (grader.spec.Case) runs ahead of the student's answer.
    replay.documented = functools.partial(replay, DOCUMENTED, np.float64)
    return replay

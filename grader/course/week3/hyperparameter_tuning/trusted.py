"""Trusted ``week3/hyperparameter_tuning`` helpers (bound by ``Case.replace``; see :mod:`grader.spec`).

The conventions of ``assignments/week3/hyperparameter_tuning.py``: the ``[n_x, 16, 16, 1]``
ReLU network, full-batch gradient descent with momentum (``jaxdl.optim.momentum``, allowed
in this assignment and preloaded), the samplers' exact draws, ``random_search`` and
``coarse_to_fine`` by their key conventions. ``random_search`` and ``coarse_to_fine`` are run
with these bound in the student's namespace, so a sampler or ``train_many`` mistake costs only
its own part; the parent computes their expected results with the same functions.

The trained-model part is jitted once per (shapes, ``num_steps``) and cached at module level,
so the parent and the worker compile it once for all cases of the same shapes.
"""

from __future__ import annotations

import math
import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import init as _init
from jaxdl import optim as _optim

LAYERS_HIDDEN = (16, 16)


def forward(parameters, X):
    """Logits (m,) of the ``[n_x, 16, 16, 1]`` ReLU network."""
    A = X
    for l in (1, 2):
        A = jax.nn.relu(jnp.matmul(A, parameters[f"W{l}"]) + parameters[f"b{l}"][None, :])
    return (jnp.matmul(A, parameters["W3"]) + parameters["b3"][None, :])[:, 0]


def compute_cost(parameters, X, Y):
    """Mean binary cross-entropy of ``sigmoid(forward(parameters, X))`` against ``Y``."""
    z = forward(parameters, X)
    return jnp.mean(jnp.logaddexp(z, 0.0) - z * Y)


def accuracy(parameters, X, Y):
    """Fraction of examples with ``(logits > 0) == (Y > 0.5)``."""
    return jnp.mean(((forward(parameters, X) > 0) == (Y > 0.5)).astype(jnp.float32))


def sample_learning_rates(key, n, low=1e-4, high=1.0):
    r = jax.random.uniform(key, (n,), jnp.float32, minval=math.log10(low), maxval=math.log10(high))
    return 10.0 ** r


def sample_betas(key, n, low=0.9, high=0.999):
    r = jax.random.uniform(key, (n,), jnp.float32, minval=math.log10(1 - high), maxval=math.log10(1 - low))
    return 1.0 - 10.0 ** r


def train_one(learning_rate, beta, parameters, X, Y, num_steps, carry_state=True):
    """One trial: ``num_steps`` full-batch momentum steps; returns (final cost, parameters).
    ``carry_state=False`` replays the mistake of restarting the optimizer state at every step
    (the parent's wrong answer; the stub's loop carries it)."""
    optimizer = _optim.momentum(learning_rate, beta)
    start = optimizer.init(parameters)

    def step(carry, _):
        parameters, opt_state = carry
        grads = jax.grad(compute_cost)(parameters, X, Y)
        updates, new_state = optimizer.update(grads, opt_state, parameters)
        return (_optim.apply_updates(parameters, updates), new_state if carry_state else start), None

    (parameters, _), _ = jax.lax.scan(step, (parameters, start), None, length=num_steps)
    return compute_cost(parameters, X, Y), parameters


_train_all = jax.jit(jax.vmap(train_one, in_axes=(0, 0, None, None, None, None)), static_argnums=5)
train_one_jit = jax.jit(train_one, static_argnums=(5, 6))  # the parent's one-at-a-time replay


def initial_parameters(key, n_x):
    return _init.init_mlp(key, [n_x, *LAYERS_HIDDEN, 1], method="he")


def train_many(key, learning_rates, X, Y, betas=None, num_steps=300):
    learning_rates = jnp.asarray(learning_rates, jnp.float32)
    X = jnp.asarray(X, jnp.float32)
    Y = jnp.asarray(Y, jnp.float32)
    if betas is None:
        betas = jnp.full(learning_rates.shape, 0.9, jnp.float32)
    betas = jnp.asarray(betas, jnp.float32)
    return _train_all(learning_rates, betas, initial_parameters(key, X.shape[1]), X, Y, int(num_steps))


_dev_accuracies = jax.jit(jax.vmap(accuracy, in_axes=(0, None, None)))


def random_search(key, X_train, Y_train, X_dev, Y_dev, num_trials, lr_range=(1e-3, 10.0),
                  beta_range=(0.9, 0.999), num_steps=300):
    key_lr, key_beta, key_init = jax.random.split(key, 3)
    learning_rates = sample_learning_rates(key_lr, num_trials, *lr_range)
    betas = sample_betas(key_beta, num_trials, *beta_range)
    costs, parameters = train_many(key_init, learning_rates, X_train, Y_train, betas=betas, num_steps=num_steps)
    dev = _dev_accuracies(parameters, jnp.asarray(X_dev, jnp.float32), jnp.asarray(Y_dev, jnp.float32))
    lrs, bs, cs, ds = (np.asarray(a) for a in (learning_rates, betas, costs, dev))
    trials = [{"learning_rate": float(lrs[i]), "beta": float(bs[i]), "train_cost": float(cs[i]),
               "dev_accuracy": float(ds[i])} for i in range(num_trials)]
    return trials[int(np.argmax(ds))], trials


def next_ranges(best, lr_now, beta_now, lr_range, beta_range):
    """The ranges of the next coarse-to-fine round (the stub's rule)."""
    lo, hi = lr_now
    blo, bhi = beta_now
    w = math.log10(hi / lo)
    lr_next = (max(lr_range[0], best["learning_rate"] * 10 ** (-w / 4)),
               min(lr_range[1], best["learning_rate"] * 10 ** (w / 4)))
    wb = math.log10((1 - blo) / (1 - bhi))
    beta_next = (max(beta_range[0], 1 - (1 - best["beta"]) * 10 ** (wb / 4)),
                 min(beta_range[1], 1 - (1 - best["beta"]) * 10 ** (-wb / 4)))
    return lr_next, beta_next


def coarse_to_fine(key, X_train, Y_train, X_dev, Y_dev, num_trials, num_rounds=2, lr_range=(1e-3, 10.0),
                   beta_range=(0.9, 0.999), num_steps=300, zoom=True):
    """``zoom=False`` is the "every round searches the original ranges" mistake (parent only)."""
    round_keys = jax.random.split(key, num_rounds)
    lr_now, beta_now = tuple(lr_range), tuple(beta_range)
    best, trials = None, []
    for r in range(num_rounds):
        _, round_trials = random_search(round_keys[r], X_train, Y_train, X_dev, Y_dev, num_trials,
                                        lr_range=lr_now, beta_range=beta_now, num_steps=num_steps)
        for trial in round_trials:
            trial = dict(trial, round=r)
            trials.append(trial)
            if best is None or trial["dev_accuracy"] > best["dev_accuracy"]:
                best = trial
        if zoom:
            lr_now, beta_now = next_ranges(best, lr_now, beta_now, lr_range, beta_range)
    return best, trials


__all__ = ["forward", "compute_cost", "accuracy", "sample_learning_rates", "sample_betas", "train_many",
           "random_search", "coarse_to_fine"]

"""Trusted ``week3/batch_norm`` helpers (bound by ``Case.replace``; see :mod:`grader.spec`), in plain ``jax``.

The conventions of ``assignments/week3/batch_norm.py``: two-pass biased variance, ``eps``
inside the square root, running averages ``momentum * old + (1 - momentum) * new`` in
training mode only; parameters ``{"W1", "gamma1", "beta1", ..., "WL", "bL"}`` and state
``{"mean1", "var1", ...}``. ``forward_propagation_with_batchnorm`` runs with
``batchnorm_forward`` bound to the version below, ``model_with_batchnorm`` with all four,
so a mistake in one graded function costs only its own part. No ``jaxdl.nn`` (the assignment
refuses it); ``jaxdl.init`` is allowed there and gives the stub's initialization.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import jax.scipy.special

from jaxdl import init as _init


def batchnorm_forward(gamma, beta, Z, running_mean, running_var, train, momentum=0.99, eps=1e-5):
    if train:
        mu = jnp.mean(Z, axis=0)
        var = jnp.mean((Z - mu[None, :]) ** 2, axis=0)
        new_mean = momentum * running_mean + (1 - momentum) * mu
        new_var = momentum * running_var + (1 - momentum) * var
    else:
        mu, var = running_mean, running_var
        new_mean, new_var = running_mean, running_var
    inv_std = 1.0 / jnp.sqrt(var + eps)
    Z_centered = Z - mu[None, :]
    Z_norm = Z_centered * inv_std[None, :]
    out = gamma[None, :] * Z_norm + beta[None, :]
    cache = {"Z_centered": Z_centered, "inv_std": inv_std, "Z_norm": Z_norm, "gamma": gamma}
    return out, new_mean, new_var, cache


def forward_propagation_with_batchnorm(parameters, state, X, train):
    L = len([k for k in parameters if k.startswith("W")])
    A = X
    new_state = {}
    for l in range(1, L):
        Z = jnp.matmul(A, parameters[f"W{l}"])
        out, new_state[f"mean{l}"], new_state[f"var{l}"], _ = batchnorm_forward(
            parameters[f"gamma{l}"], parameters[f"beta{l}"], Z, state[f"mean{l}"], state[f"var{l}"], train)
        A = jax.nn.relu(out)
    logits = jnp.matmul(A, parameters[f"W{L}"]) + parameters[f"b{L}"][None, :]
    return logits, new_state


def initialize_parameters_with_batchnorm(key, layers_dims):
    L = len(layers_dims) - 1
    p = _init.init_mlp(key, list(layers_dims), method="he")
    parameters, state = {}, {}
    for l in range(1, L):
        n = layers_dims[l]
        parameters[f"W{l}"] = p[f"W{l}"]
        parameters[f"gamma{l}"] = jnp.ones((n,), jnp.float32)
        parameters[f"beta{l}"] = jnp.zeros((n,), jnp.float32)
        state[f"mean{l}"] = jnp.zeros((n,), jnp.float32)
        state[f"var{l}"] = jnp.ones((n,), jnp.float32)
    parameters[f"W{L}"] = p[f"W{L}"]
    parameters[f"b{L}"] = p[f"b{L}"]
    return parameters, state


def compute_cost(logits, Y):
    log_probs = logits - jax.scipy.special.logsumexp(logits, axis=-1, keepdims=True)
    return -jnp.mean(jnp.sum(Y * log_probs, axis=-1))


def twice_on_the_same_inputs(fn, *args, **kwargs):
    """Bound over a graded function's own name (``Case.replace``), the worker calls this with
    the student's function: it runs it twice on the very same argument objects and returns the
    second result. A function that changes its inputs in place (``state[k] = ...``) starts its
    second call from the first call's output, so its result is wrong; the parent compares it
    with the expected value of a single call on unchanged inputs. Nothing here reports
    anything: only the returned values are judged."""
    fn(*args, **kwargs)
    return fn(*args, **kwargs)


# ------------------------------------------------------------------ the parent's replay of ``model_with_batchnorm``
# Never sent to a worker: no helper a case binds refers to it (grader.helper_source).


def _mean_cost(parameters, state, X_batch, Y_batch):
    logits, new_state = forward_propagation_with_batchnorm(parameters, state, X_batch, True)
    return compute_cost(logits, Y_batch), new_state


def _mean_cost_eval_mode(parameters, state, X_batch, Y_batch):
    logits, new_state = forward_propagation_with_batchnorm(parameters, state, X_batch, False)
    return compute_cost(logits, Y_batch), new_state


def train_with_batchnorm(key, X_train, Y_train, learning_rate, num_epochs, minibatch_size, *,
                         dtype=np.float64, optimizer_state="carried", shuffle="fold_in_epoch", eps=1e-8,
                         train=True):
    """The stub's ``model_with_batchnorm`` loop in ``dtype`` (:func:`grader.training_replay.adam_loop`:
    the documented loop or a known mistake, with Adam's ``eps``), each step on the batch's mean
    cost in training mode, the running statistics carried beside the parameters. ``train=False``:
    the known mistake of a loss that calls the network in eval mode (the initial running
    statistics normalize every batch and are never updated).

    Returns:
      ``(initial, trained, batch_costs)``: the initial and the trained ``{**parameters,
      **state}`` (one dict: parameters and running statistics), and per epoch the list of
      ``(mean cost, examples)`` of its mini-batches, in order.

    Raises:
      ValueError: an unknown ``optimizer_state`` or ``shuffle``.
    """
    from grader import training_replay

    dims = (X_train.shape[1], 64, 32, Y_train.shape[1])
    return training_replay.adam_loop(
        key, X_train, Y_train, init_fn=lambda init_key: initialize_parameters_with_batchnorm(init_key, dims),
        loss_fn=_mean_cost if train else _mean_cost_eval_mode, learning_rate=learning_rate, num_epochs=num_epochs,
        minibatch_size=minibatch_size, dtype=dtype, optimizer_state=optimizer_state, shuffle=shuffle, eps=eps)

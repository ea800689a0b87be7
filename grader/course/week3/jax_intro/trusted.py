"""Trusted ``week3/jax_intro`` helpers: the course conventions, in plain jax."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def initialize_parameters(key, layers_dims):
    """Glorot-normal weights (plain normal, std sqrt(2 / (n_in + n_out))), zero biases."""
    L = len(layers_dims) - 1
    keys = jax.random.split(key, L)
    params = {}
    for l in range(1, L + 1):
        n_in, n_out = layers_dims[l - 1], layers_dims[l]
        params[f"W{l}"] = jax.random.normal(keys[l - 1], (n_in, n_out), jnp.float32) * math.sqrt(2.0 / (n_in + n_out))
        params[f"b{l}"] = jnp.zeros((n_out,), jnp.float32)
    return params


def forward_propagation(X, parameters):
    """LINEAR -> RELU -> ... -> LINEAR logits."""
    L = len(parameters) // 2
    A = X
    for l in range(1, L):
        A = jax.nn.relu(A @ parameters[f"W{l}"] + parameters[f"b{l}"])
    return A @ parameters[f"W{L}"] + parameters[f"b{L}"]


def compute_total_loss(logits, labels):
    """Sum over the batch of the softmax cross-entropy."""
    return jnp.sum(-jnp.sum(labels * jax.nn.log_softmax(logits, axis=-1), axis=-1))

"""Trusted ``selftest/basics`` helpers (see :mod:`grader.trusted`): used by the engine's tests
of ``Case.replace``."""

from __future__ import annotations

import jax.numpy as jnp


def relu(z):
    return jnp.maximum(z, 0)

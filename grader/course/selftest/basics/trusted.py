"""Trusted ``selftest/basics`` helpers (bound by ``Case.replace``; see :mod:`grader.spec`): used by the engine's tests
of ``Case.replace``."""

from __future__ import annotations

import jax.numpy as jnp


def relu(z):
    return jnp.maximum(z, 0)

"""Test configuration, in the spirit of equinox's suite.

- Four host CPU devices, so data-parallel code (``axis_name``, sharding) is tested on a
  laptop exactly as it would run on four accelerators. Set before any computation.
- Strict dtype promotion: mixing float32 with float64 (or int with float arrays) raises,
  so an accidental upcast in the library is a test failure, not a silent slowdown.
- Rank promotion raises: ``(m,) + (m, 1)`` is a bug, not a broadcast.
- Warnings are errors (see ``filterwarnings`` in pyproject.toml).
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

import pytest  # noqa: E402

# The shared solution-test helpers assert; let pytest explain their failures like a test's.
pytest.register_assert_rewrite("tests.solution_tools")

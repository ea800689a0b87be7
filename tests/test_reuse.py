"""Tests for ``jaxdl._reuse``: compiled programs are reused for equal values, never for a printed form.

Reference: the programs themselves. Two values share a program exactly when tracing them
gives the same program (same types, same bits), so ``0.0`` and ``-0.0`` (equal under ``==``,
different constants: ``1 / x`` is ``+inf`` or ``-inf``) must not share one.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import optim
from jaxdl._reuse import ByValue, reused


def test_float_scalars_keyed_by_their_bits():
    assert 0.0 == -0.0 and ByValue([0.0]) != ByValue([-0.0])
    assert ByValue([np.float32(0.0)]) != ByValue([np.float32(-0.0)])
    assert ByValue([complex(0.0, 0.0)]) != ByValue([complex(0.0, -0.0)])
    nan = float("nan")
    assert ByValue([nan]) == ByValue([float("nan")])  # never == itself, yet the same constant in a program
    assert hash(ByValue({"lr": 0.1})) == hash(ByValue({"lr": 0.1})) and ByValue({"lr": 0.1}) == ByValue({"lr": 0.1})
    assert ByValue([np.float32(0.5)]) != ByValue([0.5]) != ByValue([np.float64(0.5)])  # types trace differently


def test_a_static_minus_zero_gets_its_own_program():
    @reused(4)
    def program(static: ByValue):
        return jax.jit(lambda x: x / static.value)

    plus, minus = program(ByValue(0.0)), program(ByValue(-0.0))
    assert plus is not minus and program(ByValue(0.0)) is plus
    assert float(plus(jnp.float32(1.0))) == math.inf and float(minus(jnp.float32(1.0))) == -math.inf


def test_optimizers_equal_by_the_same_key():
    assert optim.adam(1e-3) == optim.adam(1e-3) and hash(optim.adam(1e-3)) == hash(optim.adam(1e-3))
    assert optim.sgd(0.0) != optim.sgd(-0.0)
    assert optim.adam(0.1, eps=0.0) != optim.adam(0.1, eps=-0.0)
    assert optim.adam(0.1, accumulator_dtype=jnp.float32) == optim.adam(0.1, accumulator_dtype="float32")

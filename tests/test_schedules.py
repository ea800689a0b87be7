"""Tests for ``jaxdl.schedules``: optax's exponential_decay and the course's decay helpers."""

from __future__ import annotations

import doctest
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import schedules

STEPS = jnp.arange(0, 3000, 7, dtype=jnp.int32)


def update_lr(learning_rate0: float, epoch_num: int, decay_rate: float) -> float:
    """The course's ``update_lr``, transcribed (float64)."""
    return 1 / (1 + decay_rate * epoch_num) * learning_rate0


def schedule_lr_decay(learning_rate0: float, epoch_num: int, decay_rate: float, time_interval: int = 1000) -> float:
    """The course's ``schedule_lr_decay``, transcribed (float64)."""
    return 1 / (1 + decay_rate * np.floor(epoch_num / time_interval)) * learning_rate0


@pytest.mark.parametrize("staircase", [False, True])
@pytest.mark.parametrize("init_lr, rate, steps", [(0.1, 0.5, 300), (1e-3, 0.96, 100), (0.02, 1.5, 1000)])
def test_exponential_decay_matches_optax(init_lr: float, rate: float, steps: int, staircase: bool) -> None:
    ours = jax.jit(schedules.exponential_decay(init_lr, rate, steps, staircase=staircase))(STEPS)
    ref = jax.jit(optax.exponential_decay(init_lr, transition_steps=steps, decay_rate=rate, staircase=staircase))(STEPS)
    assert ours.dtype == jnp.float32 and ours.shape == STEPS.shape
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(ref))
    # And the closed form, in float64.
    t = np.asarray(STEPS, np.float64) / steps
    want = init_lr * rate ** (np.floor(t) if staircase else t)
    np.testing.assert_allclose(np.asarray(ours), want, rtol=2e-6)


def test_exponential_decay_staircase_steps() -> None:
    lr = schedules.exponential_decay(1.0, 0.5, 10, staircase=True)
    got = [float(lr(t)) for t in (0, 9, 10, 19, 20, 35)]
    assert got == [1.0, 1.0, 0.5, 0.5, 0.25, 0.125]


@pytest.mark.parametrize("lr0, rate", [(0.5, 1.0), (0.01, 0.3), (1.0, 0.0)])
def test_inverse_time_decay_is_course_update_lr(lr0: float, rate: float) -> None:
    sched = schedules.inverse_time_decay(lr0, rate)
    got = np.asarray(jax.jit(sched)(STEPS))
    want = np.array([update_lr(lr0, int(e), rate) for e in np.asarray(STEPS)])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    for epoch in (0, 1, 10, 123):  # Python-int epochs, as the course calls it
        np.testing.assert_allclose(float(sched(epoch)), update_lr(lr0, epoch, rate), rtol=1e-6)


def test_course_values() -> None:
    assert math.isclose(float(schedules.inverse_time_decay(0.5, 1.0)(10)), 0.5 / 11, rel_tol=1e-6)
    assert math.isclose(update_lr(0.5, 10, 1), 0.045454545454545456)
    sched = schedules.inverse_time_decay(0.5, 1.0, decay_steps=100, staircase=True)
    assert float(sched(100)) == 0.25 == schedule_lr_decay(0.5, 100, 1, 100)
    assert float(sched(99)) == 0.5 == schedule_lr_decay(0.5, 99, 1, 100)


@pytest.mark.parametrize("lr0, rate, interval", [(0.5, 1.0, 100), (0.1, 0.3, 1000), (0.05, 2.0, 7)])
def test_inverse_time_decay_staircase_is_course_schedule_lr_decay(lr0: float, rate: float, interval: int) -> None:
    sched = schedules.inverse_time_decay(lr0, rate, decay_steps=interval, staircase=True)
    got = np.asarray(jax.jit(sched)(STEPS))
    want = np.array([schedule_lr_decay(lr0, int(e), rate, interval) for e in np.asarray(STEPS)])
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # Non-staircase differs from it between boundaries (the test can tell them apart).
    dense = np.arange(3 * interval)
    smooth = np.asarray(schedules.inverse_time_decay(lr0, rate, decay_steps=interval)(dense))
    stair = np.asarray(sched(dense))
    np.testing.assert_allclose(stair, [schedule_lr_decay(lr0, e, rate, interval) for e in dense], rtol=1e-6)
    assert not np.allclose(smooth, stair, rtol=1e-3)


def test_constant() -> None:
    sched = schedules.constant(0.1)
    out = jax.jit(sched)(STEPS)
    assert out.dtype == jnp.float32 and out.shape == STEPS.shape
    np.testing.assert_array_equal(np.asarray(out), np.full(STEPS.shape, 0.1, np.float32))
    np.testing.assert_array_equal(np.asarray(sched(5)), np.array(0.1, np.float32))
    np.testing.assert_array_equal(np.asarray(sched(5)), np.asarray(optax.constant_schedule(0.1)(5), np.float32))


ALL = {
    "constant": schedules.constant(0.1),
    "exponential": schedules.exponential_decay(0.1, 0.9, 10),
    "exponential_stair": schedules.exponential_decay(0.1, 0.9, 10, staircase=True),
    "inverse_time": schedules.inverse_time_decay(0.1, 0.5),
    "inverse_time_stair": schedules.inverse_time_decay(0.1, 0.5, 3, staircase=True),
}


@pytest.mark.parametrize("name", sorted(ALL))
@pytest.mark.parametrize("step", [7, 7.0, np.int64(7), jnp.int32(7), jnp.float32(7.0)])
def test_float32_scalar_output_for_any_step_type(name: str, step: Any) -> None:
    out = ALL[name](step)
    assert isinstance(out, jax.Array) and out.dtype == jnp.float32 and out.shape == ()
    assert not out.weak_type  # strictly float32: mixing with bf16 params would be explicit
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ALL[name](jnp.int32(7))))


@pytest.mark.parametrize("name", sorted(ALL))
def test_jit_with_traced_step_no_retrace(name: str) -> None:
    traces = []

    @jax.jit
    def f(step: jax.Array) -> jax.Array:
        traces.append(1)
        return ALL[name](step)

    vals = [f(jnp.int32(i)) for i in (0, 5, 11)]
    assert len(traces) == 1
    for i, v in zip((0, 5, 11), vals):
        np.testing.assert_array_equal(np.asarray(v), np.asarray(ALL[name](i)))


def test_schedules_under_x64_still_float32() -> None:
    with jax.enable_x64(True):
        out = schedules.exponential_decay(0.1, 0.5, 10)(jnp.arange(3))
    assert out.dtype == jnp.float32


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "build, arg, exc",
    [
        (lambda: schedules.constant(-0.1), "value", ValueError),
        (lambda: schedules.constant("0.1"), "value", TypeError),
        (lambda: schedules.exponential_decay(-0.1, 0.5, 10), "init_lr", ValueError),
        (lambda: schedules.exponential_decay(float("nan"), 0.5, 10), "init_lr", ValueError),
        (lambda: schedules.exponential_decay(0.1, 0.0, 10), "decay_rate", ValueError),
        (lambda: schedules.exponential_decay(0.1, -0.5, 10), "decay_rate", ValueError),
        (lambda: schedules.exponential_decay(0.1, 0.5, 0), "decay_steps", ValueError),
        (lambda: schedules.exponential_decay(0.1, 0.5, -10), "decay_steps", ValueError),
        (lambda: schedules.exponential_decay(0.1, 0.5, 10, staircase=1), "staircase", TypeError),
        (lambda: schedules.inverse_time_decay(-1.0, 0.5), "init_lr", ValueError),
        (lambda: schedules.inverse_time_decay(0.1, -0.5), "decay_rate", ValueError),
        (lambda: schedules.inverse_time_decay(0.1, float("nan")), "decay_rate", ValueError),
        (lambda: schedules.inverse_time_decay(0.1, 0.5, decay_steps=0), "decay_steps", ValueError),
        (lambda: schedules.inverse_time_decay(0.1, 0.5, decay_steps=None), "decay_steps", TypeError),
        (lambda: schedules.inverse_time_decay(0.1, 0.5, staircase="yes"), "staircase", TypeError),
        (lambda: schedules.inverse_time_decay(True, 0.5), "init_lr", TypeError),
    ],
)
def test_bad_arguments(build: Any, arg: str, exc: type) -> None:
    with pytest.raises(exc, match=rf"^{arg} must be"):
        build()


def test_bad_argument_messages_show_value() -> None:
    with pytest.raises(ValueError, match=r"decay_steps must be in \(0, inf\), got 0"):
        schedules.inverse_time_decay(0.1, 0.5, decay_steps=0)
    with pytest.raises(ValueError, match=r"init_lr must be in \[0, inf\), got -0.1"):
        schedules.exponential_decay(-0.1, 0.5, 10)


@pytest.mark.parametrize("bad", [True, "3", jnp.array([True])])
def test_bad_step(bad: Any) -> None:
    with pytest.raises(TypeError, match="step must be"):
        schedules.inverse_time_decay(0.1, 0.5)(bad)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(schedules, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 8 and result.failed == 0

r"""Learning-rate schedules: functions ``step -> lr``.

A schedule is a plain function of the step (an int, or an int32/float array, traced or
not) that returns the learning rate as a float32 array. Pass one as ``learning_rate`` to any
:mod:`jaxdl.optim` optimizer (it is evaluated at the optimizer's update count, starting at
0) or call it yourself once per epoch, as the course does. Schedules are pure and jit-able,
and work elementwise on an array of steps (handy for plotting).

The course's two decay helpers are special cases of :func:`inverse_time_decay`::

    update_lr(lr0, epoch, rate)                        == inverse_time_decay(lr0, rate)(epoch)
    schedule_lr_decay(lr0, epoch, rate, time_interval) == inverse_time_decay(
        lr0, rate, decay_steps=time_interval, staircase=True)(epoch)

Example:
  >>> from jaxdl import schedules
  >>> lr = schedules.inverse_time_decay(0.5, decay_rate=1.0)
  >>> print(f"{float(lr(10)):.5f}")  # 0.5 / (1 + 1 * 10)
  0.04545
  >>> lr = schedules.inverse_time_decay(0.5, 1.0, decay_steps=100, staircase=True)
  >>> print([float(lr(e)) for e in (0, 99, 100, 250)])  # 0.5 / (1 + floor(epoch / 100))
  [0.5, 0.5, 0.25, 0.1666666716337204]
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from jaxdl import _validate

__all__ = ["constant", "exponential_decay", "inverse_time_decay"]

Schedule = Callable[[Any], jax.Array]


def _check_number(name: str, value: Any, low: float, *, low_inclusive: bool = True) -> None:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got bool {value!r}")
    _validate.check_range(name, value, low, low_inclusive=low_inclusive)


def _check_staircase(staircase: Any) -> None:
    if not isinstance(staircase, bool):
        raise TypeError(f"staircase must be a bool, got {type(staircase).__name__} {staircase!r}")


def _progress(step: Any, decay_steps: float, staircase: bool) -> jax.Array:
    """``step / decay_steps`` as float32, floored when ``staircase``: both decays' exponent."""
    p = _step_as_float(step) / decay_steps
    return jnp.floor(p) if staircase else p


def _step_as_float(step: Any) -> jax.Array:
    """The step as a float32 array (ints are converted exactly up to 2**24)."""
    if isinstance(step, bool):
        raise TypeError(f"step must be an int or an array of ints/floats, got bool {step!r}")
    _validate.check_array("step", step)
    step = jnp.asarray(step)
    if not (jnp.issubdtype(step.dtype, jnp.integer) or jnp.issubdtype(step.dtype, jnp.floating)):
        raise TypeError(f"step must be an integer or floating array, got dtype {step.dtype}")
    return step.astype(jnp.float32)


def constant(value: float) -> Schedule:
    """The same learning rate at every step.

    Args:
      value: the learning rate, ``>= 0``.

    Returns:
      ``schedule(step) -> value`` as a float32 array shaped like ``step``.

    Example:
      >>> from jaxdl import schedules
      >>> print(float(schedules.constant(0.1)(1000)))
      0.10000000149011612
    """
    _check_number("value", value, 0.0)

    def schedule(step: Any) -> jax.Array:
        step = _step_as_float(step)
        return jnp.full(step.shape, value, dtype=jnp.float32)

    return schedule


def exponential_decay(
    init_lr: float, decay_rate: float, decay_steps: float, staircase: bool = False
) -> Schedule:
    r"""Exponential decay: multiply by ``decay_rate`` every ``decay_steps`` steps.

    .. math::
        \eta(t) = \eta_0 \cdot r^{\,t / T} \qquad
        \text{(staircase: } \eta_0 \cdot r^{\lfloor t / T \rfloor}\text{)}

    with :math:`\eta_0` = ``init_lr``, :math:`r` = ``decay_rate``, :math:`T` = ``decay_steps``.
    Same numbers as ``optax.exponential_decay(init_lr, transition_steps=decay_steps,
    decay_rate=decay_rate, staircase=staircase)`` for steps ``>= 0`` (note optax's argument
    order differs).

    Args:
      init_lr: learning rate at step 0, ``>= 0``.
      decay_rate: factor per ``decay_steps`` steps, ``> 0`` (``< 1`` decays, ``> 1`` grows).
      decay_steps: ``> 0``, the number of steps over which the rate is multiplied once.
      staircase: if True, decay in discrete jumps (``floor(t / T)``).

    Returns:
      ``schedule(step) -> lr`` (float32, jit-able).

    Example:
      >>> from jaxdl import schedules
      >>> lr = schedules.exponential_decay(0.1, decay_rate=0.5, decay_steps=10)
      >>> print([round(float(lr(t)), 6) for t in (0, 5, 10, 20)])
      [0.1, 0.070711, 0.05, 0.025]
    """
    _check_number("init_lr", init_lr, 0.0)
    _check_number("decay_rate", decay_rate, 0.0, low_inclusive=False)
    _check_number("decay_steps", decay_steps, 0.0, low_inclusive=False)
    _check_staircase(staircase)

    def schedule(step: Any) -> jax.Array:
        p = _progress(step, decay_steps, staircase)
        return jnp.asarray(init_lr * jnp.power(decay_rate, p), dtype=jnp.float32)

    return schedule


def inverse_time_decay(
    init_lr: float, decay_rate: float, decay_steps: float = 1, staircase: bool = False
) -> Schedule:
    r"""Inverse-time decay, the course's learning-rate decay.

    .. math::
        \eta(t) = \frac{\eta_0}{1 + k \cdot t / T} \qquad
        \text{(staircase: } \frac{\eta_0}{1 + k \lfloor t / T \rfloor}\text{)}

    with :math:`\eta_0` = ``init_lr``, :math:`k` = ``decay_rate``, :math:`T` = ``decay_steps``.

    Course equivalents (``epoch`` is the epoch number)::

        update_lr(lr0, epoch, rate)  ==  inverse_time_decay(lr0, rate)(epoch)
        schedule_lr_decay(lr0, epoch, rate, time_interval)
            ==  inverse_time_decay(lr0, rate, decay_steps=time_interval, staircase=True)(epoch)

    Args:
      init_lr: learning rate at step 0, ``>= 0``.
      decay_rate: ``>= 0`` (0 gives a constant schedule).
      decay_steps: ``> 0``; the course's ``time_interval``.
      staircase: if True, the rate only changes every ``decay_steps`` steps.

    Returns:
      ``schedule(step) -> lr`` (float32, jit-able).

    Example:
      >>> from jaxdl import schedules
      >>> lr = schedules.inverse_time_decay(0.5, decay_rate=1.0)
      >>> print([round(float(lr(e)), 5) for e in (0, 1, 10)])
      [0.5, 0.25, 0.04545]
    """
    _check_number("init_lr", init_lr, 0.0)
    _check_number("decay_rate", decay_rate, 0.0)
    _check_number("decay_steps", decay_steps, 0.0, low_inclusive=False)
    _check_staircase(staircase)

    def schedule(step: Any) -> jax.Array:
        p = _progress(step, decay_steps, staircase)
        return jnp.asarray(init_lr / (1 + decay_rate * p), dtype=jnp.float32)

    return schedule

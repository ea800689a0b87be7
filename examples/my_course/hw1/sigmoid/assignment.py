"""``hw1/sigmoid``: the logistic function, a minimal assignment written from scratch.

One part, one visible case (fixed inputs) and hidden cases drawn from the run's seed: other
shapes, large logits (where a naive ``1 / (1 + exp(-z))`` still works in float32 but a
hand-rolled ``exp(z) / (1 + exp(z))`` overflows to NaN), and a ``jax.jit`` case.
"""

from __future__ import annotations

import numpy as np

from grader.case_tools import rng
from grader.spec import Assignment, Case, Part

from .mistakes import MISTAKES


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """The expected values, computed in the grader (float64, then float32)."""
    return (1.0 / (1.0 + np.exp(-z.astype(np.float64)))).astype(np.float32)


def _case(z: np.ndarray, label: str, **kw) -> Case:
    flipped = (1.0 / (1.0 + np.exp(z.astype(np.float64)))).astype(np.float32)
    return Case(args=(z,), expected=_sigmoid(z), label=label,
                mistakes=((MISTAKES["sign_flipped"].message, flipped),), **kw)


def visible():
    return [_case(np.array([-1.0, 0.0, 2.0], np.float32), "sigmoid([-1, 0, 2])")]


def hidden(seed: int):
    r = rng(seed)
    z = r.normal(size=(4, 3)).astype(np.float32)
    big = np.array([-100.0, 100.0, 3.0], np.float32)
    return [_case(z, "a (4, 3) array"),
            _case(big, "large logits, +-100"),
            _case(z, "a (4, 3) array, under jax.jit", jit=True)]


ASSIGNMENT = Assignment(
    id="hw1/sigmoid",
    title="The sigmoid function",
    parts=(Part("sigmoid", 10, "1 / (1 + exp(-z)), elementwise, float32 kept", visible, hidden),),
    forbidden_imports=("jaxdl.nn", "optax", "flax"),
    allowed_imports="`jax` (with `jax.numpy`), `numpy`, `math`",
    discouraged=("jax.nn.sigmoid",),
)

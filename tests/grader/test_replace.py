"""``Case.replace`` (a trusted helper bound for one call) and list static arguments under jit."""

from __future__ import annotations

import numpy as np

from grader import engine, registry
from grader.spec import Assignment, Case, Part

from .conftest import LIMITS

SOURCE = '''
import jax.numpy as jnp


def relu(z):
    return z * 100.0          # wrong


def double_relu(z):
    return 2 * relu(z)        # right, given a right relu


def scaled(sizes, z):
    return z * sum(sizes)     # `sizes` is static under jit (it arrives as a list)
'''


def test_trusted_helper_isolates_the_callers_part(tmp_path):
    z = np.array([-1.0, 0.5, 2.0], np.float32)
    expected = 2 * np.maximum(z, 0)

    def visible(replace):
        return lambda: [Case(args=(z,), expected=expected, label="double_relu",
                             replace=replace)]

    trusted = {"relu": "trusted:relu"}
    assignment = Assignment(
        id="test/replace", title="replace", forbidden_imports=("optax",),
        folder=registry.load("selftest/basics").folder,  # its trusted.py holds relu
        parts=(Part("double_relu", 1, "with the trusted relu", visible(trusted)),
               Part("double_relu", 1, "with the student's relu", visible({})),
               Part("relu", 1, "relu itself", lambda: [Case(args=(z,), expected=np.maximum(z, 0))]),
               Part("scaled", 1, "a list as a static argument under jit",
                    lambda: [Case(args=([1, 2, 3], z), expected=6 * z, jit=True,
                                  static_argnums=(0,))])))
    path = tmp_path / "s.py"
    path.write_text(SOURCE)
    result = engine.grade(assignment, path, seed=0, overrides=LIMITS)
    assert [p.score for p in result.parts] == [1, 0, 0, 1], [p.feedback for p in result.parts]

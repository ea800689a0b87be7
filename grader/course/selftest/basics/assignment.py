"""``selftest/basics``: the grader's own assignment, one part per kind of check.

It is how the engine is tested, and how an instructor checks an installation::

    grader submit selftest/basics --file tests/grader/fixtures/selftest_solution.py

Parts (expected values computed in the parent with ``jax``):

- ``relu(z)`` - values, shapes, float32 kept, under ``jax.jit``.
- ``relu_backward(dA, Z)`` - a hand-written backward pass checked against ``jax.vjp``.
- ``sigmoid(z)`` - values, and the student's function differentiated by ``jax.vjp`` in the
  worker must give the true derivative.
- ``sample_normal(key, n)`` - ``jax.random.normal(key, (n,))``: same key, same samples;
  another key, other samples; ``n`` static under ``jax.jit``.
- ``standardize(X)`` - column-wise ``(X - mean) / (std + 1e-8)``; float32 in, float32 out;
  a known mistake (rows instead of columns) is named in the feedback.
- ``train_logistic(key, X, y, num_steps, learning_rate)`` - returns ``{"w": (2,), "b": ()}``;
  the parent measures the accuracy on held-out points it never sends (at least 90%).

Hidden cases have shapes of their own, the same for every seed (the shape rule of
:mod:`grader.case_tools`), and values and keys drawn per seed.

Import policy: ``optax``, ``flax`` and ``jaxdl.nn`` are refused (``jaxdl.nn.relu`` would
solve part one).
"""

from __future__ import annotations

import numpy as np

from grader import case_tools
from grader.case_tools import rng as _rng
from grader.spec import Assignment, Case, Limits, Part

F32 = np.float32


def _shape_label(name: str, x: np.ndarray) -> str:
    return f"{name} of a {tuple(x.shape)} {x.dtype} array"


# ----------------------------------------------------------------------------- relu

_Z = np.array([[-1.5, 0.0, 2.0, 3.5], [0.25, -0.5, -2.0, 1.0], [4.0, -3.0, 0.5, -0.1]], F32)


def _relu_expected(z):
    def f():
        import jax

        return jax.nn.relu(z)

    return f


def _relu_case(z, **kw) -> Case:
    return Case(args=(z,), expected=_relu_expected(z), label=_shape_label("relu", z),
                mistakes=(("it returns the mask (z > 0) instead of max(z, 0).",
                           lambda: (z > 0).astype(F32)),), **kw)


def relu_visible():
    return [_relu_case(_Z)]


def relu_hidden(seed: int):
    r = _rng(seed)
    z1 = r.normal(size=(7, 3)).astype(F32)  # shapes fixed, values per seed (grader.case_tools)
    z2 = r.normal(size=(13,)).astype(F32)
    z3 = r.normal(size=(3, 2, 4)).astype(F32)
    return [_relu_case(z1), _relu_case(z2), _relu_case(z3, jit=True)]


# ----------------------------------------------------------------------------- relu_backward


def _relu_backward_case(dA, Z, **kw) -> Case:
    def expected():
        import jax

        return jax.vjp(jax.nn.relu, Z)[1](dA)[0]

    return Case(args=(dA, Z), expected=expected,
                label=f"relu_backward with dA, Z of shape {tuple(Z.shape)}",
                mistakes=(("it multiplies dA by Z instead of by the mask (Z > 0).",
                           lambda: dA * Z),), **kw)


def relu_backward_visible():
    dA = np.array([[1.0, -2.0, 0.5, 3.0], [0.1, 0.2, 0.3, 0.4], [-1.0, 1.0, -1.0, 1.0]], F32)
    return [_relu_backward_case(dA, _Z)]


def relu_backward_hidden(seed: int):
    r = _rng(seed)
    out = []
    for jit, shape in ((False, (6, 5)), (True, (7, 3))):
        out.append(_relu_backward_case(r.normal(size=shape).astype(F32),
                                       r.normal(size=shape).astype(F32), jit=jit))
    return out


# ----------------------------------------------------------------------------- sigmoid


def _sigmoid_case(z, **kw) -> Case:
    def expected():
        import jax

        return jax.nn.sigmoid(z)

    return Case(args=(z,), expected=expected, label=_shape_label("sigmoid", z), rtol=1e-5,
                atol=1e-6, mistakes=(("it computes 1 / (1 + exp(z)): the sign of the exponent "
                                      "is flipped.", lambda: (1 / (1 + np.exp(z))).astype(F32)),),
                **kw)


def _sigmoid_grad_case(z, ct) -> Case:
    def expected():
        import jax

        return jax.vjp(jax.nn.sigmoid, z)[1](ct)

    return Case(args=(z,), vjp=((0,), ct), expected=expected, rtol=1e-4, atol=1e-6,
                label=f"the gradient of sigmoid at a {tuple(z.shape)} array")


def sigmoid_visible():
    return [_sigmoid_case(np.array([-2.0, -0.5, 0.0, 0.5, 2.0], F32))]


def sigmoid_hidden(seed: int):
    r = _rng(seed)
    z = (3 * r.normal(size=(7, 3))).astype(F32)  # shapes fixed, values per seed (grader.case_tools)
    # The jit case's input is drawn on its own: one derived from another case's (z reversed)
    # let a red-team file precompute the answer in Python and export a constant program.
    z_jit = (3 * r.normal(size=(5, 3))).astype(F32)
    # The vjp case's input too: with z shared, a file kept z from the plain case and exported a
    # custom_vjp whose backward rule was the gradient at that z, computed ahead of time.
    z_vjp = (3 * r.normal(size=(6, 3))).astype(F32)
    ct = r.normal(size=z_vjp.shape).astype(F32)
    return [_sigmoid_case(z), _sigmoid_case(z_jit, jit=True), _sigmoid_grad_case(z_vjp, ct)]


# ----------------------------------------------------------------------------- sample_normal


def _sample_case(seed: int, n: int, other: int, jit: bool = False) -> Case:
    import jax

    key, key2 = jax.random.key(seed), jax.random.key(other)

    def expected():
        return jax.random.normal(key, (n,))

    return Case(args=(key, n), expected=expected, key_args=(key2, n), jit=jit,
                static_argnames=("n",) if jit else (), static_argnums=(1,) if jit else (),
                label=f"sample_normal(key, {n})")


def sample_visible():
    return [_sample_case(0, 5, 1)]


def sample_hidden(seed: int):
    r = _rng(seed)
    s, s2 = (int(v) for v in r.integers(2, 2**30, size=2))  # independent: see sigmoid_hidden
    return [_sample_case(s, 13, s + 1),  # n fixed (static under jit), keys per seed
            _sample_case(s2, 29, s2 + 1, jit=True)]


# ----------------------------------------------------------------------------- standardize


def _standardize_case(X, **kw) -> Case:
    def expected():
        import jax.numpy as jnp

        x = jnp.asarray(X)
        return (x - x.mean(axis=0, keepdims=True)) / (x.std(axis=0, keepdims=True) + F32(1e-8))

    def rows():
        return ((X - X.mean(axis=1, keepdims=True)) / (X.std(axis=1, keepdims=True) + F32(1e-8))).astype(F32)

    return Case(args=(X,), expected=expected, label=_shape_label("standardize", X),
                rtol=1e-4, atol=1e-5,
                mistakes=(("it standardizes each row (axis=1) instead of each column (axis=0).",
                           rows),), **kw)


def standardize_visible():
    X = np.array([[1.0, 10.0, -3.0], [2.0, 20.0, -1.0], [4.0, 15.0, 0.0], [5.0, 5.0, 4.0]], F32)
    return [_standardize_case(X)]


def standardize_hidden(seed: int):
    r = _rng(seed)
    X1 = (r.normal(size=(9, 4)) * 5 + 3).astype(F32)  # shapes fixed, values per seed (grader.case_tools)
    X2 = (r.normal(size=(7, 5)) * 0.1 - 1).astype(F32)
    return [_standardize_case(X1), _standardize_case(X2, jit=True)]


# ----------------------------------------------------------------------------- train_logistic


def _blobs(r: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
    y = (r.random(m) < 0.5).astype(F32)
    centre = np.where(y[:, None] > 0, 1.5, -1.5).astype(F32)
    X = (centre + r.normal(size=(m, 2))).astype(F32)
    return X, y


def _accuracy_validator(X_test: np.ndarray, y_test: np.ndarray, threshold: float):
    template = {"w": np.zeros(2, F32), "b": np.zeros((), F32)}

    def validate(out):
        problem = case_tools.trained_params_problem(out, template)
        if problem:
            return problem
        w, b = out["w"].astype(np.float64), float(out["b"])
        return case_tools.held_out_accuracy_problem((X_test @ w + b) > 0, y_test > 0.5, threshold)

    return validate


def _train_case(seed: int) -> Case:
    import jax

    r = _rng(seed)
    X, y = _blobs(r, 200)
    X_test, y_test = _blobs(r, 400)
    return Case(args=(jax.random.key(seed), X, y), kwargs={"num_steps": 200, "learning_rate": 0.5},
                validate=_accuracy_validator(X_test, y_test, 0.9),
                label="train_logistic on 200 points of two Gaussian blobs")


def train_visible():
    return [_train_case(20240)]


def train_hidden(seed: int):
    return [_train_case(seed)]


ASSIGNMENT = Assignment(
    id="selftest/basics",
    title="Grader self-test (checks an installation; one part per kind of check)",
    parts=(
        Part("relu", 1, "values, shapes, float32 kept, under jit", relu_visible, relu_hidden),
        Part("relu_backward", 1, "hand-written backward pass vs jax.vjp", relu_backward_visible,
             relu_backward_hidden),
        Part("sigmoid", 1, "values, and differentiable by jax.grad", sigmoid_visible,
             sigmoid_hidden),
        Part("sample_normal", 1, "same key same samples, other key other samples",
             sample_visible, sample_hidden),
        Part("standardize", 1, "column statistics, float32 in and out", standardize_visible,
             standardize_hidden),
        Part("train_logistic", 2, "held-out accuracy measured by the grader", train_visible,
             train_hidden, limits={"time_per_call": 60.0}),
    ),
    forbidden_imports=("optax", "flax", "jaxdl.nn"),
    allowed_imports="`jax` (with `jax.numpy`), `numpy`, `math`",
    handout=False,
    limits=Limits(),
)

"""jaxdl.gradcheck.gradient_check against the course's numbers and hand-written backprop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxdl.gradcheck import gradient_check

# ---------------------------------------------------------------- the course's 1-D case


@pytest.mark.parametrize(
    "x,expected",
    [(2.0, 2.919335883291695e-10), (3.0, 7.814075313343006e-11)],  # course v1 and v1.1 outputs
)
def test_one_dimensional_course_values(x, expected):
    theta = jnp.array(4.0)
    d = gradient_check(lambda t: t * x, theta, grads=jnp.array(x), eps=1e-7)
    assert type(d) is float
    assert d < 1e-7
    np.testing.assert_allclose(d, expected, rtol=1e-6)
    assert gradient_check(lambda t: t * x, 4.0) < 1e-9  # python float params, jax.grad default
    assert jnp.zeros(1).dtype == jnp.float32


# ---------------------------------------------------------------- the course's gradient_check_n case
# Column-major course layout (W (n_l, n_{l-1}), b (n_l, 1)), reproduced as-is: the check is
# layout-agnostic and these are the numbers the notebook printed.


def _course_case():
    state = np.random.get_state()
    np.random.seed(1)
    x = np.random.randn(4, 3)
    y = np.array([1, 1, 0])
    shapes = [("W1", (5, 4)), ("b1", (5, 1)), ("W2", (3, 5)), ("b2", (3, 1)), ("W3", (1, 3)), ("b3", (1, 1))]
    params = {k: np.random.randn(*s) for k, s in shapes}
    np.random.set_state(state)
    return x, y.reshape(1, 3).astype(np.float64), params


def _course_forward(p, X, Y):
    A1 = jnp.maximum(p["W1"] @ X + p["b1"], 0.0)
    A2 = jnp.maximum(p["W2"] @ A1 + p["b2"], 0.0)
    A3 = 1.0 / (1.0 + jnp.exp(-(p["W3"] @ A2 + p["b3"])))
    logprobs = -jnp.log(A3) * Y - jnp.log(1.0 - A3) * (1.0 - Y)
    return jnp.sum(logprobs) / X.shape[1]


def _course_backward(p, X, Y, buggy):
    """gc_utils.backward_propagation_n, with the notebook's planted bugs when ``buggy``."""
    m = X.shape[1]
    Z1 = p["W1"] @ X + p["b1"]
    A1 = np.maximum(Z1, 0)
    Z2 = p["W2"] @ A1 + p["b2"]
    A2 = np.maximum(Z2, 0)
    A3 = 1 / (1 + np.exp(-(p["W3"] @ A2 + p["b3"])))
    dZ3 = A3 - Y
    dW3 = 1.0 / m * dZ3 @ A2.T
    db3 = 1.0 / m * np.sum(dZ3, axis=1, keepdims=True)
    dA2 = p["W3"].T @ dZ3
    dZ2 = dA2 * (A2 > 0)
    dW2 = 1.0 / m * dZ2 @ A1.T * (2 if buggy else 1)
    db2 = 1.0 / m * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = p["W2"].T @ dZ2
    dZ1 = dA1 * (A1 > 0)
    dW1 = 1.0 / m * dZ1 @ X.T
    db1 = (4.0 if buggy else 1.0) / m * np.sum(dZ1, axis=1, keepdims=True)
    return {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2, "db2": db2,
            "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}  # fmt: skip


def test_course_gradient_check_n_values():
    X, Y, params = _course_case()
    f = lambda p: _course_forward(p, X, Y)  # noqa: E731
    # the course's gradients dict ({"dW1", ..., plus dZ/dA entries}) is accepted as is
    buggy = gradient_check(f, params, _course_backward(params, X, Y, buggy=True))
    np.testing.assert_allclose(buggy, 0.2850931567761623, rtol=1e-6)
    fixed = gradient_check(f, params, _course_backward(params, X, Y, buggy=False))
    np.testing.assert_allclose(fixed, 1.1890913024229996e-07, rtol=1e-2)  # summation order differs
    assert fixed < 2e-7  # the course's "works perfectly fine" threshold
    assert jnp.zeros(1).dtype == jnp.float32


# ---------------------------------------------------------------- batch-first tanh/sigmoid MLP
# [3, 20, 10, 1]: 301 parameters, more than one vmap chunk of 256.

SIZES = (3, 20, 10, 1)


def _mlp_case():
    rng = np.random.default_rng(0)
    params = {}
    for l in range(1, len(SIZES)):
        params[f"W{l}"] = jnp.asarray(rng.standard_normal((SIZES[l - 1], SIZES[l])) / np.sqrt(SIZES[l - 1]), jnp.float32)
        params[f"b{l}"] = jnp.asarray(0.1 * rng.standard_normal(SIZES[l]), jnp.float32)
    X = jnp.asarray(rng.standard_normal((8, 3)), jnp.float32)
    Y = jnp.asarray(rng.integers(0, 2, 8), jnp.float32)
    return params, X, Y


def _mlp_cost(p, X, Y):
    """Mean binary cross-entropy of a tanh-tanh-sigmoid MLP; X, Y are float32 data."""
    A1 = jnp.tanh(X @ p["W1"] + p["b1"][None, :])
    A2 = jnp.tanh(A1 @ p["W2"] + p["b2"][None, :])
    z = (A2 @ p["W3"] + p["b3"][None, :])[:, 0]
    return jnp.mean(jnp.logaddexp(0.0, z) - Y * z)


def _mlp_backward(p, X, Y, *, bug=False):
    """Hand-written backprop in NumPy float64, keyed like params."""
    p = {k: np.asarray(v, np.float64) for k, v in p.items()}
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    m = X.shape[0]
    A1 = np.tanh(X @ p["W1"] + p["b1"])
    A2 = np.tanh(A1 @ p["W2"] + p["b2"])
    z = A2 @ p["W3"] + p["b3"]
    dZ3 = (1 / (1 + np.exp(-z)) - Y[:, None]) / m
    dA2 = dZ3 @ p["W3"].T
    dZ2 = dA2 * (1 - A2**2)
    dA1 = dZ2 @ p["W2"].T
    dZ1 = dA1 * (1 - A1**2)
    return {
        "W1": X.T @ dZ1, "b1": dZ1.sum(0),
        "W2": A1.T @ dZ2 * (2.0 if bug else 1.0), "b2": dZ2.sum(0),
        "W3": A2.T @ dZ3, "b3": dZ3.sum(0),
    }  # fmt: skip


@pytest.fixture(scope="module")
def mlp():
    return _mlp_case()


def test_mlp_correct_gradients_pass(mlp):
    params, X, Y = mlp
    f = lambda p: _mlp_cost(p, X, Y)  # noqa: E731  (closes over float32 data)
    assert gradient_check(f, params) < 1e-7  # jax.grad default
    assert gradient_check(f, params, _mlp_backward(params, X, Y)) < 1e-7
    # float32 grads are accepted (cast to float64 inside)
    grads32 = jax.tree_util.tree_map(lambda g: jnp.asarray(g, jnp.float32), _mlp_backward(params, X, Y))
    assert gradient_check(f, params, grads32) < 1e-7
    assert jnp.zeros(1).dtype == jnp.float32 and jnp.asarray(1.0).dtype == jnp.float32


def test_mlp_planted_bug_fails(mlp):
    params, X, Y = mlp
    d = gradient_check(lambda p: _mlp_cost(p, X, Y), params, _mlp_backward(params, X, Y, bug=True))
    assert d > 1e-2


def test_float32_central_differences_are_noise(mlp):
    """What the float64 context buys: the same check done naively in float32 fails."""
    params, X, Y = mlp
    theta, unravel = ravel_pytree(params)
    assert theta.dtype == jnp.float32
    eps = 1e-7
    basis = jnp.eye(theta.shape[0], dtype=jnp.float32) * eps
    cost = jax.jit(jax.vmap(lambda t: _mlp_cost(unravel(t), X, Y)))
    approx = (cost(theta[None, :] + basis) - cost(theta[None, :] - basis)) / (2 * eps)
    g, _ = ravel_pytree(jax.jit(jax.grad(_mlp_cost))(params, X, Y))
    naive = float(jnp.linalg.norm(g - approx) / (jnp.linalg.norm(g) + jnp.linalg.norm(approx)))
    assert naive > 1e-3  # (our float64 result for the same case is < 1e-7, test above)


def test_unvectorized_agrees():
    params = {"w": jnp.array([0.3, -1.2, 2.0], jnp.float32), "s": jnp.array(0.7, jnp.float32)}
    f = lambda p: jnp.sum(jnp.sin(p["w"]) * p["s"]) + p["s"] ** 3  # noqa: E731
    a = gradient_check(f, params)
    b = gradient_check(f, params, vectorize=False)
    assert a < 1e-8 and b < 1e-8
    bad = {"w": jnp.cos(params["w"]) * params["s"], "s": jnp.array(0.0)}
    assert gradient_check(f, params, bad, vectorize=False) > 1e-2


def test_x64_does_not_leak_even_on_error():
    def f(p):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        gradient_check(f, jnp.ones(2))
    assert jnp.zeros(1).dtype == jnp.float32
    assert not jax.config.jax_enable_x64


def test_bad_input(mlp):
    params, X, Y = mlp
    f = lambda p: _mlp_cost(p, X, Y)  # noqa: E731
    grads = _mlp_backward(params, X, Y)
    wrong_shape = dict(grads, W2=grads["W2"].T)
    with pytest.raises(ValueError, match=r"params\['W2'\] and grads\['W2'\] must have the same shape, got \(20, 10\) and \(10, 20\)"):
        gradient_check(f, params, wrong_shape)
    missing = {k: v for k, v in grads.items() if k != "b3"}
    with pytest.raises(ValueError, match="params and grads must have the same tree structure"):
        gradient_check(f, params, missing)
    with pytest.raises(TypeError, match=r"f\(params\) must return a real scalar \(shape \(\)\), got shape \(8,\)"):
        gradient_check(lambda p: jnp.tanh(X @ p["W1"])[:, 0], params)
    with pytest.raises(TypeError, match=r"params\['n'\] must be a real floating-point array, got dtype int32"):
        gradient_check(lambda p: jnp.sum(p["x"]), {"x": jnp.ones(2), "n": jnp.array([1, 2], jnp.int32)})
    with pytest.raises(ValueError, match="eps must be a positive finite number, got 0.0"):
        gradient_check(f, params, eps=0.0)
    with pytest.raises(TypeError, match="f must be a callable"):
        gradient_check(None, params)
    with pytest.raises(ValueError, match="params must contain at least one array leaf"):
        gradient_check(lambda p: 0.0, {})

"""The week1 reference solutions: course formulas, course numbers, jax.grad, mistakes, experiments.

- initialization: the initializers follow the stated key convention, agree with
  ``jaxdl.init.init_mlp`` and with NumPy transcriptions of the course's formulas.
- regularization: each function agrees with a float64 NumPy transcription of the course's
  code (column-major, transposed to batch-first) and with the course's published test
  values (its fixtures transposed; for dropout, the course's own masks injected); the
  hand-written backward passes agree with ``jax.grad``.
- gradient_checking: the course's 1-D values, its N-D values with and without the planted
  bugs (0.285 / 1.19e-7), agreement with ``jaxdl.gradcheck`` and ``jax.grad``.
- Every mistake in ``grader/course/week1/*/mistakes.py`` changes its function's output.
- The stubs import cheaply and every graded function raises NotImplementedError.
- The ungraded experiment cells run (``JAXDL_QUICK=1``, in a subprocess).
"""

from __future__ import annotations

import ast
import math
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.solution_tools import (
    assert_holes,
    assert_others_untouched,
    check_mistakes_table,
    forbidden_uses,
    load_solution,
    load_stub,
    mistakes,
    policy_banned,
    run_experiment,
    solution_path,
    stub_path,
    with_mistake,
)

IDS = {name: f"week1/{name}" for name in ("initialization", "regularization", "gradient_checking")}
SOLUTIONS = {name: solution_path(aid) for name, aid in IDS.items()}
STUBS = {name: stub_path(aid) for name, aid in IDS.items()}
GRADED = {
    "initialization": ("initialize_parameters_zeros", "initialize_parameters_random", "initialize_parameters_he"),
    "regularization": ("compute_cost_with_regularization", "backward_propagation_with_regularization",
                       "forward_propagation_with_dropout", "backward_propagation_with_dropout"),
    "gradient_checking": ("forward_propagation", "backward_propagation", "gradient_check", "gradient_check_n",
                          "backward_propagation_n"),
}
MISTAKES = {name: mistakes(aid) for name, aid in IDS.items()}
INIT_MISTAKES, REG_MISTAKES, GC_MISTAKES = (MISTAKES[n] for n in ("initialization", "regularization",
                                                                 "gradient_checking"))

init_sol = load_solution(IDS["initialization"])
reg_sol = load_solution(IDS["regularization"])
gc_sol = load_solution(IDS["gradient_checking"])


def _f32(x):
    return jnp.asarray(np.asarray(x, np.float64), jnp.float32)


def _assert_close(actual, expected, rtol=1e-5, atol=1e-6, dtype=jnp.float32, name=""):
    assert actual.dtype == dtype, f"{name}: dtype {actual.dtype}"
    assert actual.shape == np.shape(expected), f"{name}: shape {actual.shape} != {np.shape(expected)}"
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=rtol, atol=atol, err_msg=name)


# =========================================================================== initialization

DIMS = [[3, 2, 1], [2, 10, 5, 1], [7, 6, 5, 4, 3]]


@pytest.mark.parametrize("dims", DIMS)
def test_zeros_shapes_dtype_values(dims):
    p = init_sol.initialize_parameters_zeros(dims)
    assert list(p) == [f"{k}{l}" for l in range(1, len(dims)) for k in ("W", "b")]
    for l in range(1, len(dims)):
        _assert_close(p[f"W{l}"], np.zeros((dims[l - 1], dims[l])), name=f"W{l}")
        _assert_close(p[f"b{l}"], np.zeros((dims[l],)), name=f"b{l}")


@pytest.mark.parametrize("method,scale", [("random", lambda n_prev: 10.0), ("he", lambda n_prev: math.sqrt(2.0 / n_prev))])
@pytest.mark.parametrize("dims", DIMS)
@pytest.mark.parametrize("make_key", [jax.random.key, jax.random.PRNGKey])
def test_random_initializers_follow_the_key_convention(method, scale, dims, make_key):
    fn = getattr(init_sol, f"initialize_parameters_{method}")
    key = make_key(7)
    p = fn(key, dims)
    L = len(dims) - 1
    keys = jax.random.split(key, L)
    assert list(p) == [f"{k}{l}" for l in range(1, L + 1) for k in ("W", "b")]
    for l in range(1, L + 1):
        # the course's formula (np.random.randn(n_l, n_{l-1}) * scale), on JAX's draw, batch-first
        draw = np.asarray(jax.random.normal(keys[l - 1], (dims[l - 1], dims[l]), dtype=jnp.float32), np.float64)
        _assert_close(p[f"W{l}"], draw * scale(dims[l - 1]), name=f"W{l}")
        _assert_close(p[f"b{l}"], np.zeros((dims[l],)), name=f"b{l}")
    # the library's init_mlp uses the same convention
    ref = jaxdl_init().init_mlp(key, dims, method=method)
    for k in p:
        np.testing.assert_allclose(np.asarray(p[k]), np.asarray(ref[k]), rtol=1e-6, atol=0, err_msg=k)


def jaxdl_init():
    from jaxdl import init

    return init


@pytest.mark.parametrize("method,std", [("random", lambda n: 10.0), ("he", lambda n: math.sqrt(2.0 / n))])
def test_random_initializers_have_the_course_scale(method, std):
    dims = [400, 300, 200]
    p = getattr(init_sol, f"initialize_parameters_{method}")(jax.random.key(0), dims)
    for l in (1, 2):
        W = np.asarray(p[f"W{l}"], np.float64)
        assert abs(W.std() / std(dims[l - 1]) - 1) < 5 / math.sqrt(2 * W.size)
        assert abs(W.mean()) < 5 * std(dims[l - 1]) / math.sqrt(W.size)
    # the layers are independent draws (no key reuse)
    assert abs(np.corrcoef(np.asarray(p["W1"])[:200, :200].ravel(), np.asarray(p["W2"]).ravel()[:40000])[0, 1]) < 0.05


def test_initializers_jit_and_same_key_same_result():
    dims = (3, 5, 2, 1)
    for fn in (init_sol.initialize_parameters_random, init_sol.initialize_parameters_he):
        eager = fn(jax.random.key(1), dims)
        jitted = jax.jit(fn, static_argnums=1)(jax.random.key(1), dims)
        again = fn(jax.random.key(1), list(dims))
        other = fn(jax.random.key(2), dims)
        for k in eager:
            # under jit XLA may fuse the normal draw differently: equal up to a float32 ulp
            np.testing.assert_allclose(np.asarray(jitted[k]), np.asarray(eager[k]), rtol=1e-6, atol=1e-7)
            np.testing.assert_array_equal(np.asarray(eager[k]), np.asarray(again[k]))
        assert not np.allclose(np.asarray(eager["W1"]), np.asarray(other["W1"]))


def test_zeros_network_stays_symmetric_and_he_learns():
    from jaxdl import datasets

    X, y, _, _ = datasets.circles(n_train=100, n_test=10)
    Y = y.astype(jnp.float32)[:, None]
    p0 = init_sol.initialize_parameters_zeros([2, 10, 5, 1])
    p_zeros, costs_zeros = init_sol.train(p0, X, Y, 0.01, 300)
    assert float(jnp.max(jnp.abs(p_zeros["W1"]))) == 0.0  # symmetry never broken
    np.testing.assert_allclose(float(costs_zeros[-1]), math.log(2), rtol=1e-5)
    p_he, costs_he = init_sol.train(init_sol.initialize_parameters_he(jax.random.key(3), [2, 10, 5, 1]), X, Y, 0.01, 300)
    assert float(costs_he[-1]) < float(costs_he[0])


def test_initialization_backward_matches_jax_grad():
    X = jax.random.normal(jax.random.key(0), (8, 2), dtype=jnp.float32)
    Y = (jnp.arange(8) % 2).astype(jnp.float32)[:, None]
    p = init_sol.initialize_parameters_he(jax.random.key(1), [2, 4, 3, 1])
    _, cache = init_sol.forward_propagation(X, p)
    grads = init_sol.backward_propagation(X, Y, cache)
    auto = jax.grad(lambda q: init_sol.compute_loss(init_sol.forward_propagation(X, q)[0], Y))(p)
    for k in p:
        np.testing.assert_allclose(np.asarray(grads["d" + k]), np.asarray(auto[k]), rtol=1e-4, atol=1e-6, err_msg=k)


# =========================================================================== regularization
# The course's fixtures (test_cases.py / public_tests.py, v1.1), column-major as published.

_Y5 = np.array([[1, 1, 0, 1, 0]], dtype=np.float64)
_COURSE_A3 = np.array([[0.40682402, 0.01629284, 0.16722898, 0.10118111, 0.40682402]])
_REG_CACHE = (
    np.array([[-1.52855314, 3.32524635, 2.13994541, 2.60700654, -0.75942115],
              [-1.98043538, 4.1600994, 0.79051021, 1.46493512, -0.45506242]]),
    np.array([[0.0, 3.32524635, 2.13994541, 2.60700654, 0.0],
              [0.0, 4.1600994, 0.79051021, 1.46493512, 0.0]]),
    np.array([[-1.09989127, -0.17242821, -0.87785842], [0.04221375, 0.58281521, -1.10061918]]),
    np.array([[1.14472371], [0.90159072]]),
    np.array([[0.53035547, 5.94892323, 2.31780174, 3.16005701, 0.53035547],
              [-0.69166075, -3.47645987, -2.25194702, -2.65416996, -0.69166075],
              [-0.39675353, -4.62285846, -2.61101729, -3.22874921, -0.39675353]]),
    np.array([[0.53035547, 5.94892323, 2.31780174, 3.16005701, 0.53035547],
              [0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]]),
    np.array([[0.50249434, 0.90085595], [-0.68372786, -0.12289023], [-0.93576943, -0.26788808]]),
    np.array([[0.53035547], [-0.69166075], [-0.39675353]]),
    np.array([[-0.3771104, -4.10060224, -1.60539468, -2.18416951, -0.3771104]]),
    _COURSE_A3,
    np.array([[-0.6871727, -0.84520564, -0.67124613]]),
    np.array([[-0.0126646]]),
)
_REG_EXPECTED = {  # backward_propagation_with_regularization, lambd = 0.7 (weight gradients)
    "dW1": np.array([[-0.25604646, 0.12298827, -0.28297129], [-0.17706303, 0.34536094, -0.4410571]]),
    "dW2": np.array([[0.79276486, 0.85133918], [-0.0957219, -0.01720463], [-0.13100772, -0.03750433]]),
    "dW3": np.array([[-1.77691347, -0.11832879, -0.09397446]]),
    "db1": np.array([[0.11845855], [0.21236874]]),
    "db2": np.array([[0.26135226], [0.0], [0.0]]),
    "db3": np.array([[-0.38032981]]),
}
_DROP_CACHE = (
    np.array([[-1.52855314, 3.32524635, 2.13994541, 2.60700654, -0.75942115],
              [-1.98043538, 4.1600994, 0.79051021, 1.46493512, -0.45506242]]),
    np.array([[True, False, True, True, True], [True, True, True, True, False]]),
    np.array([[0.0, 0.0, 4.27989081, 5.21401307, 0.0], [0.0, 8.32019881, 1.58102041, 2.92987024, 0.0]]),
    np.array([[-1.09989127, -0.17242821, -0.87785842], [0.04221375, 0.58281521, -1.10061918]]),
    np.array([[1.14472371], [0.90159072]]),
    np.array([[0.53035547, 8.02565606, 4.10524802, 5.78975856, 0.53035547],
              [-0.69166075, -1.71413186, -3.81223329, -4.61667916, -0.69166075],
              [-0.39675353, -2.62563561, -4.82528105, -6.0607449, -0.39675353]]),
    np.array([[True, False, True, False, True], [False, True, False, True, True], [False, False, True, False, False]]),
    np.array([[1.06071093, 0.0, 8.21049603, 0.0, 1.06071093], [0.0] * 5, [0.0] * 5]),
    np.array([[0.50249434, 0.90085595], [-0.68372786, -0.12289023], [-0.93576943, -0.26788808]]),
    np.array([[0.53035547], [-0.69166075], [-0.39675353]]),
    np.array([[-0.7415562, -0.0126646, -5.65469333, -0.0126646, -0.7415562]]),
    np.array([[0.32266394, 0.49683389, 0.00348883, 0.49683389, 0.32266394]]),
    np.array([[-0.6871727, -0.84520564, -0.67124613]]),
    np.array([[-0.0126646]]),
)
_DROP_EXPECTED = {  # backward_propagation_with_dropout, keep_prob = 0.8
    "dA1": np.array([[0.36544439, 0.0, -0.00188233, 0.0, -0.17408748], [0.65515713, 0.0, -0.00337459, 0.0, -0.0]]),
    "dA2": np.array([[0.58180856, 0.0, -0.00299679, 0.0, -0.27715731],
                     [0.0, 0.53159854, -0.0, 0.53159854, -0.34089673],
                     [0.0, 0.0, -0.00292733, 0.0, -0.0]]),
    "dW1": np.array([[0.00019884, 0.00028657, 0.00012138], [0.00035647, 0.00051375, 0.00021761]]),
    "dW2": np.array([[-0.00256518, -0.0009476], [0.0, 0.0], [0.0, 0.0]]),
    "dW3": np.array([[-0.06951191, 0.0, 0.0]]),
    "db1": np.array([[-0.00037647], [-0.00067492]]),
    "db2": np.array([[0.06033089], [0.0], [0.0]]),
    "db3": np.array([[-0.2715031]]),
}
_DROPOUT_A3 = np.array([[0.36974721, 0.00305176, 0.04565099, 0.49683389, 0.36974721]])  # keep_prob = 0.7


def _bf(a):
    """Column-major course array (n_l, m) or (n_l, n_{l-1}) -> batch-first: its transpose."""
    return np.asarray(a).T.astype(np.float64)


def _course_bias(a):  # biases are always (n, 1) in the course, also for n = 1
    return np.asarray(a)[:, 0].astype(np.float64)


def _cache_bf(cache, bias_positions):
    return tuple(_f32(_course_bias(a) if i in bias_positions else _bf(a)) for i, a in enumerate(cache))


def _course_params(seed_first_x: bool):
    rng = np.random.RandomState(1)
    X = rng.randn(3, 5) if seed_first_x else None
    shapes = [("W1", (2, 3)), ("b1", (2, 1)), ("W2", (3, 2)), ("b2", (3, 1)), ("W3", (1, 3)), ("b3", (1, 1))]
    params = {k: rng.randn(*s) for k, s in shapes}
    return X, params


def _params_bf(params):
    return {k: _f32(_course_bias(v) if k.startswith("b") else v.T) for k, v in params.items()}


def test_compute_cost_with_regularization_course_value():
    _, params = _course_params(seed_first_x=False)
    cost = reg_sol.compute_cost_with_regularization(_f32(_COURSE_A3.T), _f32(_Y5.T), _params_bf(params), 0.1)
    _assert_close(cost, np.float64(1.7864859451590758), rtol=1e-6, name="cost")


def _np_cost(A3, Y, params, lambd):
    """reg_utils.compute_cost + the L2 term, course layout (A3, Y (1, m), W (n_l, n_{l-1}))."""
    m = Y.shape[1]
    ce = 1.0 / m * np.nansum(-Y * np.log(A3) - (1 - Y) * np.log(1 - A3))
    return ce + lambd / (2 * m) * sum(np.sum(np.square(params[f"W{l}"])) for l in (1, 2, 3))


@pytest.mark.parametrize("m,lambd", [(7, 0.7), (30, 0.05)])
def test_compute_cost_with_regularization_matches_numpy(m, lambd):
    rng = np.random.default_rng(m)
    params = {"W1": rng.standard_normal((4, 3)), "b1": rng.standard_normal((4, 1)),
              "W2": rng.standard_normal((2, 4)), "b2": rng.standard_normal((2, 1)),
              "W3": rng.standard_normal((1, 2)), "b3": rng.standard_normal((1, 1))}
    A3 = rng.uniform(0.05, 0.95, (1, m))
    Y = (rng.uniform(size=(1, m)) < 0.5).astype(np.float64)
    got = reg_sol.compute_cost_with_regularization(_f32(A3.T), _f32(Y.T), _params_bf(params), lambd)
    _assert_close(got, np.float64(_np_cost(A3, Y, params, lambd)), rtol=1e-5, name="cost")
    jitted = jax.jit(reg_sol.compute_cost_with_regularization, static_argnums=3)(_f32(A3.T), _f32(Y.T), _params_bf(params), lambd)
    np.testing.assert_allclose(float(jitted), float(got), rtol=1e-6)


_REG_CACHE_BIASES = {3, 7, 11}
_DROP_CACHE_BIASES = {4, 9, 13}


def test_backward_with_regularization_course_values():
    X, _ = _course_params(seed_first_x=True)
    grads = reg_sol.backward_propagation_with_regularization(
        _f32(X.T), _f32(_Y5.T), _cache_bf(_REG_CACHE, _REG_CACHE_BIASES), 0.7)
    assert sorted(grads) == sorted(["dZ3", "dW3", "db3", "dA2", "dZ2", "dW2", "db2", "dA1", "dZ1", "dW1", "db1"])
    for k, v in _REG_EXPECTED.items():
        _assert_close(grads[k], _course_bias(v) if k.startswith("db") else v.T, atol=2e-6, name=k)


def _np_forward(X, params, masks=None, keep_prob=1.0):
    """The course's forward pass (column-major), with dropout masks given as (n_l, m)."""
    Z1 = params["W1"] @ X + params["b1"]
    A1 = np.maximum(0, Z1)
    if masks is not None:
        A1 = A1 * masks[0] / keep_prob
    Z2 = params["W2"] @ A1 + params["b2"]
    A2 = np.maximum(0, Z2)
    if masks is not None:
        A2 = A2 * masks[1] / keep_prob
    Z3 = params["W3"] @ A2 + params["b3"]
    A3 = 1 / (1 + np.exp(-Z3))
    return (Z1, A1, Z2, A2, Z3, A3)


def _np_backward(X, Y, params, fwd, lambd=0.0, masks=None, keep_prob=1.0):
    """reg_utils.backward_propagation (+ L2 or dropout, as in the notebook), column-major."""
    m = X.shape[1]
    Z1, A1, Z2, A2, Z3, A3 = fwd
    W1, W2, W3 = params["W1"], params["W2"], params["W3"]
    g = {}
    g["dZ3"] = dZ3 = A3 - Y
    g["dW3"] = 1.0 / m * dZ3 @ A2.T + lambd / m * W3
    g["db3"] = 1.0 / m * np.sum(dZ3, axis=1, keepdims=True)
    dA2 = W3.T @ dZ3
    if masks is not None:
        dA2 = dA2 * masks[1] / keep_prob
    g["dA2"] = dA2
    g["dZ2"] = dZ2 = dA2 * (A2 > 0)
    g["dW2"] = 1.0 / m * dZ2 @ A1.T + lambd / m * W2
    g["db2"] = 1.0 / m * np.sum(dZ2, axis=1, keepdims=True)
    dA1 = W2.T @ dZ2
    if masks is not None:
        dA1 = dA1 * masks[0] / keep_prob
    g["dA1"] = dA1
    g["dZ1"] = dZ1 = dA1 * (A1 > 0)
    g["dW1"] = 1.0 / m * dZ1 @ X.T + lambd / m * W1
    g["db1"] = 1.0 / m * np.sum(dZ1, axis=1, keepdims=True)
    return g


def _random_problem(seed, dims=(3, 4, 3, 1), m=9):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], m))
    Y = (rng.uniform(size=(1, m)) < 0.5).astype(np.float64)
    params = {}
    for l in range(1, 4):
        params[f"W{l}"] = rng.standard_normal((dims[l], dims[l - 1]))
        params[f"b{l}"] = 0.3 * rng.standard_normal((dims[l], 1))
    return X, Y, params


def _grads_close(grads, expected_course_layout, rtol=1e-4, atol=1e-5):
    for k, v in expected_course_layout.items():
        want = _course_bias(v) if k.startswith("db") else v.T
        _assert_close(grads[k], want, rtol=rtol, atol=atol, name=k)


@pytest.mark.parametrize("seed,dims", [(0, (3, 4, 3, 1)), (1, (2, 20, 3, 1)), (2, (5, 6, 6, 1))])
def test_backward_with_regularization_matches_numpy_and_jax_grad(seed, dims):
    X, Y, params = _random_problem(seed, dims)
    Xb, Yb, pb = _f32(X.T), _f32(Y.T), _params_bf(params)
    _, cache = reg_sol.forward_propagation(Xb, pb)
    grads = reg_sol.backward_propagation_with_regularization(Xb, Yb, cache, 0.7)
    _grads_close(grads, _np_backward(X, Y, params, _np_forward(X, params), lambd=0.7))

    def cost(p):  # an independent transcription of J + L2
        Z3 = jax.nn.relu(jax.nn.relu(Xb @ p["W1"] + p["b1"][None]) @ p["W2"] + p["b2"][None]) @ p["W3"] + p["b3"][None]
        ce = jnp.mean(jax.nn.softplus(Z3) - Yb * Z3)  # cross-entropy of sigmoid(Z3), stably
        return ce + 0.7 / (2 * Xb.shape[0]) * sum(jnp.sum(p[f"W{l}"] ** 2) for l in (1, 2, 3))

    auto = jax.grad(cost)(pb)
    for k in pb:
        np.testing.assert_allclose(np.asarray(grads["d" + k]), np.asarray(auto[k]), rtol=1e-4, atol=1e-6, err_msg=k)
    jitted = jax.jit(reg_sol.backward_propagation_with_regularization, static_argnums=3)(Xb, Yb, cache, 0.7)
    for k in grads:
        np.testing.assert_allclose(np.asarray(jitted[k]), np.asarray(grads[k]), rtol=1e-6, atol=1e-7)


class _CourseMasks:
    """Stands in for ``jax`` inside forward_propagation_with_dropout: ``split`` and ``uniform``
    replay the course's ``np.random.seed(1); rand(n_1, m); rand(n_2, m)``, transposed."""

    def __init__(self):
        rng = np.random.RandomState(1)
        self._draws = {"k1": None, "k2": None}
        self._rng = rng
        self.random = types.SimpleNamespace(split=self._split, uniform=self._uniform)

    def _split(self, key, num=2):
        assert num == 2
        return "k1", "k2"

    def _uniform(self, key, shape, dtype=jnp.float32, minval=0.0, maxval=1.0):
        m, n = shape
        if key == "k1":
            self._draws["k1"] = self._rng.rand(n, m).T
        else:
            assert self._draws["k1"] is not None, "D1 must be drawn before D2"
            self._draws["k2"] = self._rng.rand(n, m).T
        return jnp.asarray(self._draws[key], dtype)


def test_forward_with_dropout_course_value_with_the_course_masks():
    X, params = _course_params(seed_first_x=True)
    fn = reg_sol.forward_propagation_with_dropout
    with_course_masks = types.FunctionType(fn.__code__, {**fn.__globals__, "jax": _CourseMasks()}, fn.__name__,
                                           fn.__defaults__)
    A3, cache = with_course_masks("key", _f32(X.T), _params_bf(params), 0.7)
    _assert_close(A3, _DROPOUT_A3.T, atol=2e-6, name="A3")
    assert len(cache) == 14


@pytest.mark.parametrize("keep_prob", [0.5, 0.7, 0.86, 1.0])
@pytest.mark.parametrize("seed,dims", [(0, (3, 2, 3, 1)), (1, (2, 20, 3, 1))])
def test_forward_with_dropout_matches_numpy_with_the_key_convention(keep_prob, seed, dims):
    X, Y, params = _random_problem(seed, dims, m=11)
    key = jax.random.key(seed + 10)
    A3, cache = reg_sol.forward_propagation_with_dropout(key, _f32(X.T), _params_bf(params), keep_prob)
    key1, key2 = jax.random.split(key)
    D1 = np.asarray(jax.random.uniform(key1, (11, dims[1]), dtype=jnp.float32) < keep_prob, np.float64)
    D2 = np.asarray(jax.random.uniform(key2, (11, dims[2]), dtype=jnp.float32) < keep_prob, np.float64)
    Z1, A1, Z2, A2, Z3, A3_np = _np_forward(X, params, masks=(D1.T, D2.T), keep_prob=keep_prob)
    expected = (Z1.T, D1, A1.T, None, None, Z2.T, D2, A2.T, None, None, Z3.T, A3_np.T)
    _assert_close(A3, A3_np.T, rtol=1e-5, atol=1e-6, name="A3")
    for i, want in enumerate(expected):
        if want is not None:
            _assert_close(cache[i], want, rtol=1e-5, atol=1e-5, name=f"cache[{i}]")
    for i, k in [(3, "W1"), (4, "b1"), (8, "W2"), (9, "b2"), (12, "W3"), (13, "b3")]:
        np.testing.assert_array_equal(np.asarray(cache[i]), np.asarray(_params_bf(params)[k]))
    # jit, same key -> same masks, another key -> other masks
    jitted = jax.jit(reg_sol.forward_propagation_with_dropout)(key, _f32(X.T), _params_bf(params), keep_prob)
    np.testing.assert_allclose(np.asarray(jitted[0]), np.asarray(A3), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(jitted[1][1]), np.asarray(cache[1]))


def test_dropout_mask_rate_and_inverted_scaling():
    X = jnp.ones((4000, 3), jnp.float32)
    params = {"W1": jnp.ones((3, 50), jnp.float32), "b1": jnp.zeros((50,), jnp.float32),
              "W2": jnp.full((50, 40), 0.02, jnp.float32), "b2": jnp.zeros((40,), jnp.float32),
              "W3": jnp.zeros((40, 1), jnp.float32), "b3": jnp.zeros((1,), jnp.float32)}
    _, cache = reg_sol.forward_propagation_with_dropout(jax.random.key(0), X, params, 0.8)
    D1, A1 = np.asarray(cache[1]), np.asarray(cache[2])
    assert cache[1].dtype == jnp.float32 and set(np.unique(D1)) <= {0.0, 1.0}
    assert abs(D1.mean() - 0.8) < 0.01
    assert abs(A1.mean() - 3.0) < 0.05  # E[A1] = 3 kept: inverted dropout preserves the mean
    _, cache2 = reg_sol.forward_propagation_with_dropout(jax.random.key(1), X, params, 0.8)
    assert not np.array_equal(np.asarray(cache2[1]), D1)


def test_backward_with_dropout_course_values():
    X, _ = _course_params(seed_first_x=True)
    cache = _cache_bf(_DROP_CACHE, _DROP_CACHE_BIASES)
    grads = reg_sol.backward_propagation_with_dropout(_f32(X.T), _f32(_Y5.T), cache, 0.8)
    for k, v in _DROP_EXPECTED.items():
        want = _course_bias(v) if k.startswith("db") else v.T
        _assert_close(grads[k], want, atol=2e-6, name=k)


@pytest.mark.parametrize("keep_prob", [0.6, 0.86])
@pytest.mark.parametrize("seed,dims", [(0, (3, 4, 3, 1)), (3, (2, 20, 3, 1))])
def test_backward_with_dropout_matches_numpy_and_jax_grad(keep_prob, seed, dims):
    X, Y, params = _random_problem(seed, dims)
    Xb, Yb, pb = _f32(X.T), _f32(Y.T), _params_bf(params)
    key = jax.random.key(seed)
    _, cache = reg_sol.forward_propagation_with_dropout(key, Xb, pb, keep_prob)
    grads = reg_sol.backward_propagation_with_dropout(Xb, Yb, cache, keep_prob)
    D1, D2 = np.asarray(cache[1], np.float64).T, np.asarray(cache[6], np.float64).T
    fwd = _np_forward(X, params, masks=(D1, D2), keep_prob=keep_prob)
    _grads_close(grads, _np_backward(X, Y, params, fwd, masks=(D1, D2), keep_prob=keep_prob))  # dA1, dA2 too

    def cost(p):  # same key -> same masks: dropout is then a differentiable function of p
        Z3 = reg_sol.forward_propagation_with_dropout(key, Xb, p, keep_prob)[1][10]
        return jnp.mean(jax.nn.softplus(Z3) - Yb * Z3)  # cross-entropy of sigmoid(Z3), stably

    auto = jax.grad(cost)(pb)
    for k in pb:
        np.testing.assert_allclose(np.asarray(grads["d" + k]), np.asarray(auto[k]), rtol=1e-4, atol=1e-6, err_msg=k)


def test_regularized_training_runs_and_vmaps_over_seeds():
    from jaxdl import datasets

    X, y, _, _ = datasets.football(n_train=60, n_test=10)
    Y = y.astype(jnp.float32)[:, None]
    keys = jax.random.split(jax.random.key(0), 2)
    for options in ({"lambd": 0.7}, {"keep_prob": 0.86}):
        params, costs = jax.jit(jax.vmap(lambda k: reg_sol.train(k, X, Y, 0.3, 50, **options)))(keys)
        assert costs.shape == (2, 50) and bool(jnp.all(jnp.isfinite(costs)))
        assert bool(jnp.all(costs[:, -1] < costs[:, 0]))
        assert params["W1"].shape == (2, 2, 20)


# =========================================================================== gradient checking


def test_one_dimensional_functions_course_values():
    assert gc_sol.forward_propagation(2.0, 4.0) == 8.0
    assert gc_sol.backward_propagation(3.0, 4.0) == 3.0
    assert gc_sol.backward_propagation(2.0, 4.0) == 2.0
    x, theta = jnp.float32(3.0), jnp.float32(4.0)
    assert gc_sol.forward_propagation(x, theta).dtype == jnp.float32
    assert float(jax.grad(gc_sol.forward_propagation, argnums=1)(x, theta)) == float(gc_sol.backward_propagation(x, theta))


@pytest.mark.parametrize("x,expected", [(3.0, 7.814075313343006e-11), (2.0, 2.919335883291695e-10)])
def test_gradient_check_course_values(x, expected):
    for args in [(x, 4.0), (jnp.float32(x), jnp.float32(4.0)), (np.float64(x), np.float64(4.0))]:
        d = gc_sol.gradient_check(*args)
        assert type(d) is float
        assert d < 1e-7
        np.testing.assert_allclose(d, expected, rtol=1e-6)
    assert jnp.zeros(1).dtype == jnp.float32  # x64 did not leak


def test_gradient_check_prints_verdict(capsys):
    gc_sol.gradient_check(3.0, 4.0, print_msg=True)
    assert "works perfectly fine" in capsys.readouterr().out


def test_course_test_case_is_the_course_draw():
    X, Y, params = gc_sol.course_test_case()
    assert X.shape == (3, 4) and Y.shape == (3, 1)
    assert [params[k].shape for k in gc_sol.parameter_names(params)] == [(4, 5), (5,), (5, 3), (3,), (3, 1), (1,)]
    np.testing.assert_allclose(X[0], [1.62434536, -1.07296862, 1.74481176, -0.24937038], atol=1e-8)
    np.testing.assert_allclose(params["b3"], [0.28558733], atol=1e-8)


def test_gradient_check_n_course_values_buggy_and_fixed():
    X, Y, params = gc_sol.course_test_case()
    buggy = gc_sol.backprop_gradients(gc_sol.backward_propagation_n_buggy, X, Y, params)
    fixed = gc_sol.backprop_gradients(gc_sol.backward_propagation_n, X, Y, params)
    d_buggy = gc_sol.gradient_check_n(params, buggy, X, Y)
    d_fixed = gc_sol.gradient_check_n(params, fixed, X, Y)
    assert type(d_buggy) is float and type(d_fixed) is float
    np.testing.assert_allclose(d_buggy, 0.2850931567761623, rtol=1e-8)
    assert d_fixed < 2e-7
    np.testing.assert_allclose(d_fixed, 1.1890913024229996e-07, rtol=1e-3)
    assert jnp.zeros(1).dtype == jnp.float32


def test_gradient_check_n_float32_inputs_still_checked_in_float64():
    X, Y, params = gc_sol.course_test_case()
    X32, Y32 = _f32(X), _f32(Y)
    p32 = {k: _f32(v) for k, v in params.items()}
    _, cache = gc_sol.forward_propagation_n(X32, Y32, p32)
    grads = gc_sol.backward_propagation_n(X32, Y32, cache)
    assert grads["dW1"].dtype == jnp.float32
    assert gc_sol.gradient_check_n(p32, grads, X32, Y32) < 2e-7
    assert gc_sol.gradient_check_n_float32(p32, grads, X32, Y32) > 1e-2  # why float64 is needed


@pytest.mark.parametrize("dims,m,seed", [((5, 4, 2, 1), 8, 0)])
def test_gradient_check_n_agrees_with_jaxdl_gradcheck(dims, m, seed):
    from jaxdl.gradcheck import gradient_check

    keys = jax.random.split(jax.random.key(seed), 5)
    X = jax.random.normal(keys[0], (m, dims[0]), dtype=jnp.float32)
    Y = (jax.random.uniform(keys[1], (m, 1)) < 0.5).astype(jnp.float32)
    params = {}
    for l in range(1, 4):
        params[f"W{l}"] = jax.random.normal(keys[l + 1], (dims[l - 1], dims[l]), dtype=jnp.float32)
        params[f"b{l}"] = jnp.full((dims[l],), 0.1, jnp.float32)
    _, cache = gc_sol.forward_propagation_n(X, Y, params)
    cost = lambda p: gc_sol.forward_propagation_n(X, Y, p)[0]  # noqa: E731
    # right gradients: both ~1e-8 to 1e-7, i.e. rounding noise (the library's vmapped, compiled
    # evaluation rounds differently, so only the order of magnitude is shared)
    grads = gc_sol.backward_propagation_n(X, Y, cache)
    ours, lib = gc_sol.gradient_check_n(params, grads, X, Y), gradient_check(cost, params, grads)
    assert ours < 2e-7 and lib < 2e-7 and abs(ours - lib) < 3e-8
    # buggy gradients, or a larger epsilon (truncation error dominates): the same number
    buggy = gc_sol.backward_propagation_n_buggy(X, Y, cache)
    np.testing.assert_allclose(gc_sol.gradient_check_n(params, buggy, X, Y), gradient_check(cost, params, buggy),
                               rtol=1e-6)
    assert gc_sol.gradient_check_n(params, buggy, X, Y) > 1e-2
    np.testing.assert_allclose(gc_sol.gradient_check_n(params, grads, X, Y, 1e-3),
                               gradient_check(cost, params, grads, eps=1e-3), rtol=1e-4)


def test_backward_propagation_n_matches_numpy_and_jax_grad():
    X, Y, params = gc_sol.course_test_case()
    with jax.enable_x64(True):
        p64 = {k: jnp.asarray(v) for k, v in params.items()}
        X64, Y64 = jnp.asarray(X), jnp.asarray(Y)
        _, cache = gc_sol.forward_propagation_n(X64, Y64, p64)
        grads = gc_sol.backward_propagation_n(X64, Y64, cache)
        auto = jax.grad(lambda p: gc_sol.forward_propagation_n(X64, Y64, p)[0])(p64)
        for k in p64:
            assert grads["d" + k].dtype == jnp.float64
            np.testing.assert_allclose(np.asarray(grads["d" + k]), np.asarray(auto[k]), rtol=1e-10, atol=1e-14)
    # the course's (fixed) backward_propagation_n, column-major
    cp = {k: (v.T if k.startswith("W") else v[:, None]) for k, v in params.items()}
    fwd = _np_forward(X.T, cp)
    expected = _np_backward(X.T, Y.T, cp, fwd)
    for k in ("dW1", "db1", "dW2", "db2", "dW3", "db3", "dA1", "dA2", "dZ1", "dZ2", "dZ3"):
        want = expected[k][:, 0] if k.startswith("db") else expected[k].T
        np.testing.assert_allclose(np.asarray(grads[k]), want, rtol=1e-10, atol=1e-14, err_msg=k)
    # float32 in, float32 out; jit-compatible
    X32, Y32, p32 = _f32(X), _f32(Y), {k: _f32(v) for k, v in params.items()}
    _, cache32 = gc_sol.forward_propagation_n(X32, Y32, p32)
    g32 = jax.jit(gc_sol.backward_propagation_n)(X32, Y32, cache32)
    for k in ("dW1", "db1", "dW2", "db2", "dW3", "db3"):
        assert g32[k].dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(g32[k]), np.asarray(grads[k]), rtol=1e-4, atol=1e-6)


def test_vector_helpers_round_trip_in_course_order():
    _, _, params = gc_sol.course_test_case()
    theta, shapes = gc_sol.dictionary_to_vector(params)
    assert theta.shape == (47,) and list(shapes) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    np.testing.assert_array_equal(np.asarray(theta[:5]), params["W1"].astype(np.float32).ravel()[:5])
    back = gc_sol.vector_to_dictionary(theta, shapes)
    for k in params:
        np.testing.assert_allclose(np.asarray(back[k]), params[k], rtol=1e-7)
    grads = {"d" + k: v for k, v in params.items()} | {"dZ1": np.zeros(3)}
    np.testing.assert_array_equal(np.asarray(gc_sol.gradients_to_vector(grads)), np.asarray(theta))


# =========================================================================== import policy, stubs


@pytest.mark.parametrize("assignment", sorted(SOLUTIONS))
def test_solution_does_not_use_the_answers_outside_the_experiment(assignment):
    tree = ast.parse(SOLUTIONS[assignment].read_text())
    graded = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in GRADED[assignment]]
    assert sorted(n.name for n in graded) == sorted(GRADED[assignment])
    # only what runs on import counts: the experiment cells (`if __name__ == "__main__":`) may use the library
    uses = forbidden_uses(SOLUTIONS[assignment], policy_banned(IDS[assignment]), skip_main=True)
    assert not uses, uses
    for fn in graded:
        assert "jaxdl" not in ast.unparse(fn), fn.name


@pytest.mark.parametrize("assignment", sorted(SOLUTIONS))
def test_stub_imports_cheaply_and_graded_functions_are_holes(assignment):
    assert STUBS[assignment].exists(), "run python tools/make_stubs.py"
    stub, seconds = load_stub(IDS[assignment])
    assert seconds < 5.0
    args = {
        "initialize_parameters_zeros": ([3, 2, 1],),
        "initialize_parameters_random": (jax.random.key(0), [3, 2, 1]),
        "initialize_parameters_he": (jax.random.key(0), [3, 2, 1]),
        "compute_cost_with_regularization": (jnp.full((5, 1), 0.5), jnp.ones((5, 1)),
                                             init_sol.initialize_parameters_he(jax.random.key(0), [3, 2, 3, 1]), 0.1),
        "backward_propagation_with_regularization": None,
        "forward_propagation_with_dropout": (jax.random.key(0), jnp.ones((5, 3)),
                                             init_sol.initialize_parameters_he(jax.random.key(0), [3, 2, 3, 1]), 0.7),
        "backward_propagation_with_dropout": None,
        "forward_propagation": (2.0, 4.0),
        "backward_propagation": (2.0, 4.0),
        "gradient_check": (3.0, 4.0),
        "gradient_check_n": None,
        "backward_propagation_n": None,
    }
    X, Y, params = gc_sol.course_test_case()
    p = init_sol.initialize_parameters_he(jax.random.key(0), [3, 2, 3, 1])
    _, reg_cache = reg_sol.forward_propagation(jnp.ones((5, 3)), p)
    _, drop_cache = reg_sol.forward_propagation_with_dropout(jax.random.key(0), jnp.ones((5, 3)), p, 0.7)
    _, gc_cache = gc_sol.forward_propagation_n(_f32(X), _f32(Y), {k: _f32(v) for k, v in params.items()})
    args["backward_propagation_with_regularization"] = (jnp.ones((5, 3)), jnp.ones((5, 1)), reg_cache, 0.7)
    args["backward_propagation_with_dropout"] = (jnp.ones((5, 3)), jnp.ones((5, 1)), drop_cache, 0.7)
    args["gradient_check_n"] = (params, {"d" + k: v for k, v in params.items()}, X, Y)
    args["backward_propagation_n"] = (_f32(X), _f32(Y), gc_cache)
    assert_holes(stub, {name: args[name] for name in GRADED[assignment]})


# =========================================================================== mistakes


def _nonlinear_1d(module):
    module.forward_propagation = lambda x, theta: x * theta ** 3
    module.backward_propagation = lambda x, theta: 3 * x * theta ** 2
    return module


def _mistake_calls(name: str):
    """Calls `f(module) -> output` on which a mistake in `name` should change the output."""
    p = init_sol.initialize_parameters_he(jax.random.key(0), [3, 2, 3, 1])
    X5 = jax.random.normal(jax.random.key(1), (5, 3), dtype=jnp.float32)
    Y5 = _f32(_Y5.T)
    _, course_params = _course_params(seed_first_x=False)
    Xc, _ = _course_params(seed_first_x=True)
    X, Y, gc_params = gc_sol.course_test_case()
    gc_grads = gc_sol.backprop_gradients(gc_sol.backward_propagation_n, X, Y, gc_params)
    _, gc_cache = gc_sol.forward_propagation_n(_f32(X), _f32(Y), {k: _f32(v) for k, v in gc_params.items()})
    return {
        "initialize_parameters_zeros": [lambda mod: mod.initialize_parameters_zeros([4, 3, 2, 1])],
        "initialize_parameters_random": [lambda mod: mod.initialize_parameters_random(jax.random.key(0), [4, 3, 2, 1])],
        "initialize_parameters_he": [lambda mod: mod.initialize_parameters_he(jax.random.key(0), [4, 3, 2, 1])],
        "compute_cost_with_regularization": [
            lambda mod: mod.compute_cost_with_regularization(_f32(_COURSE_A3.T), Y5, _params_bf(course_params), 0.1),
            lambda mod: mod.compute_cost_with_regularization(jnp.full((5, 1), 0.5), Y5, p, 1.0)],
        "backward_propagation_with_regularization": [
            lambda mod: mod.backward_propagation_with_regularization(
                _f32(Xc.T), Y5, _cache_bf(_REG_CACHE, _REG_CACHE_BIASES), 0.7)],
        "forward_propagation_with_dropout": [
            lambda mod: mod.forward_propagation_with_dropout(jax.random.key(2), X5, p, 0.7)],
        "backward_propagation_with_dropout": [
            lambda mod: mod.backward_propagation_with_dropout(
                _f32(Xc.T), Y5, _cache_bf(_DROP_CACHE, _DROP_CACHE_BIASES), 0.8)],
        "forward_propagation": [lambda mod: mod.forward_propagation(2.0, 4.0)],
        "backward_propagation": [lambda mod: mod.backward_propagation(3.0, 4.0)],
        "gradient_check": [lambda mod: mod.gradient_check(3.0, 4.0),
                           lambda mod: _nonlinear_1d(mod).gradient_check(3.0, 4.0, 1e-3)],
        "gradient_check_n": [lambda mod: mod.gradient_check_n(gc_params, gc_grads, X, Y),
                             lambda mod: mod.gradient_check_n(gc_params, gc_grads, X, Y, 1e-3)],
        "backward_propagation_n": [lambda mod: mod.backward_propagation_n(_f32(X), _f32(Y), gc_cache)],
    }[name]


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and sorted(a) == sorted(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    if a_arr.shape != b_arr.shape or a_arr.dtype != b_arr.dtype:
        return False
    return bool(np.allclose(a_arr.astype(np.float64), b_arr.astype(np.float64), rtol=1e-2, atol=1e-9))


_REQUIRED = {
    "initialization": {"he_xavier_scale", "he_scale_current_layer", "random_without_x10", "he_weights_transposed",
                       "random_weights_transposed", "zeros_weights_transposed", "random_nonzero_biases",
                       "he_nonzero_biases", "random_key_reused", "he_key_reused"},
    "regularization": {"l2_cost_over_m", "l2_cost_includes_biases", "l2_gradient_missing", "dropout_not_scaled",
                       "dropout_mask_greater", "dropout_on_output_layer", "backward_dropout_masks_not_reapplied"},
    "gradient_checking": {"one_sided_difference", "n_one_sided_difference", "norm_of_one_vector",
                          "n_norm_of_one_vector", "n_epsilon_all_parameters", "n_float32", "float32",
                          "bugs_not_fixed"},
}


@pytest.mark.parametrize("assignment", sorted(MISTAKES))
def test_mistakes_cover_the_listed_ones_and_name_graded_functions(assignment):
    check_mistakes_table(MISTAKES[assignment], GRADED[assignment], _REQUIRED[assignment])


@pytest.mark.parametrize("assignment,slug", [(a, s) for a in sorted(MISTAKES) for s in sorted(MISTAKES[a])])
def test_each_mistake_changes_its_function_output(assignment, slug):
    module, name = with_mistake(IDS[assignment], slug)
    reference = load_solution(IDS[assignment], name=f"week1_{assignment}_reference_{slug}")
    assert getattr(module, name) is not getattr(reference, name)
    differs = False
    for call in _mistake_calls(name):
        expected = call(reference)
        try:
            got = call(module)
        except Exception:
            differs = True
            continue
        differs = differs or not _same(got, expected)
    assert differs, f"mistake {slug} gives the reference output on every test input"
    assert_others_untouched(module, reference, GRADED[assignment], name)


# =========================================================================== the experiments

_EXPERIMENT_OUTPUT = {
    "initialization": ("week1_initialization.png", "he"),
    "regularization": ("week1_regularization.png", "dropout, keep_prob = 0.86"),
    "gradient_checking": (None, "works perfectly fine"),
}


@pytest.mark.slow
@pytest.mark.parametrize("assignment", sorted(SOLUTIONS))
def test_experiment_cells_run(assignment, tmp_path):
    proc = run_experiment(SOLUTIONS[assignment], tmp_path)
    png, marker = _EXPERIMENT_OUTPUT[assignment]
    assert marker in proc.stdout
    if png:
        assert (tmp_path / png).exists()

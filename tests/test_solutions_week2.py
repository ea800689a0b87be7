"""The week2/optimization reference solution: course formulas, course numbers, jaxdl agreement.

- Each graded function agrees with a float64 NumPy transcription of the course's formula
  and, where the course published numbers, with those (its column-major inputs transposed
  to batch-first).
- ``random_mini_batches`` gives exactly the course convention's batches (one
  ``jax.random.permutation(key, m)`` for X and Y; ``jaxdl.data`` uses its own shuffle).
- Ten optimizer steps driven through the solution equal ten steps of ``jaxdl.optim``.
- The decays equal ``jaxdl.schedules.inverse_time_decay``.
- Every mistake in ``grader/course/week2/optimization/mistakes.py`` changes its function's output.
- The ungraded experiment runs (``JAXDL_QUICK=1``, in a subprocess).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.solution_tools import (
    assert_others_untouched,
    check_mistakes_table,
    forbidden_uses,
    load_solution,
    mistakes,
    policy_banned,
    run_experiment,
    solution_path,
    with_mistake,
)

ID = "week2/optimization"
SOLUTION = solution_path(ID)
MISTAKES = mistakes(ID)
GRADED = (
    "update_parameters_with_gd",
    "random_mini_batches",
    "initialize_velocity",
    "update_parameters_with_momentum",
    "initialize_rmsprop",
    "update_parameters_with_rmsprop",
    "initialize_adam",
    "update_parameters_with_adam",
    "update_lr",
    "schedule_lr_decay",
)

sol = load_solution(ID)

SHAPES = {"W1": (3, 4), "b1": (4,), "W2": (4, 2), "b2": (2,)}


def _tree(seed: int, scale: float = 1.0, positive: bool = False, prefix: str = "") -> dict[str, jax.Array]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in SHAPES.items():
        x = scale * rng.standard_normal(shape)
        out[prefix + name] = jnp.asarray(np.abs(x) if positive else x, jnp.float32)
    return out


def _np(tree):
    return {k: np.asarray(v, np.float64) for k, v in tree.items()}


def _assert_tree_close(actual, expected, rtol=1e-5, atol=1e-6):
    assert sorted(actual) == sorted(expected)
    for k in expected:
        a = actual[k]
        assert a.dtype == jnp.float32, f"{k}: dtype {a.dtype}"
        assert a.shape == np.shape(expected[k]), f"{k}: shape {a.shape} != {np.shape(expected[k])}"
        np.testing.assert_allclose(np.asarray(a), expected[k], rtol=rtol, atol=atol, err_msg=k)


# ------------------------------------------------------------------ course test cases
# The course's test inputs (np.random.seed(1); randn in this order), column-major.


def _course_params_grads():
    np.random.seed(1)
    W1, b1 = np.random.randn(2, 3), np.random.randn(2, 1)
    W2, b2 = np.random.randn(3, 2), np.random.randn(3, 1)
    dW1, db1 = np.random.randn(2, 3), np.random.randn(2, 1)
    dW2, db2 = np.random.randn(3, 2), np.random.randn(3, 1)
    # batch-first: W transposed, b flattened
    f = lambda a: jnp.asarray(a.T if a.shape[1] > 1 else a[:, 0], jnp.float32)  # noqa: E731
    params = {"W1": f(W1), "b1": f(b1), "W2": f(W2), "b2": f(b2)}
    grads = {"dW1": f(dW1), "db1": f(db1), "dW2": f(dW2), "db2": f(db2)}
    return params, grads


def _from_course(d):
    """Course expected values (column-major) in batch-first layout."""
    return {k: (v.T if v.shape[1] > 1 else v[:, 0]) for k, v in d.items()}


def test_gd_matches_course_public_test():
    params, grads = _course_params_grads()
    expected = {
        "W1": np.array([[1.63312395, -0.61217855, -0.5339999], [-1.06196243, 0.85396039, -2.3105546]]),
        "b1": np.array([[1.73978682], [-0.77021546]]),
        "W2": np.array([[0.32587637, -0.24814147], [1.47146563, -2.05746183], [-0.32772076, -0.37713775]]),
        "b2": np.array([[1.13773698], [-1.09301954], [-0.16397615]]),
    }
    _assert_tree_close(sol.update_parameters_with_gd(params, grads, 0.01), _from_course(expected))


def test_momentum_matches_course_public_test():
    params, grads = _course_params_grads()
    v = sol.initialize_velocity(params)
    new_params, new_v = sol.update_parameters_with_momentum(params, grads, v, 0.9, 0.01)
    expected_params = {
        "W1": np.array([[1.62522322, -0.61179863, -0.52875457], [-1.071868, 0.86426291, -2.30244029]]),
        "b1": np.array([[1.74430927], [-0.76210776]]),
        "W2": np.array([[0.31972282, -0.24924749], [1.46304371, -2.05987282], [-0.32294756, -0.38336269]]),
        "b2": np.array([[1.1341662], [-1.09920409], [-0.171583]]),
    }
    expected_v = {
        "dW1": np.array([[-0.08778584, 0.00422137, 0.05828152], [-0.11006192, 0.11447237, 0.09015907]]),
        "dW2": np.array([[-0.06837279, -0.01228902], [-0.09357694, -0.02678881], [0.05303555, -0.06916608]]),
        "db1": np.array([[0.05024943], [0.09008559]]),
        "db2": np.array([[-0.03967535], [-0.06871727], [-0.08452056]]),
    }
    _assert_tree_close(new_params, _from_course(expected_params))
    _assert_tree_close(new_v, _from_course(expected_v))


def test_adam_matches_course_public_test():
    # t=2, lr=0.02, beta1=0.8, beta2=0.888, eps=1e-2, from zero moments; the course checks
    # row 0 of each column-major array, i.e. column 0 of our W (and entry 0 of b).
    params, grads = _course_params_grads()
    v, s = sol.initialize_adam(params)
    t, lr, b1, b2, eps = 2, 0.02, 0.8, 0.888, 1e-2
    new_params, new_v, new_s, vc, sc = sol.update_parameters_with_adam(params, grads, v, s, t, lr, b1, b2, eps)
    exp_v = {"dW1": [-0.17557168, 0.00844275, 0.11656304], "dW2": [-0.13674557, -0.02457805],
             "db1": [0.10049887], "db2": [-0.07935071]}
    exp_s = {"dW1": [0.08631117, 0.00019958, 0.03804344], "dW2": [0.05235818, 0.00169142],
             "db1": [0.02828006], "db2": [0.0176303]}
    exp_p = {"W1": [1.63937725, -0.62327448, -0.54308727], "W2": [0.33400549, -0.23563857],
             "b1": [1.72995096], "b2": [1.14852557]}
    c1, c2 = 1 / (1 - b1**t), 1 / (1 - b2**t)

    def row0(a):  # course's a[0] for a column-major (n_out, n_in) array
        a = np.asarray(a)
        return a[:, 0] if a.ndim == 2 else a[:1]

    for k in exp_v:
        np.testing.assert_allclose(row0(new_v[k]), exp_v[k], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(row0(vc[k]), np.array(exp_v[k]) * c1, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(row0(new_s[k]), exp_s[k], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(row0(sc[k]), np.array(exp_s[k]) * c2, rtol=1e-5, atol=1e-7)
    for k in exp_p:
        np.testing.assert_allclose(row0(new_params[k]), exp_p[k], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("args,expected", [((0.5, 2, 1), 0.16666666666666666)])
def test_update_lr_course_value(args, expected):
    out = sol.update_lr(*args)
    assert isinstance(out, float)
    assert math.isclose(out, expected, rel_tol=1e-12)


@pytest.mark.parametrize(
    "args,expected",
    [
        ((0.5, 10, 0.3, 100), 0.5),
        ((0.5, 100, 0.3, 100), 0.3846153846153846),
        ((0.5, 100, 1, 100), 0.25),
        ((0.5, 10, 1, 100), 0.5),
        ((0.3, 1000, 0.25, 100), 0.085714285),
        ((0.3, 100, 0.25, 100), 0.24),
    ],
)
def test_schedule_lr_decay_course_values(args, expected):
    out = sol.schedule_lr_decay(*args)
    assert isinstance(out, float)
    assert math.isclose(out, expected, rel_tol=1e-7)


def test_schedule_lr_decay_default_interval_is_1000():
    assert sol.schedule_lr_decay(0.1, 999, 1.0) == 0.1
    assert math.isclose(sol.schedule_lr_decay(0.1, 1000, 1.0), 0.05)


# ------------------------------------------------------------------ NumPy transcriptions


def _np_momentum(p, g, v, beta, lr):
    v = {k: beta * v[k] + (1 - beta) * g[k] for k in v}
    return {k: p[k] - lr * v["d" + k] for k in p}, v


def _np_rmsprop(p, g, s, beta, lr, eps):
    s = {k: beta * s[k] + (1 - beta) * g[k] ** 2 for k in s}
    return {k: p[k] - lr * g["d" + k] / (np.sqrt(s["d" + k]) + eps) for k in p}, s


def _np_adam(p, g, v, s, t, lr, b1, b2, eps):
    v = {k: b1 * v[k] + (1 - b1) * g[k] for k in v}
    s = {k: b2 * s[k] + (1 - b2) * g[k] ** 2 for k in s}
    vc = {k: v[k] / (1 - b1**t) for k in v}
    sc = {k: s[k] / (1 - b2**t) for k in s}
    return {k: p[k] - lr * vc["d" + k] / (np.sqrt(sc["d" + k]) + eps) for k in p}, v, s, vc, sc


def test_gd_matches_numpy_and_keeps_inputs():
    p, g = _tree(0), _tree(1, prefix="d")
    p_before = {k: np.asarray(v).copy() for k, v in p.items()}
    out = sol.update_parameters_with_gd(p, g, 0.1)
    _assert_tree_close(out, {k: _np(p)[k] - 0.1 * _np(g)["d" + k] for k in p})
    assert out is not p
    for k in p:
        np.testing.assert_array_equal(np.asarray(p[k]), p_before[k])


def test_gd_three_layers():
    p = {"W1": jnp.ones((5, 4)), "b1": jnp.ones((4,)), "W2": jnp.ones((4, 3)), "b2": jnp.ones((3,)),
         "W3": jnp.ones((3, 1)), "b3": jnp.ones((1,))}
    g = {"d" + k: jnp.full(v.shape, 2.0) for k, v in p.items()}
    out = sol.update_parameters_with_gd(p, g, 0.25)
    assert sorted(out) == sorted(p)
    for k in p:
        np.testing.assert_array_equal(np.asarray(out[k]), np.full(p[k].shape, 0.5, np.float32))


@pytest.mark.parametrize("beta,lr", [(0.9, 0.01), (0.0, 0.1), (0.5, 0.3)])
def test_momentum_matches_numpy(beta, lr):
    p, g, v = _tree(0), _tree(1, prefix="d"), _tree(2, prefix="d")
    out_p, out_v = sol.update_parameters_with_momentum(p, g, v, beta, lr)
    ref_p, ref_v = _np_momentum(_np(p), _np(g), _np(v), beta, lr)
    _assert_tree_close(out_p, ref_p)
    _assert_tree_close(out_v, ref_v)


@pytest.mark.parametrize("beta,lr,eps", [(0.9, 0.01, 1e-8), (0.5, 0.1, 1e-2)])
def test_rmsprop_matches_numpy(beta, lr, eps):
    p, g, s = _tree(0), _tree(1, prefix="d"), _tree(2, positive=True, prefix="d")
    out_p, out_s = sol.update_parameters_with_rmsprop(p, g, s, beta, lr, eps)
    ref_p, ref_s = _np_rmsprop(_np(p), _np(g), _np(s), beta, lr, eps)
    _assert_tree_close(out_p, ref_p)
    _assert_tree_close(out_s, ref_s)


@pytest.mark.parametrize("t,lr,b1,b2,eps", [(1, 0.01, 0.9, 0.999, 1e-8), (7, 0.02, 0.8, 0.888, 1e-2)])
def test_adam_matches_numpy(t, lr, b1, b2, eps):
    p, g = _tree(0), _tree(1, prefix="d")
    v, s = _tree(2, 0.1, prefix="d"), _tree(3, 0.1, positive=True, prefix="d")
    outs = sol.update_parameters_with_adam(p, g, v, s, t, lr, b1, b2, eps)
    refs = _np_adam(_np(p), _np(g), _np(v), _np(s), t, lr, b1, b2, eps)
    assert isinstance(outs, tuple) and len(outs) == 5
    for out, ref in zip(outs, refs):
        _assert_tree_close(out, ref, rtol=2e-5)


def test_initializers_are_float32_zeros_with_gradient_keys():
    p = _tree(0)
    v = sol.initialize_velocity(p)
    s = sol.initialize_rmsprop(p)
    va, sa = sol.initialize_adam(p)
    for state in (v, s, va, sa):
        _assert_tree_close(state, {"d" + k: np.zeros(SHAPES[k]) for k in SHAPES}, rtol=0, atol=0)
    assert va is not sa


def test_update_functions_run_under_jit_with_traced_t_and_lr():
    p, g = _tree(0), _tree(1, prefix="d")
    v, s = sol.initialize_adam(p)
    eager = sol.update_parameters_with_adam(p, g, v, s, 3, 0.01)
    jitted = jax.jit(sol.update_parameters_with_adam)(p, g, v, s, jnp.asarray(3, jnp.int32), jnp.float32(0.01))
    for a, b in zip(eager, jitted):
        _assert_tree_close(b, _np(a), rtol=1e-6)
    gd = jax.jit(sol.update_parameters_with_gd)(p, g, jnp.float32(0.1))
    _assert_tree_close(gd, _np(sol.update_parameters_with_gd(p, g, 0.1)), rtol=1e-6)
    mom = jax.jit(sol.update_parameters_with_momentum)(p, g, v, 0.9, jnp.float32(0.1))
    _assert_tree_close(mom[0], _np(sol.update_parameters_with_momentum(p, g, v, 0.9, 0.1)[0]), rtol=1e-6)
    rms = jax.jit(sol.update_parameters_with_rmsprop)(p, g, s, 0.9, jnp.float32(0.1), 1e-8)
    _assert_tree_close(rms[0], _np(sol.update_parameters_with_rmsprop(p, g, s, 0.9, 0.1, 1e-8)[0]), rtol=1e-6)


def test_decays_run_under_jit():
    lr = jax.jit(sol.schedule_lr_decay, static_argnums=3)(jnp.float32(0.5), jnp.float32(250.0), jnp.float32(1.0), 100)
    assert lr.dtype == jnp.float32
    np.testing.assert_allclose(float(lr), 0.5 / 3, rtol=1e-6)
    lr = jax.jit(sol.update_lr)(jnp.float32(0.5), jnp.float32(2.0), jnp.float32(1.0))
    np.testing.assert_allclose(float(lr), 0.5 / 3, rtol=1e-6)


# ------------------------------------------------------------------ mini-batches


def _rows(m: int, n: int = 3):
    X = jnp.arange(m, dtype=jnp.float32)[:, None] + jnp.linspace(0.0, 0.5, n, dtype=jnp.float32)[None, :]
    Y = 10 * jnp.arange(m, dtype=jnp.int32)
    return X, Y


@pytest.mark.parametrize("m,bs", [(148, 64), (7, 2), (128, 64), (5, 10), (300, 64), (9, 1)])
def test_random_mini_batches_equals_course_convention(m, bs):
    X, Y = _rows(m)
    key = jax.random.key(m * 100 + bs)
    ours = sol.random_mini_batches(key, X, Y, bs)
    perm = np.asarray(jax.random.permutation(key, m))
    theirs = [(np.asarray(X)[perm[i:i + bs]], np.asarray(Y)[perm[i:i + bs]]) for i in range(0, m, bs)]
    assert isinstance(ours, list) and len(ours) == len(theirs) == math.ceil(m / bs)
    for (xa, ya), (xb, yb) in zip(ours, theirs):
        assert isinstance(xa, jax.Array) and isinstance(ya, jax.Array)
        np.testing.assert_array_equal(np.asarray(xa), np.asarray(xb))
        np.testing.assert_array_equal(np.asarray(ya), np.asarray(yb))


def test_random_mini_batches_course_sanity_checks():
    # The course's 148-example check: sizes 64, 64, 20; pairs intact; every row once.
    X, Y = _rows(148)
    key = jax.random.key(0)
    batches = sol.random_mini_batches(key, X, Y, 64)
    assert [b[0].shape for b in batches] == [(64, 3), (64, 3), (20, 3)]
    assert [b[1].shape for b in batches] == [(64,), (64,), (20,)]
    perm = np.asarray(jax.random.permutation(key, 148))
    rows = np.concatenate([np.asarray(b[0][:, 0]) for b in batches]).astype(int)
    np.testing.assert_array_equal(rows, perm)
    for xb, yb in batches:
        np.testing.assert_array_equal(np.asarray(xb[:, 0]).astype(int) * 10, np.asarray(yb))
    # same key, same batches; another key, another order
    again = sol.random_mini_batches(key, X, Y, 64)
    np.testing.assert_array_equal(np.asarray(again[0][0]), np.asarray(batches[0][0]))
    other = sol.random_mini_batches(jax.random.key(1), X, Y, 64)
    assert not np.array_equal(np.asarray(other[0][0]), np.asarray(batches[0][0]))


def test_random_mini_batches_under_jit_and_with_numpy_and_2d_labels():
    X, Y = _rows(50)
    key = jax.random.key(3)
    eager = sol.random_mini_batches(key, np.asarray(X), np.asarray(Y)[:, None], 16)
    jitted = jax.jit(lambda k: sol.random_mini_batches(k, X, Y[:, None], 16))(key)
    assert [b[1].shape for b in eager] == [(16, 1), (16, 1), (16, 1), (2, 1)]
    for (xa, ya), (xb, yb) in zip(eager, jitted):
        assert isinstance(xa, jax.Array)
        np.testing.assert_array_equal(np.asarray(xa), np.asarray(xb))
        np.testing.assert_array_equal(np.asarray(ya), np.asarray(yb))


# ------------------------------------------------------------------ against jaxdl.optim / schedules


def _grad_sequence(n: int):
    return [_tree(100 + i, scale=0.5 + 0.1 * i, prefix="d") for i in range(n)]


def _strip(grads):
    return {k[1:]: v for k, v in grads.items()}


@pytest.mark.parametrize("name", ["gd", "momentum", "rmsprop", "adam"])
def test_ten_steps_agree_with_jaxdl_optim(name):
    from jaxdl import optim

    lr, beta, b1, b2, eps = 0.01, 0.9, 0.9, 0.999, 1e-8
    ours = theirs = _tree(0)
    opt = {
        "gd": lambda: optim.sgd(lr),
        "momentum": lambda: optim.momentum(lr, beta=beta),
        "rmsprop": lambda: optim.rmsprop(lr, beta=beta, eps=eps),
        "adam": lambda: optim.adam(lr, beta1=b1, beta2=b2, eps=eps),
    }[name]()
    opt_state = opt.init(theirs)
    v = sol.initialize_velocity(ours)
    s = sol.initialize_rmsprop(ours)
    va, sa = sol.initialize_adam(ours)
    for t, grads in enumerate(_grad_sequence(10), start=1):
        if name == "gd":
            ours = sol.update_parameters_with_gd(ours, grads, lr)
        elif name == "momentum":
            ours, v = sol.update_parameters_with_momentum(ours, grads, v, beta, lr)
        elif name == "rmsprop":
            ours, s = sol.update_parameters_with_rmsprop(ours, grads, s, beta, lr, eps)
        else:
            ours, va, sa, _, _ = sol.update_parameters_with_adam(ours, grads, va, sa, t, lr, b1, b2, eps)
        updates, opt_state = opt.update(_strip(grads), opt_state, theirs)
        theirs = optim.apply_updates(theirs, updates)
        _assert_tree_close(ours, _np(theirs), rtol=1e-5, atol=1e-6)
    if name == "momentum":
        _assert_tree_close(_strip(v), _np(opt_state.v), rtol=1e-5, atol=1e-7)
    if name == "rmsprop":
        _assert_tree_close(_strip(s), _np(opt_state.s), rtol=1e-5, atol=1e-7)
    if name == "adam":
        _assert_tree_close(_strip(va), _np(opt_state.v), rtol=1e-5, atol=1e-7)
        _assert_tree_close(_strip(sa), _np(opt_state.s), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("lr0,rate,interval", [(0.1, 1.0, 1000), (0.5, 0.3, 100), (0.3, 0.25, 7)])
def test_decays_agree_with_jaxdl_schedules(lr0, rate, interval):
    from jaxdl import schedules

    per_epoch = schedules.inverse_time_decay(lr0, rate)
    staircase = schedules.inverse_time_decay(lr0, rate, decay_steps=interval, staircase=True)
    for epoch in (0, 1, 2, interval - 1, interval, 3 * interval + 1, 4999):
        np.testing.assert_allclose(sol.update_lr(lr0, epoch, rate), float(per_epoch(epoch)), rtol=1e-6)
        np.testing.assert_allclose(sol.schedule_lr_decay(lr0, epoch, rate, interval), float(staircase(epoch)),
                                   rtol=1e-6)


# ------------------------------------------------------------------ import policy


def test_solution_does_not_import_the_answers():
    uses = forbidden_uses(SOLUTION, policy_banned(ID))
    assert not uses, f"solution uses {uses}"


# ------------------------------------------------------------------ mistakes


def _mistake_inputs(name: str):
    p, g = _tree(0), _tree(1, prefix="d")
    v, s = _tree(2, 0.3, prefix="d"), _tree(3, 0.3, positive=True, prefix="d")
    X, Y = _rows(7)
    return {
        "update_parameters_with_gd": [(p, g, 0.1)],
        "random_mini_batches": [(jax.random.key(0), X, Y, 2)],
        "initialize_velocity": [(p,)],
        "update_parameters_with_momentum": [(p, g, v, 0.9, 0.1)],
        "initialize_rmsprop": [(p,)],
        "update_parameters_with_rmsprop": [(p, g, s, 0.9, 0.1, 1e-8)],
        "initialize_adam": [(p,)],
        "update_parameters_with_adam": [(p, g, v, s, 1), (p, g, v, s, 2, 0.02, 0.8, 0.888, 1e-2)],
        "update_lr": [(0.5, 2, 1)],
        "schedule_lr_decay": [(0.5, 10, 1, 100)],
    }[name]


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and sorted(a) == sorted(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    if a_arr.shape != b_arr.shape or a_arr.dtype != b_arr.dtype or type(a) is not type(b):
        return False
    return bool(np.allclose(a_arr, b_arr, rtol=1e-5, atol=1e-7))


def test_mistakes_cover_the_listed_ones_and_name_graded_functions():
    required = {
        "momentum_without_one_minus_beta", "adam_without_bias_correction", "adam_t_from_zero",
        "adam_epsilon_inside_sqrt", "rmsprop_divides_by_s", "minibatches_drop_last",
        "minibatches_two_permutations", "update_lr_multiplies", "schedule_without_floor",
    }
    check_mistakes_table(MISTAKES, GRADED, required)


@pytest.mark.parametrize("slug", sorted(MISTAKES))
def test_each_mistake_changes_its_function_output(slug):
    module, name = with_mistake(ID, slug)
    wrong, right = getattr(module, name), getattr(sol, name)
    assert wrong is not right
    differs = False
    for args in _mistake_inputs(name):
        expected = right(*args)
        try:
            got = wrong(*args)
        except Exception:
            # only a mistake that is *meant* to raise may (not the strict test config)
            assert slug in set(), f"mistake {slug} raised on {args!r}"
            differs = True
            continue
        differs = differs or not _same(got, expected)
    assert differs, f"mistake {slug} gives the reference output on every test input"
    assert_others_untouched(module, sol, GRADED, name)


# ------------------------------------------------------------------ the experiment


@pytest.mark.slow
def test_experiment_cells_run(tmp_path):
    proc = run_experiment(SOLUTION, tmp_path)
    assert "Adam + schedule" in proc.stdout
    assert (tmp_path / "week2_optimization_costs.png").exists()
    assert (tmp_path / "week2_optimization_boundaries.png").exists()

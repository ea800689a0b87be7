"""The week3/jax_intro reference solution: course numbers, NumPy and jaxdl agreement, training.

- Each graded function agrees with a NumPy re-implementation and, where they carry over, the
  course's public-test numbers (sigmoid values, one-hot examples, the two total-loss cases).
- ``initialize_parameters`` is exactly ``jaxdl.init.init_mlp(key, dims, "glorot")``;
  ``forward_propagation`` is ``jaxdl.nn.mlp_apply``; ``compute_total_loss`` is ``m`` times
  ``jaxdl.losses.softmax_cross_entropy``.
- ``model`` reaches >= 90% test accuracy on the digits, and is jitted once per batch shape.
- Every mistake in ``grader/course/week3/jax_intro/mistakes.py`` changes its function's output (or, for
  the two slow-model mistakes, how often Python runs the forward pass).
- The ungraded cells run (``JAXDL_QUICK=1``, in a subprocess).
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
    count_calls,
    forbidden_uses,
    load_solution,
    mistakes,
    policy_banned,
    run_experiment,
    solution_path,
    with_mistake,
)

ID = "week3/jax_intro"
SOLUTION = solution_path(ID)
MISTAKES = mistakes(ID)
GRADED = (
    "linear_function",
    "sigmoid",
    "one_hot_matrix",
    "initialize_parameters",
    "forward_propagation",
    "compute_total_loss",
    "model",
)

sol = load_solution(ID)


def _small_params(key, dims=(6, 5, 4, 3)):
    """Parameters with non-zero biases, so a missing bias would show."""
    params = sol.initialize_parameters(key, list(dims))
    k = jax.random.fold_in(key, 99)
    for l in range(1, len(dims)):
        params[f"b{l}"] = 0.1 * jax.random.normal(jax.random.fold_in(k, l), (dims[l],), jnp.float32)
    return params


def _np_forward(X, params):
    L = len(params) // 2
    A = np.asarray(X, np.float64)
    for l in range(1, L + 1):
        Z = A @ np.asarray(params[f"W{l}"], np.float64) + np.asarray(params[f"b{l}"], np.float64)
        A = np.maximum(Z, 0) if l < L else Z
    return A


def _np_total_loss(logits, labels):
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    log_softmax = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return float(np.sum(-np.sum(np.asarray(labels, np.float64) * log_softmax, axis=-1)))


# ------------------------------------------------------------------ linear_function


def test_linear_function_key_convention_and_shape():
    key = jax.random.key(1)
    Y = sol.linear_function(key)
    assert isinstance(Y, jax.Array) and Y.dtype == jnp.float32 and Y.shape == (1, 4)
    kX, kW, kb = jax.random.split(key, 3)
    X = np.asarray(jax.random.normal(kX, (1, 3), jnp.float32), np.float64)
    W = np.asarray(jax.random.normal(kW, (3, 4), jnp.float32), np.float64)
    b = np.asarray(jax.random.normal(kb, (4,), jnp.float32), np.float64)
    np.testing.assert_allclose(np.asarray(Y), X @ W + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(sol.linear_function(key)), np.asarray(Y))
    assert not np.allclose(np.asarray(sol.linear_function(jax.random.key(2))), np.asarray(Y))
    np.testing.assert_allclose(np.asarray(jax.jit(sol.linear_function)(key)), np.asarray(Y), rtol=1e-6)


def test_linear_function_accepts_raw_keys():
    raw = jax.random.PRNGKey(0)
    assert sol.linear_function(raw).shape == (1, 4)


# ------------------------------------------------------------------ sigmoid


@pytest.mark.parametrize("z,expected", [(0, 0.5), (-1, 0.26894143), (12, 0.9999939), (0.0, 0.5), (-1.0, 0.26894143)])
def test_sigmoid_course_values(z, expected):
    out = sol.sigmoid(z)
    assert isinstance(out, jax.Array) and out.dtype == jnp.float32 and out.shape == ()
    np.testing.assert_allclose(float(out), expected, rtol=1e-6)


@pytest.mark.parametrize(
    "z",
    [np.array([[-3, 0, 2]], np.int32), np.array([0.5, -20.0, 30.0], np.float64), jnp.arange(6).reshape(2, 3)],
)
def test_sigmoid_is_float32_for_any_input(z):
    out = sol.sigmoid(z)
    assert out.dtype == jnp.float32 and out.shape == np.shape(z)
    np.testing.assert_allclose(np.asarray(out), 1 / (1 + np.exp(-np.asarray(z, np.float64))), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(sol.sigmoid)(jnp.asarray(z))), np.asarray(out), rtol=1e-6)


# ------------------------------------------------------------------ one_hot_matrix


def test_one_hot_course_examples_batch_first():
    out = sol.one_hot_matrix(jnp.asarray(1), 4)  # a scalar label: a vector, as in the course
    assert out.dtype == jnp.float32 and out.shape == (4,)
    np.testing.assert_array_equal(np.asarray(out), [0, 1, 0, 0])
    out = sol.one_hot_matrix(jnp.asarray([2]), 5)  # one example: a (1, C) row
    np.testing.assert_array_equal(np.asarray(out), [[0, 0, 1, 0, 0]])
    out = sol.one_hot_matrix(jnp.asarray([1, 2, 3, 0, 2, 1]), 4)
    np.testing.assert_array_equal(np.asarray(out), np.eye(4)[[1, 2, 3, 0, 2, 1]])


@pytest.mark.parametrize("C", [1, 6, 10])
def test_one_hot_matches_jaxdl_and_runs_under_jit(C):
    from jaxdl import data

    labels = np.random.default_rng(C).integers(0, C, size=17).astype(np.int32)
    out = sol.one_hot_matrix(labels, C)
    assert out.dtype == jnp.float32 and out.shape == (17, C)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(data.one_hot(jnp.asarray(labels), C)))
    jitted = jax.jit(sol.one_hot_matrix, static_argnums=1)(jnp.asarray(labels), C)
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(out))


# ------------------------------------------------------------------ initialize_parameters


@pytest.mark.parametrize("dims", [[64, 25, 12, 10], [3, 2], [5, 7, 1, 4, 2]])
def test_initialize_parameters_equals_jaxdl_glorot(dims):
    from jaxdl import init

    key = jax.random.key(len(dims))
    params = sol.initialize_parameters(key, dims)
    expected = init.init_mlp(key, dims, method="glorot")
    assert sorted(params) == sorted(expected)
    keys = jax.random.split(key, len(dims) - 1)
    for l in range(1, len(dims)):
        W, b = params[f"W{l}"], params[f"b{l}"]
        assert W.dtype == b.dtype == jnp.float32
        assert W.shape == (dims[l - 1], dims[l]) and b.shape == (dims[l],)
        np.testing.assert_array_equal(np.asarray(W), np.asarray(expected[f"W{l}"]))
        np.testing.assert_array_equal(np.asarray(W), np.asarray(init.glorot_normal(keys[l - 1], W.shape)))
        np.testing.assert_array_equal(np.asarray(b), np.zeros(dims[l], np.float32))


def test_initialize_parameters_course_statistics():
    # the course's test: |mean| < 0.5 and 0 < std < 1 for its layer sizes
    params = sol.initialize_parameters(jax.random.key(1), [12288, 25, 12, 6])
    for l in (1, 2, 3):
        W = np.asarray(params[f"W{l}"])
        assert abs(W.mean()) < 0.5 and 0 < W.std() < 1
    W1 = np.asarray(params["W1"])
    np.testing.assert_allclose(W1.std(), math.sqrt(2 / (12288 + 25)), rtol=0.02)


# ------------------------------------------------------------------ forward_propagation


@pytest.mark.parametrize("dims", [(6, 5, 4, 3), (64, 25, 12, 10), (4, 2), (3, 8, 8, 8, 2)])
def test_forward_propagation_matches_numpy_and_jaxdl(dims):
    from jaxdl import nn

    key = jax.random.key(sum(dims))
    params = _small_params(key, dims)
    X = jax.random.normal(jax.random.fold_in(key, 7), (9, dims[0]), jnp.float32)
    Z = sol.forward_propagation(X, params)
    assert Z.dtype == jnp.float32 and Z.shape == (9, dims[-1])
    np.testing.assert_allclose(np.asarray(Z), _np_forward(X, params), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(Z), np.asarray(nn.mlp_apply(params, X)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(sol.forward_propagation)(X, params)), np.asarray(Z),
                               rtol=1e-6, atol=1e-6)
    assert (np.asarray(Z) < 0).any()  # logits: no ReLU on the last layer


# ------------------------------------------------------------------ compute_total_loss


def test_total_loss_course_test_1():
    # The course's logits (6 classes x 2 examples, column-major) and the labels that give
    # its 0.810287 = 0.25361037 + 0.5566767: classes 5 and 0.
    pred = np.array([[2.4048107, 5.0334096], [-0.7921977, -4.1523376], [0.9447198, -0.46802214],
                     [1.158121, 3.9810789], [4.768706, 2.3220146], [6.1481323, 3.909829]], np.float32)
    logits = jnp.asarray(pred.T)
    labels = sol.one_hot_matrix(jnp.asarray([5, 0]), 6)
    out = sol.compute_total_loss(logits, labels)
    assert out.dtype == jnp.float32 and out.shape == ()
    np.testing.assert_allclose(float(out), 0.810287, rtol=1e-5)


def test_total_loss_course_test_2():
    logits = jnp.asarray([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]).T  # columns [1,1,1], [0,0,0], [0,0,0]
    out = sol.compute_total_loss(logits, jnp.eye(3, dtype=jnp.float32))
    np.testing.assert_allclose(float(out), 3 * math.log(3), rtol=1e-6)


@pytest.mark.parametrize("m,C", [(1, 2), (7, 10), (32, 6)])
def test_total_loss_matches_numpy_and_jaxdl(m, C):
    from jaxdl import losses

    key = jax.random.key(m * C)
    logits = 3 * jax.random.normal(key, (m, C), jnp.float32)
    labels = sol.one_hot_matrix(jax.random.randint(jax.random.fold_in(key, 1), (m,), 0, C), C)
    out = sol.compute_total_loss(logits, labels)
    np.testing.assert_allclose(float(out), _np_total_loss(logits, labels), rtol=1e-5)
    np.testing.assert_allclose(float(out), m * float(losses.softmax_cross_entropy(logits, labels)), rtol=1e-5)
    # its gradient w.r.t. the logits is softmax(z) - y (summed loss: no 1/m)
    g = jax.grad(sol.compute_total_loss)(logits, labels)
    np.testing.assert_allclose(np.asarray(g), np.asarray(jax.nn.softmax(logits) - labels), rtol=1e-5, atol=1e-6)


def test_total_loss_is_stable_for_large_logits():
    logits = jnp.asarray([[1000.0, -1000.0], [-1000.0, 1000.0]])
    labels = jnp.asarray([[0.0, 1.0], [0.0, 1.0]])
    np.testing.assert_allclose(float(sol.compute_total_loss(logits, labels)), 2000.0, rtol=1e-6)


# ------------------------------------------------------------------ model


def _small_problem(m=100, n_x=6, C=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n_x)).astype(np.float32)
    y = rng.integers(0, C, size=m).astype(np.int32)
    return jnp.asarray(X), sol.one_hot_matrix(y, C)


def _count_forward_calls(module):
    """Wrap module.forward_propagation to count how often its Python body runs."""
    return count_calls(module, "forward_propagation", lambda X, parameters: X.shape)


def test_model_reaches_90_percent_on_digits(capsys):
    from jaxdl import data, datasets

    X_train, y_train, X_test, y_test = datasets.digits()
    Y_train, Y_test = data.one_hot(y_train, 10), data.one_hot(y_test, 10)
    params, costs = sol.model(jax.random.key(0), X_train, Y_train, X_test, Y_test,
                              learning_rate=0.001, num_epochs=40, minibatch_size=32, print_cost=True)
    assert "Cost after epoch 0" in capsys.readouterr().out
    assert sorted(params) == ["W1", "W2", "W3", "b1", "b2", "b3"]
    assert params["W1"].shape == (64, 25) and params["W3"].shape == (12, 10) and params["b2"].shape == (12,)
    assert all(p.dtype == jnp.float32 for p in params.values())
    assert isinstance(costs, list) and len(costs) == 40 and all(isinstance(c, float) for c in costs)
    assert costs[-1] < 0.5 * costs[0]
    predictions = np.asarray(jnp.argmax(sol.forward_propagation(X_test, params), axis=-1))
    assert (predictions == np.asarray(y_test)).mean() >= 0.9


def test_model_key_convention_and_costs():
    X, Y = _small_problem()
    key = jax.random.key(5)
    params, costs = sol.model(key, X, Y, X, Y, learning_rate=0.01, num_epochs=3, minibatch_size=32, print_cost=False)
    # the documented convention, replayed by hand: same parameters and costs
    from jaxdl import data, optim

    init_key, shuffle_key = jax.random.split(key)
    p = sol.initialize_parameters(init_key, [6, 25, 12, 3])
    opt = optim.adam(0.01)
    state = opt.init(p)
    loss_and_grad = jax.jit(jax.value_and_grad(
        lambda q, Xb, Yb: sol.compute_total_loss(sol.forward_propagation(Xb, q), Yb)))
    replay_costs = []
    for epoch in range(3):
        total = 0.0
        for Xb, Yb in data.random_minibatches(jax.random.fold_in(shuffle_key, epoch), X, Y, 32):
            loss, grads = loss_and_grad(p, Xb, Yb)
            updates, state = opt.update(grads, state, p)
            p = optim.apply_updates(p, updates)
            total += float(loss)
        replay_costs.append(total / 100)
    np.testing.assert_allclose(costs, replay_costs, rtol=1e-5)
    for k in params:
        np.testing.assert_allclose(np.asarray(params[k]), np.asarray(p[k]), rtol=1e-5, atol=1e-6)


def test_model_traces_the_step_once_per_batch_shape():
    module = load_solution(ID, name="week3_jax_intro_trace_count")
    calls = _count_forward_calls(module)
    X, Y = _small_problem()  # 100 examples in batches of 32: shapes 32 and 4
    module.model(jax.random.key(0), X, Y, X, Y, learning_rate=0.01, num_epochs=3, minibatch_size=32,
                 print_cost=False)
    assert sorted(calls) == [(4, 6), (32, 6)]


# ------------------------------------------------------------------ import policy


def test_solution_imports_only_what_the_policy_allows():
    uses = forbidden_uses(SOLUTION, policy_banned(ID))
    assert not uses, f"solution uses {uses}"


# ------------------------------------------------------------------ mistakes


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and sorted(a) == sorted(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    if a_arr.shape != b_arr.shape or a_arr.dtype != b_arr.dtype:
        return False
    return bool(np.allclose(a_arr, b_arr, rtol=1e-5, atol=1e-6))


def _mistake_inputs(name: str):
    key = jax.random.key(0)
    params = _small_params(key)
    X = jax.random.normal(jax.random.key(1), (5, 6), jnp.float32)
    logits = 2 * jax.random.normal(jax.random.key(2), (5, 3), jnp.float32)
    labels = jax.nn.one_hot(jnp.asarray([0, 2, 1, 1, 0]), 3, dtype=jnp.float32)
    return {
        "linear_function": [(key,)],
        "sigmoid": [(jnp.asarray([0, 1, -1], jnp.int32),), (3,)],
        "one_hot_matrix": [(jnp.asarray([1, 2, 3, 0, 2, 1]), 4)],
        "initialize_parameters": [(key, [6, 5, 4, 3])],
        "forward_propagation": [(X, params)],
        # large logits too: a loss without the max shift overflows there
        "compute_total_loss": [(logits, labels), (logits * 200, labels)],
    }[name]


def test_mistakes_cover_the_listed_ones_and_name_graded_functions():
    required = {"loss_softmax_before_loss", "loss_mean_not_sum", "one_hot_wrong_axis",
                "model_mutates_parameters", "model_rejits_every_epoch"}
    check_mistakes_table(MISTAKES, GRADED, required)


@pytest.mark.parametrize("slug", sorted(s for s in MISTAKES if MISTAKES[s][0] != "model"))
def test_each_mistake_changes_its_function_output(slug):
    module, name = with_mistake(ID, slug)
    wrong, right = getattr(module, name), getattr(sol, name)
    differs = False
    for args in _mistake_inputs(name):
        expected = right(*args)
        try:
            got = wrong(*args)
        except Exception:
            # only a mistake that is *meant* to raise may (not the strict test config)
            assert slug in {"sigmoid_without_cast"}, f"mistake {slug} raised on {args!r}"
            differs = True
            continue
        differs = differs or not _same(got, expected)
    assert differs, f"mistake {slug} gives the reference output on every test input"
    assert_others_untouched(module, sol, GRADED, name)


def test_mistake_mutating_parameters_never_trains():
    module, _ = with_mistake(ID, "model_mutates_parameters")
    X, Y = _small_problem()
    key = jax.random.key(0)
    params, costs = module.model(key, X, Y, X, Y, learning_rate=0.01, num_epochs=3, minibatch_size=32,
                                 print_cost=False)
    reference, _ = sol.model(key, X, Y, X, Y, learning_rate=0.01, num_epochs=3, minibatch_size=32,
                             print_cost=False)
    initial = sol.initialize_parameters(jax.random.split(key)[0], [6, 25, 12, 3])
    assert _same(params, initial) and not _same(params, reference)


@pytest.mark.parametrize("slug,expected_calls", [("model_rejits_every_epoch", 2 * 2), ("model_without_jit", 4 * 2)])
def test_slow_model_mistakes_run_python_more_often(slug, expected_calls):
    # 100 examples, batches of 32 (4 per epoch, 2 shapes), 2 epochs: the reference runs
    # forward_propagation's Python body twice; re-jitting every epoch 2 per epoch; no jit 4 per epoch.
    module, _ = with_mistake(ID, slug)
    calls = _count_forward_calls(module)
    X, Y = _small_problem()
    params, _ = module.model(jax.random.key(0), X, Y, X, Y, learning_rate=0.01, num_epochs=2, minibatch_size=32,
                             print_cost=False)
    assert len(calls) == expected_calls
    reference, _ = sol.model(jax.random.key(0), X, Y, X, Y, learning_rate=0.01, num_epochs=2, minibatch_size=32,
                             print_cost=False)
    assert _same(params, reference)  # same numbers: only the time differs


# ------------------------------------------------------------------ the experiment


@pytest.mark.slow
def test_experiment_cells_run(tmp_path):
    proc = run_experiment(SOLUTION, tmp_path)
    assert "test accuracy" in proc.stdout and "with jit" in proc.stdout
    assert (tmp_path / "week3_jax_intro_cost.png").exists()

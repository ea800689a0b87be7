"""The week3/batch_norm reference solution: NumPy, jaxdl and flax agreement, gradients, training.

- ``softmax`` agrees with a float64 NumPy softmax, rows sum to 1, no nan at logits of 1000.
- ``batchnorm_forward`` agrees with a float64 NumPy re-implementation (train and eval mode),
  with ``jaxdl.nn.batchnorm`` and with ``flax.linen.BatchNorm`` over several steps
  (outputs, running statistics, then eval mode), within 1e-5.
- ``batchnorm_backward`` agrees with ``jax.vjp`` of the training-mode forward pass (float32
  and float64).
- ``forward_propagation_with_batchnorm`` is ``jaxdl.nn.mlp_apply`` with batch norm and zero
  hidden biases, for several depths; state in, state out.
- ``model_with_batchnorm`` reaches >= 90% eval-mode test accuracy on the digits, follows its
  key convention, and compiles its step once per batch shape.
- Each mistake in ``grader/course/week3/batch_norm/mistakes.py`` changes its function's output.
- The ungraded cells run (``JAXDL_QUICK=1``, in a subprocess).
"""

from __future__ import annotations

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

ID = "week3/batch_norm"
SOLUTION = solution_path(ID)
MISTAKES = mistakes(ID)
GRADED = (
    "softmax",
    "batchnorm_forward",
    "batchnorm_backward",
    "forward_propagation_with_batchnorm",
    "model_with_batchnorm",
)

sol = load_solution(ID)


def _bn_inputs(key, m=8, n=5, scale=2.0, shift=1.0):
    k = jax.random.split(key, 5)
    Z = shift + scale * jax.random.normal(k[0], (m, n), jnp.float32)
    gamma = 1.0 + 0.5 * jax.random.normal(k[1], (n,), jnp.float32)
    beta = 0.5 * jax.random.normal(k[2], (n,), jnp.float32)
    running_mean = 0.3 * jax.random.normal(k[3], (n,), jnp.float32)
    running_var = jax.random.uniform(k[4], (n,), jnp.float32, 0.5, 2.0)
    return gamma, beta, Z, running_mean, running_var


def _np_batchnorm(gamma, beta, Z, running_mean, running_var, train, momentum=0.99, eps=1e-5):
    g, b, z, rm, rv = (np.asarray(a, np.float64) for a in (gamma, beta, Z, running_mean, running_var))
    if train:
        mu = z.mean(axis=0)
        var = ((z - mu) ** 2).mean(axis=0)
        new_mean, new_var = momentum * rm + (1 - momentum) * mu, momentum * rv + (1 - momentum) * var
    else:
        mu, var, new_mean, new_var = rm, rv, rm, rv
    z_norm = (z - mu) / np.sqrt(var + eps)
    return g * z_norm + b, new_mean, new_var, z_norm, 1 / np.sqrt(var + eps), z - mu


def _close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=tol, atol=tol)


# ------------------------------------------------------------------ softmax


@pytest.mark.parametrize("shape", [(4, 3), (1, 10), (7, 2), (2, 3, 5)])
def test_softmax_matches_numpy(shape):
    Z = 5 * jax.random.normal(jax.random.key(sum(shape)), shape, jnp.float32)
    out = sol.softmax(Z)
    assert out.dtype == jnp.float32 and out.shape == shape
    z = np.asarray(Z, np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    _close(out, e / e.sum(axis=-1, keepdims=True), 1e-6)
    _close(jnp.sum(out, axis=-1), np.ones(shape[:-1]), 1e-6)
    _close(jax.jit(sol.softmax)(Z), out, 1e-6)


def test_softmax_is_stable_for_large_logits():
    Z = jnp.asarray([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 1000.0], [-1000.0, -1000.0, -999.0]])
    out = np.asarray(sol.softmax(Z))
    assert np.isfinite(out).all()
    _close(out[0], [1.0, 0.0, 0.0])
    _close(out[1], [1 / 3] * 3, 1e-6)
    _close(out[2], np.exp([-1.0, -1.0, 0.0]) / np.exp([-1.0, -1.0, 0.0]).sum(), 1e-6)


def test_softmax_two_classes_is_the_sigmoid():
    z = jnp.linspace(-6.0, 6.0, 13)
    out = sol.softmax(jnp.stack([z, jnp.zeros_like(z)], axis=-1))
    _close(out[:, 0], 1 / (1 + np.exp(-np.asarray(z, np.float64))), 1e-6)


# ------------------------------------------------------------------ batchnorm_forward


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("m,n", [(3, 1), (64, 16)])
def test_batchnorm_forward_matches_numpy(m, n, train):
    args = _bn_inputs(jax.random.key(m * n), m, n)
    out, new_mean, new_var, cache = sol.batchnorm_forward(*args, train)
    ref_out, ref_mean, ref_var, z_norm, inv_std, centered = _np_batchnorm(*args, train)
    assert out.shape == (m, n) and new_mean.shape == new_var.shape == (n,)
    assert out.dtype == new_mean.dtype == new_var.dtype == jnp.float32
    _close(out, ref_out)
    _close(new_mean, ref_mean)
    _close(new_var, ref_var)
    assert sorted(cache) == ["Z_centered", "Z_norm", "gamma", "inv_std"]
    _close(cache["Z_norm"], z_norm)
    _close(cache["inv_std"], inv_std)
    _close(cache["Z_centered"], centered)
    _close(cache["gamma"], args[0], 0)
    jitted = jax.jit(sol.batchnorm_forward, static_argnames="train")(*args, train=train)
    for a, b in zip(jitted[:3], (out, new_mean, new_var)):
        _close(a, b, 1e-6)


def test_batchnorm_forward_momentum_and_eps_arguments():
    args = _bn_inputs(jax.random.key(3), 6, 4, scale=0.01)  # var ~ 1e-4: eps matters
    for momentum, eps in ((0.9, 1e-3), (0.0, 1e-5), (0.5, 1e-8)):
        out, mean, var, _ = sol.batchnorm_forward(*args, True, momentum=momentum, eps=eps)
        ref = _np_batchnorm(*args, True, momentum=momentum, eps=eps)
        _close(out, ref[0], 2e-5)
        _close(mean, ref[1])
        _close(var, ref[2])


def test_batchnorm_forward_eval_returns_state_unchanged():
    gamma, beta, Z, rm, rv = _bn_inputs(jax.random.key(4))
    _, new_mean, new_var, _ = sol.batchnorm_forward(gamma, beta, Z, rm, rv, False)
    np.testing.assert_array_equal(np.asarray(new_mean), np.asarray(rm))
    np.testing.assert_array_equal(np.asarray(new_var), np.asarray(rv))
    # one example alone, eval mode: still a meaningful output (not beta)
    out, *_ = sol.batchnorm_forward(gamma, beta, Z[:1], rm, rv, False)
    _close(out, _np_batchnorm(gamma, beta, Z[:1], rm, rv, False)[0])


@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_forward_matches_jaxdl(train):
    from jaxdl import nn

    gamma, beta, Z, rm, rv = _bn_inputs(jax.random.key(5), 32, 6)
    out, mean, var, _ = sol.batchnorm_forward(gamma, beta, Z, rm, rv, train)
    y, state = nn.batchnorm({"gamma": gamma, "beta": beta}, {"mean": rm, "var": rv}, Z, train=train)
    _close(out, y)
    _close(mean, state["mean"])
    _close(var, state["var"])


def test_batchnorm_forward_matches_flax_over_several_steps():
    import flax.linen as fnn

    n, m = 6, 16
    key = jax.random.key(6)
    bn_train = fnn.BatchNorm(use_running_average=False, momentum=0.99, epsilon=1e-5)
    bn_eval = fnn.BatchNorm(use_running_average=True, momentum=0.99, epsilon=1e-5)
    with jax.numpy_dtype_promotion("standard"):
        variables = bn_train.init(key, jnp.zeros((m, n), jnp.float32))
    gamma = 1.0 + 0.3 * jax.random.normal(jax.random.fold_in(key, 1), (n,), jnp.float32)
    beta = 0.2 * jax.random.normal(jax.random.fold_in(key, 2), (n,), jnp.float32)
    variables = {"params": {"scale": gamma, "bias": beta}, "batch_stats": variables["batch_stats"]}
    running_mean = jnp.zeros((n,), jnp.float32)
    running_var = jnp.ones((n,), jnp.float32)
    for step in range(4):
        Z = 1.5 + 2.0 * jax.random.normal(jax.random.fold_in(key, 10 + step), (m, n), jnp.float32)
        with jax.numpy_dtype_promotion("standard"):
            y, updates = bn_train.apply(variables, Z, mutable=["batch_stats"])
        variables = {"params": variables["params"], "batch_stats": updates["batch_stats"]}
        out, running_mean, running_var, _ = sol.batchnorm_forward(gamma, beta, Z, running_mean, running_var, True)
        _close(out, y)
        _close(running_mean, variables["batch_stats"]["mean"])
        _close(running_var, variables["batch_stats"]["var"])
    Z = 1.5 + 2.0 * jax.random.normal(jax.random.fold_in(key, 99), (5, n), jnp.float32)
    with jax.numpy_dtype_promotion("standard"):
        y = bn_eval.apply(variables, Z)
    out, *_ = sol.batchnorm_forward(gamma, beta, Z, running_mean, running_var, False)
    _close(out, y)


# ------------------------------------------------------------------ batchnorm_backward


@pytest.mark.parametrize("m,n", [(2, 3), (50, 10)])
def test_batchnorm_backward_matches_jax_vjp(m, n):
    gamma, beta, Z, rm, rv = _bn_inputs(jax.random.key(7 + m), m, n)
    dout = jax.random.normal(jax.random.key(8 + n), (m, n), jnp.float32)
    out, _, _, cache = sol.batchnorm_forward(gamma, beta, Z, rm, rv, True)
    dZ, dgamma, dbeta = sol.batchnorm_backward(dout, cache)
    assert dZ.shape == (m, n) and dgamma.shape == dbeta.shape == (n,)
    assert dZ.dtype == dgamma.dtype == dbeta.dtype == jnp.float32
    _, vjp = jax.vjp(lambda z, g, b: sol.batchnorm_forward(g, b, z, rm, rv, True)[0], Z, gamma, beta)
    eZ, eg, eb = vjp(dout)
    np.testing.assert_allclose(np.asarray(dZ), np.asarray(eZ), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(dgamma), np.asarray(eg), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(dbeta), np.asarray(eb), rtol=1e-4, atol=1e-5)
    jitted = jax.jit(sol.batchnorm_backward)(dout, cache)
    _close(jitted[0], dZ, 1e-5)


def test_batchnorm_backward_matches_jax_grad_in_float64():
    from jaxdl import nn

    with jax.enable_x64(True):
        key = jax.random.key(9)
        Z = jax.random.normal(key, (10, 4), jnp.float64) * 3 + 2
        gamma = jnp.asarray([1.0, 0.5, 2.0, -1.0])
        beta = jnp.asarray([0.0, 0.1, -0.3, 0.2])
        rm, rv = jnp.zeros(4), jnp.ones(4)
        dout = jax.random.normal(jax.random.fold_in(key, 1), (10, 4), jnp.float64)
        _, _, _, cache = sol.batchnorm_forward(gamma, beta, Z, rm, rv, True)
        dZ, dgamma, dbeta = sol.batchnorm_backward(dout, cache)

        def loss(z, g, b):
            y, _ = nn.batchnorm({"gamma": g, "beta": b}, {"mean": rm, "var": rv}, z, train=True)
            return jnp.sum(y * dout)

        with jax.numpy_dtype_promotion("standard"):  # jaxdl.nn.batchnorm promotes against float32
            eZ, eg, eb = jax.grad(loss, argnums=(0, 1, 2))(Z, gamma, beta)
        np.testing.assert_allclose(np.asarray(dZ), np.asarray(eZ), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(np.asarray(dgamma), np.asarray(eg), rtol=1e-10)
        np.testing.assert_allclose(np.asarray(dbeta), np.asarray(eb), rtol=1e-10)
        # the gradient with respect to Z sums to zero over the batch (the mean is removed)
        np.testing.assert_allclose(np.asarray(dZ).sum(axis=0), 0, atol=1e-10)


# ------------------------------------------------------------------ forward_propagation_with_batchnorm


def _bn_net(key, dims):
    L = len(dims) - 1
    params, state = sol.initialize_parameters_with_batchnorm(key, list(dims))
    k = jax.random.fold_in(key, 1)
    for l in range(1, L):  # non-trivial gamma, beta and running statistics
        params[f"gamma{l}"] = 1 + 0.3 * jax.random.normal(jax.random.fold_in(k, 3 * l), (dims[l],), jnp.float32)
        params[f"beta{l}"] = 0.2 * jax.random.normal(jax.random.fold_in(k, 3 * l + 1), (dims[l],), jnp.float32)
        state[f"mean{l}"] = 0.2 * jax.random.normal(jax.random.fold_in(k, 3 * l + 2), (dims[l],), jnp.float32)
        state[f"var{l}"] = jax.random.uniform(jax.random.fold_in(k, 100 + l), (dims[l],), jnp.float32, 0.5, 2.0)
    params[f"b{L}"] = 0.1 * jax.random.normal(jax.random.fold_in(k, 999), (dims[L],), jnp.float32)
    return params, state


def _jaxdl_forward(params, state, X, train, dims):
    from jaxdl import nn

    L = len(dims) - 1
    mlp = {f"W{l}": params[f"W{l}"] for l in range(1, L + 1)}
    mlp.update({f"b{l}": jnp.zeros((dims[l],), jnp.float32) for l in range(1, L)})
    mlp[f"b{L}"] = params[f"b{L}"]
    bn_params = [{"gamma": params[f"gamma{l}"], "beta": params[f"beta{l}"]} for l in range(1, L)]
    bn_state = [{"mean": state[f"mean{l}"], "var": state[f"var{l}"]} for l in range(1, L)]
    logits, new = nn.mlp_apply(mlp, X, train=train, batchnorm=(bn_params, bn_state))
    new_state = {}
    for l in range(1, L):
        new_state[f"mean{l}"], new_state[f"var{l}"] = new[l - 1]["mean"], new[l - 1]["var"]
    return logits, new_state


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("dims", [(64, 64, 32, 10), (5, 4, 3), (3, 6, 5, 4, 2)])
def test_forward_propagation_matches_jaxdl_mlp_apply(dims, train):
    key = jax.random.key(len(dims) * 7 + int(train))
    params, state = _bn_net(key, dims)
    X = jax.random.uniform(jax.random.fold_in(key, 5), (12, dims[0]), jnp.float32)
    logits, new_state = sol.forward_propagation_with_batchnorm(params, state, X, train)
    expected, expected_state = _jaxdl_forward(params, state, X, train, dims)
    assert logits.shape == (12, dims[-1]) and logits.dtype == jnp.float32
    assert sorted(new_state) == sorted(state)
    _close(logits, expected, 2e-5)
    for k in state:
        _close(new_state[k], expected_state[k])
        if not train:
            np.testing.assert_array_equal(np.asarray(new_state[k]), np.asarray(state[k]))
    jitted = jax.jit(sol.forward_propagation_with_batchnorm, static_argnames="train")(params, state, X, train=train)
    _close(jitted[0], logits, 1e-5)


def test_forward_propagation_hidden_layers_have_no_bias_and_gradients_flow():
    params, state = _bn_net(jax.random.key(11), (5, 4, 3))
    assert sorted(params) == ["W1", "W2", "b2", "beta1", "gamma1"]
    X = jax.random.normal(jax.random.key(12), (9, 5), jnp.float32)
    grads = jax.grad(lambda p: jnp.sum(sol.forward_propagation_with_batchnorm(p, state, X, True)[0] ** 2))(params)
    assert sorted(grads) == sorted(params)
    assert all(bool(jnp.all(jnp.isfinite(g))) and float(jnp.abs(g).sum()) > 0 for g in grads.values())


# ------------------------------------------------------------------ model_with_batchnorm


def _eval_accuracy(params, state, X, y):
    logits, _ = sol.forward_propagation_with_batchnorm(params, state, X, False)
    return float(np.mean(np.asarray(jnp.argmax(logits, axis=-1)) == np.asarray(y)))


def test_model_reaches_90_percent_in_eval_mode_on_digits(capsys):
    from jaxdl import data, datasets

    X_train, y_train, X_test, y_test = datasets.digits()
    params, state, costs = sol.model_with_batchnorm(jax.random.key(0), X_train, data.one_hot(y_train, 10))
    assert "Cost after epoch 0" in capsys.readouterr().out
    assert sorted(params) == ["W1", "W2", "W3", "b3", "beta1", "beta2", "gamma1", "gamma2"]
    assert sorted(state) == ["mean1", "mean2", "var1", "var2"]
    assert params["W1"].shape == (64, 64) and params["W2"].shape == (64, 32) and state["var2"].shape == (32,)
    assert all(a.dtype == jnp.float32 for a in [*params.values(), *state.values()])
    assert isinstance(costs, list) and len(costs) == 10 and all(isinstance(c, float) for c in costs)
    assert costs[-1] < 0.2 * costs[0]
    assert _eval_accuracy(params, state, X_test, y_test) >= 0.9
    # the grader's independent eval: jaxdl.nn.mlp_apply with the returned statistics
    logits, _ = _jaxdl_forward(params, state, X_test, False, (64, 64, 32, 10))
    assert float(np.mean(np.asarray(jnp.argmax(logits, -1)) == np.asarray(y_test))) >= 0.9


def _small_problem(m=100, n_x=6, C=3, seed=0):
    rng = np.random.default_rng(seed)
    X = jnp.asarray(rng.standard_normal((m, n_x)).astype(np.float32))
    y = rng.integers(0, C, size=m).astype(np.int32)
    return X, jax.nn.one_hot(jnp.asarray(y), C, dtype=jnp.float32)


def test_model_key_convention_replayed_by_hand():
    from jaxdl import data, optim

    X, Y = _small_problem()
    key = jax.random.key(5)
    params, state, costs = sol.model_with_batchnorm(key, X, Y, learning_rate=0.01, num_epochs=2, minibatch_size=32,
                                                    print_cost=False)
    init_key, shuffle_key = jax.random.split(key)
    p, s = sol.initialize_parameters_with_batchnorm(init_key, [6, 64, 32, 3])
    opt = optim.adam(0.01)
    opt_state = opt.init(p)

    @jax.jit
    def step(p, s, opt_state, Xb, Yb):
        def loss(p):
            logits, new_s = sol.forward_propagation_with_batchnorm(p, s, Xb, True)
            return sol.compute_cost(logits, Yb), new_s

        (cost, s), grads = jax.value_and_grad(loss, has_aux=True)(p)
        updates, opt_state = opt.update(grads, opt_state, p)
        return optim.apply_updates(p, updates), s, opt_state, cost

    replay = []
    for epoch in range(2):
        total = 0.0
        for Xb, Yb in data.random_minibatches(jax.random.fold_in(shuffle_key, epoch), X, Y, 32):
            p, s, opt_state, cost = step(p, s, opt_state, Xb, Yb)
            total += Xb.shape[0] * float(cost)
        replay.append(total / 100)
    np.testing.assert_allclose(costs, replay, rtol=1e-5)
    for k in params:
        _close(params[k], p[k], 1e-5)
    for k in state:
        _close(state[k], s[k], 1e-5)


def test_model_traces_the_step_once_per_batch_shape():
    module = load_solution(ID, name="week3_batch_norm_trace_count")
    calls = count_calls(module, "forward_propagation_with_batchnorm",
                        lambda parameters, state, X, train: (X.shape, train))
    X, Y = _small_problem()  # batches of 32: shapes 32 and 4
    module.model_with_batchnorm(jax.random.key(0), X, Y, num_epochs=3, minibatch_size=32, print_cost=False)
    assert sorted(calls) == [((4, 6), True), ((32, 6), True)]


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
    return bool(np.allclose(a_arr, b_arr, rtol=1e-5, atol=1e-6, equal_nan=False))


def _mistake_inputs(name: str):
    key = jax.random.key(0)
    small_var = _bn_inputs(key, 8, 5, scale=3e-3)  # var ~ 1e-5: eps placement matters
    usual = _bn_inputs(jax.random.fold_in(key, 1), 6, 4)
    _, _, _, cache = sol.batchnorm_forward(*usual, True)
    dout = jax.random.normal(jax.random.key(2), (6, 4), jnp.float32)
    params, state = _bn_net(jax.random.key(3), (5, 4, 3, 2))
    X = jax.random.normal(jax.random.key(4), (7, 5), jnp.float32)
    return {
        "softmax": [(jnp.asarray([[1000.0, 0.0, -5.0], [1.0, 2.0, 3.0]]),)],
        "batchnorm_forward": [(*small_var, True), (*usual, True), (*usual, False)],
        "batchnorm_backward": [(dout, cache)],
        "forward_propagation_with_batchnorm": [(params, state, X, True), (params, state, X, False)],
    }[name]


def test_mistakes_cover_the_listed_ones_and_name_graded_functions():
    required = {"bn_unbiased_variance", "bn_eps_outside_sqrt", "bn_running_updated_in_eval",
                "bn_running_never_updated", "bn_momentum_swapped", "bn_eval_uses_batch_stats",
                "softmax_no_max_shift"}
    check_mistakes_table(MISTAKES, GRADED, required)


@pytest.mark.parametrize("slug", sorted(s for s in MISTAKES if MISTAKES[s][0] != "model_with_batchnorm"))
def test_each_mistake_changes_its_function_output(slug):
    module, name = with_mistake(ID, slug)
    wrong, right = getattr(module, name), getattr(sol, name)
    differs = False
    for args in _mistake_inputs(name):
        expected = right(*args)
        got = wrong(*args)
        if slug == "forward_mutates_state":  # shows on a second call with the same state dict
            params, state, X, train = args
            shared = dict(state)
            wrong(params, shared, X, train)
            got, expected = wrong(params, shared, X, train), right(params, dict(state), X, train)
        differs = differs or not _same(got, expected)
    assert differs, f"mistake {slug} gives the reference output on every test input"
    assert_others_untouched(module, sol, GRADED, name)


def test_each_mistake_is_visible_on_the_input_it_documents():
    key = jax.random.key(0)
    usual = _bn_inputs(key, 8, 5)
    tiny = _bn_inputs(key, 8, 5, scale=3e-3)
    checks = {  # slug: (args, which outputs must differ: 0 out, 1 mean, 2 var)
        "bn_unbiased_variance": ((*usual, True), (0, 2)),
        "bn_eps_outside_sqrt": ((*tiny, True), (0,)),
        "bn_running_updated_in_eval": ((*usual, False), (1, 2)),
        "bn_running_never_updated": ((*usual, True), (1, 2)),
        "bn_momentum_swapped": ((*usual, True), (1, 2)),
        "bn_eval_uses_batch_stats": ((*usual, False), (0,)),
    }
    for slug, (args, outputs) in checks.items():
        module, _ = with_mistake(ID, slug)
        got, expected = module.batchnorm_forward(*args), sol.batchnorm_forward(*args)
        for i in outputs:
            assert not _same(got[i], expected[i]), (slug, i)
    # eps outside the square root is invisible at rtol 1e-5 when the variance is ~ 1
    module, _ = with_mistake(ID, "bn_eps_outside_sqrt")
    assert _same(module.batchnorm_forward(*usual, True)[0], sol.batchnorm_forward(*usual, True)[0])
    # softmax without the max shift: nan at 1000
    module, _ = with_mistake(ID, "softmax_no_max_shift")
    assert np.isnan(np.asarray(module.softmax(jnp.asarray([[1000.0, 0.0]])))).any()


def test_bn_mistakes_propagate_to_composed_parts():
    # Documented in grader/course/week3/batch_norm/mistakes.py: the composed parts call the student's
    # batchnorm_forward, so the grader must judge them independently of it.
    module, _ = with_mistake(ID, "bn_momentum_swapped")
    params, state = _bn_net(jax.random.key(3), (5, 4, 3, 2))
    X = jax.random.normal(jax.random.key(4), (7, 5), jnp.float32)
    wrong = module.forward_propagation_with_batchnorm(params, state, X, True)
    assert not _same(wrong[1], sol.forward_propagation_with_batchnorm(params, state, X, True)[1])


@pytest.mark.slow
def test_mistake_discarding_the_state_fails_the_eval_accuracy():
    from jaxdl import data, datasets

    module, _ = with_mistake(ID, "model_discards_state")
    X_train, y_train, X_test, y_test = datasets.digits()
    params, state, costs = module.model_with_batchnorm(jax.random.key(0), X_train, data.one_hot(y_train, 10),
                                                       print_cost=False)
    assert len(costs) == 10 and costs[-1] < 0.2 * costs[0]  # it trains ...
    initial = sol.initialize_parameters_with_batchnorm(jax.random.key(1), [64, 64, 32, 10])[1]
    assert _same(state, initial)  # ... but returns the initial running statistics
    assert _eval_accuracy(params, state, X_test, y_test) < 0.8


# ------------------------------------------------------------------ the experiment


@pytest.mark.slow
def test_experiment_cells_run(tmp_path):
    proc = run_experiment(SOLUTION, tmp_path)
    assert "eval mode" in proc.stdout and "without batch norm" in proc.stdout
    assert (tmp_path / "week3_batch_norm.png").exists()

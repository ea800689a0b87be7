"""jaxdl.nn: activations, dense, dropout and mlp_apply against NumPy references."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import init, nn

RNG = np.random.default_rng(0)


def _np_softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


# --------------------------------------------------------------------------- activations


def test_activations_match_numpy():
    z = RNG.normal(size=(5, 4)).astype(np.float32) * 3
    z64 = z.astype(np.float64)
    np.testing.assert_allclose(nn.relu(z), np.maximum(z64, 0), rtol=1e-6)
    np.testing.assert_allclose(nn.sigmoid(z), 1 / (1 + np.exp(-z64)), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(nn.softmax(z), _np_softmax(z64), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(nn.log_softmax(z), np.log(_np_softmax(z64)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nn.softmax(z, axis=0), _np_softmax(z64, axis=0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(nn.log_softmax(z), jax.nn.log_softmax(z), rtol=1e-6, atol=1e-6)
    for f in (nn.relu, nn.sigmoid, nn.softmax, nn.log_softmax):
        assert f(jnp.asarray(z)).dtype == jnp.float32


def test_activations_stable_at_extremes():
    z = jnp.array([[1000.0, -1000.0, 0.0]])
    for f in (nn.sigmoid, nn.softmax, nn.log_softmax):
        out = f(z)
        assert np.all(np.isfinite(out))
    np.testing.assert_allclose(nn.log_softmax(z), [[0.0, -2000.0, -1000.0]])
    np.testing.assert_allclose(nn.sigmoid(z), [[1.0, 0.0, 0.5]])
    g = jax.grad(lambda x: nn.log_softmax(x)[0, 1])(z)
    assert np.all(np.isfinite(g))
    assert float(jax.grad(lambda x: nn.relu(x))(0.0)) == 0.0


# --------------------------------------------------------------------------- dense


def test_dense_matches_numpy():
    W = RNG.normal(size=(3, 2)).astype(np.float32)
    b = RNG.normal(size=(2,)).astype(np.float32)
    x = RNG.normal(size=(4, 3)).astype(np.float32)
    out = jax.jit(nn.dense)(W, b, x)
    assert out.shape == (4, 2) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, x.astype(np.float64) @ W + b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("m,n_in,n_out", [(64, 2, 5), (44, 5, 2), (1, 1, 1), (64, 8, 8), (32, 64, 16)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_both_product_paths_match_numpy_with_gradients(m, n_in, n_out, dtype):
    # Tiny products (m*n_in*n_out <= 2048) take the fused multiply-and-sum path, the others
    # a dot: values and gradients agree with float64 NumPy either way.
    with jax.enable_x64(dtype == np.float64):
        W = RNG.normal(size=(n_in, n_out)).astype(dtype)
        b = RNG.normal(size=(n_out,)).astype(dtype)
        x = RNG.normal(size=(m, n_in)).astype(dtype)
        g = RNG.normal(size=(m, n_out)).astype(dtype)
        out, vjp = jax.vjp(jax.jit(nn.dense), W, b, x)
        dW, db, dx = vjp(jnp.asarray(g))
    assert out.dtype == dtype and dW.dtype == dtype
    assert (m * n_in * n_out <= nn._SMALL_PRODUCT) == (m * n_in * n_out <= 2048)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    x64, W64, g64 = (a.astype(np.float64) for a in (x, W, g))
    np.testing.assert_allclose(out, x64 @ W64 + b, rtol=tol, atol=tol)
    np.testing.assert_allclose(dW, x64.T @ g64, rtol=tol, atol=tol)
    np.testing.assert_allclose(db, g64.sum(0), rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, g64 @ W64.T, rtol=tol, atol=tol)


def test_dense_small_product_path_and_its_switch():
    W, b, x = jnp.ones((2, 5)), jnp.zeros(5), jnp.ones((64, 2))
    def prims():  # a fresh function each time: make_jaxpr caches traces per function
        return {e.primitive.name for e in jax.make_jaxpr(lambda *a: nn.dense(*a))(W, b, x).jaxpr.eqns}

    assert "dot_general" not in prims()  # 640 multiply-adds: fused multiply-and-sum
    with nn.small_products_as_dots():  # what jaxdl.tune uses while tracing vmapped trials
        assert "dot_general" in prims()
    assert "dot_general" not in prims()
    big = jnp.ones((64, 64))
    assert "dot_general" in {e.primitive.name for e in jax.make_jaxpr(nn.dense)(jnp.ones((64, 8)), jnp.zeros(8), big).jaxpr.eqns}


@pytest.mark.parametrize(
    "W_shape, b_shape, x_shape, match",
    [
        ((3, 2), (2,), (4, 5), r"x has shape \(4, 5\) but W has shape \(3, 2\)"),
        ((3, 2), (3,), (4, 3), r"b has shape \(3,\) but W has shape \(3, 2\)"),
        ((3, 2), (2, 1), (4, 3), r"b must have rank 1, got shape \(2, 1\)"),
        ((3,), (2,), (4, 3), r"W must have rank 2, got shape \(3,\)"),
        ((3, 2), (2,), (3,), r"x must have rank 2, got shape \(3,\)"),
    ],
)
def test_dense_bad_shapes(W_shape, b_shape, x_shape, match):
    with pytest.raises(ValueError, match=match):
        nn.dense(jnp.ones(W_shape), jnp.ones(b_shape), jnp.ones(x_shape))


def test_dense_bad_types():
    with pytest.raises(TypeError, match=r"x must be an array, got list"):
        nn.dense(jnp.ones((2, 2)), jnp.ones(2), [[1.0, 2.0]])
    with pytest.raises(TypeError, match=r"x must be a floating-point array, got dtype int32"):
        nn.dense(jnp.ones((2, 2)), jnp.ones(2), jnp.ones((1, 2), jnp.int32))


def test_activation_bad_input():
    with pytest.raises(ValueError, match=r"x must have rank >= 1, got shape \(\)"):
        nn.softmax(jnp.float32(1.0))
    with pytest.raises(ValueError, match=r"axis=2 is out of range for x of shape \(2, 3\)"):
        nn.log_softmax(jnp.ones((2, 3)), axis=2)
    with pytest.raises(TypeError, match=r"x must be a floating-point array, got dtype int32"):
        nn.sigmoid(jnp.arange(3))


# --------------------------------------------------------------------------- dropout


@pytest.fixture(scope="module")
def jit_dropout():
    return jax.jit(nn.dropout, static_argnames=("rate", "train"))


@pytest.mark.parametrize("rate", [0.2, 0.5, 0.8])
def test_dropout_statistics_and_scaling(jit_dropout, rate):
    x = jnp.asarray(RNG.uniform(0.5, 1.5, size=(200, 100)).astype(np.float32))
    out = np.asarray(jit_dropout(jax.random.key(0), x, rate))
    kept = out != 0
    n, keep = kept.size, 1 - rate
    assert abs(kept.mean() - keep) < 4 * math.sqrt(keep * rate / n)
    # survivors are scaled by exactly 1/(1-rate): x * float32(1 / (1 - rate))
    np.testing.assert_array_equal(out[kept], (np.asarray(x) * np.float32(1 / (1 - rate)))[kept])
    # documented mask convention
    mask = np.asarray(jax.random.uniform(jax.random.key(0), x.shape, jnp.float32) < 1 - rate)
    np.testing.assert_array_equal(kept, mask)
    np.testing.assert_array_equal(kept, np.asarray(jax.random.bernoulli(jax.random.key(0), 1 - rate, x.shape)))


def test_dropout_identity_and_keys(jit_dropout):
    x = jnp.asarray(RNG.normal(size=(8, 16)).astype(np.float32))
    k0, k1 = jax.random.key(0), jax.random.key(1)
    np.testing.assert_array_equal(jit_dropout(k0, x, 0.5, train=False), x)
    np.testing.assert_array_equal(nn.dropout(k0, x, 0.0), x)
    np.testing.assert_array_equal(jit_dropout(k0, x, 0.0), x)
    a, b, c = jit_dropout(k0, x, 0.5), jit_dropout(k0, x, 0.5), jit_dropout(k1, x, 0.5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(np.asarray(a) != 0, np.asarray(c) != 0)
    # raw PRNGKey works too and is deterministic
    r = jax.random.PRNGKey(3)
    np.testing.assert_array_equal(nn.dropout(r, x, 0.5), nn.dropout(r, x, 0.5))


def test_dropout_rate_one_zero_output_no_nan_grad():
    x = jnp.asarray(RNG.normal(size=(4, 5)).astype(np.float32))
    key = jax.random.key(0)
    assert not np.any(np.asarray(nn.dropout(key, x, 1.0)))
    g = jax.grad(lambda x: jnp.sum(nn.dropout(key, x, 1.0) ** 2))(x)
    assert not np.any(np.isnan(g)) and not np.any(np.asarray(g))
    # traced rate (e.g. swept under jit): same guarantees
    f = jax.jit(lambda x, r: jnp.sum(nn.dropout(key, x, r)))
    assert float(f(x, jnp.float32(1.0))) == 0.0
    g = jax.jit(jax.grad(f))(x, jnp.float32(1.0))
    assert not np.any(np.isnan(g)) and not np.any(np.asarray(g))
    # traced rate in (0,1) matches the static one
    np.testing.assert_array_equal(
        jax.jit(lambda x, r: nn.dropout(key, x, r))(x, jnp.float32(0.25)), nn.dropout(key, x, 0.25)
    )


def test_dropout_gradient_is_mask_over_keep():
    x = jnp.asarray(RNG.normal(size=(6, 7)).astype(np.float32))
    key = jax.random.key(5)
    g = jax.grad(lambda x: jnp.sum(nn.dropout(key, x, 0.4)))(x)
    mask = np.asarray(nn.dropout(key, x, 0.4)) != 0
    np.testing.assert_allclose(g, mask / np.float32(0.6), rtol=1e-6)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: nn.dropout(jax.random.key(0), jnp.ones(3), 1.5), ValueError, r"rate must be in \[0, 1\], got 1.5"),
        (lambda: nn.dropout(jax.random.key(0), jnp.ones(3), -0.1), ValueError, r"rate must be in \[0, 1\], got -0.1"),
        (lambda: nn.dropout(jax.random.key(0), jnp.ones(3), "0.5"), TypeError, r"rate must be a number"),
        (lambda: nn.dropout(42, jnp.ones(3), 0.5), TypeError, r"key must be a PRNG key.*int"),
        (lambda: nn.dropout(jnp.ones(2), jnp.ones(3), 0.5), TypeError, r"key must be a PRNG key.*float32.*\(2,\)"),
        (lambda: nn.dropout(jax.random.key(0), jnp.ones(3), 0.5, train=1), TypeError, r"train must be a Python bool"),
        (lambda: nn.dropout(jax.random.key(0), [1.0], 0.5), TypeError, r"x must be an array, got list"),
    ],
)
def test_dropout_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# --------------------------------------------------------------------------- mlp_apply

SIZES = [3, 5, 4, 2]


@pytest.fixture(scope="module")
def small_net():
    params = init.init_mlp(jax.random.key(0), SIZES, method="he")
    params = {k: v + 0.1 if k.startswith("b") else v for k, v in params.items()}  # nonzero biases
    x = jnp.asarray(np.random.default_rng(1).normal(size=(6, 3)).astype(np.float32))
    return params, x


def _np_forward(params, x, masks=None, keep=1.0, bn=None, eps=1e-5):
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    a = np.asarray(x, np.float64)
    L = len(p) // 2
    for l in range(1, L):
        z = a @ p[f"W{l}"] + p[f"b{l}"]
        if bn is not None:
            g, be = (np.asarray(bn[l - 1][k], np.float64) for k in ("gamma", "beta"))
            z = (z - z.mean(0)) / np.sqrt(z.var(0) + eps) * g + be
        a = np.maximum(z, 0)
        if masks is not None:
            a = np.where(masks[l - 1], a / keep, 0)
    return a @ p[f"W{L}"] + p[f"b{L}"]


def test_mlp_apply_matches_numpy(small_net):
    params, x = small_net
    out = jax.jit(nn.mlp_apply)(params, x)
    assert out.shape == (6, 2) and out.dtype == jnp.float32
    np.testing.assert_allclose(out, _np_forward(params, x), rtol=1e-5, atol=1e-5)
    # eval mode ignores dropout and the key (eager vs jit: rounding may differ, dropout would not)
    np.testing.assert_allclose(nn.mlp_apply(params, x, key=jax.random.key(0), dropout_rate=0.5), out,
                               rtol=1e-6, atol=1e-7)


def test_mlp_apply_dropout_key_convention(small_net):
    params, x = small_net
    key, rate = jax.random.key(9), 0.5
    f = jax.jit(nn.mlp_apply, static_argnames=("train",))
    out = f(params, x, key=key, dropout_rate=rate, train=True)
    np.testing.assert_array_equal(out, f(params, x, key=key, dropout_rate=rate, train=True))
    assert not np.allclose(out, f(params, x, key=jax.random.key(10), dropout_rate=rate, train=True))
    keys = jax.random.split(key, len(SIZES) - 2)
    masks = [
        np.asarray(jax.random.uniform(keys[l - 1], (6, SIZES[l]), jnp.float32) < 1 - rate)
        for l in range(1, len(SIZES) - 1)
    ]
    np.testing.assert_allclose(out, _np_forward(params, x, masks, 1 - rate), rtol=1e-5, atol=1e-5)
    # rate 0 in training = no dropout, no key needed
    np.testing.assert_allclose(nn.mlp_apply(params, x, train=True), _np_forward(params, x), rtol=1e-5, atol=1e-5)


def test_mlp_apply_batchnorm(small_net):
    params, x = small_net
    bn_params, bn_state = nn.mlp_batchnorm_init(SIZES)
    bn_params = [
        {"gamma": p["gamma"] * 1.5, "beta": p["beta"] + 0.2} for p in bn_params
    ]
    f = jax.jit(nn.mlp_apply, static_argnames=("train",))
    logits, new_state = f(params, x, batchnorm=(bn_params, bn_state), train=True)
    np.testing.assert_allclose(logits, _np_forward(params, x, bn=bn_params), rtol=1e-4, atol=1e-4)
    assert len(new_state) == 2
    # new running stats equal what batchnorm itself computes on Z1
    z1 = nn.dense(params["W1"], params["b1"], x)
    _, s1 = nn.batchnorm(bn_params[0], bn_state[0], z1, train=True)
    np.testing.assert_allclose(new_state[0]["mean"], s1["mean"], rtol=1e-6)
    np.testing.assert_allclose(new_state[0]["var"], s1["var"], rtol=1e-6)
    # eval mode: running stats used, state returned unchanged
    logits_eval, same = f(params, x, batchnorm=(bn_params, new_state), train=False)
    assert logits_eval.shape == (6, 2)
    for a, b in zip(same, new_state):
        np.testing.assert_array_equal(a["mean"], b["mean"])
    # gradient wrt (params, bn_params) is finite
    def loss(p, bp):
        lg, st = nn.mlp_apply(p, x, batchnorm=(bp, bn_state), train=True)
        return jnp.sum(lg**2), st

    g, _ = jax.grad(loss, argnums=(0, 1), has_aux=True)(params, bn_params)
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(g))


def test_mlp_apply_float64(small_net):
    params, x = small_net
    with jax.enable_x64(True):
        p64 = {k: jnp.asarray(np.asarray(v, np.float64)) for k, v in params.items()}
        out = nn.mlp_apply(p64, jnp.asarray(np.asarray(x, np.float64)))
        assert out.dtype == jnp.float64
        np.testing.assert_allclose(out, _np_forward(params, x), rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(train=True, dropout_rate=0.5), ValueError, r"needs a PRNG key"),
        (dict(train=True, dropout_rate=1.2, key=jax.random.key(0)), ValueError, r"dropout_rate must be in \[0, 1\], got 1.2"),
        (dict(key=3), TypeError, r"key must be a PRNG key"),
        (dict(train="yes"), TypeError, r"train must be a Python bool"),
        (dict(batchnorm="bn"), TypeError, r"batchnorm must be a pair"),
        (dict(batchnorm=nn.mlp_batchnorm_init([3, 5, 2])), ValueError, r"bn_params must be a list.*L - 1 = 2.*length 1"),
        (
            dict(batchnorm=nn.mlp_batchnorm_init([3, 5, 5, 2])),
            ValueError,
            r"bn_params\[1\] \(hidden layer 2\)\['gamma'\] must have shape \(4,\).*got shape \(5,\)",
        ),
    ],
)
def test_mlp_apply_bad_options(small_net, kwargs, exc, match):
    params, x = small_net
    with pytest.raises(exc, match=match):
        nn.mlp_apply(params, x, **kwargs)


def test_mlp_apply_bad_params(small_net):
    params, x = small_net
    with pytest.raises(ValueError, match=r"x has shape \(6, 4\) but params\['W1'\] has shape \(3, 5\)"):
        nn.mlp_apply(params, jnp.ones((6, 4)))
    with pytest.raises(ValueError, match=r"x must have rank 2, got shape \(3,\)"):
        nn.mlp_apply(params, jnp.ones(3))
    bad = dict(params, W2=jnp.ones((6, 4)))
    with pytest.raises(ValueError, match=r"params\['W2'\] has shape \(6, 4\) but params\['W1'\] has shape \(3, 5\)"):
        nn.mlp_apply(bad, x)
    bad = dict(params, b2=jnp.ones(3))
    with pytest.raises(ValueError, match=r"params\['b2'\] has shape \(3,\) but params\['W2'\] has shape \(5, 4\)"):
        nn.mlp_apply(bad, x)
    bad = {k: v for k, v in params.items() if k != "b3"}
    with pytest.raises(ValueError, match=r"keys W1..WL and b1..bL.*got keys"):
        nn.mlp_apply(bad, x)
    with pytest.raises(ValueError, match=r"unexpected key 'gamma'"):
        nn.mlp_apply(dict(params, gamma=jnp.ones(5)), x)
    with pytest.raises(TypeError, match=r"params must be a dict"):
        nn.mlp_apply([params["W1"]], x)

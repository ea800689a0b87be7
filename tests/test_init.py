"""jaxdl.init against NumPy formulas and jax's own (truncated) initializers."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import init

KEY_MAKERS = [jax.random.key, jax.random.PRNGKey]
SIZES = [400, 300, 200]


def _std_tol(n: int) -> float:
    # relative std error of the sample std is ~ 1/sqrt(2n); allow 5 sigma
    return 5.0 / math.sqrt(2 * n)


@pytest.mark.parametrize("make_key", KEY_MAKERS)
@pytest.mark.parametrize(
    "fn, formula",
    [
        (init.he_normal, lambda s: math.sqrt(2.0 / s[0])),
        (init.glorot_normal, lambda s: math.sqrt(2.0 / (s[0] + s[1]))),
        (lambda k, s: init.normal(k, s), lambda s: 0.01),
        (lambda k, s: init.normal(k, s, scale=3.0), lambda s: 3.0),
    ],
    ids=["he", "glorot", "normal", "normal_scale3"],
)
def test_initializer_std_mean_dtype(make_key, fn, formula):
    shape = (400, 300)
    W = np.asarray(fn(make_key(0), shape))
    assert W.dtype == np.float32 and W.shape == shape
    std = formula(shape)
    n = W.size
    assert abs(W.std() / std - 1.0) < _std_tol(n)
    assert abs(W.mean()) < 5 * std / math.sqrt(n)
    # a plain (untruncated) normal has ~4.55% of its mass beyond 2 std
    frac_tail = np.mean(np.abs(W) > 2 * std)
    assert abs(frac_tail - 0.0455) < 0.005


def test_he_normal_is_not_jax_truncated_he_normal():
    """jax.nn.initializers.he_normal is truncated at 2 std (no tails); ours is a plain normal."""
    shape = (400, 300)
    key = jax.random.key(1)
    ours = np.asarray(init.he_normal(key, shape))
    theirs = np.asarray(jax.nn.initializers.he_normal()(key, shape, jnp.float32))
    std = math.sqrt(2.0 / shape[0])
    assert abs(theirs.std() / std - 1) < _std_tol(ours.size)  # same target std ...
    assert np.max(np.abs(theirs)) <= 2 * std / 0.8796 + 1e-6  # ... but truncated (rescaled)
    assert np.max(np.abs(ours)) > 3 * std  # plain normal has tails
    assert not np.allclose(ours, theirs)
    # ours is exactly N(0,1) * sqrt(2/fan_in) from the same key
    np.testing.assert_array_equal(ours, np.asarray(jax.random.normal(key, shape, jnp.float32)) * np.float32(std))


def test_glorot_not_truncated():
    shape = (400, 300)
    key = jax.random.key(2)
    ours = np.asarray(init.glorot_normal(key, shape))
    theirs = np.asarray(jax.nn.initializers.glorot_normal()(key, shape, jnp.float32))
    std = math.sqrt(2.0 / sum(shape))
    assert np.max(np.abs(theirs)) <= 2.3 * std
    assert np.max(np.abs(ours)) > 3 * std


def test_zeros():
    z = init.zeros(jax.random.key(0), (3, 4))
    assert z.dtype == jnp.float32 and z.shape == (3, 4) and not np.any(np.asarray(z))


@pytest.mark.parametrize("make_key", KEY_MAKERS)
@pytest.mark.parametrize(
    "method, std_of",
    [
        ("he", lambda a, b: math.sqrt(2.0 / a)),
        ("xavier", lambda a, b: math.sqrt(1.0 / a)),
        ("glorot", lambda a, b: math.sqrt(2.0 / (a + b))),
        ("random", lambda a, b: 10.0),
    ],
)
def test_init_mlp_stats(make_key, method, std_of):
    params = init.init_mlp(make_key(0), SIZES, method=method)
    assert sorted(params) == ["W1", "W2", "b1", "b2"]
    for l in (1, 2):
        W, b = np.asarray(params[f"W{l}"]), np.asarray(params[f"b{l}"])
        a, c = SIZES[l - 1], SIZES[l]
        assert W.shape == (a, c) and b.shape == (c,)
        assert W.dtype == np.float32 and b.dtype == np.float32
        assert not np.any(b)
        std = std_of(a, c)
        assert abs(W.std() / std - 1.0) < _std_tol(W.size)
        assert abs(W.mean()) < 5 * std / math.sqrt(W.size)


def test_init_mlp_random_scale_and_zeros():
    key = jax.random.key(3)
    p10 = init.init_mlp(key, [4, 5, 1], method="random")
    p2 = init.init_mlp(key, [4, 5, 1], method="random", scale=2.0)
    np.testing.assert_allclose(np.asarray(p2["W1"]) * 5.0, np.asarray(p10["W1"]), rtol=1e-6)
    pz = init.init_mlp(key, [4, 5, 1], method="zeros")
    assert all(not np.any(np.asarray(x)) for x in pz.values())
    assert pz["W2"].shape == (5, 1) and pz["W2"].dtype == jnp.float32


@pytest.mark.parametrize("make_key", KEY_MAKERS)
def test_init_mlp_key_convention(make_key):
    key = make_key(7)
    sizes = [3, 6, 5, 2]
    params = init.init_mlp(key, sizes, method="he")
    keys = jax.random.split(key, 3)
    for l in (1, 2, 3):
        np.testing.assert_array_equal(
            np.asarray(params[f"W{l}"]), np.asarray(init.he_normal(keys[l - 1], (sizes[l - 1], sizes[l])))
        )
    pg = init.init_mlp(key, sizes, method="glorot")
    np.testing.assert_array_equal(np.asarray(pg["W2"]), np.asarray(init.glorot_normal(keys[1], (6, 5))))
    # NumPy formula on the same standard normal draw
    z = np.asarray(jax.random.normal(keys[0], (3, 6), jnp.float32))
    px = init.init_mlp(key, sizes, method="xavier")
    np.testing.assert_allclose(np.asarray(px["W1"]), z * np.sqrt(1 / 3), rtol=1e-6)


def test_init_mlp_determinism():
    a = init.init_mlp(jax.random.key(0), [5, 5, 5, 5])
    b = init.init_mlp(jax.random.key(0), [5, 5, 5, 5])
    c = init.init_mlp(jax.random.key(1), [5, 5, 5, 5])
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]))
    assert not np.allclose(np.asarray(a["W1"]), np.asarray(c["W1"]))
    # different layers draw from different keys (same shapes, different values)
    assert not np.allclose(np.asarray(a["W1"]), np.asarray(a["W2"]))
    assert not np.allclose(np.asarray(a["W2"]), np.asarray(a["W3"]))


def test_init_mlp_jittable():
    """Traced (one program per layer shape) and eager (one program per size class) give the same arrays."""
    f = jax.jit(lambda k: init.init_mlp(k, [2, 3, 1], method="he"))
    p = f(jax.random.key(0))
    eager = init.init_mlp(jax.random.key(0), [2, 3, 1])
    for name in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(np.asarray(p[name]), np.asarray(eager[name]))
        assert p[name].dtype == eager[name].dtype == jnp.float32


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: init.init_mlp(jax.random.key(0), [2, 3], method="kaiming"), ValueError, r"method.*'kaiming'"),
        (lambda: init.init_mlp(jax.random.key(0), [2]), ValueError, r"layer_sizes.*\[2\]"),
        (lambda: init.init_mlp(jax.random.key(0), [2, 0, 1]), ValueError, r"layer_sizes\[1\].*0"),
        (lambda: init.init_mlp(jax.random.key(0), [2, 3.5]), TypeError, r"layer_sizes\[1\]"),
        (lambda: init.init_mlp(jax.random.key(0), 3), TypeError, r"layer_sizes"),
        (lambda: init.init_mlp(jax.random.key(0), [2, 3], method="he", scale=2.0), ValueError, r"scale"),
        (lambda: init.init_mlp(jax.random.key(0), [2, 3], method="random", scale=-1.0), ValueError, r"scale"),
        (lambda: init.init_mlp(0, [2, 3]), TypeError, r"key.*PRNG key.*int"),
        (lambda: init.init_mlp(jnp.zeros(3), [2, 3]), TypeError, r"key.*shape \(3,\)"),
        (lambda: init.he_normal(jax.random.key(0), (3, 4, 5)), ValueError, r"shape.*\(3, 4, 5\)"),
        (lambda: init.glorot_normal(jax.random.key(0), (4,)), ValueError, r"shape.*\(4,\)"),
        (lambda: init.he_normal(np.array([1, 2], np.int32), (3, 4)), TypeError, r"key.*int32"),
        (lambda: init.normal(jax.random.key(0), (3, -1)), ValueError, r"shape\[1\].*-1"),
        (lambda: init.normal(jax.random.key(0), "34"), TypeError, r"shape"),
        (lambda: init.zeros("key", (3,)), TypeError, r"key.*str"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (0, 0)])
@pytest.mark.parametrize(
    "ours",
    [init.he_normal, init.glorot_normal, lambda k, s: init.normal(k, s), init.zeros],
    ids=["he", "glorot", "normal", "zeros"],
)
def test_zero_size_shapes_like_jax_initializers(shape, ours):
    """Issue 15: he_normal(key, (0, 5)) raised while (5, 0) worked. jax.nn.initializers.normal
    and .zeros return an empty float32 array for any size-0 dimension; so do all of ours.
    (jax's variance-scaling he_normal/glorot_normal divide by the fan and raise
    ZeroDivisionError on these shapes in jax 0.10; ours divide by max(1, fan).)"""
    key = jax.random.key(0)
    for theirs in (jax.nn.initializers.normal(1.0), jax.nn.initializers.zeros):
        ref = theirs(key, shape, jnp.float32)
        assert ref.shape == shape and ref.dtype == jnp.float32
    out = ours(key, shape)
    assert out.shape == shape and out.dtype == jnp.float32 and out.size == 0


def test_zero_size_layer_next_to_nonempty_is_unchanged():
    """Allowing 0 changes nothing for non-empty shapes: (n, m) draws are as before."""
    key = jax.random.key(3)
    np.testing.assert_array_equal(
        init.he_normal(key, (4, 3)), np.asarray(jax.random.normal(key, (4, 3), jnp.float32)) * np.float32(math.sqrt(0.5))
    )

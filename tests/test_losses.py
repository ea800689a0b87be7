"""jaxdl.losses against NumPy float64 references, optax, and analytic gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import losses

RNG = np.random.default_rng(0)


def _np_bce(z, y):
    z, y = np.asarray(z, np.float64), np.asarray(y, np.float64)
    p = 1 / (1 + np.exp(-z))
    return np.mean(-y * np.log(p) - (1 - y) * np.log(1 - p))


def _np_softmax(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _np_sce(z, y):
    return np.mean(-np.sum(np.asarray(y, np.float64) * np.log(_np_softmax(z)), -1))


@pytest.fixture(scope="module")
def jitted():
    return {
        "bce": jax.jit(jax.value_and_grad(losses.binary_cross_entropy)),
        "sce": jax.jit(jax.value_and_grad(losses.softmax_cross_entropy)),
    }


@pytest.mark.parametrize("shape", [(7,), (7, 1), (5, 3)])
def test_bce_matches_numpy_and_optax(jitted, shape):
    z = (RNG.normal(size=shape) * 3).astype(np.float32)
    y = RNG.integers(0, 2, size=shape).astype(np.float32)
    val, grad = jitted["bce"](z, y)
    assert val.shape == () and val.dtype == jnp.float32
    np.testing.assert_allclose(val, _np_bce(z, y), rtol=1e-6)
    np.testing.assert_allclose(val, optax.sigmoid_binary_cross_entropy(z, y).mean(), rtol=1e-6)
    expected = (1 / (1 + np.exp(-z.astype(np.float64))) - y) / z.size
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-7)


def test_bce_integer_labels():
    z = jnp.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(
        losses.binary_cross_entropy(z, jnp.array([1, 0, 1])), _np_bce(z, [1, 0, 1]), rtol=1e-6
    )


def test_bce_extreme_logits(jitted):
    z = jnp.array([[1000.0], [-1000.0], [1000.0], [-1000.0], [0.0]])
    y = jnp.array([[1.0], [0.0], [0.0], [1.0], [1.0]])
    val, grad = jitted["bce"](z, y)
    assert np.isfinite(val) and np.all(np.isfinite(grad))
    # exact: two perfect predictions (0), two off by 1000 each, one log(2)
    np.testing.assert_allclose(val, (2000 + np.log(2)) / 5, rtol=1e-6)
    sig = np.array([[1.0], [0.0], [1.0], [0.0], [0.5]])
    np.testing.assert_allclose(grad, (sig - np.asarray(y)) / 5, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(val, optax.sigmoid_binary_cross_entropy(z, y).mean(), rtol=1e-6)


@pytest.mark.parametrize("shape", [(6, 4), (2, 3, 5)])
def test_softmax_ce_matches_numpy_and_optax(jitted, shape):
    z = (RNG.normal(size=shape) * 3).astype(np.float32)
    labels = RNG.integers(0, shape[-1], size=shape[:-1])
    y = np.eye(shape[-1], dtype=np.float32)[labels]
    val, grad = jitted["sce"](z, y)
    assert val.shape == () and val.dtype == jnp.float32
    np.testing.assert_allclose(val, _np_sce(z, y), rtol=1e-6)
    np.testing.assert_allclose(val, optax.softmax_cross_entropy(z, y).mean(), rtol=1e-6)
    m = int(np.prod(shape[:-1]))
    np.testing.assert_allclose(grad, (_np_softmax(z) - y) / m, rtol=1e-5, atol=1e-7)


def test_softmax_ce_extreme_logits(jitted):
    z = jnp.array([[1000.0, -1000.0, 0.0], [1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0]])
    y = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    val, grad = jitted["sce"](z, y)
    assert np.isfinite(val) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(val, (0.0 + 2000.0 + np.log(3)) / 3, rtol=1e-6)
    p = np.array([[1, 0, 0], [1, 0, 0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(grad, (p - np.asarray(y)) / 3, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(val, optax.softmax_cross_entropy(z, y).mean(), rtol=1e-6)


def test_losses_float64():
    with jax.enable_x64(True):
        z = jnp.asarray(RNG.normal(size=(4, 3)))
        y = jnp.asarray(np.eye(3)[[0, 2, 1, 1]])
        assert z.dtype == jnp.float64
        v = losses.softmax_cross_entropy(z, y)
        assert v.dtype == jnp.float64
        np.testing.assert_allclose(v, _np_sce(z, y), rtol=1e-12)
        yb = jnp.asarray(RNG.integers(0, 2, size=(4, 3)).astype(np.float64))
        np.testing.assert_allclose(losses.binary_cross_entropy(z, yb), _np_bce(z, yb), rtol=1e-12)


# --------------------------------------------------------------------------- infinite logits

INF = np.inf


def _np_log_softmax_limit(z):
    """float64 NumPy log-softmax with exp(-inf) = 0 and 0 * (-inf) = 0; all -inf rows are
    the equal-logits row they shift (uniform), +inf entries share the mass."""
    z = np.array(z, np.float64)
    out = np.empty_like(z)
    for i, row in enumerate(z.reshape(-1, z.shape[-1])):
        if np.all(row == -INF):
            row = np.zeros_like(row)
        elif np.any(row == INF):
            row = np.where(row == INF, 0.0, -INF)
        m = row.max()
        with np.errstate(divide="ignore"):
            out.reshape(-1, z.shape[-1])[i] = row - m - np.log(np.sum(np.exp(row - m)))
    return out


def _np_sce_limit(z, y):
    lp = _np_log_softmax_limit(z)
    y = np.asarray(y, np.float64)
    terms = np.where(y == 0, 0.0, y * np.where(np.isinf(lp) & (y == 0), 0.0, lp))
    return np.mean(-terms.sum(-1))


def test_softmax_ce_field_report_minus_inf(jitted):
    """Issue 15: softmax_cross_entropy([[0, -inf, 1]], [[1, 0, 0]]) was NaN; it is log(1 + e)."""
    z = jnp.array([[0.0, -INF, 1.0]], jnp.float32)
    y = jnp.array([[1.0, 0.0, 0.0]], jnp.float32)
    val, grad = jitted["sce"](z, y)
    np.testing.assert_allclose(val, np.log(1 + np.e), rtol=1e-6)
    assert abs(float(val) - 1.31) < 0.01
    assert np.all(np.isfinite(grad))
    p = np.array([[1 / (1 + np.e), 0.0, np.e / (1 + np.e)]])  # softmax with exp(-inf) = 0
    np.testing.assert_allclose(grad, p - np.asarray(y), rtol=1e-6, atol=1e-7)
    # optax's softmax_cross_entropy gives NaN here (0 * -inf)
    assert np.isnan(float(optax.softmax_cross_entropy(z, y).mean()))


def test_softmax_ce_infinite_logits_against_float64(jitted):
    z = np.array(
        [
            [0.5, -INF, 2.0, -1.0],  # a masked class
            [-INF, -INF, -INF, -INF],  # everything masked: uniform
            [-INF, 3.0, -INF, -INF],  # one class left
            [INF, 0.0, 1.0, -INF],  # +inf takes all the mass
            [0.1, 0.2, 0.3, 0.4],  # ordinary
        ],
        np.float32,
    )
    y = np.eye(4, dtype=np.float32)[[0, 1, 1, 0, 3]]
    val, grad = jitted["sce"](jnp.asarray(z), jnp.asarray(y))
    np.testing.assert_allclose(val, _np_sce_limit(z, y), rtol=1e-6)
    assert np.all(np.isfinite(grad))
    want = (np.exp(_np_log_softmax_limit(z)) - y) / z.shape[0]
    want[1] = 0.0  # the all -inf row is constant: zero gradient
    want[3] = 0.0  # so is a row with +inf (its value is the limit)
    np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-7)
    # a label on a -inf class costs +inf (defined, infinite), never NaN
    inf_val = losses.softmax_cross_entropy(jnp.asarray(z[:1]), jnp.asarray(np.eye(4, dtype=np.float32)[[1]]))
    assert float(inf_val) == INF


def test_log_softmax_and_softmax_infinite_rows():
    from jaxdl import nn

    z = np.array([[-INF, -INF, -INF], [0.0, -INF, 1.0], [INF, 0.0, INF], [INF, -INF, 0.0]], np.float32)
    lp = nn.log_softmax(jnp.asarray(z))
    np.testing.assert_allclose(lp, _np_log_softmax_limit(z), rtol=1e-6)
    np.testing.assert_allclose(lp[0], np.full(3, -np.log(3)), rtol=1e-6)
    assert not np.any(np.isnan(lp))
    sm = nn.softmax(jnp.asarray(z))
    np.testing.assert_allclose(sm, np.exp(_np_log_softmax_limit(z)), rtol=1e-6, atol=0)
    np.testing.assert_allclose(np.asarray(sm).sum(-1), 1.0, rtol=1e-6)
    # gradients through an all -inf row are zero, elsewhere finite
    g = jax.grad(lambda x: jnp.sum(nn.log_softmax(x)[:2, 0]))(jnp.asarray(z))
    assert np.all(np.isfinite(g)) and not np.any(g[0])
    # NaN in, NaN out (no value is invented)
    assert np.all(np.isnan(nn.log_softmax(jnp.array([[np.nan, 0.0]]))))


def _np_bce_limit(z, y):
    from scipy.special import expit, xlogy

    p = expit(np.asarray(z, np.float64))
    y = np.asarray(y, np.float64)
    return np.mean(-xlogy(y, p) - xlogy(1 - y, 1 - p))


def test_bce_infinite_logits_against_float64(jitted):
    """Issue 15: binary_cross_entropy at +-inf logits was NaN (0 * inf)."""
    z = np.array([INF, -INF, 2.0, -3.0, 0.0], np.float32)
    y = np.array([1.0, 0.0, 1.0, 0.0, 1.0], np.float32)
    val, grad = jitted["bce"](z, y)
    np.testing.assert_allclose(val, _np_bce_limit(z, y), rtol=1e-6)
    from scipy.special import expit

    np.testing.assert_allclose(grad, (expit(z.astype(np.float64)) - y) / z.size, rtol=1e-5, atol=1e-8)
    # wrong labels at infinite logits: +inf loss, finite gradient sigmoid(z) - y
    for zi, yi in ((INF, 0.0), (-INF, 1.0), (INF, 0.3)):
        v, g = jitted["bce"](jnp.array([zi], jnp.float32), jnp.array([yi], jnp.float32))
        assert float(v) == INF and _np_bce_limit([zi], [yi]) == INF
        np.testing.assert_allclose(g, [expit(zi) - yi], rtol=1e-6)
    # soft labels at finite logits: unchanged, and the gradient w.r.t. labels is -z (= d/dy)
    gy = jax.grad(losses.binary_cross_entropy, argnums=1)(jnp.array([0.5, -1.0]), jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(gy, [-0.25, 0.5], rtol=1e-6)


def test_evaluate_with_infinite_logits():
    from jaxdl.train import evaluate

    logits = jnp.array([[0.0, -INF, 1.0], [-INF, 2.0, -INF], [-INF, -INF, -INF], [INF, 0.0, -INF]], jnp.float32)
    labels = jnp.array([2, 1, 0, 0])
    out = evaluate(lambda p, X: X, None, logits, labels)
    onehot = np.eye(3)[np.asarray(labels)]
    np.testing.assert_allclose(out["loss"], _np_sce_limit(np.asarray(logits), onehot), rtol=1e-6)
    assert np.isfinite(out["loss"])
    np.testing.assert_allclose(out["accuracy"], 1.0)
    zb = jnp.array([INF, -INF, 3.0, -INF], jnp.float32)
    yb = jnp.array([1, 0, 1, 0])
    outb = evaluate(lambda p, X: X, None, zb, yb)
    np.testing.assert_allclose(outb["loss"], _np_bce_limit(np.asarray(zb), np.asarray(yb)), rtol=1e-6)
    np.testing.assert_allclose(outb["accuracy"], 1.0)


# --------------------------------------------------------------------------- l2_penalty


def test_l2_penalty_weights_only():
    params = {
        "W1": jnp.asarray(RNG.normal(size=(3, 4)).astype(np.float32)),
        "b1": jnp.ones(4),
        "W2": jnp.asarray(RNG.normal(size=(4, 1)).astype(np.float32)),
        "b2": jnp.ones(1) * 5,
    }
    lambd, m = 0.7, 32
    expected = lambd / (2 * m) * sum(np.sum(np.asarray(params[k], np.float64) ** 2) for k in ("W1", "W2"))
    out = jax.jit(losses.l2_penalty, static_argnums=2)(params, lambd, m)
    assert out.dtype == jnp.float32 and out.shape == ()
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(losses.l2_penalty(params, lambd, m), expected, rtol=1e-6)
    # gradient is (lambd / m) * W for weights, 0 for biases
    g = jax.grad(losses.l2_penalty)(params, lambd, m)
    np.testing.assert_allclose(g["W1"], lambd / m * np.asarray(params["W1"]), rtol=1e-6)
    assert not np.any(np.asarray(g["b1"]))
    # lambd = 0 gives 0; lambd may be traced (hyperparameter sweeps)
    assert float(losses.l2_penalty(params, 0.0, m)) == 0.0
    np.testing.assert_allclose(jax.jit(losses.l2_penalty, static_argnums=2)(params, jnp.float32(lambd), m), expected, rtol=1e-6)


def test_l2_penalty_nested_excludes_bn():
    W = jnp.asarray(RNG.normal(size=(2, 2)).astype(np.float32))
    params = {"mlp": {"W1": W, "b1": jnp.ones(2)}, "bn": [{"gamma": jnp.ones(2) * 3, "beta": jnp.ones(2)}]}
    np.testing.assert_allclose(
        losses.l2_penalty(params, 1.0, 4), np.sum(np.asarray(W, np.float64) ** 2) / 8, rtol=1e-6
    )


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: losses.binary_cross_entropy(jnp.zeros((4,)), jnp.zeros((4, 1))), ValueError,
         r"logits and labels must have the same shape, got logits shape \(4,\) and labels shape \(4, 1\)"),
        (lambda: losses.binary_cross_entropy(jnp.zeros((4, 1)), jnp.zeros((3, 1))), ValueError,
         r"logits shape \(4, 1\) and labels shape \(3, 1\)"),
        (lambda: losses.binary_cross_entropy(jnp.float32(0.0), jnp.float32(1.0)), ValueError,
         r"logits must have rank >= 1, got shape \(\)"),
        (lambda: losses.binary_cross_entropy(jnp.zeros(3, jnp.int32), jnp.zeros(3)), TypeError,
         r"logits must be a floating-point array, got dtype int32"),
        (lambda: losses.binary_cross_entropy([0.0, 1.0], jnp.zeros(2)), TypeError, r"logits must be an array, got list"),
        (lambda: losses.softmax_cross_entropy(jnp.zeros((4, 3)), jnp.zeros((4,))), ValueError,
         r"logits and onehot must have the same shape, got logits shape \(4, 3\) and onehot shape \(4,\)"),
        (lambda: losses.softmax_cross_entropy(jnp.zeros((4, 3)), jnp.zeros((4, 2))), ValueError,
         r"onehot shape \(4, 2\)"),
        (lambda: losses.l2_penalty({"W1": jnp.ones(2)}, -0.1, 4), ValueError, r"lambd must be in \[0, inf\), got -0.1"),
        (lambda: losses.l2_penalty({"W1": jnp.ones(2)}, 0.1, 0), ValueError, r"m must be in \(0, inf\), got 0"),
        (lambda: losses.l2_penalty({"W1": jnp.ones(2)}, 0.1, "32"), TypeError, r"m must be a positive number.*str"),
        (lambda: losses.l2_penalty({"w1": jnp.ones(2), "b1": jnp.ones(2)}, 0.1, 4), ValueError,
         r"params has no weight leaves.*params\['b1'\], params\['w1'\]"),
        (lambda: losses.l2_penalty({"W1": jnp.ones(2, jnp.int32)}, 0.1, 4), TypeError,
         r"params\['W1'\] must be a floating-point array, got dtype int32"),
    ],
)
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()

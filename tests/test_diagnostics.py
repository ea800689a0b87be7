"""jaxdl.diagnostics: the lecture's bias/variance examples and per-layer gradient norms."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.diagnostics import (
    HIGH_BIAS_ADVICE,
    HIGH_VARIANCE_ADVICE,
    bias_variance,
    global_norm,
    gradient_norms,
)

# (train, dev, bayes) -> verdict: the lecture's "Bias/Variance" and "human-level" examples.
LECTURE = [
    (0.01, 0.11, 0.0, "high variance"),
    (0.15, 0.16, 0.0, "high bias"),
    (0.15, 0.30, 0.0, "high bias and high variance"),
    (0.005, 0.01, 0.0, "low bias and low variance"),
    (0.155, 0.16, 0.15, "low bias and low variance"),  # blurry images: Bayes error 15%
    (0.08, 0.10, 0.01, "high bias and high variance"),  # human level 1%: focus on bias
    (0.08, 0.10, 0.075, "high variance"),  # human level 7.5%: focus on variance
]


@pytest.mark.parametrize("train,dev,bayes,verdict", LECTURE)
def test_lecture_examples(train, dev, bayes, verdict):
    r = bias_variance(train, dev, bayes)
    assert r.verdict == verdict
    np.testing.assert_allclose(r.avoidable_bias, train - bayes)
    np.testing.assert_allclose(r.variance, dev - train)
    assert r.high_bias == ("high bias" in verdict)
    assert r.high_variance == ("high variance" in verdict)


def test_focus_and_advice():
    r = bias_variance(0.08, 0.10, 0.01)
    assert r.focus == "bias"
    assert r.advice[: len(HIGH_BIAS_ADVICE)] == HIGH_BIAS_ADVICE
    assert set(HIGH_VARIANCE_ADVICE) <= set(r.advice)
    r = bias_variance(0.08, 0.10, 0.075)
    assert r.focus == "variance" and r.advice == HIGH_VARIANCE_ADVICE
    assert any("regularization" in a for a in r.advice) and any("more training data" in a for a in r.advice)
    assert any("bigger network" in a for a in bias_variance(0.15, 0.16).advice)
    assert "low bias" in bias_variance(0.005, 0.01).advice[0]


def test_threshold_rule():
    # a gap of exactly the threshold is low, a larger one high; the threshold is configurable
    assert bias_variance(0.0, 0.01).verdict == "low bias and low variance"
    assert bias_variance(0.0, 0.011).verdict == "high variance"
    assert bias_variance(0.01, 0.11, threshold=0.2).verdict == "low bias and low variance"
    assert bias_variance(0.15, 0.16, threshold=0.005).verdict == "high bias and high variance"
    # train better than the Bayes estimate: negative avoidable bias, reported as such
    r = bias_variance(0.01, 0.02, bayes_error=0.02)
    assert r.avoidable_bias < 0 and not r.high_bias
    # numpy / jax concrete scalars are accepted
    assert bias_variance(np.float32(0.01), jnp.array(0.11)).verdict == "high variance"


def test_bias_variance_bad_input():
    with pytest.raises(ValueError, match=r"train_error must be in \[0, 1\], got 15"):
        bias_variance(15, 16)  # percent instead of a fraction
    with pytest.raises(ValueError, match=r"dev_error must be in \[0, 1\], got -0.1"):
        bias_variance(0.1, -0.1)
    with pytest.raises(ValueError, match=r"bayes_error must be in \[0, 1\]"):
        bias_variance(0.1, 0.2, bayes_error=2.0)
    with pytest.raises(TypeError, match=r"train_error must be a concrete real number.*shape \(2,\)"):
        bias_variance(jnp.array([0.1, 0.2]), 0.2)
    with pytest.raises(TypeError, match="dev_error must be a concrete real number"):
        bias_variance(0.1, "0.2")
    with pytest.raises(TypeError, match="train_error must be a concrete real number"):
        jax.jit(lambda t: bias_variance(t, 0.2).variance)(0.1)


# ---------------------------------------------------------------- gradient_norms


def test_gradient_norms_values_and_jit():
    rng = np.random.default_rng(0)
    grads = {
        "W1": jnp.asarray(rng.standard_normal((4, 5)), jnp.float32),
        "b1": jnp.asarray(rng.standard_normal(5), jnp.float32),
        "W2": jnp.asarray(rng.standard_normal((5, 1)), jnp.float32),
        "b2": jnp.zeros(1, jnp.float32),
    }
    norms = gradient_norms(grads)
    assert list(norms) == ["W1", "W2", "b1", "b2"]  # dict pytree leaf order (sorted keys)
    for k, g in grads.items():
        np.testing.assert_allclose(norms[k], np.linalg.norm(np.asarray(g)), rtol=1e-6)
        assert norms[k].shape == () and norms[k].dtype == jnp.float32
    assert list(gradient_norms(grads, weights_only=True)) == ["W1", "W2"]
    jitted = jax.jit(gradient_norms)(grads)
    for k in norms:
        np.testing.assert_allclose(jitted[k], norms[k], rtol=1e-6)
    total = np.sqrt(sum(np.sum(np.asarray(g) ** 2) for g in grads.values()))
    np.testing.assert_allclose(global_norm(grads), total, rtol=1e-6)
    np.testing.assert_allclose(jax.jit(global_norm)(grads), total, rtol=1e-6)


def test_gradient_norms_nested_and_vanishing():
    nested = {"layer1": {"W": jnp.full((2, 2), 0.5), "b": jnp.zeros(2)}, "head": [jnp.ones(3)]}
    norms = gradient_norms(nested)
    assert set(norms) == {"layer1/W", "layer1/b", "head/0"}
    np.testing.assert_allclose(norms["layer1/W"], 1.0)
    np.testing.assert_allclose(norms["head/0"], np.sqrt(3.0))
    assert list(gradient_norms(nested, weights_only=True)) == ["layer1/W"]
    # a deep sigmoid chain: gradients shrink towards the input layer (vanishing)
    L, n = 8, 6
    keys = jax.random.split(jax.random.key(0), L)
    params = {f"W{l + 1}": jax.random.normal(keys[l], (n, n)) / np.sqrt(n) for l in range(L)}

    def loss(p, x):
        for l in range(L):
            x = jax.nn.sigmoid(x @ p[f"W{l + 1}"])
        return jnp.sum(x)

    g = gradient_norms(jax.grad(loss)(params, jnp.ones((4, n))))
    assert float(g["W1"]) < 0.05 * float(g[f"W{L}"])


def test_gradient_norms_bad_input():
    with pytest.raises(TypeError, match=r"grads\['n'\] must be a floating-point array, got dtype int32 and shape \(2,\)"):
        gradient_norms({"W1": jnp.ones(2), "n": jnp.array([1, 2], jnp.int32)})
    with pytest.raises(ValueError, match="grads must contain at least one array leaf"):
        gradient_norms({})
    with pytest.raises(TypeError, match=r"grads\['W1'\] must be an array, got str"):
        global_norm({"W1": "x"})


def test_gradient_norms_survive_exploding_and_vanishing_float32_and_keep_layer_order():
    grads = {f"W{l}": jnp.full((3, 4), 1e30 if l == 1 else 1e-30, jnp.float32) for l in range(1, 12)}
    norms = gradient_norms(grads)
    assert list(norms) == [f"W{l}" for l in range(1, 12)]  # natural order, not W1, W10, W11, W2
    np.testing.assert_allclose(float(norms["W1"]), 1e30 * np.sqrt(12), rtol=1e-6)
    np.testing.assert_allclose(float(norms["W2"]), 1e-30 * np.sqrt(12), rtol=1e-6)
    assert float(gradient_norms({"W1": jnp.zeros((2, 2))})["W1"]) == 0.0

"""Zero-size shapes: jaxdl treats a dimension of size 0 the way its references do.

References: ``jax.nn.softmax``/``log_softmax`` (an empty class axis gives an empty result,
an empty batch too), optax (an empty parameter leaf is carried through the update beside
non-empty ones). The initializers' cases are in ``tests/test_init.py``
(``test_zero_size_shapes_like_jax_initializers``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import losses, nn, optim

SHAPES = [(2, 0), (0, 3), (0, 0)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_on_an_empty_axis_like_jax(name, shape):
    ours, theirs = getattr(nn, name), getattr(jax.nn, name)
    x = jnp.zeros(shape, jnp.float32)
    ref = theirs(x)
    out = ours(x)
    assert out.shape == ref.shape == shape and out.dtype == ref.dtype
    grad = jax.grad(lambda x: jnp.sum(ours(x)))(x)
    assert grad.shape == shape
    assert jax.jit(ours)(x).shape == shape


def test_softmax_unchanged_on_non_empty_rows():
    """The maximum's ``initial=-inf`` changes nothing for rows with entries (infinite ones included)."""
    x = jnp.array([[1.0, -2.0, 3.0], [-jnp.inf, -jnp.inf, -jnp.inf], [jnp.inf, 0.0, jnp.inf]], jnp.float32)
    np.testing.assert_allclose(np.asarray(nn.softmax(x))[0], np.asarray(jax.nn.softmax(x[0])), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(nn.softmax(x))[1:], [[1 / 3] * 3, [0.5, 0.0, 0.5]], rtol=1e-6)


def test_cross_entropy_of_an_empty_batch_like_optax():
    """optax's per-example loss of an empty batch is empty, and its mean NaN; jaxdl's batch mean too."""
    logits = jnp.zeros((0, 3), jnp.float32)
    ref = optax.softmax_cross_entropy(logits, logits)
    assert ref.shape == (0,)
    assert np.isnan(float(losses.softmax_cross_entropy(logits, logits))) and np.isnan(float(ref.mean()))


@pytest.mark.parametrize("name", ["sgd", "momentum", "rmsprop", "adam"])
def test_optimizers_carry_an_empty_leaf_like_optax(name):
    ours = {"sgd": optim.sgd, "momentum": optim.momentum, "rmsprop": optim.rmsprop, "adam": optim.adam}[name](0.1)
    ref = {"sgd": optax.sgd(0.1),  # the same methods (see tests/test_optim.py CASES)
           "momentum": optax.chain(optax.ema(0.9, debias=False), optax.scale_by_learning_rate(0.1)),
           "rmsprop": optax.rmsprop(0.1, decay=0.9, eps=1e-8, eps_in_sqrt=False),
           "adam": optax.adam(0.1)}[name]
    params = {"empty": jnp.zeros((0, 3), jnp.float32), "w": jnp.array([1.0, -2.0], jnp.float32)}
    grads = {"empty": jnp.zeros((0, 3), jnp.float32), "w": jnp.array([0.5, 0.25], jnp.float32)}
    updates, state = jax.jit(ours.update)(grads, ours.init(params), params)
    with jax.numpy_dtype_promotion("standard"):
        ref_updates, _ = ref.update(grads, ref.init(params), params)
    assert updates["empty"].shape == ref_updates["empty"].shape == (0, 3)
    np.testing.assert_allclose(np.asarray(updates["w"]), np.asarray(ref_updates["w"]), rtol=1e-6)
    assert jax.tree.structure(state) == jax.tree.structure(ours.init(params))
    new = optim.apply_updates(params, updates)
    assert new["empty"].shape == (0, 3) and bool(jnp.all(jnp.isfinite(new["w"])))

"""flax's ``tests/linen/linen_test.py`` (google/flax), the cases that apply to jaxdl.

Ported: ``NormalizationTest.test_batch_norm`` (against :func:`jaxdl.nn.batchnorm`, and also
checked number for number against ``flax.linen.BatchNorm(use_fast_variance=False)``, which
jaxdl matches), ``StochasticTest.test_dropout``, ``test_dropout_rate_stats`` and
``test_dropout_rate_limits`` (against :func:`jaxdl.nn.dropout`, whose ``rate`` is flax's drop
probability; given the key flax's module derives, its mask is flax's, bit for bit). Not ported: ``test_batch_norm_complex`` (jaxdl's batch norm takes real floating
inputs only) and ``test_batch_norm_multi_init`` (flax skips the cross-device mean while
initializing a module; jaxdl has no init pass).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import random

from jaxdl import nn


def test_batch_norm():
    """NormalizationTest.test_batch_norm: x (4, 3, 2), statistics over all but the last axis."""
    rng = random.PRNGKey(0)
    key1, _ = random.split(rng)
    x = random.normal(key1, (4, 3, 2))
    params, state = nn.batchnorm_init(2)
    y, ema = nn.batchnorm(params, state, x, train=True, momentum=0.9)

    mean = y.mean((0, 1))
    var = y.var((0, 1))
    np.testing.assert_allclose(mean, np.array([0.0, 0.0]), atol=1e-4)
    np.testing.assert_allclose(var, np.array([1.0, 1.0]), rtol=1e-4)
    np.testing.assert_allclose(ema["mean"], 0.1 * x.mean((0, 1), keepdims=False), atol=1e-4)
    np.testing.assert_allclose(ema["var"], 0.9 + 0.1 * x.var((0, 1), keepdims=False), rtol=1e-4)

    import flax.linen

    model = flax.linen.BatchNorm(momentum=0.9, use_running_average=False, use_fast_variance=False)
    variables = model.init(random.PRNGKey(1), x)
    y_flax, out = model.apply(variables, x, mutable=["batch_stats"])
    np.testing.assert_allclose(y, y_flax, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ema["mean"], out["batch_stats"]["mean"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ema["var"], out["batch_stats"]["var"], rtol=1e-6)


def test_dropout():
    """StochasticTest.test_dropout: two keys give two masks; not training, both give x."""
    rng = random.PRNGKey(0)
    key1, key2 = random.split(rng)
    x = jnp.ones((20, 20))
    y1 = nn.dropout(key1, x, 0.5, train=True)
    y2 = nn.dropout(key2, x, 0.5, train=True)
    assert not np.all(y1 == y2)
    y1 = nn.dropout(key1, x, 0.5, train=False)
    y2 = nn.dropout(key2, x, 0.5, train=False)
    assert np.all(y1 == y2)


def flax_dropout_key(key):
    """The key ``flax.linen.Dropout`` draws its mask from when applied with ``rngs={"dropout": key}``
    (``make_rng`` of a top-level module), so the port sees the very draws of flax's test."""
    import flax.linen

    class MakeRng(flax.linen.Module):
        @flax.linen.compact
        def __call__(self):
            return self.make_rng("dropout")

    return MakeRng().apply({}, rngs={"dropout": key})


def test_dropout_rate_stats():
    """StochasticTest.test_dropout_rate_stats: the kept fraction is 1 - rate within 3 sigma; with
    flax's keys jaxdl's masks are flax's own (checked on each rate's first trial)."""
    import flax.linen

    rootkey = random.PRNGKey(0)
    for rate in np.arange(0.1, 1.0, 0.1):
        rootkey, subkey = random.split(rootkey)
        n_trials = 10
        nonzero_counts = 0
        for i, key in enumerate(random.split(subkey, n_trials)):
            y = nn.dropout(flax_dropout_key(key), jnp.ones((100, 100)), float(rate), train=True)
            if i == 0:
                y_flax = flax.linen.Dropout(rate=rate).apply({}, jnp.ones((100, 100)), deterministic=False,
                                                             rngs={"dropout": key})
                np.testing.assert_array_equal(y, y_flax)
            nonzero_counts += np.sum(y > 0.0)
        all_counts = np.prod((100, 100, n_trials))
        frac = np.sum(nonzero_counts) / all_counts
        keep_rate = 1.0 - rate
        # just check within 3 sigma.
        delta = 3 * np.sqrt(rate * keep_rate) / np.sqrt(all_counts)
        assert keep_rate - delta < frac < keep_rate + delta, (rate, frac)


def test_dropout_rate_limits():
    """StochasticTest.test_dropout_rate_limits: rate 0 is the identity, rate 1 gives zeros with
    a gradient free of NaN."""
    rng = random.PRNGKey(0)
    key1, key2, key3 = random.split(rng, 3)
    inputs = jnp.ones((20, 20))
    np.testing.assert_array_equal(nn.dropout(key1, inputs, 0.0, train=True), inputs)
    np.testing.assert_array_equal(nn.dropout(key2, inputs, 1.0, train=True), np.zeros_like(inputs))
    res = jax.grad(lambda x, k: jnp.sum(nn.dropout(k, x, 1.0, train=True)))(inputs, key3)
    assert not np.isnan(res).any()

"""equinox's ``tests/test_nn.py`` (patrick-kidger/equinox), the cases that apply to jaxdl.

Ported: ``test_batch_norm`` (``eqx.nn.BatchNorm(5, "batch")`` is applied per example under
``jax.vmap(..., axis_name="batch")``; the same with :func:`jaxdl.nn.batchnorm` on a per-example
batch of one row, ``axis_name="batch"``; ``channelwise_affine=False`` is jaxdl's initial
``gamma = 1``, ``beta = 0``; ``inference_mode`` is ``train=False``), ``test_dropout_basic`` and
``test_dropout_inference`` (``eqx.nn.Dropout()`` drops with ``p = 0.5``; ``inference=True`` is
``train=False``). Where equinox only checks shapes, the port also checks the values against
the batch norm of the whole batch without ``vmap``. Not ported: equinox's channel-first inputs
of rank 1 or > 2 per example (jaxdl's features are last), ``bn(x0, state)`` on a single
unbatched example (jaxdl needs rank >= 2) and dropout without a key at inference (jaxdl's
``dropout`` always takes its key), ``test_dropout_deterministic`` (a deprecated alias of
``inference``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jrandom
import numpy as np
import pytest

from jaxdl import nn


@pytest.fixture
def getkey():
    """equinox's conftest fixture: a fresh key per call."""
    keys = iter(jrandom.split(jrandom.PRNGKey(0), 100))
    return lambda: next(keys)


def vmapped_batchnorm(axis_name="batch", *, train=True, momentum=0.99):
    """``jax.vmap(bn, axis_name=..., in_axes=(0, None), out_axes=(0, None))`` of equinox's test:
    every example (a feature vector) normalized with the statistics of the whole mapped batch."""
    params, _ = nn.batchnorm_init(5)

    def bn(x, state):
        y, new_state = nn.batchnorm(params, state, x[None], train=train, momentum=momentum, axis_name=axis_name)
        return y[0], new_state

    return jax.jit(jax.vmap(bn, axis_name=axis_name, in_axes=(0, None), out_axes=(0, None)))


@jax.jit
def whole_batch(params, state, x):
    """The reference: batch norm of all rows at once, no vmap."""
    return nn.batchnorm(params, state, x, train=True)


def test_batch_norm(getkey):
    x1 = jrandom.uniform(getkey(), (10, 5))
    params, state = nn.batchnorm_init(5)

    # Test that it works with a single vmap'd axis_name (and gives the whole batch's statistics)
    out, new_state = vmapped_batchnorm()(x1, state)
    assert out.shape == x1.shape
    assert new_state["mean"].shape == (5,) and new_state["var"].shape == (5,)
    whole, whole_state = whole_batch(params, state, x1)
    np.testing.assert_allclose(out, whole, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_state["mean"], whole_state["mean"], rtol=1e-6)
    np.testing.assert_allclose(new_state["var"], whole_state["var"], rtol=1e-6)

    # Test that it fails without any vmap'd axis_name
    with pytest.raises(NameError):
        jax.vmap(lambda x, s: nn.batchnorm(params, s, x[None], train=True, axis_name="batch"),
                 in_axes=(0, None), out_axes=(0, None))(x1, state)
    with pytest.raises(NameError):
        nn.batchnorm(params, state, x1, train=True, axis_name="batch")

    # Test that it vmaps with other vmaps without axis_name: statistics per outer index
    x2 = jrandom.uniform(getkey(), (10, 5, 5))
    out, per_row_state = jax.jit(jax.vmap(
        jax.vmap(lambda x, s: jax.tree.map(lambda a: a[0] if a.ndim == 2 else a,
                                           nn.batchnorm(params, s, x[None], train=True, axis_name="batch")),
                 axis_name="batch", in_axes=(0, None), out_axes=(0, None)),
        in_axes=(0, None),
    ))(x2, state)
    assert out.shape == x2.shape
    assert per_row_state["mean"].shape == (10, 5) and per_row_state["var"].shape == (10, 5)
    for i in (0, 9):
        ref, ref_state = whole_batch(params, state, x2[i])
        np.testing.assert_allclose(out[i], ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(per_row_state["mean"][i], ref_state["mean"], rtol=1e-6)

    # Test that it handles multiple axis_names
    x3 = jrandom.uniform(getkey(), (10, 5, 6))
    p6, s6 = nn.batchnorm_init(6)

    def bn6(x, s):
        y, new = nn.batchnorm(p6, s, x[None], train=True, axis_name=("batch1", "batch2"))
        return y[0], new

    vvbn = bn6
    for axis_name in ("batch1", "batch2"):
        vvbn = jax.vmap(vvbn, axis_name=axis_name, in_axes=(0, None), out_axes=(0, None))
    out, out_state = jax.jit(vvbn)(x3, s6)
    assert out.shape == x3.shape
    assert out_state["mean"].shape == (6,) and out_state["var"].shape == (6,)
    whole, _ = whole_batch(p6, s6, x3.reshape(50, 6))
    np.testing.assert_allclose(out.reshape(50, 6), whole, rtol=1e-5, atol=1e-6)

    # Test that it normalises
    x1alt = jrandom.normal(jrandom.PRNGKey(5678), (10, 5))  # avoid flakey test
    vbn = vmapped_batchnorm()
    out, state = vbn(x1alt, state)
    true_out = (x1alt - jnp.mean(x1alt, axis=0, keepdims=True)) / jnp.sqrt(
        jnp.var(x1alt, axis=0, keepdims=True) + 1e-5
    )
    assert jnp.allclose(out, true_out)

    # Test that the statistics update during training
    out, state = vbn(x1, state)
    running_mean, running_var = state["mean"], state["var"]
    out, state = vbn(3 * x1 + 10, state)
    running_mean2, running_var2 = state["mean"], state["var"]
    assert not jnp.allclose(running_mean, running_mean2)
    assert not jnp.allclose(running_var, running_var2)

    # Test that the statistics don't update at inference
    out, state = vmapped_batchnorm(train=False)(4 * x1 + 20, state)
    assert jnp.array_equal(running_mean2, state["mean"])
    assert jnp.array_equal(running_var2, state["var"])

    # Test that we can differentiate through it
    @jax.jit
    @jax.grad
    def f(x):
        out, _ = vbn(x, state)
        return jnp.sum(out)

    g = f(jrandom.normal(getkey(), (1, 5)))
    assert g.shape == (1, 5) and bool(jnp.all(jnp.isfinite(g)))


def test_dropout_basic(getkey):
    x = jrandom.normal(getkey(), (3, 4, 5))
    y = nn.dropout(getkey(), x, 0.5)
    assert jnp.all((y == 0) | (y == x / 0.5))


def test_dropout_inference(getkey):
    x = jrandom.normal(getkey(), (3, 4, 5))
    z1 = nn.dropout(getkey(), x, 0.5, train=False)
    assert jnp.all(x == z1)
    z3 = nn.dropout(jrandom.PRNGKey(0), x, 0.5, train=True)
    assert jnp.any(x != z3)

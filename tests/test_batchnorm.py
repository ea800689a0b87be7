"""jaxdl.nn.batchnorm against flax.linen.BatchNorm, and its cross-device statistics.

The reference is flax with ``use_fast_variance=False`` (the centred, two-pass variance, which
jaxdl computes); flax's default one-pass ``E[x^2] - E[x]^2`` agrees on well-conditioned data
and is shown to fail where jaxdl must not (mean/std = 1e4, checked against float64 NumPy).
"""

from __future__ import annotations

import functools

import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, PartitionSpec as P

from jaxdl import nn

MOMENTUM, EPS = 0.9, 1e-3
N_FEAT, M = 3, 8
TOL = dict(rtol=1e-6, atol=1e-6)


def _batches(n, m=M, seed=0):
    rng = np.random.default_rng(seed)
    # offset and scale per feature so the statistics are far from the initial (0, 1)
    return [
        jnp.asarray((rng.normal(size=(m, N_FEAT)) * [1.0, 3.0, 0.5] + [2.0, -1.0, 5.0]).astype(np.float32))
        for _ in range(n)
    ]


@pytest.fixture(scope="module")
def flax_bn():
    module = fnn.BatchNorm(momentum=MOMENTUM, epsilon=EPS, use_fast_variance=False)
    variables = module.init(jax.random.key(0), jnp.ones((M, N_FEAT)), use_running_average=False)
    rng = np.random.default_rng(1)
    gamma = jnp.asarray(rng.uniform(0.5, 2.0, N_FEAT).astype(np.float32))
    beta = jnp.asarray(rng.normal(size=N_FEAT).astype(np.float32))
    variables = {"params": {"scale": gamma, "bias": beta}, "batch_stats": variables["batch_stats"]}

    @functools.partial(jax.jit, static_argnames="train")
    def apply(params, stats, x, *, train):
        y, upd = module.apply(
            {"params": params, "batch_stats": stats}, x, use_running_average=not train, mutable=["batch_stats"]
        )
        return y, upd["batch_stats"]

    return apply, variables


@pytest.fixture(scope="module")
def ours():
    return jax.jit(nn.batchnorm, static_argnames=("train", "momentum", "eps", "axis_name"))


def _to_ours(variables):
    p, s = variables["params"], variables["batch_stats"]
    return {"gamma": p["scale"], "beta": p["bias"]}, {"mean": s["mean"], "var": s["var"]}


def test_init_matches_flax(flax_bn):
    _, variables = flax_bn
    params, state = nn.batchnorm_init(N_FEAT)
    assert all(a.dtype == jnp.float32 and a.shape == (N_FEAT,) for a in (*params.values(), *state.values()))
    np.testing.assert_array_equal(params["gamma"], np.ones(N_FEAT))
    np.testing.assert_array_equal(params["beta"], np.zeros(N_FEAT))
    np.testing.assert_array_equal(state["mean"], variables["batch_stats"]["mean"])
    np.testing.assert_array_equal(state["var"], variables["batch_stats"]["var"])


def test_train_eval_and_running_stats_match_flax(flax_bn, ours):
    flax_apply, variables = flax_bn
    fparams, fstats = variables["params"], variables["batch_stats"]
    params, state = _to_ours(variables)
    for x in _batches(10):
        y_f, fstats = flax_apply(fparams, fstats, x, train=True)
        y, state = ours(params, state, x, train=True, momentum=MOMENTUM, eps=EPS)
        np.testing.assert_allclose(y, y_f, **TOL)
        assert state["mean"].dtype == jnp.float32 and state["var"].dtype == jnp.float32
    np.testing.assert_allclose(state["mean"], fstats["mean"], **TOL)
    np.testing.assert_allclose(state["var"], fstats["var"], **TOL)
    # running stats moved well away from the init (the comparison is not vacuous)
    assert np.all(np.abs(np.asarray(state["mean"])) > 0.5)

    x = _batches(1, seed=5)[0]
    y_f, fstats2 = flax_apply(fparams, fstats, x, train=False)
    y, state2 = ours(params, state, x, train=False, momentum=MOMENTUM, eps=EPS)
    np.testing.assert_allclose(y, y_f, **TOL)
    np.testing.assert_array_equal(state2["mean"], state["mean"])
    np.testing.assert_array_equal(state2["var"], state["var"])
    np.testing.assert_array_equal(fstats2["mean"], fstats["mean"])


def test_train_mode_matches_numpy_biased_variance():
    params, state = nn.batchnorm_init(N_FEAT)
    x = _batches(1, seed=3)[0]
    y, new = nn.batchnorm(params, state, x, train=True)  # default momentum 0.99, eps 1e-5
    x64 = np.asarray(x, np.float64)
    mu, var = x64.mean(0), x64.var(0)  # ddof=0: biased
    np.testing.assert_allclose(y, (x64 - mu) / np.sqrt(var + 1e-5), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(new["mean"], 0.01 * mu, rtol=1e-5)
    np.testing.assert_allclose(new["var"], 0.99 + 0.01 * var, rtol=1e-5)


@pytest.mark.parametrize("train", [True, False])
def test_gradients_match_flax(flax_bn, train):
    flax_apply, variables = flax_bn
    fparams = variables["params"]
    # use non-trivial running stats for eval mode
    fstats = {"mean": jnp.array([1.0, -0.5, 4.0]), "var": jnp.array([2.0, 9.0, 0.3])}
    params, state = _to_ours({"params": fparams, "batch_stats": fstats})
    x = _batches(1, seed=7)[0]
    c = jnp.asarray(np.random.default_rng(8).normal(size=x.shape).astype(np.float32))

    def loss_flax(p, x):
        return jnp.sum(flax_apply(p, fstats, x, train=train)[0] * c)

    def loss_ours(p, x):
        return jnp.sum(nn.batchnorm(p, state, x, train=train, momentum=MOMENTUM, eps=EPS)[0] * c)

    gp_f, gx_f = jax.jit(jax.grad(loss_flax, argnums=(0, 1)))(fparams, x)
    gp, gx = jax.jit(jax.grad(loss_ours, argnums=(0, 1)))(params, x)
    np.testing.assert_allclose(gx, gx_f, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gp["gamma"], gp_f["scale"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gp["beta"], gp_f["bias"], rtol=1e-5, atol=1e-5)


def test_axis_name_gives_global_batch_statistics(ours):
    n_dev = 4
    devices = np.array(jax.devices()[:n_dev])
    assert devices.size == n_dev
    mesh = Mesh(devices, ("batch",))
    params = {"gamma": jnp.array([1.0, 2.0, 0.5]), "beta": jnp.array([0.0, 1.0, -1.0])}
    _, state = nn.batchnorm_init(N_FEAT)
    # per-device batches with very different statistics, so local != global
    x = jnp.concatenate([b + 3.0 * i for i, b in enumerate(_batches(n_dev, m=4, seed=11))], axis=0)

    @jax.jit
    @functools.partial(
        jax.shard_map, mesh=mesh, in_specs=(P(), P(), P("batch")), out_specs=(P("batch"), P())
    )
    def distributed(params, state, x):
        return nn.batchnorm(params, state, x, train=True, momentum=MOMENTUM, eps=EPS, axis_name="batch")

    y_dist, state_dist = distributed(params, state, x)
    y_glob, state_glob = ours(params, state, x, train=True, momentum=MOMENTUM, eps=EPS)
    np.testing.assert_allclose(y_dist, y_glob, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(state_dist["mean"], state_glob["mean"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(state_dist["var"], state_glob["var"], rtol=1e-5, atol=1e-6)
    # without axis_name each device would normalize with its own statistics
    y_local, _ = ours(params, state, x[:4], train=True, momentum=MOMENTUM, eps=EPS)
    assert not np.allclose(y_local, y_glob[:4], atol=1e-3)


def test_higher_rank_input_features_last(flax_bn):
    flax_apply, variables = flax_bn
    params, state = _to_ours(variables)
    x = jnp.asarray(np.random.default_rng(4).normal(size=(2, 5, N_FEAT)).astype(np.float32))
    y_f, s_f = flax_apply(variables["params"], variables["batch_stats"], x, train=True)
    y, s = nn.batchnorm(params, state, x, train=True, momentum=MOMENTUM, eps=EPS)
    np.testing.assert_allclose(y, y_f, **TOL)
    np.testing.assert_allclose(s["var"], s_f["var"], **TOL)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda p, s: nn.batchnorm(p, s, jnp.ones((4, 2)), train=True), ValueError,
         r"params\['gamma'\] must have shape \(2,\) to match x of shape \(4, 2\).*got shape \(3,\)"),
        (lambda p, s: nn.batchnorm(p, s, jnp.ones(3), train=True), ValueError, r"x must have rank >= 2, got shape \(3,\)"),
        (lambda p, s: nn.batchnorm(s, p, jnp.ones((4, 3)), train=True), ValueError,
         r"params must be a dict with keys \['gamma', 'beta'\].*got \['mean', 'var'\]"),
        (lambda p, s: nn.batchnorm(p, {"mean": s["mean"]}, jnp.ones((4, 3)), train=True), ValueError,
         r"state must be a dict with keys \['mean', 'var'\]"),
        (lambda p, s: nn.batchnorm(p, dict(s, var=jnp.ones((3, 1))), jnp.ones((4, 3)), train=True), ValueError,
         r"state\['var'\] must have shape \(3,\).*got shape \(3, 1\)"),
        (lambda p, s: nn.batchnorm(p, s, jnp.ones((4, 3)), train=jnp.bool_(True)), TypeError, r"train must be a Python bool"),
        (lambda p, s: nn.batchnorm(p, s, jnp.ones((4, 3)), train=True, momentum=1.5), ValueError, r"momentum must be in \[0, 1\], got 1.5"),
        (lambda p, s: nn.batchnorm(p, s, jnp.ones((4, 3)), train=True, eps=0.0), ValueError, r"eps must be in \(0, inf\), got 0.0"),
        (lambda p, s: nn.batchnorm(p, s, jnp.ones((4, 3), jnp.int32), train=True), TypeError, r"x must be a floating-point array, got dtype int32"),
        (lambda p, s: nn.batchnorm_init(0), ValueError, r"num_features must be > 0, got 0"),
        (lambda p, s: nn.batchnorm_init(2.0), TypeError, r"num_features must be an int"),
    ],
)
def test_bad_input(call, exc, match):
    params, state = nn.batchnorm_init(3)
    with pytest.raises(exc, match=match):
        call(params, state)


def test_float64_input_under_x64_and_strict_promotion_stays_float64():
    # Regression: promote_types(float64, float32) raised TypePromotionError under strict mode.
    with jax.enable_x64(True):
        params, state = nn.batchnorm_init(3)
        x = jnp.arange(12.0, dtype=jnp.float64).reshape(4, 3)
        y, new_state = nn.batchnorm(params, state, x, train=True)
        assert y.dtype == jnp.float64
        ref = (x - x.mean(0, keepdims=True)) / jnp.sqrt(x.var(0, keepdims=True) + 1e-5)
        np.testing.assert_allclose(np.asarray(y), np.asarray(ref), rtol=1e-10)
        assert new_state["mean"].dtype == jnp.float32  # the state keeps its own dtype


# --------------------------------------------------------------------------- ill-conditioned batches


def _offset_batch(mean: float, std: float, m: int = 64, n: int = N_FEAT, seed: int = 0) -> jnp.ndarray:
    rng = np.random.default_rng(seed)
    return jnp.asarray((mean + std * rng.normal(size=(m, n))).astype(np.float32))


def _np_batchnorm(x, state, momentum, eps):
    """float64 NumPy: biased two-pass variance, normalized output, updated running stats."""
    x64 = np.asarray(x, np.float64)
    mu = x64.mean(0)
    var = ((x64 - mu) ** 2).mean(0)
    y = (x64 - mu) / np.sqrt(var + eps)
    new_mean = momentum * np.asarray(state["mean"], np.float64) + (1 - momentum) * mu
    new_var = momentum * np.asarray(state["var"], np.float64) + (1 - momentum) * var
    return y, new_mean, new_var, var


@pytest.mark.parametrize("mean, std", [(1000.0, 0.1), (1e4, 1.0), (-1e3, 0.1)])
def test_field_report_large_mean_small_std(ours, mean, std):
    """Issue 15: float32 (64, 3), mean 1000, std 0.1 gave output std 33.6 / 0.24 / 29 and a
    running variance updated with 0. Now: std 1 per feature to 1e-3, as float64 NumPy."""
    x = _offset_batch(mean, std)
    params, state = nn.batchnorm_init(N_FEAT)
    eps = 1e-9  # small enough that the output std is 1 itself, not sqrt(var / (var + eps))
    y, new = ours(params, state, x, train=True, momentum=MOMENTUM, eps=eps)
    y_ref, mean_ref, var_ref, batch_var = _np_batchnorm(x, state, MOMENTUM, eps)
    y64 = np.asarray(y, np.float64)
    np.testing.assert_allclose(y64.std(0), 1.0, rtol=1e-3)
    np.testing.assert_allclose(y64, y_ref, atol=2e-3)
    np.testing.assert_allclose(new["mean"], mean_ref, rtol=1e-6)
    np.testing.assert_allclose(new["var"], var_ref, rtol=1e-5)
    # the running variance got the batch's variance, not the cancelled 0 (nor noise)
    np.testing.assert_allclose((np.asarray(new["var"], np.float64) - MOMENTUM) / (1 - MOMENTUM), batch_var, rtol=1e-3)


def test_matches_flax_two_pass_and_beats_flax_fast_variance(ours):
    x = _offset_batch(1000.0, 0.1)
    params, state = nn.batchnorm_init(N_FEAT)
    y, new = ours(params, state, x, train=True, momentum=MOMENTUM, eps=EPS)
    results = {}
    for fast in (False, True):
        module = fnn.BatchNorm(momentum=MOMENTUM, epsilon=EPS, use_fast_variance=fast)
        variables = module.init(jax.random.key(0), x, use_running_average=False)
        results[fast] = module.apply(variables, x, use_running_average=False, mutable=["batch_stats"])
    y_slow, upd_slow = results[False]
    np.testing.assert_allclose(y, y_slow, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(new["var"], upd_slow["batch_stats"]["var"], rtol=1e-6)
    y_ref, *_ = _np_batchnorm(x, state, MOMENTUM, EPS)
    # flax's default one-pass variance is far off on this batch; ours is not
    y_fast, _ = results[True]
    assert np.max(np.abs(np.asarray(y_fast, np.float64) - y_ref)) > 0.1
    assert np.max(np.abs(np.asarray(y, np.float64) - y_ref)) < 2e-3


def test_well_conditioned_agrees_with_flax_default(ours):
    """On ordinary batches the two-pass and one-pass variances agree to float32 rounding."""
    module = fnn.BatchNorm(momentum=MOMENTUM, epsilon=EPS)  # use_fast_variance=True
    x = _batches(1, seed=9)[0]
    variables = module.init(jax.random.key(0), x, use_running_average=False)
    y_f, upd = module.apply(variables, x, use_running_average=False, mutable=["batch_stats"])
    params, state = nn.batchnorm_init(N_FEAT)
    y, new = ours(params, state, x, train=True, momentum=MOMENTUM, eps=EPS)
    np.testing.assert_allclose(y, y_f, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new["var"], upd["batch_stats"]["var"], rtol=1e-5)


def test_axis_name_large_mean_small_std_matches_float64():
    """Across 4 devices: the same accuracy as one device, against the global float64 batch."""
    n_dev = 4
    mesh = Mesh(np.array(jax.devices()[:n_dev]), ("batch",))
    params, state = nn.batchnorm_init(N_FEAT)
    # per-device offsets differ by 10 std, so the global variance has a between-device part
    x = jnp.concatenate([_offset_batch(1000.0 + 1.0 * i, 0.1, m=8, seed=20 + i) for i in range(n_dev)], axis=0)

    @jax.jit
    @functools.partial(jax.shard_map, mesh=mesh, in_specs=(P(), P(), P("batch")), out_specs=(P("batch"), P()))
    def distributed(params, state, x):
        return nn.batchnorm(params, state, x, train=True, momentum=MOMENTUM, eps=1e-9, axis_name="batch")

    y, new = distributed(params, state, x)
    y_ref, mean_ref, var_ref, _ = _np_batchnorm(x, state, MOMENTUM, 1e-9)
    np.testing.assert_allclose(np.asarray(y, np.float64).std(0), 1.0, rtol=1e-3)
    np.testing.assert_allclose(y, y_ref, atol=2e-3)
    np.testing.assert_allclose(new["mean"], mean_ref, rtol=1e-6)
    np.testing.assert_allclose(new["var"], var_ref, rtol=1e-5)
    # flax with use_fast_variance=False under the same shard_map gives the same numbers
    module = fnn.BatchNorm(momentum=MOMENTUM, epsilon=1e-9, use_fast_variance=False, axis_name="batch")
    variables = module.init(jax.random.key(0), x[:8], use_running_average=False)

    @jax.jit
    @functools.partial(jax.shard_map, mesh=mesh, in_specs=(P(), P("batch")), out_specs=(P("batch"), P()))
    def flax_distributed(variables, x):
        y, upd = module.apply(variables, x, use_running_average=False, mutable=["batch_stats"])
        return y, upd["batch_stats"]

    y_f, stats_f = flax_distributed(variables, x)
    np.testing.assert_allclose(y, y_f, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(new["var"], stats_f["var"], rtol=1e-6)


def test_gradient_large_mean_small_std_matches_float64():
    """The input gradient at mean/std = 1e4 against the analytic batch-norm backward in float64."""
    x = _offset_batch(1000.0, 0.1, m=16)
    c = np.random.default_rng(2).normal(size=x.shape)
    params, state = nn.batchnorm_init(N_FEAT)

    def loss(x):
        return jnp.sum(nn.batchnorm(params, state, x, train=True, eps=1e-9)[0] * jnp.asarray(c, jnp.float32))

    gx = np.asarray(jax.jit(jax.grad(loss))(x), np.float64)
    x64 = np.asarray(x, np.float64)
    m = x64.shape[0]
    var = x64.var(0)
    xhat = (x64 - x64.mean(0)) / np.sqrt(var + 1e-9)
    want = (m * c - c.sum(0) - xhat * (c * xhat).sum(0)) / (m * np.sqrt(var + 1e-9))
    np.testing.assert_allclose(gx, want, rtol=0, atol=2e-3 * np.max(np.abs(want)))

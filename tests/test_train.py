"""Tests of jaxdl.train: fit == a plain Python loop, the train step, evaluate, data parallel.

The reference for ``fit`` is the loop its docstring promises: per epoch
``key, perm_key, dropout_key = split(key, 3)``, ``jaxdl.data.random_minibatches(perm_key, ...)``
and ``make_train_step``'s step with ``key=fold_in(dropout_key, k)`` on batch ``k``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import Mesh

from jaxdl import data, init, losses, nn, optim, train
from jaxdl.train import TrainState, evaluate, fit, make_train_step

M, NX, BS = 37, 3, 8  # 37 = 4 * 8 + 5: a smaller last batch
LAYERS = [NX, 5, 1]


# --------------------------------------------------------------------------- fixtures / models


@pytest.fixture(scope="module")
def dataset():
    kx, kd = jax.random.split(jax.random.key(0))
    X = jax.random.normal(kx, (M, NX), jnp.float32)
    Y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(jnp.float32)
    X_dev = jax.random.normal(kd, (11, NX), jnp.float32)
    Y_dev = (X_dev[:, 0] + 0.5 * X_dev[:, 1] > 0).astype(jnp.float32)
    return X, Y, X_dev, Y_dev


@pytest.fixture(scope="module")
def params0():
    return init.init_mlp(jax.random.key(1), LAYERS, method="he")


def apply_plain(p, X):
    return nn.mlp_apply(p, X)[:, 0]


def loss_plain(p, X, Y):
    return losses.binary_cross_entropy(apply_plain(p, X), Y) + losses.l2_penalty(p, 0.1, X.shape[0])


def loss_dropout(p, X, Y, *, key):
    z = nn.mlp_apply(p, X, key=key, dropout_rate=0.3, train=True)[:, 0]
    return losses.binary_cross_entropy(z, Y)


def loss_bn(p, ms, X, Y):
    z, new_ms = nn.mlp_apply(p["mlp"], X, batchnorm=(p["bn"], ms), train=True, bn_momentum=0.9)
    return losses.binary_cross_entropy(z[:, 0], Y), new_ms


def loss_bn_dropout(p, ms, X, Y, *, key):
    z, new_ms = nn.mlp_apply(
        p["mlp"], X, batchnorm=(p["bn"], ms), train=True, bn_momentum=0.9, key=key, dropout_rate=0.2
    )
    return losses.binary_cross_entropy(z[:, 0], Y), new_ms


def per_example_bce(z, y):
    return jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z)))


def loss_masked(p, X, Y, *, mask):
    return train.masked_mean(per_example_bce(apply_plain(p, X), Y), mask)


def metric_plain(p, X, Y):
    return evaluate(lambda q, x: nn.mlp_apply(q, x), p, X, Y)


def metric_bn(p, ms, X, Y):
    return evaluate(lambda q, s, x: nn.mlp_apply(q["mlp"], x, batchnorm=(q["bn"], s), train=False)[0], p, X, Y, model_state=ms)


def bn_params_state(params0):
    bn_p, bn_s = nn.mlp_batchnorm_init(LAYERS)
    return {"mlp": params0, "bn": bn_p}, bn_s


def counting_traces(loss_fn, traces):
    """``loss_fn`` that appends to ``traces`` each time it is traced (Python runs only then)."""
    def counted(p, X, Y):
        traces.append(1)
        return loss_fn(p, X, Y)
    return counted


def python_loop(loss_fn, params, optimizer, X, Y, *, key, epochs, batch_size, stateful=False, needs_key=False,
                model_state=None, last_batch="exact", metric=None, X_dev=None, Y_dev=None):
    """The plain per-batch loop fit must equal (the module docstring's convention)."""
    masked = last_batch == "masked"
    step = make_train_step(loss_fn, optimizer, stateful=stateful, needs_key=needs_key, masked=masked)
    state = TrainState.create(params, optimizer, model_state=model_state)
    m = X.shape[0]
    hist = {"loss": [], "batch_loss": [], "dev": []}
    for _ in range(epochs):
        key, perm_key, dropout_key = jax.random.split(key, 3)
        total, used, batch_losses = 0.0, 0, []
        for k, (Xb, Yb) in enumerate(data.random_minibatches(perm_key, X, Y, batch_size)):
            n = Xb.shape[0]
            if n < batch_size and last_batch == "drop":
                continue
            kw = {"key": jax.random.fold_in(dropout_key, k)} if needs_key else {}
            if masked and n < batch_size:  # pad with real rows, mask them out
                pad = np.arange(batch_size - n) % m
                perm = data.permutation(perm_key, m)
                Xb = jnp.concatenate([Xb, X[perm[pad]]])
                Yb = jnp.concatenate([Yb, Y[perm[pad]]])
                kw["mask"] = jnp.arange(batch_size) < n
            state, loss = step(state, Xb, Yb, **kw)
            batch_losses.append(float(loss))
            total += float(loss) * n
            used += n
        hist["loss"].append(total / used)
        hist["batch_loss"].append(batch_losses)
        if metric is not None:
            out = metric(state.params, state.model_state, X_dev, Y_dev) if stateful else metric(state.params, X_dev, Y_dev)
            hist["dev"].append({k: float(val) for k, val in out.items()})
    return state, hist, key


def assert_trees_close(a, b, atol):
    ta, tb = jax.tree.structure(a), jax.tree.structure(b)
    assert ta == tb, (ta, tb)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=0, atol=atol)


# --------------------------------------------------------------------------- fit == python loop

VARIANTS = {
    # name: (loss_fn, stateful, needs_key, uses_bn, metric)
    "plain": (loss_plain, False, False, False, metric_plain),
    "dropout": (loss_dropout, False, True, False, metric_plain),
    "batchnorm": (loss_bn, True, False, True, metric_bn),
    "batchnorm+dropout": (loss_bn_dropout, True, True, True, None),
}


@pytest.mark.parametrize(
    "variant,epochs_per_chunk",
    # 5 epochs in chunks of 2 (2+2+1: the last chunk skips an epoch), of 1, or one chunk
    [(name, 2) for name in VARIANTS] + [("plain", 7), ("dropout", 1)],
)
def test_fit_equals_python_loop(dataset, params0, variant, epochs_per_chunk):
    X, Y, X_dev, Y_dev = dataset
    loss_fn, stateful, needs_key, uses_bn, metric = VARIANTS[variant]
    params, model_state = bn_params_state(params0) if uses_bn else (params0, None)
    opt = optim.adam(0.05)
    key, epochs = jax.random.key(42), 5
    dev = dict(X_dev=X_dev, Y_dev=Y_dev, metric_fn=metric) if metric is not None else {}
    state, hist = fit(loss_fn, params, opt, X, Y, key=key, epochs=epochs, batch_size=BS, progress=False,
                      model_state=model_state, needs_key=needs_key, epochs_per_chunk=epochs_per_chunk, **dev)
    ref_state, ref_hist, ref_key = python_loop(loss_fn, params, opt, X, Y, key=key, epochs=epochs, batch_size=BS,
                                               stateful=stateful, needs_key=needs_key, model_state=model_state,
                                               metric=metric, X_dev=X_dev, Y_dev=Y_dev)
    assert_trees_close(state.params, ref_state.params, 1e-6)
    assert_trees_close(state.opt_state, ref_state.opt_state, 1e-6)
    if uses_bn:
        assert_trees_close(state.model_state, ref_state.model_state, 1e-6)
        # the running statistics really moved (the test would catch a dropped model_state)
        assert not np.allclose(np.asarray(state.model_state[0]["mean"]), 0.0)
    assert int(state.step) == int(ref_state.step) == epochs * 5
    np.testing.assert_array_equal(jax.random.key_data(state.key), jax.random.key_data(ref_key))
    np.testing.assert_allclose(hist["loss"], ref_hist["loss"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(hist["batch_loss"], np.array(ref_hist["batch_loss"]), rtol=1e-6, atol=1e-7)
    assert hist["batch_loss"].shape == (epochs, 5)
    np.testing.assert_array_equal(hist["epoch"], np.arange(1, epochs + 1))
    if metric is not None:
        for name in ("accuracy", "loss"):
            np.testing.assert_allclose(hist[f"dev_{name}"], [d[name] for d in ref_hist["dev"]], rtol=1e-6, atol=1e-7)


def test_dropout_keys_matter(dataset, params0):
    """The dropout loss depends on its key, so matching the loop's per-batch keys is a real check."""
    X, Y, *_ = dataset
    l1 = loss_dropout(params0, X, Y, key=jax.random.key(0))
    l2 = loss_dropout(params0, X, Y, key=jax.random.key(1))
    assert abs(float(l1) - float(l2)) > 1e-4


@pytest.mark.parametrize("last_batch", ["masked", "drop"])
def test_fit_last_batch_modes_equal_loop(dataset, params0, last_batch):
    X, Y, *_ = dataset
    loss_fn = loss_masked if last_batch == "masked" else loss_plain
    opt = optim.momentum(0.1, beta=0.9)
    key = jax.random.key(3)
    state, hist = fit(loss_fn, params0, opt, X, Y, key=key, epochs=3, batch_size=BS, progress=False,
                      last_batch=last_batch, epochs_per_chunk=2)
    ref, ref_hist, _ = python_loop(loss_fn, params0, opt, X, Y, key=key, epochs=3, batch_size=BS,
                                   last_batch=last_batch)
    assert_trees_close(state.params, ref.params, 1e-6)
    np.testing.assert_allclose(hist["loss"], ref_hist["loss"], rtol=1e-6, atol=1e-7)
    assert int(state.step) == 3 * (5 if last_batch == "masked" else 4)


def test_fit_masked_equals_exact_for_per_row_loss(dataset, params0):
    X, Y, *_ = dataset
    opt = optim.adam(0.02)
    kw = dict(key=jax.random.key(5), epochs=3, batch_size=BS, progress=False)
    s_masked, h_masked = fit(loss_masked, params0, opt, X, Y, last_batch="masked", **kw)
    plain = lambda p, X, Y: losses.binary_cross_entropy(apply_plain(p, X), Y)  # noqa: E731
    s_exact, h_exact = fit(plain, params0, opt, X, Y, **kw)
    assert_trees_close(s_masked.params, s_exact.params, 1e-6)
    np.testing.assert_allclose(h_masked["loss"], h_exact["loss"], rtol=1e-6)


def test_fit_full_batch_and_exact_multiple(dataset, params0):
    X, Y, *_ = dataset
    opt = optim.sgd(0.5)
    key = jax.random.key(9)
    for bs in (100,):  # one batch per epoch (batch_size > m)
        state, hist = fit(loss_plain, params0, opt, X, Y, key=key, epochs=3, batch_size=bs, progress=False)
        ref, ref_hist, _ = python_loop(loss_plain, params0, opt, X, Y, key=key, epochs=3, batch_size=bs)
        assert_trees_close(state.params, ref.params, 1e-6)
        assert hist["batch_loss"].shape == (3, 1)
    X32, Y32 = X[:32], Y[:32]  # m a multiple of the batch size: no remainder batch
    state, hist = fit(loss_plain, params0, opt, X32, Y32, key=key, epochs=2, batch_size=BS, progress=False)
    ref, ref_hist, _ = python_loop(loss_plain, params0, opt, X32, Y32, key=key, epochs=2, batch_size=BS)
    assert_trees_close(state.params, ref.params, 1e-6)
    np.testing.assert_allclose(hist["loss"], ref_hist["loss"], rtol=1e-6)


def test_fit_resume_continues_the_key_chain(dataset, params0):
    X, Y, *_ = dataset
    opt = optim.adam(0.01)
    kw = dict(batch_size=BS, progress=False)
    full, h_full = fit(loss_plain, params0, opt, X, Y, key=jax.random.key(4), epochs=4, **kw)
    half, h1 = fit(loss_plain, params0, opt, X, Y, key=jax.random.key(4), epochs=2, **kw)
    resumed, h2 = fit(loss_plain, half, opt, X, Y, key=half.key, epochs=2, **kw)
    assert_trees_close(resumed.params, full.params, 1e-6)
    assert_trees_close(resumed.opt_state, full.opt_state, 1e-6)
    assert int(resumed.step) == int(full.step) == 20
    np.testing.assert_allclose(np.concatenate([h1["loss"], h2["loss"]]), h_full["loss"], rtol=1e-6)
    assert int(half.step) == 10  # the state passed in was copied, not consumed


def test_fit_reuses_its_compiled_program(dataset, params0):
    """Same loss_fn object + equal optimizer + equal settings: no new trace (jax's jit cache)."""
    X, Y, *_ = dataset
    traces = []
    loss_fn = counting_traces(loss_plain, traces)

    kw = dict(key=jax.random.key(3), batch_size=BS, progress=False)
    s1, h1 = fit(loss_fn, params0, optim.adam(0.01), X, Y, epochs=3, **kw)
    n = len(traces)
    assert n > 0
    s2, h2 = fit(loss_fn, params0, optim.adam(0.01), X, Y, epochs=3, **kw)  # a new, equal optimizer
    assert len(traces) == n
    assert_trees_close(s2.params, s1.params, 0.0)
    np.testing.assert_array_equal(h2["loss"], h1["loss"])
    fit(loss_fn, params0, optim.adam(0.01), X, Y, epochs=4, **kw)  # more epochs, same 1-epoch chunk
    assert len(traces) == n
    fit(loss_fn, params0, optim.adam(0.02), X, Y, epochs=3, **kw)  # another learning rate
    assert len(traces) > n
    n = len(traces)
    fit(loss_fn, params0, optim.adam(0.01), X, Y, epochs=3, **{**kw, "batch_size": BS + 1})  # another batch size
    assert len(traces) > n
    n = len(traces)
    opt = optax.adam(0.01)  # optax transformations are equal only to themselves
    with jax.numpy_dtype_promotion("standard"):  # optax.adam mixes int32 and float
        fit(loss_fn, params0, opt, X, Y, epochs=3, **kw)
        fit(loss_fn, params0, opt, X, Y, epochs=3, **kw)
        assert len(traces) == n + 2  # traced once for the new optimizer (both batch shapes), then reused
        fit(loss_fn, params0, optax.adam(0.01), X, Y, epochs=3, **kw)
    assert len(traces) == n + 4


def test_fit_does_not_consume_caller_arrays(dataset, params0):
    X, Y, *_ = dataset
    p = jax.tree.map(jnp.copy, params0)
    fit(loss_plain, p, optim.sgd(0.1), X, Y, key=jax.random.key(0), epochs=2, batch_size=BS, progress=False)
    assert all(not leaf.is_deleted() for leaf in jax.tree.leaves(p))
    assert not X.is_deleted()


def test_fit_default_dev_metric_is_the_loss(dataset, params0):
    X, Y, X_dev, Y_dev = dataset
    state, hist = fit(loss_plain, params0, optim.sgd(0.1), X, Y, key=jax.random.key(0), epochs=2,
                      batch_size=BS, progress=False, X_dev=X_dev, Y_dev=Y_dev)
    assert set(hist) == {"epoch", "loss", "batch_loss", "dev_loss"}
    np.testing.assert_allclose(hist["dev_loss"][-1], float(loss_plain(state.params, X_dev, Y_dev)), rtol=1e-6)


def test_fit_scalar_metric_progress_callback_and_quiet_bar(dataset, params0, capsys):
    """progress=callable: called after each chunk (2 + 2 + 1 epochs) with the last epoch's
    metrics as floats, then closed. progress=True (the rich bar, same compiled program) prints
    nothing when stdout is not a terminal."""
    X, Y, X_dev, Y_dev = dataset
    calls = []

    class Recorder:
        def __call__(self, epoch, epochs, metrics):
            calls.append((epoch, epochs, dict(metrics)))

        def close(self):
            calls.append("closed")

    def accuracy(p, X, Y):
        return metric_plain(p, X, Y)["accuracy"]

    kw = dict(key=jax.random.key(0), epochs=5, batch_size=BS, epochs_per_chunk=2, X_dev=X_dev, Y_dev=Y_dev,
              metric_fn=accuracy)
    _, hist = fit(loss_plain, params0, optim.sgd(0.1), X, Y, progress=Recorder(), **kw)
    assert hist["dev_metric"].shape == (5,)
    assert [c[:2] for c in calls[:-1]] == [(2, 5), (4, 5), (5, 5)] and calls[-1] == "closed"
    for epoch, _, metrics in calls[:-1]:
        assert set(metrics) == {"loss", "dev_metric"} and all(type(x) is float for x in metrics.values())
        assert metrics["loss"] == float(hist["loss"][epoch - 1])
        assert metrics["dev_metric"] == float(hist["dev_metric"][epoch - 1])
    capsys.readouterr()
    _, hist_bar = fit(loss_plain, params0, optim.sgd(0.1), X, Y, progress=True, **kw)
    np.testing.assert_array_equal(hist_bar["loss"], hist["loss"])
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    with pytest.raises(TypeError, match="progress must be True, False or a callable"):
        fit(loss_plain, params0, optim.sgd(0.1), X, Y, key=jax.random.key(0), epochs=1, progress="yes")


def test_fit_under_vmap_equals_separate_fits(dataset, params0):
    """fit runs inside jax.vmap (traced inputs): one scan, history as arrays."""
    X, Y, *_ = dataset

    def run(lr, key):
        state, hist = fit(loss_plain, params0, optim.sgd(lr), X, Y, key=key, epochs=3, batch_size=BS, progress=False)
        return state.params, hist["loss"]

    lrs = jnp.array([0.05, 0.2], jnp.float32)
    keys = jax.random.split(jax.random.key(7), 2)
    params_v, loss_v = jax.jit(jax.vmap(run))(lrs, keys)
    for i in range(2):
        s, h = fit(loss_plain, params0, optim.sgd(lrs[i]), X, Y, key=keys[i], epochs=3, batch_size=BS, progress=False)
        assert_trees_close(jax.tree.map(lambda a, i=i: a[i], params_v), s.params, 1e-5)
        np.testing.assert_allclose(loss_v[i], h["loss"], rtol=1e-5)


# --------------------------------------------------------------------------- make_train_step


def test_train_step_matches_manual_update_and_does_not_retrace(dataset, params0):
    X, Y, *_ = dataset
    traces = []
    loss_fn = counting_traces(loss_plain, traces)

    opt = optim.adam(0.01)
    step = make_train_step(loss_fn, opt)
    state = TrainState.create(params0, opt)
    p_ref, os_ref = params0, opt.init(params0)
    for Xb, Yb in (X[:8], Y[:8]), (X[8:16], Y[8:16]), (X[16:24], Y[16:24]):
        state, loss = step(state, Xb, Yb)
        l_ref, g = jax.value_and_grad(loss_plain)(p_ref, Xb, Yb)
        upd, os_ref = opt.update(g, os_ref, p_ref)
        p_ref = optax.apply_updates(p_ref, upd)
        np.testing.assert_allclose(float(loss), float(l_ref), rtol=1e-6)
    assert_trees_close(state.params, p_ref, 1e-6)
    assert_trees_close(state.opt_state, os_ref, 1e-6)
    assert len(traces) == 1 and step._cache_size() == 1
    assert int(state.step) == 3
    # params0 stays usable (TrainState.create copied it) although the step donates its state
    assert not any(leaf.is_deleted() for leaf in jax.tree.leaves(params0))


def test_train_step_donates_state(dataset, params0):
    X, Y, *_ = dataset
    opt = optim.sgd(0.1)
    state = TrainState.create(params0, opt)
    new_state, _ = make_train_step(loss_plain, opt)(state, X[:8], Y[:8])
    assert state.params["W1"].is_deleted()  # donated: updated in place
    assert not new_state.params["W1"].is_deleted()
    state = TrainState.create(params0, opt)
    make_train_step(loss_plain, opt, donate=False)(state, X[:8], Y[:8])
    assert not state.params["W1"].is_deleted()


def test_train_step_key_from_state(dataset, params0):
    X, Y, *_ = dataset
    opt = optim.sgd(0.1)
    step = make_train_step(loss_dropout, opt, needs_key=True, donate=False)
    k = jax.random.key(11)
    s_auto, l_auto = step(TrainState.create(params0, opt, key=k), X[:8], Y[:8])
    chain, sub = jax.random.split(k)
    s_expl, l_expl = step(TrainState.create(params0, opt, key=chain), X[:8], Y[:8], key=sub)
    assert float(l_auto) == float(l_expl)
    assert_trees_close(s_auto.params, s_expl.params, 0.0)
    np.testing.assert_array_equal(jax.random.key_data(s_auto.key), jax.random.key_data(chain))
    with pytest.raises(ValueError, match="needs_key=True"):
        step(TrainState.create(params0, opt), X[:8], Y[:8])


def test_train_step_stateful(dataset, params0):
    X, Y, *_ = dataset
    params, ms = bn_params_state(params0)
    opt = optim.sgd(0.1)
    step = make_train_step(loss_bn, opt, stateful=True)
    state, loss = step(TrainState.create(params, opt, model_state=ms), X[:8], Y[:8])
    (l_ref, ms_ref), g = jax.value_and_grad(loss_bn, has_aux=True)(params, ms, X[:8], Y[:8])
    assert_trees_close(state.model_state, ms_ref, 1e-6)
    assert_trees_close(state.params, jax.tree.map(lambda p, g: p - 0.1 * g, params, g), 1e-6)


# --------------------------------------------------------------------------- evaluate


def test_evaluate_binary_matches_numpy():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 1)).astype(np.float32)
    y = rng.integers(0, 2, size=50)
    out = evaluate(lambda p, X: X * p, jnp.float32(1.0), jnp.asarray(z), jnp.asarray(y))
    acc = np.mean((z[:, 0] > 0) == (y == 1))
    zz, yy = z[:, 0].astype(np.float64), y.astype(np.float64)
    bce = np.mean(-yy * np.log(1 / (1 + np.exp(-zz))) - (1 - yy) * np.log(1 - 1 / (1 + np.exp(-zz))))
    np.testing.assert_allclose(float(out["accuracy"]), acc, rtol=1e-6)
    np.testing.assert_allclose(float(out["loss"]), bce, rtol=1e-5)
    assert 0.2 < acc < 0.8  # a real mix of right and wrong predictions
    # (m,) logits and float (m, 1) labels give the same numbers
    out2 = evaluate(lambda p, X: X[:, 0], None, jnp.asarray(z), jnp.asarray(y[:, None].astype(np.float32)))
    assert float(out2["accuracy"]) == float(out["accuracy"])


def test_evaluate_multiclass_matches_numpy():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(60, 4)).astype(np.float32)
    y = rng.integers(0, 4, size=60)
    apply = jax.jit(lambda p, X: X)
    out = jax.jit(lambda X, Y: evaluate(apply, None, X, Y))(jnp.asarray(z), jnp.asarray(y, jnp.int32))
    zz = z.astype(np.float64)
    logp = zz - np.log(np.exp(zz).sum(1, keepdims=True))
    np.testing.assert_allclose(float(out["accuracy"]), np.mean(z.argmax(1) == y), rtol=1e-6)
    np.testing.assert_allclose(float(out["loss"]), -np.mean(logp[np.arange(60), y]), rtol=1e-5)
    onehot = data.one_hot(jnp.asarray(y, jnp.int32), 4)
    out_oh = evaluate(apply, None, jnp.asarray(z), onehot)
    assert float(out_oh["accuracy"]) == float(out["accuracy"])
    np.testing.assert_allclose(float(out_oh["loss"]), float(out["loss"]), rtol=1e-6)


# --------------------------------------------------------------------------- data parallel


@pytest.mark.parametrize("variant", ["plain", "batchnorm"])
def test_data_parallel_equals_single_device(dataset, params0, variant):
    assert len(jax.devices()) == 4
    X, Y, X_dev, Y_dev = dataset
    mesh = Mesh(np.array(jax.devices()), ("data",))
    loss_fn, _, _, uses_bn, metric = VARIANTS[variant]
    params, ms = bn_params_state(params0) if uses_bn else (params0, None)
    kw = dict(key=jax.random.key(8), epochs=3, batch_size=BS, progress=False, model_state=ms,
              X_dev=X_dev, Y_dev=Y_dev, metric_fn=metric, epochs_per_chunk=2)
    opt = optim.momentum(0.1)
    single, h1 = fit(loss_fn, params, opt, X, Y, **kw)
    seen = []

    def recording_loss(*args):  # records how the batch reaching the loss is laid out
        Xb = args[-2]
        jax.debug.inspect_array_sharding(Xb, callback=lambda s: seen.append((Xb.shape[0], s)))
        return loss_fn(*args)

    multi, h4 = fit(recording_loss, params, opt, X, Y, mesh=mesh, **kw)
    assert {n for n, _ in seen} == {BS, M % BS}
    for _, sharding in seen:  # every batch is split over the 4 devices along "data"
        assert sharding.spec == jax.sharding.PartitionSpec("data") and len(sharding.device_set) == 4
    assert_trees_close(multi.params, single.params, 1e-5)
    if uses_bn:  # statistics of the global batch, not of one device's quarter
        assert_trees_close(multi.model_state, single.model_state, 1e-5)
    np.testing.assert_allclose(h4["loss"], h1["loss"], rtol=1e-5)
    np.testing.assert_allclose(h4["dev_accuracy"], h1["dev_accuracy"], atol=1e-6)
    leaf = jax.tree.leaves(multi.params)[0]
    assert len(leaf.sharding.device_set) == 4  # it really ran on the mesh


def test_data_parallel_batch_axis_name_and_2d_mesh(dataset, params0):
    X, Y, *_ = dataset
    mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ("batch", "model"))
    kw = dict(key=jax.random.key(8), epochs=2, batch_size=BS, progress=False)
    single, _ = fit(loss_plain, params0, optim.sgd(0.1), X, Y, **kw)
    multi, _ = fit(loss_plain, params0, optim.sgd(0.1), X, Y, mesh=mesh, **kw)
    assert_trees_close(multi.params, single.params, 1e-5)


# --------------------------------------------------------------------------- bad input


def test_fit_bad_input(dataset, params0):
    X, Y, X_dev, Y_dev = dataset
    opt = optim.sgd(0.1)
    key = jax.random.key(0)

    def go(**over):
        kw = dict(key=key, epochs=1, batch_size=BS, progress=False)
        args = dict(loss_fn=loss_plain, params=params0, optimizer=opt, X=X, Y=Y)
        for k in list(over):
            if k in args:
                args[k] = over.pop(k)
        kw.update(over)
        return fit(args["loss_fn"], args["params"], args["optimizer"], args["X"], args["Y"], **kw)

    with pytest.raises(ValueError, match="epochs must be > 0, got 0"):
        go(epochs=0)
    with pytest.raises(ValueError, match="epochs must be > 0, got -2"):
        go(epochs=-2)
    with pytest.raises(TypeError, match="epochs must be an int"):
        go(epochs=2.0)
    with pytest.raises(ValueError, match="batch_size must be > 0, got 0"):
        go(batch_size=0)
    with pytest.raises(ValueError, match=r"X and Y must have the same number of examples.*\(37, 3\) and \(36,\)"):
        go(Y=Y[:36])
    with pytest.raises(TypeError, match="key must be a PRNG key"):
        go(key=0)
    with pytest.raises(ValueError, match="last_batch must be one of"):
        go(last_batch="pad")
    with pytest.raises(ValueError, match="X_dev and Y_dev or neither"):
        go(X_dev=X_dev)
    with pytest.raises(ValueError, match=r"X_dev and Y_dev must have the same number of examples.*\(11, 3\) and \(10,\)"):
        go(X_dev=X_dev, Y_dev=Y_dev[:10])
    with pytest.raises(ValueError, match=r"X_dev must have the same feature shape as X.*\(11, 2\)"):
        go(X_dev=X_dev[:, :2], Y_dev=Y_dev)
    with pytest.raises(TypeError, match="pass metric_fn"):
        go(loss_fn=loss_dropout, needs_key=True, X_dev=X_dev, Y_dev=Y_dev)
    with pytest.raises(TypeError, match="optimizer must be an optax.GradientTransformation"):
        go(optimizer=0.1)
    with pytest.raises(ValueError, match=r"loss_fn must return a scalar.*got shape \(8,\)"):
        go(loss_fn=lambda p, X, Y: per_example_bce(apply_plain(p, X), Y))
    with pytest.raises(TypeError, match=r"must return \(loss, new_model_state\)"):
        go(loss_fn=lambda p, ms, X, Y: loss_plain(p, X, Y), model_state={"a": jnp.zeros(1)})
    with pytest.raises(ValueError, match="new_model_state with the structure of model_state"):
        go(loss_fn=lambda p, ms, X, Y: (loss_plain(p, X, Y), {"b": jnp.zeros(1)}), model_state={"a": jnp.zeros(1)})
    with pytest.raises(TypeError, match="pass stateful=True"):
        go(loss_fn=lambda p, X, Y: (loss_plain(p, X, Y), None))


def test_fit_bad_mesh(dataset, params0):
    X, Y, *_ = dataset
    kw = dict(key=jax.random.key(0), epochs=1, progress=False)
    bad_axes = Mesh(np.array(jax.devices()), ("model",))
    with pytest.raises(ValueError, match=r"'data' or 'batch' axis.*\('model',\)"):
        fit(loss_plain, params0, optim.sgd(0.1), X, Y, batch_size=BS, mesh=bad_axes, **kw)
    mesh = Mesh(np.array(jax.devices()), ("data",))
    with pytest.raises(ValueError, match="batch_size=6 must be divisible by the 4 devices"):
        fit(loss_plain, params0, optim.sgd(0.1), X, Y, batch_size=6, mesh=mesh, **kw)
    with pytest.raises(ValueError, match=r"data_axis='x' is not an axis of mesh"):
        fit(loss_plain, params0, optim.sgd(0.1), X, Y, batch_size=BS, mesh=mesh, data_axis="x", **kw)
    with pytest.raises(TypeError, match="mesh must be a jax.sharding.Mesh"):
        fit(loss_plain, params0, optim.sgd(0.1), X, Y, batch_size=BS, mesh=jax.devices(), **kw)


def test_step_and_evaluate_bad_input(dataset, params0):
    X, Y, *_ = dataset
    opt = optim.sgd(0.1)
    step = make_train_step(loss_plain, opt)
    with pytest.raises(ValueError, match=r"X and Y must have the same number of examples.*\(8, 3\) and \(7,\)"):
        step(TrainState.create(params0, opt), X[:8], Y[:7])
    with pytest.raises(TypeError, match="stateful must be a Python bool"):
        make_train_step(loss_plain, opt, stateful=1)
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        make_train_step(None, opt)
    with pytest.raises(ValueError, match="key was given"):
        step(TrainState.create(params0, opt), X[:8], Y[:8], key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"Y must have shape \(37,\) or \(37, 1\), got \(37, 2\)"):
        evaluate(lambda p, X: X[:, :1], None, X, jnp.zeros((37, 2)))
    with pytest.raises(ValueError, match=r"one-hot \(37, 3\), got shape \(37, 2\)"):
        evaluate(lambda p, X: X, None, X, jnp.zeros((37, 2)))
    with pytest.raises(TypeError, match="must be integers"):
        evaluate(lambda p, X: X, None, X, jnp.zeros((37,)))


# --------------------------------------------------------------------------- compilation cache


def test_compilation_cache_writes_small_programs(tmp_path):
    from jaxdl import compile_cache

    # Another test in this process (the grader's parent cache) may have one enabled: restore it.
    previous = compile_cache.compilation_cache_dir()
    try:
        path = train.enable_compilation_cache(tmp_path / "jc")
        assert path == (tmp_path / "jc").absolute() and path.is_dir()
        assert compile_cache.compilation_cache_dir() == path
        assert jax.config.jax_persistent_cache_min_compile_time_secs == 0
        jax.jit(lambda x: jnp.sin(x) * 3.25 + 1.5)(jnp.arange(7.0)).block_until_ready()  # a tiny, fresh program
        assert any(path.iterdir()), "the tiny program was not written to the cache"
    finally:
        train.disable_compilation_cache()
        assert compile_cache.compilation_cache_dir() is None
        if previous is not None:
            train.enable_compilation_cache(previous)


def test_compilation_cache_env_var(tmp_path, monkeypatch):
    from jaxdl import compile_cache

    assert compile_cache.enable_from_env({}) is None
    assert compile_cache.enable_from_env({"JAXDL_COMPILATION_CACHE": "0"}) is None
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    try:
        assert compile_cache.enable_from_env({"JAXDL_COMPILATION_CACHE": "1"}) == tmp_path / "xdg" / "jaxdl" / "jax"
        assert compile_cache.enable_from_env({"JAXDL_COMPILATION_CACHE": str(tmp_path / "c")}) == tmp_path / "c"
    finally:
        train.disable_compilation_cache()


def test_import_changes_no_jax_config_and_the_env_var_is_applied_when_asked(tmp_path):
    """A fresh process with JAXDL_COMPILATION_CACHE set: importing jaxdl and every submodule
    leaves jax.config as it was; compile_cache.enable_from_env() turns the cache on and the
    first jit is written to it."""
    code = (
        "import jax, jax.numpy as jnp, importlib\n"
        "before = dict(jax.config.values)\n"
        "import jaxdl\n"
        "for name in jaxdl.__all__:\n"
        "    importlib.import_module('jaxdl.' + name)\n"
        "changed = {k: v for k, v in jax.config.values.items() if before.get(k) != v}\n"
        "assert not changed, changed\n"
        "from jaxdl import compile_cache\n"
        "compile_cache.enable_from_env()\n"
        "jax.jit(lambda x: x * 2.5 + 1)(jnp.ones(3)).block_until_ready()\n"
        "print(jax.config.jax_compilation_cache_dir)\n"
    )
    env = {**os.environ, "JAXDL_COMPILATION_CACHE": str(tmp_path / "envcache"), "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "envcache")
    assert any((tmp_path / "envcache").iterdir())


# --------------------------------------------------------------------------- training sanity


@pytest.mark.slow
def test_fit_mlp_on_moons_reaches_good_accuracy():
    from jaxdl import datasets

    X, y, X_test, y_test = datasets.moons()
    X, X_test = jnp.asarray(X, jnp.float32), jnp.asarray(X_test, jnp.float32)
    y, y_test = jnp.asarray(y, jnp.float32), jnp.asarray(y_test, jnp.int32)
    params = init.init_mlp(jax.random.key(3), [2, 16, 8, 1], method="he")

    def loss_fn(p, X, Y):
        return losses.binary_cross_entropy(nn.mlp_apply(p, X)[:, 0], Y)

    before = evaluate(lambda p, X: nn.mlp_apply(p, X), params, X_test, y_test)
    state, hist = fit(loss_fn, params, optim.adam(0.01), X, y, key=jax.random.key(0), epochs=150, batch_size=64,
                      progress=False, X_dev=X_test, Y_dev=y_test, metric_fn=metric_plain)
    after = evaluate(lambda p, X: nn.mlp_apply(p, X), state.params, X_test, y_test)
    assert float(after["accuracy"]) >= 0.9 > float(before["accuracy"])
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    assert float(hist["dev_accuracy"][-1]) == float(after["accuracy"])

"""Tests of jaxdl.tune: samplers on the right scale, caviar (vmapped) trials, coarse-to-fine."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxdl import init, losses, nn, optim
from jaxdl.train import evaluate, fit
from jaxdl.tune import Choice, LogUniform, OneMinusLogUniform, Table, Uniform, coarse_to_fine, random_search, sample_trials

# --------------------------------------------------------------------------- samplers


def test_log_uniform_is_uniform_in_log10_and_in_range():
    s = LogUniform(1e-4, 1.0)
    x = s.sample(jax.random.key(0), 2000)
    assert x.shape == (2000,) and x.dtype == np.float64
    assert (x >= 1e-4).all() and (x <= 1.0).all()
    assert stats.kstest(np.log10(x), stats.uniform(loc=-4, scale=4).cdf).pvalue > 0.01
    # the same samples are far from uniform on a linear scale (the test can fail)
    assert stats.kstest(x, stats.uniform(loc=1e-4, scale=1 - 1e-4).cdf).pvalue < 1e-6
    # each decade gets about a quarter of the samples (the course's point)
    counts = np.histogram(np.log10(x), bins=[-4, -3, -2, -1, 0])[0]
    assert (np.abs(counts - 500) < 80).all()
    np.testing.assert_array_equal(s.sample(jax.random.key(0), 2000), x)  # same key, same samples


def test_one_minus_log_uniform_samples_beta_on_the_course_scale():
    s = OneMinusLogUniform(0.9, 0.999)
    b = s.sample(jax.random.key(1), 2000)
    assert (b >= 0.9).all() and (b <= 0.999).all()
    r = np.log10(1 - b)  # the course: r ~ U[-3, -1], beta = 1 - 10**r
    assert stats.kstest(r, stats.uniform(loc=-3, scale=2).cdf).pvalue > 0.01
    # beta in [0.9, 0.99] as likely as in [0.99, 0.999]; uniform-in-beta would put 91% in the first
    frac = np.mean(b < 0.99)
    assert abs(frac - 0.5) < 0.05
    assert stats.kstest(b, stats.uniform(loc=0.9, scale=0.099).cdf).pvalue < 1e-6


def test_uniform_and_choice():
    u = Uniform(0.5, 1.0).sample(jax.random.key(2), 1000)
    assert (u >= 0.5).all() and (u <= 1.0).all()
    assert stats.kstest(u, stats.uniform(loc=0.5, scale=0.5).cdf).pvalue > 0.01
    options = [[2, 4, 1], [2, 8, 1], "x"]
    c = Choice(options).sample(jax.random.key(3), 900)
    assert all(any(o is x for x in options) for o in c)
    counts = [sum(o is opt for o in c) for opt in options]
    assert stats.chisquare(counts).pvalue > 0.01
    assert Choice([1, 2]).static and not Choice([0.5, 0.9], static=False).static


def test_space_validation():
    with pytest.raises(ValueError, match=r"0 < low < high, got low=0.0"):
        LogUniform(0, 1)
    with pytest.raises(ValueError, match="low=1.0, high=0.1"):
        LogUniform(1, 0.1)
    with pytest.raises(ValueError, match=r"0 <= low < high < 1, got low=0.9, high=1.0"):
        OneMinusLogUniform(0.9, 1.0)
    with pytest.raises(ValueError, match="low < high"):
        Uniform(1.0, 1.0)
    with pytest.raises(TypeError, match="low must be a finite real number"):
        Uniform("a", 1.0)
    with pytest.raises(ValueError, match="options must not be empty"):
        Choice([])
    with pytest.raises(TypeError, match="static=False needs numbers"):
        Choice(["relu", "tanh"], static=False)
    with pytest.raises(ValueError, match="n must be > 0, got 0"):
        LogUniform(1e-3, 1).sample(jax.random.key(0), 0)
    with pytest.raises(TypeError, match="key must be a PRNG key"):
        Uniform(0, 1).sample(3, 2)


# --------------------------------------------------------------------------- caviar trials

M = 40


@pytest.fixture(scope="module")
def problem():
    kx, kd = jax.random.split(jax.random.key(0))
    X = jax.random.normal(kx, (M, 2), jnp.float32)
    Y = (X[:, 0] * X[:, 1] > 0).astype(jnp.float32)
    X_dev = jax.random.normal(kd, (20, 2), jnp.float32)
    Y_dev = (X_dev[:, 0] * X_dev[:, 1] > 0).astype(jnp.float32)
    return X, Y, X_dev, Y_dev


def make_train_fn(problem):
    X, Y, X_dev, Y_dev = problem

    def train_fn(hp, key):
        init_key, fit_key = jax.random.split(key)
        params = init.init_mlp(init_key, [2, hp["hidden"], 1], method="he")

        def loss_fn(p, X, Y, *, key):
            z = nn.mlp_apply(p, X, key=key, dropout_rate=1.0 - hp["keep_prob"], train=True)[:, 0]
            return losses.binary_cross_entropy(z, Y) + losses.l2_penalty(p, hp["lambd"], X.shape[0])

        opt = optim.adam(hp["lr"], beta1=hp["beta1"])
        state, hist = fit(loss_fn, params, opt, X, Y, key=fit_key, epochs=4, batch_size=16, needs_key=True,
                          progress=False)
        out = evaluate(lambda p, X: nn.mlp_apply(p, X), state.params, X_dev, Y_dev)
        return {"dev_accuracy": out["accuracy"], "dev_loss": out["loss"], "train_loss": hist["loss"][-1]}

    return train_fn


SPACE = {
    "lr": LogUniform(1e-3, 1e-1),
    "beta1": OneMinusLogUniform(0.8, 0.99),
    "lambd": Uniform(0.0, 0.5),
    "keep_prob": Uniform(0.6, 1.0),
    "hidden": Choice([3, 6]),  # static (a shape): trials are grouped by it, vmapped within a group
}


@pytest.mark.parametrize(
    "hidden_options",
    [[5], pytest.param([3, 6], marks=pytest.mark.slow, id="two-static-groups")],
)
def test_caviar_equals_sequential_trials(problem, hidden_options):
    train_fn = make_train_fn(problem)
    key, n = jax.random.key(5), 4
    space = {**SPACE, "hidden": Choice(hidden_options)}
    caviar = random_search(train_fn, space, key=key, n_trials=n, metric="dev_loss", mode="min")
    assert len(caviar) == n
    trials, keys = sample_trials(space, key=key, n_trials=n)
    assert len({t["hidden"] for t in trials}) == len(hidden_options)  # every group present at this seed
    by_trial = {r["trial"]: r for r in caviar}
    # the reference: one trial at a time (jitted per layer size, numbers as float32 scalars)
    one_trial = jax.jit(lambda hp, k, hidden: train_fn({**hp, "hidden": hidden}, k), static_argnums=2)
    for t, hp in enumerate(trials):
        numeric = {k: jnp.float32(val) for k, val in hp.items() if k != "hidden"}
        ref = one_trial(numeric, keys[t], hp["hidden"])
        for name in ("dev_accuracy", "dev_loss", "train_loss"):
            np.testing.assert_allclose(by_trial[t][name], float(ref[name]), rtol=1e-5, atol=1e-6)
        for k in space:
            assert by_trial[t][k] == hp[k]
    # the trials really differ (hyperparameters reach the training)
    assert len({round(r["train_loss"], 6) for r in caviar}) == n
    # sorted by the dev metric, best (lowest loss) first
    dev = caviar.column("dev_loss")
    assert dev == sorted(dev) and caviar.best["dev_loss"] == min(dev)


def test_table_sorting_and_rendering():
    rows = [{"trial": 0, "lr": 0.1, "acc": 0.7}, {"trial": 1, "lr": 0.01, "acc": float("nan")},
            {"trial": 2, "lr": 0.001, "acc": 0.9}]
    t = Table(rows, metric="acc")
    assert t.column("trial") == [2, 0, 1]  # NaN last
    assert Table(rows, metric="acc", mode="min").column("trial") == [0, 2, 1]
    text = str(t)
    assert "lr" in text and "acc" in text and "0.9" in text
    assert text.index("0.001") < text.index("0.1")  # best row first
    with pytest.raises(ValueError, match="metric 'loss' is not a column"):
        Table(rows, metric="loss")


def test_random_search_scalar_metric_and_groups():
    calls = []

    def train_fn(hp, key):
        calls.append(hp["size"])
        return -(jnp.log10(hp["lr"]) + 2.0) ** 2 + 0.0 * jax.random.uniform(key) - hp["size"] * 0.01

    table = random_search(train_fn, {"lr": LogUniform(1e-4, 1.0), "size": Choice([1, 2, 3])},
                          key=jax.random.key(0), n_trials=12)
    assert table.metric == "metric"
    vals = table.column("metric")
    assert vals == sorted(vals, reverse=True)
    assert len(calls) == len(set(table.column("size")))  # one trace per static group (vmapped within)
    lr_best = table.best["lr"]
    assert abs(math.log10(lr_best) + 2) < 1.0
    panda = random_search(train_fn, {"lr": LogUniform(1e-4, 1.0), "size": Choice([1, 2, 3])},
                          key=jax.random.key(0), n_trials=12, vmap=False)
    assert panda.column("trial") == table.column("trial")
    np.testing.assert_allclose(panda.column("metric"), table.column("metric"), rtol=1e-6)
    # the same search again reuses the compiled programs: no new trace
    n_traces = len(calls)
    again = random_search(train_fn, {"lr": LogUniform(1e-4, 1.0), "size": Choice([1, 2, 3])},
                          key=jax.random.key(0), n_trials=12)
    assert len(calls) == n_traces and again.column("metric") == table.column("metric")


def test_random_search_programs_keyed_by_value_not_repr():
    """Issue 15: two Choice arrays of 2,000 values differing only in the middle have the same
    (truncated) repr; the memo keyed by repr ran the first array's program for the second."""
    a = np.zeros(2000, np.float32)
    b = a.copy()
    b[1000] = 1.0
    assert repr(a) == repr(b) and not np.array_equal(a, b)
    calls = []

    def train_fn(hp, key):
        calls.append(1)
        return jnp.sum(jnp.asarray(hp["w"])) + 0.0 * hp["lr"]

    space = lambda w: {"lr": Uniform(0.1, 0.2), "w": Choice([w])}  # noqa: E731
    ta = random_search(train_fn, space(a), key=jax.random.key(0), n_trials=2)
    tb = random_search(train_fn, space(b), key=jax.random.key(0), n_trials=2)
    assert ta.column("metric") == [0.0, 0.0] and tb.column("metric") == [1.0, 1.0]
    assert len(calls) == 2  # two programs
    # both in one search: two groups, each with its own program and result
    both = random_search(train_fn, {"lr": Uniform(0.1, 0.2), "w": Choice([a, b])}, key=jax.random.key(1), n_trials=8)
    for row in both:
        assert row["metric"] == float(np.sum(row["w"]))
    assert {row["metric"] for row in both} == {0.0, 1.0}
    # equal values (a fresh copy) still reuse the compiled program: keyed by value
    n = len(calls)
    again = random_search(train_fn, space(b.copy()), key=jax.random.key(0), n_trials=2)
    assert len(calls) == n and again.column("metric") == [1.0, 1.0]


def test_program_memo_key_by_value_or_identity():
    from jaxdl._reuse import ByValue

    big = np.arange(5000.0)
    other = big.copy()
    other[2500] = -1.0
    assert ByValue({"x": big}) != ByValue({"x": other})
    assert ByValue({"x": big}) == ByValue({"x": big.copy()}) and hash(ByValue([big])) == hash(ByValue([big.copy()]))
    assert ByValue([2, 8, 1]) == ByValue([2, 8, 1]) != ByValue((2, 8, 1))
    assert ByValue([1]) != ByValue([1.0])  # int and float trace differently
    assert ByValue(jnp.arange(3)) == ByValue(jnp.arange(3)) != ByValue(jnp.arange(3) + 1)

    class Opaque:  # no value equality, unhashable: compared by identity
        __hash__ = None

    o = Opaque()
    assert ByValue([o]) == ByValue([o]) and ByValue([o]) != ByValue([Opaque()])


def test_random_search_bad_input():
    f = lambda hp, key: {"a": hp["lr"], "b": hp["lr"]}  # noqa: E731
    with pytest.raises(ValueError, match=r"several metrics \['a', 'b'\]"):
        random_search(f, {"lr": Uniform(0, 1)}, key=jax.random.key(0), n_trials=2)
    with pytest.raises(ValueError, match=r"metric='c' is not one of"):
        random_search(f, {"lr": Uniform(0, 1)}, key=jax.random.key(0), n_trials=2, metric="c")
    with pytest.raises(ValueError, match="n_trials must be > 0"):
        random_search(f, {"lr": Uniform(0, 1)}, key=jax.random.key(0), n_trials=0)
    with pytest.raises(TypeError, match=r"space\['lr'\] must be LogUniform"):
        random_search(f, {"lr": (0, 1)}, key=jax.random.key(0), n_trials=2)
    with pytest.raises(ValueError, match="mode must be 'max' or 'min'"):
        random_search(f, {"lr": Uniform(0, 1)}, key=jax.random.key(0), n_trials=2, mode="best")


# --------------------------------------------------------------------------- coarse to fine


def test_coarse_to_fine_narrows_around_the_best():
    target_lr, target_beta = 3e-3, 0.97

    def train_fn(hp, key):
        score = -(jnp.log10(hp["lr"]) - math.log10(target_lr)) ** 2
        score = score - (jnp.log10(1 - hp["beta"]) - math.log10(1 - target_beta)) ** 2
        return {"score": score - 0.1 * (hp["act"] != "relu")}

    space = {"lr": LogUniform(1e-5, 1.0), "beta": OneMinusLogUniform(0.8, 0.999), "act": Choice(["relu", "tanh", "sig"])}
    table, spaces = coarse_to_fine(train_fn, space, key=jax.random.key(1), n_trials=24, rounds=3, top_k=4)
    assert len(spaces) == 4 and len(table) == 72
    for prev, new in zip(spaces, spaces[1:]):
        w_prev = math.log10(prev["lr"].high / prev["lr"].low)
        w_new = math.log10(new["lr"].high / new["lr"].low)
        assert w_new < w_prev and prev["lr"].low <= new["lr"].low and new["lr"].high <= prev["lr"].high
        assert new["beta"].high - new["beta"].low <= prev["beta"].high - prev["beta"].low
    assert spaces[-1]["lr"].low <= target_lr <= spaces[-1]["lr"].high
    assert spaces[-1]["beta"].low <= target_beta <= spaces[-1]["beta"].high
    assert math.log10(spaces[-1]["lr"].high / spaces[-1]["lr"].low) < 0.5 * 5  # much narrower than 5 decades
    assert "relu" in spaces[-1]["act"].options and len(spaces[-1]["act"].options) < 3
    # round r's trials were drawn from spaces[r]
    for row in table:
        s = spaces[row["round"]]
        assert s["lr"].low <= row["lr"] <= s["lr"].high
    # the documented rule, checked by hand on round 0
    r0 = sorted((r for r in table if r["round"] == 0), key=lambda r: -r["score"])[:4]
    u = np.log10([r["lr"] for r in r0])
    lo, hi = max(-5.0, u.min() - 0.1 * 5), min(0.0, u.max() + 0.1 * 5)
    np.testing.assert_allclose([spaces[1]["lr"].low, spaces[1]["lr"].high], [10**lo, 10**hi], rtol=1e-9)
    # later rounds find better trials than the first
    best_per_round = [max(r["score"] for r in table if r["round"] == k) for k in range(3)]
    assert best_per_round[2] >= best_per_round[0]

# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Week 3 · Hyperparameter tuning
#
# The Week 3 lectures gave a recipe for tuning but no exercise. This assignment turns the
# recipe into code and runs it:
#
# 1. `sample_learning_rates`: sample the learning rate on a **log scale**;
# 2. `sample_betas`: sample the momentum $\beta$ by sampling $1 - \beta$ on a log scale;
# 3. `train_many`: the "caviar" strategy, many models trained in parallel, here literally
#    at once, with `jax.vmap` inside one `jax.jit`;
# 4. `random_search` and `coarse_to_fine`: pick hyperparameters at random (not on a grid),
#    judge each trial on the **dev set**, then zoom into the best region.
#
# **Points:** 50 = sample_learning_rates 10, sample_betas 10, train_many 15,
# random_search 10, coarse_to_fine 5. Run `grader test week3/hyperparameter_tuning` while you
# work, `grader submit week3/hyperparameter_tuning` at the end.
#
# **The problem** is the "moons" data of the optimization assignment (300 training points,
# 100 more as the dev set), a small network `[2, 16, 16, 1]` (ReLU, then one sigmoid
# output), trained full-batch with gradient descent with momentum for 300 steps. That is
# small enough to train 64 models in a second, and sensitive enough to the learning rate to
# make the search matter: too small and 300 steps get nowhere, too large and training
# blows up.
#
# **Allowed imports:** `jax` (with `jax.numpy`), `numpy`, `math`, and the `jaxdl.init`,
# `jaxdl.optim` and `jaxdl.data` modules. Not `jaxdl.tune`, `jaxdl.train`, `optax` or `flax`
# (they would be the answer, or hold it); the grader refuses them.

# %%
from __future__ import annotations

import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxdl  # jaxdl.init and jaxdl.optim in train_many; the experiment uses jaxdl.datasets

# %% [markdown]
# ## 1 - Sampling on the right scale: `sample_learning_rates`
#
# Say the learning rate $\alpha$ could be anywhere from $10^{-4}$ to $1$. Sampled uniformly
# on that interval, 90% of the samples fall in $[0.1, 1]$ and only 0.01% below $10^{-3}$: the
# search would barely look at three of the four decades. What matters about a learning rate
# is its order of magnitude, so sample the **exponent** uniformly:
#
# $$ r \sim \mathcal U[\log_{10} \text{low}, \log_{10} \text{high}], \qquad \alpha = 10^{r} , $$
#
# the course's `r = -4 * np.random.rand(); alpha = 10 ** r` for $[10^{-4}, 1]$. Every decade
# now gets the same share of the samples.
#
# The JAX way: `jax.random.uniform(key, shape, dtype, minval, maxval)` draws all `n` at once
# from an explicit key (no global seed, same key, same samples).

# %%
def sample_learning_rates(key, n, low=1e-4, high=1.0):
    """``n`` learning rates, log-uniform on ``[low, high]``.

    Arguments:
      key: a PRNG key.
      n: number of samples, a Python int.
      low, high: Python floats, ``0 < low < high``.

    Draw (exactly this):
      ``r = jax.random.uniform(key, (n,), jnp.float32, minval=math.log10(low),
      maxval=math.log10(high))``; return ``10.0 ** r``.

    Returns:
      float32 array (n,), every value in ``[low, high]``, ``log10`` of the values uniform on
      ``[log10(low), log10(high)]``.
    """
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## 2 - `sample_betas`
#
# The momentum (or Adam's $\beta_1$) averages over about $1 / (1 - \beta)$ steps:
# $\beta = 0.9$ is 10 steps, $0.99$ is 100, $0.999$ is 1000. Between 0.9 and 0.9005 hardly
# anything changes; between 0.999 and 0.9995 the averaging window doubles. So what should be
# spread evenly on a log scale is $1 - \beta$, not $\beta$: for $\beta \in [0.9, 0.999]$,
# $1 - \beta \in [10^{-3}, 10^{-1}]$,
#
# $$ r \sim \mathcal U[\log_{10}(1 - \text{high}), \log_{10}(1 - \text{low})] = \mathcal U[-3, -1],
#    \qquad \beta = 1 - 10^{r} . $$
#
# (Sampling $\beta$ itself log-uniformly is almost the same as sampling it uniformly, since
# $[0.9, 0.999]$ spans less than a twentieth of a decade.)

# %%
def sample_betas(key, n, low=0.9, high=0.999):
    """``n`` values of beta in ``[low, high]`` with ``1 - beta`` log-uniform.

    Arguments:
      key: a PRNG key.
      n: number of samples, a Python int.
      low, high: Python floats, ``0 <= low < high < 1``.

    Draw (exactly this):
      ``r = jax.random.uniform(key, (n,), jnp.float32, minval=math.log10(1 - high),
      maxval=math.log10(1 - low))``; return ``1.0 - 10.0 ** r``.

    Returns:
      float32 array (n,), values in ``[low, high]``, ``log10(1 - beta)`` uniform on
      ``[log10(1 - high), log10(1 - low)]``.
    """
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## 3 - Caviar: `train_many`
#
# The lecture contrasted two ways to tune: babysit one model (the panda) or train many in
# parallel and keep the best (caviar). With JAX, "in parallel" can mean one program: write
# the training of **one** model as a function of its hyperparameters, then
#
# ```python
# train_all = jax.jit(jax.vmap(train_one, in_axes=(0, 0, None, None, None)))
# ```
#
# `jax.vmap` turns a function of one learning rate into a function of a vector of them: every
# array in the computation gets a leading "trial" axis, the 64 matrix products of a step
# become one batched product, and `jax.jit` compiles the whole thing once. A Python loop
# that builds and jits a new training function per learning rate compiles 64 programs
# instead, and that is where the time goes.
#
# The model and its training, given below (not graded), are:
#
# - `forward(parameters, X)`: `[n_x, 16, 16, 1]`, LINEAR → RELU → LINEAR → RELU → LINEAR,
#   returning the logits as an `(m,)` vector;
# - `compute_cost(parameters, X, Y)`: mean binary cross-entropy of `sigmoid(logits)`
#   against labels `Y` in {0, 1}, shape `(m,)`;
# - `accuracy(parameters, X, Y)`: the fraction of examples with `(logits > 0) == (Y > 0.5)`.
#
# **Inside `vmap` and `jit`:** the training loop must be a JAX loop, not a Python one with
# `float(...)` or prints in it: `jax.lax.scan` (or `jax.lax.fori_loop`) over `num_steps`.
# `jaxdl.optim.momentum(lr, beta)` works with traced `lr` and `beta`.
#
# ```python
# def step(carry, _):
#     parameters, opt_state = carry
#     grads = jax.grad(compute_cost)(parameters, X, Y)
#     updates, opt_state = optimizer.update(grads, opt_state, parameters)
#     return (jaxdl.optim.apply_updates(parameters, updates), opt_state), None
#
# (parameters, opt_state), _ = jax.lax.scan(step, (parameters, opt_state), None, length=num_steps)
# ```
#
# **Every trial starts from the same initial parameters** (drawn once from `key`), so trials
# differ only in their hyperparameters: a controlled experiment.

# %%
LAYERS_HIDDEN = (16, 16)  # the network is [n_x, 16, 16, 1]


def forward(parameters, X):
    """Logits (m,) of the ``[n_x, 16, 16, 1]`` ReLU network (``parameters`` as ``init_mlp``)."""
    A = X
    for l in (1, 2):
        A = jax.nn.relu(jnp.matmul(A, parameters[f"W{l}"]) + parameters[f"b{l}"][None, :])
    return (jnp.matmul(A, parameters["W3"]) + parameters["b3"][None, :])[:, 0]


def compute_cost(parameters, X, Y):
    """Mean binary cross-entropy of ``sigmoid(forward(parameters, X))`` against ``Y`` (m,)."""
    z = forward(parameters, X)
    return jnp.mean(jnp.logaddexp(z, 0.0) - z * Y)  # = -y log sigmoid(z) - (1 - y) log(1 - sigmoid(z))


def accuracy(parameters, X, Y):
    """Fraction of the examples with ``(logits > 0) == (Y > 0.5)``, a float32 scalar."""
    return jnp.mean(((forward(parameters, X) > 0) == (Y > 0.5)).astype(jnp.float32))


# %%
def train_many(key, learning_rates, X, Y, betas=None, num_steps=300):
    """Train one model per (learning rate, beta), all at once: ``jax.vmap`` inside one ``jax.jit``.

    Arguments:
      key: a PRNG key, used only for the initial parameters.
      learning_rates: float32 array (k,).
      X: float32 (m, n_x) training inputs.
      Y: labels (m,) in {0, 1} (int or float; converted to float32).
      betas: float32 array (k,) of momentum coefficients, or None for 0.9 in every trial.
      num_steps: number of full-batch steps, a Python int.

    Each trial (exactly this, so it can be replayed one at a time):
      ``parameters = jaxdl.init.init_mlp(key, [n_x, 16, 16, 1], method="he")``, the **same**
      initial parameters for every trial;
      ``optimizer = jaxdl.optim.momentum(learning_rate, beta)`` (v = beta v + (1 - beta) g,
      update -learning_rate * v);
      ``num_steps`` times: ``grads = jax.grad(compute_cost)(parameters, X, Y)``, then the
      optimizer update and ``jaxdl.optim.apply_updates``;
      final cost ``compute_cost(parameters, X, Y)`` at the final parameters.

    Returns:
      ``(costs, parameters)``: ``costs`` float32 (k,), the final training cost of each trial
      (``nan`` or ``inf`` if it diverged); ``parameters`` the final parameters of all trials,
      a dict like ``init_mlp``'s whose every array has a leading trial axis of size k
      (``parameters["W1"]`` is (k, n_x, 16)).
    """
    learning_rates = jnp.asarray(learning_rates, jnp.float32)
    X = jnp.asarray(X, jnp.float32)
    Y = jnp.asarray(Y, jnp.float32)
    if betas is None:
        betas = jnp.full(learning_rates.shape, 0.9, jnp.float32)
    betas = jnp.asarray(betas, jnp.float32)
    n_x = X.shape[1]
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## 4 - `random_search`
#
# The recipe:
#
# 1. sample `num_trials` configurations **at random** (on a grid, 25 trials try only 5
#    values of each hyperparameter; at random they try 25 of each);
# 2. train them all (with `train_many`);
# 3. judge each on the **dev set**, never on the training cost: the training cost rewards
#    whatever fits the training set best, including overfitting, and a diverged trial's
#    `nan` cost makes `argmin` meaningless.
#
# Key convention: `key_lr, key_beta, key_init = jax.random.split(key, 3)`; the learning rates
# from `sample_learning_rates(key_lr, num_trials, *lr_range)`, the betas from
# `sample_betas(key_beta, num_trials, *beta_range)`, and `train_many(key_init, ...)`.
#
# Return the table of trials, a list of plain dicts (Python floats, so it prints, saves as
# JSON and sorts easily), and the best of them: the **first** trial with the highest dev
# accuracy (`int(np.argmax(dev_accuracies))`).

# %%
def random_search(key, X_train, Y_train, X_dev, Y_dev, num_trials, lr_range=(1e-3, 10.0),
                  beta_range=(0.9, 0.999), num_steps=300):
    """Random search over the learning rate and the momentum beta, judged on the dev set.

    Arguments:
      key: a PRNG key.
      X_train, Y_train: (m, n_x) float32 inputs and (m,) 0/1 labels to train on.
      X_dev, Y_dev: (m_dev, n_x) and (m_dev,), the dev set that judges the trials.
      num_trials: number of configurations, a Python int.
      lr_range: ``(low, high)`` for ``sample_learning_rates``.
      beta_range: ``(low, high)`` for ``sample_betas``.
      num_steps: training steps per trial (``train_many``).

    Key convention: ``key_lr, key_beta, key_init = jax.random.split(key, 3)``;
    ``learning_rates = sample_learning_rates(key_lr, num_trials, *lr_range)``;
    ``betas = sample_betas(key_beta, num_trials, *beta_range)``;
    ``costs, parameters = train_many(key_init, learning_rates, X_train, Y_train, betas=betas,
    num_steps=num_steps)``; trial ``i``'s dev accuracy is
    ``accuracy(parameters of trial i, X_dev, Y_dev)``.

    Returns:
      ``(best, trials)``: ``trials`` a list of ``num_trials`` dicts, in sampling order,
      ``{"learning_rate": float, "beta": float, "train_cost": float, "dev_accuracy": float}``
      (Python floats: ``float(x)``; JAX or NumPy scalars are refused); ``best`` the trial
      (the dict itself) with the highest ``dev_accuracy``. Ties: when several trials share
      the highest ``dev_accuracy``, ``best`` is the **first** of them in sampling order (as
      ``np.argmax`` picks it; a loop must compare with ``>``, not ``>=``).
    """
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## 5 - `coarse_to_fine`
#
# After a coarse search, the good trials cluster in one region. Search again, more densely,
# around the best one. Each round here halves the width of both ranges, measured on their
# log scales, and centres them on the best trial found so far, without leaving the
# original ranges:
#
# - learning rate: with `w = log10(high / low)` the current round's width in decades, the
#   next range is `best_lr * 10 ** (-w / 4)` to `best_lr * 10 ** (w / 4)`, clipped to the
#   original `lr_range`;
# - beta, on the `1 - beta` scale: with `w = log10((1 - low) / (1 - high))`, the next
#   `1 - beta` range is `(1 - best_beta) * 10 ** (-w / 4)` to `(1 - best_beta) * 10 ** (w / 4)`,
#   i.e. `beta` from `1 - (1 - best_beta) * 10 ** (w / 4)` to
#   `1 - (1 - best_beta) * 10 ** (-w / 4)`, clipped to the original `beta_range`.
#
# Compute the ranges with Python floats (`math.log10`, `max`, `min`) from the Python floats
# in the trial dicts.

# %%
def coarse_to_fine(key, X_train, Y_train, X_dev, Y_dev, num_trials, num_rounds=2, lr_range=(1e-3, 10.0),
                   beta_range=(0.9, 0.999), num_steps=300):
    """``num_rounds`` random searches, each zoomed around the best trial so far.

    Arguments: as ``random_search``, plus ``num_rounds`` (Python int >= 1); ``num_trials``
    is per round.

    Key convention: ``round_keys = jax.random.split(key, num_rounds)``; round ``r`` is
    ``random_search(round_keys[r], X_train, Y_train, X_dev, Y_dev, num_trials,
    lr_range=current_lr_range, beta_range=current_beta_range, num_steps=num_steps)``.

    Ranges: round 0 uses ``lr_range`` and ``beta_range``. After each round, with ``best`` the
    best trial so far (over all rounds) and ``(lo, hi)``, ``(blo, bhi)`` the ranges just
    searched::

        w = math.log10(hi / lo)
        next lr range = (max(lr_range[0], best_lr * 10 ** (-w / 4)),
                         min(lr_range[1], best_lr * 10 ** (w / 4)))
        wb = math.log10((1 - blo) / (1 - bhi))
        next beta range = (max(beta_range[0], 1 - (1 - best_beta) * 10 ** (wb / 4)),
                           min(beta_range[1], 1 - (1 - best_beta) * 10 ** (-wb / 4)))

    Returns:
      ``(best, trials)``: ``trials`` all rounds' trial dicts in order, each with an extra
      ``"round": int`` key; ``best`` the first of them with the highest ``dev_accuracy``
      (an earlier round wins a tie).
    """
    # YOUR CODE HERE
    raise NotImplementedError


# %% [markdown]
# ## 6 - The experiment
#
# On the moons (`jaxdl.datasets.moons()`: 300 training points; its 100 test points serve as
# the dev set):
#
# 1. the learning rates a linear and a log scale give, side by side;
# 2. a sweep of 64 learning rates with `train_many`, timed, against the same 64 trainings
#    jitted one by one (the slow loop is shortened to 8 trials and extrapolated);
# 3. a random search of 32 trials and a 2-round coarse-to-fine search of 16 + 16, and the
#    best configuration retrained from scratch.
#
# `JAXDL_QUICK=1` shrinks it to a smoke run; `JAXDL_OUT_DIR` chooses where the plots go
# (default `out/`).

# %%
QUICK = os.environ.get("JAXDL_QUICK", "0") not in ("", "0")  # the test suite's short run

if __name__ == "__main__":
    X_train, y_train, X_dev, y_dev = jaxdl.datasets.moons()
    Y_train, Y_dev = y_train.astype(jnp.float32), y_dev.astype(jnp.float32)
    steps = 100 if QUICK else 300

    linear = jax.random.uniform(jax.random.key(0), (1000,), jnp.float32, minval=1e-4, maxval=1.0)
    logscale = sample_learning_rates(jax.random.key(0), 1000)
    for name, lrs in (("linear scale", linear), ("log scale", logscale)):
        shares = [float(jnp.mean(((lrs >= 10.0 ** (d - 1)) & (lrs < 10.0 ** d)).astype(jnp.float32)))
                  for d in (-3, -2, -1, 0)]
        print(f"{name:>12}: share of samples per decade [1e-4,1e-3) .. [0.1,1): "
              + " ".join(f"{s:.3f}" for s in shares))
    print("betas, 1 - beta log-uniform:", np.round(np.asarray(sample_betas(jax.random.key(1), 6)), 4))

# %%
if __name__ == "__main__":
    sweep = 10.0 ** jnp.linspace(-3, 2, 16 if QUICK else 64, dtype=jnp.float32)
    init_key = jax.random.key(0)
    train_many(init_key, sweep[:2], X_train, Y_train, num_steps=steps)  # warm-up: imports, first dispatch
    start = time.perf_counter()
    sweep_costs, sweep_params = train_many(init_key, sweep, X_train, Y_train, num_steps=steps)
    sweep_costs.block_until_ready()
    vectorized = time.perf_counter() - start
    sweep_acc = jax.vmap(accuracy, in_axes=(0, None, None))(sweep_params, X_dev, Y_dev)

    start = time.perf_counter()
    for lr in sweep[:4]:  # one compilation per learning rate: the loop the vmap replaces
        train_many(init_key, lr[None], X_train, Y_train, num_steps=steps)[0].block_until_ready()
    one_by_one = (time.perf_counter() - start) / 4 * len(sweep)
    print(f"{len(sweep)} learning rates: {vectorized:.2f} s vectorized, about {one_by_one:.1f} s one by one")
    for lr, cost, acc in list(zip(sweep, sweep_costs, sweep_acc))[:: max(1, len(sweep) // 8)]:
        print(f"  lr {float(lr):9.4f}: train cost {float(cost):7.4f}, dev accuracy {float(acc):.2f}")

# %%
if __name__ == "__main__":
    n = 8 if QUICK else 32
    best, trials = random_search(jax.random.key(2), X_train, Y_train, X_dev, Y_dev, n, num_steps=steps)
    print(f"random search, {n} trials: best lr {best['learning_rate']:.4f}, beta {best['beta']:.4f}, "
          f"dev accuracy {best['dev_accuracy']:.2f}")
    fine_best, fine_trials = coarse_to_fine(jax.random.key(3), X_train, Y_train, X_dev, Y_dev, n // 2,
                                            num_rounds=2, num_steps=steps)
    print(f"coarse to fine, 2 x {n // 2} trials: best lr {fine_best['learning_rate']:.4f}, "
          f"beta {fine_best['beta']:.4f}, dev accuracy {fine_best['dev_accuracy']:.2f} (round {fine_best['round']})")

    # The chosen configuration, retrained on its own (what the grader does).
    costs, params = train_many(jax.random.split(jax.random.key(2), 3)[2], jnp.asarray([best["learning_rate"]]),
                               X_train, Y_train, betas=jnp.asarray([best["beta"]]), num_steps=steps)
    retrained = float(accuracy(jax.tree.map(lambda a: a[0], params), X_dev, Y_dev))
    print(f"retrained best configuration: dev accuracy {retrained:.2f}")

    from matplotlib.figure import Figure

    out_dir = os.environ.get("JAXDL_OUT_DIR", "out")
    os.makedirs(out_dir, exist_ok=True)
    fig = Figure(figsize=(10, 3.5))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.semilogx(np.asarray(sweep), np.asarray(sweep_acc), "o-", ms=3)
    ax1.set(xlabel="learning rate (beta 0.9)", ylabel="dev accuracy", title=f"{len(sweep)} models, one vmap")
    for r, marker in ((0, "o"), (1, "^")):
        pts = [(t["learning_rate"], 1 - t["beta"], t["dev_accuracy"]) for t in fine_trials if t["round"] == r]
        sc = ax2.scatter([p[0] for p in pts], [p[1] for p in pts], c=[p[2] for p in pts], marker=marker,
                         vmin=0.5, vmax=1.0, label=f"round {r}")
    ax2.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="1 - beta", title="coarse to fine")
    ax2.legend()
    fig.colorbar(sc, ax=ax2, label="dev accuracy")
    fig.tight_layout()
    path = os.path.join(out_dir, "week3_hyperparameter_tuning.png")
    fig.savefig(path, dpi=80)
    print("plot:", path)

# %% [markdown]
# ## What to take away
#
# - Sample hyperparameters at random, on the scale where their effect is even: the
#   learning rate's exponent, `1 - beta`'s exponent.
# - Judge trials on the dev set. The training cost is what the optimizer minimizes, not what
#   you want.
# - Coarse to fine: spend the later trials where the early ones did well.
# - In JAX, "caviar" is `jax.jit(jax.vmap(train_one))`: many models, one compiled program.
#   `jax.vmap` also runs over the leading axis of every parameter array, so the trained
#   models come back stacked, ready for a vmapped evaluation.

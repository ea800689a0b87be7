"""``week3/hyperparameter_tuning``: log-scale sampling, vmapped "caviar" training, random search.

Expected values are computed in the parent with ``jax``, ``jaxdl.init``/``jaxdl.optim`` and
the helpers of ``trusted.py`` (this folder), which follow the stub's docstrings:

- ``sample_learning_rates``/``sample_betas``: the exact draws the docstrings state (same key,
  same samples; another key, other samples; under ``jax.jit`` with ``n`` static), plus a
  distribution check at a fixed key: ``log10`` of the learning rates, and of ``1 - beta``,
  must pass a Kolmogorov-Smirnov test for the uniform distribution (``scipy.stats.kstest``,
  p > 1e-3; the key is fixed so the test's outcome for a correct sampler does not depend on
  the run's seed) and stay inside the range.
- ``train_many``: compared with the same trials trained **one at a time** in the parent (one
  jitted trial, learning rate and beta as arguments), learning rates <= 0.3 where a
  vmapped and a single training agree to float32 rounding (above, training is chaotic and
  the two drift apart). Every trial starts from ``init_mlp(key, ...)``; the per-trial
  initialization mistake is recognised by its wrong answer, and so is the optimizer state not
  carried from step to step (the momentum restarted at 0: every step is plain gradient descent
  with ``(1 - beta) * learning_rate``), replayed by ``trusted.train_one(..., carry_state=False)``.
  That comparison is already a trajectory check (full-batch steps, no shuffle, no cost
  history: the final cost and parameters after ``num_steps`` steps against the replay), so
  the cost-history and shuffle mistakes of the week's other training loops do not arise here.
- ``random_search``/``coarse_to_fine`` run with the grader's samplers, ``train_many`` (and
  ``random_search`` for ``coarse_to_fine``) bound in the student's namespace (``Case.replace``),
  so a sampler or ``train_many`` mistake costs only its own part, and the whole result (the
  table and the choice) is then determined: the parent computes it with the same trusted
  functions. A dev set with flipped labels (``Y_dev = 1 - y``) makes the best trial by dev
  accuracy differ from the best by training cost, which names the "chosen by train cost"
  mistake; a second search with one key for everything names the key-splitting mistake.

Hidden sizes are fixed for every seed (the shape rule of :mod:`grader.case_tools`): the
samplers' ``n`` (:data:`HIDDEN_N`), the number of ``train_many`` trials (:data:`HIDDEN_TRIALS`)
and of dev points (:data:`HIDDEN_DEV`), all other than the visible cases'; so are the ranges
of the jitted sampler cases, which are static there (:data:`JIT_LR_RANGE`,
:data:`JIT_BETA_RANGE`). Keys, data sets, learning rates, betas and the other ranges are drawn
per seed.

What the time limit can and cannot tell. The 64-learning-rate case must finish within 10 s
(the vmapped reference: about 1-3 s, mostly one compilation). A Python loop that jits a new
training function per learning rate compiles 64 programs (0.3-1 s each) and runs out of time,
and the feedback then names that mistake. A Python loop over **one** jitted function that
takes the learning rate as an argument compiles once and is about as fast as the vmap on CPU
(0.7 s measured): it returns the same numbers in the same time, so it cannot be told apart
from the vmapped form by anything the parent sees, and it passes. The grader does not inspect
source code.

Import policy: ``jaxdl.tune`` and ``jaxdl.train`` (the answer), ``optax`` and ``flax`` are
refused; ``jaxdl.init``, ``jaxdl.optim`` (preloaded: it imports optax internally) and
``jaxdl.data`` are allowed.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from grader.case_tools import rng as _rng, key as _key
from grader.judge import Symptom
from grader.spec import Assignment, Case, Part

from .mistakes import MISTAKES

F32 = np.float32
TRUSTED = "trusted"  # this folder's trusted.py (spec.Case.replace)

HINTS = {slug: mistake.message for slug, mistake in MISTAKES.items()}

NUM_STEPS = 100       # train_many / search cases: one compiled trial shape for all of them
NUM_TRIALS = 8        # search cases: one compiled vmapped training shape
SWEEP = 64            # the timed train_many case
SWEEP_SECONDS = 10.0
KS_KEY = 20240611     # the fixed key of the distribution checks
KS_N = 2000
KS_P = 1e-3

# Hidden sizes and static values, fixed (the shape rule of grader.case_tools); the visible cases
# use n = 5, 6, four trials and 100 dev points, the ranges (1e-4, 1), (1e-3, 10), (0.9, 0.999),
# (0.8, 0.9999).
HIDDEN_N = (7, 11)
HIDDEN_TRIALS = 5
HIDDEN_DEV = 77
JIT_LR_RANGE = (3e-5, 0.2)
JIT_BETA_RANGE = (0.75, 0.9995)

SAMPLER_STATIC = {"static_argnums": (1, 2, 3), "static_argnames": ("n", "low", "high")}  # Python int and floats
SEARCH_HELPERS = {name: f"{TRUSTED}:{name}" for name in (
    "sample_learning_rates", "sample_betas", "train_many", "forward", "compute_cost", "accuracy")}
FINE_HELPERS = dict(SEARCH_HELPERS, random_search=f"{TRUSTED}:random_search")


@functools.lru_cache(maxsize=8)
def _moons(seed: int = 3, n_test: int = 100):
    import jaxdl

    X, y, Xd, yd = jaxdl.datasets.moons(seed=seed, n_test=n_test)
    return np.asarray(X), np.asarray(y), np.asarray(Xd), np.asarray(yd)


def _import_scipy_stats():
    """The distribution cases' ``prepare``: ``scipy.stats`` takes 0.7 s of processor time to
    import, done in the background while the worker runs instead of between two calls."""
    from scipy import stats

    return stats


def _ks_pvalue(values: np.ndarray, lo: float, hi: float) -> float:
    stats = _import_scipy_stats()
    return float(stats.kstest(np.asarray(values, np.float64), stats.uniform(loc=lo, scale=hi - lo).cdf).pvalue)


def _sample_shape_msg(out, n: int) -> str | None:
    from grader import judge

    return judge.compare(out, np.zeros((n,), F32), values=False, path="the samples")


# ------------------------------------------------------------------ sample_learning_rates


def _lr_case(key_seed: int, n: int, rng: tuple[float, float] | None, **kw) -> Case:
    import jax
    import jax.numpy as jnp

    from . import trusted as T

    key = _key(key_seed)
    low, high = rng or (1e-4, 1.0)
    args = (key, n) + (tuple(rng) if rng else ())
    linear = lambda: jax.random.uniform(key, (n,), jnp.float32, minval=low, maxval=high)  # noqa: E731
    return Case(args=args, expected=lambda: T.sample_learning_rates(key, n, low, high),
                key_args=(_key(key_seed + 1), n) + args[2:],
                mistakes=((HINTS["lr_linear_scale"], linear),), **SAMPLER_STATIC,
                label=f"sample_learning_rates(key, {n}" + (f", {low:g}, {high:g})" if rng else ")"), **kw)


def _lr_ks_case(r: np.random.Generator) -> Case:
    low = float(10.0 ** r.uniform(-6, -3))
    high = float(low * 10.0 ** r.uniform(2, 5))

    def validate(out):
        msg = _sample_shape_msg(out, KS_N)
        if msg:
            return msg
        if not (np.all(out >= low * (1 - 1e-5)) and np.all(out <= high * (1 + 1e-5))):
            return f"some samples lie outside [{low:g}, {high:g}] (from {float(out.min()):g} to {float(out.max()):g})"
        lo, hi = math.log10(low), math.log10(high)
        if _ks_pvalue(np.log10(out.astype(np.float64)), lo, hi) < KS_P:
            if _ks_pvalue(out, low, high) >= KS_P:
                return HINTS["lr_linear_scale"]
            return (f"log10 of the samples is not uniform on [{lo:.3g}, {hi:.3g}] (Kolmogorov-Smirnov test); "
                    "sample r uniformly there and return 10 ** r")
        return None

    return Case(args=(_key(KS_KEY), KS_N, low, high), validate=validate, prepare=_import_scipy_stats,
                label=f"distribution of sample_learning_rates(key, {KS_N}, {low:.3g}, {high:.3g})")


def lr_visible():
    return [_lr_case(0, 5, None), _lr_case(1, 6, (1e-3, 10.0))]


def lr_hidden(seed: int):
    r = _rng(seed)
    low = float(10.0 ** r.uniform(-5, -2))
    high = float(low * 10.0 ** r.uniform(1, 4))
    return [_lr_case(seed, HIDDEN_N[0], (low, high)),
            _lr_case(seed + 1, HIDDEN_N[1], JIT_LR_RANGE, jit=True),
            _lr_ks_case(r)]


# ------------------------------------------------------------------ sample_betas


def _beta_case(key_seed: int, n: int, rng: tuple[float, float] | None, **kw) -> Case:
    import jax
    import jax.numpy as jnp

    from . import trusted as T

    key = _key(key_seed)
    low, high = rng or (0.9, 0.999)
    args = (key, n) + (tuple(rng) if rng else ())

    def log_on_beta():
        return 10.0 ** jax.random.uniform(key, (n,), jnp.float32, minval=math.log10(low), maxval=math.log10(high))

    def linear():
        return jax.random.uniform(key, (n,), jnp.float32, minval=low, maxval=high)

    return Case(args=args, expected=lambda: T.sample_betas(key, n, low, high),
                key_args=(_key(key_seed + 1), n) + args[2:],
                mistakes=((HINTS["beta_log_scale_on_beta"], log_on_beta), (HINTS["beta_linear_scale"], linear)),
                **SAMPLER_STATIC,
                label=f"sample_betas(key, {n}" + (f", {low:g}, {high:g})" if rng else ")"), **kw)


def _beta_ks_case(r: np.random.Generator) -> Case:
    low = round(float(r.uniform(0.5, 0.9)), 3)
    high = round(float(1 - 10.0 ** r.uniform(-4, -2.5)), 5)

    def validate(out):
        msg = _sample_shape_msg(out, KS_N)
        if msg:
            return msg
        if not (np.all(out >= low - 1e-6) and np.all(out <= high + 1e-6)):
            return f"some samples lie outside [{low:g}, {high:g}] (from {float(out.min()):g} to {float(out.max()):g})"
        lo, hi = math.log10(1 - high), math.log10(1 - low)
        one_minus = np.clip(1.0 - out.astype(np.float64), 1e-12, None)
        if _ks_pvalue(np.log10(one_minus), lo, hi) < KS_P:
            return (f"log10(1 - beta) of the samples is not uniform on [{lo:.3g}, {hi:.3g}] (Kolmogorov-Smirnov "
                    "test); sample r uniformly there and return 1 - 10 ** r")
        return None

    return Case(args=(_key(KS_KEY), KS_N, low, high), validate=validate, prepare=_import_scipy_stats,
                label=f"distribution of sample_betas(key, {KS_N}, {low:g}, {high:g})")


def beta_visible():
    return [_beta_case(0, 5, None), _beta_case(1, 6, (0.8, 0.9999))]


def beta_hidden(seed: int):
    r = _rng(seed)
    low = round(float(r.uniform(0.5, 0.9)), 3)
    high = round(float(1 - 10.0 ** r.uniform(-4, -2)), 5)
    return [_beta_case(seed, HIDDEN_N[0], (low, high)),
            _beta_case(seed + 1, HIDDEN_N[1], JIT_BETA_RANGE, jit=True),
            _beta_ks_case(r)]


# ------------------------------------------------------------------ train_many


def _one_at_a_time(key, learning_rates, X, Y, betas=None, num_steps=NUM_STEPS, init_keys=None, carry_state=True):
    """The trials replayed one by one (``init_keys``: the per-trial-initialization mistake;
    ``carry_state=False``: the optimizer state restarted at every step)."""
    import jax.numpy as jnp

    from . import trusted as T

    lrs = np.asarray(learning_rates, F32)
    bs = np.full(lrs.shape, 0.9, F32) if betas is None else np.asarray(betas, F32)
    X, Y = jnp.asarray(X, jnp.float32), jnp.asarray(Y, jnp.float32)
    costs, finals = [], []
    for i in range(lrs.shape[0]):
        init = T.initial_parameters(key if init_keys is None else init_keys[i], X.shape[1])
        cost, params = T.train_one_jit(jnp.float32(lrs[i]), jnp.float32(bs[i]), init, X, Y, num_steps, carry_state)
        costs.append(np.asarray(cost))
        finals.append({k: np.asarray(v) for k, v in params.items()})
    return np.stack(costs), {k: np.stack([f[k] for f in finals]) for k in finals[0]}


def _train_case(key_seed: int, lrs: np.ndarray, data_seed: int, *, betas=None, int_labels=False, **kw) -> Case:
    import jax

    key = _key(key_seed)
    X, y, _, _ = _moons(data_seed)
    Y = y.astype(np.int32) if int_labels else y.astype(F32)
    kwargs = {"num_steps": NUM_STEPS}
    if betas is not None:
        kwargs["betas"] = betas
    wrong = lambda: _one_at_a_time(key, lrs, X, Y, betas, init_keys=jax.random.split(key, len(lrs)))  # noqa: E731
    stateless = lambda: _one_at_a_time(key, lrs, X, Y, betas, carry_state=False)  # noqa: E731
    what = "int32" if int_labels else "float32"
    return Case(args=(key, lrs, X, Y), kwargs=kwargs, expected=lambda: _one_at_a_time(key, lrs, X, Y, betas),
                mistakes=((HINTS["train_many_init_per_trial"], wrong),
                          (HINTS["train_many_optimizer_state_not_carried"], stateless)), rtol=1e-4, atol=1e-5,
                static_argnames=("num_steps",),
                label=(f"train_many with {len(lrs)} learning rates in [{lrs.min():.3g}, {lrs.max():.3g}], "
                       + ("betas given" if betas is not None else "betas=None") + f", {what} labels, "
                       f"num_steps={NUM_STEPS}; expected: the trials trained one at a time"), **kw)


def _sweep_case(key_seed: int, data_seed: int) -> Case:
    from grader import judge

    key = _key(key_seed)
    X, y, _, _ = _moons(data_seed)
    Y = y.astype(F32)
    lrs = (10.0 ** np.linspace(-3, 1, SWEEP)).astype(F32)
    stable = np.flatnonzero(lrs <= 0.3)
    check = stable[np.linspace(0, len(stable) - 1, 3).astype(int)]

    def validate(out):
        if not isinstance(out, (list, tuple)) or len(out) != 2:
            return "train_many() must return (costs, parameters)"
        costs, params = out
        exp_costs, exp_params = _one_at_a_time(key, lrs[check], X, Y)
        template = (np.zeros((SWEEP,), F32), {k: np.zeros((SWEEP,) + v.shape[1:], F32) for k, v in exp_params.items()})
        msg = judge.compare(out, template, values=False, path="the result")
        if msg:
            return msg
        msg = judge.compare((costs[check], {k: v[check] for k, v in params.items()}), (exp_costs, exp_params),
                            rtol=1e-4, atol=1e-5, path="the trials with learning rates <= 0.3")
        return msg

    return Case(args=(key, lrs, X, Y), kwargs={"num_steps": NUM_STEPS}, validate=validate,
                time_limit=SWEEP_SECONDS, cold=True,
                label=f"train_many with {SWEEP} learning rates from 1e-3 to 10 (must take less than "
                      f"{SWEEP_SECONDS:g} s, compilation included)")


def train_visible():
    return [_train_case(0, np.array([0.01, 0.03, 0.1, 0.3], F32), 3)]


def train_hidden(seed: int):
    r = _rng(seed)
    k = HIDDEN_TRIALS
    lrs = (10.0 ** r.uniform(-3, math.log10(0.3), size=k)).astype(F32)
    betas = r.uniform(0.8, 0.99, size=k).astype(F32)
    data_seed = int(r.integers(4, 1000))
    return [_train_case(seed, lrs, data_seed, betas=betas, int_labels=True, jit=True),
            _sweep_case(seed + 1, data_seed)]


# ------------------------------------------------------------------ random_search and coarse_to_fine


def _search_data(data_seed: int, n_test: int, flipped: bool):
    X, y, Xd, yd = _moons(data_seed, n_test)
    Yd = (1 - yd) if flipped else yd
    return X, y.astype(F32), Xd, Yd.astype(F32)


def _one_key_search(key, X, Y, Xd, Yd, num_trials, lr_range, beta_range, num_steps):
    """The ``random_search_one_key`` mistake: one key for the samplers and the initialization."""
    import jax
    import jax.numpy as jnp

    from . import trusted as T

    lrs = T.sample_learning_rates(key, num_trials, *lr_range)
    betas = T.sample_betas(key, num_trials, *beta_range)
    costs, params = T.train_many(key, lrs, X, Y, betas=betas, num_steps=num_steps)
    dev = np.asarray(jax.vmap(T.accuracy, in_axes=(0, None, None))(params, jnp.asarray(Xd), jnp.asarray(Yd)))
    trials = [{"learning_rate": float(a), "beta": float(b), "train_cost": float(c), "dev_accuracy": float(d)}
              for a, b, c, d in zip(np.asarray(lrs), np.asarray(betas), np.asarray(costs), dev)]
    return trials[int(np.argmax(dev))], trials


def _python_floats_problem(out) -> str | None:
    """The stub's rule: every value of every trial (and of ``best``) is a Python float; a JAX
    or NumPy 0-d array, which the value comparison would accept, is named here."""
    from grader import judge

    best, trials = out
    for where, trial in [("best", best), *((f"trials[{i}]", t) for i, t in enumerate(trials))]:
        for k, v in trial.items():
            if type(v) is not float:
                return f"{HINTS['random_search_jax_scalars']} ({where}[{k!r}] is {judge.describe(v)})"
    return None


def _search_case(key_seed: int, data_seed: int, *, n_test: int = 100, flipped: bool = False,
                 lr_range=None, beta_range=None, tie: bool = False, hidden: bool = False, **kw) -> Case:
    """``tie``: the dev set is one input twice, labelled 0 and 1, so every trial's dev accuracy
    is exactly 0.5 and the rule "the first trial with the highest dev_accuracy" decides."""
    from . import trusted as T

    key = _key(key_seed)
    X, Y, Xd, Yd = _search_data(data_seed, n_test, flipped)
    if tie:
        Xd, Yd = np.repeat(Xd[:1], 2, axis=0), np.array([0.0, 1.0], F32)
    kwargs = {"num_steps": NUM_STEPS}
    if lr_range is not None:
        kwargs["lr_range"] = lr_range
    if beta_range is not None:
        kwargs["beta_range"] = beta_range
    lr_r, beta_r = lr_range or (1e-3, 10.0), beta_range or (0.9, 0.999)

    @functools.lru_cache(maxsize=1)
    def expected():
        return T.random_search(key, X, Y, Xd, Yd, NUM_TRIALS, lr_r, beta_r, NUM_STEPS)

    def by_train_cost():
        _, trials = expected()
        return trials[int(np.nanargmin([t["train_cost"] for t in trials]))], trials

    def last_of_ties():
        _, trials = expected()
        dev = [t["dev_accuracy"] for t in trials]
        return trials[len(dev) - 1 - int(np.argmax(dev[::-1]))], trials

    # The tie mistake is named only where a tie at the top makes it wrong (a Symptom); the tie
    # case tries it first: there "best by train cost" may pick the last trial too.
    def shows_last_of_ties(out) -> bool:  # only where a tie at the top makes it a wrong answer
        from grader import judge

        last = judge.to_numpy(last_of_ties())
        return (judge.compare(last, judge.to_numpy(expected()), rtol=0, atol=0) is not None
                and judge.compare(out, last, rtol=1e-5, atol=1e-6) is None)

    ties = (HINTS["random_search_last_of_ties"], Symptom(shows_last_of_ties))
    cost = (HINTS["random_search_best_by_train_cost"], by_train_cost)
    mistakes = ((ties, cost) if tie else (cost, ties)) + (
        (HINTS["random_search_one_key"],
         lambda: _one_key_search(key, X, Y, Xd, Yd, NUM_TRIALS, lr_r, beta_r, NUM_STEPS)),)
    ranges = "".join(f", {k}=({v[0]:.3g}, {v[1]:.4g})" for k, v in kwargs.items() if k != "num_steps")
    dev = "a dev set with flipped labels (Y_dev = 1 - y), so the best dev accuracy goes to a poor model" \
        if flipped else f"a dev set of {len(Yd)} points"
    if tie:
        dev = "a dev set of one input labelled 0 and 1, so every trial ties at dev accuracy 0.5"
    return Case(args=(key, X, Y, Xd, Yd, NUM_TRIALS), kwargs=kwargs, expected=expected, mistakes=mistakes,
                rtol=1e-5, atol=1e-6, replace=SEARCH_HELPERS,
                validate=_python_floats_problem if hidden else None,
                label=f"random_search with {NUM_TRIALS} trials{ranges}, num_steps={NUM_STEPS}, {dev}", **kw)


def search_visible():
    return [_search_case(0, 3)]


def search_hidden(seed: int):
    r = _rng(seed)
    data_seed = int(r.integers(4, 1000))
    lr_range = (float(10.0 ** r.uniform(-4, -2)), float(10.0 ** r.uniform(0.5, 1.2)))
    beta_range = (round(float(r.uniform(0.8, 0.9)), 3), round(float(r.uniform(0.99, 0.999)), 4))
    return [_search_case(seed, data_seed, n_test=HIDDEN_DEV, lr_range=lr_range, beta_range=beta_range,
                         hidden=True),
            _search_case(seed + 1, data_seed, flipped=True, hidden=True),
            _search_case(seed + 2, data_seed, tie=True, hidden=True)]


def _fine_case(key_seed: int, data_seed: int, num_rounds: int, *, lr_range=None, beta_range=None) -> Case:
    from . import trusted as T

    key = _key(key_seed)
    X, Y, Xd, Yd = _search_data(data_seed, 100, False)
    kwargs = {"num_rounds": num_rounds, "num_steps": NUM_STEPS}
    if lr_range is not None:
        kwargs["lr_range"] = lr_range
    if beta_range is not None:
        kwargs["beta_range"] = beta_range
    lr_r, beta_r = lr_range or (1e-3, 10.0), beta_range or (0.9, 0.999)

    def run(zoom: bool):
        return T.coarse_to_fine(key, X, Y, Xd, Yd, NUM_TRIALS, num_rounds, lr_r, beta_r, NUM_STEPS, zoom=zoom)

    ranges = "".join(f", {k}=({v[0]:.3g}, {v[1]:.4g})" for k, v in kwargs.items() if k.endswith("range"))
    return Case(args=(key, X, Y, Xd, Yd, NUM_TRIALS), kwargs=kwargs, expected=lambda: run(True),
                mistakes=((HINTS["coarse_to_fine_no_zoom"], lambda: run(False)),), rtol=1e-5, atol=1e-6,
                replace=FINE_HELPERS,
                label=f"coarse_to_fine with {num_rounds} rounds of {NUM_TRIALS} trials{ranges}, num_steps={NUM_STEPS}")


def fine_visible():
    return [_fine_case(1, 3, 2)]


def fine_hidden(seed: int):
    r = _rng(seed)
    lr_range = (float(10.0 ** r.uniform(-4, -2)), float(10.0 ** r.uniform(0.5, 1.2)))
    beta_range = (round(float(r.uniform(0.8, 0.9)), 3), round(float(r.uniform(0.99, 0.999)), 4))
    return [_fine_case(seed, int(r.integers(4, 1000)), 3, lr_range=lr_range, beta_range=beta_range)]


ASSIGNMENT = Assignment(
    id="week3/hyperparameter_tuning",
    title="Hyperparameter tuning: log-scale sampling, vmapped training, random and coarse-to-fine search",
    parts=(
        Part("sample_learning_rates", 10, "log-uniform learning rates from an explicit key", lr_visible, lr_hidden),
        Part("sample_betas", 10, "1 - beta log-uniform", beta_visible, beta_hidden),
        Part("train_many", 15, "one model per learning rate, jax.vmap inside one jax.jit", train_visible,
             train_hidden, timeout_hint=HINTS["train_many_python_loop"]),
        Part("random_search", 10, "random trials judged on the dev set", search_visible, search_hidden),
        Part("coarse_to_fine", 5, "searches zoomed around the best trial so far", fine_visible, fine_hidden),
    ),
    forbidden_imports=("jaxdl.tune", "jaxdl.train", "optax", "flax"),
    allowed_imports=("`jax` (with `jax.numpy`), `numpy`, `math`, and the `jaxdl.init`, `jaxdl.optim` "
                     "and `jaxdl.data` modules"),
    preload=("jaxdl.optim", "jaxdl.init", "jaxdl.data"),
)

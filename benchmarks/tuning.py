"""64 tuning trials trained together (``vmap``, "caviar") vs one after another ("panda").

Each trial trains the course's [2, 5, 2, 1] network on the 300 moons with
``jaxdl.train.fit`` (Adam, batch 64, ``EPOCHS`` epochs) and returns
``jaxdl.train.evaluate`` on the 100 test moons. The learning rate is sampled
``LogUniform(1e-4, 1e-1)`` and ``beta1`` ``OneMinusLogUniform(0.8, 0.99)``.
``jaxdl.tune.random_search(..., n_trials=64, vmap=True)`` runs the 64 trials in one
``jax.jit(jax.vmap(train_fn))`` call; ``vmap=False`` runs one jitted call per trial
(compiled once, called 64 times). Both give the same table (checked).

``random_search`` keeps the programs it compiled (keyed on ``train_fn`` and the static
values), so a second search with the same ``train_fn`` runs without tracing or compiling.
Timed, interleaved, median of repeats:

- **warm** (the target row): a later ``random_search`` call in this process, its compiled
  program reused;
- **cold**: the first call of each mode, with an empty persistent compilation cache
  (compile included; one sample each).

Also reported (no target): the compiled programs alone, ``jax.jit(jax.vmap(train_fn))`` on
the 64 trials vs ``jax.jit(train_fn)`` called 64 times, both compiled beforehand -- the
speed of the vmapped arithmetic itself, without the results table.

Target: sequential / vmapped at least 10x (warm).
"""

from __future__ import annotations

import shutil
import tempfile
import time

from benchmarks._harness import Result, time_repeats

NAME = "tuning"
TITLE = "64 tuning trials: vmapped vs one after another"

N_TRIALS = 64
EPOCHS = 200
QUICK_TRIALS = 4
QUICK_EPOCHS = 2


def _setup(epochs: int, quick: bool = False):
    import jax

    from jaxdl import datasets, init, losses, nn, optim, train, tune

    X, y, X_test, y_test = datasets.moons()
    if quick:  # 128 rows: two full batches, no remainder batch, so a smaller program to compile
        X, y = X[:128], y[:128]
    Y = y.astype("float32")

    def loss_fn(p, X, Y):
        return losses.binary_cross_entropy(nn.mlp_apply(p, X)[:, 0], Y)

    def apply_fn(p, X):
        return nn.mlp_apply(p, X)[:, 0]

    def train_fn(hp, key):
        init_key, fit_key = jax.random.split(key)
        params = init.init_mlp(init_key, [2, 5, 2, 1], method="he")
        state, _ = train.fit(loss_fn, params, optim.adam(hp["lr"], beta1=hp["beta1"]), X, Y, key=fit_key,
                             epochs=epochs, batch_size=64, progress=False)
        return train.evaluate(apply_fn, state.params, X_test, y_test)

    space = {"lr": tune.LogUniform(1e-4, 1e-1), "beta1": tune.OneMinusLogUniform(0.8, 0.99)}
    return train_fn, space


def run(*, quick: bool = False, repeats: int = 5) -> Result:
    import jax
    import numpy as np

    from jaxdl import _reuse, compile_cache, tune

    n_trials, epochs = (QUICK_TRIALS, QUICK_EPOCHS) if quick else (N_TRIALS, EPOCHS)
    train_fn, space = _setup(epochs, quick)
    key = jax.random.key(0)

    def search(vmap: bool):
        return tune.random_search(train_fn, space, key=key, n_trials=n_trials, metric="accuracy", vmap=vmap)

    result = Result(NAME, f"{TITLE} ({n_trials} trials, [2,5,2,1] moons, {epochs} epochs each"
                          f"{', --quick: 128 training rows' if quick else ''})")
    labels = {True: f"{n_trials} trials vmapped (one program)", False: f"{n_trials} trials one after another"}
    previous_cache = compile_cache.compilation_cache_dir()
    tmp = tempfile.mkdtemp(prefix="jaxdl-bench-tuning-")
    tables = {}
    cold: dict[bool, float] = {}
    warm: dict[bool, list[float]] = {True: [], False: []}
    try:
        compile_cache.enable_compilation_cache(tmp)
        for vmap in (True, False):
            t0 = time.perf_counter()
            tables[vmap] = search(vmap)
            cold[vmap] = time.perf_counter() - t0
        for _ in range(repeats):
            for vmap in (True, False):
                t0 = time.perf_counter()
                search(vmap)
                warm[vmap].append(time.perf_counter() - t0)
        # The compiled programs alone (random_search's own, already compiled above, without its
        # table): jit(vmap(train_fn)) once on all trials vs jit(train_fn) called per trial.
        trials, keys = tune.sample_trials(space, key=key, n_trials=n_trials)
        numeric = {n: jax.numpy.asarray([t[n] for t in trials], jax.numpy.float32) for n in space}
        no_static = _reuse.ByValue({})  # the space has no static Choice
        vmapped = tune._trial_program(train_fn, no_static, True)
        single = tune._trial_program(train_fn, no_static, False)
        per_trial = [{n: a[t] for n, a in numeric.items()} for t in range(n_trials)]

        def one_after_another():
            return [single(per_trial[t], keys[t]) for t in range(n_trials)]

        compiled = {True: time_repeats(lambda: vmapped(numeric, keys), repeats, warmup=1),
                    False: time_repeats(one_after_another, repeats, warmup=1)}
    finally:
        if previous_cache is None:
            compile_cache.disable_compilation_cache()
        else:
            compile_cache.enable_compilation_cache(previous_cache)
        shutil.rmtree(tmp, ignore_errors=True)

    for vmap in (True, False):
        result.add(f"{labels[vmap]} (warm)", warm[vmap], "random_search call again, compiled program reused")
    for vmap in (True, False):
        result.add(f"{labels[vmap]} (compiled program only)", compiled[vmap],
                   "jit(vmap(train_fn)) once" if vmap else "jit(train_fn) per trial, compiled beforehand")
    for vmap in (True, False):
        result.add(f"{labels[vmap]} (cold)", [cold[vmap]], "first random_search call, compile included")
    result.ratio("sequential / vmapped (warm)", f"{labels[False]} (warm)",
                 f"{labels[True]} (warm)", ">=", 10.0, paired=True)
    result.ratio("sequential / vmapped (compiled programs only)", f"{labels[False]} (compiled program only)",
                 f"{labels[True]} (compiled program only)", paired=True)
    result.ratio("sequential / vmapped (cold, compile included)", f"{labels[False]} (cold)", f"{labels[True]} (cold)")
    a = np.array([r["accuracy"] for r in sorted(tables[True], key=lambda r: r["trial"])])
    b = np.array([r["accuracy"] for r in sorted(tables[False], key=lambda r: r["trial"])])
    result.notes.append(f"vmapped and sequential searches agree: max |accuracy difference| over the trials "
                        f"{float(np.max(np.abs(a - b))):.3f}; best accuracy {tables[True].best['accuracy']:.3f}.")
    return result

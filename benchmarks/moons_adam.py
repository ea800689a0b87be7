"""Course moons/Adam training ([2, 5, 2, 1], batch 64, 5,000 epochs): jaxdl.fit vs NumPy, PyTorch, optax loops.

The workload is the "Optimization Methods" assignment's Adam run: the course's 300 moons,
He initialization, Adam (lr 0.0007), mini-batches of 64 (four of 64 and one of 44 per epoch,
so 25,000 updates). Contenders are described in :mod:`benchmarks._training`.

How each is timed (median of ``repeats``):

- Repeat by repeat, every contender runs once (interleaved, so a change in the shared
  machine's load hits them all alike).
- NumPy, PyTorch, the per-step jitted loop: in this process, whole run per sample
  (PyTorch and the per-step loop warmed up first with a 1-epoch run, so the per-step
  loop's step is compiled).
- ``jaxdl.fit`` and the hand-written ``lax.scan``: in fresh worker processes, one call timed
  from just before to just after it (imports, data loading and backend start-up excluded):
  **cold** = first call in a process whose ``JAXDL_COMPILATION_CACHE`` points at a new,
  empty directory (trace + compile + run); **warm cached** = first call in a second fresh
  process using the directory the cold one filled (trace + load from disk + run);
  **warm in-process** = the next call in the same process (the scan's jitted function is
  reused from memory, and so is ``fit``'s: same ``loss_fn`` object, an equal
  ``jaxdl.optim.adam``).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import shutil
import tempfile

import numpy as np

from benchmarks import _training as tr
from benchmarks._harness import Result, run_worker, time_repeats, torch_available

NAME = "moons_adam"
TITLE = "Course moons/Adam training ([2,5,2,1], batch 64, 5,000 epochs)"

NUMPY = "NumPy course loop"
TORCH = "PyTorch eager (CPU)"
PER_STEP = "JAX jitted per-step + optax"
SCAN = "hand-written lax.scan + optax"
FIT = "jaxdl.fit"
COLD, CACHED, INPROC = "cold", "warm cached", "warm in-process"
QUICK_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def name(contender: str, mode: str) -> str:
    return f"{contender} ({mode})"


def _worker_repeat(w: tr.Workload, data: str, tmp: str, r: int, runs: dict, *, quick: bool) -> None:
    """Repeat ``r`` of fit and the hand-written scan in fresh processes (cold, then warm cached), into ``runs``."""
    samples, final = runs.setdefault("samples", {}), runs.setdefault("final", {})
    quick_args = ["--quick"] if quick else []
    params_files = {"fit": os.path.join(tmp, "fit_params.npz"), "scan": os.path.join(tmp, "scan_params.npz")}
    for contenders in (["fit,scan"] if quick else ["fit", "scan"]):  # quick: one process per phase
        cache = tempfile.mkdtemp(prefix="cache-", dir=tmp)
        env = {"JAXDL_COMPILATION_CACHE": cache}
        if quick:  # cheaper XLA compiles for the smoke test (not a measurement anyway)
            env["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + QUICK_XLA_FLAGS).strip()
        base = ["--workload", w.name, "--contender", contenders, "--data", data, *quick_args]
        save = ["--save-params", params_files[contenders]] if r == 0 and not quick else []
        cold = run_worker("benchmarks._training", [*base, "--calls", "2", *save], env=env)
        cached = run_worker("benchmarks._training", [*base, "--calls", "2"], env=env)
        for c, label in (("fit", FIT), ("scan", SCAN)):
            if c not in cold:
                continue
            samples.setdefault(name(label, COLD), []).append(cold[c]["times"][0])
            samples.setdefault(name(label, CACHED), []).append(cached[c]["times"][0])
            samples.setdefault(name(label, INPROC), []).extend(cold[c]["times"][1:] + cached[c]["times"][1:])
            final[label] = cached[c]["loss"]
        shutil.rmtree(cache, ignore_errors=True)
    if r == 0 and all(os.path.exists(f) for f in params_files.values()):
        with np.load(params_files["fit"]) as a, np.load(params_files["scan"]) as b:
            runs["diff"] = max(float(np.max(np.abs(a[k] - b[k]))) for k in a.files)


def _worker_runs(w: tr.Workload, data: str, tmp: str, *, quick: bool, repeats: int) -> dict:
    """All repeats of :func:`_worker_repeat`: ``{"samples": {row: [...]}, "final": {...}, "diff": ...}``."""
    runs: dict = {}
    for r in range(repeats):
        _worker_repeat(w, data, tmp, r, runs, quick=quick)
    return runs


_PREFETCHED: dict[str, tuple[str, str, concurrent.futures.Future]] = {}
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-workers")


def start_workers(w: tr.Workload, *, quick: bool, repeats: int) -> None:
    """Start the worker processes of ``w`` in a background thread (``--quick`` only: they overlap)."""
    tmp = tempfile.mkdtemp(prefix=f"jaxdl-bench-{w.name}-")
    data = os.path.join(tmp, "inputs.npz")
    tr.save_inputs(data, w)
    _PREFETCHED[w.name] = (tmp, data, _POOL.submit(_worker_runs, w, data, tmp, quick=quick, repeats=repeats))


def prefetch(*, quick: bool, repeats: int) -> None:
    """``python -m benchmarks --quick`` calls this first so the workers overlap the other benchmarks."""
    if quick:
        start_workers(tr.quick_version(tr.MOONS), quick=quick, repeats=repeats)


def measure_training(w: tr.Workload, result: Result, *, quick: bool, repeats: int) -> dict[str, float]:
    """Time every contender on workload ``w`` into ``result``; returns each one's final epoch cost.

    With ``quick`` the worker processes run in a background thread (started by :func:`prefetch`
    or here) while this process runs the in-process contenders: a smoke test, the times mean nothing.
    """
    if quick and w.name not in _PREFETCHED:
        start_workers(w, quick=quick, repeats=repeats)
    if w.name in _PREFETCHED:
        tmp, data, future = _PREFETCHED.pop(w.name)
    else:
        tmp = tempfile.mkdtemp(prefix=f"jaxdl-bench-{w.name}-")
        data = os.path.join(tmp, "inputs.npz")
        tr.save_inputs(data, w)
        future = None
    try:
        X, y, params = tr.load_inputs(data)
        final: dict[str, float] = {}

        # Repeat by repeat, every contender once (interleaved, so a change in the machine's load
        # hits them all alike): in this process NumPy, PyTorch, the per-step jitted loop; then
        # fit and the hand-written scan in fresh processes (cold / warm cached / warm in-process).
        has_torch = torch_available()
        if has_torch:
            import torch

            tr.torch_train(dataclasses.replace(w, epochs=1), X, y, params)  # warm-up
        else:
            result.notes.append("PyTorch is not installed (or JAXDL_BENCH_NO_TORCH is set): "
                                "its row and ratio are skipped (n/a).")
        per_step = tr.make_per_step(w)
        per_step(params, X, y, epochs=1)  # compiles the step for both batch shapes
        samples: dict[str, list[float]] = {NUMPY: [], TORCH: [], PER_STEP: []}
        out: dict = {}
        runs: dict = {}
        for r in range(repeats):
            samples[NUMPY] += time_repeats(lambda: out.update(numpy=tr.numpy_train(w, X, y, params)), 1)
            if has_torch:
                samples[TORCH] += time_repeats(lambda: out.update(torch=tr.torch_train(w, X, y, params)), 1)
            samples[PER_STEP] += time_repeats(lambda: out.update(per_step=per_step(params, X, y)), 1)
            if future is None:
                _worker_repeat(w, data, tmp, r, runs, quick=quick)
        if future is not None:
            runs = future.result()
        result.add(NUMPY, samples[NUMPY], "whole run, float64 like the course, 1 BLAS thread")
        final[NUMPY] = float(out["numpy"][1][-1])
        if has_torch:
            result.add(TORCH, samples[TORCH], f"whole run, torch {torch.__version__}, 1 thread")
            final[TORCH] = float(out["torch"][1][-1])
        result.add(PER_STEP, samples[PER_STEP], "whole run, step compiled beforehand")
        final[PER_STEP] = float(out["per_step"][1][-1])
        notes = {
            COLD: "first call, fresh process, empty persistent cache: trace + compile + run",
            CACHED: "first call, fresh process, persistent cache filled: trace + load + run",
            INPROC: "second call in the same process",
        }
        for label in (FIT, SCAN):
            for mode in (COLD, CACHED, INPROC):
                result.add(name(label, mode), runs["samples"][name(label, mode)], notes[mode])
            final[label] = runs["final"][label]
        if quick:
            result.notes.append("--quick: fit and the scan share one worker process per phase, "
                                "overlapping the in-process runs (not a measurement).")
        elif runs.get("diff") is not None:
            result.notes.append(f"jaxdl.fit and the hand-written scan end at the same parameters "
                                f"(max |difference| {runs['diff']:.1e}): same updates, same key convention.")
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def final_costs_note(final: dict[str, float]) -> str:
    return "final epoch cost (sanity check, all should be close): " + ", ".join(
        f"{k} {v:.4g}" for k, v in final.items())


def run(*, quick: bool = False, repeats: int = 5) -> Result:
    w = tr.quick_version(tr.MOONS) if quick else tr.MOONS
    title = TITLE if not quick else f"{TITLE} [--quick: {w.epochs} epochs]"
    result = Result(NAME, title)
    final = measure_training(w, result, quick=quick, repeats=repeats)
    fit_cached, scan_cached = name(FIT, CACHED), name(SCAN, CACHED)
    result.ratio("NumPy / fit (warm cached): fit is x times faster", NUMPY, fit_cached, ">=", 4.0, paired=True)
    result.ratio("NumPy / fit (cold, compile included)", NUMPY, name(FIT, COLD), ">=", 1.0, paired=True)
    result.ratio("fit / hand-written scan (both warm cached)", fit_cached, scan_cached, "<=", 1.2, paired=True)
    result.ratio("PyTorch / fit (warm cached)", TORCH, fit_cached, ">=", 30.0, paired=True)
    result.ratio("PyTorch / fit (warm in-process)", TORCH, name(FIT, INPROC))
    result.ratio("NumPy / fit (warm in-process)", NUMPY, name(FIT, INPROC))
    result.ratio("fit / hand-written scan (both cold)", name(FIT, COLD), name(SCAN, COLD), paired=True)
    result.ratio("fit / hand-written scan (both warm in-process)", name(FIT, INPROC), name(SCAN, INPROC), paired=True)
    result.ratio("NumPy / hand-written scan (warm cached)", NUMPY, scan_cached, paired=True)
    result.ratio("per-step jitted loop / fit (warm cached)", PER_STEP, fit_cached, paired=True)
    result.notes.append(final_costs_note(final))
    return result

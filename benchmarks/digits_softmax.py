"""A larger workload, reported without a target: [64, 128, 64, 10] softmax network on digits, 200 epochs.

The 1,437 training digits (8x8 pixels / 16), softmax cross-entropy, Adam (lr 0.001), batch 64
(22 full batches and one of 29 per epoch, 4,600 updates). Same contenders and timing modes
as :mod:`benchmarks.moons_adam` (the NumPy loop is the course loop with a softmax output).
"""

from __future__ import annotations

from benchmarks import _training as tr
from benchmarks._harness import Result
from benchmarks.moons_adam import (
    CACHED, COLD, FIT, INPROC, NUMPY, PER_STEP, SCAN, TORCH, final_costs_note, measure_training, name, start_workers,
)

NAME = "digits_softmax"
TITLE = "Digits softmax training ([64,128,64,10], batch 64, 200 epochs), no target"


def prefetch(*, quick: bool, repeats: int) -> None:
    """``python -m benchmarks --quick`` calls this first so the workers overlap the other benchmarks."""
    if quick:
        start_workers(tr.quick_version(tr.DIGITS), quick=quick, repeats=repeats)


def run(*, quick: bool = False, repeats: int = 5) -> Result:
    w = tr.quick_version(tr.DIGITS) if quick else tr.DIGITS
    title = TITLE if not quick else f"{TITLE} [--quick: {w.epochs} epochs]"
    result = Result(NAME, title)
    final = measure_training(w, result, quick=quick, repeats=repeats)
    fit_cached = name(FIT, CACHED)
    result.ratio("NumPy / fit (warm cached)", NUMPY, fit_cached, paired=True)
    result.ratio("NumPy / fit (cold, compile included)", NUMPY, name(FIT, COLD), paired=True)
    result.ratio("fit / hand-written scan (both warm cached)", fit_cached, name(SCAN, CACHED), paired=True)
    result.ratio("fit / hand-written scan (both cold)", name(FIT, COLD), name(SCAN, COLD), paired=True)
    result.ratio("fit / hand-written scan (both warm in-process)", name(FIT, INPROC), name(SCAN, INPROC), paired=True)
    result.ratio("PyTorch / fit (warm cached)", TORCH, fit_cached, paired=True)
    result.ratio("per-step jitted loop / fit (warm cached)", PER_STEP, fit_cached, paired=True)
    result.notes.append(final_costs_note(final))
    return result

"""Batch norm training step (forward + backward): ``jaxdl.nn.batchnorm`` vs ``flax.linen.BatchNorm``.

At each shape ``(m, n)`` of :data:`SHAPES` (float32, CPU), each contender is one ``jax.jit``
of ``value_and_grad`` of ``sum(y * w)`` with respect to the scale/shift and ``x``, where
``(y, new_stats) = batchnorm(x)`` in train mode (batch statistics, running averages updated,
momentum 0.99, eps 1e-5); it returns the loss, the gradients and the new running statistics.
``x`` and ``w`` are arguments of the program (not constants folded into it).

Contenders:

- ``jaxdl.nn.batchnorm`` (the variance of the centred batch, two passes over ``x``);
- ``flax.linen.BatchNorm`` with ``use_fast_variance=True`` (its default: ``E[x²] - E[x]²``,
  one pass, inaccurate when ``|mean| >> std``);
- ``flax.linen.BatchNorm`` with ``use_fast_variance=False`` (two passes, like jaxdl).

Timing: the programs are compiled and warmed up first; then, repeat by repeat and shape
by shape, every contender takes one sample: the seconds per call over :data:`ROUNDS` rounds
of ``inner`` calls each, the contenders taking turns round by round (their order rotating),
so a burst of load on the shared machine hits them alike (``inner`` is chosen so a round
lasts about :data:`ROUND_SECONDS`). Rows per shape give the
medians; the rows without a shape give, per repeat, the geometric mean over the shapes of
the per-call times (each shape weighs the same). Target: jaxdl / flax (fast variance),
geometric mean over the shapes, at most 1.0; the per-shape ratios are reported with their
per-repeat spread (the noise).
"""

from __future__ import annotations

import math
import time

from benchmarks._harness import Result, block, op_counts

NAME = "batchnorm"
TITLE = "Batch norm training step (forward + backward), float32"

SHAPES = ((64, 128), (256, 512), (1024, 1024))
QUICK_SHAPES = ((16, 8), (32, 16))
ROUNDS = 40
ROUND_SECONDS = 0.005
QUICK_ROUNDS = 2

JAXDL = "jaxdl.nn.batchnorm"
FLAX_FAST = "flax.linen.BatchNorm"
FLAX_TWO_PASS = "flax.linen.BatchNorm use_fast_variance=False"
CONTENDERS = (JAXDL, FLAX_FAST, FLAX_TWO_PASS)


def _steps(m: int, n: int) -> dict[str, tuple]:
    """``{contender: (jitted step, args)}`` at shape ``(m, n)``; every step returns ``((loss, stats), grads)``."""
    import flax.linen as fnn
    import jax
    import jax.numpy as jnp

    from jaxdl import nn

    kx, kw = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (m, n), jnp.float32) * 2.0 + 1.0
    w = jax.random.normal(kw, (m, n), jnp.float32)

    def jaxdl_loss(p, x, stats, w):
        y, new_stats = nn.batchnorm(p, stats, x, train=True, momentum=0.99, eps=1e-5)
        return jnp.sum(y * w), new_stats

    params, stats = nn.batchnorm_init(n)
    grad = jax.value_and_grad(jaxdl_loss, argnums=(0, 1), has_aux=True)
    steps = {JAXDL: (jax.jit(grad), (params, x, stats, w))}
    for name, fast in ((FLAX_FAST, True), (FLAX_TWO_PASS, False)):
        module = fnn.BatchNorm(use_running_average=False, momentum=0.99, epsilon=1e-5, use_fast_variance=fast)
        fvars = module.init(jax.random.key(1), x)

        def flax_loss(p, x, stats, w, module=module):
            y, mutated = module.apply({"params": p, "batch_stats": stats}, x, mutable=["batch_stats"])
            return jnp.sum(y * w), mutated["batch_stats"]

        grad = jax.value_and_grad(flax_loss, argnums=(0, 1), has_aux=True)
        steps[name] = (jax.jit(grad), (dict(fvars["params"]), x, dict(fvars["batch_stats"]), w))
    return steps


def _block_seconds(step, args, inner: int) -> float:
    """Seconds for ``inner`` calls, the last result blocked on."""
    t0 = time.perf_counter()
    out = None
    for _ in range(inner):
        out = step(*args)
    block(out)
    return time.perf_counter() - t0


def _interleaved_sample(calls: dict[str, tuple], inner: int, rounds: int) -> dict[str, float]:
    """Seconds per call of each contender over ``rounds`` rounds of ``inner`` calls, taking turns."""
    names = list(calls)
    total = dict.fromkeys(names, 0.0)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            total[name] += _block_seconds(*calls[name], inner)
    return {name: t / (inner * rounds) for name, t in total.items()}


def _max_difference(ours, theirs) -> float:
    """Largest absolute difference of loss, gradients (scale/shift, x) and running statistics."""
    import jax.numpy as jnp

    (la, sa), (pa, xa) = ours
    (lb, sb), (pb, xb) = theirs
    pairs = [(la, lb), (xa, xb), (pa["gamma"], pb["scale"]), (pa["beta"], pb["bias"]),
             (sa["mean"], sb["mean"]), (sa["var"], sb["var"])]
    return max(float(jnp.max(jnp.abs(a - b))) for a, b in pairs)


def _ill_conditioned_error() -> dict[str, float]:
    """Relative error of each contender's batch variance (its running-average update) at mean/std = 1e4.

    float32 ``(256, 8)`` batch, mean 1000, std 0.1; the reference is NumPy's float64 variance
    of the same float32 values. (Why jaxdl does not take flax's default: see its docstring.)
    """
    import flax.linen as fnn
    import jax
    import jax.numpy as jnp
    import numpy as np

    from jaxdl import nn

    x = 1000.0 + 0.1 * jax.random.normal(jax.random.key(2), (256, 8), jnp.float32)
    ref = np.asarray(x, np.float64).var(axis=0)
    # momentum 0: the new running variance is the batch variance itself
    _, s = nn.batchnorm(*nn.batchnorm_init(8), x, train=True, momentum=0.0)
    errors = {JAXDL: float(np.max(np.abs(np.asarray(s["var"], np.float64) - ref) / ref))}
    for name, fast in ((FLAX_FAST, True), (FLAX_TWO_PASS, False)):
        module = fnn.BatchNorm(use_running_average=False, momentum=0.0, use_fast_variance=fast)
        _, mutated = module.apply(module.init(jax.random.key(1), x), x, mutable=["batch_stats"])
        var = np.asarray(mutated["batch_stats"]["var"], np.float64)
        errors[name] = float(np.max(np.abs(var - ref) / ref))
    return errors


def run(*, quick: bool = False, repeats: int = 5) -> Result:
    shapes = QUICK_SHAPES if quick else SHAPES
    rounds = QUICK_ROUNDS if quick else ROUNDS
    label = ", ".join(f"{m}x{n}" for m, n in shapes)
    result = Result(NAME, f"{TITLE}, x {label}{' [--quick]' if quick else ''}")

    steps = {shape: _steps(*shape) for shape in shapes}
    inner: dict[tuple[int, int], int] = {}
    outputs = {}
    for shape, by_name in steps.items():
        for name, (step, args) in by_name.items():
            outputs[shape, name] = block(step(*args))  # compile + the result checked below
            block(step(*args))
        step, args = by_name[FLAX_FAST]  # calls per sample, the same for every contender at this shape
        per_call = min(_block_seconds(step, args, 3) for _ in range(5)) / 3
        inner[shape] = max(1, round(ROUND_SECONDS / per_call))

    samples = {(shape, name): [] for shape in shapes for name in CONTENDERS}
    for _ in range(repeats):
        for shape in shapes:
            for name, seconds in _interleaved_sample(steps[shape], inner[shape], rounds).items():
                samples[shape, name].append(seconds)

    def row(shape, name):
        return f"{name} ({shape[0]}x{shape[1]})"

    for name in CONTENDERS:
        per_repeat = [math.exp(sum(math.log(samples[shape, name][r]) for shape in shapes) / len(shapes))
                      for r in range(repeats)]
        result.add(name, per_repeat, f"geometric mean over the {len(shapes)} shapes, per repeat")
    for shape in shapes:
        for name in CONTENDERS:
            result.add(row(shape, name), samples[shape, name],
                       f"jitted value_and_grad w.r.t. (scale/shift, x); {rounds} x {inner[shape]} calls")

    result.ratio("jaxdl / flax (fast variance), geometric mean over shapes", JAXDL, FLAX_FAST, "<=", 1.0,
                 paired=True)
    result.ratio("jaxdl / flax use_fast_variance=False, geometric mean", JAXDL, FLAX_TWO_PASS, paired=True)
    slower = []
    for shape in shapes:
        for other, what in ((FLAX_FAST, "flax (fast variance)"), (FLAX_TWO_PASS, "flax use_fast_variance=False")):
            r = result.ratio(f"jaxdl / {what}, {shape[0]}x{shape[1]}", row(shape, JAXDL), row(shape, other),
                             paired=True)
            if other == FLAX_FAST and r.spread is not None and r.spread[0] > 1.0:
                slower.append(f"{shape[0]}x{shape[1]} ({r.value:.2f}x)")
    result.notes.append("jaxdl slower than flax's fast variance in every repeat at: "
                        + (", ".join(slower) if slower else "no shape") + ".")

    diff = max(_max_difference(outputs[shape, JAXDL], outputs[shape, FLAX_TWO_PASS]) for shape in shapes)
    result.notes.append(f"loss, gradients and running statistics agree with flax use_fast_variance=False "
                        f"to {diff:.1e} (absolute).")
    errors = _ill_conditioned_error()
    result.notes.append("batch variance at mean 1000, std 0.1 (float32), relative error vs float64: "
                        + "; ".join(f"{name} {err:.1e}" for name, err in errors.items()) + ".")
    if not quick:  # (compiling again costs a second or two: skipped in the smoke test)
        shape = shapes[-1]
        counts = {}
        for name in CONTENDERS:
            step, args = steps[shape][name]
            ops = op_counts(step.lower(*args).compile().as_text())
            counts[name] = (ops.get("fusion", 0), sum(ops.values()))
        result.notes.append(f"compiled XLA programs at {shape[0]}x{shape[1]} (fusions / ops): "
                            + "; ".join(f"{name} {f} / {t}" for name, (f, t) in counts.items()) + ".")
    return result

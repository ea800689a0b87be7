"""Batch norm forward + backward (train mode): ``jaxdl.nn.batchnorm`` vs ``flax.linen.BatchNorm``.

Input ``x`` is ``(4096, 512)`` float32. Each contender is one ``jax.jit`` of
``value_and_grad`` of ``sum(y * w)`` with respect to ``(gamma, beta, x)`` where
``(y, new_stats) = batchnorm(x)`` in train mode (batch statistics, running averages
updated, momentum 0.99, eps 1e-5), returning the loss, the gradients and the new running
statistics. flax: ``BatchNorm(use_running_average=False, momentum=0.99, epsilon=1e-5)
.apply({"params", "batch_stats"}, x, mutable=["batch_stats"])``. Target: jaxdl / flax at
most 1.0.
"""

from __future__ import annotations

from benchmarks._harness import Result, op_counts, time_repeats

NAME = "batchnorm"
TITLE = "Batch norm forward + backward, train mode"

SHAPE = (4096, 512)
QUICK_SHAPE = (64, 8)


def run(*, quick: bool = False, repeats: int = 5) -> Result:
    import flax.linen as fnn
    import jax
    import jax.numpy as jnp

    from jaxdl import nn

    m, n = QUICK_SHAPE if quick else SHAPE
    kx, kw = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (m, n), jnp.float32) * 2.0 + 1.0
    w = jax.random.normal(kw, (m, n), jnp.float32)
    params, stats = nn.batchnorm_init(n)

    def jaxdl_loss(p, x, stats):
        y, new_stats = nn.batchnorm(p, stats, x, train=True, momentum=0.99, eps=1e-5)
        return jnp.sum(y * w), new_stats

    module = fnn.BatchNorm(use_running_average=False, momentum=0.99, epsilon=1e-5)
    fvars = module.init(jax.random.key(1), x)
    fparams = {"scale": fvars["params"]["scale"], "bias": fvars["params"]["bias"]}
    fstats = fvars["batch_stats"]

    def flax_loss(p, x, stats):
        y, mutated = module.apply({"params": p, "batch_stats": stats}, x, mutable=["batch_stats"])
        return jnp.sum(y * w), mutated["batch_stats"]

    jaxdl_step = jax.jit(jax.value_and_grad(jaxdl_loss, argnums=(0, 1), has_aux=True))
    flax_step = jax.jit(jax.value_and_grad(flax_loss, argnums=(0, 1), has_aux=True))
    calls = {
        "jaxdl.nn.batchnorm": lambda: jaxdl_step(params, x, stats),
        "flax.linen.BatchNorm": lambda: flax_step(fparams, x, fstats),
    }
    inner = 3 if quick else 20
    result = Result(NAME, f"{TITLE}, x {m}x{n}{' [--quick]' if quick else ''}")
    samples: dict[str, list[float]] = {k: [] for k in calls}
    for f in calls.values():
        time_repeats(f, 1, warmup=2)
    for _ in range(repeats):
        for k, f in calls.items():
            samples[k] += time_repeats(f, 1, inner=inner)
    for k in calls:
        result.add(k, samples[k], f"jitted value_and_grad w.r.t. (scale/shift, x); mean of {inner} calls")

    (la, sa), (ga, gxa) = calls["jaxdl.nn.batchnorm"]()
    (lb, sb), (gb, gxb) = calls["flax.linen.BatchNorm"]()
    diff = max(float(jnp.max(jnp.abs(gxa - gxb))), float(jnp.max(jnp.abs(ga["gamma"] - gb["scale"]))),
               float(jnp.max(jnp.abs(sa["mean"] - sb["mean"]))), float(jnp.max(jnp.abs(sa["var"] - sb["var"]))))
    result.ratio("jaxdl / flax", "jaxdl.nn.batchnorm", "flax.linen.BatchNorm", "<=", 1.0, paired=True)
    result.notes.append(f"gradients and running statistics agree with flax to {diff:.1e}.")
    if not quick:  # (compiling again costs a few seconds: skipped in the smoke test)
        programs = [op_counts(jaxdl_step.lower(params, x, stats).compile().as_text()),
                    op_counts(flax_step.lower(fparams, x, fstats).compile().as_text())]
        delta = {k: programs[0].get(k, 0) - programs[1].get(k, 0) for k in set(programs[0]) | set(programs[1])}
        delta = {k: d for k, d in sorted(delta.items()) if d}
        result.notes.append("compiled XLA op counts: " + ("the same" if not delta else f"jaxdl minus flax {delta}")
                            + f" ({sum(programs[0].values())} vs {sum(programs[1].values())} ops).")
    return result

"""One Adam update of a 10M-parameter pytree: ``jaxdl.optim.adam`` vs ``optax.adam``.

The pytree is an MLP's ``{"W1", "b1", ..., "W3", "b3"}`` for layers [1000, 2500, 2500, 500]
(10,005,500 float32 parameters, 40 MB). One update is ``opt.update(grads, state, params)``
followed by the library's own ``apply_updates``, in one ``jax.jit`` program whose state and
parameters are donated (updated in place), as a training step would. Both are compiled and
warmed up first; a sample is the mean of ``inner`` consecutive updates, median over repeats.
Target: jaxdl / optax at most 1.0 (the two compute the same numbers with the same operations;
a few percent either way is noise).
"""

from __future__ import annotations

from benchmarks._harness import Result, op_counts, time_repeats

NAME = "optimizer_update"
TITLE = "One Adam update of a 10M-parameter pytree"

LAYERS = (1000, 2500, 2500, 500)
QUICK_LAYERS = (10, 40, 20, 5)


def _make(opt, apply_updates):
    import jax

    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return apply_updates(params, updates), state

    return jax.jit(step, donate_argnums=(0, 1))


def run(*, quick: bool = False, repeats: int = 5) -> Result:
    import jax
    import jax.numpy as jnp
    import optax

    from jaxdl import init, optim

    layers = QUICK_LAYERS if quick else LAYERS
    params0 = init.init_mlp(jax.random.key(0), list(layers), method="he")
    n = sum(x.size for x in jax.tree.leaves(params0))
    grads = jax.tree.map(lambda p: 0.01 * jnp.ones_like(p), params0)
    inner = 3 if quick else 10
    result = Result(NAME, f"{TITLE} ({n:,} parameters{' [--quick]' if quick else ''})")
    contenders = [
        ("jaxdl.optim.adam", optim.adam(1e-3), optim.apply_updates),
        ("optax.adam", optax.adam(1e-3), optax.apply_updates),
    ]
    carry = {}
    steps = {}
    for label, opt, apply in contenders:
        params = jax.tree.map(jnp.copy, params0)
        carry[label] = (params, opt.init(params))
        steps[label] = _make(opt, apply)

    def call(label):
        def f():
            params, state = carry[label]
            carry[label] = steps[label](params, state, grads)
            return carry[label]
        return f

    samples: dict[str, list[float]] = {label: [] for label, _, _ in contenders}
    for label, _, _ in contenders:
        time_repeats(call(label), 1, warmup=2)
    for _ in range(repeats):  # interleaved, so a burst of load hits both alike
        for label, _, _ in contenders:
            samples[label] += time_repeats(call(label), 1, inner=inner)
    for label, _, _ in contenders:
        result.add(label, samples[label], f"update + apply_updates, jitted, donated; mean of {inner} calls")
    a, b = carry["jaxdl.optim.adam"][0], carry["optax.adam"][0]
    diff = max(float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    result.ratio("jaxdl / optax", "jaxdl.optim.adam", "optax.adam", "<=", 1.0, paired=True)
    result.notes.append(f"after the same {2 + repeats * inner} updates the parameters differ by at most {diff:.1e}.")
    if not quick:  # (compiling again costs a few seconds: skipped in the smoke test)
        programs = [op_counts(steps[label].lower(*carry[label], grads).compile().as_text())
                    for label, _, _ in contenders]
        same = "the same" if programs[0] == programs[1] else "DIFFERENT"
        result.notes.append(f"the two compiled XLA programs have {same} op counts ({sum(programs[0].values())} ops).")
    return result

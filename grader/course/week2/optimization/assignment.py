"""``week2/optimization``: gradient descent, mini-batches, momentum, RMSProp, Adam, LR decay.

Expected values come from ``jaxdl`` in the parent: ``jaxdl.optim.sgd``/``momentum``/
``rmsprop``/``adam`` driven step by step (hidden cases replay a 10-step trajectory, t = 1..10,
and ask the student's function for each step from the reference state before it), the
course's mini-batches with ``perm = jax.random.permutation(key, m)`` (what the notebook
teaches; ``jaxdl.data`` shuffles with its own faster permutation) and
``jaxdl.schedules.inverse_time_decay``. Every optimizer
part has a case with a large epsilon (1e-2, as the course's own public test), so epsilon in
the wrong place changes the answer beyond the tolerance.

Import policy: ``optax``, ``flax``, ``jaxdl.optim`` and ``jaxdl.schedules`` would be the
answer, so they are refused.
"""

from __future__ import annotations

import functools

import numpy as np

from grader.case_tools import F32, HIDDEN_DIMS, as_jax, as_numpy, random_params, to_grad_keys
from grader.case_tools import rng as _rng
from grader.judge import Symptom
from grader.spec import Assignment, Case, Part

from .mistakes import MISTAKES

HINTS = {slug: mistake.message for slug, mistake in MISTAKES.items()}

STEPS = 10  # hidden optimizer cases replay t = 1..STEPS


def _net(r: np.random.Generator, dims):
    """Parameters of normal entries drawn from ``r`` for layer sizes ``dims`` (hidden cases:
    :data:`grader.case_tools.HIDDEN_DIMS`, the same for every seed: the shape rule)."""
    return random_params(r, dims), list(dims)


def _dims_label(dims) -> str:
    return "layers_dims " + str(list(dims))


# ------------------------------------------------------------------ optimizer trajectories


@functools.cache
def _programs(factory: str):
    """``(init, step)`` of ``jaxdl.optim.<factory>``, jitted with the hyperparameters as
    arguments: one program per optimizer and shapes, whatever the seed's hyperparameters
    (driven eagerly, each step's operations compiled 126 programs in the parent)."""
    import jax
    import jaxdl

    def init(hyper, params):
        return getattr(jaxdl.optim, factory)(**hyper).init(params)

    def step(hyper, grads, state, params):
        updates, new_state = getattr(jaxdl.optim, factory)(**hyper).update(grads, state, params)
        return jaxdl.optim.apply_updates(params, updates), new_state

    return jax.jit(init), jax.jit(step)


def _trajectory(factory: str, hyper: dict, params: dict, grads_seq: list[dict]):
    """Run ``jaxdl.optim.<factory>(**hyper)``; yield (t, params_before, grads_t, state_before,
    params_after, state_after)."""
    init, step = _programs(factory)
    p = as_jax(params)
    state = init(hyper, p)
    for t, g in enumerate(grads_seq, start=1):
        new_p, new_state = step(hyper, as_jax(g), state, p)
        yield t, p, g, state, new_p, new_state
        p, state = new_p, new_state


def _grad_seq(r: np.random.Generator, params: dict, n: int, scale: float = 1.0) -> list[dict]:
    return [{k: (scale * r.normal(size=v.shape)).astype(F32) for k, v in params.items()} for _ in range(n)]


# ------------------------------------------------------------------ gradient descent


def _gd_case(params, grads, lr, label, **kw) -> Case:
    def expected():
        _, _, _, _, new_params, _ = next(_trajectory("sgd", {"learning_rate": lr}, params, [grads]))
        return new_params

    wrong = {k: (params[k] + F32(lr) * grads[k]).astype(F32) for k in params}
    return Case(args=(params, to_grad_keys(grads), lr), expected=expected, label=label,
                mistakes=((HINTS["gd_adds_gradient"], wrong),), **kw)


def gd_visible():
    r = _rng(1)
    params, dims = _net(r, [3, 2, 3, 1])
    return [_gd_case(params, _grad_seq(r, params, 1)[0], 0.01, _dims_label(dims))]


def gd_hidden(seed: int):
    r = _rng(seed)
    out = []
    for jit, hidden_dims in zip((False, True), HIDDEN_DIMS):
        params, dims = _net(r, hidden_dims)
        out.append(_gd_case(params, _grad_seq(r, params, 1)[0], float(r.uniform(0.001, 0.5)),
                            _dims_label(dims), jit=jit))
    return out


# ------------------------------------------------------------------ mini-batches


def _paired_rows(X, Y, batches) -> bool:
    """True when the batches hold every row of X once but some X row lost its own Y row."""
    try:
        bx = np.concatenate([np.asarray(b[0]) for b in batches])
        by = np.concatenate([np.asarray(b[1]) for b in batches])
    except Exception:  # noqa: BLE001 - not batches at all
        return False
    if bx.shape != X.shape or by.shape != Y.shape:
        return False
    ix = [int(np.flatnonzero((X == row).all(axis=1))[0]) if (X == row).all(axis=1).any() else -1 for row in bx]
    iy = [int(np.flatnonzero((Y == row).all(axis=1))[0]) if (Y == row).all(axis=1).any() else -1 for row in by]
    return -1 not in ix and -1 not in iy and sorted(ix) == sorted(iy) == list(range(len(X))) and ix != iy


def _minibatch_case(seed: int, m: int, n_x: int, batch_size: int, **kw) -> Case:
    import jax

    r = _rng(seed)
    X = r.normal(size=(m, n_x)).astype(F32)
    Y = np.arange(m, dtype=F32).reshape(m, 1) * F32(0.5)  # distinct labels: pairing is checkable
    key = jax.random.key(seed % 2**31)

    def expected():  # the notebook's convention: one jax.random.permutation for X and Y
        perm = np.asarray(jax.random.permutation(key, m))
        return [(X[perm[i:i + batch_size]], Y[perm[i:i + batch_size]]) for i in range(0, m, batch_size)]

    def drop_last():
        return expected()[:-1]

    return Case(args=(key, X, Y), kwargs={"mini_batch_size": batch_size}, expected=expected,
                label=f"m={m} examples, mini_batch_size={batch_size}",
                mistakes=((HINTS["minibatches_drop_last"], drop_last),
                          (HINTS["minibatches_two_permutations"], Symptom(lambda out: _paired_rows(X, Y, out)))),
                **kw)


def minibatch_visible():
    return [_minibatch_case(2, 148, 12, 64)]  # the course's sanity check: 64, 64, 20


def minibatch_hidden(seed: int):
    # Fixed sizes (the shape rule of grader.case_tools), other than the visible case's; the
    # rows, the key and so the permutation are drawn per seed.
    bs = 16
    return [_minibatch_case(seed + 1, 3 * bs + 5, 3, bs),  # a partial last batch of 5
            _minibatch_case(seed + 2, 3 * bs, 5, bs)]      # no partial batch


# ------------------------------------------------------------------ state initializers


def _zeros_like(params, keys: str, dtype=F32) -> dict:
    return {(f"d{k}" if keys == "grads" else k): np.zeros(v.shape, dtype) for k, v in params.items()}


def _init_case(params, label: str, pair: bool, hint_keys: str, hint_dtype: str | None = None) -> Case:
    one = _zeros_like(params, "grads")
    wrong_keys = _zeros_like(params, "params")
    mistakes = [(HINTS[hint_keys], (wrong_keys, wrong_keys) if pair else wrong_keys)]
    if hint_dtype:
        wrong64 = _zeros_like(params, "grads", np.float64)
        mistakes.append((HINTS[hint_dtype], wrong64))
    return Case(args=(params,), expected=(one, one) if pair else one, label=label, mistakes=tuple(mistakes))


def _init_parts(pair: bool, hint_keys: str, hint_dtype: str | None = None):
    def visible():
        params, dims = _net(_rng(3), [3, 2, 3, 1])
        return [_init_case(params, _dims_label(dims), pair, hint_keys, hint_dtype)]

    def hidden(seed: int):
        r = _rng(seed)
        out = []
        for hidden_dims in HIDDEN_DIMS:
            params, dims = _net(r, hidden_dims)
            out.append(_init_case(params, _dims_label(dims), pair, hint_keys, hint_dtype))
        return out

    return visible, hidden


velocity_visible, velocity_hidden = _init_parts(False, "velocity_parameter_keys")
rmsprop_init_visible, rmsprop_init_hidden = _init_parts(False, "velocity_parameter_keys", "rmsprop_float64_numpy_state")
adam_init_visible, adam_init_hidden = _init_parts(True, "adam_init_parameter_keys")


# ------------------------------------------------------------------ momentum and RMSProp


def _ema_cases(kind: str, params, grads_seq, beta: float, lr: float, eps: float, label: str,
               jit_at: int | None = None) -> list[Case]:
    """One case per step of a jaxdl momentum/rmsprop trajectory."""
    if kind == "momentum":
        factory, hyper, field = "momentum", {"learning_rate": lr, "beta": beta}, "v"
    else:
        factory, hyper, field = "rmsprop", {"learning_rate": lr, "beta": beta, "eps": eps}, "s"
    cases = []
    for t, p, g, state, new_p, new_state in _trajectory(factory, hyper, params, grads_seq):
        p_np, old = as_numpy(p), as_numpy(getattr(state, field))
        expected = (as_numpy(new_p), to_grad_keys(as_numpy(getattr(new_state, field))))
        if kind == "momentum":
            v_wrong = {k: (F32(beta) * old[k] + g[k]).astype(F32) for k in old}
            wrong = ({k: (p_np[k] - F32(lr) * v_wrong[k]).astype(F32) for k in p_np}, to_grad_keys(v_wrong))
            mistakes = ((HINTS["momentum_without_one_minus_beta"], wrong),)
            args = (p_np, to_grad_keys(g), to_grad_keys(old), beta, lr)
            kwargs = {}
        else:
            s_new = {k: (F32(beta) * old[k] + F32(1 - beta) * g[k] ** 2).astype(F32) for k in old}
            by_s = {k: (p_np[k] - F32(lr) * g[k] / (s_new[k] + F32(eps))).astype(F32) for k in p_np}
            old_s = {k: (p_np[k] - F32(lr) * g[k] / (np.sqrt(old[k]) + F32(eps))).astype(F32) for k in p_np}
            mistakes = ((HINTS["rmsprop_divides_by_s"], (by_s, to_grad_keys(s_new))),
                        (HINTS["rmsprop_old_s"], (old_s, to_grad_keys(s_new))))
            args = (p_np, to_grad_keys(g), to_grad_keys(old))
            kwargs = {"beta": beta, "learning_rate": lr, "epsilon": eps}
        cases.append(Case(args=args, kwargs=kwargs, expected=expected, mistakes=mistakes,
                          rtol=1e-5, atol=1e-6, jit=(t == jit_at),
                          label=f"step t={t} of a {label} run (beta={beta:g}, learning_rate={lr:g})"))
    return cases


def _ema_parts(kind: str):
    def visible():
        r = _rng(4)
        params, dims = _net(r, [3, 2, 3, 1])
        grads = _grad_seq(r, params, 2)
        return _ema_cases(kind, params, grads, 0.9, 0.01, 1e-2, _dims_label(dims))

    def hidden(seed: int):
        r = _rng(seed)
        params, dims = _net(r, HIDDEN_DIMS[0])
        grads = _grad_seq(r, params, STEPS)
        beta = float(r.uniform(0.5, 0.95))
        return _ema_cases(kind, params, grads, beta, float(r.uniform(0.005, 0.1)), 1e-2,
                          _dims_label(dims), jit_at=STEPS)

    return visible, hidden


momentum_visible, momentum_hidden = _ema_parts("momentum")
rmsprop_visible, rmsprop_hidden = _ema_parts("rmsprop")


# ------------------------------------------------------------------ Adam


def _adam_cases(params, grads_seq, lr, b1, b2, eps, label, jit_at: int | None = None) -> list[Case]:
    hyper = {"learning_rate": lr, "beta1": b1, "beta2": b2, "eps": eps}
    cases = []
    for t, p, g, state, new_p, new_state in _trajectory("adam", hyper, params, grads_seq):
        p_np, v0, s0 = as_numpy(p), as_numpy(state.v), as_numpy(state.s)
        v1, s1 = as_numpy(new_state.v), as_numpy(new_state.s)
        vc = {k: (v1[k] / F32(1 - b1**t)).astype(F32) for k in v1}
        sc = {k: (s1[k] / F32(1 - b2**t)).astype(F32) for k in s1}
        expected = (as_numpy(new_p), to_grad_keys(v1), to_grad_keys(s1), to_grad_keys(vc), to_grad_keys(sc))

        def variant(vcw, scw, inside=False):
            step = {k: vcw[k] / (np.sqrt(scw[k] + F32(eps)) if inside else np.sqrt(scw[k]) + F32(eps)) for k in vcw}
            new = {k: (p_np[k] - F32(lr) * step[k]).astype(F32) for k in p_np}
            return (new, to_grad_keys(v1), to_grad_keys(s1), to_grad_keys(vcw), to_grad_keys(scw))

        with np.errstate(divide="ignore", invalid="ignore"):
            from_zero = variant({k: (v1[k] / F32(1 - b1 ** (t - 1))).astype(F32) for k in v1},
                                {k: (s1[k] / F32(1 - b2 ** (t - 1))).astype(F32) for k in s1})
        mistakes = ((HINTS["adam_without_bias_correction"], variant(v1, s1)),
                    (HINTS["adam_t_from_zero"], from_zero),
                    (HINTS["adam_epsilon_inside_sqrt"], variant(vc, sc, inside=True)))
        cases.append(Case(args=(p_np, to_grad_keys(g), to_grad_keys(v0), to_grad_keys(s0), t),
                          kwargs={"learning_rate": lr, "beta1": b1, "beta2": b2, "epsilon": eps},
                          # 1 - beta2**t cancels: float32 and float64 ways differ by ~1e-5 relative.
                          expected=expected, mistakes=mistakes, rtol=1e-4, atol=1e-6, jit=(t == jit_at),
                          label=f"step t={t} of an Adam run (learning_rate={lr:g}, beta1={b1:g}, "
                                f"beta2={b2:g}, epsilon={eps:g})"))
    return cases


def adam_visible():
    r = _rng(5)
    params, dims = _net(r, [3, 2, 3, 1])
    # Small gradients make epsilon matter, as in the course's t=2, epsilon=1e-2 test.
    return _adam_cases(params, _grad_seq(r, params, 2, scale=0.05), 0.01, 0.9, 0.999, 1e-2, _dims_label(dims))


def adam_hidden(seed: int):
    r = _rng(seed)
    params, dims = _net(r, HIDDEN_DIMS[0])
    cases = _adam_cases(params, _grad_seq(r, params, STEPS, scale=0.05), float(r.uniform(0.001, 0.05)),
                        float(r.uniform(0.8, 0.95)), float(r.uniform(0.99, 0.9999)), 1e-2,
                        _dims_label(dims), jit_at=STEPS)
    params2, dims2 = _net(r, HIDDEN_DIMS[1])
    cases += _adam_cases(params2, _grad_seq(r, params2, 3), 0.01, 0.9, 0.999, 1e-8, _dims_label(dims2))
    return cases


# ------------------------------------------------------------------ learning-rate decay


def _lr_case(kind: str, lr0: float, epoch: int, rate: float, interval: int = 1000) -> Case:
    import jaxdl

    if kind == "update_lr":
        sched = jaxdl.schedules.inverse_time_decay(lr0, rate)
        wrong = lr0 * (1 + rate * epoch)
        args, hint = (lr0, epoch, rate), HINTS["update_lr_multiplies"]
        label = f"update_lr({lr0:g}, {epoch}, {rate:g})"
    else:
        sched = jaxdl.schedules.inverse_time_decay(lr0, rate, decay_steps=interval, staircase=True)
        wrong = lr0 / (1 + rate * epoch / interval)
        args, hint = (lr0, epoch, rate, interval), HINTS["schedule_without_floor"]
        label = f"schedule_lr_decay({lr0:g}, {epoch}, {rate:g}, time_interval={interval})"
    return Case(args=args, expected=lambda: float(sched(epoch)), mistakes=((hint, float(wrong)),),
                rtol=1e-6, atol=1e-9, check_dtype=False, label=label)


def update_lr_visible():
    return [_lr_case("update_lr", 0.5, 2, 1.0)]


def update_lr_hidden(seed: int):
    r = _rng(seed)
    return [_lr_case("update_lr", float(r.uniform(0.01, 1)), int(r.integers(1, 5000)), float(r.uniform(0.1, 2)))
            for _ in range(3)]


def schedule_visible():
    return [_lr_case("schedule", 0.5, 100, 1.0, 100), _lr_case("schedule", 0.5, 10, 0.3, 100)]


def schedule_hidden(seed: int):
    r = _rng(seed)
    out = []
    for _ in range(3):
        interval = int(r.integers(10, 2000))
        epoch = int(r.integers(1, 10)) * interval + int(r.integers(1, interval))  # mid-interval
        out.append(_lr_case("schedule", float(r.uniform(0.01, 1)), epoch, float(r.uniform(0.1, 2)), interval))
    return out


ASSIGNMENT = Assignment(
    id="week2/optimization",
    title="Optimization methods: mini-batches, momentum, RMSProp, Adam, learning-rate decay",
    parts=(
        Part("update_parameters_with_gd", 10, "one gradient-descent step", gd_visible, gd_hidden),
        Part("random_mini_batches", 10, "shuffle with the key, full batches, a smaller last batch",
             minibatch_visible, minibatch_hidden),
        Part("initialize_velocity", 10, "zero velocity keyed dW1, db1, ...", velocity_visible, velocity_hidden),
        Part("update_parameters_with_momentum", 10, "v = beta v + (1 - beta) dW; W -= lr v",
             momentum_visible, momentum_hidden),
        Part("initialize_rmsprop", 10, "zero state keyed dW1, db1, ...", rmsprop_init_visible, rmsprop_init_hidden),
        Part("update_parameters_with_rmsprop", 10, "s = beta s + (1 - beta) dW^2; W -= lr dW / (sqrt(s) + eps)",
             rmsprop_visible, rmsprop_hidden),
        Part("initialize_adam", 10, "zero v and s keyed dW1, db1, ...", adam_init_visible, adam_init_hidden),
        Part("update_parameters_with_adam", 10, "bias-corrected Adam, t = 1..10", adam_visible, adam_hidden),
        Part("update_lr", 10, "lr0 / (1 + decay_rate * epoch_num)", update_lr_visible, update_lr_hidden),
        Part("schedule_lr_decay", 10, "lr0 / (1 + decay_rate * floor(epoch_num / time_interval))",
             schedule_visible, schedule_hidden),
    ),
    forbidden_imports=("optax", "flax", "jaxdl.optim", "jaxdl.schedules"),
    allowed_imports="`jax` (with `jax.numpy`), `numpy`, `math`",
)

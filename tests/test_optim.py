"""Tests for ``jaxdl.optim``.

References: optax itself (bit for bit where the arithmetic is the same) and a float64 NumPy
transcription of the course's update formulas. optax's ``adam`` does not trace under the
strict dtype promotion that conftest turns on (``0.9 ** int32_count``), so optax references
are traced under ``jax.numpy_dtype_promotion("standard")``; jaxdl is always traced strict.
"""

from __future__ import annotations

import doctest
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import optim, schedules

N_STEPS = 1000
SHAPES = {"W1": (3, 4), "b1": (4,), "W2": (4, 2), "b2": (2,)}
LR = 1e-2


def _tree(key: jax.Array, scale: float = 1.0) -> dict[str, jax.Array]:
    keys = jax.random.split(key, len(SHAPES))
    return {
        name: scale * jax.random.normal(k, shape, jnp.float32)
        for k, (name, shape) in zip(keys, sorted(SHAPES.items()))
    }


PARAMS0 = _tree(jax.random.key(0))
TARGET = _tree(jax.random.key(1))
NOISE_KEY = jax.random.key(2)


def _grads(params: Any, i: jax.Array) -> Any:
    """Gradient of a quadratic bowl plus per-step noise: different at every step."""

    def loss(p: Any) -> jax.Array:
        return sum(0.5 * jnp.sum((p[k] - TARGET[k]) ** 2) for k in sorted(p))

    g = jax.grad(loss)(params)
    noise = _tree(jax.random.fold_in(NOISE_KEY, i), scale=0.3)
    return jax.tree.map(jnp.add, g, noise)


def _make_runner(opt: optax.GradientTransformation, apply: Callable[[Any, Any], Any]) -> Callable:
    """One jitted ``lax.scan`` of N_STEPS updates; both libraries are run through this."""

    @jax.jit
    def run(params: Any) -> tuple[Any, Any]:
        def body(carry: Any, i: jax.Array) -> tuple[Any, None]:
            p, s = carry
            u, s = opt.update(_grads(p, i), s, p)
            return (apply(p, u), s), None

        (p, s), _ = jax.lax.scan(body, (params, opt.init(params)), jnp.arange(N_STEPS))
        return p, s

    return run


def _run_jaxdl(opt: optax.GradientTransformation) -> tuple[Any, Any]:
    return _make_runner(opt, optim.apply_updates)(PARAMS0)


def _run_optax(opt: optax.GradientTransformation) -> tuple[Any, Any]:
    with jax.numpy_dtype_promotion("standard"):
        return _make_runner(opt, optax.apply_updates)(PARAMS0)


def _assert_tree_equal(a: Any, b: Any) -> None:
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _assert_tree_close(a: Any, b: Any, rtol: float, atol: float = 0.0) -> None:
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert x.dtype == y.dtype
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


# --------------------------------------------------------------------------- optax parity

# Each case: (jaxdl optimizer, equivalent optax optimizer, bit-identical?), built from a
# learning rate. "sched" uses a jaxdl schedule for jaxdl and optax's own schedule for optax.
CASES = {
    "sgd": (lambda lr: optim.sgd(lr), lambda lr: optax.sgd(lr), True),
    "momentum": (
        lambda lr: optim.momentum(lr, beta=0.8),
        lambda lr: optax.chain(optax.ema(0.8, debias=False), optax.scale_by_learning_rate(lr)),
        True,
    ),
    "rmsprop": (
        lambda lr: optim.rmsprop(lr, beta=0.95, eps=1e-6),
        lambda lr: optax.rmsprop(lr, decay=0.95, eps=1e-6, eps_in_sqrt=False),
        False,
    ),
    "adam": (
        lambda lr: optim.adam(lr, beta1=0.85, beta2=0.99, eps=1e-7),
        lambda lr: optax.adam(lr, b1=0.85, b2=0.99, eps=1e-7),
        True,
    ),
}
LRS = {
    "const": (LR, LR),
    "sched": (
        schedules.exponential_decay(5 * LR, decay_rate=0.5, decay_steps=300),
        optax.exponential_decay(5 * LR, transition_steps=300, decay_rate=0.5),
    ),
}


@functools.lru_cache(maxsize=None)
def _parity_run(library: str, name: str, lr_kind: str) -> tuple[Any, Any]:
    """Runs shared between tests (each one is a 1000-step compile), computed once per module."""
    ours_fn, ref_fn, _ = CASES[name]
    our_lr, ref_lr = LRS[lr_kind]
    return _run_jaxdl(ours_fn(our_lr)) if library == "jaxdl" else _run_optax(ref_fn(ref_lr))


@pytest.mark.parametrize("lr_kind", sorted(LRS))
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_optax_1000_steps(name: str, lr_kind: str) -> None:
    exact = CASES[name][2]
    p_ours, s_ours = _parity_run("jaxdl", name, lr_kind)
    p_ref, _ = _parity_run("optax", name, lr_kind)
    # The run went somewhere: parameters moved well away from the start.
    moved = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(p_ours), jax.tree.leaves(PARAMS0)))
    assert moved > 0.1
    assert int(s_ours.count) == N_STEPS
    if exact:
        _assert_tree_equal(p_ours, p_ref)
    else:
        _assert_tree_close(p_ours, p_ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("lr_kind", sorted(LRS))
def test_adam_state_matches_optax_moments(lr_kind: str) -> None:
    """Course names v/s are optax's mu/nu, same numbers after 1000 steps."""
    _, s_ours = _parity_run("jaxdl", "adam", lr_kind)
    _, s_ref = _parity_run("optax", "adam", lr_kind)
    adam_ref = s_ref[0]
    assert s_ours.count.dtype == adam_ref.count.dtype == jnp.int32
    assert int(s_ours.count) == int(adam_ref.count) == N_STEPS
    _assert_tree_equal(s_ours.v, adam_ref.mu)
    _assert_tree_equal(s_ours.s, adam_ref.nu)


def test_chain_with_clip_matches_optax_chain() -> None:
    ours = optax.chain(optax.clip_by_global_norm(1.0), CASES["adam"][0](LR))
    ref = optax.chain(optax.clip_by_global_norm(1.0), CASES["adam"][1](LR))
    p_ours, s_ours = _run_jaxdl(ours)
    p_ref, _ = _run_optax(ref)
    _assert_tree_equal(p_ours, p_ref)
    assert isinstance(s_ours[1], optim.AdamState)
    # Clipping was active (the first gradients have global norm > 1), so the chain mattered:
    # plain adam ends somewhere else.
    assert float(optax.tree.norm(_grads(PARAMS0, jnp.int32(0)))) > 1.0
    p_plain, _ = _parity_run("jaxdl", "adam", "const")
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(p_plain), jax.tree.leaves(p_ours)))


# --------------------------------------------------------------------------- course formulas (NumPy)

N_NP = 6
BETA, BETA1, BETA2, EPS = 0.9, 0.9, 0.999, 1e-4


def _np_grads() -> list[dict[str, np.ndarray]]:
    """Small gradients (~1e-3) so the placement of eps (1e-4) changes the answer."""
    rng = np.random.default_rng(0)
    return [{k: 1e-3 * rng.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()} for _ in range(N_NP)]


def _np_reference(name: str, lr: float) -> list[dict[str, np.ndarray]]:
    """The course's update rules in float64, t starting at 1; returns each step's update."""
    v = {k: np.zeros(sh) for k, sh in SHAPES.items()}
    s = {k: np.zeros(sh) for k, sh in SHAPES.items()}
    steps = []
    for t, grads in enumerate(_np_grads(), start=1):
        step = {}
        for k in SHAPES:
            g = grads[k].astype(np.float64)
            if name == "sgd":
                step[k] = -lr * g
            elif name == "momentum":
                v[k] = BETA * v[k] + (1 - BETA) * g
                step[k] = -lr * v[k]
            elif name == "rmsprop":
                s[k] = BETA * s[k] + (1 - BETA) * g**2
                step[k] = -lr * g / (np.sqrt(s[k]) + EPS)
            elif name == "adam":
                v[k] = BETA1 * v[k] + (1 - BETA1) * g
                s[k] = BETA2 * s[k] + (1 - BETA2) * g**2
                v_corrected = v[k] / (1 - BETA1**t)
                s_corrected = s[k] / (1 - BETA2**t)
                step[k] = -lr * v_corrected / (np.sqrt(s_corrected) + EPS)
        steps.append(step)
    return steps


NP_OPTS = {
    "sgd": lambda lr: optim.sgd(lr),
    "momentum": lambda lr: optim.momentum(lr, beta=BETA),
    "rmsprop": lambda lr: optim.rmsprop(lr, beta=BETA, eps=EPS),
    "adam": lambda lr: optim.adam(lr, beta1=BETA1, beta2=BETA2, eps=EPS),
}


@pytest.mark.parametrize("name", sorted(NP_OPTS))
def test_matches_numpy_course_formulas(name: str) -> None:
    lr = 0.1 if name in ("sgd", "momentum") else 0.01
    opt = NP_OPTS[name](lr)
    params = PARAMS0
    state = opt.init(params)
    expected = _np_reference(name, lr)
    want_params = {k: np.asarray(p, np.float64) for k, p in PARAMS0.items()}
    for grads, want in zip(_np_grads(), expected):
        updates, state = opt.update({k: jnp.asarray(g) for k, g in grads.items()}, state, params)
        params = optim.apply_updates(params, updates)
        for k in SHAPES:
            assert updates[k].dtype == params[k].dtype == jnp.float32
            # float32 vs float64: a few ulps, plus (adam) float32 rounding of 1 - beta**t;
            # atol covers entries where the moving average cancels to near zero.
            scale = float(np.max(np.abs(want[k])))
            np.testing.assert_allclose(np.asarray(updates[k]), want[k], rtol=2e-5, atol=1e-5 * scale)
            want_params[k] = want_params[k] + want[k]
    for k in SHAPES:
        np.testing.assert_allclose(np.asarray(params[k]), want_params[k], rtol=1e-6, atol=1e-7)


def test_numpy_reference_is_sensitive_to_eps_placement() -> None:
    """Guard for the test above: eps inside the sqrt gives a visibly different update."""
    lr = 0.01
    inside = optax.rmsprop(lr, decay=BETA, eps=EPS, eps_in_sqrt=True)
    state = inside.init(PARAMS0)
    grads = _np_grads()[0]
    updates, _ = inside.update({k: jnp.asarray(g) for k, g in grads.items()}, state)
    want = _np_reference("rmsprop", lr)[0]
    rel = max(float(np.max(np.abs(np.asarray(updates[k]) / want[k] - 1))) for k in SHAPES)
    assert rel > 1e-2


def test_schedule_is_called_with_count_before_increment() -> None:
    calls = schedules.inverse_time_decay(1.0, decay_rate=1.0)  # 1, 1/2, 1/3, ...
    opt = optim.sgd(calls)
    g = {"w": jnp.ones((2,), jnp.float32)}
    state = opt.init(g)
    seen = []
    for _ in range(3):
        u, state = opt.update(g, state)
        seen.append(float(u["w"][0]))
    np.testing.assert_allclose(seen, [-1.0, -1 / 2, -1 / 3], rtol=1e-7)


@pytest.mark.parametrize("name", sorted(NP_OPTS))
def test_first_adaptive_steps_are_exact(name: str) -> None:
    """Hand-checkable first step with g = 2 for every element."""
    opt = NP_OPTS[name](0.5)
    params = {"w": jnp.zeros((3,), jnp.float32)}
    u, state = opt.update({"w": jnp.full((3,), 2.0, jnp.float32)}, opt.init(params), params)
    want = {
        "sgd": -0.5 * 2.0,
        "momentum": -0.5 * (1 - BETA) * 2.0,
        "rmsprop": -0.5 * 2.0 / (np.sqrt((1 - BETA) * 4.0) + EPS),
        "adam": -0.5 * 2.0 / (2.0 + EPS),
    }[name]
    # float32: 1 - 0.999 rounds to 0.00100005, so adam's bias correction is ~5e-6 off exact.
    np.testing.assert_allclose(np.asarray(u["w"]), np.full(3, want), rtol=1e-5)
    assert int(state.count) == 1 and state.count.dtype == jnp.int32


# --------------------------------------------------------------------------- jit behaviour


@pytest.mark.parametrize("name", sorted(NP_OPTS))
@pytest.mark.parametrize("lr_kind", ["const", "sched"])
def test_no_retrace_on_second_call(name: str, lr_kind: str) -> None:
    lr = LR if lr_kind == "const" else schedules.inverse_time_decay(LR, 0.1)
    opt = NP_OPTS[name](lr)
    traces = []

    @jax.jit
    def step(params: Any, state: Any, grads: Any) -> tuple[Any, Any]:
        traces.append(1)  # runs only while tracing
        updates, state = opt.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    params = PARAMS0
    state = opt.init(params)
    for i in range(3):
        params, state = step(params, state, _tree(jax.random.key(10 + i)))
    assert len(traces) == 1
    assert step._cache_size() == 1
    assert int(state.count) == 3
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(PARAMS0)):
        assert a.dtype == b.dtype and a.shape == b.shape


def test_traced_learning_rate_is_accepted() -> None:
    """A traced lr (e.g. a hyperparameter swept under vmap) is not checkable, and must pass."""
    g = {"w": jnp.ones((2,), jnp.float32)}

    def first_update(lr: jax.Array) -> jax.Array:
        opt = optim.adam(lr)
        return opt.update(g, opt.init(g))[0]["w"]

    out = jax.vmap(first_update)(jnp.array([0.1, 0.2], jnp.float32))
    np.testing.assert_allclose(np.asarray(out[:, 0]), [-0.1, -0.2], rtol=1e-5)
    with jax.numpy_dtype_promotion("standard"):
        ref = jax.vmap(lambda lr: optax.adam(lr).update(g, optax.adam(lr).init(g))[0]["w"])(
            jnp.array([0.1, 0.2], jnp.float32)
        )
    np.testing.assert_array_equal(np.asarray(out), np.asarray(ref))


# --------------------------------------------------------------------------- apply_updates


def test_optimizers_compare_equal_by_factory_and_hyperparameters() -> None:
    assert optim.adam(1e-3) == optim.adam(1e-3) and hash(optim.adam(1e-3)) == hash(optim.adam(1e-3))
    assert optim.adam(1e-3) != optim.adam(2e-3)
    assert optim.adam(1e-3) != optim.adam(1e-3, beta1=0.8)
    assert optim.sgd(0.1) != optim.momentum(0.1)
    assert optim.rmsprop(0.1) == optim.rmsprop(0.1) != optim.rmsprop(0.1, eps=1e-6)
    assert optim.sgd(1) != optim.sgd(1.0)  # int and float hyperparameters trace differently
    sched = schedules.exponential_decay(0.1, 0.5, 10)
    assert optim.adam(sched) == optim.adam(sched)  # the same schedule object
    assert optim.adam(sched) != optim.adam(schedules.exponential_decay(0.1, 0.5, 10))
    arr = optim.adam(jnp.float32(1e-3))  # an array hyperparameter: equal only to itself
    assert arr == arr and arr != optim.adam(jnp.float32(1e-3)) and arr != optim.adam(1e-3)
    assert optim.adam(1e-3) != optax.adam(1e-3)
    assert isinstance(optim.adam(1e-3), optax.GradientTransformation)
    assert len({optim.adam(1e-3), optim.adam(1e-3), optim.sgd(1e-3)}) == 2


def test_apply_updates_pure_and_keeps_dtype() -> None:
    params = {"a": jnp.array([1.0, 2.0], jnp.bfloat16), "b": jnp.array([1.0], jnp.float32)}
    updates = {"a": jnp.array([0.25, -0.5], jnp.float32), "b": jnp.array([0.5], jnp.float32)}
    new = optim.apply_updates(params, updates)
    assert new["a"].dtype == jnp.bfloat16 and new["b"].dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(new["a"], np.float32), [1.25, 1.5])
    np.testing.assert_array_equal(np.asarray(params["a"], np.float32), [1.0, 2.0])  # unchanged
    with jax.numpy_dtype_promotion("standard"):
        ref = optax.apply_updates(params, updates)
    _assert_tree_equal(new, ref)


def test_apply_updates_mismatch() -> None:
    with pytest.raises(ValueError, match=r"params.*updates.*tree structure"):
        optim.apply_updates({"a": jnp.zeros(2)}, {"b": jnp.zeros(2)})
    with pytest.raises(ValueError, match=r"params\['a'\].*\(2,\).*\(3,\)"):
        optim.apply_updates({"a": jnp.zeros(2)}, {"a": jnp.zeros(3)})


# --------------------------------------------------------------------------- bad input

BUILDERS = {
    "sgd": optim.sgd,
    "momentum": optim.momentum,
    "rmsprop": optim.rmsprop,
    "adam": optim.adam,
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("bad", [-0.1, float("nan"), -np.float32(1.0)])
def test_bad_learning_rate_value(name: str, bad: float) -> None:
    with pytest.raises(ValueError, match=r"learning_rate must be in \[0, inf\), got"):
        BUILDERS[name](bad)


@pytest.mark.parametrize("name", sorted(BUILDERS))
@pytest.mark.parametrize("bad", ["0.1", None, True])
def test_bad_learning_rate_type(name: str, bad: Any) -> None:
    with pytest.raises(TypeError, match="learning_rate must be a number"):
        BUILDERS[name](bad)


@pytest.mark.parametrize(
    "build, arg",
    [
        (lambda b: optim.momentum(0.1, beta=b), "beta"),
        (lambda b: optim.rmsprop(0.1, beta=b), "beta"),
        (lambda b: optim.adam(0.1, beta1=b), "beta1"),
        (lambda b: optim.adam(0.1, beta2=b), "beta2"),
    ],
)
@pytest.mark.parametrize("bad", [-0.01, 1.0, 1.5, float("nan")])
def test_bad_beta(build: Callable, arg: str, bad: float) -> None:
    with pytest.raises(ValueError, match=rf"^{arg} must be in \[0, 1\), got {bad!r}"):
        build(bad)


@pytest.mark.parametrize("build", [lambda e: optim.rmsprop(0.1, eps=e), lambda e: optim.adam(0.1, eps=e)])
def test_bad_eps(build: Callable) -> None:
    with pytest.raises(ValueError, match=r"^eps must be in \[0, inf\), got -1e-08"):
        build(-1e-8)


def test_edge_hyperparameters_are_accepted() -> None:
    for opt in (optim.sgd(0.0), optim.momentum(0.1, beta=0.0), optim.rmsprop(0.1, eps=0.0), optim.adam(0.1, 0.0, 0.0, 0.0)):
        assert isinstance(opt, optax.GradientTransformation)


@pytest.mark.parametrize("name, field", [("momentum", "state.v"), ("rmsprop", "state.s"), ("adam", "state.v")])
def test_update_mismatched_tree(name: str, field: str) -> None:
    opt = NP_OPTS[name](0.1)
    state = opt.init(PARAMS0)
    missing = {k: v for k, v in PARAMS0.items() if k != "b2"}
    with pytest.raises(ValueError, match=rf"updates and {field} must have the same tree structure"):
        opt.update(missing, state)
    transposed = dict(PARAMS0, W1=jnp.zeros((4, 3), jnp.float32))
    with pytest.raises(ValueError, match=rf"updates\['W1'\] and {field}\['W1'\] .*got \(4, 3\) and \(3, 4\)"):
        jax.jit(opt.update)(transposed, state)  # shape checks happen at trace time


@pytest.mark.parametrize("name", sorted(NP_OPTS))
def test_update_mismatched_params(name: str) -> None:
    opt = NP_OPTS[name](0.1)
    state = opt.init(PARAMS0)
    bad_params = dict(PARAMS0, b1=jnp.zeros((5,), jnp.float32))
    with pytest.raises(ValueError, match=r"updates\['b1'\] and params\['b1'\] .*got \(4,\) and \(5,\)"):
        opt.update(PARAMS0, state, bad_params)


@pytest.mark.parametrize("name", sorted(NP_OPTS))
def test_update_wrong_state(name: str) -> None:
    opt = NP_OPTS[name](0.1)
    with pytest.raises(TypeError, match=r"state must be the \w+State returned by"):
        opt.update(PARAMS0, optax.adam(0.1).init(PARAMS0)[0], PARAMS0)


# --------------------------------------------------------------------------- docs


def test_docstring_examples_run() -> None:
    result = doctest.testmod(optim, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 20 and result.failed == 0

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


# --------------------------------------------------------------------------- extra keyword arguments


@pytest.mark.parametrize("name", sorted(CASES))
def test_update_accepts_and_ignores_extra_keyword_arguments_like_optax(name: str) -> None:
    """optax's optimizers are ``GradientTransformationExtraArgs``: ``update`` accepts keyword
    arguments meant for another transformation of a chain (``value`` for a line search) and
    ignores them; a fourth positional argument is a ``TypeError``. jaxdl's do the same."""
    ours, ref = CASES[name][0](LR), CASES[name][1](LR)
    assert isinstance(ref, optax.GradientTransformationExtraArgs)
    assert isinstance(ours, optax.GradientTransformationExtraArgs)
    grads = _grads(PARAMS0, jnp.int32(0))
    extra = {"value": jnp.float32(3.0), "grad": grads, "unexpected_extra_arg": 1}
    plain = ours.update(grads, ours.init(PARAMS0), PARAMS0)
    with_extra = ours.update(grads, ours.init(PARAMS0), PARAMS0, **extra)
    _assert_tree_equal(with_extra, plain)

    def jitted(opt: Any) -> Any:  # (bit for bit with optax is a property of the compiled programs)
        return jax.jit(lambda g, s, p, value: opt.update(g, s, p, value=value, grad=g))(
            grads, opt.init(PARAMS0), PARAMS0, jnp.float32(3.0))

    ours_jitted = jitted(ours)
    _assert_tree_equal(ours_jitted, jax.jit(ours.update)(grads, ours.init(PARAMS0), PARAMS0))
    with jax.numpy_dtype_promotion("standard"):
        ref_updates, _ = jitted(ref)
    if CASES[name][2]:
        _assert_tree_equal(ours_jitted[0], ref_updates)
    else:
        _assert_tree_close(ours_jitted[0], ref_updates, rtol=1e-6)
    for opt in (ours, ref):
        with pytest.raises(TypeError, match="positional argument"):
            opt.update(grads, opt.init(PARAMS0), PARAMS0, 3.0)


def test_chain_with_line_search_matches_optax() -> None:
    """optax's documented use of extra arguments: ``sgd`` chained with a backtracking line
    search that needs ``value``, ``grad`` and ``value_fn``; jaxdl's ``sgd`` in optax's place
    ends at the same parameters."""

    def loss(p: Any) -> jax.Array:
        return sum(jnp.sum((p[k] - TARGET[k]) ** 2) for k in sorted(p))

    def run(first: Any) -> Any:
        opt = optax.chain(first, optax.scale_by_backtracking_linesearch(max_backtracking_steps=15))

        @jax.jit
        def step(params: Any, state: Any) -> tuple[Any, Any]:
            value, grad = jax.value_and_grad(loss)(params)
            updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=loss)
            return optax.apply_updates(params, updates), state

        params, state = PARAMS0, opt.init(PARAMS0)
        with jax.numpy_dtype_promotion("standard"):  # the line search is optax's code
            for _ in range(3):
                params, state = step(params, state)
        return params

    ours, ref = run(optim.sgd(1.0)), run(optax.sgd(1.0))
    _assert_tree_equal(ours, ref)
    assert float(loss(ours)) < 0.1 * float(loss(PARAMS0))  # the line search did its work


# --------------------------------------------------------------------------- docs


def test_docstring_examples_run() -> None:
    result = doctest.testmod(optim, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 20 and result.failed == 0


# --------------------------------------------------------------------------- complex parameters

# optax convention (optax.tree.update_moment_per_elem_norm): the second moment of a complex
# gradient is |g|^2 = conj(g) * g, stored in the parameter's (complex) dtype.
COMPLEX_CASES = {
    "sgd": (lambda: optim.sgd(0.05), lambda: optax.sgd(0.05), True),
    "momentum": (
        lambda: optim.momentum(0.05, beta=0.8),
        lambda: optax.chain(optax.ema(0.8, debias=False), optax.scale_by_learning_rate(0.05)),
        True,
    ),
    "rmsprop": (
        lambda: optim.rmsprop(0.05, beta=0.9, eps=1e-6),
        lambda: optax.rmsprop(0.05, decay=0.9, eps=1e-6, eps_in_sqrt=False),
        False,
    ),
    "adam": (lambda: optim.adam(0.05, beta1=0.8, beta2=0.95), lambda: optax.adam(0.05, b1=0.8, b2=0.95), True),
}


def _complex_grads(n: int) -> list[dict[str, jax.Array]]:
    rng = np.random.default_rng(3)
    return [
        {k: jnp.asarray((rng.normal(size=s) + 1j * rng.normal(size=s)).astype(np.complex64)) for k, s in (("a", (2, 3)), ("b", (3,)))}
        for _ in range(n)
    ]


def _moments(state: Any) -> list[Any]:
    """The moment trees of a jaxdl or optax state, in (first, second) order."""
    if isinstance(state, tuple) and not hasattr(state, "_fields"):  # optax chain
        state = state[0]
    names = [("v", "mu", "ema"), ("s", "nu")]
    out = []
    for group in names:
        for f in group:
            if hasattr(state, f):
                out.append(getattr(state, f))
                break
    return out


def test_adam_complex_field_report() -> None:
    """Issue 15's row: params [0j], grad [1j], adam(0.1): update -0.1j, second moment +0.001."""
    opt = optim.adam(0.1)
    params = {"z": jnp.array([0j], jnp.complex64)}
    u, state = opt.update({"z": jnp.array([1j], jnp.complex64)}, opt.init(params), params)
    assert u["z"].dtype == jnp.complex64
    np.testing.assert_allclose(np.asarray(u["z"]), [-0.1j], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(state.s["z"]), [0.001], rtol=1e-6)
    assert float(np.asarray(state.s["z"]).real[0]) > 0
    with jax.numpy_dtype_promotion("standard"):
        ref = optax.adam(0.1)
        u_ref, s_ref = ref.update({"z": jnp.array([1j], jnp.complex64)}, ref.init(params), params)
    _assert_tree_equal(u, u_ref)
    _assert_tree_equal(state.s, s_ref[0].nu)


@pytest.mark.parametrize("name", sorted(COMPLEX_CASES))
def test_complex_params_match_optax(name: str) -> None:
    ours_fn, ref_fn, exact = COMPLEX_CASES[name]
    grads = _complex_grads(5)
    params = jax.tree.map(jnp.zeros_like, grads[0])

    def run(opt: Any, apply: Callable) -> tuple[list[Any], Any]:
        p, s, us = params, opt.init(params), []
        for g in grads:
            u, s = opt.update(g, s, p)
            p = apply(p, u)
            us.append(u)
        return us, s

    us, s = run(ours_fn(), optim.apply_updates)
    with jax.numpy_dtype_promotion("standard"):
        us_ref, s_ref = run(ref_fn(), optax.apply_updates)
    for u, u_ref in zip(us, us_ref):
        assert all(x.dtype == jnp.complex64 for x in jax.tree.leaves(u))
        assert any(float(jnp.max(jnp.abs(x.imag))) > 1e-3 for x in jax.tree.leaves(u))  # really complex
        if exact:
            _assert_tree_equal(u, u_ref)
        else:
            _assert_tree_close(u, u_ref, rtol=1e-6, atol=1e-7)
    for m, m_ref in zip(_moments(s), _moments(s_ref)):
        _assert_tree_equal(m, m_ref) if exact else _assert_tree_close(m, m_ref, rtol=1e-6)
    if name in ("rmsprop", "adam"):
        second = _moments(s)[-1]
        for x in jax.tree.leaves(second):  # |g|^2, never g^2: real and positive
            assert float(jnp.max(jnp.abs(x.imag))) == 0.0 and float(jnp.min(x.real)) > 0


def test_complex_second_moment_is_abs_squared_numpy() -> None:
    """Float64 NumPy: s = (1 - b) |g|^2 after one step, for a purely imaginary g (g^2 < 0)."""
    g = np.array([1j, 2 - 1j, -3j], np.complex64)
    for opt in (optim.rmsprop(0.1, beta=0.9), optim.adam(0.1, beta2=0.9)):
        _, state = opt.update({"z": jnp.asarray(g)}, opt.init({"z": jnp.zeros(3, jnp.complex64)}))
        s = state.s["z"]
        np.testing.assert_allclose(np.asarray(s), 0.1 * np.abs(g.astype(np.complex128)) ** 2, rtol=1e-6)


def test_complex_params_with_real_accumulator_raise() -> None:
    opt = optim.adam(0.1, accumulator_dtype=jnp.float32)
    with pytest.raises(ValueError, match=r"accumulator_dtype float32 would drop the imaginary part of params\['z'\]"):
        opt.init({"z": jnp.zeros(2, jnp.complex64)})


# --------------------------------------------------------------------------- low precision


LOW = [jnp.float16, jnp.bfloat16]


@pytest.mark.parametrize("dtype", LOW, ids=["float16", "bfloat16"])
@pytest.mark.parametrize("name", sorted(NP_OPTS))
def test_zero_gradient_low_precision_gives_zero_update(name: str, dtype: Any) -> None:
    """Issue 15: float16 + all-zero gradient + adam gave NaN (eps = 1e-8 is 0 in float16)."""
    opt = optim.adam(1e-3) if name == "adam" else optim.rmsprop(1e-3) if name == "rmsprop" else NP_OPTS[name](1e-3)
    params = {"w": jnp.ones((3,), dtype)}
    state = opt.init(params)
    for _ in range(2):
        u, state = opt.update({"w": jnp.zeros((3,), dtype)}, state, params)
        assert u["w"].dtype == dtype
        np.testing.assert_array_equal(np.asarray(u["w"], np.float32), np.zeros(3))
        params = optim.apply_updates(params, u)
    np.testing.assert_array_equal(np.asarray(params["w"], np.float32), np.ones(3))
    for m in _moments(state):
        assert m["w"].dtype == jnp.float32  # moments in float32 by default


def _adam_float64(grads: np.ndarray, lr: float, b1: float, b2: float, eps: float) -> tuple[float, float, float]:
    """The course's Adam in float64 on a scalar gradient sequence: (v, s, last update)."""
    v = s = 0.0
    u = 0.0
    for t, g in enumerate(grads, start=1):
        v = b1 * v + (1 - b1) * g
        s = b2 * s + (1 - b2) * g * g
        u = -lr * (v / (1 - b1**t)) / (np.sqrt(s / (1 - b2**t)) + eps)
    return v, s, u


def _scan_updates(opt: Any, params: Any, grads: jax.Array) -> tuple[Any, Any]:
    @jax.jit
    def run(params: Any, grads: jax.Array) -> tuple[Any, Any]:
        def body(carry: Any, g: jax.Array) -> tuple[Any, None]:
            p, s = carry
            u, s = opt.update({"w": jnp.full((2,), g)}, s, p)
            return (p, s), u

        (_, s), us = jax.lax.scan(body, (params, opt.init(params)), grads)
        return us, s

    return run(params, grads)


def test_bfloat16_second_moment_decays_like_float64() -> None:
    """Issue 15: one gradient of 10 then 2,000 of 0.01 in bfloat16. optax keeps s at 0.100
    (beta2 = 0.999 is 1.0 in bfloat16); the float64 reference gives s = 0.0136."""
    grads = jnp.asarray(np.r_[10.0, np.full(2000, 0.01)], jnp.bfloat16)
    params = {"w": jnp.zeros((2,), jnp.bfloat16)}
    us, state = _scan_updates(optim.adam(1e-3), params, grads)
    g64 = np.asarray(grads, np.float64)  # the bfloat16 values the optimizer saw
    v_ref, s_ref, u_ref = _adam_float64(g64, 1e-3, 0.9, 0.999, 1e-8)
    assert abs(s_ref - 0.0136) < 1e-4
    assert state.s["w"].dtype == state.v["w"].dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(state.s["w"]), s_ref, rtol=1e-4)
    np.testing.assert_allclose(np.asarray(state.v["w"]), v_ref, rtol=1e-4)
    assert us["w"].dtype == jnp.bfloat16
    # the last update equals the float64 one rounded to bfloat16 (8 significant bits)
    np.testing.assert_allclose(np.asarray(us["w"][-1], np.float64), u_ref, rtol=2**-8)
    # the field report: a 16-bit accumulator (the user's choice) stalls as optax does
    _, state16 = _scan_updates(optim.adam(1e-3, accumulator_dtype=jnp.bfloat16), params, grads)
    assert state16.s["w"].dtype == jnp.bfloat16
    assert float(state16.s["w"][0]) > 0.09
    with jax.numpy_dtype_promotion("standard"):
        _, s_optax = _scan_updates(optax.adam(1e-3), params, grads)
    assert float(s_optax[0].nu["w"][0]) > 0.09  # the fault we fix


def _course_float64(name: str, grads: list[np.ndarray], lr: float) -> list[np.ndarray]:
    v = np.zeros_like(grads[0])
    s = np.zeros_like(grads[0])
    out = []
    for t, g in enumerate(grads, start=1):
        if name == "sgd":
            u = -lr * g
        elif name == "momentum":
            v = BETA * v + (1 - BETA) * g
            u = -lr * v
        elif name == "rmsprop":
            s = BETA * s + (1 - BETA) * g**2
            u = -lr * g / (np.sqrt(s) + EPS)
        else:
            v = BETA1 * v + (1 - BETA1) * g
            s = BETA2 * s + (1 - BETA2) * g**2
            u = -lr * (v / (1 - BETA1**t)) / (np.sqrt(s / (1 - BETA2**t)) + EPS)
        out.append(u)
    return out


@pytest.mark.parametrize("dtype", LOW, ids=["float16", "bfloat16"])
@pytest.mark.parametrize("name", sorted(NP_OPTS))
def test_low_precision_updates_are_float64_rounded_once(name: str, dtype: Any) -> None:
    """Hyperparameters applied in float32: each update is the float64 one rounded to the
    parameter dtype (within one rounding), moments stay float32."""
    lr = 1e-3
    rng = np.random.default_rng(5)
    grads = [jnp.asarray(rng.normal(size=(4,)) * 10.0 ** rng.integers(-3, 1, size=4), dtype) for _ in range(5)]
    want = _course_float64(name, [np.asarray(g, np.float64) for g in grads], lr)
    opt = NP_OPTS[name](lr)
    params = {"w": jnp.zeros((4,), dtype)}
    state = opt.init(params)
    rel = 2.0 ** -(jnp.finfo(dtype).nmant)  # one ulp of the parameter dtype, relative ...
    tiny = float(jnp.finfo(dtype).smallest_subnormal)  # ... or one subnormal step (float16 below 6e-5)
    for g, w in zip(grads, want):
        u, state = opt.update({"w": g}, state, params)
        assert u["w"].dtype == dtype
        np.testing.assert_allclose(np.asarray(u["w"], np.float64), w, rtol=rel, atol=tiny)
    for m in _moments(state):
        assert m["w"].dtype == jnp.float32


@pytest.mark.parametrize("name", ["momentum", "rmsprop", "adam"])
def test_accumulator_dtype(name: str) -> None:
    build = {"momentum": optim.momentum, "rmsprop": optim.rmsprop, "adam": optim.adam}[name]
    params = {"w": jnp.ones((3,), jnp.bfloat16), "b": jnp.ones((2,), jnp.float32)}
    state = build(0.1, accumulator_dtype=jnp.bfloat16).init(params)
    assert all(m[k].dtype == jnp.bfloat16 for m in _moments(state) for k in params)
    default = build(0.1).init(params)
    assert all(m["w"].dtype == jnp.float32 and m["b"].dtype == jnp.float32 for m in _moments(default))
    # float32 params: an explicit float32 accumulator is the default, bit for bit
    g = {"w": jnp.full((3,), 0.3, jnp.float32)}
    p32 = {"w": jnp.ones((3,), jnp.float32)}
    a, b = build(0.1), build(0.1, accumulator_dtype="float32")
    _assert_tree_equal(a.update(g, a.init(p32), p32), b.update(g, b.init(p32), p32))
    assert b == build(0.1, accumulator_dtype=jnp.float32) != a
    with pytest.raises(TypeError, match="accumulator_dtype must be None or a floating-point dtype, got int32"):
        build(0.1, accumulator_dtype=jnp.int32)
    with pytest.raises(TypeError, match="accumulator_dtype must be None or a floating-point dtype"):
        build(0.1, accumulator_dtype="not a dtype")

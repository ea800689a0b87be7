"""optax's ``optax/_src/alias_test.py`` (optax 0.2.8, as installed), the cases that apply to jaxdl.

Ported from ``AliasTest``: ``test_optimization``, ``test_optimizers_accept_extra_args``,
``test_optimizers_can_be_wrapped_in_inject_hyperparams``, ``test_explicit_dtype``,
``test_preserve_dtype``, ``test_state_shape_dtype_shard_stability`` and
``test_gradient_accumulation``, over the optimizers of ``_OPTIMIZERS_UNDER_TEST`` that jaxdl has:

    optax case                                 jaxdl optimizer (same updates)
    adam(learning_rate=1e-1)                   optim.adam(1e-1)
    rmsprop(learning_rate=5e-3)                optim.rmsprop(5e-3)   (eps outside the root)
    sgd(learning_rate=1e-3, momentum=0.9)      optim.momentum(1e-2, beta=0.9): the course's
                                               v = 0.9 v + 0.1 g is optax's trace / 10

Differences by design, kept in the assertions: with float16/bfloat16 parameters jaxdl keeps
its moments in float32 unless ``accumulator_dtype`` says otherwise (optax keeps the
parameters' dtype), and a real ``accumulator_dtype`` for complex parameters raises (it would
drop the imaginary part). Not ported: the optimizers jaxdl does not offer (its plain ``sgd`` has no case in optax's list). ``test_optimization``'s 10,000 steps run
in one ``lax.fori_loop`` program instead of 10,000 calls of a jitted step (same steps, one
compilation); its no-recompile subtest is ``tests/test_optim.py::test_no_retrace_on_second_call``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import optim

OPTIMIZERS: dict[str, Callable[[], optax.GradientTransformation]] = {
    "adam": lambda: optim.adam(1e-1),
    "rmsprop": lambda: optim.rmsprop(5e-3),
    "sgd_momentum": lambda: optim.momentum(1e-2, beta=0.9),
}
FACTORIES = {  # for inject_hyperparams: the factory and its keyword arguments
    "adam": (optim.adam, {"learning_rate": 1e-1}),
    "rmsprop": (optim.rmsprop, {"learning_rate": 5e-3}),
    "sgd_momentum": (optim.momentum, {"learning_rate": 1e-2, "beta": 0.9}),
}


def abs_sq(x):
    """optax.numerics.abs_sq: |x|^2, real."""
    return (x.conj() * x).real


def setup_parabola(dtype):
    """alias_test._setup_parabola."""
    initial_params = jnp.array([-1.0, 10.0, 1.0], dtype=dtype)
    final_params = jnp.array([1.0, -1.0, 1.0], dtype=dtype)
    if jnp.iscomplexobj(final_params):
        final_params *= 1 + 1j

    def objective(params):
        return jnp.sum(abs_sq(params - final_params))

    return initial_params, final_params, objective


def setup_rosenbrock(dtype):
    """alias_test._setup_rosenbrock."""
    a, b = 1.0, 100.0
    if jnp.issubdtype(dtype, jnp.complexfloating):
        a *= 1 + 1j
    initial_params = jnp.array([0.0, 0.0], dtype=dtype)
    final_params = jnp.array([a, a**2], dtype=dtype)

    def objective(params):
        return abs_sq(a - params[0]) + b * abs_sq(params[1] - params[0] ** 2)

    return initial_params, final_params, objective


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.complex64], ids=["float32", "complex64"])
@pytest.mark.parametrize("target", [setup_parabola, setup_rosenbrock], ids=["parabola", "rosenbrock"])
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_optimization(opt_name, target, dtype):
    """AliasTest.test_optimization: 10,000 steps reach the minimum to 3e-2."""
    opt = OPTIMIZERS[opt_name]()
    initial_params, final_params, objective = target(dtype)

    def step(_, carry):
        params, state = carry
        updates = jax.grad(objective)(params)
        # Complex gradients need to be conjugated before being added to parameters (as optax's test)
        updates = jax.tree.map(lambda x: x.conj(), updates)
        updates, state = opt.update(updates, state, params)
        return optax.apply_updates(params, updates), state

    state = opt.init(initial_params)
    state = optax.tree.map_params(opt, lambda v: v, state)  # "Test that tree_map_params works"
    params, _ = jax.jit(lambda p, s: jax.lax.fori_loop(0, 10_000, step, (p, s)))(initial_params, state)
    np.testing.assert_allclose(np.asarray(params), np.asarray(final_params), rtol=3e-2, atol=3e-2)


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_optimizers_accept_extra_args(opt_name):
    """AliasTest.test_optimizers_accept_extra_args: ``update`` takes (and ignores) a keyword
    argument it does not expect, without ``optax.with_extra_args_support``; two jitted steps."""
    opt = OPTIMIZERS[opt_name]()
    # intentionally omit: opt = optax.with_extra_args_support(opt)
    initial_params, _, objective = setup_rosenbrock(jnp.float32)

    @jax.jit
    def step(params, state):
        _, updates = jax.value_and_grad(objective)(params)
        update_kwargs = {"unexpected_extra_args_your_optimizer_doesnt_expect": 1}
        updates, state = opt.update(updates, state, params, **update_kwargs)
        return optax.apply_updates(params, updates), state

    params = initial_params
    state = opt.init(params)
    for _ in range(2):  # "Test that update works with extra values"
        params, state = step(params, state)
    assert isinstance(opt, optax.GradientTransformationExtraArgs)
    assert bool(jnp.all(jnp.isfinite(params)))


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_optimizers_can_be_wrapped_in_inject_hyperparams(opt_name):
    """AliasTest.test_optimizers_can_be_wrapped_in_inject_hyperparams (optax issue #412)."""
    factory, kwargs = FACTORIES[opt_name]
    opt = factory(**kwargs)
    opt_inject = optax.inject_hyperparams(factory)(**kwargs)
    params = [jnp.negative(jnp.ones((2, 3))), jnp.ones((2, 5, 2))]
    grads = [jnp.ones((2, 3)), jnp.negative(jnp.ones((2, 5, 2)))]
    updates, new_state = jax.jit(opt.update)(grads, jax.jit(opt.init)(params), params)
    updates_inject, new_state_inject = jax.jit(opt_inject.update)(grads, jax.jit(opt_inject.init)(params), params)
    for a, b in zip(jax.tree.leaves(updates_inject), jax.tree.leaves(updates)):
        np.testing.assert_allclose(a, b, rtol=1e-3)
    assert jax.tree.structure(new_state_inject.inner_state) == jax.tree.structure(new_state)
    for a, b in zip(jax.tree.leaves(new_state_inject.inner_state), jax.tree.leaves(new_state)):
        np.testing.assert_allclose(a, b, rtol=1e-4)


DTYPE_NAMES = ("bfloat16", "float32", "complex64", None)


@pytest.mark.parametrize("opt_name", ["sgd_mom", "adam"])
@pytest.mark.parametrize("state_dtype", DTYPE_NAMES)
@pytest.mark.parametrize("params_dtype", DTYPE_NAMES)
def test_explicit_dtype(params_dtype, state_dtype, opt_name):
    """AliasTest.test_explicit_dtype: the moment's dtype is the one asked for (``accumulator_dtype``,
    optax's ``accumulator_dtype``/``mu_dtype``); by default the parameters' (float32 for bfloat16,
    jaxdl's rule). A real accumulator for complex parameters raises here (optax drops the
    imaginary part)."""
    build = {"sgd_mom": optim.momentum, "adam": optim.adam}[opt_name]
    attribute = "v"  # the first moment (optax: trace for sgd, mu for adam)
    params_dtype = jax.dtypes.canonicalize_dtype(params_dtype)
    params = jnp.array([0.0, 0.0], dtype=params_dtype)
    opt = build(0.1, accumulator_dtype=state_dtype)
    if (state_dtype is not None and jnp.issubdtype(params_dtype, jnp.complexfloating)
            and not jnp.issubdtype(state_dtype, jnp.complexfloating)):
        with pytest.raises(ValueError, match="would drop the imaginary part"):
            opt.init(params)
        return
    state = opt.init(params)
    if state_dtype is not None:
        expected = jnp.dtype(state_dtype)
    else:
        expected = jnp.dtype(jnp.float32) if params_dtype == jnp.bfloat16 else params_dtype
    assert getattr(state, attribute).dtype == expected


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_preserve_dtype(opt_name, dtype):
    """AliasTest.test_preserve_dtype: updates have the gradients' dtype."""
    dtype = jnp.dtype(dtype)
    opt = OPTIMIZERS[opt_name]()
    params = jnp.array([1.0, 2.0], dtype=dtype)
    grads = jax.grad(lambda x: jnp.sum(x**2))(params)
    state = jax.jit(opt.init)(params)
    updates, _ = jax.jit(opt.update)(grads, state, params)
    assert updates.dtype == grads.dtype


@pytest.mark.parametrize(
    "dtype", [jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64, jnp.complex64, jnp.complex128],
    ids=["float16", "bfloat16", "float32", "float64", "complex64", "complex128"],
)
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_state_shape_dtype_shard_stability(opt_name, dtype):
    """AliasTest.test_state_shape_dtype_shard_stability: a ``lax.cond`` between updating and not
    type-checks only if the state and the parameters keep their dtypes (and shapes) across
    ``update``; two steps, in x64 for the 64-bit dtypes."""
    with jax.enable_x64(dtype in (jnp.float64, jnp.complex128)):
        opt = OPTIMIZERS[opt_name]()
        initial_params, _, objective = setup_parabola(dtype)

        @jax.jit
        def step(params, state):
            updates = jax.grad(objective)(params)
            updates = jax.tree.map(lambda x: x.conj(), updates)
            # defeat compiler optimization, use lax.cond to check for stability
            cond = jax.random.randint(jax.random.key(0), (), 0, 2) == 0
            updates, state = jax.lax.cond(cond, lambda: opt.update(updates, state, params),
                                          lambda: (params, state))
            return optax.apply_updates(params, updates), state

        params, state = initial_params, opt.init(initial_params)
        for _ in range(2):
            params, new_state = step(params, state)
            assert jax.tree.leaves(params)[0].dtype == dtype
            cond = jax.random.randint(jax.random.key(0), (), 0, 2) == 0
            state = jax.lax.cond(cond, lambda s=state: s, lambda n=new_state: n)


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_gradient_accumulation(opt_name, dtype):
    """AliasTest.test_gradient_accumulation: usable inside ``optax.MultiSteps`` (optax issue #377);
    the first of 4 accumulated steps updates nothing, in the gradients' dtype."""
    dtype = jnp.dtype(dtype)
    opt = optax.MultiSteps(OPTIMIZERS[opt_name](), every_k_schedule=4)
    params = jnp.array([1.0, 2.0], dtype=dtype)
    grads = jax.grad(lambda x: jnp.sum(x**2))(params)
    with jax.numpy_dtype_promotion("standard"):  # MultiSteps itself mixes int32 and float32
        state = jax.jit(opt.init)(params)
        updates, _ = jax.jit(opt.update)(grads, state, params)
    assert updates.dtype == grads.dtype
    np.testing.assert_array_equal(np.asarray(updates, np.float32), np.zeros(2, np.float32))

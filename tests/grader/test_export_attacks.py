"""Red-team round on exported jit and vjp cases (test_jit_export.py, test_vjp_export.py): the
student's process only exports a program; the executor checks and runs it on hidden inputs.

Each attack below is a function of one submission file; one grading run serves every test: the
self-test's ``relu`` part (its jit case only) and ``sigmoid`` part (its vjp case only), graded
once per function. Crafted programs are made in the student's own process by a patched
``jax.export.export`` that replaces, for the functions named in ``_CRAFT``, the module (or the
metadata) of the honest export with hand-written StableHLO before it is serialized.
"""

from __future__ import annotations

import dataclasses

import pytest

from grader import engine

from .conftest import LIMITS, SEED, SOLUTION, by_function

ATTACKS = '''

import dataclasses as _dc

import numpy as _np
from jax._src.interpreters import mlir as _mlir
from jax._src.lib.mlir import ir as _ir


def _tensor(aval):
    return "tensor<" + "".join(f"{d}x" for d in aval.shape) + str(aval.dtype).replace("float", "f") + ">"


def _module(exp, body):
    t = _tensor(exp.in_avals[0])
    text = ("module @jit_f attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {\\n"
            f"  func.func public @main(%arg0: {t}) -> ({t}) {{\\n"
            + body.replace("T", t) + "\\n  }\\n}")
    with _mlir.make_ir_context():
        return _dc.replace(exp, mlir_module_serialized=_mlir.module_to_bytecode(_ir.Module.parse(text)))


_INFEED = """    %tok = stablehlo.create_token : !stablehlo.token
    %0:2 = "stablehlo.infeed"(%tok) {infeed_config = ""} : (!stablehlo.token) -> (T, !stablehlo.token)
    return %0#0 : T"""
_RECV = """    %tok = stablehlo.create_token : !stablehlo.token
    %0:2 = "stablehlo.recv"(%tok) {channel_handle = #stablehlo.channel_handle<handle = 1, type = 3>, is_host_transfer = true} : (!stablehlo.token) -> (T, !stablehlo.token)
    return %0#0 : T"""
_LEAK = """    %c = stablehlo.constant dense<false> : tensor<i1>
    %s = stablehlo.slice %arg0 [0:1, 0:1, 0:1] : (T) -> tensor<1x1x1xf32>
    %r = stablehlo.reshape %s : (tensor<1x1x1xf32>) -> tensor<f32>
    %k = stablehlo.constant dense<1.0e6> : tensor<f32>
    %m = stablehlo.multiply %r, %k : tensor<f32>
    %v = stablehlo.convert %m : (tensor<f32>) -> tensor<i32>
    stablehlo.custom_call @shape_assertion(%c, %v) {api_version = 2 : i32, error_message = "LEAKED {0}", has_side_effect = true} : (tensor<i1>, tensor<i32>) -> ()
    return %arg0 : T"""
# The Python-callback target (index 0: none is registered in the executor) under the MHLO
# spelling of a custom call, which jax.export's check (stablehlo.custom_call only) skips.
_MHLO = """    %0 = "mhlo.custom_call"(%arg0) {call_target_name = "xla_ffi_python_cpu_callback", backend_config = {index = 0 : ui64}, api_version = 4 : i32} : (T) -> T
    return %0 : T"""
# A custom call of jax.export's stable set (LU on CPU) whose declared results are far smaller
# than its operand: the LAPACK kernel writes past them (a SIGSEGV in a plain process).
_LAPACK = """    %a = stablehlo.constant dense<1.0> : tensor<512x512xf32>
    %0:3 = stablehlo.custom_call @lapack_sgetrf_ffi(%a) {mhlo.backend_config = {}, api_version = 4 : i32, has_side_effect = true, operand_layouts = [dense<[0, 1]> : tensor<2xindex>], result_layouts = [dense<[0, 1]> : tensor<2xindex>, dense<0> : tensor<1xindex>, dense<> : tensor<0xindex>]} : (tensor<512x512xf32>) -> (tensor<2x2xf32>, tensor<2xi32>, tensor<i32>)
    return %arg0 : T"""
# The Python-callback target, with the program claiming that check disabled.
_CALLBACK = """    %0 = stablehlo.custom_call @xla_ffi_python_cpu_callback(%arg0) {backend_config = {index = 0 : ui64}, api_version = 4 : i32} : (T) -> T
    return %0 : T"""


def _other_tree(exp):
    # The honest values under another output tree: a dict (the executor lists the outputs).
    return jax.export.export(jax.jit(lambda x: {"relu": jnp.maximum(x, 0)}))(
        *[jax.ShapeDtypeStruct(a.shape, a.dtype) for a in exp.in_avals])


_CRAFT = {
    "relu_infeed": lambda e: _module(e, _INFEED),
    "relu_recv": lambda e: _module(e, _RECV),
    "relu_assert_leak": lambda e: _module(e, _LEAK),
    "relu_mhlo_callback": lambda e: _module(e, _MHLO),
    "relu_lapack_overflow": lambda e: _module(e, _LAPACK),
    "relu_disabled_check": lambda e: _dc.replace(
        _module(e, _CALLBACK),
        disabled_safety_checks=(jax.export.DisabledSafetyCheck.custom_call("xla_ffi_python_cpu_callback"),)),
    "relu_two_devices": lambda e: _dc.replace(e, nr_devices=2),
    "relu_dict_tree": _other_tree,
}
_real_export = jax.export.export


def _crafting_export(fun, *a, **k):
    inner = _real_export(fun, *a, **k)
    student = getattr(getattr(fun, "__wrapped__", None), "__wrapped__", None)
    craft = _CRAFT.get(getattr(student, "__name__", ""))

    def run(*args, **kwargs):
        exp = inner(*args, **kwargs)  # traces the student's function (the worker checks that)
        return craft(exp) if craft else exp

    return run


jax.export.export = _crafting_export


def relu_infeed(z):      # program: reads its result from the (empty) infeed: a hang
    return z * 0  # (uses z: the crafted module's signature is the honest one's)


def relu_recv(z):        # program: receives its result from the host
    return z * 0


def relu_mhlo_callback(z): # program: the Python-callback target, spelt mhlo.custom_call
    return z


def relu_lapack_overflow(z):  # program: an allowed custom call, inconsistent shapes
    return z


def relu_assert_leak(z): # program: a failing shape assertion quoting a hidden input value
    return z


def relu_disabled_check(z):  # program: the Python-callback target, "check disabled"
    return z


def relu_two_devices(z):     # honest program claiming two devices
    return jnp.maximum(z, 0)


def relu_dict_tree(z):       # honest values, another output tree in the program than reported
    return jnp.maximum(z, 0)


def relu_pure_callback(z):   # the traced function computes nothing; a host callback does
    return jax.pure_callback(lambda v: _np.maximum(v, 0), jax.ShapeDtypeStruct(z.shape, z.dtype), z)


def relu_io_callback(z):
    from jax.experimental import io_callback

    return io_callback(lambda v: _np.maximum(v, 0), jax.ShapeDtypeStruct(z.shape, z.dtype), z)


def relu_debug_callback(z):  # wrong values; a debug callback would only see the hidden input
    jax.debug.callback(lambda v: None, z)
    return z


def relu_debug_callback_honest(z):  # right values; a debug callback (which works under jax.jit)
    jax.debug.callback(lambda v: None, z)
    return jnp.maximum(z, 0)


def relu_memory_hog(z):      # 8 GiB in the executor, whose memory limit is 1 GiB
    big = jnp.ones((2**31,), jnp.float32) * z.sum()
    return jnp.maximum(z, 0) + 0 * jnp.cumsum(big)[-1]


def relu_placeholder_cond(z):
    # Correct on anything but all zeros (the placeholders): lax.cond is computed in the
    # executor on the real input, so this is a correct function, judged as one.
    return jax.lax.cond(jnp.all(z == 0), lambda v: v - 1, lambda v: jnp.maximum(v, 0), z)


@jax.custom_vjp
def sigmoid_callback_bwd(z):
    return 1 / (1 + jnp.exp(-z))


def _cb_bwd(z, ct):
    def host(zz, cc):
        s = 1 / (1 + _np.exp(-zz))
        return (cc * s * (1 - s)).astype(_np.float32)

    return (jax.pure_callback(host, jax.ShapeDtypeStruct(z.shape, z.dtype), z, ct),)


sigmoid_callback_bwd.defvjp(lambda z: (sigmoid_callback_bwd(z), z), _cb_bwd)
'''

# relu (the honest one) comes after a hanging and two crashing programs: graded in a fresh executor.
RELU_ATTACKS = ("relu_infeed", "relu_mhlo_callback", "relu_lapack_overflow", "relu", "relu_recv",
                "relu_assert_leak", "relu_disabled_check", "relu_two_devices", "relu_dict_tree",
                "relu_pure_callback", "relu_io_callback", "relu_debug_callback",
                "relu_debug_callback_honest", "relu_memory_hog", "relu_placeholder_cond")
SIGMOID_ATTACKS = ("sigmoid_callback_bwd",)


@pytest.fixture(scope="module")
def graded(selftest, tmp_path_factory):
    def only(function: str, keep):
        part = next(p for p in selftest.parts if p.function == function)

        def hidden(seed: int):
            cases = [dataclasses.replace(c, time_limit=4.0) for c in part.hidden(seed) if keep(c)]
            assert cases, f"the self-test's {function} part has no such case any more"
            return cases

        return part, hidden

    relu, relu_jit = only("relu", lambda c: c.jit)
    sigmoid, sigmoid_vjp = only("sigmoid", lambda c: c.vjp)
    def infeed_jit(seed: int):
        # The infeed program waits (no processor time) until the wall-clock backstop, 3x its limit.
        return [dataclasses.replace(c, time_limit=1.5) for c in relu_jit(seed)]

    parts = tuple(dataclasses.replace(relu, function=name, visible=lambda: (),
                                      hidden=infeed_jit if name == "relu_infeed" else relu_jit)
                  for name in RELU_ATTACKS)  # in this order: relu is graded after relu_infeed
    parts += tuple(dataclasses.replace(sigmoid, function=name, visible=lambda: (), hidden=sigmoid_vjp)
                   for name in SIGMOID_ATTACKS)
    path = tmp_path_factory.mktemp("export_attacks") / "submission.py"
    path.write_text(SOLUTION.read_text() + ATTACKS)
    return by_function(engine.grade(dataclasses.replace(selftest, parts=parts), path, seed=SEED,
                                    overrides=LIMITS))


def _zero(p, *words):
    assert p.score == 0, (p.function, p.feedback)
    assert p.status != engine.ERROR, (p.function, p.feedback)  # never a grading error
    for w in words:
        assert w in p.feedback, (p.function, p.feedback)


def test_an_infeed_program_times_out_and_the_executor_is_restarted(graded):
    _zero(graded["relu_infeed"], "did not finish within 1.5 s")
    p = graded["relu"]  # graded after relu_infeed and two crashing programs, in a fresh executor
    assert p.score == p.points, p.feedback


def test_an_allowed_custom_call_with_inconsistent_shapes_is_the_students(graded):
    """Memory errors inside jax.export's stable custom calls are out of the grader's reach (the
    executor is the sandbox around them): whatever the program does, a zero for the part, and
    the next part is graded in a fresh executor (test above)."""
    _zero(graded["relu_lapack_overflow"])


def test_an_mhlo_custom_call_is_refused_like_a_stablehlo_one(graded):
    """The round-2 crash (the Python-callback target with a bogus index) spelt as
    ``mhlo.custom_call``: jax.export's own check walks ``stablehlo.custom_call`` ops only, so
    the program passes ``_check_program`` and the executor dies of SIGSEGV running it.
    The score is 0 either way; the safe outcome is that the executor never runs it."""
    p = graded["relu_mhlo_callback"]
    _zero(p)
    assert "ProgramRefused" in p.feedback and "crash" not in p.feedback, p.feedback


def test_host_transfers_and_callbacks_do_not_run(graded):
    _zero(graded["relu_recv"], "its compiled program failed", "recv")
    _zero(graded["relu_disabled_check"], "ProgramRefused")  # its "disabled check" is ignored
    for name in ("relu_pure_callback", "relu_io_callback", "relu_debug_callback"):
        _zero(graded[name])
    _zero(graded["sigmoid_callback_bwd"])


def test_a_host_callback_is_named_not_called_unimplemented(graded):
    """jax.export raises NotImplementedError ("serialization of host_callbacks is not yet
    implemented") for a jax.debug.callback, which the feedback turns into "Not implemented
    yet": a correct function that prints with a debug callback is told it is unwritten."""
    p = graded["relu_debug_callback_honest"]
    _zero(p)
    assert "Not implemented yet" not in p.feedback and "callback" in p.feedback, p.feedback


def test_a_shape_assertion_does_not_quote_hidden_values(graded):
    p = graded["relu_assert_leak"]
    _zero(p)
    assert "LEAKED" not in p.feedback, p.feedback


def test_crafted_metadata_is_a_wrong_program(graded):
    _zero(graded["relu_two_devices"])
    _zero(graded["relu_dict_tree"])


def test_a_program_out_of_memory_in_the_executor_is_the_students(graded):
    _zero(graded["relu_memory_hog"], "memory")


def test_branching_on_placeholder_zeros_gains_nothing(graded):
    p = graded["relu_placeholder_cond"]
    assert p.score == p.points, p.feedback  # correct on the hidden input: computed there



"""vjp cases are confirmed outside the student's process, like jit cases (test_jit_export.py):
the worker exports the student's function for the case's shapes only, with its vjp
(``serialize(vjp_order=1)``); a sandbox with no student code pulls the hidden cotangent back
through that program with ``jax.vjp`` on the hidden inputs.

One grading run serves most tests: the self-test's ``sigmoid`` part, its vjp case only, graded
once per function below (each part names another function of the same file).
"""

from __future__ import annotations

import dataclasses

import pytest

from grader import engine

from .conftest import LIMITS, SEED, SOLUTION, by_function

ATTACKS = '''

import numpy as _np


def sigmoid_patched(z):
    # The right values and no gradient at all: stop_gradient cuts z out of the graph ...
    return 1 / (1 + jnp.exp(-jax.lax.stop_gradient(z)))


def _forged_vjp(f, *primals, **kwargs):
    # ... and jax.vjp replaced by one whose pullback computes sigmoid's gradient by hand on
    # the concrete values (before the export, this passed: the worker called jax.vjp).
    out = f(*primals)
    s = _np.asarray(out)
    return out, lambda ct: (jnp.asarray(s * (1 - s) * _np.asarray(ct)),)


jax.vjp = _forged_vjp


@jax.custom_vjp
def sigmoid_custom_forged(z):
    return 1 / (1 + jnp.exp(-z))


sigmoid_custom_forged.defvjp(lambda z: (sigmoid_custom_forged(z), None),
                             lambda _, ct: (ct * 0.25,))  # the slope at 0, everywhere


@jax.custom_vjp
def sigmoid_custom(z):
    return 1 / (1 + jnp.exp(-z))


def _custom_fwd(z):
    s = sigmoid_custom(z)
    return s, s


sigmoid_custom.defvjp(_custom_fwd, lambda s, ct: (ct * s * (1 - s),))


def sigmoid_pair(z):
    s = 1 / (1 + jnp.exp(-z))
    return s, s


import builtins as _builtins


def sigmoid_remembering(z):
    # Keeps every concrete input it sees; when a traced input has the shape of one seen
    # before (the plain hidden case's z, had the vjp case reused it), exports a custom_vjp
    # whose backward rule is the gradient at that remembered z, computed ahead of time.
    seen = _builtins.__dict__.setdefault("_seen_z", [])
    if not isinstance(z, jax.core.Tracer):
        seen.append(_np.asarray(z))
    known = [x for x in seen if x.shape == z.shape]
    if not known:
        return 1 / (1 + jnp.exp(-jax.lax.stop_gradient(z)))
    s = 1 / (1 + _np.exp(-known[-1]))
    slope = (s * (1 - s)).astype(_np.float32)

    @jax.custom_vjp
    def f(x):
        return 1 / (1 + jnp.exp(-jax.lax.stop_gradient(x)))

    f.defvjp(lambda x: (f(x), None), lambda _, ct: (ct * slope,))
    return f(z)


def sigmoid_branchy(z):
    if float(z.max()) > 100.0:  # Python control flow on a value: fine eagerly, not traced
        return jnp.ones_like(z)
    return 1 / (1 + jnp.exp(-z))
'''

FUNCTIONS = ("sigmoid", "sigmoid_patched", "sigmoid_custom_forged", "sigmoid_custom",
             "sigmoid_pair", "sigmoid_branchy")


@pytest.fixture(scope="module")
def graded(selftest, tmp_path_factory):
    sigmoid = next(p for p in selftest.parts if p.function == "sigmoid")

    def vjp_cases(seed: int):
        cases = [c for c in sigmoid.hidden(seed) if c.vjp]
        assert cases, "the self-test's sigmoid part has no vjp case any more"
        return cases

    parts = tuple(dataclasses.replace(sigmoid, function=name, visible=lambda: (), hidden=vjp_cases)
                  for name in FUNCTIONS)
    # Every hidden case of the part, in order: the plain case runs before the vjp case.
    parts += (dataclasses.replace(sigmoid, function="sigmoid_remembering", visible=lambda: ()),)
    path = tmp_path_factory.mktemp("vjp") / "submission.py"
    path.write_text(SOLUTION.read_text() + ATTACKS)
    result = engine.grade(dataclasses.replace(selftest, parts=parts), path, seed=SEED,
                          overrides=LIMITS)
    return by_function(result)


def test_the_honest_function_keeps_its_points(graded):
    for name in ("sigmoid", "sigmoid_custom"):  # a correct custom_vjp is the student's own
        p = graded[name]
        assert p.score == p.points, (name, p.feedback)
        assert p.feedback == "Passed all 1 cases (0 visible, 1 hidden).", p.feedback


def test_a_patched_jax_vjp_does_not_pass_the_vjp_case(graded):
    p = graded["sigmoid_patched"]
    assert p.score == 0, p.feedback
    assert p.feedback.startswith("Wrong result on hidden case 1 (the gradient of sigmoid"), p.feedback
    assert "got 0," in p.feedback, p.feedback  # stop_gradient's zero gradient, as it is


def test_a_forged_custom_vjp_is_judged_as_the_students_function(graded):
    """A custom_vjp is exported with the program; the executor runs its backward rule on the
    hidden inputs, so a forged cotangent is simply a wrong gradient."""
    p = graded["sigmoid_custom_forged"]
    assert p.score == 0, p.feedback
    assert p.feedback.startswith("Wrong result on hidden case 1"), p.feedback


def test_an_output_of_another_structure_is_named(graded):
    p = graded["sigmoid_pair"]
    assert p.score == 0
    assert ("sigmoid_pair() differentiated with jax.vjp: its output does not have the structure "
            "of the expected one on hidden case 1") in p.feedback, p.feedback


def test_a_function_that_cannot_be_traced_is_told_why(graded):
    p = graded["sigmoid_branchy"]
    assert p.score == 0
    assert "sigmoid_branchy() cannot be traced for jax.vjp on hidden case 1" in p.feedback, p.feedback
    assert "ConcretizationTypeError" in p.feedback and "(`if float(z.max()) > 100.0:" in p.feedback, \
        p.feedback
    # JAX's own words name the student's function, never the grader's wrapper and its path.
    assert "tracing the function sigmoid_branchy at " in p.feedback, p.feedback
    assert "worker.py" not in p.feedback and "/grader/" not in p.feedback, p.feedback


def test_the_executor_refuses_a_program_without_its_vjp_or_with_a_crafted_one():
    """What a worker sends is checked in the executor: a program serialized without a vjp is
    refused by name, and the vjp program passes jax.export's own custom-call check too."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax._src.interpreters import mlir
    from jax._src.lib.mlir import ir

    from grader import protocol
    from grader.runner import Worker

    spec = jax.ShapeDtypeStruct((4,), jnp.float32)
    honest = jax.export.export(jax.jit(lambda x: [jnp.tanh(x)]))(spec)
    text = """module @jit_f attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<4xf32>, %arg1: tensor<4xf32>) -> (tensor<4xf32>) {
    %0 = stablehlo.custom_call @xla_ffi_python_cpu_callback(%arg1) {backend_config = {index = 0 : ui64}, api_version = 4 : i32, operand_layouts = [dense<0> : tensor<1xindex>], result_layouts = [dense<0> : tensor<1xindex>]} : (tensor<4xf32>) -> tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}"""
    vjp = honest.vjp()
    with mlir.make_ir_context():
        crafted_vjp = dataclasses.replace(
            vjp, mlir_module_serialized=mlir.module_to_bytecode(ir.Module.parse(text)))
    crafted = dataclasses.replace(honest, _get_vjp=lambda _: crafted_vjp)
    x = np.linspace(-1, 1, 4, dtype=np.float32)
    ex = Worker(memory_bytes=2**30, output_bytes=4096, output_hard_bytes=2**20)
    try:
        def run(program: bytes) -> protocol.WorkerReply:
            blobs = [protocol.array_to_npy(np.frombuffer(program, np.uint8))]
            header = {"op": "run_exported", "program": {"array": 0}, "kwargs": {"dict": []},
                      "args": protocol.encode_value((x,), blobs), "vjp_argnums": [0],
                      "cotangent": protocol.encode_value([np.ones(4, np.float32)], blobs)}
            reply = ex.request(header, blobs, timeout=60, what="running")
            assert reply.failure is None, reply.failure  # no crash
            return protocol.parse_reply(reply.header, reply.blobs, "run_exported")

        ok = run(bytes(honest.serialize(vjp_order=1)))
        assert ok.ok, ok
        np.testing.assert_allclose(ok.out[0], 1 - np.tanh(x) ** 2, rtol=1e-5)
        for program, words in ((bytes(honest.serialize()), "exported without its vjp"),
                               (bytes(crafted.serialize(vjp_order=1)), "not one jax.export produces")):
            refused = run(program)
            assert not refused.ok and refused.error.type == "ProgramRefused", refused
            assert words in refused.error.message, refused.error.message
    finally:
        ex.kill()


def test_the_vjp_case_cannot_be_answered_from_another_cases_input(graded):
    """The vjp case draws its own input: a function that remembers the plain case's z and
    exports a gradient precomputed at it (which passed while the two cases shared z) is
    judged on an input it never saw, and its stop_gradient forward has no gradient there."""
    p = graded["sigmoid_remembering"]
    assert p.score == 0, p.feedback
    assert p.failed_case.startswith("hidden case") and "gradient of sigmoid" in p.feedback, p.feedback

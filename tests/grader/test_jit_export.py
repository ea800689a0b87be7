"""jit cases are confirmed outside the student's process: the worker exports its jitted
function (placeholder inputs), a sandbox with no student code runs the program on the real
inputs. Patching jax.jit or jax.export in the submission gains nothing."""

from __future__ import annotations

import pytest

from grader import engine

from .conftest import LIMITS, SEED, by_function


@pytest.fixture(scope="module")
def spoofed(selftest, submissions):
    return by_function(engine.grade(selftest, submissions("jit_spoof"), seed=SEED, overrides=LIMITS))


def test_a_patched_jax_jit_does_not_pass_the_jit_case(spoofed):
    for name in ("relu", "standardize"):
        p = spoofed[name]
        assert p.score == 0, (name, p.feedback)
        assert "under jax.jit" in p.feedback, p.feedback


def test_a_forged_export_does_not_pass_either(spoofed):
    p = spoofed["sample_normal"]  # the solution's own function, with jax.export forged
    assert p.score == 0
    assert "ExportError" in p.feedback and "under jax.jit" in p.feedback, p.feedback


def test_the_executor_refuses_a_program_that_is_not_one():
    """Whatever bytes a worker sends as its program, the executor (no student code) fails
    cleanly and names it; it never runs anything but a deserialized XLA program."""
    import numpy as np

    from grader import protocol
    from grader.runner import Worker

    ex = Worker(memory_bytes=2**30, output_bytes=4096, output_hard_bytes=2**20)
    try:
        blobs = [protocol.array_to_npy(np.frombuffer(b"not a program at all", np.uint8))]
        args = protocol.encode_value((np.zeros(3, np.float32),), blobs)
        reply = ex.request({"op": "run_exported", "program": {"array": 0}, "args": args,
                            "kwargs": {"dict": []}}, blobs, timeout=60, what="running")
        assert reply.failure is None
        checked = protocol.parse_reply(reply.header, reply.blobs, "run_exported")
        assert not checked.ok and checked.error.type, reply.header
        # ... and a worker that has loaded code refuses to run programs at all.
        assert ex.request({"op": "load", "source": "x = 1\n", "filename": "s.py"}, timeout=30,
                          what="loading").header["ok"]
        again = ex.request({"op": "run_exported", "program": {"array": 0}, "args": args,
                            "kwargs": {"dict": []}}, blobs, timeout=60, what="running")
        assert again.header["ok"] is False and "loaded code" in again.header["error"]["message"]
    finally:
        ex.kill()


def test_parts_without_jit_cases_are_unaffected(spoofed):
    # relu_backward and sigmoid have jit cases too, which the forged jax.export fails.
    assert spoofed["train_logistic"].score == spoofed["train_logistic"].points


def test_correct_jitted_code_keeps_its_points(selftest, submissions):
    parts = by_function(engine.grade(selftest, submissions("jit_legit"), seed=SEED, overrides=LIMITS))
    for p in parts.values():
        assert p.score == p.points, (p.function, p.feedback)


def test_the_executor_refuses_custom_calls_jax_export_would_not_serialize():
    """Red-team round 2: a crafted program calling the Python-callback target with a bogus
    index crashed the executor (SIGSEGV). The executor now runs jax.export's own check."""
    import dataclasses

    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax._src.interpreters import mlir
    from jax._src.lib.mlir import ir

    from grader import protocol
    from grader.runner import Worker

    text = """module @jit_f attributes {mhlo.num_partitions = 1 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%arg0: tensor<4xf32>) -> (tensor<4xf32>) {
    %0 = stablehlo.custom_call @xla_ffi_python_cpu_callback(%arg0) {backend_config = {index = 0 : ui64}, api_version = 4 : i32, operand_layouts = [dense<0> : tensor<1xindex>], result_layouts = [dense<0> : tensor<1xindex>]} : (tensor<4xf32>) -> tensor<4xf32>
    return %0 : tensor<4xf32>
  }
}"""
    exp = jax.export.export(jax.jit(lambda x: [x * 2]))(jax.ShapeDtypeStruct((4,), jnp.float32))
    with mlir.make_ir_context():
        crafted = dataclasses.replace(
            exp, mlir_module_serialized=mlir.module_to_bytecode(ir.Module.parse(text)))
    program = np.frombuffer(bytes(crafted.serialize()), np.uint8)
    ex = Worker(memory_bytes=2**30, output_bytes=4096, output_hard_bytes=2**20)
    try:
        blobs = [protocol.array_to_npy(program)]
        args = protocol.encode_value((np.ones(4, np.float32),), blobs)
        reply = ex.request({"op": "run_exported", "program": {"array": 0}, "args": args,
                            "kwargs": {"dict": []}}, blobs, timeout=60, what="running")
        assert reply.failure is None, reply.failure  # no crash
        checked = protocol.parse_reply(reply.header, reply.blobs, "run_exported")
        assert not checked.ok and checked.error.type == "ProgramRefused", checked
    finally:
        ex.kill()


def test_a_constant_program_cannot_guess_the_jit_input(selftest, submissions):
    p = by_function(engine.grade(selftest, submissions("jit_predict"), seed=SEED,
                                 overrides=LIMITS))["sigmoid"]
    assert p.score == 0
    assert "hidden case 2" in p.feedback and "under jax.jit" in p.feedback, p.feedback

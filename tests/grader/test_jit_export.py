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

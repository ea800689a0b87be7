"""``Case.prepare``: the parent's work for a verdict that does not depend on the student's
answer (the replay of the documented training loop, an import) runs in the background while
the worker runs, and ``validate`` finds it done; its failure is a grading error."""

from __future__ import annotations

import dataclasses
import threading
import time

from grader import engine

from .conftest import LIMITS, SEED, SOLUTION, by_function


def _relu_grader(selftest, prepare, validate) -> engine.Grader:
    """The self-test's relu part alone, its cases given ``prepare`` and ``validate``."""
    parts = tuple(p for p in selftest.parts if p.function == "relu")
    grader = engine.Grader(dataclasses.replace(selftest, parts=parts), seed=SEED, hidden=False,
                           overrides=LIMITS)
    for pc in grader.cases():
        pc.cases = [(dataclasses.replace(c, prepare=prepare, validate=validate), n) for c, n in pc.cases]
    return grader


def test_prepare_runs_ahead_and_validate_waits_for_it(selftest):
    events: list[tuple[str, str, float]] = []

    def prepare():
        events.append(("prepare starts", threading.current_thread().name, time.monotonic()))
        time.sleep(0.5)  # slower than the worker's call: validate must wait, not run beside it
        events.append(("prepare ends", threading.current_thread().name, time.monotonic()))

    def validate(out):
        events.append(("validate", threading.current_thread().name, time.monotonic()))
        return None

    result = _relu_grader(selftest, prepare, validate).grade(SOLUTION)
    assert by_function(result)["relu"].passed, by_function(result)["relu"].feedback
    assert [e[0] for e in events] == ["prepare starts", "prepare ends", "validate"]
    assert events[0][1].startswith("grader-expected")  # the background thread, not the judge's
    assert events[2][1] == threading.main_thread().name


def test_a_failing_prepare_is_a_grading_error_not_a_zero(selftest):
    """Work that does not depend on the answer failed: the grader's fault. (Left to
    ``validate``, which calls the same work again, it had become the student's zero, "the
    result could not be checked"; found by a red-team helper.)"""
    calls = []

    def prepare():
        calls.append("prepare")
        raise RuntimeError("RESOURCE_EXHAUSTED: the replay failed ahead")

    def validate(out):
        calls.append("validate")
        return None

    result = _relu_grader(selftest, prepare, validate).grade(SOLUTION)
    relu = by_function(result)["relu"]
    assert relu.status == "error" and not relu.passed, relu.feedback
    assert relu.feedback.startswith("Grading error: the grader itself failed"), relu.feedback
    assert "RESOURCE_EXHAUSTED" in relu.feedback
    assert calls == ["prepare"]


def test_batch_mode_prepares_once_for_every_submission(selftest):
    """``Grader.materialize`` (``grader grade`` shares it across submissions) runs each
    ``prepare`` once, and swallows what it raises."""
    calls = []
    grader = _relu_grader(selftest, lambda: calls.append("prepared") or 1 / 0, lambda out: None)
    grader.materialize()
    assert calls == ["prepared"] * sum(len(pc.cases) for pc in grader.cases())

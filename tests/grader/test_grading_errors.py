"""A fault of the grader is a grading error, never a student's zero.

When the parent's own work fails (building a part's cases, computing an expected value, a
validator, a missing optional dependency) that part is reported with ``status == "error"``:
its score is withheld, the feedback says it is the grader's fault and to tell the instructor,
the total says it is incomplete, Gradescope gets no score for it, and every other part is
graded as usual. A malformed result of the student's stays the student's wrong answer.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest
from rich.console import Console

from grader import engine, registry, report

from .conftest import LIMITS, SEED, SOLUTION, by_function



def _only(assignment, *functions):
    return dataclasses.replace(assignment, parts=tuple(p for p in assignment.parts
                                                       if p.function in functions))

def _refuse_sklearn(out):
    raise ImportError("No module named 'sklearn'")


def _faulty_grader(selftest) -> engine.Grader:
    """The self-test with three faults of the grader's own: sigmoid's case builder raises,
    relu's expected value raises, train_logistic's validator lacks a dependency."""

    def broken_builder():
        raise RuntimeError("the case builder is broken")

    parts = tuple(dataclasses.replace(p, visible=broken_builder) if p.function == "sigmoid" else p
                  for p in selftest.parts)
    grader = engine.Grader(dataclasses.replace(selftest, parts=parts), seed=SEED, hidden=False,
                           overrides=LIMITS)
    for pc in grader.cases():
        if pc.part.function == "relu":
            case, name = pc.cases[0]
            pc.cases[0] = (dataclasses.replace(case, expected=lambda: 1 / 0), name)
        if pc.part.function == "train_logistic":
            pc.cases = [(dataclasses.replace(c, validate=_refuse_sklearn), n) for c, n in pc.cases]
    return grader


@pytest.fixture(scope="module")
def faulty(selftest):
    return _faulty_grader(selftest).grade(SOLUTION)


def test_grader_faults_are_grading_errors_not_zeros(faulty):
    parts = by_function(faulty)
    for name, cause in (("sigmoid", "RuntimeError: the case builder is broken"),
                        ("relu", "ZeroDivisionError"),
                        ("train_logistic", "ImportError: No module named 'sklearn'")):
        p = parts[name]
        assert p.status == "error" and not p.passed, name
        assert p.feedback.startswith("Grading error: the grader itself failed"), p.feedback
        assert cause in p.feedback
        assert "not of your code" in p.feedback and "withheld, not zero" in p.feedback
        assert "tell your instructor" in p.feedback
    assert "while building this part's cases" in parts["sigmoid"].feedback
    assert "while checking visible case 1" in parts["relu"].feedback


def test_other_parts_are_graded_as_usual(faulty):
    parts = by_function(faulty)
    graded = [p for p in faulty.parts if p.status == "graded"]
    assert {p.function for p in graded} == {"relu_backward", "sample_normal", "standardize"}
    assert all(p.passed for p in graded), [p.feedback for p in graded]
    assert faulty.status == "incomplete"
    assert [p.function for p in faulty.errors] == ["relu", "sigmoid", "train_logistic"]
    assert faulty.score == sum(p.points for p in graded)
    assert parts["relu_backward"].feedback.startswith("Passed")  # right after a faulted part


def test_the_report_says_grading_error_and_incomplete(faulty):
    console = Console(record=True, width=200)
    report.render(faulty, console)
    text = console.export_text()
    assert text.count("grading error") >= 3
    assert "INCOMPLETE: 3 parts (relu(), sigmoid(), train_logistic()" in text
    assert "withheld, not lost" in text


def test_gradescope_gets_no_score_for_a_grading_error(faulty, tmp_path):
    out = tmp_path / "results.json"
    report.write_json(faulty, out)
    data = json.loads(out.read_text())
    tests = {t["name"]: t for t in data["tests"]}
    for name in ("relu", "sigmoid", "train_logistic"):
        assert "score" not in tests[name]
        assert tests[name]["status"] == "failed" and tests[name]["tags"] == ["grading-error"]
        assert "Grading error" in tests[name]["output"]
    assert tests["standardize"]["score"] == tests["standardize"]["max_score"]
    assert data["score"] == faulty.score
    assert data["output"].startswith("Total:") and "INCOMPLETE" in data["output"]
    assert data["extra_data"]["complete"] is False
    assert data["extra_data"]["grading_errors"] == ["relu", "sigmoid", "train_logistic"]


def test_materialized_values_that_fail_are_grading_errors_too(selftest):
    """Batch mode computes expected values up front (``materialize``): a failure there must
    neither stop the batch nor cost anyone the part."""
    grader = _faulty_grader(selftest)
    grader.materialize()
    parts = by_function(grader.grade(SOLUTION))
    assert parts["relu"].status == "error" and "ZeroDivisionError" in parts["relu"].feedback
    assert parts["relu_backward"].passed


def test_missing_scikit_learn_does_not_cost_the_reference_solution_points(monkeypatch):
    """The issue's case: without scikit-learn (then an optional extra) the He part's training
    check could not run, and the reference solution scored 20/30; then a grading error. Now
    ``jaxdl.datasets.circles`` draws scikit-learn's points with NumPy, so the part is graded
    in full without it. (A dependency that is missing all the same is a grading error: the
    ``_refuse_sklearn`` validator above.)"""
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    a = registry.load("week1/initialization")
    result = engine.grade(_only(a, "initialize_parameters_he"), a.solution_path, seed=SEED)
    he = by_function(result)["initialize_parameters_he"]
    assert he.status == "graded" and he.passed, he.feedback
    assert result.status == "complete"


def test_an_unusable_cache_is_skipped(selftest, tmp_path):
    """A cache folder the grader cannot create is an optimisation lost, not a failure."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = engine.grade(selftest, SOLUTION, seed=SEED, hidden=False, overrides=LIMITS,
                          cache_root=str(blocker / "cache"))
    assert result.status == "complete"
    assert result.score == result.max_score, [p.feedback for p in result.parts]


def test_malformed_student_results_stay_the_students_fault(selftest, submissions):
    """Outputs the judge or a validator cannot use are wrong answers (graded, 0), not faults."""
    result = engine.grade(selftest, submissions("huge_results"), seed=SEED, hidden=False,
                          overrides=LIMITS)
    parts = by_function(result)
    assert result.status == "complete"
    for name in ("relu", "sigmoid", "train_logistic"):
        assert parts[name].status == "graded" and parts[name].score == 0, name
    assert "an int too large to send" in parts["relu"].feedback
    assert "NaN" in parts["sigmoid"].feedback or "infinity" in parts["sigmoid"].feedback
    assert "the returned parameters" in parts["train_logistic"].feedback


def test_a_validator_choking_on_a_student_result_costs_the_part(selftest):
    """Red-team finding: a result built to make the validator raise (an int subclass worth
    10**400 through np.asarray) turned a zero into a withheld "grading error". Only the
    grader's environment faults (ImportError, OSError, MemoryError) are grading errors."""

    def chokes(out):
        raise OverflowError("int too large to convert to float")

    grader = engine.Grader(selftest, seed=SEED, hidden=False, overrides=LIMITS)
    for pc in grader.cases():
        if pc.part.function == "train_logistic":
            pc.cases = [(dataclasses.replace(c, validate=chokes), n) for c, n in pc.cases]
    p = by_function(grader.grade(SOLUTION))["train_logistic"]
    assert p.status == "graded" and p.score == 0
    assert "could not be checked (OverflowError: int too large" in p.feedback



def test_a_request_the_worker_would_refuse_is_a_grading_error(selftest, tmp_path, monkeypatch):
    """The parent checks each request against the limits its worker reads with
    (``protocol.pack_request``): a request too large used to stop the worker, which the student
    was told as "ended the worker process (exit status 1) ... os._exit()" (a file within the
    4 MiB code limit met the worker's then 4 MiB request header cap)."""
    from grader import protocol

    path = tmp_path / "long.py"
    path.write_text(SOLUTION.read_text() + "\n# " + "x" * 200_000 + "\n")
    monkeypatch.setattr(protocol, "REQUEST_HEADER_BYTES", 100_000)  # the parent's side only
    result = engine.grade(_only(selftest, "relu", "sigmoid"), path, seed=SEED, hidden=False,
                          overrides=LIMITS)
    for p in result.parts:
        assert p.status == "error" and not p.passed, p.feedback
        assert "RequestTooLarge" in p.feedback and "os._exit" not in p.feedback, p.feedback
        assert "while loading your file" in p.feedback
    assert result.status == "incomplete"


CHANNEL_THIEF = '''

import json as _json
import os as _os
import sys as _sys
import threading as _threading
import time as _time

_fd = int(_json.loads(_sys.argv[-1])["req_fd"])
_reading = _threading.Event()


def _steal():
    _reading.set()
    _os.read(_fd, 3)


_threading.Thread(target=_steal, daemon=True).start()
# Hold the import until the thread is blocked in read(): it then waits on the pipe ahead of
# the worker's own read of the next request, and a pipe wakes its readers in turn. (Without
# this, a busy machine let the worker read the whole request first and the case passed.)
_reading.wait(5)
_time.sleep(0.3)
'''


def test_code_that_disturbs_the_request_channel_gets_its_zero_not_a_grading_error(selftest, tmp_path):
    """The other side of the check above: a worker that cannot read a request the parent
    checked was disturbed from inside (here a thread of the student's steals three bytes of
    the next request). That is the submission's zero, never a grading error, whichever of the
    two reads wins the race (an unreadable request, or one that never completes)."""
    path = tmp_path / "thief.py"
    path.write_text(SOLUTION.read_text() + CHANNEL_THIEF)
    result = engine.grade(_only(selftest, "relu"), path, seed=SEED, hidden=False,
                          overrides=dict(LIMITS, time_per_call=1.0))
    relu = by_function(result)["relu"]
    assert relu.status == "graded" and relu.score == 0, relu.feedback
    assert ("disturbed the worker's channel to the grader" in relu.feedback
            or "did not finish" in relu.feedback or "waited" in relu.feedback), relu.feedback
    assert "os._exit" not in relu.feedback, relu.feedback

"""A worker that hangs, exits, segfaults or raises BaseExceptions loses only that part."""

from __future__ import annotations

import pytest

from grader import engine

from .conftest import LIMITS, SEED, by_function


@pytest.fixture(scope="module")
def crashes(selftest, submissions):
    path = submissions("infinite_loop", "os_exit", "segfault", "sys_exit", "keyboard_interrupt")
    # A 3 s limit: the infinite loop burns the whole limit in processor time.
    return by_function(engine.grade(selftest, path, seed=SEED, overrides=dict(LIMITS, time_per_call=3.0)))


def test_infinite_loop_times_out(crashes):
    p = crashes["relu"]
    assert p.score == 0
    assert "did not finish within 3 s (the time limit)" in p.feedback
    assert "relu()" in p.feedback


def test_os_exit_is_reported(crashes):
    p = crashes["relu_backward"]
    assert p.score == 0
    assert "ended the worker process (exit status 3)" in p.feedback
    assert "os._exit()" in p.feedback


def test_segfault_is_reported(crashes):
    p = crashes["sigmoid"]
    assert p.score == 0
    assert "segmentation fault" in p.feedback


def test_sys_exit_and_keyboard_interrupt_are_errors_of_their_part(crashes):
    assert crashes["sample_normal"].score == 0
    assert "raised SystemExit" in crashes["sample_normal"].feedback
    assert crashes["standardize"].score == 0
    assert "raised KeyboardInterrupt" in crashes["standardize"].feedback


def test_part_after_crashes_keeps_its_points(crashes):
    assert crashes["train_logistic"].score == 2
    assert crashes["train_logistic"].feedback.startswith("Passed")


def test_a_crash_in_the_middle_costs_only_that_part(selftest, submissions):
    result = engine.grade(selftest, submissions("segfault"), seed=SEED, overrides=LIMITS)
    parts = by_function(result)
    assert parts["sigmoid"].score == 0
    assert "segmentation fault" in parts["sigmoid"].feedback
    assert result.score == result.max_score - 1
    assert all(p.passed for name, p in parts.items() if name != "sigmoid")


def test_total_budget_stops_grading_cleanly(selftest, submissions):
    result = engine.grade(selftest, submissions("infinite_loop"), seed=SEED,
                          overrides=dict(LIMITS, total_seconds=5.0))
    parts = by_function(result)
    assert result.score == 0
    assert "used up its total time budget of 5 s" in parts["relu"].feedback
    assert all(p.feedback.startswith("Not graded: the submission used up its total time budget")
               for name, p in parts.items() if name != "relu")

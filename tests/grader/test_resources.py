"""Memory bombs and output floods are stopped; chatty but correct code keeps its points."""

from __future__ import annotations

import pytest

from grader import engine

from .conftest import LIMITS, SEED, by_function


@pytest.fixture(scope="module")
def resources(selftest, submissions):
    path = submissions("memory_bomb", "output_flood", "chatty")
    return by_function(engine.grade(selftest, path, seed=SEED, overrides=LIMITS))


@pytest.mark.parametrize("function", ["relu", "relu_backward", "sigmoid"])
def test_memory_bombs_score_zero_with_the_limit(resources, function):
    p = resources[function]
    assert p.score == 0
    assert "ran out of memory" in p.feedback or "memory limit" in p.feedback
    assert "1 GiB" in p.feedback


def test_output_flood_stops_the_worker(resources):
    p = resources["sample_normal"]
    assert p.score == 0
    assert "printed more than 1 MiB of output" in p.feedback
    assert len(p.output) < 20_000  # only the kept head reaches the report


def test_output_and_warnings_are_feedback_not_failures(resources):
    p = resources["standardize"]
    assert p.passed
    assert "debug line 0" in p.output
    assert "a note on stderr" in p.output or "more output not shown" in p.output
    assert "more output not shown" in p.output  # 3000 lines > the 16 KiB kept


def test_untouched_part_keeps_its_points(resources):
    assert resources["train_logistic"].passed

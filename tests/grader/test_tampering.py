"""Results cross as plain arrays: patched comparisons, lying objects, pickles and forged
replies earn nothing, and nothing they carry is ever executed in the grader."""

from __future__ import annotations

import pytest

from grader import engine

from .conftest import LIMITS, SEED, by_function


@pytest.fixture(scope="module")
def marker(tmp_path_factory):
    return tmp_path_factory.mktemp("marker") / "pwned"


@pytest.fixture(scope="module")
def tampered(selftest, submissions, marker):
    path = submissions("monkeypatch_compare", "pickle_bomb", "ignores_key", "forged_reply",
                       "wrong_shape", MARKER=marker)
    return by_function(engine.grade(selftest, path, seed=SEED, overrides=LIMITS))


@pytest.fixture(scope="module")
def wrong_values(selftest, submissions):
    path = submissions("always_equal", "nan", "float64", "imports_grader")
    return by_function(engine.grade(selftest, path, seed=SEED, overrides=LIMITS))


def test_monkeypatched_comparisons_do_not_help(tampered):
    p = tampered["relu"]
    assert p.score == 0
    assert "wrong values" in p.feedback


def test_unpicklable_payloads_are_refused_and_never_run(tampered, marker):
    assert tampered["relu_backward"].score == 0
    assert "dtype object" in tampered["relu_backward"].feedback
    assert tampered["sigmoid"].score == 0
    assert "an object of type Bomb" in tampered["sigmoid"].feedback
    assert not marker.exists()


def test_forged_reply_is_invalid_output(tampered, marker):
    p = tampered["standardize"]
    assert p.score == 0
    # Depending on how the bytes arrive: an unreadable frame, or a frame without the request id.
    assert "could not read" in p.feedback or "a reply the grader did not ask for" in p.feedback
    assert not marker.exists()


def test_ignoring_the_key_is_caught(tampered):
    p = tampered["sample_normal"]
    assert p.score == 0
    assert "same result for two different keys" in p.feedback


def test_wrong_shape_in_a_pytree(tampered):
    p = tampered["train_logistic"]
    assert p.score == 0
    assert "['w'] has shape (2, 1), expected (2,)" in p.feedback


def test_always_equal_object_earns_nothing(wrong_values):
    p = wrong_values["relu"]
    assert p.score == 0
    assert "an object of type AlwaysEqual" in p.feedback


def test_nan_and_float64_are_named(wrong_values):
    assert "contains NaN" in wrong_values["sigmoid"].feedback
    assert wrong_values["sigmoid"].score == 0
    assert "dtype float64, expected float32" in wrong_values["standardize"].feedback
    assert wrong_values["standardize"].score == 0


def test_importing_the_grader_is_refused(wrong_values):
    p = wrong_values["train_logistic"]
    assert p.score == 0
    assert "imports 'grader', which this assignment does not allow" in p.feedback


def test_other_parts_unaffected(wrong_values):
    for name in ("relu_backward", "sample_normal"):
        assert wrong_values[name].passed, wrong_values[name].feedback

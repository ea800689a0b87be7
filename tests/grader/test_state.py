"""Fresh state per part, hidden cases that differ from visible ones, common-mistake feedback,
and reproducible results for the same file and seed."""

from __future__ import annotations

import pytest

from grader import engine

from .conftest import LIMITS, SEED, SOLUTION, by_function


@pytest.fixture(scope="module")
def mixed(selftest, submissions):
    path = submissions("global_state", "hardcoded", "not_implemented", "missing", "untrained")
    return path, engine.grade(selftest, path, seed=SEED, overrides=LIMITS)


def test_hidden_global_state_does_not_carry_across_parts(mixed):
    parts = by_function(mixed[1])
    assert parts["relu"].passed
    assert parts["relu_backward"].score == 0
    assert "raised RuntimeError" in parts["relu_backward"].feedback


def test_hard_coded_visible_answer_fails_hidden_cases(mixed, selftest):
    parts = by_function(mixed[1])
    assert parts["sigmoid"].score == 0
    assert "hidden case 1" in parts["sigmoid"].feedback
    visible_only = by_function(engine.grade(selftest, mixed[0], seed=SEED, hidden=False,
                                            overrides=LIMITS))
    assert visible_only["sigmoid"].passed  # `grader test` cannot tell


def test_stub_missing_and_untrained(mixed):
    parts = by_function(mixed[1])
    assert parts["sample_normal"].feedback.startswith("Not implemented yet")
    assert "does not define standardize()" in parts["standardize"].feedback
    assert "held-out points correctly; at least 90% is required" in parts["train_logistic"].feedback
    assert mixed[1].score == 1


def test_same_file_and_seed_give_the_same_report(mixed, selftest):
    path, first = mixed
    again = engine.grade(selftest, path, seed=SEED, overrides=LIMITS)
    assert [(p.score, p.feedback, p.output) for p in again.parts] == \
           [(p.score, p.feedback, p.output) for p in first.parts]
    assert again.seed == first.seed == SEED


def test_solution_full_marks_under_two_seeds_and_reproducible(selftest, submissions):
    path = submissions(name="solution")
    a = engine.grade(selftest, path, seed=7, overrides=LIMITS)
    b = engine.grade(selftest, path, seed=8, overrides=LIMITS)
    assert a.score == a.max_score == 7, [p.feedback for p in a.parts]
    assert b.score == b.max_score, [p.feedback for p in b.parts]
    assert [p.feedback for p in a.parts] == [p.feedback for p in b.parts]


def test_common_mistake_is_named(selftest, tmp_path):
    src = (tmp_path / "rows.py")
    from .conftest import SOLUTION

    src.write_text(SOLUTION.read_text() + "\n\ndef standardize(X):\n"
                   "    return (X - X.mean(axis=1, keepdims=True)) / (X.std(axis=1, keepdims=True) + 1e-8)\n")
    parts = by_function(engine.grade(selftest, src, seed=SEED, hidden=False, overrides=LIMITS))
    assert parts["standardize"].score == 0
    assert "each row (axis=1) instead of each column (axis=0)" in parts["standardize"].feedback


def test_worker_cache_is_per_source_unless_trusted(tmp_path, selftest):
    """Student files never share compiled programs; trusted runs (our tests) may."""
    source = SOLUTION.read_text()
    files = []
    for i in range(2):
        f = tmp_path / f"variant{i}.py"
        f.write_text(source + f"\n# variant {i}\n")
        files.append(f)
    for trusted, expected_dirs in ((False, 2), (True, 1)):
        root = tmp_path / f"cache-{trusted}"
        for f in files:
            result = engine.grade(selftest, f, seed=SEED, hidden=False, overrides=LIMITS,
                                  cache_root=str(root), trusted_cache=trusted)
            assert result.score == result.max_score
        assert len(list((root / "worker").iterdir())) == expected_dirs

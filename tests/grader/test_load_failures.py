"""A file that cannot load scores 0 everywhere with one clear reason, quickly."""

from __future__ import annotations

import pytest

from grader import engine

from .conftest import LIMITS, SEED, child_pids


@pytest.mark.parametrize("snippet, reason", [
    ("syntax_error", "Your file has a syntax error at line"),
    ("import_exit", "Your file ended the worker process (exit status 0) while loading"),
    ("import_sysexit", "Your file raised SystemExit while loading"),
])
def test_file_that_cannot_load(selftest, submissions, snippet, reason):
    result = engine.grade(selftest, submissions(snippet), seed=SEED, overrides=LIMITS)
    assert result.score == 0
    assert len(result.parts) == len(selftest.parts)
    for p in result.parts:
        assert p.feedback.startswith(reason), p.feedback


def test_hang_at_import_time_is_killed_and_leaves_nothing(selftest, submissions):
    before = child_pids()
    result = engine.grade(selftest, submissions("import_hang"), seed=SEED,
                          overrides=dict(LIMITS, load_seconds=2.0))
    assert result.score == 0
    assert all("did not finish within 2 s (the time limit) while loading" in p.feedback
               for p in result.parts)
    assert child_pids() <= before


def test_unreadable_file(selftest, tmp_path):
    path = tmp_path / "binary.py"
    path.write_bytes(b"\xff\xfe\x00garbage")
    result = engine.grade(selftest, path, seed=SEED, overrides=LIMITS)
    assert result.score == 0
    assert "not UTF-8" in result.parts[0].feedback

"""The import policy (every route) and the sandbox: no processes, network, signals or writes
outside the worker's folder; no process started by student code outlives grading."""

from __future__ import annotations

import subprocess

import pytest

from grader import engine, runner

from .conftest import LIMITS, SEED, by_function, child_pids


@pytest.fixture(scope="module")
def routes(selftest, submissions):
    return by_function(engine.grade(selftest, submissions("forbidden_routes"), seed=SEED,
                                    overrides=LIMITS))


@pytest.mark.parametrize("function, module", [
    ("relu", "optax"),               # import statement inside the function
    ("relu_backward", "optax"),      # importlib.import_module
    ("sigmoid", "flax"),             # __import__
    ("sample_normal", "jaxdl.nn"),   # from jaxdl import nn, ImportError caught
    ("standardize", "jaxdl.nn"),     # jaxdl.nn through the package's lazy __getattr__
    ("train_logistic", "optax"),     # reading optax's source to exec it under another name
])
def test_forbidden_import_by_every_route(routes, function, module):
    p = routes[function]
    assert p.score == 0
    assert f"imports '{module}', which this assignment does not allow" in p.feedback


def test_forbidden_import_at_top_level_zeroes_every_part(selftest, submissions):
    result = engine.grade(selftest, submissions("forbidden_toplevel"), seed=SEED, overrides=LIMITS)
    assert result.score == 0
    assert all("imports 'optax'" in p.feedback for p in result.parts)


def test_escapes_are_refused_and_leave_no_process_or_file(selftest, submissions, tmp_path,
                                                          monkeypatch):
    sleeper = subprocess.Popen(["sleep", "120"])
    outside = tmp_path / "escaped.txt"
    started: list[int] = []
    real_start = runner.Worker.start

    def recording_start(self):
        failure = real_start(self)
        if self.proc is not None:
            started.append(self.proc.pid)
        return failure

    monkeypatch.setattr(runner.Worker, "start", recording_start)
    # The fence's own refusals (the OS sandbox would make these paths absent instead; it is
    # attacked in test_os_sandbox.py).
    monkeypatch.setenv(runner.SANDBOX_ENV, "off")
    before = child_pids()
    try:
        path = submissions("escape", SLEEPER_PID=sleeper.pid, OUTSIDE=outside)
        parts = by_function(engine.grade(selftest, path, seed=SEED, overrides=LIMITS))
        for name in ("relu", "relu_backward", "sigmoid", "sample_normal"):
            assert parts[name].score == 0
            assert "starting processes is not allowed" in parts[name].feedback, parts[name].feedback
        assert "network access is not allowed" in parts["standardize"].feedback
        assert "is not allowed: graded code may only write" in parts["train_logistic"].feedback
        assert "refused: sending signals to other processes is not allowed" in parts["train_logistic"].output
        assert sleeper.poll() is None  # the signal never reached it
        assert not outside.exists()
        assert started
        assert child_pids() <= before | {sleeper.pid}
        for pid in started:
            assert not runner.session_members(pid)
    finally:
        sleeper.kill()
        sleeper.wait()

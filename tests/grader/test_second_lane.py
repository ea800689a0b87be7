"""The second lane (``grader.engine._SecondLane``): the last parts that need a worker of their
own configuration are graded in it, by a thread of its own, while the first parts are graded.
What a part sees and scores does not change; a file that does not load is still every part's
zero, and nothing is left running."""

from __future__ import annotations

import threading

import pytest

from grader import engine, runner

from .conftest import SOLUTION, child_pids
from .two_lanes import PARTS, two_lanes

def _watch(monkeypatch, wait_seconds: float) -> dict:
    """Record which thread grades each part; relu's grading waits (up to ``wait_seconds``)
    until standardize's has begun, and records whether it had."""
    seen: dict = {"threads": {}}
    begun = threading.Event()
    grade_part = engine.Grader._grade_part

    def watched(self, worker, pc, *args, **kwargs):
        fn = pc.part.function
        seen["threads"][fn] = threading.current_thread().name
        if fn == "standardize":
            begun.set()
        if fn == "relu":
            seen["standardize began first"] = begun.wait(wait_seconds)
        return grade_part(self, worker, pc, *args, **kwargs)

    monkeypatch.setattr(engine.Grader, "_grade_part", watched)
    return seen


def test_the_last_run_of_parts_is_graded_beside_the_first(selftest, tmp_path, monkeypatch):
    seen = _watch(monkeypatch, wait_seconds=120.0)
    result = two_lanes(selftest, tmp_path).grade(SOLUTION)
    assert [p.function for p in result.parts] == list(PARTS)  # the parts' order, whatever finished first
    assert all(p.passed for p in result.parts), [p.feedback for p in result.parts]
    # relu (the first lane) waited for standardize's grading to begin: the lanes ran together.
    assert seen["standardize began first"] is True
    assert seen["threads"]["relu"] == threading.main_thread().name
    assert seen["threads"]["standardize"].startswith("grader-lane")


def test_one_lane_grades_one_part_after_another(selftest, tmp_path, monkeypatch):
    """The same grading with ``lanes=1`` (batch mode): standardize cannot begin before relu is
    done, so the watch above times out; the verdicts are the same."""
    seen = _watch(monkeypatch, wait_seconds=1.0)
    result = two_lanes(selftest, tmp_path, lanes=1).grade(SOLUTION)
    assert seen["standardize began first"] is False
    assert set(seen["threads"].values()) == {threading.main_thread().name}
    assert all(p.passed for p in result.parts), [p.feedback for p in result.parts]


def test_a_file_that_does_not_load_is_every_parts_zero_and_stops_the_lane(selftest, tmp_path):
    before = child_pids()
    path = tmp_path / "broken.py"
    path.write_text(SOLUTION.read_text() + "\n\ndef oops(:\n")
    result = two_lanes(selftest, tmp_path).grade(path)
    assert [p.function for p in result.parts] == list(PARTS)
    assert all(p.score == 0 and "syntax error" in p.feedback.lower() for p in result.parts), \
        [p.feedback for p in result.parts]
    assert child_pids() <= before  # both lanes' workers stopped


def test_a_lane_whose_worker_cannot_start_is_a_grading_error(selftest, tmp_path, monkeypatch):
    """The grader's fault, raised where that part's result is asked for (``grader`` reports it
    as a grading error), never a hang or a student's zero."""
    start = runner.Worker.start

    def start_unless_uncached(self):
        if self.cfg["cache_dir"] is None and self.cfg["forbidden"]:  # the lane's worker, not the executor
            return runner.Failure("start", "no room for another worker")
        return start(self)

    monkeypatch.setattr(runner.Worker, "start", start_unless_uncached)
    with pytest.raises(engine.GraderError, match="no room for another worker"):
        two_lanes(selftest, tmp_path).grade(SOLUTION)


@pytest.mark.parametrize("configs, start", [
    (["a", "a", "b", "b"], 2),
    (["a", "b", "a"], 2),
    (["a", "b", "b", "c"], 3),
    (["a", "a", "a"], None),
    (["a"], None),
    ([], None),
])
def test_the_second_lane_takes_the_last_run_of_configurations(configs, start):
    as_configs = [({"helpers": c}, "cache") for c in configs]
    assert engine._second_lane_start(as_configs) == start

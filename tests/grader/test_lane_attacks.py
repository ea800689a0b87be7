"""Attacks on the second lane (``grader.engine._SecondLane``) and on ``Case.prepare``: what a
hostile submission, a failing part or an interruption in one lane may do to the other.

Every test grades the self-test's relu and sigmoid in the first lane and standardize, whose
cases are made timed ("cold", so its worker has another configuration), in the second lane
(as ``tests/grader/test_second_lane.py`` does), with the visible cases only where the attack
needs no more. Where an attack needs two threads to meet at one point, the test holds one of
them there (a rendezvous); the attack itself is the submission's.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time

import pytest

from grader import engine, runner

from .conftest import FIXTURES, LIMITS, SEED, SOLUTION, by_function, child_pids
from .two_lanes import PARTS, two_lanes

LANE_THREAD = "grader-lane"


def _write(tmp_path, name: str, extra: str, head: str = "") -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(head + SOLUTION.read_text() + "\n\n" + extra)
    return str(path)


def _in_lane() -> bool:
    return threading.current_thread().name.startswith(LANE_THREAD)


# -- 1. the shared jit executor ---------------------------------------------------------

# relu's jit case exports a program whose output (an empty array with a dimension above the
# protocol's cap) the parent cannot read: the parent then kills the executor.
UNREADABLE_UNDER_JIT = '''
def relu(z):
    if isinstance(z, jax.core.Tracer):  # traced for the jit case
        return jnp.zeros((0, 300_000_000), jnp.float32)
    return jnp.maximum(z, 0)
'''


class _OwnedLock:
    """``threading.Lock`` that knows which thread holds it (put in place of
    ``Grader._executor_lock``, so that a hook can tell whether the engine holds it)."""

    def __init__(self):
        self._lock, self.owner = threading.Lock(), None

    def acquire(self, *args, **kwargs) -> bool:
        got = self._lock.acquire(*args, **kwargs)
        if got:
            self.owner = threading.current_thread()
        return got

    def release(self) -> None:
        self.owner = None
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    __enter__ = acquire

    def __exit__(self, *exc) -> None:
        self.release()


def test_an_unreadable_executor_reply_in_one_lane_costs_only_that_part(selftest, tmp_path,
                                                                        monkeypatch):
    """relu's jit program sends back a reply the parent cannot read (first lane) while
    standardize's jit case (second lane) is served by the executor. Only relu may lose its
    point: standardize is correct and must pass, and the grading must end normally.

    Found (fixed: the whole exchange, the kill included, now holds the lock): ``send`` in
    ``Grader._grade_part`` killed the executor after a ``ProtocolError`` *outside*
    ``_executor_lock``, while the other lane may be using it already:
    ``Worker.kill`` closes the file descriptors and removes the temporary folder of the
    executor the other lane is talking to (or restarting). Seen without any hook (3 runs of
    the same grading): the correct part got "Grading error ... OSError: [Errno 9] Bad file
    descriptor" twice; once the whole grading raised ``GraderError: the grader could not
    start its worker process: [Errno 2] No such file or directory: '/tmp/jaxdl-grader-...'``
    (``grader submit`` then exits 1, "the grader could not run"). The hooks below only make
    the two lanes meet there every time: standardize's jit case waits at the executor's lock
    while relu's runs, and relu's reply is read once standardize's request has begun."""
    grader = two_lanes(selftest, tmp_path)
    grader._executor_lock = lock = _OwnedLock()
    relu_in_executor, lane_at_executor, lane_in_executor = (threading.Event() for _ in range(3))
    request, ready, parse = runner.Worker.request, engine._Ahead.executor_ready, engine.protocol.parse_reply
    held = []

    def request_met(self, header, *args, **kwargs):
        if header.get("op") == "run_exported":
            if _in_lane():
                lane_in_executor.set()
            elif not relu_in_executor.is_set():  # relu's: once standardize's waits behind it
                relu_in_executor.set()
                lane_at_executor.wait(60)
        return request(self, header, *args, **kwargs)

    def ready_met(self):
        if _in_lane():  # standardize's jit case: at the lock while relu's runs
            lane_at_executor.set()
            relu_in_executor.wait(60)
        return ready(self)

    def parse_met(header, blobs, op):
        if op == "run_exported" and not _in_lane() and not held:
            held.append(lock.owner is threading.current_thread())
            if not held[0]:  # read outside the lock: standardize's request begins meanwhile
                lane_in_executor.wait(10)
        return parse(header, blobs, op)

    monkeypatch.setattr(runner.Worker, "request", request_met)
    monkeypatch.setattr(engine._Ahead, "executor_ready", ready_met)
    monkeypatch.setattr(engine.protocol, "parse_reply", parse_met)
    result = grader.grade(_write(tmp_path, "unreadable_under_jit", UNREADABLE_UNDER_JIT))
    parts = by_function(result)
    assert relu_in_executor.is_set() and lane_at_executor.is_set()  # the lanes did meet
    assert parts["relu"].score == 0 and "could not read" in parts["relu"].feedback, \
        parts["relu"].feedback
    assert parts["standardize"].status == "graded" and parts["standardize"].passed, \
        parts["standardize"].feedback
    assert parts["sigmoid"].passed, parts["sigmoid"].feedback


# -- 2. a lane that is done must not keep the submission's code running ------------------

# Leaves a thread behind that keeps computing after the call returned (once per worker).
SPINNER = '''
import threading as _spin_threading

def _spin():
    while True:
        pass

def _leave_spinner():
    if not any(t.name == "spin" for t in _spin_threading.enumerate()):
        _spin_threading.Thread(target=_spin, name="spin", daemon=True).start()

def {fn}(*args):
    _leave_spinner()
    return _{fn}(*args)
'''


@pytest.mark.parametrize("done_first, still_running", [("sigmoid", "standardize"),
                                                      ("standardize", "sigmoid")])
def test_a_lane_that_is_done_leaves_no_student_code_running(selftest, tmp_path, monkeypatch,
                                                            done_first, still_running):
    """Once a lane's parts are graded, its worker (the student's code) must not keep computing
    while the other lane is still being graded: nothing counts that processor time (a limit
    counts a worker's time during its own requests only), and it is taken from the other
    lane's calls and, in ``grader serve``, from other students' gradings. With one lane the
    worker of a run of parts is stopped as soon as the next part needs another configuration
    (``_Relay.use``), and after the last part.

    Found (fixed: each lane's worker now stops after its last part): both lanes' workers
    lived until ``grade`` ended (``relay.current`` while the main
    thread waits in ``_SecondLane.result``; ``_SecondLane.worker`` until ``_SecondLane.close``).
    A submission's ``sigmoid`` (or ``standardize``) that starts a busy thread and returns the
    right answer keeps one core busy for the rest of the grading: measured 0.5 to 1 s of
    processor time per second while the other lane was graded (a student can do the same
    with processes, limited only by the worker's cgroup share)."""
    grader = two_lanes(selftest, tmp_path, hidden=False)
    fn = done_first
    source = _write(tmp_path, f"spinner_in_{fn}",
                    f"_{fn} = {fn}\n" + SPINNER.replace("{fn}", fn))
    workers: dict = {}
    finished = threading.Event()
    burned: list[float] = []
    grade_part = engine.Grader._grade_part

    def watched(self, worker, pc, *args, **kwargs):
        name = pc.part.function
        if name == still_running:
            # Begins once the other lane's last part is graded: its worker is idle from now on.
            assert finished.wait(120)
            idle = workers[done_first]
            time.sleep(1.0)  # time to save its compiled programs and stop it
            before = idle._cpu_seconds() if idle.alive else 0.0
            time.sleep(1.0)
            after = idle._cpu_seconds() if idle.alive else before
            burned.append(after - before)
        workers[name] = worker
        try:
            return grade_part(self, worker, pc, *args, **kwargs)
        finally:
            if name == done_first:
                finished.set()

    monkeypatch.setattr(engine.Grader, "_grade_part", watched)
    result = grader.grade(source)
    assert all(p.passed for p in result.parts), [p.feedback for p in result.parts]
    assert burned and burned[0] < 0.2, (
        f"the finished lane's worker used {burned[0]:.2f} s of processor time in 1 s while "
        "the other lane was graded")


# -- 3. Case.prepare: a reference that fails ahead -------------------------------------


def test_a_reference_that_fails_ahead_is_a_grading_error_not_a_zero(selftest):
    """``prepare`` is the parent's answer-independent work (the replay of the documented
    training loop); the course's validators call the same cached function again
    (``training_replay.replayer``). When it raises, the grader failed, whatever the student
    returned: the part is a grading error, its point withheld.

    Found: ``Grader._run_case`` left the failure to ``validate`` (``_Ahead.prepared``
    ignored it), where any exception but ``VALIDATOR_FAULTS`` is taken for the student's
    result being malformed: a correct relu scored 0 with "the result could not be checked
    (RuntimeError: ...)". Now ``_Ahead.prepared`` raises it. JAX's own runtime errors in the parent (``XlaRuntimeError``,
    "RESOURCE_EXHAUSTED" included) are runtime errors (``RuntimeError`` subclasses)."""
    calls: list[str] = []

    def reference():
        calls.append("reference")
        raise RuntimeError("RESOURCE_EXHAUSTED: the reference replay ran out of memory")

    def validate(out) -> str | None:
        reference()  # the verdict compares the student's run with the reference's
        return None if out is not None else "no result"

    parts = tuple(p for p in selftest.parts if p.function == "relu")
    grader = engine.Grader(dataclasses.replace(selftest, parts=parts), seed=SEED, hidden=False,
                           overrides=LIMITS)
    for pc in grader.cases():
        pc.cases = [(dataclasses.replace(c, prepare=reference, validate=validate), n)
                    for c, n in pc.cases]
    relu = by_function(grader.grade(SOLUTION))["relu"]
    assert calls == ["reference"]  # ahead; its failure ends the part before validate
    assert relu.status == "error" and "Grading error" in relu.feedback, (relu.status, relu.feedback)


# -- 4. attacks that did not break it (the safe outcome, kept) ---------------------------

# Loads only where there is no compile cache (the second lane's worker: standardize's cases
# are timed), and standardize then never returns.
LOADS_IN_THE_SECOND_LANE_ONLY = '''
import time
import jax

if jax.config.jax_compilation_cache_dir:  # the first lane's worker: fails, a little later
    time.sleep(2.0)
    raise RuntimeError("not in this worker")
'''
HANGS = '''
def standardize(X):
    time.sleep(600)
'''


def test_a_file_the_first_lane_cannot_load_stops_the_second_lanes_call(selftest, tmp_path):
    """The first lane's first load fails while the second lane, where the same file loads, is
    in a call that would hang until its wall-clock limit (24 s here): every part scores 0 with
    the first lane's reason, at once (as with one lane), and no process is left."""
    before = child_pids()
    source = _write(tmp_path, "loads_in_lane_two_only", HANGS, head=LOADS_IN_THE_SECOND_LANE_ONLY)
    calls: list[str] = []
    request = runner.Worker.request

    def watched(self, header, *args, **kwargs):
        if header.get("op") == "call" and _in_lane():
            calls.append(header["fn"])
        return request(self, header, *args, **kwargs)

    t0 = time.monotonic()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runner.Worker, "request", watched)
        result = two_lanes(selftest, tmp_path).grade(source)
    assert time.monotonic() - t0 < 20  # not the hanging call's 24 s backstop
    assert calls == ["standardize"]  # the second lane was in its call
    assert [p.function for p in result.parts] == list(PARTS)
    assert all(p.score == 0 and p.status == "graded" and "RuntimeError while loading" in p.feedback
               for p in result.parts), [p.feedback for p in result.parts]
    assert child_pids() <= before
    assert not [t for t in threading.enumerate() if t.name.startswith(("grader-", LANE_THREAD))]


class _Interrupted(BaseException):
    """What a signal handler raises in the main thread (Jupyter's KeyboardInterrupt, say)."""


def _signal_after(event: threading.Event, seconds: float) -> None:
    """SIGUSR1 to this process ``seconds`` after ``event`` (at most 60 s after the call)."""
    event.wait(60)
    time.sleep(seconds)
    os.kill(os.getpid(), signal.SIGUSR1)


def test_an_interrupt_while_the_second_lane_hangs_stops_everything(selftest, tmp_path):
    """An exception from a signal handler reaches ``grade`` in the main thread (waiting for
    the second lane's result) while the second lane's call hangs: it propagates at once, and
    no worker process or grading thread is left."""
    before = child_pids()
    source = _write(tmp_path, "lane_two_hangs", "import time\n" + HANGS)
    lane_called = threading.Event()
    grader = two_lanes(selftest, tmp_path, hidden=False)
    grade_part = engine.Grader._grade_part

    def interrupt(*_):
        raise _Interrupted

    def watched(self, worker, pc, *args, **kwargs):
        if pc.part.function == "standardize":
            lane_called.set()
        return grade_part(self, worker, pc, *args, **kwargs)

    old = signal.signal(signal.SIGUSR1, interrupt)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(engine.Grader, "_grade_part", watched)
            timer = threading.Thread(target=_signal_after, args=(lane_called, 2.0))
            timer.start()
            t0 = time.monotonic()
            with pytest.raises(_Interrupted):
                grader.grade(source)
            elapsed = time.monotonic() - t0
            timer.join()
    finally:
        signal.signal(signal.SIGUSR1, old)
    assert elapsed < 20  # not the hanging call's 24 s backstop
    assert child_pids() <= before
    assert not [t for t in threading.enumerate() if t.name.startswith(("grader-", LANE_THREAD))]


# Hostile second-lane code (with the in-process fence off): the call prints, signals every
# process of its sandbox it may, then kills itself.
ENDS_ITS_SANDBOX = '''
import os, signal

def standardize(X):
    print("x" * 4096 * 64)
    try:
        os.kill(-1, signal.SIGKILL)  # every process of its sandbox it may signal
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGKILL)
'''


def test_a_second_lane_that_ends_its_sandbox_costs_only_its_part(selftest, tmp_path):
    fence_off = (FIXTURES / "hostile" / "fence_off.py").read_text()  # the OS sandbox only
    result = two_lanes(selftest, tmp_path, hidden=False).grade(
        _write(tmp_path, "ends_its_sandbox", fence_off + "\n" + ENDS_ITS_SANDBOX))
    parts = by_function(result)
    assert parts["relu"].passed and parts["sigmoid"].passed, [p.feedback for p in result.parts]
    assert parts["standardize"].score == 0 and parts["standardize"].status == "graded"
    assert "visible case 1" in parts["standardize"].feedback, parts["standardize"].feedback

"""Red-team round on three mechanisms: time limits that count the worker's processor time
(``grader.runner.Worker.request``, ``grader.processes.tree_cpu_seconds``), the notebook's
``grader`` stand-in (``grader.nbexec._grader_stand_in``, its ``__import__``), and the notebook
load's timer and output cap (``grader.nbexec.run_cells``).

One test per attack, each asserting the safe outcome. Five attacks worked when this round was
written and were fixed: children reaped by the kernel (SIGCHLD ignored) and processor time
banked while loading escaped the /proc count (now the worker's control group's running total,
``cgroups.Group.cpu_seconds``); output crossing the cap just before a reply (now checked once
the reply has arrived); the notebook load timer in wall-clock time (now ``ITIMER_PROF``, with
a wall-clock backstop); a file within the code limit refused by the worker's request-header cap
(now ``protocol.REQUEST_HEADER_BYTES``). Submissions are the self-test reference solution plus a snippet of
``fixtures/hostile/redteam_*.py`` (after ``fence_off``, for the attacks that need processes:
only the OS sandbox is then in the way), or small notebooks built here; only ``relu`` (and,
for the output race, ``standardize``) is graded, on its visible case, with small limits.

The processor-time attacks are told apart by the feedback: a call stopped for its processor
time says "an infinite loop, a hang, or far too much work", one stopped by the wall-clock
backstop says "it waited ... without doing that much work". Once the accounting is fixed,
telling them apart needs the worker to get more than 1 / ``WAIT_SLACK`` of a processor, as
for every processor-time limit: on a machine loaded far beyond its cores a computing call is
reported as waiting.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import threading
import time

import nbformat
import pytest

from grader import engine

from .conftest import FIXTURES, LIMITS, SEED, SOLUTION, by_function, child_pids


def _only(selftest, *functions):
    return dataclasses.replace(selftest, parts=tuple(p for p in selftest.parts
                                                     if p.function in functions))


def _grade(assignment, path, **overrides):
    t0 = time.monotonic()
    result = engine.grade(assignment, path, seed=SEED, hidden=False,
                          overrides=dict(LIMITS, **overrides))
    return by_function(result), time.monotonic() - t0


# ------------------------------------------------------ 1. processor-time limits

CLASSMATE = '''
import time as _time


def relu(z):
    """Correct; computes for 0.5 s of processor time first (half its 1 s limit)."""
    t = _time.process_time()
    while _time.process_time() - t < 0.5:
        pass
    return jnp.maximum(z, 0)
'''


@pytest.fixture(scope="module")
def hog_and_classmate(selftest, submissions, tmp_path_factory):
    """A submission whose self-reaping children burn every processor they get (fixture
    ``redteam_cpu_escape``) graded at the same time as a correct classmate, as ``grader
    grade --jobs 2`` grades them."""
    relu_only = _only(selftest, "relu")
    hostile = submissions("fence_off", "redteam_cpu_escape", WIDTH=8, EACH=0.05)
    classmate = tmp_path_factory.mktemp("classmate") / "classmate.py"
    classmate.write_text(SOLUTION.read_text() + "\n\n" + CLASSMATE)
    before = child_pids()
    out: dict = {}

    def run(name, path, limit):
        try:
            out[name] = _grade(relu_only, path, time_per_call=limit)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, in the test's thread
            out[name] = exc

    threads = [threading.Thread(target=run, args=("hostile", hostile, 1.5)),
               threading.Thread(target=run, args=("classmate", classmate, 1.0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for value in out.values():
        if isinstance(value, BaseException):
            raise value
    return out, before


def _escaped(output: str) -> float:
    found = re.findall(r"ESCAPED ([0-9.]+)", output)
    return float(found[-1]) if found else 0.0


@pytest.mark.slow
def test_processor_time_of_self_reaping_children_counts_towards_the_limit(hog_and_classmate):
    out, _ = hog_and_classmate
    relu = out["hostile"][0]["relu"]
    assert relu.score == 0
    # Stopped for its processor time, not by the wall-clock backstop for a call that waits.
    assert "it waited" not in relu.feedback, (relu.feedback, _escaped(relu.output))


@pytest.mark.slow
def test_self_reaping_children_are_stopped_at_the_wall_clock_backstop(hog_and_classmate):
    """Whatever the accounting misses, nothing runs past three times the limit in wall-clock
    time, nothing becomes a grading error and nothing is left running."""
    out, before = hog_and_classmate
    parts, elapsed = out["hostile"]
    relu = parts["relu"]
    assert relu.score == 0 and relu.status == engine.GRADED, relu.feedback
    assert "did not finish within 1.5 s (the time limit) while running relu()" in relu.feedback
    assert elapsed < 40  # start-up and loading, then the call's 4.5 s backstop
    assert child_pids() <= before


@pytest.mark.slow
def test_a_classmate_graded_alongside_a_cpu_hog_still_passes(hog_and_classmate):
    """The hog's children get one worker's share of the processors (its CPU control group),
    so a correct classmate graded at the same time is not pushed past its wall-clock backstop."""
    out, _ = hog_and_classmate
    parts, _ = out["classmate"]
    relu = parts["relu"]
    assert relu.score == relu.points, (relu.feedback, _escaped(out["hostile"][0]["relu"].output))


def test_orphans_and_waited_for_children_count_towards_the_limit(selftest, submissions):
    """A grandchild orphaned by a double fork (adopted by the sandbox's first process) and
    children that exit and are waited for stay in the count: stopped for computing."""
    path = submissions("fence_off", "redteam_cpu_tree")
    parts, _ = _grade(_only(selftest, "relu"), path, time_per_call=1.0)
    relu = parts["relu"]
    assert relu.score == 0 and relu.status == engine.GRADED, relu.feedback
    assert "did not finish within 1 s (the time limit)" in relu.feedback
    assert "it waited" not in relu.feedback, relu.feedback


@pytest.mark.slow
def test_processor_time_banked_while_loading_is_not_given_back_to_a_call(selftest, submissions):
    path = submissions("fence_off", "redteam_cpu_banking", BANK=1.1)
    parts, _ = _grade(_only(selftest, "relu"), path, time_per_call=1.0)
    relu = parts["relu"]
    assert relu.score == 0
    assert "it waited" not in relu.feedback, relu.feedback


def test_output_past_the_hard_cap_just_before_the_reply_is_stopped(selftest, submissions):
    path = submissions("redteam_output_race")
    parts, _ = _grade(_only(selftest, "relu", "standardize"), path)
    for name in ("relu", "standardize"):
        p = parts[name]
        assert p.status == engine.GRADED and len(p.output) <= LIMITS.get("output_bytes", 16 * 1024) + 200
        assert p.score == 0 and "printed more than 1 MiB of output" in p.feedback, (name, p.feedback)


# ------------------------------------------------------ 2. and 3. notebooks

IMPORTS = "import jax\nimport jax.numpy as jnp"
RELU = "def relu(z):\n    return jnp.maximum(z, 0)"

ATTEMPTS = '''
import importlib
import os
import sys


def _try(name, fn):
    try:
        print("ATTACK", name, "SUCCEEDED", repr(fn())[:200])
    except BaseException as exc:  # noqa: BLE001
        print("ATTACK", name, "failed", type(exc).__name__, str(exc)[:200])
'''


def _notebook(tmp_path, name, *cells) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    path = tmp_path / f"{name}.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    return str(path)


def _attacks(output: str) -> dict[str, bool]:
    """``name -> succeeded`` for each ``ATTACK name SUCCEEDED|failed ...`` line."""
    return {m.group(1): m.group(2) == "SUCCEEDED"
            for m in re.finditer(r"^ATTACK (\S+) (SUCCEEDED|failed)", output, re.MULTILINE)}


def test_a_notebook_that_disables_the_load_timer_is_stopped_by_the_parent(selftest, tmp_path):
    """Blocking SIGALRM, ignoring it and cancelling the timer leave the parent's own limit:
    the load is stopped at the load limit plus its grace in processor time."""
    path = _notebook(tmp_path, "timer_off", IMPORTS, RELU,
                     "import signal\n"
                     "signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])\n"
                     "signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                     "signal.setitimer(signal.ITIMER_REAL, 0)\n"
                     "while True:\n    pass")
    parts, elapsed = _grade(_only(selftest, "relu"), path, load_seconds=0.5)
    relu = parts["relu"]
    assert relu.score == 0 and relu.status == engine.GRADED, relu.feedback
    assert "did not finish within" in relu.feedback and "while loading" in relu.feedback
    assert elapsed < 30


def test_a_notebook_that_catches_the_load_timeout_in_a_loop_is_stopped(selftest, tmp_path):
    """``LoadTimeout`` caught in a ``while True: try ... except BaseException`` loop: the cell
    runs on, and the parent stops the load."""
    path = _notebook(tmp_path, "catches", IMPORTS, RELU,
                     "while True:\n    try:\n        while True:\n            pass\n"
                     "    except BaseException:\n        pass\n    finally:\n        pass")
    parts, elapsed = _grade(_only(selftest, "relu"), path, load_seconds=0.5)
    relu = parts["relu"]
    assert relu.score == 0 and relu.status == engine.GRADED, relu.feedback
    assert "did not finish within" in relu.feedback and "while loading" in relu.feedback
    assert elapsed < 30


def _hogs(cpu: int, n: int) -> list[subprocess.Popen]:
    """``n`` busy processes on processor ``cpu`` (pinned once started: a ``preexec_fn`` would
    fork this process, whose JAX warns at every fork)."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    for h in hogs:
        os.sched_setaffinity(h.pid, {cpu})
    return hogs


def test_a_notebook_on_a_busy_machine_is_not_a_load_timeout(selftest, tmp_path):
    path = _notebook(tmp_path, "busy", IMPORTS, RELU,
                     "import time\nt = time.process_time()\n"
                     "while time.process_time() - t < 1.2:\n    pass")
    cpu = max(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    hogs = _hogs(cpu, 3)
    try:
        os.sched_setaffinity(0, {cpu})  # the worker inherits it
        parts, _ = _grade(_only(selftest, "relu"), path, load_seconds=2.0)
    finally:
        os.sched_setaffinity(0, before)
        for h in hogs:
            h.kill()
            h.wait()
    relu = parts["relu"]
    assert relu.score == relu.points, relu.feedback


def test_the_grader_stand_in_reaches_nothing_of_the_grader(selftest, tmp_path):
    """With the in-process fence off, every route from a notebook's ``import grader`` to the
    real package finds only the worker's own modules: no engine, course or notebook_check."""
    fence_off = (FIXTURES / "hostile" / "fence_off.py").read_text()
    path = _notebook(tmp_path, "stand_in", fence_off, IMPORTS, RELU, ATTEMPTS + '''
import grader
from grader import check

real = importlib.import_module("grader")  # the fence is off: the package's own __init__
folder = os.path.dirname(real.__file__)
_try("stand_in_is_more_than_check", lambda: [n for n in vars(grader) if not n.startswith("__")
                                             and n != "check"] or 1 / 0)
_try("check_returns_something", lambda: check("relu") or 1 / 0)
_try("import_engine", lambda: importlib.import_module("grader.engine"))
_try("real_check", lambda: real.check)
_try("engine_source", lambda: open(os.path.join(folder, "engine.py")).read(40))
_try("course_folder", lambda: os.listdir(os.path.join(folder, "course")))
_try("judge_via_globals", lambda: check.__globals__["sys"].modules["grader.judge"])
_try("parent_process", lambda: [p for p in os.listdir("/proc") if p.isdigit() and int(p) > 2]
                               or 1 / 0)
''')
    parts, _ = _grade(_only(selftest, "relu"), path)
    relu = parts["relu"]
    attacks = _attacks(relu.output)
    assert len(attacks) == 8, relu.output
    assert not any(attacks.values()), relu.output
    assert relu.score == relu.points, relu.feedback  # the honest relu, unaffected


def test_every_other_import_of_grader_is_refused_in_a_notebook(selftest, tmp_path):
    """Only ``import grader`` and ``from grader import check`` give the stand-in; a module
    the worker itself has loaded (``grader.worker``, ``grader.nbexec``) is refused by every
    route, and the part scores 0 naming the import."""
    path = _notebook(tmp_path, "other_imports", IMPORTS, RELU, ATTEMPTS + '''
_try("dotted", lambda: __import__("grader.worker"))
_try("check_and_more", lambda: __import__("grader", fromlist=["check", "nbexec"]))
_try("star", lambda: exec("from grader import *", {}))
_try("importlib_package", lambda: importlib.import_module("grader"))
_try("importlib_worker", lambda: importlib.import_module("grader.worker"))
''')
    parts, _ = _grade(_only(selftest, "relu"), path)
    relu = parts["relu"]
    attacks = _attacks(relu.output)
    assert len(attacks) == 5, relu.output
    assert not any(attacks.values()), relu.output
    assert relu.score == 0 and "imports 'grader'" in relu.feedback, relu.feedback


@pytest.mark.parametrize("kind", ["notebook", "non_ascii_py"])
def test_a_file_within_the_code_limit_is_loaded(selftest, tmp_path, kind):
    if kind == "notebook":
        path = _notebook(tmp_path, "big", SOLUTION.read_text(),
                         "DATA = " + repr("x" * (2200 * 2**10)))
    else:
        path = tmp_path / "big.py"
        path.write_text(SOLUTION.read_text() + "\n" + ("# " + "\u03b1" * 60 + "\n") * 12000,
                        encoding="utf-8")
    parts, _ = _grade(_only(selftest, "relu"), path)
    relu = parts["relu"]
    assert relu.score == relu.points, relu.feedback


def test_output_around_the_notebook_cap_still_meets_the_grader_cap(selftest, tmp_path):
    """Output that goes around the cells' capped ``sys.stdout`` (``sys.__stdout__``, the
    stream's buffer, ``os.write``) is stopped by the grader's own cap while loading; the
    report keeps a bounded record and no grading error follows."""
    path = _notebook(tmp_path, "around_cap", IMPORTS, RELU,
                     "import os, sys, time\nline = 'x' * 65535 + '\\n'\n"
                     "for i in range(48):\n"
                     "    [sys.__stdout__.write, lambda s: sys.stdout.buffer.write(s.encode()),\n"
                     "     lambda s: os.write(1, s.encode())][i % 3](line)\n"
                     "    sys.__stdout__.flush()\n"
                     "    time.sleep(0.02)")
    parts, _ = _grade(_only(selftest, "relu"), path)
    relu = parts["relu"]
    assert relu.score == 0 and relu.status == engine.GRADED, relu.feedback
    assert "printed more than 1 MiB of output while loading" in relu.feedback, relu.feedback
    assert len(relu.output) <= 16 * 1024 + 200

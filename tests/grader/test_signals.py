"""Interrupted grading: SIGINT, SIGTERM and SIGHUP to a real ``grader`` process.

Each test starts the grader as a subprocess on submissions whose graded functions never
return, waits until a worker is running that student code (the worker's output log, found
through ``/proc/<pid>/fd/1``, holds the marker the looping function prints), sends the signal,
and checks the exit status (128 + the signal), what was written, and that no process of the
grading is alive 2 s after the signal: every descendant of the grader seen while it ran (pid
and start time, so a recycled pid does not count), and every process whose command line
names this test's private cache folder (each worker's does; so do its forked children).

Each runs twice: with the OS sandbox (where the machine has it; a sandbox also dies with the
grader) and with the in-process fence only (``GRADER_SANDBOX=off``: workers are plain
processes in their own sessions, which only the grader's signal handling can stop).
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import build_source

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

MARKER = "STUDENT-CODE-LOOPING"

# Every graded function of the self-test prints the marker, tries to start a helper process
# (refused by the fence today; inside a sandbox it may succeed, and must die too), then waits
# for ever. It sleeps rather than spins: a process that computes dies the same way, and the
# spinning pairs took the suite's two cores from the gradings these tests wait for (and from
# the other tests running beside them).
LOOP = f'''

import os as _os
import time as _time


def _spin(*args, **kwargs):
    print("{MARKER}", flush=True)
    try:
        _os.fork()
    except BaseException:
        pass
    while True:
        _time.sleep(0.05)


relu = relu_backward = sigmoid = sample_normal = standardize = train_logistic = _spin
'''


# -- /proc helpers ----------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, start time) of a process, or None if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    return fields[0].decode(), int(fields[1]), int(fields[19])


def _pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _descendants(root: int) -> dict[int, int]:
    """Live descendants of ``root``: pid -> start time."""
    children: dict[int, list[tuple[int, int]]] = {}
    for pid in _pids():
        st = _stat(pid)
        if st is not None and st[0] != "Z":
            children.setdefault(st[1], []).append((pid, st[2]))
    out, todo = {}, [root]
    while todo:
        for pid, start in children.get(todo.pop(), []):
            if pid not in out:
                out[pid] = start
                todo.append(pid)
    return out


def _alive(pid: int, start: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] != "Z" and st[2] == start


def _cpu_seconds(pid: int) -> float:
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
        return int(data[data.rindex(b")") + 2:].split()[11]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def _logs_of_looping_workers(procs: dict[int, int]) -> set[str]:
    """Output logs (one per worker) that show the marker, among ``procs``' stdout files.

    Should a worker's stdout ever stop being a file (a pipe), a worker that has used 4 s of
    CPU counts instead (JAX's start-up takes about 1 s), named ``pid:<pid>``.
    """
    logs = set()
    for pid in procs:
        if "grader.worker" not in _cmdline(pid):
            continue
        try:
            target = os.readlink(f"/proc/{pid}/fd/1")
            if target.startswith("/"):
                if MARKER in Path(target).read_text(errors="replace"):
                    logs.add(target)
            elif _cpu_seconds(pid) >= 4.0:
                logs.add(f"pid:{pid}")
        except OSError:
            continue
    return logs


# ``python -m grader.cli``, except that the signals start at their default action: a test run
# as a background job inherits SIGINT ignored, and the grader leaves an ignored signal alone.
# (No preexec_fn: forking the test process, which may have JAX loaded, is unsafe.)
_MAIN = ("import signal, sys\n"
         "for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):\n"
         "    signal.signal(s, signal.SIG_DFL)\n"
         "{ignore}"
         "from grader.cli import main\n"
         "sys.exit(main(sys.argv[1:]))\n")


class Grading:
    """A ``grader`` subprocess, the processes it started, and clean-up if a test fails."""

    def __init__(self, tmp_path: Path, *argv: str, env_extra: dict[str, str] | None = None,
                 ignore: str = ""):
        self.tag = str(tmp_path)
        env = {k: v for k, v in os.environ.items() if not k.startswith("XLA")}
        env.pop("GRADER_SANDBOX", None)
        env.update(env_extra or {})
        env["JAXDL_GRADER_CACHE"] = str(tmp_path / "cache")  # in every worker's command line
        self.stdout = (tmp_path / "stdout.txt").open("w+")
        self.stderr = (tmp_path / "stderr.txt").open("w+")

        self.t0 = time.monotonic()
        main = _MAIN.format(ignore=f"signal.signal(signal.{ignore}, signal.SIG_IGN)\n"
                                   if ignore else "")
        self.proc = subprocess.Popen([sys.executable, "-c", main, *argv], env=env,
                                     stdout=self.stdout, stderr=self.stderr,
                                     stdin=subprocess.DEVNULL)
        self.seen: dict[int, int] = {}

    def snapshot(self) -> dict[int, int]:
        now = _descendants(self.proc.pid)
        self.seen.update(now)
        return now

    def wait_for_looping_workers(self, n: int, timeout: float = 120.0) -> float:
        """Wait until ``n`` different workers run the looping code; seconds it took."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the grader ended early: {self.output()}"
            if len(_logs_of_looping_workers(self.snapshot())) >= n:
                return time.monotonic() - self.t0
            time.sleep(0.1)
        raise AssertionError(f"no {n} looping workers within {timeout} s: {self.output()}")

    def interrupt(self, sig: int) -> tuple[int, float]:
        """Send ``sig``; (exit status, seconds until the grader exited)."""
        self.snapshot()
        t = time.monotonic()
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=60)
        self.signalled_at = t
        return code, time.monotonic() - t

    def leftovers(self) -> list[str]:
        """Processes of this grading still alive 2 s after the signal."""
        time.sleep(max(0.0, self.signalled_at + 2.0 - time.monotonic()))
        left = {pid for pid, start in self.seen.items() if _alive(pid, start)}
        for pid in _pids():
            st = _stat(pid)
            if st is not None and st[0] != "Z" and self.tag in _cmdline(pid):
                left.add(pid)
        return [f"{pid}: {_cmdline(pid)[:200]}" for pid in sorted(left)]

    def output(self) -> str:
        out = []
        for f in (self.stdout, self.stderr):
            f.flush()
            f.seek(0)
            out.append(f.read())
        return "\n".join(out)

    def cleanup(self) -> None:
        """Whatever happened in the test, leave nothing running on the shared machine."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid, start in list(self.seen.items()):
            if _alive(pid, start):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for pid in _pids():
            if self.tag in _cmdline(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.stdout.close()
        self.stderr.close()


@pytest.fixture(params=["sandbox", "fence"])
def grading(request, tmp_path):
    """``start(*argv) -> Grading``, with the OS sandbox or with the in-process fence only."""
    env_extra = {}
    if request.param == "sandbox":
        from grader import runner

        try:
            if runner.isolation_mode("auto") != "sandbox":
                pytest.skip("no working OS sandbox (bubblewrap) on this machine")
        except AttributeError:
            pytest.skip("this grader has no OS sandbox")
    else:
        env_extra["GRADER_SANDBOX"] = "off"
    started: list[Grading] = []

    def start(*argv: str, ignore: str = "") -> Grading:
        g = Grading(tmp_path, *argv, env_extra=env_extra, ignore=ignore)
        g.isolation = request.param
        started.append(g)
        return g

    yield start
    for g in started:
        g.cleanup()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],
                         ids=["SIGTERM", "SIGINT", "SIGHUP"])
def test_signal_to_submit_kills_the_looping_worker(tmp_path, grading, sig):
    sub = tmp_path / "loops.py"
    sub.write_text(build_source() + LOOP)
    out_json = tmp_path / "results.json"
    g = grading("submit", "selftest/basics", "--file", str(sub), "--json", str(out_json),
                "--seed", "3")
    waited = g.wait_for_looping_workers(1)
    # The worker's temporary folder (its output log's folder) must not outlive the grading.
    tmp_dirs = {Path(log).parent for log in _logs_of_looping_workers(g.snapshot())}
    code, took = g.interrupt(sig)
    left = g.leftovers()
    text = g.output()
    print(f"submit ({g.isolation}), {signal.Signals(sig).name}: student code looping "
          f"{waited:.1f} s after the start, exit {took:.2f} s after the signal")
    assert code == 128 + sig, text
    assert left == [], left
    assert f"interrupted by {signal.Signals(sig).name}" in " ".join(text.split())
    assert "Traceback" not in text
    assert not out_json.exists()  # a partial score is never written as if it were final
    assert tmp_dirs and not any(d.exists() for d in tmp_dirs if str(d).startswith("/tmp"))
    assert took < 15


def test_an_ignored_signal_stays_ignored(tmp_path, grading):
    """``nohup grader ...``: SIGHUP was ignored by the caller, so grading goes on."""
    sub = tmp_path / "loops.py"
    sub.write_text(build_source() + LOOP)
    g = grading("submit", "selftest/basics", "--file", str(sub), ignore="SIGHUP")
    g.wait_for_looping_workers(1)
    g.proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    assert g.proc.poll() is None and _logs_of_looping_workers(g.snapshot())
    code, _ = g.interrupt(signal.SIGTERM)
    assert code == 143, g.output()
    assert g.leftovers() == []


def test_sigint_to_grade_writes_every_row(tmp_path, grading):
    folder = tmp_path / "subs"
    folder.mkdir()
    # With --jobs 2: a and b start; a finishes, c starts; c finishes, d starts. b loops in every
    # part (about 10 s each), so once two workers loop at once, a and c are graded.
    (folder / "a_ok.py").write_text(build_source())
    (folder / "b_loops.py").write_text(build_source() + LOOP)
    (folder / "c_ok.py").write_text(build_source())
    (folder / "d_loops.py").write_text(build_source() + LOOP)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "grades.csv"
    g = grading("grade", "selftest/basics", str(folder), "--out", str(out), "--jobs", "2",
                "--seed", "5")
    waited = g.wait_for_looping_workers(2)
    code, took = g.interrupt(signal.SIGINT)
    left = g.leftovers()
    text = g.output()
    print(f"grade --jobs 2 ({g.isolation}): two workers looping {waited:.1f} s after the start, "
          f"exit {took:.2f} s after SIGINT")
    assert code == 130, text
    assert left == [], left
    assert "Traceback" not in text
    with out.open() as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"a_ok.py", "b_loops.py", "c_ok.py", "d_loops.py"}
    for name in ("a_ok.py", "c_ok.py"):
        assert (rows[name]["status"], rows[name]["score"], rows[name]["max_score"]) == \
            ("graded", "7", "7"), rows[name]
    for name in ("b_loops.py", "d_loops.py"):
        assert rows[name]["status"] == "not graded (interrupted)", rows[name]
        assert rows[name]["score"] == "" and "interrupted" in rows[name]["note"]
    assert all(r["seed"] == "5" for r in rows.values())
    assert "grades.csv" in [p.name for p in out_dir.iterdir()]
    assert not [p for p in out_dir.rglob(".*")], "a temporary file was left"
    summary = " ".join(text.split())
    assert "Graded 2 of 4 submissions" in summary and "2 not graded (interrupted)" in summary
    assert took < 15

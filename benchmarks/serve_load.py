"""``grader serve`` under load: 200 students submit within a minute and poll their status.

A real ``grader serve`` (uvicorn, SQLite file, ``--workers 2`` grading in the OS sandbox) on
a loopback port, with the built-in course and ``examples/my_course``; a roster of 200
students imported with the real ``grader roster import``. Each student submits one file at a
random moment of a 60 s window, then asks for its status as ``grader submit`` does (every
:func:`grader.serve.client.poll_interval` seconds: 1 s while running or next in the queue,
up to 3 s further back) until it is graded. The files, by student number modulo 5:

- 0, 1: ``selftest/basics``, the reference solution (correct: must score full marks);
- 2: ``hw1/sigmoid`` with a mistake from its ``mistakes.py`` (buggy: must lose points and
  name the mistake);
- 3: ``hw1/sigmoid``, the reference solution (correct);
- 4: ``selftest/basics``, the reference solution with an attack of the sandbox's suite
  appended (``tests/grader/fixtures/hostile``: ``os._exit``, ``sys.exit``,
  ``KeyboardInterrupt``, a 64 GiB allocation; hostile: must be graded, not crash anything).

Reported: the latency of ``GET /api/submissions/{id}`` while grading runs (median, p99;
target: p99 at most 200 ms), of the uploads, the web server process's CPU time per request
(its own, not the grading workers'), and the time per graded submission (from the first
upload to the last result: submissions graded per minute). Checked, or the benchmark
fails: every upload answered 202, every submission graded exactly once (one job, one claim,
one stored result), none lost, and the scores above. ``--quick``: 3 students (one of each
kind, all on ``hw1/sigmoid``), 1 worker, a 1 s window: a smoke test, not a measurement.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks._harness import ROOT, Result

NAME = "serve_load"
TITLE = "grader serve: students submitting and polling while grading runs"

STUDENTS, QUICK_STUDENTS = 200, 3
WINDOW_SECONDS, QUICK_WINDOW_SECONDS = 60.0, 1.0
WORKERS, QUICK_WORKERS = 2, 1
P99_TARGET_SECONDS = 0.200
TIMEOUT_SECONDS = 3600.0

COURSE = ROOT / "examples" / "my_course"
HOSTILE = ROOT / "tests" / "grader" / "fixtures" / "hostile"
BASICS, SIGMOID = "selftest/basics", "hw1/sigmoid"
BASICS_ATTACKS = ("os_exit", "sys_exit", "keyboard_interrupt", "memory_bomb")
SIGMOID_ATTACKS = ("import_exit",)


@dataclass(frozen=True)
class Upload:
    kind: str  # correct / buggy / hostile
    assignment: str
    content: bytes
    mistake: str | None = None  # the message a buggy file must get


def _solution(assignment_id: str) -> str:
    from grader import registry

    return registry.load(assignment_id).solution_path.read_text()


def _files(quick: bool, n: int) -> list[Upload]:
    """Student i's file (see the module docstring)."""
    from grader import registry

    registry.use_course(COURSE)
    try:
        basics, sigmoid = _solution(BASICS), _solution(SIGMOID)
        mistakes = list(registry.mistakes(SIGMOID).values())
    finally:
        registry.reset_courses()

    def attack(base: str, names, i: int) -> bytes:
        return (base + "\n\n" + (HOSTILE / f"{names[i % len(names)]}.py").read_text()).encode()

    def buggy(i: int) -> Upload:
        m = mistakes[i % len(mistakes)]
        return Upload("buggy", SIGMOID, (sigmoid + "\n\n" + m.source).encode(), m.message)

    if quick:
        kinds = [lambda i: Upload("correct", SIGMOID, sigmoid.encode()), buggy,
                 lambda i: Upload("hostile", SIGMOID, attack(sigmoid, SIGMOID_ATTACKS, i))]
    else:
        kinds = [lambda i: Upload("correct", BASICS, basics.encode()),
                 lambda i: Upload("correct", BASICS, basics.encode()),
                 buggy,
                 lambda i: Upload("correct", SIGMOID, sigmoid.encode()),
                 lambda i: Upload("hostile", BASICS, attack(basics, BASICS_ATTACKS, i // 5))]
    return [kinds[i % len(kinds)](i) for i in range(n)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _grader(*args: str) -> list[str]:
    return [sys.executable, "-m", "grader.cli", *args]


def _roster(tmp: Path, db: Path, n: int) -> list[str]:
    """``grader roster import`` of students s000..; their tokens, in order."""
    roster, tokens = tmp / "roster.csv", tmp / "tokens.csv"
    roster.write_text("student_id,email\n"
                      + "".join(f"s{i:03d},s{i:03d}@example.org\n" for i in range(n)))
    proc = subprocess.run(_grader("roster", "import", str(roster), "--db", str(db),
                                  "--tokens-out", str(tokens)),
                          capture_output=True, text=True, cwd=ROOT, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"grader roster import failed:\n{proc.stderr}")
    rows = dict(line.split(",", 1) for line in tokens.read_text().strip().splitlines()[1:])
    return [rows[f"s{i:03d}"] for i in range(n)]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (its threads included, its children
    not: the grading workers are children), from ``/proc`` (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _students(url: str, tokens: list[str], files: list[Upload], window: float,
                    seed: int = 0):
    """Every student's upload and polls; returns (uploads, polls, finals, retries):
    ``uploads`` the (status code, seconds, id) of each POST, ``polls`` the seconds of every
    status GET (a GET whose connection failed is sent again, at most twice; its time
    counts), ``finals`` each submission's last view, ``retries`` one entry per GET sent
    again."""
    import httpx

    from grader.serve.client import poll_interval

    rng = random.Random(seed)
    starts = sorted(rng.uniform(0, window) for _ in tokens)
    uploads: list[tuple[int, float, int | None]] = [(0, 0.0, None)] * len(tokens)
    polls: list[float] = []
    finals: dict[int, dict] = {}
    retries: list[int] = []
    t0 = time.monotonic()

    async def student(i: int) -> None:
        # Each student its own client and connection (kept alive between polls).
        async with httpx.AsyncClient(base_url=url, timeout=60,
                                     limits=httpx.Limits(max_connections=1)) as http:
            await asyncio.sleep(max(0.0, t0 + starts[i] - time.monotonic()))
            auth = {"Authorization": f"Bearer {tokens[i]}"}
            f = files[i]
            t = time.perf_counter()
            r = await http.post("/api/submissions", headers=auth, data={"assignment": f.assignment},
                                files={"file": (f"s{i:03d}.py", f.content, "text/x-python")})
            sid = r.json().get("id") if r.status_code == 202 else None
            uploads[i] = (r.status_code, time.perf_counter() - t, sid)
            if sid is None:
                return
            deadline = time.monotonic() + TIMEOUT_SECONDS
            body = r.json()
            while time.monotonic() < deadline:
                await asyncio.sleep(poll_interval(body))
                t = time.perf_counter()
                for attempt in range(3):
                    try:
                        r = await http.get(f"/api/submissions/{sid}", headers=auth)
                        break
                    except httpx.TransportError:
                        # A GET is safe to repeat; the usual cause is the keep-alive race
                        # (the server closed the idle connection as the request left).
                        retries.append(sid)
                        if attempt == 2:
                            raise
                polls.append(time.perf_counter() - t)  # retries included
                body = r.json() if r.status_code == 200 else {"status": f"HTTP {r.status_code}"}
                if body["status"] not in ("queued", "running"):
                    finals[sid] = body
                    return

    await asyncio.gather(*(student(i) for i in range(len(tokens))))
    return uploads, polls, finals, retries


def _check(db: Path, files: list[Upload], uploads, finals, log_text: str) -> list[str]:
    """The exactly-once and scoring checks; returns the problems found (none: [])."""
    import sqlite3

    problems = []
    bad = [(i, code) for i, (code, _, _) in enumerate(uploads) if code != 202]
    if bad:
        problems.append(f"uploads not answered 202: {bad[:10]}")
    ids = {sid: i for i, (_, _, sid) in enumerate(uploads) if sid is not None}
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT s.id, s.status, j.status, j.attempts FROM submissions s "
                            "JOIN jobs j ON j.submission_id = s.id").fetchall()
    conn.close()
    if sorted(r[0] for r in rows) != sorted(ids):
        problems.append(f"{len(rows)} submissions stored for {len(ids)} accepted uploads")
    for sid, status, job_status, attempts in rows:
        if (status, job_status, attempts) != ("graded", "done", 1):
            problems.append(f"submission {sid}: {status}, job {job_status}, {attempts} claims")
        if log_text.count(f"submission {sid}: graded") != 1:
            problems.append(f"submission {sid}: stored {log_text.count(f'submission {sid}: ')} "
                            "times")
    for sid, i in ids.items():
        f, view = files[i], finals.get(sid)
        result = (view or {}).get("result") or {}
        score, top = result.get("score"), result.get("max_score")
        if view is None or view.get("status") != "graded":
            problems.append(f"submission {sid} ({f.kind}): {view and view.get('status')}")
        elif f.kind == "correct" and score != top:
            problems.append(f"submission {sid} (correct {f.assignment}): {score} / {top}")
        elif f.kind == "buggy" and (score >= top or f.mistake not in str(result)):
            problems.append(f"submission {sid} (buggy): {score} / {top}, mistake not named")
    return problems


def _quantile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[round(q * 100) - 1]


def run(*, quick: bool = False, repeats: int = 5) -> Result:
    """One load run (``repeats`` is not used: a run is long and its samples are many)."""
    from grader.serve.client import wait_for_server

    n = QUICK_STUDENTS if quick else STUDENTS
    window = QUICK_WINDOW_SECONDS if quick else WINDOW_SECONDS
    workers = QUICK_WORKERS if quick else WORKERS
    files = _files(quick, n)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp_name:
        tmp = Path(tmp_name)
        db = tmp / "grader.db"
        tokens = _roster(tmp, db, n)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = tmp / "serve.log"
        env = dict(os.environ, JAX_PLATFORMS="cpu")
        with open(log, "wb") as out:
            server = subprocess.Popen(
                _grader("serve", "--db", str(db), "--course", str(COURSE), "--port", str(port),
                        "--workers", str(workers)),
                stdout=out, stderr=subprocess.STDOUT, cwd=tmp, env=env, start_new_session=True)
        try:
            wait_for_server(url, server, log, timeout=120)
            t0, cpu0 = time.monotonic(), _cpu_seconds(server.pid)
            uploads, polls, finals, retries = asyncio.run(_students(url, tokens, files,
                                                                    window))
            wall, server_cpu = time.monotonic() - t0, _cpu_seconds(server.pid) - cpu0
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log_text = log.read_text()
        problems = _check(db, files, uploads, finals, log_text)
    if problems:
        raise RuntimeError(f"{len(problems)} problems under load:\n" + "\n".join(problems[:40])
                           + f"\n--- server log (end):\n{log_text[-3000:]}")
    graded = len(finals)
    result = Result(NAME, f"{TITLE} ({n} students, {workers} worker{'s' * (workers > 1)}"
                          f"{' [--quick]' if quick else ''})")
    result.add("GET /api/submissions/{id}", polls,
               f"status while grading runs: {len(polls)} requests, median")
    result.add("GET /api/submissions/{id} p99", [_quantile(polls, 0.99)],
               "99th percentile of the same requests")
    result.add("target p99", [P99_TARGET_SECONDS], "the issue's bound")
    result.add("POST /api/submissions", [u[1] for u in uploads],
               f"uploads, median (p99 {_quantile([u[1] for u in uploads], 0.99) * 1e3:.0f} ms)")
    result.add("server CPU per request", [server_cpu / (len(polls) + len(uploads))],
               f"the web server process (not its workers): {server_cpu:.1f} s for "
               f"{len(polls) + len(uploads)} requests")
    result.add("time per graded submission", [wall / graded],
               f"{graded} graded in {wall:.0f} s: {60 * graded / wall:.1f} per minute")
    result.ratio("status p99 / 200 ms", "GET /api/submissions/{id} p99", "target p99", "<=", 1.0)
    kinds = {k: sum(f.kind == k for f in files) for k in ("correct", "buggy", "hostile")}
    load_end = os.getloadavg()
    result.notes.append(
        f"{kinds['correct']} correct, {kinds['buggy']} buggy, {kinds['hostile']} hostile files; "
        f"every upload 202, each graded exactly once (one claim, one stored result), none lost; "
        f"{len(retries)} status requests sent again after a dropped connection; "
        f"load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end.")
    return result

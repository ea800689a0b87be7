"""Helpers for the grading service's tests: real processes, real HTTP, real database files."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from grader.serve.client import wait_for_server  # noqa: F401 (one helper for tests and benchmarks)

REPO = Path(__file__).resolve().parents[3]
SOLUTION = REPO / "grader" / "course" / "selftest" / "basics" / "solution.py"
ASSIGNMENT = "selftest/basics"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def grader(*args: str, cwd: Path | None = None, env: dict | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``grader ARGS`` in a subprocess (the real command line)."""
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=timeout)


def start(*args: str, log: Path, cwd: Path | None = None) -> subprocess.Popen:
    """Start ``grader ARGS`` in its own process group (so a test can kill all of it)."""
    with open(log, "ab") as f:
        return subprocess.Popen([sys.executable, "-m", "grader.cli", *args], stdout=f,
                                stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_status(url: str, token: str, sid: int, statuses: tuple[str, ...],
                timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{url}/api/submissions/{sid}", headers=bearer(token), timeout=10)
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in statuses:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"submission {sid} still {body['status']} after {timeout} s")
        time.sleep(0.1)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def upload(url: str, token: str | None, *, assignment: str | None = ASSIGNMENT,
           content: bytes | None = None, filename: str = "solution.py") -> httpx.Response:
    data = {} if assignment is None else {"assignment": assignment}
    files = None if content is None else {"file": (filename, content, "text/x-python")}
    headers = bearer(token) if token else {}
    return httpx.post(f"{url}/api/submissions", data=data, files=files, headers=headers,
                      timeout=30)


def make_accounts(db: Path, tmp: Path) -> tuple[dict[str, str], str]:
    """Two students (alice, bob) and an instructor, through the real commands."""
    roster = tmp / "roster.csv"
    roster.write_text("student_id,email\nalice,alice@example.org\nbob,bob@example.org\n")
    tokens_csv = tmp / "tokens.csv"
    r = grader("roster", "import", str(roster), "--db", str(db), "--tokens-out", str(tokens_csv))
    assert r.returncode == 0, r.stderr
    lines = tokens_csv.read_text().strip().splitlines()
    assert lines[0] == "student_id,token"
    students = dict(line.split(",", 1) for line in lines[1:])
    r = grader("token", "create", "--instructor", "prof", "--db", str(db))
    assert r.returncode == 0, r.stderr
    instructor = r.stdout.strip().splitlines()[-1]
    return students, instructor


@contextlib.contextmanager
def web_only_server(tmp: Path):
    """A real ``grader serve --workers 0`` (nothing graded: the web side alone) on a free
    loopback port, with ``tmp/grader.db`` holding alice, bob and an instructor; yields
    ``{"url", "port", "db", "tmp", "proc", "log", "alice", "instructor"}``, stops it after."""
    db, port, log = tmp / "grader.db", free_port(), tmp / "serve.log"
    url = f"http://127.0.0.1:{port}"
    proc = start("serve", "--db", str(db), "--port", str(port), "--workers", "0", log=log, cwd=tmp)
    try:
        wait_for_server(url, proc, log)
        students, instructor = make_accounts(db, tmp)
        yield {"url": url, "port": port, "db": db, "tmp": tmp, "proc": proc, "log": log,
               "alice": students["alice"], "instructor": instructor}
    finally:
        stop(proc)

"""The student side: ``grader submit <id> --server URL --token T`` and ``grader history``.

``submit`` uploads the file (``POST /api/submissions``), shows the queue position and then
the grading while it waits (a spinner on a terminal, status lines otherwise), and prints the
report exactly as a local ``grader submit`` does (:func:`grader.report.render`, rebuilt from
the stored ``results.json``). While it waits it asks for the submission's status every second
when it is being graded or among the next two in the queue, less often the further back it
waits (:func:`poll_interval`), so a class submitting at once does not flood the server.
``--json OUT`` writes that ``results.json``. The server and token come from
``--server``/``--token`` or ``GRADER_SERVER``/``GRADER_TOKEN``.

Exit status: 0 once the submission is graded (whatever the score; also when the server
reports a grading error, which the report shows), 2 for a usage error (a missing file, an
unknown assignment, a token the server refuses, a file it does not accept), 1 when the
server cannot be reached or does not answer as expected.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from rich.console import Console

SERVER_ENV, TOKEN_ENV = "GRADER_SERVER", "GRADER_TOKEN"
USAGE_ERROR = 2
POLL_SECONDS = 1.0  # while being graded or next in the queue
POLL_SECONDS_PER_PLACE = 0.5  # further back in the queue
# At most this between two polls: below the server's keep-alive (5 s,
# grader.serve.server.TIMEOUT_KEEP_ALIVE), so a waiting client keeps its one connection.
MAX_POLL_SECONDS = 3.0


class ClientError(Exception):
    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


def result_from_json(data: dict):
    """A :class:`grader.engine.Result` rebuilt from :func:`grader.report.to_json`'s object,
    enough for :func:`grader.report.render` and :func:`grader.class_summary.summarize`.

    A part's ``mistake`` is its test's ``extra_data["mistake"]``; a report stored before that
    key existed (or one without it) names no mistake (``""``), whatever its feedback says."""
    from grader.engine import ERROR, GRADED, PartResult, Result

    extra = data.get("extra_data") or {}
    parts = []
    for t in data.get("tests", []):
        if str(t.get("name", "")).endswith(": printed output"):
            continue
        failed = "grading-error" in (t.get("tags") or [])
        test_extra = t.get("extra_data")
        mistake = test_extra.get("mistake") if isinstance(test_extra, dict) else None
        parts.append(PartResult(str(t.get("name", "?")), "", float(t.get("max_score", 0.0)),
                                float(t.get("score", 0.0) or 0.0), str(t.get("output", "")),
                                status=ERROR if failed else GRADED,
                                mistake=mistake if isinstance(mistake, str) else ""))
    return Result(str(extra.get("assignment", "?")), str(extra.get("title", "")),
                  str(extra.get("file", "")), extra.get("seed"), str(extra.get("mode", "submit")),
                  parts, hidden_not_run=int(extra.get("hidden_not_run") or 0),
                  seconds=float(data.get("execution_time", 0.0) or 0.0))


def withheld_note(data: dict) -> str | None:
    """The line saying what the server withholds of the hidden cases and where the feedback
    shown comes from (``reveal`` in the result's ``extra_data``:
    :func:`grader.serve.policy.reveal`), or None."""
    extra = data.get("extra_data") or {}
    if extra.get("reveal") == "none":
        until = extra.get("withheld_until")
        when = (f"until {until.replace('T', ' ').replace('Z', ' UTC')} (the due date)" if until
                else "by your course")
        return (f"The server graded the hidden cases too: their results and your total are "
                f"withheld {when}.")
    if extra.get("reveal") == "pass-fail":
        return ("Hidden cases show only whether each part passes them, not their feedback "
                "(your course's setting); the feedback and printed output shown come from your "
                "visible cases, graded on their own.")
    return None


def _settings(server: str | None, token: str | None) -> tuple[str, str]:
    server = server or os.environ.get(SERVER_ENV)
    token = token or os.environ.get(TOKEN_ENV)
    if not server:
        raise ClientError(f"no server: pass --server URL or set {SERVER_ENV}", USAGE_ERROR)
    if not token:
        raise ClientError(f"no token: pass --token TOKEN or set {TOKEN_ENV}", USAGE_ERROR)
    return server.rstrip("/"), token.strip()


def _client(server: str, token: str):
    import httpx

    return httpx.Client(base_url=server, headers={"Authorization": f"Bearer {token}"},
                        timeout=httpx.Timeout(60.0, connect=10.0))


def _check(resp) -> dict | list:
    if resp.status_code < 400:
        try:
            return resp.json()
        except ValueError:
            raise ClientError(f"the server sent a reply that is not JSON "
                              f"(HTTP {resp.status_code})") from None
    try:
        detail = resp.json().get("detail") or resp.text
    except (ValueError, AttributeError):
        detail = resp.text[:300]
    status = USAGE_ERROR if resp.status_code in (400, 401, 403, 404, 413, 422, 429) else 1
    raise ClientError(f"the server refused this (HTTP {resp.status_code}): {detail}", status)


def _request(fn, *args, **kwargs):
    import httpx

    try:
        return _check(fn(*args, **kwargs))
    except httpx.HTTPError as exc:
        raise ClientError(f"could not reach the grading server: {type(exc).__name__}: "
                          f"{exc}") from None


def submit(assignment: str, path: Path, *, server: str | None, token: str | None,
           out: Console, err: Console, json_out: str | None = None,
           poll_seconds: float = POLL_SECONDS, timeout: float = 3600.0) -> int:
    """``grader submit ASSIGNMENT --file PATH --server URL``: upload, wait (asking for the
    status every :func:`poll_interval` seconds, ``poll_seconds`` its shortest), print the
    report; returns the exit status (module docstring)."""
    from grader import report

    try:
        server, token = _settings(server, token)
        if not path.is_file():
            raise ClientError(f"file not found: {path} - pass your file with --file PATH.",
                              USAGE_ERROR)
        if path.suffix.lower() not in (".py", ".ipynb"):
            raise ClientError(f"{path} is not a .py or .ipynb file.", USAGE_ERROR)
        with _client(server, token) as http:
            with path.open("rb") as f:
                created = _request(http.post, "/api/submissions", data={"assignment": assignment},
                                   files={"file": (path.name, f, "application/octet-stream")})
            sid = created["id"]
            err.print(f"Submitted {path} to {server} as submission {sid}.", markup=False,
                      highlight=False)
            sub = _wait(http, sid, err, poll_seconds, timeout)
    except ClientError as exc:
        err.print(f"grader: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return exc.status
    if sub.get("result") is None:
        err.print(f"grader: the server could not grade submission {sid}: "
                  f"{sub.get('error') or 'no result'}. This is not your fault; tell your "
                  "instructor.", markup=False, highlight=False)
        return 0
    report.render(result_from_json(sub["result"]), out)
    if note := withheld_note(sub["result"]):
        out.print(note, markup=False, highlight=False)
    if json_out:
        Path(json_out).write_text(json.dumps(sub["result"], indent=2) + "\n", encoding="utf-8")
        out.print(f"Wrote {json_out}", markup=False, style="dim")
    return 0


def poll_interval(sub: dict, base: float = POLL_SECONDS) -> float:
    """Seconds to wait before asking again for ``sub`` (a ``GET /api/submissions/{id}`` reply).

    The rule: ``base`` (1 s) while it is running or has no position; else
    ``POLL_SECONDS_PER_PLACE`` (0.5 s) times its position in the queue, at least ``base`` and
    at most ``MAX_POLL_SECONDS`` (3 s): positions 1-2 every second, 4 every 2 s, 6 and further
    back every 3 s. Why: a grading takes seconds of a worker (4-7 s per submission with 2
    workers on the 2-core machine), so position p starts about 2p s or more later, and asking
    every p/2 s still sees it move up several times before its turn, while a class that
    submits at once, most of it far back, asks up to 3x less often than at 1 s.
    """
    position = sub.get("queue_position")
    if sub.get("status") != "queued" or not isinstance(position, int) or position < 1:
        return base
    return max(base, min(MAX_POLL_SECONDS, POLL_SECONDS_PER_PLACE * position))


def wait_for_server(url: str, proc: subprocess.Popen | None = None, log: Path | None = None,
                    timeout: float = 60.0) -> None:
    """Wait until a grading server at ``url`` answers (``GET /openapi.json`` is 200): for
    scripts that start ``grader serve`` themselves (the tests, ``benchmarks/serve_load.py``).

    Args:
        url: the server's base URL, ``http://127.0.0.1:8000``.
        proc: the server's process, if this script started it: its exit ends the wait.
        log: the file its output goes to, quoted in the error.
        timeout: seconds.

    Raises:
        RuntimeError: ``proc`` exited, or the server did not answer within ``timeout``
            seconds (the message ends with ``log``'s text).
    """
    import httpx

    def output() -> str:
        return f":\n{log.read_text(errors='replace')}" if log is not None else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}){output()}")
        try:
            if httpx.get(url + "/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server at {url} did not answer within {timeout:g} s{output()}")


def _describe(sub: dict) -> str:
    if sub["status"] == "queued":
        pos = sub.get("queue_position")
        return f"Queued (position {pos})" if pos else "Queued"
    return "Grading on the server"


def _wait(http, sid: int, err: Console, poll: float, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    progress = task = None
    if err.is_terminal:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                            TimeElapsedColumn(), console=err, transient=True)
        progress.start()
        task = progress.add_task("Queued", total=None)
    try:
        while True:
            sub = _request(http.get, f"/api/submissions/{sid}")
            if sub["status"] in ("graded", "error"):
                return sub
            text = _describe(sub)
            if text != last:
                if progress is not None:
                    progress.update(task, description=text)
                else:
                    err.print(text, markup=False, highlight=False)
                last = text
            if time.monotonic() > deadline:
                raise ClientError(f"submission {sid} is still {sub['status']} after "
                                  f"{timeout:g} s; see it later with `grader history`")
            time.sleep(poll_interval(sub, poll))
    finally:
        if progress is not None:
            progress.stop()


def history(assignment: str | None, *, server: str | None, token: str | None, out: Console,
            err: Console) -> int:
    from rich.table import Table
    from rich.text import Text

    try:
        server, token = _settings(server, token)
        with _client(server, token) as http:
            params = {"assignment": assignment} if assignment else {}
            subs = _request(http.get, "/api/submissions", params=params)
    except ClientError as exc:
        err.print(f"grader: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return exc.status
    table = Table(title=f"Your submissions{' of ' + assignment if assignment else ''}")
    for col in ("Id", "Assignment", "Submitted (UTC)", "File", "Status", "Score"):
        table.add_column(col, justify="right" if col in ("Id", "Score") else "left")
    for s in subs:
        score = ("" if s.get("score") is None else
                 f"{s['score']:g} / {s.get('max_score') or 0:g}")
        if (s.get("result") or {}).get("extra_data", {}).get("reveal") == "none":
            score = "withheld"
        table.add_row(str(s["id"]), Text(s["assignment"]), (s["submitted_at"] or "")[:19],
                      Text(s.get("filename") or ""), s["status"], score)
    out.print(table)
    if not subs:
        out.print("No submissions yet.", markup=False)
    return 0

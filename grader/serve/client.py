"""The student side: ``grader submit <id> --server URL --token T`` and ``grader history``.

``submit`` uploads the file (``POST /api/submissions``), shows the queue position and then
the grading while it waits (a spinner on a terminal, status lines otherwise), and prints the
report exactly as a local ``grader submit`` does (:func:`grader.report.render`, rebuilt from
the stored ``results.json``). ``--json OUT`` writes that ``results.json``. The server and
token come from ``--server``/``--token`` or ``GRADER_SERVER``/``GRADER_TOKEN``.

Exit status: 0 once the submission is graded (whatever the score; also when the server
reports a grading error, which the report shows), 2 for a usage error (a missing file, an
unknown assignment, a token the server refuses, a file it does not accept), 1 when the
server cannot be reached or does not answer as expected.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from rich.console import Console

SERVER_ENV, TOKEN_ENV = "GRADER_SERVER", "GRADER_TOKEN"
USAGE_ERROR = 2


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
           poll_seconds: float = 1.0, timeout: float = 3600.0) -> int:
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
            time.sleep(poll)
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

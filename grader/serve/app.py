"""The web application (FastAPI on uvicorn): the grading service's HTTP API.

Every call carries ``Authorization: Bearer <token>`` (:mod:`grader.serve.auth`).

=================================  ====================================================
``POST /api/submissions``          multipart ``assignment``, ``file`` -> ``202 {"id",
                                   "status": "queued", "queue_position"}``
``GET /api/submissions/{id}``      ``{"id", "assignment", "status", "submitted_at",
                                   "result", ...}``; ``result`` is the object ``grader
                                   submit --json`` writes once graded, else null
``GET /api/submissions``           the caller's own submissions (``?assignment=`` filters)
``GET /api/grades.csv``            instructors: one row per student and assignment
``GET /openapi.json``              the OpenAPI document
=================================  ====================================================

A student reads only their own submissions: another's id is ``404`` (as if it did not
exist, so ids leak nothing); instructor endpoints are ``403``. Errors are JSON
``{"detail": message, "field": name or null}`` with a 4xx status: ``401`` missing, malformed,
unknown or revoked token; ``404`` unknown assignment (``assignments`` lists the ids) or
submission; ``413`` an upload over ``max_upload_bytes`` (the request body is counted while it
streams in and refused as soon as it is too large); ``422`` a missing field or a file that is
not ``.py``/``.ipynb``; ``400`` a body that is not multipart; ``429`` a student over the
assignment's rate limit (header ``Retry-After``: whole seconds; the message says when, in UTC,
the next submission is accepted; ``next_accepted_at`` and ``retry_after`` in the body).

Each assignment's policy (:mod:`grader.serve.policy`, from the course's ``course.toml``; the
application keeps it in ``app.state.policy``): a rate limit per student (instructors have
none); a due date, after which submissions are still accepted and marked ``"late": true`` in
their view (computed from the current due date, so an extended deadline un-flags them); and
what a student's ``result`` shows of the hidden cases (``full``, ``pass-fail``, or ``none``
until the due date: :func:`grader.serve.policy.reveal`; under ``pass-fail`` and ``none`` its
text comes from a visible-cases-only grading, ``graded_at`` is null and ``error`` is fixed
wording; with ``none``, ``score`` and ``max_score`` are null until then). Instructors always
see the whole result.

``grades.csv`` (:func:`grader.serve.grades.class_rows`): ``best_score`` is the best graded
score, ``late`` is ``true`` when the submission that best score comes from (the earliest one
that reached it) was late, or, with nothing graded yet, when the latest submission was.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from pathlib import PurePosixPath

from fastapi import Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi import Path as FastAPIPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, select
from starlette.exceptions import HTTPException as StarletteHTTPException

from grader.batch import spreadsheet_cell
from grader.serve import auth, jobs, policy as policies
from grader.serve.db import (
    INSTRUCTOR, Account, Submission, sessions, utcnow, write_session,
)
from grader.serve.grades import class_rows

from grader.serve import DEFAULT_MAX_UPLOAD

_MULTIPART_SLACK = 64 * 1024  # the form's other fields and boundaries


class ApiError(Exception):
    def __init__(self, status: int, detail: str, field: str | None = None, *,
                 headers: dict | None = None, **extra):
        super().__init__(detail)
        self.status, self.detail, self.field, self.extra = status, detail, field, extra
        self.headers = headers


def _error(status: int, detail: str, field: str | None = None, headers=None, **extra):
    body = {"detail": detail, "field": field, **extra}
    return JSONResponse(body, status_code=status, headers=headers)


class LimitUploadSize:
    """ASGI middleware: a ``POST /api/submissions`` body over the limit is refused with 413
    while it streams in (by ``Content-Length`` at once, else as soon as the count passes it),
    never read whole first."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        limit = self.max_bytes + _MULTIPART_SLACK
        message = (f"the upload is larger than this server accepts "
                   f"({self.max_bytes} bytes for the file)")
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = False
                if too_big:
                    return await _error(413, message, "file")(scope, receive, send)
        seen = 0
        over = started = False

        async def counted_receive():
            nonlocal seen, over
            if over:
                return {"type": "http.disconnect"}
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > limit:
                    # Stop reading: the app sees the client go away (whatever it answers to
                    # that is replaced by the 413 below).
                    over = True
                    return {"type": "http.disconnect"}
            return msg

        async def tracked_send(msg):
            nonlocal started
            if over:
                return
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            await _error(413, message, "file")(scope, receive, send)


def _safe_filename(name: str | None) -> str:
    """The client's file name reduced to a harmless display name (never used as a path)."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    base = base.encode("utf-8", "replace").decode("utf-8")[:200].strip()
    return base or "submission.py"


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _view(session, sub: Submission, *, policy: policies.CoursePolicy, instructor: bool) -> dict:
    """The JSON of one submission as ``instructor`` (or its student) may see it now
    (:func:`grader.serve.policy.reveal_submission`)."""
    rules = policy.for_assignment(sub.assignment)
    shown = rules.shown(instructor=instructor, now=utcnow())
    result = json.loads(sub.result) if sub.result else None
    visible = (json.loads(sub.visible_result)
               if shown != policies.FULL and sub.visible_result else None)
    fields = policies.reveal_submission(
        status=sub.status, result=result, visible=visible, score=sub.score,
        max_score=sub.max_score, error=sub.error, graded_at=_iso(sub.graded_at), mode=shown,
        due=rules.due)
    return {
        "id": sub.id,
        "assignment": sub.assignment,
        "status": fields["status"],
        "submitted_at": _iso(sub.submitted_at),
        "result": fields["result"],
        "late": rules.is_late(sub.submitted_at),
        "filename": sub.filename,
        "score": fields["score"],
        "max_score": fields["max_score"],
        "error": fields["error"],
        "graded_at": fields["graded_at"],
        "queue_position": jobs.queue_position(session, sub.id),
    }


def create_app(engine: Engine, *, assignments: list[str],
               max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
               policy: policies.CoursePolicy | None = None) -> FastAPI:
    """The application over ``engine`` (already migrated), accepting ``assignments``, with
    their ``policy`` (:func:`grader.serve.policy.load`; default: no due dates, 10/hour, full
    feedback), kept in ``app.state.policy``."""
    Session = sessions(engine)
    known = list(assignments)
    policy = policy if policy is not None else policies.CoursePolicy()
    app = FastAPI(title="jaxdl grader", version="1",
                  description="Submit course assignments; they are graded in a sandbox on "
                              "the server, with hidden cases that never leave it.",
                  # No /docs or /redoc: FastAPI's pages run inline script from a CDN on this
                  # origin, outside the pages' Content-Security-Policy. /openapi.json stays.
                  docs_url=None, redoc_url=None)
    app.state.policy = policy
    app.add_middleware(LimitUploadSize, max_bytes=max_upload_bytes)
    bearer = HTTPBearer(auto_error=False, description="a token from your instructor")

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else exc.headers
        return _error(exc.status, exc.detail, exc.field, headers=headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 400:
            detail = f"the request body could not be read as a multipart form: {detail}"
        return _error(exc.status_code, detail, "body" if exc.status_code == 400 else None)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path")]
        field = loc[0] if loc else None
        msg = first.get("msg", "invalid request")
        return _error(422, f"{field or 'request'}: {msg}", field)

    def account(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Account:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ApiError(401, "missing token: send the header 'Authorization: Bearer <token>'",
                           "Authorization")
        with Session() as session:
            try:
                return auth.authenticate(session, credentials.credentials)
            except auth.AuthError as exc:
                raise ApiError(401, str(exc), "Authorization") from None

    @app.post("/api/submissions", status_code=202, summary="Submit a file for grading")
    def submit(assignment: str | None = Form(None, description="assignment id"),
               file: UploadFile | None = File(None, description="your .py or .ipynb file"),
               who: Account = Depends(account)):
        if not assignment:
            raise ApiError(422, "assignment: the form field 'assignment' (an assignment id) is "
                                "missing", "assignment")
        if assignment not in known:
            raise ApiError(404, f"unknown assignment {assignment[:200]!r}; valid ids: "
                                + ", ".join(known), "assignment", assignments=known)
        if file is None:
            raise ApiError(422, "file: the form field 'file' (your .py or .ipynb file) is missing",
                           "file")
        name = _safe_filename(file.filename)
        if not re.search(r"\.(py|ipynb)$", name, re.IGNORECASE):
            raise ApiError(422, f"file: {name!r} is not a .py or .ipynb file", "file")
        content = file.file.read(max_upload_bytes + 1)
        if len(content) > max_upload_bytes:
            raise ApiError(413, f"file: larger than this server accepts ({max_upload_bytes} "
                                "bytes)", "file")
        with write_session(engine) as session:
            if who.role != INSTRUCTOR:
                try:
                    policies.check_rate_limit(
                        session, account_id=who.id, assignment=assignment,
                        limit=policy.for_assignment(assignment).rate_limit, now=utcnow())
                except policies.RateLimited as exc:
                    raise ApiError(429, str(exc), "assignment",
                                   headers={"Retry-After": str(exc.retry_after)},
                                   retry_after=exc.retry_after,
                                   next_accepted_at=_iso(exc.next_at)) from None
            sub = jobs.enqueue(session, account_id=who.id, assignment=assignment, filename=name,
                               content=content)
            session.flush()
            position = jobs.queue_position(session, sub.id)
            sub_id = sub.id
        return {"id": sub_id, "status": "queued", "queue_position": position}

    @app.get("/api/submissions/{submission_id}", summary="One submission: status and report")
    def get_submission(submission_id: int = FastAPIPath(ge=1, le=2**63 - 1),
                       who: Account = Depends(account)):
        with Session() as session:
            sub = session.get(Submission, submission_id)
            if sub is None or (sub.account_id != who.id and who.role != INSTRUCTOR):
                raise ApiError(404, f"no submission {submission_id}", "submission_id")
            return _view(session, sub, policy=policy, instructor=who.role == INSTRUCTOR)

    @app.get("/api/submissions", summary="Your submissions, newest first")
    def list_submissions(assignment: str | None = Query(None), who: Account = Depends(account)):
        with Session() as session:
            stmt = select(Submission).where(Submission.account_id == who.id)
            if assignment:
                stmt = stmt.where(Submission.assignment == assignment)
            subs = session.scalars(stmt.order_by(Submission.id.desc())).all()
            return [_view(session, s, policy=policy, instructor=who.role == INSTRUCTOR)
                    for s in subs]

    @app.get("/api/grades.csv", summary="Instructors: grades, one row per student and assignment",
             response_class=Response)
    def grades(who: Account = Depends(account)):
        if who.role != INSTRUCTOR:
            raise ApiError(403, "instructors only", "Authorization")
        with Session() as session:
            rows = class_rows(session, policy)
        out = io.StringIO()
        w = csv.writer(out)
        w.writerow(["student_id", "assignment", "best_score", "max_score", "submissions",
                    "latest_submitted_at", "late"])
        for r in rows:
            w.writerow([spreadsheet_cell(r.student_id), spreadsheet_cell(r.assignment),
                        "" if r.best_score is None else f"{r.best_score:g}",
                        "" if r.max_score is None else f"{r.max_score:g}", r.submissions,
                        _iso(r.latest_submitted_at), "true" if r.late else "false"])
        return Response(out.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="grades.csv"',
                                 "Cache-Control": "no-store"})

    from grader.serve import pages  # the browser pages, through the functions above
    app.include_router(pages.router(engine, assignments=known, policy=policy, submit=submit,
                                    grades=grades, account=account))
    return app

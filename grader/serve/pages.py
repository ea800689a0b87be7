"""The grading service's browser pages: students log in, submit, follow the queue, read
their reports and history; instructors see the class and download grades.

====================================  ==================================================
``GET /``                             log in with a token, then the submit form
``POST /login``                       form ``token``; ``POST /logout``
``POST /submit``                      multipart ``assignment``, ``file`` -> the submission
``GET /submissions/{id}``             status, queue position (kept current by
                                      ``static/app.js``), then the report
``GET /submissions/{id}/status``      ``{"id", "status", "queue_position", "poll_seconds"}`` (that
                                      polling, at the interval of ``client.poll_interval``)
``GET /submissions/{id}/gradescope.json``  the submission's Gradescope ``results.json``
``GET /history``                      the caller's submissions, newest first
``GET /instructor``                   instructors: the class table, per-part pass rates,
                                      named mistakes, score histogram, downloads
``GET /instructor/grades.csv``        the CSV of ``GET /api/grades.csv``
``GET /api/submissions/{id}/gradescope.json``  the same JSON for a Bearer token (scripts)
====================================  ==================================================

**Login.** ``POST /login`` checks the token exactly as the API does
(:func:`grader.serve.auth.authenticate`) and keeps it in a cookie, ``grader_token``:
``HttpOnly`` (no script can read it), ``SameSite=Strict`` (a request started by another site
never carries it), ``Secure`` when the page was served over https, no expiry (it goes when
the browser closes; ``POST /logout`` removes it at once). Every page checks the cookie's token
again, so a revoked token is refused at once. The JSON API is unchanged: it reads only
``Authorization: Bearer``, never the cookie. A token refused at the login form or in a
cookie counts, like a refused Bearer token, towards its client's limit of failed
authentications (:mod:`grader.serve.throttle`): over it, the login form and the pages answer
``429`` with the message and ``Retry-After``, without checking the token. The login form's
body is at most :data:`grader.serve.request_body.FORM_BYTES` (64 KiB; a token is about 80
bytes): a larger one is ``413`` by its ``Content-Length`` or as soon as the count passes it,
never read whole.

**Forged requests (CSRF).** Besides ``SameSite=Strict``, every form ``POST`` must come from a
page of this server: its ``Origin`` (or, without one, its ``Referer``) must name the host the
request was sent to, and ``Sec-Fetch-Site``, when the browser sends it, must be
``same-origin``; anything else is ``403``.

**What a page may do.** Every page is sent with ``Content-Security-Policy: default-src
'none'; script-src 'self'; style-src 'self'; ...``: no inline script or style runs, nothing
is loaded from elsewhere, no other site may frame it. Templates are autoescaped (file names,
feedback, printed output are text, never markup), and ``app.js`` writes only ``textContent``.

A student reads only their own submissions (another's id is ``404``, as in the API);
``/instructor`` is ``403`` for students; without a valid cookie a page is ``401`` with the
login form. A submission goes through the API's own ``POST /api/submissions`` code (every
check and limit the same, the cookie checked before the form is read), handed to
:func:`router` by :func:`grader.serve.app.create_app`.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import jinja2
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as FastAPIPath
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy import Engine, select
from starlette.concurrency import run_in_threadpool

from grader.serve import stats
from grader.serve.auth import Caller
from grader.serve.client import poll_interval
from grader.serve.db import INSTRUCTOR, Account, Submission, sessions
from grader.serve.grades import class_rows
from grader.serve.policy import CoursePolicy

COOKIE = "grader_token"
WEB = Path(__file__).resolve().parent / "web"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
_STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".svg": "image/svg+xml"}
_REPORT_WIDTH = 100  # columns of the report as `grader submit` prints it
_RECENT = 50  # submissions listed on the instructor page
_FINISHED = ("graded", "error")

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(WEB / "templates"),
                          autoescape=True, undefined=jinja2.StrictUndefined,
                          trim_blocks=True, lstrip_blocks=True)


class PageError(Exception):
    """A page that answers with an error status and a message (rendered as a page)."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


def page(name: str, status: int = 200, **context) -> HTMLResponse:
    """The template ``name`` rendered with ``context``, with the pages' security headers."""
    context.setdefault("who", None)
    context.setdefault("error", None)
    html = _env.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def report_text(result: dict) -> str:
    """The report ``grader submit --server`` prints for ``result`` (a ``results.json`` object
    as the reader may see it): :func:`grader.report.render` and the note on what the course
    withholds (:func:`grader.serve.client.withheld_note`), as plain text, ``_REPORT_WIDTH``
    columns."""
    from rich.console import Console

    from grader import report
    from grader.serve.client import result_from_json, withheld_note

    console = Console(file=io.StringIO(), width=_REPORT_WIDTH, record=True, color_system=None,
                      force_terminal=False, highlight=False)
    report.render(result_from_json(result), console)
    if note := withheld_note(result):
        console.print(note, markup=False, highlight=False)
    return console.export_text()


def same_origin(request: Request) -> bool:
    """True if ``request`` (a form POST) comes from a page of this server (see the module
    docstring)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return False
    source = request.headers.get("origin") or request.headers.get("referer")
    host = request.headers.get("host")
    if not source or source == "null" or not host:
        return False
    parts = urlsplit(source)
    # Scheme and host: an https page of this host is another origin than an http server.
    return (parts.scheme.lower() == request.url.scheme
            and parts.netloc.lower() == host.lower())


def _error_response(request: Request, exc: PageError) -> Response:
    """The answer to a :class:`PageError`: a page (the login form for 401), or JSON for the
    status polling."""
    if request.url.path.endswith("/status"):
        return JSONResponse({"detail": exc.message, "field": None}, status_code=exc.status,
                            headers={"Cache-Control": "no-store", **(exc.headers or {})})
    if exc.status in (401, 429):
        resp = page("login.html", exc.status, error=exc.message)
    else:
        resp = page("error.html", exc.status, message=exc.message)
    resp.headers.update(exc.headers or {})
    return resp


class _PageRoute(APIRoute):
    """A route whose :class:`PageError` (raised by it or its dependencies) becomes its
    error page, without an exception handler on the application."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except PageError as exc:
                return _error_response(request, exc)

        return handle


def _submission_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 2**63 - 1:
        raise PageError(404, f"no submission {text[:40]!r}")
    return int(text)


def router(engine: Engine, *, assignments: list[str], policy: CoursePolicy, submit: Callable,
           upload_form: Callable, authenticated: Callable, grades: Callable,
           account: Callable) -> APIRouter:
    """The pages over ``engine``, for ``assignments`` under ``policy``. The API's own
    functions do the work the pages share with it: ``submit`` (``POST /api/submissions``'s
    checks: ``submit(assignment=, file=, who=)``, raising :class:`grader.serve.app.ApiError`),
    ``upload_form`` (reads that form: ``await upload_form(request)``), ``authenticated`` (a
    token's caller under the throttle: ``authenticated(token, request)``, raising
    ``ApiError`` 401 or 429), ``grades`` (``GET /api/grades.csv``: ``grades(who=)``) and
    ``account`` (the Bearer dependency, for the ``/api`` download)."""
    from grader import registry
    from grader.serve.app import ApiError, submission_row, submission_rows, submission_view

    Session = sessions(engine)

    def view_of(sub, who: Caller) -> dict:
        return submission_view(sub, policy=policy, instructor=who.role == INSTRUCTOR)

    known = list(assignments)
    static = {p.name: p.read_bytes() for p in (WEB / "static").iterdir()
              if p.suffix in _STATIC_TYPES}
    pages = APIRouter(include_in_schema=False, route_class=_PageRoute)
    api = APIRouter()

    def check_token(token: str, request: Request) -> Caller:
        """``token``'s caller. Raises :class:`PageError` 429 (its client is throttled) or
        ``ApiError`` 401 (refused)."""
        try:
            return authenticated(token, request)
        except ApiError as exc:
            if exc.status == 429:
                raise PageError(429, f"Not now: {exc.detail}.", exc.headers) from None
            raise

    def viewer(request: Request) -> Caller | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        try:
            return check_token(token, request)
        except ApiError:
            return None

    def logged_in(who: Caller | None = Depends(viewer)) -> Caller:
        if who is None:
            raise PageError(401, "Log in with the token your instructor gave you.")
        return who

    def instructor(who: Caller = Depends(logged_in)) -> Caller:
        if who.role != INSTRUCTOR:
            raise PageError(403, "This page is for instructors only.")
        return who

    def own(db, submission_id: int, who: Caller):
        sub = submission_row(db, submission_id)
        if sub is None or (sub.account_id != who.id and who.role != INSTRUCTOR):
            raise PageError(404, f"no submission {submission_id}")
        return sub

    def index(who: Caller, status: int = 200, error: str | None = None,
              chosen: str | None = None, headers: dict | None = None) -> HTMLResponse:
        due = {a: policy.for_assignment(a).due for a in known}
        resp = page("submit.html", status, who=who, assignments=known, due=due, chosen=chosen,
                    error=error)
        resp.headers.update(headers or {})  # a 429's Retry-After
        return resp

    @pages.get("/", response_class=HTMLResponse)
    def home(request: Request, who: Caller | None = Depends(viewer)):
        if who is None:
            revoked = COOKIE in request.cookies
            resp = page("login.html", error="Your token is no longer valid; log in again."
                        if revoked else None)
            if revoked:
                resp.delete_cookie(COOKIE, path="/")
            return resp
        return index(who)

    @pages.post("/login")
    def login(request: Request, token: str = Form("")):
        if not same_origin(request):
            raise PageError(403, "This form must be sent from this server's own login page.")
        try:
            check_token(token, request)
        except ApiError as exc:
            return page("login.html", exc.status, error=f"That token was refused: {exc.detail}.")
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(COOKIE, token.strip(), path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
        return resp

    @pages.post("/logout")
    def logout(request: Request):
        if not same_origin(request):
            raise PageError(403, "This form must be sent from this server's own pages.")
        resp = RedirectResponse("/", status_code=303)
        resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
        return resp

    @pages.post("/submit")
    async def submit_page(request: Request):
        # Where it comes from and who sends it first: the form is read only after that.
        if not same_origin(request):
            raise PageError(403, "This form must be sent from this server's own pages.")
        who = logged_in(await run_in_threadpool(viewer, request))
        try:
            form = await upload_form(request)
        except ApiError as exc:
            return index(who, exc.status, exc.detail, None, exc.headers)
        assignment = form.get("assignment")
        try:
            created = await run_in_threadpool(submit, assignment=assignment,
                                              file=form.get("file"), who=who)
        except ApiError as exc:
            return index(who, exc.status, exc.detail,
                         assignment if isinstance(assignment, str) else None, exc.headers)
        finally:
            await form.close()
        return RedirectResponse(f"/submissions/{created['id']}", status_code=303)

    @pages.get("/submissions/{submission_id}", response_class=HTMLResponse)
    def submission(submission_id: str, who: Caller = Depends(logged_in)):
        sid = _submission_id(submission_id)
        with engine.connect() as db:
            view = view_of(own(db, sid, who), who)
        report = report_text(view["result"]) if view["result"] is not None else None
        return page("submission.html", who=who, sub=view, report=report,
                    finished=view["status"] in _FINISHED)

    @pages.get("/submissions/{submission_id}/status")
    def submission_status(submission_id: str, who: Caller = Depends(logged_in)):
        sid = _submission_id(submission_id)
        with engine.connect() as db:
            view = view_of(own(db, sid, who), who)
        body = {k: view[k] for k in ("id", "status", "queue_position")}
        # When to ask again: the rule `grader submit` follows (app.js reads it, so the page
        # and the command line ask alike: less often from far back in the queue).
        body["poll_seconds"] = poll_interval(body)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def gradescope(sid: int, who: Caller) -> Response:
        with engine.connect() as db:
            view = view_of(own(db, sid, who), who)
        if view["result"] is None:
            raise PageError(404, f"submission {sid} has no result yet (it is {view['status']})")
        return Response(json.dumps(view["result"], indent=2) + "\n",
                        media_type="application/json", headers={
                            "Content-Disposition":
                                f'attachment; filename="submission-{sid}-results.json"',
                            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})

    @pages.get("/submissions/{submission_id}/gradescope.json")
    def gradescope_page(submission_id: str, who: Caller = Depends(logged_in)):
        return gradescope(_submission_id(submission_id), who)

    @api.get("/api/submissions/{submission_id}/gradescope.json",
             summary="One submission's Gradescope results.json (its owner or an instructor)",
             response_class=Response)
    def gradescope_api(submission_id: int = FastAPIPath(ge=1, le=2**63 - 1),
                       who: Caller = Depends(account)):
        try:
            return gradescope(submission_id, who)
        except PageError as exc:
            raise ApiError(exc.status, exc.message, "submission_id") from None

    @pages.get("/history", response_class=HTMLResponse)
    def history(assignment: str | None = Query(None), who: Caller = Depends(logged_in)):
        with engine.connect() as db:
            stmt = submission_rows().where(Submission.account_id == who.id)
            if assignment:
                stmt = stmt.where(Submission.assignment == assignment)
            subs = [view_of(s, who) for s in db.execute(stmt.order_by(Submission.id.desc()))]
        return page("history.html", who=who, subs=subs, assignment=assignment)

    @pages.get("/instructor", response_class=HTMLResponse)
    def instructor_page(assignment: str | None = Query(None),
                        over: str = Query("latest"), who: Caller = Depends(instructor)):
        if over not in stats.OVER:
            over = "latest"
        if assignment is None:
            with Session() as session:
                submitted = set(session.scalars(select(Submission.assignment).distinct()))
            assignment = next((a for a in known if a in submitted), known[0] if known else "")
        if assignment not in known:
            raise PageError(404, f"unknown assignment {assignment[:200]!r}; valid ids: "
                                 + ", ".join(known))
        course = registry.load(assignment)
        with Session() as session:
            table = [r for r in class_rows(session, policy) if r.assignment == assignment]
            summary = stats.summary(session, course, over=over)
            recent = session.execute(
                submission_rows().add_columns(Account.student_id)
                .join(Account, Account.id == Submission.account_id)
                .where(Submission.assignment == assignment)
                .order_by(Submission.id.desc()).limit(_RECENT)).all()
            recent = [{**view_of(s, who), "student_id": s.student_id} for s in recent]
        return page("instructor.html", who=who, assignments=known, assignment=assignment,
                    over=over, table=table, summary=summary,
                    mistakes=stats.ranked_mistakes(summary),
                    bars=stats.histogram_bars(summary), recent=recent)

    @pages.get("/instructor/grades.csv")
    def grades_csv(who: Caller = Depends(instructor)):
        return grades(who=who)

    @pages.get("/static/{name}")
    def static_file(name: str):
        if name not in static:
            raise PageError(404, "no such file")
        return Response(static[name], media_type=_STATIC_TYPES[Path(name).suffix],
                        headers={"X-Content-Type-Options": "nosniff",
                                 "Cache-Control": "no-cache"})

    both = APIRouter()
    both.include_router(pages)
    both.include_router(api)
    return both

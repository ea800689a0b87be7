"""The service's store: SQLAlchemy 2 models and engines (SQLite embedded, PostgreSQL).

Tables (the schema is created and upgraded by :mod:`grader.serve.migrations`, never by
``create_all``):

- ``accounts``: one per student (``student_id`` from the roster, ``email``) or instructor
  (``role="instructor"``, ``student_id`` is the instructor's name).
- ``tokens``: a token is ``gr_<public id>_<secret>``; the table keeps the public id (to find
  the row), a random salt and ``hashlib.scrypt(secret, salt)``. Neither the token nor its
  secret is ever stored. ``revoked_at`` set = refused.
- ``submissions``: the uploaded file's bytes (never written to disk under a name the client
  chose; the client's file name is kept only to show it), its status (``queued``,
  ``running``, ``graded``, ``error``) and, once graded, the result: the JSON text that
  ``grader submit --json`` writes (:func:`grader.report.to_json`), its score and max score;
  and, for an assignment that does not show its hidden cases in full (``pass-fail`` or
  ``none`` when it was graded), ``visible_result``: the same JSON of a visible-cases-only
  grading of the file in fresh processes, the only source of the text a student reads
  (:func:`grader.serve.policy.reveal`); null otherwise (and in rows graded before revision
  0002).
- ``jobs``: one grading job per submission: ``queued`` / ``running`` / ``done``; a running
  job has an owner (worker id), a ``claim`` (a random id per claim, so a worker whose lease
  was taken over cannot store its result) and ``lease_expires_at``; ``attempts`` counts
  claims. See :mod:`grader.serve.jobs`.
- ``auth_failures``: one row per failed authentication (a token refused), with the client it
  came from (an address; an IPv6 client's /64) and when; only the last window's rows matter
  and older ones are deleted as new ones are written (revision 0003). See
  :mod:`grader.serve.throttle`.

URLs: ``sqlite:///path`` (or a bare file path), ``postgresql://...`` (driven by psycopg 3).
SQLite runs in WAL mode with a busy timeout; transactions begin with a plain ``BEGIN`` unless
a connection asks for ``BEGIN IMMEDIATE`` (``execution_options(sqlite_immediate=True)``), as
claiming a job does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import (
    Engine, ForeignKey, Index, Integer, LargeBinary, String, Text, create_engine, event, func,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker
from sqlalchemy.types import DateTime, TypeDecorator

from grader.serve import DEFAULT_DB

QUEUED, RUNNING, GRADED, ERROR = "queued", "running", "graded", "error"
JOB_DONE = "done"
STUDENT, INSTRUCTOR = "student", "instructor"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def database_now(session) -> dt.datetime:
    """The time by the database's clock (aware, UTC), for what processes on several machines
    compare: a job's lease (:mod:`grader.serve.jobs`). On PostgreSQL, ``clock_timestamp()``
    of the server, so grading workers whose clocks disagree still agree on when a lease
    ends; on SQLite, this machine's clock (a SQLite file is shared only by the processes of
    one machine)."""
    if session.get_bind().dialect.name == "postgresql":
        value = session.execute(select(func.clock_timestamp())).scalar_one()
        return value.astimezone(dt.timezone.utc)
    return utcnow()


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime")
            value = value.astimezone(dt.timezone.utc)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20), default=STUDENT)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    hash: Mapped[bytes] = mapped_column(LargeBinary)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    account: Mapped[Account] = relationship()


class Submission(Base):
    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    assignment: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default=QUEUED)
    result: Mapped[str | None] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column()
    max_score: Mapped[float | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    graded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    visible_result: Mapped[str | None] = mapped_column(Text)  # revision 0002

    account: Mapped[Account] = relationship()

    __table_args__ = (Index("ix_submissions_account_assignment", "account_id", "assignment"),)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=QUEUED)
    owner: Mapped[str | None] = mapped_column(String(200))
    claim: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    submission: Mapped[Submission] = relationship()

    __table_args__ = (Index("ix_jobs_status_id", "status", "id"),)


class AuthFailure(Base):
    __tablename__ = "auth_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_auth_failures_client_at", "client", "at"),
                      Index("ix_auth_failures_at", "at"))


def normalize_url(url: str | None) -> str:
    """``None`` -> ``sqlite:///grader.db``; a bare path -> a SQLite URL; ``postgresql://`` ->
    ``postgresql+psycopg://`` (psycopg 3 is the driver the project installs)."""
    if not url:
        url = DEFAULT_DB
    if "://" not in url:
        return "sqlite:///" + str(Path(url).expanduser().resolve())
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str | None) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn, _record):
            # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own transaction
            # handling cannot do BEGIN IMMEDIATE).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn):
            immediate = conn.get_execution_options().get("sqlite_immediate", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)


def sessions(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


class write_session:
    """``with write_session(engine) as session:`` a transaction that writes, committed on
    success. On SQLite it begins ``IMMEDIATE`` (waiting up to the busy timeout for the write
    lock), so a transaction that reads before it writes never fails with "database is locked"
    when another process wrote in between; elsewhere it is an ordinary transaction."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def __enter__(self):
        from sqlalchemy.orm import Session

        self._conn = self.engine.connect().execution_options(sqlite_immediate=True)
        self._session = Session(bind=self._conn, expire_on_commit=False)
        self._tx = self._session.begin()
        return self._session

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self._tx.commit()
            else:
                self._tx.rollback()
        finally:
            self._session.close()
            self._conn.close()
        return False

"""Schema migrations (Alembic), applied at start-up by ``grader serve``, ``grader worker`` and
the admin commands. The scripts ship inside the package (``schema/versions/``); a new
schema change is a new revision there (``alembic -c grader/serve/alembic.ini revision -m ...``
with ``sqlalchemy.url`` set to a scratch database)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

SCRIPTS = Path(__file__).resolve().parent / "schema"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema (creating it if empty). Safe to run from
    several processes at once: on SQLite the upgrade holds the write lock; on PostgreSQL
    Alembic's DDL runs in one transaction."""
    cfg = _config()
    with engine.connect() as conn:
        # SQLite: take the write lock first (several processes start together).
        conn = conn.execution_options(sqlite_immediate=True)
        with conn.begin():
            if engine.dialect.name == "postgresql":
                # One process migrates at a time (workers on other machines start together).
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7411402)")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()

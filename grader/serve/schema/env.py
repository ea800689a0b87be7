"""Alembic environment: run with a connection handed over by grader.serve.migrations."""

from alembic import context
from sqlalchemy import create_engine

from grader.serve.db import Base, normalize_url

target_metadata = Base.metadata
config = context.config


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # the alembic command line, e.g. `alembic revision --autogenerate`
    engine = create_engine(normalize_url(config.get_main_option("sqlalchemy.url")))
    with engine.begin() as conn:
        _run(conn)

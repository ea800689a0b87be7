"""The grading service: ``grader serve`` (web API + grading workers) and ``grader worker``.

Students upload a file over HTTP; the server stores it in a database, queues a grading job,
and grading workers (separate processes, each grading with :class:`grader.engine.Grader` in
the OS sandbox, exactly as ``grader submit`` does) claim jobs from that database and store the
result. Hidden cases and reference solutions never leave the server.

Modules, one concern each:

==================  =====================================================================
``db``              SQLAlchemy 2 models (accounts, tokens, submissions, jobs) and engines
``migrations``      Alembic, applied at start-up (scripts in ``schema/versions/``)
``auth``            tokens: random, stored only as ``hashlib.scrypt`` hashes; revocation
``throttle``        refused tokens counted per client: over 20 in 10 minutes, ``429``
``jobs``            the job queue: enqueue, claim with a lease, renew, complete exactly once
``policy``          per-assignment rules from ``course.toml``: due date, rate limit, reveal
``grades``          the class table (best and latest score per student and assignment)
``app``             the ASGI application (FastAPI): ``/api/...`` and ``/openapi.json``
``request_body``    request bodies held to a size and a pace while they stream in (413, 408)
``pages``           the browser pages (Jinja2 templates in ``web/``, cookie login)
``stats``           the instructor page's pass rates, named mistakes and score histogram
``worker_loop``     a grading worker: claim, grade, store; ``grader worker``
``server``          ``grader serve``: uvicorn plus ``--workers N`` supervised worker processes
``admin``           ``grader roster import``, ``grader token create|revoke``
``client``          the student side: ``grader submit --server``, ``grader history``
==================  =====================================================================
"""

# Defaults shared by the CLI and the modules (here so `grader --help` imports no web stack).
DEFAULT_DB = "grader.db"
DEFAULT_MAX_UPLOAD = 5 * 2**20  # bytes
DEFAULT_LEASE_SECONDS = 120.0
DEFAULT_WORKERS = 2

"""``grader serve``: the web application on uvicorn plus ``--workers N`` grading workers.

The workers are child processes (``grader worker`` each, against the same database), so
grading (JAX in the parent, sandboxes) never slows the web server's event loop, and one that
dies is started again (its job's lease expires and is claimed again). They get SIGTERM when
the server stops, and die with it if it is killed (``PR_SET_PDEATHSIG``). They run at nice
``WORKER_NICE`` (10), as do the sandboxes they start: grading is batch work, and on a
machine it shares with the web server, a student's status request is answered first.

Slow and idle clients (uvicorn's settings, chosen here, and one addition):

- ``REQUEST_HEAD_SECONDS`` (10 s): a client must send a complete request line and headers
  within 10 s of opening its connection (a later request on a kept-alive connection: of its
  first byte), else it gets ``408`` and the connection is closed. uvicorn has no such timeout (its open item ``--timeout-request-start``,
  Kludex/uvicorn#157): a slowloris client that sends half a request line would hold its
  connection forever.
- ``MIN_BODY_RATE`` (500 bytes/s): a request's body must keep coming, each part within
  ``REQUEST_HEAD_SECONDS`` of the application asking for it and the whole at this average
  pace after those first 10 s (``10 s + received / 500`` of waiting in all; Apache's
  ``mod_reqtimeout`` rule ``body=10,MinRate=500``), else ``408`` and the connection is
  closed (:mod:`grader.serve.request_body`, an ASGI middleware: only the time the
  application waits for the client counts). Without it, 1000 connections sending the start
  of a body and then nothing held every ``LIMIT_CONCURRENCY`` slot. A large upload on a slow
  link still gets in (5 MiB at 50 kB/s takes 105 s).
- ``TIMEOUT_KEEP_ALIVE`` (5 s): an idle connection between requests is closed after 5 s (a
  polling client keeps its one connection: ``grader submit`` asks every 1-3 s,
  :data:`grader.serve.client.MAX_POLL_SECONDS`; the pages every second).
- ``LIMIT_CONCURRENCY`` (1000): connections and requests in progress beyond which a new
  request is answered ``503`` at once instead of queueing without bound (uvicorn counts open
  connections, idle ones too; the file-descriptor limit is raised to fit it).
- ``MAX_HEAD_BYTES`` (16 KiB, h11's ``max_incomplete_event_size``): the most of a request
  head held in memory per connection (1000 slow connections: at most 16 MiB); a longer head
  is a ``400``. A token (``Authorization`` header, or the pages' login cookie) is about
  80 bytes.
- ``TIMEOUT_GRACEFUL_SHUTDOWN`` (10 s): stopping the server waits at most this long for
  requests in progress.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time

from grader.serve.worker_loop import _log

REQUEST_HEAD_SECONDS = 10.0
MIN_BODY_RATE = 500  # bytes/s
TIMEOUT_KEEP_ALIVE = 5
LIMIT_CONCURRENCY = 1000
MAX_HEAD_BYTES = 16 * 1024
TIMEOUT_GRACEFUL_SHUTDOWN = 10
WORKER_NICE = 10


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the workers then outlive a killed server
        pass


def _start_worker() -> None:  # runs in the child between fork and exec
    os.nice(WORKER_NICE)
    _die_with_parent()


def _open_files_for(connections: int) -> None:
    """Raise the soft limit of open files (up to the hard one) to fit ``connections`` sockets
    plus the database's, the workers' pipes and the logs."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + 256
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def _http_protocol():
    """uvicorn's h11 protocol with a deadline for a request's head (``REQUEST_HEAD_SECONDS``).

    The deadline is armed when a connection opens and when bytes of a new request arrive
    (not re-armed by later bytes: trickling one byte at a time does not extend it), and
    disarmed once h11 has parsed the request line and headers.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class RequestHeadDeadline(H11Protocol):
        _head_timer = None

        def _arm(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(REQUEST_HEAD_SECONDS, self._too_slow)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is h11.IDLE:
                self._arm()  # a request's head is still coming in
            else:
                self._disarm()  # parsed (its body, if any, may take its time), or closing

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _too_slow(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.write(b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                                     b"Content-Length: 0\r\n\r\n")
                self.transport.close()

    return RequestHeadDeadline


class Workers:
    """N ``grader worker`` processes, restarted when one exits while the server runs."""

    def __init__(self, n: int, argv: list[str]):
        self.n, self.argv = n, argv
        self.procs: list[subprocess.Popen] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._supervise, daemon=True,
                                       name="worker-supervisor")

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen(self.argv, preexec_fn=_start_worker)

    def _supervise(self) -> None:
        # Started (and restarted) from this one thread: PDEATHSIG follows the thread that forks.
        self.procs = [self._spawn() for _ in range(self.n)]
        while not self.stopping.wait(1.0):
            for i, p in enumerate(self.procs):
                if p.poll() is not None and not self.stopping.is_set():
                    _log(f"grading worker {p.pid} exited ({p.returncode}); starting another")
                    time.sleep(1.0)
                    self.procs[i] = self._spawn()
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 15
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def start(self) -> None:
        if self.n > 0:
            self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join()


def serve(*, db_url: str, courses: list[str], host: str, port: int, workers: int,
          lease_seconds: float, max_upload_bytes: int, no_sandbox: bool,
          policy=None) -> int:
    import uvicorn

    from grader import registry
    from grader.serve import migrations
    from grader.serve.app import create_app
    from grader.serve.db import make_engine, normalize_url

    url = normalize_url(db_url)
    engine = make_engine(url)
    migrations.upgrade(engine)
    app = create_app(engine, assignments=registry.ids(), max_upload_bytes=max_upload_bytes,
                     policy=policy)
    argv = [sys.executable, "-m", "grader.cli", "worker", "--db", url,
            "--lease-seconds", str(lease_seconds)]
    for c in courses:
        argv += ["--course", str(c)]
    if no_sandbox:
        argv.append("--no-sandbox")
    pool = Workers(workers, argv)
    shown = url if not url.startswith("postgresql") else url.split("@")[-1]
    print(f"grader serve: http://{host}:{port}/ (API /api, OpenAPI /openapi.json), database "
          f"{shown}, {workers} grading worker{'s' if workers != 1 else ''}", file=sys.stderr,
          flush=True)
    # uvicorn handles SIGINT/SIGTERM while it serves (a graceful shutdown), then raises the
    # signal again with the handlers it found: these, so the workers are stopped below
    # instead of the process dying at that point.
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    pool.start()
    try:
        _open_files_for(LIMIT_CONCURRENCY)
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                    http=_http_protocol(), timeout_keep_alive=TIMEOUT_KEEP_ALIVE,
                    limit_concurrency=LIMIT_CONCURRENCY,
                    h11_max_incomplete_event_size=MAX_HEAD_BYTES,
                    timeout_graceful_shutdown=TIMEOUT_GRACEFUL_SHUTDOWN)
    finally:
        pool.stop()
        engine.dispose()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0

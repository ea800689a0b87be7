"""``grader serve``: the web application on uvicorn plus ``--workers N`` grading workers.

The workers are child processes (``grader worker`` each, against the same database), so
grading (JAX in the parent, sandboxes) never slows the web server's event loop, and one that
dies is started again (its job's lease expires and is claimed again). They get SIGTERM when
the server stops, and die with it if it is killed (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import threading
import time

from grader.serve.worker_loop import _log


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the workers then outlive a killed server
        pass


class Workers:
    """N ``grader worker`` processes, restarted when one exits while the server runs."""

    def __init__(self, n: int, argv: list[str]):
        self.n, self.argv = n, argv
        self.procs: list[subprocess.Popen] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._supervise, daemon=True,
                                       name="worker-supervisor")

    def _spawn(self) -> subprocess.Popen:
        return subprocess.Popen(self.argv, preexec_fn=_die_with_parent)

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
          lease_seconds: float, max_upload_bytes: int, no_sandbox: bool) -> int:
    import uvicorn

    from grader import registry
    from grader.serve import migrations
    from grader.serve.app import create_app
    from grader.serve.db import make_engine, normalize_url

    url = normalize_url(db_url)
    engine = make_engine(url)
    migrations.upgrade(engine)
    app = create_app(engine, assignments=registry.ids(), max_upload_bytes=max_upload_bytes)
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
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        pool.stop()
        engine.dispose()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0

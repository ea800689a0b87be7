"""The grader's XLA flags (:mod:`grader.compile_flags`): set before JAX's backend starts, never
over the caller's own choice, and handed to every worker, so that student results and expected
values are compiled alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from grader import compile_flags, protocol
from grader.engine import PROJECT_ROOT
from grader.runner import Worker

_PROBE = """
import json, os
from grader import compile_flags
if {start_backend!r}:
    import jax.numpy as jnp
    jnp.ones(2).block_until_ready()
did = compile_flags.use_fast_compile()
print(json.dumps({{"did": did, "flags": os.environ.get("XLA_FLAGS"), "worker": compile_flags.for_worker()}}))
"""


def run_python(code: str, xla_flags: str | None) -> dict:
    """The JSON object the last line of ``code``'s output holds, ``code`` run by a fresh Python
    with this project importable and ``XLA_FLAGS`` set to ``xla_flags`` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    proc = subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(PROJECT_ROOT)!r})\n" + code],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _probe(xla_flags: str | None, start_backend: bool = False) -> dict:
    return run_python(_PROBE.format(start_backend=start_backend), xla_flags)


def test_flags_are_set_before_the_backend_starts():
    out = _probe(None)
    assert out["did"] is True
    assert out["flags"].split() == list(compile_flags.FAST_COMPILE)
    assert out["worker"] == out["flags"]


def test_the_callers_own_flags_win_and_are_kept():
    own = "--xla_backend_optimization_level=3 --xla_cpu_enable_fast_math=false"
    out = _probe(own)
    flags = out["flags"].split()
    # Ours only where the caller named no value of the same flag; the caller's in their order.
    assert flags == ["--xla_cpu_use_fusion_emitters=false", *own.split()]


def test_a_started_backend_keeps_its_flags_and_so_do_its_workers():
    out = _probe("--xla_cpu_enable_fast_math=false", start_backend=True)
    assert out["did"] is False
    assert out["flags"] == out["worker"] == "--xla_cpu_enable_fast_math=false"


def in_worker(source: str, fn: str):
    """``fn()`` of ``source`` run in a fresh grading worker of this process (its environment as
    :mod:`grader.runner` builds it now)."""
    w = Worker(memory_bytes=2**30, output_bytes=4096, output_hard_bytes=2**20)
    try:
        failure = w.start()
        assert failure is None, failure
        load = w.request({"op": "load", "source": source, "filename": "probe.py"}, timeout=30, what="loading")
        assert load.header["ok"], load.header
        blobs: list[bytes] = []
        reply = w.request({"op": "call", "fn": fn, "kwargs": {"dict": []},
                           "args": protocol.encode_value((), blobs)}, blobs, timeout=30, what="calling")
        assert reply.failure is None and reply.header["ok"], reply
        return protocol.decode_value(reply.header["out"], reply.blobs)
    finally:
        w.kill()


def test_a_worker_compiles_with_the_parents_flags():
    """The worker's environment is scrubbed (test_sandbox), except for what it must share with
    the parent: a worker started here sees exactly this process's XLA_FLAGS."""
    seen = in_worker("import os\n\ndef flags():\n    return os.environ.get('XLA_FLAGS')\n", "flags")
    assert seen == os.environ.get("XLA_FLAGS", "")
    # The suite runs as the grader does (tests/conftest.py), so these are the fast flags.
    assert set(compile_flags.FAST_COMPILE) <= set(seen.split())

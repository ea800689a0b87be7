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
import json, os, sys
sys.path.insert(0, {root!r})
from grader import compile_flags
if {start_backend!r}:
    import jax.numpy as jnp
    jnp.ones(2).block_until_ready()
did = compile_flags.use_fast_compile()
print(json.dumps({{"did": did, "flags": os.environ.get("XLA_FLAGS"), "worker": compile_flags.for_worker()}}))
"""


def _probe(xla_flags: str | None, start_backend: bool = False) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    code = _PROBE.format(root=str(PROJECT_ROOT), start_backend=start_backend)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


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


def test_a_worker_compiles_with_the_parents_flags():
    """The worker's environment is scrubbed (test_sandbox), except for what it must share with
    the parent: a worker started here sees exactly this process's XLA_FLAGS."""
    w = Worker(memory_bytes=2**30, output_bytes=4096, output_hard_bytes=2**20)
    try:
        assert w.start() is None
        src = "import os\n\ndef flags():\n    return os.environ.get('XLA_FLAGS')\n"
        load = w.request({"op": "load", "source": src, "filename": "flags.py"}, timeout=30, what="loading")
        assert load.header["ok"], load.header
        blobs: list[bytes] = []
        reply = w.request({"op": "call", "fn": "flags", "kwargs": {"dict": []},
                           "args": protocol.encode_value((), blobs)}, blobs, timeout=30, what="calling")
        assert reply.failure is None and reply.header["ok"], reply
        seen = protocol.decode_value(reply.header["out"], reply.blobs)
    finally:
        w.kill()
    assert seen == os.environ.get("XLA_FLAGS", "")
    # The suite runs as the grader does (tests/conftest.py), so these are the fast flags.
    assert set(compile_flags.FAST_COMPILE) <= set(seen.split())

"""XLA's compile options for the grader's own processes: fast compiles, and the same everywhere.

A grading compiles hundreds of small programs (every eager operation of a student's file, once
per shape, the jit cases, the parent's expected values) and runs each only a few times, while
XLA's CPU pipeline by default spends compile time to gain run time. Two of its flags halve the
compile time of such programs:

- ``--xla_backend_optimization_level=1``: LLVM's ``-O1`` instead of ``-O2``;
- ``--xla_cpu_use_fusion_emitters=false``: fused loops built by XLA's elemental emitter instead
  of its MLIR fusion emitters.

Measured here (2 cores): 11 eager ops of the course's sizes in a fresh process, 1.76 s to compile
by default and 0.87 s with both; ``grader submit`` of all seven reference solutions, cold, 64-73 s
and 41-46 s (``benchmarks/grader_speed``; 106-119 s and 66-73 s of processor time).

Neither flag is free of numerical effect. Twelve elementwise functions and random draws tried
gave the same bits with and without them, but each flag changes the last bit of something in
``week3/hyperparameter_tuning``'s vmapped momentum training, and that search is chaotic
(learning rates up to 16): with the workers alone on the flags, a correct ``coarse_to_fine``
lost its 5 points at seeds 1 and 2 (either flag alone, or both), and a
``week1/initialization`` He draw from which the network gets stuck at 50% by default trains
to 97% with them. So every process of one grading must compile alike: :func:`use_fast_compile`
sets the flags in the command-line process before JAX's backend starts, and the workers and the
jit executor get the parent's ``XLA_FLAGS`` (:func:`for_worker`, read by :mod:`grader.runner`).
A process whose backend had already started (a notebook kernel calling ``grader.check``) keeps
its own flags, and so do its workers. Flags of the caller's own in ``XLA_FLAGS`` win over these;
an ``XLA_FLAGS`` that names a file of flags (XLA reads a value not starting with ``-`` so) is
read here, since the sandbox does not show the file. And because XLA reads its flags once per
process, ``XLA_FLAGS`` changed after that (``%env`` in a kernel) would give the workers other
flags than the parent's: every worker reports :func:`options_digest` when it starts, and one
that differs from the parent's is refused (:mod:`grader.runner`: a grading error, never a
student's zero).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from pathlib import Path

FAST_COMPILE = ("--xla_backend_optimization_level=1", "--xla_cpu_use_fusion_emitters=false")
ENV = "XLA_FLAGS"


def _backend_started() -> bool:
    if "jax" not in sys.modules:
        return False
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):  # pragma: no cover - a jax without the probe: assume started
        return True


def _flags_text() -> str:
    """This process's ``XLA_FLAGS`` as flags: the text of the file it names if it names one
    (xla/parse_flags_from_env.cc). A file that cannot be read is left to XLA, which names it."""
    value = os.environ.get(ENV, "")
    if value.strip() and not value.lstrip().startswith("-"):
        try:
            return " ".join(Path(value.strip()).read_text(encoding="utf-8").split())
        except (OSError, UnicodeDecodeError):
            return value
    return value


def use_fast_compile() -> bool:
    """Put :data:`FAST_COMPILE` into this process's ``XLA_FLAGS`` (before any flag the caller
    set there, so that the caller's choice of the same flag wins) if JAX's backend has not
    started yet; returns whether it did."""
    if _backend_started():
        return False
    own = _flags_text().split()
    named = {flag.split("=", 1)[0] for flag in own}
    ours = [flag for flag in FAST_COMPILE if flag.split("=", 1)[0] not in named]
    os.environ[ENV] = " ".join([*ours, *own])
    return True


def for_worker() -> str:
    """The ``XLA_FLAGS`` a worker of this process starts with: this process's own, so that a
    student's results and the parent's expected values are compiled alike."""
    return _flags_text()


@functools.cache
def options_digest() -> str:
    """A digest of the compile options XLA's flags give this process (sha256 of a default
    ``CompileOptions``, whose ``DebugOptions`` come from the flags XLA parsed, once per process;
    calling this parses them if nothing has yet). Equal in two processes that compile alike."""
    from jax._src.lib import xla_client

    return hashlib.sha256(xla_client.CompileOptions().SerializeAsString()).hexdigest()[:16]

"""Red-team attacks on the grader's compile flags (:mod:`grader.compile_flags`): the parent, its
workers and the jit executor must compile alike, the caller's own choice of a flag wins, and
forwarding ``XLA_FLAGS`` into the worker opens nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax

from grader import compile_flags
from grader.runner import Worker
from tests.grader.test_compile_flags import in_worker, run_python

# What XLA actually compiles with (its flags are parsed once, when the backend starts): the
# optimization level of a fresh CompileOptions, whose DebugOptions come from the parsed flags.
_EFFECTIVE_LEVEL = ("from jax._src.lib import xla_client\n"
                    "def level():\n"
                    "    import jax.numpy as jnp\n"
                    "    jnp.ones(2).block_until_ready()\n"
                    "    return xla_client.CompileOptions().executable_build_options"
                    ".debug_options.xla_backend_optimization_level\n")


def _effective_level() -> int:
    from jax._src.lib import xla_client

    return xla_client.CompileOptions().executable_build_options.debug_options.xla_backend_optimization_level


# -- the caller's XLA_FLAGS naming a file of flags ----------------------------------------------
# XLA reads XLA_FLAGS as the name of a file of flags when it does not start with "-"
# (xla/parse_flags_from_env.cc).


def test_flags_from_a_file_named_by_xla_flags_are_the_callers_choice(tmp_path):
    """The caller chose LLVM -O2 in a flags file; use_fast_compile must not override it."""
    flags_file = tmp_path / "xla.flags"
    flags_file.write_text("--xla_backend_optimization_level=2\n")
    out = run_python("import json\n"
                  "from grader import compile_flags\n"
                  "compile_flags.use_fast_compile()\n" + _EFFECTIVE_LEVEL +
                  "print(json.dumps({'level': level()}))\n", str(flags_file))
    assert out["level"] == 2


def test_a_worker_starts_when_the_parents_xla_flags_name_a_file(tmp_path, monkeypatch):
    """A notebook kernel started with XLA_FLAGS naming a flags file (its backend running, so
    use_fast_compile leaves it alone): the worker must compile as the kernel does, not die at
    start because the file is outside its sandbox."""
    flags_file = tmp_path / "xla.flags"
    flags_file.write_text(" ".join(compile_flags.FAST_COMPILE) + "\n")
    monkeypatch.setenv("XLA_FLAGS", str(flags_file))
    assert in_worker(_EFFECTIVE_LEVEL, "level") == _effective_level()


def test_xla_flags_changed_after_the_backend_started_give_no_worker_that_compiles_otherwise(monkeypatch):
    """A notebook cell sets XLA_FLAGS after JAX started (``%env XLA_FLAGS=...``): the kernel
    still compiles with the flags it started with. A worker started from it would compile
    otherwise, so it is refused at start (a grading error naming XLA_FLAGS), never run."""
    assert jax.devices()  # this process's backend runs (with the suite's flags)
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=3")
    w = Worker(memory_bytes=2**30, output_bytes=4096, output_hard_bytes=2**20)
    try:
        failure = w.start()
    finally:
        w.kill()
    assert failure is not None and failure.kind == "start" and "XLA_FLAGS" in failure.message, failure
    monkeypatch.setenv("XLA_FLAGS", " ".join(compile_flags.FAST_COMPILE))  # as it started: runs
    assert in_worker(_EFFECTIVE_LEVEL, "level") == _effective_level()


# -- attacks that failed (the boundary held) ----------------------------------------------------


def test_a_worker_clearing_xla_flags_writes_no_cache_entry_a_flagless_process_finds(tmp_path):
    """Student code that empties XLA_FLAGS after its worker's backend started (with the fast
    flags) compiles under a cache key that still names those flags (JAX hashes the parsed
    DebugOptions too), so its entries never serve a process started without them."""
    code = ("import json, os, sys, jax, jax.numpy as jnp\n"
            "jnp.ones(2).block_until_ready()\n"
            "if sys.argv[-1] == 'clear':\n"
            "    os.environ['XLA_FLAGS'] = ''\n"
            "from jax._src import compilation_cache\n"
            "jax.config.update('jax_compilation_cache_dir', os.environ['CACHE'])\n"
            "jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)\n"
            "jax.config.update('jax_persistent_cache_min_entry_size_bytes', -1)\n"
            "compilation_cache.reset_cache()\n"
            "before = set(os.listdir(os.environ['CACHE']))\n"
            "jax.jit(lambda x: jnp.tanh(x) * 3 + 1)(jnp.arange(5.0)).block_until_ready()\n"
            "print(json.dumps(sorted(set(os.listdir(os.environ['CACHE'])) - before)))\n")
    fast, flagless = tmp_path / "fast", tmp_path / "flagless"
    fast.mkdir()
    flagless.mkdir()

    def run(xla_flags, cache, arg):
        env = {k: v for k, v in os.environ.items()
               if k != "XLA_FLAGS" and not k.startswith("JAX_COMPILATION_CACHE")}
        if xla_flags is not None:
            env["XLA_FLAGS"] = xla_flags
        env["CACHE"] = str(cache)
        proc = subprocess.run([sys.executable, "-c", code, arg], env=env, capture_output=True,
                              text=True, timeout=120, check=True)
        return set(json.loads(proc.stdout.strip().splitlines()[-1]))

    cleared = run(" ".join(compile_flags.FAST_COMPILE), fast, "clear")
    plain = run(None, flagless, "keep")
    assert cleared and plain and not cleared & plain


def test_a_dump_flag_of_the_caller_writes_nothing_on_the_host(tmp_path):
    """XLA_FLAGS reaches the worker; a dump folder named there (in a grader process started
    with it) is outside the worker's sandbox, so student programs are not dumped onto the host,
    and the worker still starts."""
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    src = "import jax.numpy as jnp\n\ndef f():\n    return float(jnp.sum(jnp.arange(3.0) * 2))\n"
    code = ("import json\n"
            "from tests.grader.test_compile_flags import in_worker\n"
            f"print(json.dumps({{'out': in_worker({src!r}, 'f')}}))\n")
    flags = f"{' '.join(compile_flags.FAST_COMPILE)} --xla_dump_to={dumps} --xla_dump_hlo_as_text"
    assert run_python(code, flags)["out"] == 6.0
    assert list(dumps.iterdir()) == []

"""Opt-in persistent compilation cache: compile a training program once, reuse it across runs.

JAX can save compiled XLA executables to disk and load them in a later process instead of
compiling again. It is off by default; turn it on with one call::

    import jaxdl.train
    jaxdl.train.enable_compilation_cache()            # ~/.cache/jaxdl/jax
    jaxdl.train.enable_compilation_cache("/tmp/jc")   # or any directory

or from an environment variable, applied by :func:`enable_from_env` (importing jaxdl
changes no JAX configuration)::

    JAXDL_COMPILATION_CACHE=/path/to/dir python train.py   # train.py calls enable_from_env()
    JAXDL_COMPILATION_CACHE=1 python train.py          # "1"/"true"/"yes"/"on": default dir

Without touching code at all, JAX's own variables do the same:
``JAX_COMPILATION_CACHE_DIR=/path/to/dir JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=-1``.

What it sets (``jax.config``): ``jax_compilation_cache_dir`` to the directory,
``jax_persistent_cache_min_compile_time_secs = 0`` and
``jax_persistent_cache_min_entry_size_bytes = -1``, so that the small, fast-to-compile
programs of a course (which JAX would skip by default: it only caches programs that took
more than 1 s to compile) are cached too. Cache entries are keyed on the program, the
compiler options, the jax/jaxlib version and the device, so a stale entry is never used.

The cache is trusted code: do not point it at a directory other people can write to.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

__all__ = [
    "ENV_VAR",
    "default_cache_dir",
    "enable_compilation_cache",
    "disable_compilation_cache",
    "compilation_cache_dir",
]

ENV_VAR = "JAXDL_COMPILATION_CACHE"
_TRUTHY = {"1", "true", "yes", "on"}
_FALSY = {"", "0", "false", "no", "off"}


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/jaxdl/jax``, i.e. ``~/.cache/jaxdl/jax`` unless XDG_CACHE_HOME is set."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "jaxdl" / "jax"


def _reset_jax_cache() -> None:
    # JAX initializes its cache object once, at the first compilation after a directory is
    # set; resetting makes a new (or changed) directory take effect in this process.
    from jax.experimental.compilation_cache import compilation_cache as cc

    cc.reset_cache()


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path:
    """Turn on JAX's persistent compilation cache in ``path`` (created if missing).

    Args:
      path: cache directory; ``None`` means :func:`default_cache_dir` (``~/.cache/jaxdl/jax``).
        ``~`` is expanded.

    Returns:
      The absolute directory used.

    Every program compiled afterwards (any ``jax.jit``, including :func:`jaxdl.train.fit`'s
    training loop) is written there, however small or quick to compile, and later
    processes load it instead of recompiling. Calling it again with another path switches
    directories. Undo with :func:`disable_compilation_cache`.

    >>> enable_compilation_cache("/tmp/jaxdl-cache")   # doctest: +SKIP
    PosixPath('/tmp/jaxdl-cache')
    """
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike (a directory), got {type(path).__name__} {path!r}")
    directory = default_cache_dir() if path is None else Path(path).expanduser()
    directory = directory.absolute()
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"path must be a directory, got the file {str(directory)!r}")
    directory.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    _reset_jax_cache()
    return directory


def disable_compilation_cache() -> None:
    """Stop using the persistent cache in this process (JAX's defaults are restored)."""
    jax.config.update("jax_compilation_cache_dir", None)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _reset_jax_cache()


def compilation_cache_dir() -> Path | None:
    """The directory the persistent cache currently uses, or ``None`` when it is off."""
    value = jax.config.jax_compilation_cache_dir
    return Path(value) if value else None


def enable_from_env(environ: os._Environ | dict | None = None) -> Path | None:
    """Apply ``JAXDL_COMPILATION_CACHE`` (when called: importing jaxdl does not).

    Unset, empty, ``0``/``false``/``no``/``off``: nothing happens. ``1``/``true``/``yes``/``on``:
    the default directory. Anything else: that directory.
    """
    env = os.environ if environ is None else environ
    value = env.get(ENV_VAR)
    if value is None or value.strip().lower() in _FALSY:
        return None
    if value.strip().lower() in _TRUTHY:
        return enable_compilation_cache(None)
    return enable_compilation_cache(value)

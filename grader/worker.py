"""The worker: the only process that runs student code.

Started by :mod:`grader.runner` as ``python -s -P -B -c <bootstrap> <config-json>``, in its own
session, with a fresh temporary directory as working directory and a scrubbed environment.

- fd 0 is ``/dev/null``; fds 1 and 2 both go to an append-only log file the parent owns and
  reads after each request (so ``print``, warnings and tracebacks of student code become
  feedback, never failures). Two dedicated pipe fds (given in the config) carry the protocol
  (:mod:`grader.protocol`); student code writing to them only garbles its own answers.
- Before any student code: resource limits (``RLIMIT_DATA`` = the memory cap, a generous
  ``RLIMIT_AS``, ``RLIMIT_FSIZE`` as a backstop on any file, no core files), JAX imported and its
  CPU backend initialised, the assignment's ``preload`` modules imported, then the audit-hook
  policy of :mod:`grader.sandbox` armed. JAX therefore imports once per worker.
- Requests, one at a time:

  ``load``  exec the student's source (sent by the parent, never read from disk here) into a
            *fresh* module namespace named ``submission``. The parent loads before every part,
            so no part sees globals another part's calls left behind. A notebook comes as
            ``cells`` (``[number, first line, source]``), run as a Jupyter kernel runs them by
            :mod:`grader.nbexec`; the cells that did not parse or raised come back as
            ``cell_errors`` (the reply is ``ok``: what the other cells defined is graded).
  ``call``  call a function of the current namespace. Modes: ``call`` (plain), ``jit``
            (``jax.jit`` with the case's static argument names/numbers), ``vjp`` (pull a
            cotangent back through the student's function with ``jax.vjp`` and return the
            gradients for the requested argument numbers), ``export`` (trace for the
            arguments' shapes and send back the ``jax.export`` program, with its vjp if
            ``vjp`` is set: what the parent sends jit and vjp cases, whose verdict comes
            from ``run_exported`` in a worker with no student code; ``jit`` and ``vjp`` run
            only when the parent has no such worker). Arrays arrive as numpy and are
            handed to the student as ``jax.Array``; typed PRNG keys are rewrapped with
            ``jax.random.wrap_key_data``. ``x64`` runs the call inside ``jax.enable_x64(True)``; ``cold`` with
            JAX's persistent compilation cache off.
            ``replace`` binds trusted helpers (``"trusted:function"``: a function of the
            assignment folder's ``trusted.py``; the worker receives, as source text before
            the policy is armed, only the helpers the part binds and what they use) over names of the student's namespace for this call only, so a graded function that calls other graded functions is judged on
            its own code.
  ``run_exported``  only in a worker that loaded no student file (the parent's executor):
            run a program ``export`` produced on the real inputs, or with ``vjp_argnums`` and
            ``cotangent`` pull the cotangent back through it (:func:`_run_exported`).

Every reply carries the import-policy violations recorded while serving it. Replies never
contain anything but the return value (as arrays/JSON), an error description, or names.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import signal
import resource
import sys
import time
import traceback
import types
from collections.abc import Iterator, Mapping

from grader import compile_flags, nbexec, protocol, worker_cache

_MODULE_NAME = "submission"
_MISSING = object()


@contextlib.contextmanager
def bound_helpers(namespace: dict, replace: dict, modules: Mapping[str, types.ModuleType]) -> Iterator[None]:
    """Bind a case's trusted helpers into ``namespace`` for one call, then restore it.

    ``replace`` maps a global name of the submission to ``"module:attr"``; ``modules`` maps
    module names to modules (the worker's preloaded ones). A missing module or attribute
    raises ``KeyError``/``AttributeError`` with ``namespace`` left as it was.
    """
    saved: dict = {}
    try:
        for name, spec in replace.items():
            mod_name, _, attr = str(spec).partition(":")
            saved[name] = namespace.get(name, _MISSING)
            namespace[name] = getattr(modules[mod_name], attr)
        yield
    finally:
        for name, value in saved.items():
            if value is _MISSING:
                namespace.pop(name, None)
            else:
                namespace[name] = value


class _State:
    module: types.ModuleType | None = None
    preloaded: dict = {}  # name -> module, kept even after the policy hides it
    filename: str = "<submission>"
    policy = None
    seeded: dict = {}  # cache entry name -> size copied in at start
    cache_folder: str | None = None


def _set_limits(cfg: dict) -> None:
    mem = int(cfg["memory_bytes"])
    for res, value in (
        (resource.RLIMIT_DATA, mem),
        (resource.RLIMIT_AS, mem + 6 * 2**30),
        # Any single file (the output log, a cache entry, a student's file) is capped; the
        # parent stops a flood much earlier, at output_hard_bytes, by watching the log.
        (resource.RLIMIT_FSIZE, int(cfg["output_hard_bytes"]) + 256 * 2**20),
        (resource.RLIMIT_CORE, 0),
    ):
        try:
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError):  # pragma: no cover - limit above the current hard limit
            pass
    cpu = int(cfg.get("cpu_seconds") or 0)
    if cpu > 0:  # SIGXCPU at the soft limit (reported as such), SIGKILL 5 s later
        try:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        except (ValueError, OSError):  # pragma: no cover - limit above the current hard limit
            pass


def _seed_cache(cfg: dict) -> str | None:
    """Copy the submission's cache entries (``cache_seed``, read-only) into the scratch folder
    and return the folder JAX should use; ``cache_out`` later sends back what was added."""
    seed = cfg.get("cache_seed")
    if not seed:
        return None
    folder = os.path.join(cfg["workdir"], ".jax-cache")
    os.makedirs(folder, exist_ok=True)
    for name, data in worker_cache.read_entries(seed):
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
        _State.seeded[name] = len(data)
    _State.cache_folder = folder
    return folder


def _cache_out() -> tuple[dict, list[bytes]]:
    """``op="cache_out"``: the cache entries compiled since the worker started, as blobs."""
    import numpy as np

    if not _State.cache_folder:
        return {"ok": True, "files": []}, []
    entries = worker_cache.read_entries(_State.cache_folder, skip=_State.seeded)
    blobs = [protocol.array_to_npy(np.frombuffer(data, dtype=np.uint8)) for _, data in entries]
    return {"ok": True, "files": [[name, i] for i, (name, _) in enumerate(entries)]}, blobs


def _configure_jax(cfg: dict):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_platforms", "cpu")
    # Initialise the backend and the lazily imported compiler pieces now, not in the first
    # student call (which has a time limit), and *before* the submission's cache is seeded:
    # its entries are the submission's to poison (a red-team file stored an endless loop
    # under the key of this warm-up), and a worker that cannot start is the grader's fault.
    # One eager op, then one program holding a vjp and a key split: the pieces each of them
    # imports on first use, for 0.19 s (one program per piece took 0.31 s).
    def warm_up(key, a):
        y, pull_back = jax.vjp(lambda b: jnp.sum(b * b), a)
        return pull_back(y)[0] * 2 + 1, jax.random.key_data(jax.random.split(key))

    jax.block_until_ready(jax.jit(warm_up)(jax.random.key(0), jnp.arange(4.0)))
    cache = _seed_cache(cfg)
    if cache:
        from jax._src import compilation_cache

        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
        compilation_cache.reset_cache()  # the warm-up initialised it without a folder
    return jax


def _key_data(jax):
    prng_key = jax.dtypes.prng_key

    def key_data(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, prng_key):
            return jax.random.key_data(x), _impl_name(jax, x)
        return None

    return key_data


def _impl_name(jax, key) -> str:
    impl = jax.random.key_impl(key)
    name = getattr(impl, "name", None) or str(impl)
    return str(name).removeprefix("PRNGImpl(").rstrip(")")


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001
            pass


def _safe_str(exc: BaseException, limit: int = 4000) -> str:
    try:
        text = str(exc)
    except BaseException:  # noqa: BLE001
        text = "<the exception's message could not be printed>"
    if not isinstance(text, str):
        text = "<not a string>"
    return text[:limit]


def _error(exc: BaseException) -> dict:
    """Describe an exception raised by student code (frames of the student's file only)."""
    import linecache

    frames = []
    try:
        # Walk the frames without looking up source lines: only the student's file (registered
        # in linecache by `_load`) is read, never a library or grader file.
        for frame, lineno in traceback.walk_tb(exc.__traceback__):
            code = frame.f_code
            if code.co_filename == _State.filename:
                line = linecache.getline(_State.filename, lineno).strip()
                frames.append([lineno, code.co_name, line[:200]])
    except BaseException:  # noqa: BLE001
        pass
    info = {"type": type(exc).__name__[:100], "message": _safe_str(exc), "frames": frames[-8:]}
    if isinstance(exc, SyntaxError):
        info["line"] = exc.lineno if isinstance(exc.lineno, int) else None
        info["text"] = (exc.text or "")[:200] if isinstance(exc.text, str) else ""
        info["message"] = str(exc.msg)[:500] if isinstance(exc.msg, str) else info["message"]
    if isinstance(exc, MemoryError) or "RESOURCE_EXHAUSTED" in info["message"]:
        info["memory"] = True
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        info["flood"] = True
    if type(exc).__name__ == "ForbiddenImport":
        info["forbidden"] = True
    return info


def _hashable(value):
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    return value


def _load(header: dict) -> dict:
    import linecache

    source, filename = header["source"], header["filename"]
    _State.filename = filename
    # Lines as Python numbers them (\n, \r\n, \r), not str.splitlines (which also splits at
    # \x0c, \u2028 ...): the frames' quoted lines must be the lines their numbers name.
    lines = io.StringIO(source, newline=None).readlines()
    linecache.cache[filename] = (len(source), None, lines, filename)
    module = types.ModuleType(_MODULE_NAME)
    module.__file__ = filename
    sys.modules[_MODULE_NAME] = module
    _State.module = None
    cell_errors: list[dict] = []
    try:
        if "cells" in header:  # a notebook: its code cells as a kernel runs them (grader.nbexec)
            cell_errors = nbexec.run_cells(header["cells"], module.__dict__, filename,
                                           keep_going=bool(header.get("keep_going")), error=_error,
                                           seconds=header.get("seconds"))
        else:
            code = compile(source, filename, "exec", dont_inherit=True)
            exec(code, module.__dict__)  # noqa: S102 - this process exists to run it
    except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt included
        return {"ok": False, "error": _error(exc)}
    _State.module = module
    names = []
    for name, value in list(module.__dict__.items()):
        try:
            if isinstance(name, str) and not name.startswith("__") and callable(value):
                names.append(name)
        except BaseException:  # noqa: BLE001
            pass
    reply = {"ok": True, "functions": sorted(names)[:2000]}
    if cell_errors:
        reply["cell_errors"] = cell_errors[:200]
    return reply


def _without_persistent_cache(jax):
    """JAX's persistent compilation cache off for one call (``Case.cold``).

    A time limit that separates "jitted once" from "re-jitted every epoch" must not depend on
    whether this file's programs are already on disk from an earlier run.
    """
    import contextlib

    from jax._src import compilation_cache

    @contextlib.contextmanager
    def scope():
        before = jax.config.jax_enable_compilation_cache
        jax.config.update("jax_enable_compilation_cache", False)
        compilation_cache.reset_cache()
        try:
            yield
        finally:
            jax.config.update("jax_enable_compilation_cache", before)
            compilation_cache.reset_cache()

    return scope()


# Arrays reach JAX by device_put, never jnp.asarray: eagerly, jnp.asarray of a NumPy array
# compiles an identity program (jax's `stage`) per shape and dtype, which was 166 programs
# and 4 s of processor time in the workers of the seven reference solutions. Same dtypes
# (canonicalised alike, with and without x64), not weakly typed, uncommitted.
def _to_jax(jax, value):
    """``value`` with its NumPy arrays (inside lists, tuples and dicts) as JAX arrays."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return jax.device_put(value)
    if isinstance(value, list):
        return [_to_jax(jax, x) for x in value]
    if isinstance(value, tuple):
        return tuple(_to_jax(jax, x) for x in value)
    if isinstance(value, dict):
        return {k: _to_jax(jax, x) for k, x in value.items()}
    return value


def _key_maker(jax):
    """``make_key(data, impl)`` for :func:`grader.protocol.decode_value`: a typed key array."""
    return lambda data, impl: jax.random.wrap_key_data(jax.device_put(data), impl=impl)


def _call(header: dict, blobs: list[bytes], jax, key_data) -> tuple[dict, list[bytes]]:
    import contextlib

    fn_name = header["fn"]
    fn = None if _State.module is None else _State.module.__dict__.get(fn_name)
    if fn is None or not callable(fn):
        return {"ok": False, "error": {"type": "Missing", "message": fn_name, "frames": []}}, []
    ctx = jax.enable_x64(True) if header.get("x64") else contextlib.nullcontext()
    cold = _without_persistent_cache(jax) if header.get("cold") else contextlib.nullcontext()
    with ctx, cold:
        make_key = _key_maker(jax)
        args = _to_jax(jax, protocol.decode_value(header["args"], blobs, make_key=make_key))
        kwargs = _to_jax(jax, protocol.decode_value(header["kwargs"], blobs, make_key=make_key))
        mode = header.get("mode", "call")
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(bound_helpers(_State.module.__dict__, header.get("replace") or {},
                                                  _State.preloaded))
            except (KeyError, AttributeError) as exc:
                return {"ok": False, "error": {"type": "Protocol", "frames": [],
                                               "message": f"trusted helper {exc} was not loaded"}}, []
            try:
                if mode == "jit":
                    names = tuple(header.get("static_argnames", ()))
                    nums = tuple(header.get("static_argnums", ()))
                    # Static arguments must be hashable: lists (layer sizes, shapes) become tuples.
                    args = tuple(_hashable(a) if i in nums else a for i, a in enumerate(args))
                    kwargs = {k: _hashable(v) if k in names else v for k, v in kwargs.items()}
                    f = jax.jit(fn, static_argnames=names, static_argnums=nums)
                    out = f(*args, **kwargs)
                elif mode == "export":
                    names = tuple(header.get("static_argnames", ()))
                    nums = tuple(header.get("static_argnums", ()))
                    args = tuple(_hashable(a) if i in nums else a for i, a in enumerate(args))
                    kwargs = {k: _hashable(v) if k in names else v for k, v in kwargs.items()}
                    return _export(jax, fn, args, kwargs, names, nums, key_data,
                                   vjp=bool(header.get("vjp")))
                elif mode == "vjp":
                    argnums = tuple(header["vjp_argnums"])
                    ct = _to_jax(jax, protocol.decode_value(header["cotangent"], blobs, make_key=make_key))

                    def g(*diff):
                        full = list(args)
                        for i, d in zip(argnums, diff):
                            full[i] = d
                        return fn(*full, **kwargs)

                    _, pullback = jax.vjp(g, *[args[i] for i in argnums])
                    out = tuple(pullback(ct))
                else:
                    # A trusted helper bound over the graded function's own name wraps it:
                    # helper(fn, *args, **kwargs) (e.g. calls it twice on the same inputs, so
                    # a function that changes its inputs in place returns a wrong result).
                    wrap = fn_name in (header.get("replace") or {})
                    out = _State.module.__dict__[fn_name](fn, *args, **kwargs) if wrap else fn(*args, **kwargs)
                out = jax.block_until_ready(out) if mode != "call" else out
                out_blobs: list[bytes] = []
                node = protocol.encode_value(out, out_blobs, key_data=key_data, permissive=True)
            except BaseException as exc:  # noqa: BLE001
                return {"ok": False, "error": _error(exc)}, []
    return {"ok": True, "out": node}, out_blobs


def _export(jax, fn, args, kwargs, names, nums, key_data, vjp: bool = False) -> tuple[dict, list[bytes]]:
    """``mode="export"``: trace ``jax.jit(fn)`` for these arguments' shapes and dtypes only and
    send back the serialized program (``jax.export``) plus the output's structure. With
    ``vjp`` (a ``Case.vjp`` case) the program is serialized with its first-order vjp
    (``Exported.serialize(vjp_order=1)``), which the executor differentiates.

    The arguments the parent sends for an export are placeholders (zeros of the real shapes):
    the real inputs go only to a separate sandbox that runs the program and no student
    Python (``run_exported``). Whatever this process sends, the parent judges only what that
    program computes there, so a patched ``jax.jit`` or ``jax.export`` here gains nothing: a
    program that computes the right outputs from hidden inputs *is* a jit-compiled function.
    The program returns the output's leaves as a flat list (student-defined pytree classes
    need no registration to cross); ``out`` is the structure with each leaf replaced by its
    index. ``jax.debug.print`` is a no-op while tracing (host callbacks cannot be exported).
    """
    import numpy as np

    treedefs: list = []

    def flat(*a, **k):
        leaves, treedef = jax.tree.flatten(fn(*a, **k))
        treedefs.append(treedef)
        return leaves

    # JAX's tracing errors then name the student's function and file ("while tracing the
    # function sigmoid at submission.py:12"), not this wrapper and the grader's own path; the
    # signature jax.jit reads stays this wrapper's (static names are not checked against the
    # student's parameter names, as before).
    import inspect

    flat.__signature__ = inspect.signature(flat)
    flat.__wrapped__ = fn

    def spec(x):
        return jax.ShapeDtypeStruct(x.shape, x.dtype) if isinstance(x, jax.Array) else x

    s_args = tuple(a if i in nums else jax.tree.map(spec, a) for i, a in enumerate(args))
    s_kwargs = {k: v if k in names else jax.tree.map(spec, v) for k, v in kwargs.items()}
    debug_print = jax.debug.print
    jax.debug.print = lambda *a, **k: None
    try:
        exported = jax.export.export(jax.jit(flat, static_argnames=names, static_argnums=nums))(
            *s_args, **s_kwargs)
        program = bytes(exported.serialize(vjp_order=1 if vjp else 0))
    except NotImplementedError as exc:
        error = _error(exc)
        if "callback" in str(exc):  # else the feedback would read "Not implemented yet"
            error = {"type": "ExportError", "frames": error.get("frames", []),
                     "message": "it calls a host callback (jax.debug.callback, "
                                "jax.pure_callback, io_callback, jax.debug.breakpoint), which "
                                "a jit case cannot run: remove it (jax.debug.print is fine)"}
        return {"ok": False, "error": error}, []
    except BaseException as exc:  # noqa: BLE001
        return {"ok": False, "error": _error(exc)}, []
    finally:
        jax.debug.print = debug_print
    if not treedefs:
        return {"ok": False, "error": {
            "type": "ExportError", "frames": [],
            "message": "jax.export never traced the function (were jax.jit or jax.export "
                       "replaced?)"}}, []
    skeleton = jax.tree.unflatten(treedefs[-1], list(range(treedefs[-1].num_leaves)))
    out_blobs = [protocol.array_to_npy(np.frombuffer(program, dtype=np.uint8))]
    node = protocol.encode_value(skeleton, out_blobs, key_data=key_data, permissive=True)
    return {"ok": True, "out": node, "program": 0}, out_blobs


class ProgramRefused(Exception):
    """A program sent to run here calls what ``jax.export`` itself would never serialize."""


def _check_program(jax, exported) -> None:
    """Refuse a program whose custom calls are outside ``jax.export``'s stable set.

    ``jax.export`` checks this when it serializes, but that happens in the student's process;
    a crafted program could call, say, the Python-callback target with a bogus index (a
    red-team program crashed the executor that way). This is the same check, done here.
    Raises :class:`ProgramRefused`.
    """
    from jax._src.export import _export
    from jax._src.interpreters import mlir
    from jax._src.lib.mlir import ir

    try:
        with mlir.make_ir_context():
            module = ir.Module.parse(exported.mlir_module())
            _export._check_module(module, disabled_checks=(),
                                  shardy_enabled=jax.config.jax_use_shardy_partitioner)
            # jax's check reads only stablehlo.custom_call ops: the same call spelt in another
            # dialect (mhlo.custom_call, a red-team program) passed it and crashed the executor.
            stray = _foreign_custom_call(module.operation)
    except Exception as exc:  # noqa: BLE001
        raise ProgramRefused(f"the program is not one jax.export produces ({_safe_str(exc, 300)})") from None
    if stray:
        raise ProgramRefused(f"the program is not one jax.export produces (it holds {stray[:80]!r})")


def _foreign_custom_call(op) -> str | None:
    """The name of the first custom-call op of ``op``'s regions that is not
    ``stablehlo.custom_call`` (iterative: a program's nesting is the student's to choose)."""
    stack = [op]
    while stack:
        current = stack.pop().operation  # an OpView's .name may be its symbol, not the op
        name = str(current.name)
        if "custom_call" in name and name != "stablehlo.custom_call":
            return name
        for region in current.regions:
            for block in region.blocks:
                stack.extend(block.operations)
    return None


def _run_exported(header: dict, blobs: list[bytes], jax, key_data) -> tuple[dict, list[bytes]]:
    """``op="run_exported"``: run a program serialized by ``_export`` on the real inputs.

    Only ever sent to a worker that has loaded no student file. Returns the program's
    outputs, a flat list. Any failure (an unreadable program, inputs it does not accept) is
    reported as an error of the submission's program.

    With ``vjp_argnums`` (positions among ``args``) and ``cotangent`` (a flat list, one array
    per output of the program), returns instead the gradients ``jax.vjp`` of the
    deserialized program pulls back for those arguments, a tuple: the backward pass is the
    vjp program serialized with it (``Exported.vjp()``, what ``jax.vjp`` of
    ``Exported.call`` runs), checked like the primal one.
    """
    import contextlib

    make_key = _key_maker(jax)
    if _State.module is not None:
        return {"ok": False, "error": {"type": "Protocol", "frames": [],
                                       "message": "run_exported in a worker that loaded code"}}, []
    ctx = jax.enable_x64(True) if header.get("x64") else contextlib.nullcontext()
    with ctx:
        try:
            program = protocol.decode_value(header["program"], blobs)
            args = protocol.decode_value(header["args"], blobs, make_key=make_key)
            kwargs = protocol.decode_value(header["kwargs"], blobs, make_key=make_key)
            exported = jax.export.deserialize(bytearray(program.tobytes()))
            _check_program(jax, exported)
            if "vjp_argnums" in header:
                out = _exported_vjp(jax, exported, list(args), kwargs, header["vjp_argnums"],
                                    protocol.decode_value(header["cotangent"], blobs))
            else:
                out = list(jax.block_until_ready(exported.call(*args, **kwargs)))
            out_blobs: list[bytes] = []
            node = protocol.encode_value(out, out_blobs, key_data=key_data, permissive=True)
        except BaseException as exc:  # noqa: BLE001
            return {"ok": False, "error": _error(exc)}, []
    return {"ok": True, "out": node}, out_blobs


def _exported_vjp(jax, exported, args: list, kwargs: dict, argnums, cotangent) -> tuple:
    """The gradients of a deserialized program's outputs (``cotangent``: a list, one array per
    output) with respect to ``args[i]`` for each ``i`` of ``argnums``, by ``jax.vjp`` of
    ``exported.call``. Raises ``ProgramRefused`` for a program exported without its vjp or
    whose vjp fails :func:`_check_program`."""
    if not exported.has_vjp():
        raise ProgramRefused("the program was exported without its vjp")
    _check_program(jax, exported.vjp())
    argnums = [int(i) for i in argnums]
    if not isinstance(cotangent, list) or any(not 0 <= i < len(args) for i in argnums):
        raise ProgramRefused("the vjp request does not fit the program")

    def primal(*diff):
        full = list(args)
        for i, d in zip(argnums, diff):
            full[i] = d
        return exported.call(*full, **kwargs)

    _, pullback = jax.vjp(primal, *[args[i] for i in argnums])
    return tuple(jax.block_until_ready(pullback(cotangent)))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv if argv is None else argv
    cfg = json.loads(argv[-1])
    req_fd, resp_fd = int(cfg["req_fd"]), int(cfg["resp_fd"])
    _set_limits(cfg)
    # CPython ignores SIGXFSZ; restore the default so that exceeding the output cap
    # (RLIMIT_FSIZE) stops the worker even if the student's code catches the write error.
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    import faulthandler

    faulthandler.enable(file=sys.stderr, all_threads=False)
    jax = _configure_jax(cfg)
    key_data = _key_data(jax)
    compile_options = compile_flags.options_digest()  # the parent refuses a worker unlike it
    import importlib
    import importlib.util

    for name in cfg.get("preload", []):
        _State.preloaded[name] = importlib.import_module(name)
    for name, source in (cfg.get("trusted") or {}).items():
        # Only the helpers this part binds and what they use (grader.helper_source), from
        # source text with no file behind it; not registered in sys.modules.
        helpers = types.ModuleType(f"_grader_trusted_{name}")
        exec(compile(source, "<trusted helpers>", "exec"), helpers.__dict__)
        _State.preloaded[name] = helpers

    # A notebook's `await` cells need an event loop (made before the policy); its cells keep
    # their printed output below the cap, naming the cell that would pass it.
    nbexec.prepare(output_hard_bytes=int(cfg["output_hard_bytes"]))
    from grader.sandbox import Policy

    policy = Policy(forbidden=cfg.get("forbidden", []),
                    forbidden_names=cfg.get("forbidden_names", []),
                    write_roots=[cfg["workdir"]],
                    deny_read_roots=cfg.get("deny_read", []),
                    forbidden_paths=cfg.get("forbidden_paths", ()))
    policy.install()
    _State.policy = policy
    write = protocol.write_frame
    write(resp_fd, {"op": "ready", "pid": os.getpid(), "jax": jax.__version__,
                    "compile_options": compile_options})
    while True:
        try:
            header, blobs = protocol.read_frame_blocking(req_fd, max_header=protocol.REQUEST_HEADER_BYTES)
        except (EOFError, OSError):
            os._exit(0)
        except protocol.ProtocolError:  # not the parent's (pack_request): the channel was disturbed
            os._exit(protocol.UNREADABLE_REQUEST_EXIT)
        op = header.get("op")
        t0 = time.perf_counter()
        if op == "load":
            reply, out_blobs = _load(header), []
        elif op == "call":
            reply, out_blobs = _call(header, blobs, jax, key_data)
        elif op == "cache_out":
            reply, out_blobs = _cache_out()
        elif op == "run_exported":
            reply, out_blobs = _run_exported(header, blobs, jax, key_data)
        elif op == "exit":
            _flush()
            os._exit(0)
        else:
            reply, out_blobs = {"ok": False, "error": {"type": "Protocol", "message": str(op)}}, []
        reply["id"] = header.get("id")
        reply["violations"] = policy.take_violations()
        reply["seconds"] = time.perf_counter() - t0
        _flush()
        write(resp_fd, reply, out_blobs)


if __name__ == "__main__":  # pragma: no cover - started through runner's bootstrap
    main()

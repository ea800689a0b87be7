"""Running a notebook's code cells in the worker as a Jupyter kernel runs them.

Imported by :mod:`grader.worker` (inside the sandbox; IPython is imported on the first
notebook, from the read-only site-packages). Each cell, in order:

1. is transformed by IPython's own input transformer
   (``IPython.core.inputtransformer2.TransformerManager().transform_cell``, what ``ipykernel``
   runs), so ``%magic``, ``%%magic``, ``!cmd``, ``x = !cmd`` and ``obj?`` become calls of
   ``get_ipython()``; cleaned-up indentation and ``>>>`` prompts are handled the same way;
2. is compiled (with the ``from __future__`` features earlier cells imported, as IPython's
   compiler keeps them) with its lines numbered as lines of the submission's joined text (see
   :mod:`grader.notebook`; a transformed line is mapped back to the cell's own line, since
   the transformer drops leading blank lines and joins continued magic lines), so every
   traceback frame and syntax error can be named
   ``cell N, line M`` by the parent, and with ``ast.PyCF_ALLOW_TOP_LEVEL_AWAIT`` as IPython
   compiles cells (autoawait): a cell with a top-level ``await`` (``async for``, ``async
   with``) runs to completion in one asyncio event loop kept for every cell, as IPython's
   ``run_cell_async`` does (made before the worker's policy is armed, :func:`prepare`);
3. runs in the submission's namespace, whose builtins also hold ``get_ipython`` (a
   :class:`Shell`, below; ``from IPython import get_ipython`` gives it too while the cells
   run) and IPython's ``display``; when its last statement is an expression, its value is
   shown as Jupyter shows ``Out[n]`` (IPython's pretty text, nothing after a trailing ``;``)
   and kept in ``Out``, ``_`` and ``_n`` (``In``, ``_i`` and ``_in`` hold the cells' code), as
   a kernel keeps them. A cell still running at the load time limit (``seconds``) is stopped
   by :class:`LoadTimeout`, naming it.

What else the cells find as in a kernel, not as in a plain ``exec``:

- ``input()`` raises IPython's ``StdinNotImplementedError`` ("cell 4 calls input(), and the
  grader has no keyboard (remove the call)"), as a kernel whose front end takes no input
  (nbclient) raises; no one would type, so it neither waits nor gives a bare ``EOFError``.
  The cell stops as one that raises (so does a graded function that calls it).
- Output: a write to ``sys.stdout``/``sys.stderr`` that would take what the cells printed
  past the worker's output cap (``output_hard_bytes``, :func:`prepare`) raises
  :class:`OutputLimitExceeded` in the running cell, naming it, and is not made; the cell
  stops as one that raises, so the cells above it are graded (Jupyter drops output past its
  rate limit and runs on; the grader keeps a bounded log, and otherwise stops the worker for
  the whole notebook). Output that bypasses those streams (``os.write``) still meets the
  grader's own cap.
- ``IPython.display.clear_output`` does nothing (:func:`_clear_output`): outside a kernel
  IPython prints terminal escape codes, which would garble the report's record of output.
- ``import grader`` and ``from grader import check`` give a stand-in module whose ``check``
  does nothing and returns ``None`` (:func:`_check_while_grading`): a student's own checks,
  left in the notebook, cost nothing, wherever they are called. Only the callee is a no-op:
  its arguments and the statement around it run as written (``check("relu") or f()`` runs
  ``f()``; a cell mixing checks and definitions keeps its definitions), and a ``check`` the
  student defines or rebinds (``check = print``) is theirs and runs. Any other import of
  ``grader`` (``from grader import engine``) goes to the worker's import policy, which
  refuses it.

What ``get_ipython()`` does here (a kernel with no processes and no network):

- ``!cmd`` runs nothing; ``x = !cmd`` gives an empty ``SList`` (IPython's list of output lines).
- ``%time`` / ``%%time`` / ``%timeit`` / ``%%timeit`` / ``%prun`` / ``%%prun`` run their code once in
  the notebook's namespace (``%time x = f()`` keeps the assignment; ``%time f()`` returns the
  value) and print no timings: grading feedback holds no timings; ``%timeit -o`` returns
  IPython's ``TimeitResult`` of that one run.
- ``%%capture [--no-stdout] [--no-stderr] [--no-display] [name]`` captures with IPython's
  ``capture_output`` and stores the ``CapturedIO`` under ``name``.
- ``%%writefile [-a] FILE`` writes (or appends) the cell's text to ``FILE`` relative to the
  worker's scratch folder (its working directory) and says so, as IPython does; that folder
  is on ``sys.path`` while the cells run (last, so no file shadows an installed module), so
  the module written can be imported, as from a kernel's working folder.
- ``obj?``/``%pinfo`` and the display/configuration magics (``%matplotlib``, ``%config``,
  ``%load_ext``, ``%autoreload``, ``%%html``, ``%%markdown``, ...) do nothing visible (their
  output goes to Jupyter's pager or front end, not the cell's output).
- ``%env`` / ``%set_env`` are IPython's own (``$name`` and ``{expression}`` expanded from the
  notebook, as IPython expands a magic's line): they list, read or set the worker's
  ``os.environ``, printing ``env: VAR=value``.
- Magics that would start a process, reach the network or leave the notebook (``%pip``,
  ``%run``, ``%%bash``, ``%cd``, ...) are not run; one line says so.
- Any other name fails like IPython: ``UsageError: Line magic function `%foo` not found.``

Run All semantics (``keep_going=False``, a submitted notebook): a cell that does not parse
(after the transformation; the body of ``%%time``/``%%capture``/``%%timeit``/``%%prun`` counts
as the cell's code) is skipped, so only what it would have defined is missing, and the cells
after it still run; a cell that raises stops the notebook there, as Jupyter's Run All does:
what earlier cells defined is kept. ``os._exit`` in a cell ends a Jupyter kernel and stops
Run All there; here, while the cells run, it raises :class:`KernelDied` (a ``SystemExit``) in
that cell instead of ending the worker, so the notebook is treated like one whose cell called
``sys.exit()``: the cells after it do not run, what the cells before it defined is graded
(Jupyter had defined those functions before the kernel died), and the feedback of a part
whose function is missing says which cell ended the kernel. Only while loading: a graded
function that calls ``os._exit`` ends the worker, as in a ``.py`` file. A ``.py`` file is
one module (no cells, no autoawait): ``sys.exit()`` or ``os._exit()`` at its top level means
it cannot be loaded, and every part scores 0 with that reason. ``keep_going=True``
(replaying a kernel's history for ``grader.check``) goes on after an error, as the kernel
did. Every skipped or failed cell is reported.

IPython splits a cell with ``str.splitlines``; a first line holding ``\u2028``, ``\x1c``,
``\x85``... (in a string or a comment) makes its transformer warn about its own line list,
with a path of the grader's environment. That one warning is filtered (by category and
message); the transformation itself is right.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import dataclasses
import inspect
import os
import sys
import warnings
from typing import Any, Callable

from grader.protocol import WAIT_SLACK  # here, not in run_cells: the student's import policy is on by then

# Cells compile as IPython compiles them (autoawait): a top-level ``await``, ``async for`` or
# ``async with`` makes the cell's code a coroutine, run to completion in one event loop.
TOP_LEVEL_AWAIT = getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
_loop = None  # that event loop (see prepare)

# The compiler flags of every ``from __future__`` feature (a cell's code carries those it
# imported; later cells are compiled with them, as IPython's CachingCompiler does).
FUTURE_FLAGS = 0
for _feature in __import__("__future__").all_feature_names:
    FUTURE_FLAGS |= getattr(__import__("__future__"), _feature).compiler_flag

TIMING = {"time", "timeit", "prun"}
RUNS_BODY = TIMING | {"capture", "debug"}
QUIET = {  # their output goes to the pager or the front end, or they only configure IPython
    "pinfo", "pinfo2", "pdoc", "pdef", "psource", "pfile", "psearch", "matplotlib", "config",
    "load_ext", "reload_ext", "unload_ext", "autoreload", "aimport", "precision", "xmode",
    "colors", "pdb", "who", "whos", "who_ls", "lsmagic", "magic", "quickref", "history", "hist",
    "automagic", "autocall", "doctest_mode", "gui", "pprint", "page", "recall", "tb", "autosave",
    "html", "HTML", "markdown", "latex", "svg", "javascript", "js", "logstart", "logstop",
    "logon", "logoff", "logstate", "notebook", "connect_info", "qtconsole", "alias_magic",
    "code_wrap", "killbgscripts", "load_ipython_ext",
}
NOT_RUN = {  # processes, network, the file system outside the notebook, the kernel itself
    "pip", "conda", "mamba", "micromamba", "uv", "run", "load", "sx", "system", "bash", "sh",
    "script", "python", "python2", "python3", "pypy", "perl", "ruby", "cd", "pushd", "popd",
    "dhist", "dirs", "bookmark", "store", "reset", "reset_selective", "xdel",
    "alias", "unalias", "rehashx", "edit", "ed", "save", "macro", "rerun", "ls", "cat", "less",
    "more", "man", "mkdir", "rm", "rmdir", "cp", "mv", "pwd", "clear", "cls", "file", "lprun",
    "mprun", "memit", "sql",
}


class Shell:
    """``get_ipython()`` inside a graded notebook (see the module docstring)."""

    def __init__(self, namespace: dict):
        self.user_ns = namespace
        self.cell_start = 1  # the joined text's line of the running cell's first line
        self.body_start = 2  # ... and of the line after its ``%%magic`` line
        self.filename = "<submission>"
        self.display_pub = None  # IPython's capture_output swaps it while %%capture runs
        self.cell = 0  # the number of the running cell (0: none yet)
        self.label = "cell {}"  # how a message names a cell ("In [{}]" in a kernel's history)
        self.starts: list[tuple[int, int]] = []  # (first line, number) of each cell, in order

    def cell_at(self, line: int) -> int | None:
        """The number of the cell holding ``line`` of the joined text, ``None`` if none."""
        import bisect

        i = bisect.bisect_right(self.starts, (line, float("inf"))) - 1
        return self.starts[i][1] if i >= 0 else None

    def raw_input(self, prompt: Any = "", /) -> str:
        """``input()`` in a graded notebook (a kernel binds ``input`` to its ``raw_input`` so):
        there is no one at a keyboard, so it raises IPython's ``StdinNotImplementedError``, as
        ipykernel's does when its front end takes no input (nbclient), naming the cell that
        called it, instead of waiting or ``EOFError``."""
        from IPython.core.error import StdinNotImplementedError

        number = None
        frame = sys._getframe(1)
        while frame is not None and number is None:
            if frame.f_code.co_filename == self.filename:
                number = self.cell_at(frame.f_lineno)
            frame = frame.f_back
        who = self.label.format(number) if number is not None else "your notebook"
        raise StdinNotImplementedError(f"{who} calls input(), and the grader has no keyboard "
                                       "(remove the call)")

    # -- shell escapes -------------------------------------------------------------------

    def system(self, cmd: str = "", *args: Any, **kwargs: Any) -> None:
        """``!cmd``: nothing runs (no processes in a graded notebook)."""
        return None

    system_raw = system_piped = system

    def getoutput(self, cmd: str = "", *args: Any, **kwargs: Any):
        """``x = !cmd``: no process, so no output lines."""
        from IPython.utils.text import SList

        return SList()

    # -- magics ----------------------------------------------------------------------------

    def run_line_magic(self, magic_name: str, line: str, _stack_depth: int = 1) -> Any:
        frame = sys._getframe(_stack_depth)
        glob, loc = frame.f_globals, frame.f_locals
        lineno = frame.f_lineno
        if magic_name in TIMING:
            code = _strip_options(line, magic_name)
            if magic_name == "timeit" and _has_option(line, "o"):
                return _timed(lambda: self._run(code, glob, loc, lineno))
            return self._run(code, glob, loc, lineno, value=magic_name == "time")
        if magic_name in ("env", "set_env"):
            return _env(magic_name, _var_expand(line, glob, loc))
        return self._other(magic_name, "%")

    def run_cell_magic(self, magic_name: str, line: str, cell: str) -> Any:
        glob = self.user_ns
        body_start = self.body_start
        if magic_name in TIMING:
            setup = _strip_options(line, magic_name)
            if magic_name == "timeit" and setup.strip():
                self._run(setup, glob, glob, self.cell_start)
            if magic_name == "timeit" and _has_option(line, "o"):
                return _timed(lambda: self._run(cell, glob, glob, body_start))
            self._run(cell, glob, glob, body_start)
            return None
        if magic_name == "debug":
            self._run(cell, glob, glob, body_start)
            return None
        if magic_name == "capture":
            return self._capture(line, cell, glob, body_start)
        if magic_name == "writefile":
            return _writefile(line, cell)
        return self._other(magic_name, "%%")

    def _other(self, name: str, prefix: str) -> None:
        if name in QUIET:
            return None
        if name in NOT_RUN:
            print(f"[grader] {prefix}{name} is not run while grading (no processes, network or "
                  "files outside the notebook).")
            return None
        from IPython.core.error import UsageError

        kind = "Line magic function" if prefix == "%" else "Cell magic"
        raise UsageError(f"{kind} `{prefix}{name}` not found.")

    def _run(self, code: str, glob: dict, loc: Any, first_line: int, value: bool = False) -> Any:
        try:
            tree = ast.parse(code, self.filename, "exec")
        except SyntaxError as exc:
            if isinstance(exc.lineno, int):
                exc.lineno += first_line - 1
            raise
        ast.increment_lineno(tree, first_line - 1)
        if value and len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
            expr = ast.Expression(tree.body[0].value)
            return eval(compile(expr, self.filename, "eval", dont_inherit=True), glob, loc)  # noqa: S307
        exec(compile(tree, self.filename, "exec", dont_inherit=True), glob, loc)  # noqa: S102
        return None

    def _capture(self, line: str, cell: str, glob: dict, first_line: int) -> None:
        from IPython.utils.capture import capture_output

        words = line.split()
        flags = {w for w in words if w.startswith("--")}
        names = [w for w in words if not w.startswith("-")]
        with capture_output("--no-stdout" not in flags, "--no-stderr" not in flags,
                            "--no-display" not in flags) as io:
            self._run(cell, glob, glob, first_line)
        if names:
            glob[names[0]] = io
        return None


def _strip_options(line: str, magic: str) -> str:
    """The code of ``%time``/``%timeit``/``%prun`` after their ``-x [value]`` options."""
    if magic == "time":
        return line
    takes_value = {"timeit": "nrp", "prun": "lDTsr"}[magic]
    words = line.lstrip()
    while words.startswith("-") and not words.startswith("--"):
        head, _, rest = words.partition(" ")
        if len(head) == 2 and head[1] in takes_value:
            _, _, rest = rest.lstrip().partition(" ")
        words = rest.lstrip()
    return words


def _has_option(line: str, letter: str) -> bool:
    """Whether ``%timeit``'s options (before its code) include ``-<letter>``."""
    words = line.lstrip()
    while words.startswith("-") and not words.startswith("--"):
        head, _, rest = words.partition(" ")
        if letter in head[1:] and not (len(head) == 2 and head[1] in "nrp"):
            return True
        if len(head) == 2 and head[1] in "nrp":
            _, _, rest = rest.lstrip().partition(" ")
        words = rest.lstrip()
    return False


def _timed(run: Callable[[], Any]):
    """``%timeit -o``: the code run once, and IPython's ``TimeitResult`` of that one run."""
    import time

    from IPython.core.magics.execution import TimeitResult

    t0 = time.perf_counter()
    run()
    seconds = time.perf_counter() - t0
    return TimeitResult(1, 1, seconds, seconds, [seconds], 0.0, 3)


def _var_expand(line: str, glob: dict, loc: Any) -> str:
    """``$name`` and ``{expression}`` in a magic's line expanded from the cell's namespace, as
    IPython's ``InteractiveShell.var_expand`` does (the line unchanged if that fails)."""
    from IPython.utils.text import DollarFormatter

    names = dict(glob)
    if loc is not glob:
        names.update(loc)
    try:
        return DollarFormatter().vformat(line, args=[], kwargs=names)
    except Exception:  # noqa: BLE001 - as IPython: a line that cannot be expanded is kept
        return line


def _env(magic_name: str, line: str) -> Any:
    """``%env`` / ``%set_env``: IPython's own (``OSMagics``), on the worker's environment: lists,
    reads or sets ``os.environ`` (printing ``env: VAR=value``) as in a kernel."""
    from IPython.core.magics.osm import OSMagics

    return getattr(OSMagics(shell=None), magic_name)(line)


def _writefile(line: str, cell: str) -> None:
    args = line.split()
    append = bool({"-a", "--append"} & set(args))
    names = [a for a in args if a not in ("-a", "--append")]
    if not names:
        from IPython.core.error import UsageError

        raise UsageError("the following arguments are required: filename")
    name = " ".join(names).strip("'\"")
    name = os.path.expanduser(name)
    if os.path.exists(name):
        print(f"Appending to {name}" if append else f"Overwriting {name}")
    else:
        print(f"Writing {name}")
    with open(name, "a" if append else "w", encoding="utf-8") as f:
        f.write(cell)
    import importlib

    importlib.invalidate_caches()  # a module just written can be imported (see run_cells)
    return None


def _cell_magic(source: str) -> tuple[str, str] | None:
    """``(name, body)`` when the cell starts with ``%%name``."""
    stripped = source.lstrip("\n")
    if not stripped.startswith("%%"):
        return None
    first, _, body = stripped.partition("\n")
    name = first[2:].split(None, 1)[0] if first[2:].strip() else ""
    return name, body


def _shows_value(source: str) -> bool:
    """Whether a cell's last expression is shown (no trailing ``;``, as IPython decides)."""
    import io
    import tokenize

    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
                  if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
                                    tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return True
    return not (tokens and tokens[-1].string == ";")


def _show(value: Any) -> None:
    if value is None:
        return
    from IPython.lib.pretty import pretty

    print(pretty(value))


class KernelDied(SystemExit):
    """Raised by ``os._exit`` while a notebook's cells run: in Jupyter it ends the kernel, so
    Run All stops at that cell; here the cell stops and what earlier cells defined is kept."""


def _ends_the_kernel(status, /):
    raise KernelDied(f"os._exit({status!r}) ends the Jupyter kernel")


def prepare(output_hard_bytes: int | None = None) -> None:
    """Create the event loop for cells with a top-level ``await`` (one for every cell, as
    IPython keeps one). The worker calls this before it arms its policy: an asyncio loop
    opens a socket pair (its self-pipe), and the policy refuses sockets to student code.
    ``output_hard_bytes``: the worker's output cap, which :func:`run_cells` keeps the
    notebook's printed output below (naming the cell that would pass it)."""
    global _loop, _output_hard_bytes
    import asyncio

    _loop = asyncio.new_event_loop()
    _output_hard_bytes = output_hard_bytes


def _run_code(code, namespace: dict) -> Any:
    """``eval`` a compiled cell (or its last expression); a coroutine (top-level ``await``)
    is run to completion in the event loop of :func:`prepare`, as IPython's autoawait does."""
    if not code.co_flags & inspect.CO_COROUTINE:
        return eval(code, namespace)  # noqa: S307
    if _loop is None:
        prepare()
    return _loop.run_until_complete(eval(code, namespace))  # noqa: S307


class LoadTimeout(BaseException):
    """Raised in the running cell when the notebook's load time limit is up (see
    :func:`run_cells`), so the feedback names the cell and line that was running; the
    grader's own timeout, a moment later, still ends a worker this does not stop."""


def _time_up(signum, frame):
    raise LoadTimeout("the notebook's cells did not finish within the time limit")


_output_hard_bytes: int | None = None  # the worker's output cap (see prepare)


class OutputLimitExceeded(BaseException):
    """Raised in the running cell by a write to ``sys.stdout``/``sys.stderr`` that would take
    the output printed while the notebook loads past the worker's output cap (see
    :class:`_CappedStream`): that cell stops, as one that raises, and is named; the write is
    not made, so the grader never has to stop the worker for it."""


@dataclasses.dataclass
class _OutputBudget:
    """The bytes the cells may still print: ``limit`` of the worker's ``cap``."""

    cap: int
    limit: int
    used: int = 0
    armed: bool = True


class _CappedStream:
    """``sys.stdout`` or ``sys.stderr`` while the cells run: every write goes to ``stream``
    unless, with those of the other stream, it would pass the budget's ``limit``, which
    raises :class:`OutputLimitExceeded` naming the running cell. Anything else is the
    stream's own (``encoding``, ``fileno``, ``isatty``, ...)."""

    def __init__(self, stream, budget: _OutputBudget, shell: Shell):
        self._stream, self._budget, self._shell = stream, budget, shell
        # the bytes a text becomes in the log: the stream's own encoding
        self._encoding = getattr(stream, "encoding", None) or "utf-8"
        self._errors = getattr(stream, "errors", None) or "strict"

    def _size(self, text: str) -> int:
        if text.isascii():
            return len(text)
        try:
            return len(text.encode(self._encoding, self._errors))
        except (UnicodeError, LookupError):  # the stream itself refuses it: at most 4 per char
            return 4 * len(text)

    def write(self, text):
        budget = self._budget
        if isinstance(text, str) and budget.armed:
            size = self._size(text)
            if budget.used + size > budget.limit:
                shell = self._shell
                raise OutputLimitExceeded(
                    f"{shell.label.format(shell.cell)} printed more than "
                    f"{budget.cap / 2**20:g} MiB of output while the notebook loaded, the "
                    "grader's limit (print less often)")
            budget.used += size
        return self._stream.write(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


@contextlib.contextmanager
def _capped_output(shell: Shell, cap: int | None):
    """``sys.stdout``/``sys.stderr`` as :class:`_CappedStream` (when ``cap`` is set), keeping
    what the worker's log holds below ``cap``, with a margin for output that does not pass
    through them (a C library's, ``os.write``)."""
    if not cap:
        yield
        return
    try:
        held = os.fstat(sys.__stdout__.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        held = 0
    budget = _OutputBudget(cap, cap - held - min(64 * 2**10, cap // 8))
    real = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (_CappedStream(s, budget, shell) for s in real)
    try:
        yield
    finally:  # a stream kept by the notebook (a logging handler) writes on, uncapped here
        budget.armed = False
        sys.stdout, sys.stderr = real


def _clear_output(wait: bool = False) -> None:
    """``IPython.display.clear_output`` while a notebook is graded: does nothing. In a kernel it
    clears the cell's output shown so far; outside a kernel IPython's prints terminal escape
    codes (``\\033[2K\\r``), which would only garble the feedback's record of the output."""


def _grader_stand_in():
    """What ``import grader`` / ``from grader import check`` give a graded notebook: a module
    whose ``check`` does nothing (see :func:`_check_while_grading`)."""
    import types

    module = types.ModuleType("grader", "The grader's stand-in while a notebook is graded: "
                                        "check() does nothing.")
    module.check = _check_while_grading
    return module


def _check_while_grading(*args: Any, **kwargs: Any) -> None:
    """``check(...)`` (:func:`grader.notebook_check.check`) while a notebook is graded: the
    student's own check, so it does nothing and returns ``None``; the grader runs every
    part's cases itself. Its arguments are evaluated and the statement around it runs, as
    written."""


def _importer(real_import: Callable, stand_in) -> Callable:
    """The notebook's ``__import__``: ``import grader`` and ``from grader import check`` give
    ``stand_in``; every other import (``from grader import engine``, ``import
    grader.engine`` included, which the worker's policy refuses) is ``real_import``'s."""

    def __import__(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "grader" and not level and all(n == "check" for n in (fromlist or ())):
            return stand_in
        return real_import(name, globals, locals, fromlist, level)

    return __import__


def run_cells(cells: list, namespace: dict, filename: str, *, keep_going: bool,
              error: Callable[[BaseException], dict], seconds: float | None = None,
              output_bytes: int | None = None) -> list[dict]:
    """Run ``cells`` (``[number, first line, source]`` each) in ``namespace``; return the errors
    of the cells that were skipped or failed (``error(exc)`` describes each; every one has a
    ``line`` in the joined text, the line of its syntax error or its cell's first line).

    ``seconds``: the load time limit, in processor time (``ITIMER_PROF``: every thread of the
    worker, so a busy machine does not shorten it), with ``protocol.WAIT_SLACK`` times as
    long in wall-clock time (``ITIMER_REAL``) for a cell that waits instead of computing; when
    either is up, :class:`LoadTimeout` is raised in the running cell and propagates (the
    notebook did not load).
    ``output_bytes``: the output cap (default: the worker's, :func:`prepare`); a print that
    would pass it raises :class:`OutputLimitExceeded` in the running cell instead.
    """
    import signal

    timers = ((signal.ITIMER_PROF, signal.SIGPROF, 1.0), (signal.ITIMER_REAL, signal.SIGALRM, WAIT_SLACK))
    old_handlers = []
    if seconds is not None and seconds > 0:
        for timer, signum, factor in timers:
            old_handlers.append(signal.signal(signum, _time_up))
            signal.setitimer(timer, float(seconds) * factor)
    try:
        return _run_cells(cells, namespace, filename, keep_going=keep_going, error=error,
                          output_bytes=_output_hard_bytes if output_bytes is None else output_bytes)
    finally:
        for (timer, signum, _), old in zip(timers, old_handlers):
            signal.setitimer(timer, 0)
            signal.signal(signum, old)


def _run_cells(cells: list, namespace: dict, filename: str, *, keep_going: bool,
               error: Callable[[BaseException], dict], output_bytes: int | None) -> list[dict]:
    from IPython.core import display_functions
    from IPython.core.inputtransformer2 import TransformerManager

    shell = Shell(namespace)
    shell.filename = filename
    shell.label = "In [{}]" if keep_going else "cell {}"  # a kernel's history, or a notebook
    shell.starts = sorted((int(c[1]), int(c[0])) for c in cells)
    names = dict(vars(builtins))
    names.update(get_ipython=lambda: shell, display=display_functions.display, input=shell.raw_input,
                 __import__=_importer(builtins.__import__, _grader_stand_in()))
    namespace["__builtins__"] = names
    # clear_output does nothing (the worker keeps output as a log; see _clear_output). Patched
    # where `from IPython.display import clear_output` finds it, now or when first imported.
    real_clear = display_functions.clear_output
    display_modules = [display_functions, sys.modules.get("IPython.display")]
    for module in display_modules:
        if module is not None:
            module.clear_output = _clear_output
    transformer = TransformerManager()
    posix = sys.modules.get(os.name)
    real_exit = os._exit
    os._exit = _ends_the_kernel
    if posix is not None:
        posix._exit = _ends_the_kernel
    # ``from IPython import get_ipython`` gives the notebook's shell, as in a kernel.
    import IPython
    from IPython.core import getipython

    real_get = (IPython.get_ipython, getipython.get_ipython)
    IPython.get_ipython = getipython.get_ipython = lambda: shell
    # The kernel's working folder is on sys.path (a %%writefile module can be imported); last
    # here, so no file of the notebook's shadows a module of Python or site-packages.
    here = os.getcwd()
    added = here not in sys.path
    if added:
        sys.path.append(here)
    try:
        with _capped_output(shell, output_bytes):
            return _run_each(cells, namespace, filename, keep_going, error, shell, transformer)
    finally:  # graded calls after the load exit the process for real (the parent reports it)
        os._exit = real_exit
        if posix is not None:
            posix._exit = real_exit
        IPython.get_ipython, getipython.get_ipython = real_get
        if added and here in sys.path:
            sys.path.remove(here)
        for module in display_modules + [sys.modules.get("IPython.display")]:
            if module is not None and getattr(module, "clear_output", None) is _clear_output:
                module.clear_output = real_clear


def _run_each(cells: list, namespace: dict, filename: str, keep_going: bool,
              error: Callable[[BaseException], dict], shell: Shell, transformer) -> list[dict]:
    errors: list[dict] = []
    history: list[str] = [""]  # IPython's In: the code of each cell run, from In[1]
    out: dict[int, Any] = {}  # ... and Out: the value each cell showed
    namespace.update(In=history, Out=out, _oh=out, _ih=history)
    future = 0  # the __future__ features earlier cells imported (IPython's compiler keeps them)
    for cell in cells:
        number, start, source = int(cell[0]), int(cell[1]), str(cell[2])
        shell.cell = number
        history.append(source)
        count = len(history) - 1
        namespace[f"_i{count}"] = namespace["_i"] = source
        magic = _cell_magic(source)
        lead = _leading_blank_lines(source)
        shell.cell_start, shell.body_start = start + lead, start + lead + 1
        try:
            with warnings.catch_warnings():
                # IPython splits a cell with str.splitlines, so a first line holding \u2028,
                # \x1c, \x85 ... (in a string or a comment) makes it warn, with its own file's
                # path, about the lines it split itself; the transformation is right.
                warnings.filterwarnings("ignore", category=UserWarning,
                                        message="`make_tokens_by_line` received a list of lines")
                code = transformer.transform_cell(source)
                history[count] = namespace[f"_i{count}"] = namespace["_i"] = code
        except BaseException as exc:  # noqa: BLE001 - the transformer itself failed on this text
            exc = SyntaxError(f"IPython could not read this cell ({type(exc).__name__})",
                              (filename, 1, 0, "", 1, 0))
            errors.append(_skipped(exc, start, number, error))
            continue
        lines = _line_map(source, code)
        try:
            try:
                tree = compile(code, filename, "exec", flags=ast.PyCF_ONLY_AST | future,
                               dont_inherit=True)
            except SyntaxError as exc:
                if isinstance(exc.lineno, int) and 1 <= exc.lineno <= len(lines):
                    exc.lineno = lines[exc.lineno - 1]
                raise
            if magic is not None and magic[0] in RUNS_BODY:
                try:
                    ast.parse(magic[1], filename, "exec")
                except (SyntaxError, ValueError) as exc:
                    errors.append(_skipped(exc, shell.body_start, number, error))
                    continue
        except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes in the cell
            errors.append(_skipped(exc, start, number, error))
            continue
        _renumber(tree, lines, start)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr) and _shows_value(code):
            last = ast.Expression(tree.body.pop().value)
        try:
            compiled = compile(tree, filename, "exec", flags=TOP_LEVEL_AWAIT | future,
                               dont_inherit=True)
            future |= compiled.co_flags & FUTURE_FLAGS
            _run_code(compiled, namespace)
            if last is not None:
                value = _run_code(compile(last, filename, "eval", flags=TOP_LEVEL_AWAIT | future,
                                          dont_inherit=True), namespace)
                _show(value)
                if value is not None:  # as IPython's displayhook fills Out, _, __, ___, _N
                    out[count] = namespace[f"_{count}"] = value
                    namespace["___"], namespace["__"] = namespace.get("__", ""), namespace.get("_", "")
                    namespace["_"] = value
        except LoadTimeout:
            raise
        except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt included
            info = error(exc)
            info["cell"], info["skipped"] = number, False
            if info.get("line") is None:
                info["line"] = start
            errors.append(info)
            if not keep_going:
                break
    return errors


def _leading_blank_lines(source: str) -> int:
    """How many empty or whitespace-only lines open a cell (IPython's transformer drops them,
    ``inputtransformer2.leading_empty_lines``)."""
    lines = source.split("\n")
    n = 0
    while n < len(lines) - 1 and (not lines[n] or lines[n].isspace()):
        n += 1
    return n


def _line_map(source: str, code: str) -> list[int]:
    """For each line of ``code`` (IPython's transformation of the cell ``source``), the line
    of ``source`` it comes from (1-based). The transformer drops leading blank lines, joins a
    magic continued with ``\\`` into one line and rewrites magic lines; lines it keeps are
    matched by their text (``difflib``), a rewritten block maps line by line onto the cell's
    block it replaced (its last line for the lines past it)."""
    import difflib

    lead = _leading_blank_lines(source)
    src = source.rstrip("\n").split("\n")[lead:] or [""]
    out = code.split("\n")
    kept = len(code.rstrip("\n").split("\n"))  # the transformer ends the code with "\n"
    if len(src) == kept:
        return [lead + min(i, kept - 1) + 1 for i in range(len(out))]
    mapped = [lead + len(src)] * len(out)
    matcher = difflib.SequenceMatcher(None, src, out[:kept], autojunk=False)
    for _tag, a0, a1, b0, b1 in matcher.get_opcodes():
        for j in range(b0, b1):
            k = a0 + (j - b0)
            mapped[j] = lead + 1 + (min(k, a1 - 1) if a1 > a0 else min(a0, len(src) - 1))
    return mapped


def _renumber(tree: ast.AST, lines: list[int], start: int) -> None:
    """Number ``tree``'s lines (those of IPython's transformed code) as the lines of the
    joined text: the cell's own line (:func:`_line_map`) counted from ``start``."""
    last = len(lines)
    for node in ast.walk(tree):
        for attr in ("lineno", "end_lineno"):
            value = getattr(node, attr, None)
            if isinstance(value, int) and last:
                setattr(node, attr, start - 1 + lines[min(max(value, 1), last) - 1])


def _skipped(exc: BaseException, first_line: int, number: int,
             error: Callable[[BaseException], dict]) -> dict:
    """The report of a cell that does not parse (``exc``'s line counted from ``first_line``)."""
    if not isinstance(exc, SyntaxError):
        exc = SyntaxError(str(exc), (None, 1, 0, "", 1, 0))
    exc.lineno = (exc.lineno + first_line - 1) if isinstance(exc.lineno, int) else first_line
    info = error(exc)
    info["cell"], info["skipped"] = number, True
    return info

"""Grading one submission: build the cases, drive the worker, judge, collect per-part results.

The flow for ``grade(assignment, path)``:

1. The worker starts (importing JAX) in a background thread while the parent builds the
   cases from the seed (a random one unless given; always recorded in the result) and
   starts computing their expected values, in grading order, in another thread (see
   :class:`_Ahead`: the jit executor and the next part's worker also start while a part runs).
2. For every part, in order, the worker re-executes the student's source into a fresh
   namespace (``load``), so a function that only works because an earlier call of another
   function left a global behind fails here, as it would in any fresh session. If the very
   first load fails (syntax error, exception, hang, crash at import time) every part scores 0
   with that reason and nothing else runs.
3. Each case of the part is sent, judged (:mod:`grader.judge`), and the part stops at its first
   failing case; a part is all-or-nothing. A worker failure (timeout, crash, exit, memory,
   output flood, unreadable reply) kills the worker; the next part starts a fresh one.
4. Any import-policy violation recorded during the part (its load included) zeroes it and says
   which module.

The parent reads a reply only through :func:`grader.protocol.parse_reply`: a reply that does not
fit the schema (or a result that cannot be decoded) is "the worker sent an unreadable reply",
that part scores 0 and the worker is replaced.

Student faults and grader faults are kept apart. What the student's code does (raising,
hanging, wrong or malformed output) costs points; ``judge.compare`` and the validators give a
message for any decoded result. An exception in the parent's own work (building the cases,
computing an expected value, a validator, a missing optional dependency, a bug) is a *grading
error*: the part gets ``status="error"``, its feedback says that this is the grader's fault and
to tell the instructor, and its score is withheld (``score`` stays 0.0 because nothing was
awarded, but it is not a verdict: read ``status``). Other parts are graded as usual. A cache
the grader cannot create or clean is skipped: it is an optimisation, never a reason to fail.

Feedback contains no timings and no temporary paths, and hexadecimal addresses in messages are
masked, so the same file and seed give the same scores and feedback.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from grader import helper_source, judge, protocol, registry, worker_cache
from grader.notebook import SourceError, Submission, load_submission, valid_text
from grader.runner import Reply, Worker, human_bytes
from grader.spec import TRUSTED_MODULE, UNSET, Assignment, Case, Limits, Part

GRADER_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = GRADER_DIR.parent
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,16}")
_JIT_ERRORS = {
    "ConcretizationTypeError", "TracerBoolConversionError", "TracerArrayConversionError",
    "TracerIntegerConversionError", "UnexpectedTracerError", "NonConcreteBooleanIndexError",
}


class GraderError(Exception):
    """Grading could not be carried out (not the student's fault): e.g. the worker cannot start."""


GRADED, ERROR = "graded", "error"


@dataclass
class PartResult:
    """One part's outcome. ``status`` is ``"graded"`` (``score`` is the verdict) or ``"error"``
    (a grading error: the grader failed, ``score`` is withheld and reads 0.0, see the module
    docstring).

    ``mistake`` is the known mistake the engine itself diagnosed, as the course words it (the
    message of a ``Case.mistakes`` entry, or the ``Case.error_hint`` / ``Part.timeout_hint``
    it appended as "Likely cause:"), or ``""``; see :class:`_Diagnosed`. It is never read
    from ``feedback``, which quotes the student's own text (exception messages).
    """

    function: str
    description: str
    points: float
    score: float
    feedback: str
    output: str = ""
    visible_cases: int = 0
    hidden_cases: int = 0
    status: str = GRADED
    failed_case: str = ""  # "visible case 2" / "hidden case 1": the case the part failed on
    mistake: str = ""  # the known mistake the engine diagnosed (see above), or ""

    @property
    def passed(self) -> bool:
        return self.status == GRADED and self.score >= self.points


@dataclass
class Result:
    assignment_id: str
    title: str
    file: str
    seed: int
    mode: str  # "test" (visible cases only) or "submit"
    parts: list[PartResult]
    hidden_not_run: int = 0  # in "test" mode: hidden cases that `grader submit` adds
    seconds: float = 0.0

    @property
    def score(self) -> float:
        """Points earned on the graded parts (parts with a grading error add nothing)."""
        return float(sum(p.score for p in self.parts if p.status == GRADED))

    @property
    def max_score(self) -> float:
        return float(sum(p.points for p in self.parts))

    @property
    def errors(self) -> list[PartResult]:
        """Parts the grader failed to grade (their points are withheld, not lost)."""
        return [p for p in self.parts if p.status == ERROR]

    @property
    def status(self) -> str:
        """``"complete"``, or ``"incomplete"`` when some part has a grading error."""
        return "incomplete" if self.errors else "complete"


@dataclass
class _PartCases:
    part: Part
    cases: list[tuple[Case, str]]  # (case, "visible case 1" / "hidden case 3")
    hidden_count: int
    visible_count: int
    error: str = ""  # the part's cases could not be built (a grading error, see grading_error)


def new_seed() -> int:
    return secrets.randbelow(2**31)


def part_seed(seed: int, index: int) -> int:
    """Independent per-part seeds derived from the run's seed."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] & 0x7FFFFFFF)


def build_cases(assignment: Assignment, seed: int, hidden: bool) -> list[_PartCases]:
    """Every part's cases; a part whose builders raise carries the error instead (its grading
    error), the others are unaffected."""
    out = []
    for i, part in enumerate(assignment.parts):
        try:
            visible = list(part.visible())
            hidden_cases = list(part.hidden(part_seed(seed, i)))
        except Exception as exc:  # noqa: BLE001 - the grader's fault, reported per part
            out.append(_PartCases(part, [], 0, 0, error=grading_error("while building this "
                                                                      "part's cases", exc)))
            continue
        cases = [(c, f"visible case {j + 1}") for j, c in enumerate(visible)]
        if hidden:
            cases += [(c, f"hidden case {j + 1}") for j, c in enumerate(hidden_cases)]
        out.append(_PartCases(part, cases, len(hidden_cases), len(visible)))
    return out


# Exceptions from a case's validator that are the grader's fault (a grading error, score
# withheld); any other exception while it digests a student's result costs the part.
VALIDATOR_FAULTS = (ImportError, OSError, MemoryError, GraderError)
# A notebook's worker stops its running cell at the load limit and names it
# (grader.nbexec.LoadTimeout); the parent waits this much longer before ending the worker.
LOAD_GRACE = 1.0


def grading_error(stage: str, exc: BaseException) -> str:
    """Feedback for a part the grader failed to grade: says whose fault it is, and what failed."""
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return (f"Grading error: the grader itself failed {stage} ({detail}). This is a fault of the "
            "grader, not of your code, so no score is given for this part (it is withheld, not "
            "zero). Please tell your instructor.")


def _trusted_helpers(assignment: Assignment, pc: _PartCases) -> dict[str, str]:
    """``{"trusted": source}`` when a case of the part binds helpers (``Case.replace``), else
    ``{}``: only the bound helpers and what they use (:mod:`grader.helper_source`), never the
    whole ``trusted.py`` (which holds references of other parts, maybe of this one).

    Raises:
      GraderError: a case names a module other than ``trusted``, the folder has no
        ``trusted.py``, or it lacks a bound helper (a fault of the assignment, never the
        student's).
    """
    specs = {spec for case, _ in pc.cases for spec in case.replace.values()}
    modules = {spec.partition(":")[0] for spec in specs}
    if not modules:
        return {}
    if modules != {TRUSTED_MODULE}:
        raise GraderError(f"Case.replace names {sorted(modules - {TRUSTED_MODULE})}; helpers come "
                          f"from the assignment folder's trusted.py ({TRUSTED_MODULE!r}:function)")
    path = assignment.trusted_path
    if path is None:
        raise GraderError(f"{pc.part.function}: its cases bind trusted helpers, but the "
                          "assignment folder has no trusted.py")
    try:
        source = helper_source.closure_source(path, sorted(s.partition(":")[2] for s in specs))
    except (OSError, SyntaxError, helper_source.HelperSourceError) as exc:
        raise GraderError(f"{pc.part.function}: its trusted helpers cannot be prepared ({exc})") from exc
    return {TRUSTED_MODULE: source}


class _Failed:
    """An expected value whose computation failed in :meth:`Grader.materialize`: judging it
    raises the same exception again, so each submission gets the part's grading error."""

    def __init__(self, exc: Exception):
        self.exc = exc

    def __call__(self) -> Any:
        raise self.exc.with_traceback(None)


def _parent_key_data(x: Any):
    mod = type(x).__module__ or ""
    if not mod.startswith("jax"):
        return None
    import jax

    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        impl = jax.random.key_impl(x)
        name = getattr(impl, "name", None) or str(impl)
        return np.asarray(jax.random.key_data(x)), str(name)
    return None


def _encode(value: Any, blobs: list[bytes]) -> Any:
    return protocol.encode_value(_np_tree(value), blobs, key_data=_parent_key_data)


def _np_tree(value: Any) -> Any:
    """Inputs as numpy/Python (keys stay JAX keys: the encoder tags them)."""
    if isinstance(value, dict):
        return {k: _np_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_np_tree(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_np_tree(v) for v in value)
    if _parent_key_data(value) is not None:
        return value
    if isinstance(value, np.generic):
        return np.asarray(value)
    if (type(value).__module__ or "").startswith("jax"):
        return np.asarray(value)
    return value


# Bidirectional overrides and isolates: they reorder how a report line reads (display spoofing).
_BIDI = {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069}


# Terminal escape sequences (ECMA-48): CSI (colours, "erase line": ESC [ ... final byte) and OSC
# (titles, links: ESC ] ... BEL or ESC \), then any other two-character ESC sequence.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")


def clean(text: str, limit: int = 600) -> str:
    """Valid UTF-8, addresses masked, terminal escape sequences removed whole (a progress bar's
    colours and "erase line"), a line rewritten with carriage returns shown as a terminal
    leaves it (its last non-empty rewrite), other control and bidirectional-override
    characters dropped, length capped (student-controlled text)."""
    from grader.notebook import valid_text

    text = _ANSI.sub("", _ADDRESS.sub("0x…", valid_text(text)))
    if "\r" in text:
        text = "\n".join(next((seg for seg in reversed(line.split("\r")) if seg.strip()), "")
                         for line in text.split("\n"))
    text = "".join(ch for ch in text if ch in "\n\t" or (ord(ch) >= 32 and ord(ch) != 127
                                                           and ord(ch) not in _BIDI))
    if len(text) > limit:
        text = text[:limit].rstrip() + " …"
    return text


def _first_lines(text: str, n: int = 4) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    out = "\n".join(lines[:n])
    return out + (" …" if len(lines) > n else "")


def _where(error: protocol.WorkerError, submission: Submission | None = None) -> str:
    """Where in the student's file an error was raised (its innermost frame there):
    ``, at line 12 of your file (`code`)``, or in a notebook ``, in cell 7, line 3 (`code`)``."""
    if not error.frames:
        return ""
    line, _name, code = error.frames[-1]
    if submission is not None and submission.notebook:
        at = submission.where(line)
        code = submission.line_text(line) if at else code
        code = f" (`{code.strip()}`)" if code.strip() else ""
        return (f", in {at}" if at else ", in your notebook") + code
    code = f" (`{code.strip()}`)" if code.strip() else ""
    return (f", at line {line} of your file" if line is not None else ", in your file") + code


def _syntax_where(error: protocol.WorkerError, submission: Submission | None = None) -> str:
    """`` at line 12`` and the line's text below, or `` in cell 7, line 3`` and the text of
    that line of the notebook."""
    line, text = error.line, error.text.strip()
    if submission is not None and submission.notebook:
        at = submission.where(line)
        text = submission.line_text(line) if at else text
        return (f" in {at}" if at else "") + (f" (`{text}`)" if text else "")
    return (f" at line {line}" if line else "") + (f" (`{text}`)" if text else "")


class Grader:
    """Grades submissions of one assignment. Reusable across files (batch mode)."""

    _submission: Submission | None = None  # the file being graded (feedback names its cells)
    _ahead: _Ahead | None = None  # while grade() runs: the work started early

    def __init__(self, assignment: Assignment, *, seed: int | None = None, hidden: bool = True,
                 overrides: Mapping[str, Any] | None = None, deny_read: Sequence[str] = (),
                 cache_root: str | None = None, cases: list[_PartCases] | None = None,
                 trusted_cache: bool = False, lanes: int = 2):
        self.assignment = assignment
        # 2: the last parts needing a worker of their own are graded beside the first ones
        # (_SecondLane); 1: one part after another (batch mode, which grades submissions in
        # parallel already).
        self.lanes = int(lanes)
        self._executor_lock = threading.Lock()  # the executor serves one request at a time
        self.seed = new_seed() if seed is None else int(seed)
        self.hidden = hidden
        self.overrides = dict(overrides or {})
        self.limits: Limits = assignment.limits.replace(**self.overrides)
        # Reference solutions, trusted helpers and case builders (every course folder) are
        # never readable by student code (nor importable: ``grader`` is refused by name). The
        # OS sandbox leaves them out; this list is for the in-process fence without it.
        deny = [PROJECT_ROOT / "tests", *registry.course_folders()]
        if assignment.folder is not None:
            deny.append(assignment.folder)
        self.deny_read = [str(p) for p in deny] + [str(p) for p in deny_read]
        self.cache_root = cache_root
        # Trusted runs only (the project's tests, reference solutions): every file of the
        # assignment shares one worker cache, so a variant of a file compiles only what
        # changed. Never for student submissions: one could then poison another's programs.
        self.trusted_cache = trusted_cache
        self._cases = cases

    # -- cases -------------------------------------------------------------------------

    def cases(self) -> list[_PartCases]:
        if self._cases is None:
            self._cases = build_cases(self.assignment, self.seed, self.hidden)
        return self._cases

    def materialize(self) -> None:
        """Evaluate every lazy expected value now (batch mode shares them across threads).

        Never raises: a value that cannot be computed is kept as :class:`_Failed`, which
        re-raises when a submission is judged (a grading error of that part; a failed known
        mistake is skipped by ``judge.diagnose``).
        """
        for pc in self.cases():
            for i, (case, name) in enumerate(pc.cases):
                if case.expected is not UNSET:
                    exp = _resolve_or_failed(case.expected)
                    mistakes = tuple((m, _resolve_or_failed(w)) for m, w in case.mistakes)
                    pc.cases[i] = (_replace_case(case, expected=exp, mistakes=mistakes), name)
                if case.prepare is not None:
                    try:
                        case.prepare()  # its result stays where it keeps it (a cache)
                    except Exception:  # noqa: BLE001 - each grading runs it again and reports it
                        pass

    # -- grading -----------------------------------------------------------------------

    def grade(self, path: str | Path, *, display_name: str | None = None,
              on_part: Callable[[int, int, str], None] | None = None,
              submission: Submission | None = None, cache_owner: str | None = None) -> Result:
        """Grade the file at ``path`` (or ``submission``, already read: ``grader.check`` gives
        a kernel's cell history this way; ``path`` then only names it)."""
        t0 = time.monotonic()
        path = Path(path)
        # File names enter as valid text (a name with Latin-1 bytes is shown with escapes).
        shown = valid_text(display_name or str(path))
        a = self.assignment
        result = Result(a.id, a.title, shown, self.seed, "submit" if self.hidden else "test", [])
        try:
            source = submission if submission is not None else load_submission(path)
        except SourceError as exc:
            return self._all_zero(result, f"Your file could not be read: {exc}", t0)
        self._submission = source

        cache_dir = executor_cache = None
        if self.cache_root:
            cache_dir, executor_cache = (
                _cache_folder(worker_cache.folder(self.cache_root, a.id, source.text,
                                                  trusted=self.trusted_cache, owner=cache_owner,
                                                  executor=executor))
                for executor in (False, True))

        def new_worker(trusted: Mapping[str, str], cache: str | None) -> Worker:
            return Worker(forbidden=a.forbidden_imports, forbidden_names=("grader",),
                          preload=a.preload, trusted=trusted,
                          memory_bytes=self.limits.memory_bytes, output_bytes=self.limits.output_bytes,
                          output_hard_bytes=self.limits.output_hard_bytes, deny_read=self.deny_read,
                          cache_dir=cache)

        worker = new_worker({}, cache_dir)
        # Runs the programs a submission's jit cases export, on the real inputs, with no
        # student Python in it (see _call_exported). Started once the file has loaded, in the
        # worker's start-up thread (see _Ahead). Its compile cache is its own folder
        # (worker_cache.folder), none at all when a case is timed ("cold", see below).
        executor = Worker(forbidden_names=("grader",), memory_bytes=self.limits.memory_bytes,
                          output_bytes=self.limits.output_bytes,
                          output_hard_bytes=self.limits.output_hard_bytes)
        # Starts (and so outlives) the workers: this part's, the next one's, the second lane's
        # and the jit executor may all be starting at once.
        pool = concurrent.futures.ThreadPoolExecutor(3, thread_name_prefix="grader-start")
        relay = _Relay(worker, pool, new_worker)
        lane: _SecondLane | None = None
        try:
            started = pool.submit(worker.start)
            all_cases = self.cases()
            if self.hidden is False:
                result.hidden_not_run = sum(pc.hidden_count for pc in all_cases)
            # Each part's worker: the trusted helpers its cases bind (reference code of other
            # parts, only in the workers of the parts that bind them; loaded before the
            # policy is armed), and no compile cache for a part with timed ("cold") cases:
            # the worker also switches JAX's cache off for those calls, but that switch lives
            # in the student's process, and a submission that switched it back on could pass
            # a "jit once, not every epoch" limit on programs compiled by an earlier run.
            configs = [(_trusted_helpers(a, pc), None if any(case.cold for case, _ in pc.cases)
                        else cache_dir) for pc in all_cases]
            if not any(case.cold for pc in all_cases for case, _ in pc.cases):
                executor.reconfigure(cache_dir=executor_cache)  # not started yet: sets it
            split = _second_lane_start(configs) if self.lanes > 1 else None
            self._ahead = _Ahead(all_cases, pool, executor, relay, configs[:split])
            deadline = t0 + self.limits.total_seconds
            if split is not None:
                # Its parts report a file that does not load as fatal too; the loop below
                # takes that only where every part before was a grading error (as one lane).
                lane = _SecondLane(new_worker(*configs[split]), pool, list(enumerate(all_cases))[split:],
                                   lambda w, pc: self._grade_part(w, pc, source, shown, deadline, True,
                                                                  executor),
                                   self._ahead.part_done)
            _started(started)
            first = True
            for index, pc in enumerate(all_cases):
                if on_part:
                    on_part(index, len(all_cases), pc.part.function)
                if lane is not None and index >= split:
                    part_result, fatal = lane.result(index)
                else:
                    worker = relay.use(*configs[index])
                    part_result, fatal = self._grade_part(worker, pc, source, shown, deadline,
                                                          first, executor)
                    self._ahead.part_done(index)
                    if lane is not None and index == split - 1:
                        # The first lane is done: its worker stops now, not at the end (code it
                        # left running would take the processor from the second lane).
                        relay.current.retire()
                if fatal is not None and first:  # the file itself cannot be loaded: same for every part
                    return self._all_zero(result, fatal, t0, output=part_result.output)
                first = first and part_result.status == ERROR
                result.parts.append(part_result)
        finally:
            if lane is not None:  # before the expected values stop: its thread may wait on one
                lane.close()
            if self._ahead is not None:
                self._ahead.close()
                self._ahead = None
            # Before the pool's thread ends: bubblewrap's --die-with-parent follows the thread
            # that started the sandbox, so the first worker dies with it.
            relay.current.save_cache()  # the parent writes what the worker compiled (runner)
            executor.save_cache()
            pool.shutdown(wait=True)
            relay.close()
            executor.close()
            for folder in (cache_dir, executor_cache):
                if folder:
                    worker_cache.cap_size(folder)
        result.seconds = time.monotonic() - t0
        return result

    def _all_zero(self, result: Result, message: str, t0: float, output: str = "") -> Result:
        result.parts = []
        for i, pc in enumerate(self.cases()):
            result.parts.append(PartResult(
                pc.part.function, pc.part.description, float(pc.part.points), 0.0, message,
                output=output if i == 0 else "", visible_cases=pc.visible_count,
                hidden_cases=pc.hidden_count if self.hidden else 0))
        if not self.hidden:
            result.hidden_not_run = sum(pc.hidden_count for pc in self.cases())
        result.seconds = time.monotonic() - t0
        return result

    def _grade_part(self, worker: Worker, pc: _PartCases, source: Submission, filename: str,
                    deadline: float, first: bool,
                    executor: Worker | None = None) -> tuple[PartResult, str | None]:
        part = pc.part
        limits = self.assignment.part_limits(part, self.overrides)
        fn = part.function
        res = PartResult(fn, part.description, float(part.points), 0.0, "",
                         visible_cases=pc.visible_count,
                         hidden_cases=pc.hidden_count if self.hidden else 0)
        outputs: list[str] = []
        violations: list[str] = []
        dropped = 0

        def send(header: dict, blobs: list[bytes], timeout: float, what: str,
                 target: Worker | None = None) -> Reply | str:
            target = worker if target is None else target
            if target is not executor:
                return exchange(header, blobs, timeout, what, target)
            if self._ahead is not None:
                self._ahead.executor_ready()  # never two threads on one worker
            # Both lanes' jit cases use the executor: one exchange at a time, from the budget
            # left once it is this one's turn to the kill of an executor that answered badly
            # (killed beside the other lane's request, it failed that lane's innocent part).
            with self._executor_lock:
                return exchange(header, blobs, timeout, what, target)

        def exchange(header: dict, blobs: list[bytes], timeout: float, what: str,
                     target: Worker) -> Reply | str:
            nonlocal dropped
            left = deadline - time.monotonic()
            if left <= 0:
                return (f"Not graded: the submission used up its total time budget of "
                        f"{self.limits.total_seconds:g} s before this part.")
            reply = target.request(header, blobs, timeout=timeout, what=what, wall_limit=left)
            if target is worker:  # the executor's own messages are not the student's output
                if reply.output:
                    outputs.append(reply.output)
                dropped += max(0, reply.output_total - len(reply.output.encode("utf-8", "replace")))
            if reply.failure is not None:
                if reply.failure.kind == "start":
                    raise GraderError(reply.failure.message)
                if reply.failure.kind == "budget":
                    return (f"Not graded to the end: the submission used up its total time "
                            f"budget of {self.limits.total_seconds:g} s while {what}.")
                message = "Your code " + reply.failure.message
                if reply.failure.kind == "timeout" and pc.part.timeout_hint:
                    hint = pc.part.timeout_hint
                    return _Diagnosed(f"{message}. Likely cause: {hint}", hint)
                return message
            try:
                checked = protocol.parse_reply(reply.header, reply.blobs, header["op"])
            except protocol.ProtocolError as exc:
                target.kill()  # whatever else it wrote must not reach the next request
                return f"Your code sent back a reply the grader could not read ({exc}) while {what}."
            for v in checked.violations:
                if v[:100] not in violations:
                    violations.append(v[:100])
            return checked

        def finish(feedback: str, score: float = 0.0, fatal: str | None = None,
                   status: str = GRADED):
            if violations:
                feedback = "Your code " + "; ".join(
                    f"imports {v!r}, which this assignment does not allow" for v in violations
                ) + " (score 0 for this part)."
                score, fatal, status = 0.0, (feedback if fatal else None), GRADED
            res.score, res.feedback, res.status = score, clean(feedback, 1200), status
            res.mistake = feedback.mistake if isinstance(feedback, _Diagnosed) else ""
            text = "".join(outputs)
            if len(text) > limits.output_bytes:
                dropped_here = len(text) - limits.output_bytes
                text = text[: limits.output_bytes]
            else:
                dropped_here = 0
            if dropped or dropped_here:
                text += f"\n[... {human_bytes(dropped + dropped_here)} more output not shown]"
            res.output = clean(text, limits.output_bytes + 200)
            return res, fatal

        if pc.error:
            return finish(pc.error, status=ERROR)
        stage = "while loading your file"
        try:
            # 1. fresh namespace
            header = source.load_header(filename)
            wait = limits.load_seconds
            if source.notebook:  # the worker stops the running cell itself, naming it
                header["seconds"], wait = limits.load_seconds, limits.load_seconds + LOAD_GRACE
            loaded = send(header, [], wait, "loading")
            if isinstance(loaded, str):
                # A plain str (no _Diagnosed): a file that does not load names no mistake.
                msg = str(loaded.replace("Your code", "Your file", 1))
                return finish(msg, fatal=msg if first else None)
            if not loaded.ok:
                msg = self._load_error(loaded.error, limits.load_seconds)
                return finish(msg, fatal=msg if first else None)
            if self._ahead is not None:
                self._ahead.file_loaded(pc)
            if fn not in loaded.functions:
                what = "notebook" if source.notebook else "file"
                return finish(f"Your {what} does not define {fn}() (or it is not a function)."
                              + self._cell_notes(loaded.cell_errors))

            # 2. the cases
            for case, case_name in pc.cases:
                stage = f"while checking {case_name}"
                res.failed_case = case_name  # until it passes (a grading error keeps it too)
                msg = self._run_case(worker, send, case, case_name, fn, limits, executor)
                if msg is not None:
                    if f"{fn}() raised NameError" in msg and loaded.cell_errors:
                        # a name an earlier cell would have defined, had it run
                        notes = self._cell_notes(loaded.cell_errors)
                        msg = (_Diagnosed(msg + notes, msg.mistake)
                               if isinstance(msg, _Diagnosed) else msg + notes)
                    return finish(msg)
            res.failed_case = ""
        except GraderError:
            raise
        except Exception as exc:  # noqa: BLE001 - the parent's own work failed: not the student's
            worker.kill()  # its state is unknown; the next part starts a fresh one
            return finish(grading_error(stage, exc), status=ERROR)
        if self.hidden:
            n = pc.visible_count + pc.hidden_count
            detail = f"all {n} cases ({pc.visible_count} visible, {pc.hidden_count} hidden)"
        else:
            n = pc.visible_count
            detail = f"the {n} visible case{'s' if n != 1 else ''}" if n != 1 else "the visible case"
        return finish(f"Passed {detail}.", score=float(part.points))

    # -- one case ----------------------------------------------------------------------

    def _run_case(self, worker: Worker, send, case: Case, case_name: str, fn: str,
                  limits: Limits, executor: Worker | None = None) -> str | None:
        timeout = case.time_limit or limits.time_per_call
        label = f"{case_name} ({case.describe()})"
        what = f"running {fn}() on {case_name}"
        exported: list = []  # a jit case's (program, structure), exported once per case

        def call(args: tuple) -> Any:
            if (case.jit or case.vjp) and executor is not None:
                return self._call_exported(send, executor, case, fn, args, label, what, timeout,
                                           exported)
            blobs: list[bytes] = []
            header = {
                "op": "call", "fn": fn, "mode": "jit" if case.jit else "vjp" if case.vjp else "call",
                "args": _encode(tuple(args), blobs), "kwargs": _encode(dict(case.kwargs), blobs),
                "static_argnames": list(case.static_argnames),
                "static_argnums": list(case.static_argnums), "x64": bool(case.x64), "cold": bool(case.cold),
                "replace": dict(case.replace),
            }
            if case.vjp:
                header["vjp_argnums"] = list(case.vjp[0])
                header["cotangent"] = _encode(case.vjp[1], blobs)
            reply = send(header, blobs, timeout, what)
            if isinstance(reply, str):
                return reply
            if not reply.ok:
                return self._call_error(reply.error, fn, label, case)
            return _Out(reply.out)

        first = call(case.args)
        if isinstance(first, str):
            return first
        out = first.value
        if case.expected is not UNSET:
            expected = (self._ahead.expected(case) if self._ahead is not None
                        else judge.resolve(case.expected))
            msg = judge.compare(out, expected, rtol=case.rtol, atol=case.atol,
                                check_dtype=case.check_dtype)
            if msg is not None:
                hint = judge.diagnose(out, case.mistakes, rtol=case.rtol, atol=case.atol,
                                      check_dtype=case.check_dtype)
                if hint:
                    return _Diagnosed(f"Wrong result on {label}: {hint}", hint)
                return f"Wrong result on {label}: {msg}."
        if case.key_args is not None:
            again = call(case.args)
            if isinstance(again, str):
                return again
            if not judge.identical(out, again.value):
                return (f"Calling {fn}() twice with the same key gave different results on {label}: "
                        "all randomness must come from the key argument (no global or NumPy "
                        "random state).")
            other = call(case.key_args)
            if isinstance(other, str):
                return other
            if judge.identical(out, other.value):
                return (f"{fn}() gave the same result for two different keys on {label}: "
                        "it must draw its randomness from the key argument.")
        if case.validate is not None:
            if self._ahead is not None:
                self._ahead.prepared(case)  # raises: a grading error (_grade_part)
            elif case.prepare is not None:
                case.prepare()
            # A validator digests the student's result, so what it raises on it is, by default,
            # that result being malformed (a red-team submission returned an int subclass
            # worth 10**400 to turn its zero into a "grading error"). Only faults of the
            # grader's environment (a missing dependency, the disk, memory) are grading errors.
            try:
                msg = case.validate(out)
            except VALIDATOR_FAULTS:
                raise
            except Exception as exc:  # noqa: BLE001 - the student's result, not the grader
                msg = (f"the result could not be checked ({type(exc).__name__}: "
                       f"{_first_lines(str(exc), 2)})")
            if msg:
                return f"On {label}: {msg}"
        return None

    def _call_exported(self, send, executor: Worker, case: Case, fn: str, args: tuple,
                       label: str, what: str, timeout: float, exported: list) -> Any:
        """A ``jit`` or ``vjp`` case, confirmed outside the student's process.

        The student's worker traces ``jax.jit(fn)`` for the case's shapes and dtypes only
        (array arguments replaced by zeros of the same shape; static ones real) and sends
        back the ``jax.export``-serialized program and the output's structure. A separate
        sandbox that loads no student code (``executor``) runs that program on the real
        inputs. So a submission that patches ``jax.jit`` in its own process gains nothing,
        and never sees a jit case's inputs: whatever program it sends must compute the right
        outputs from inputs it has not seen, which is what a jit-compiled function does.

        A ``vjp`` case (unless ``jit`` is also set, which takes precedence as it always
        has) exports the program with its vjp (``serialize(vjp_order=1)``); the executor
        pulls the case's cotangent back through it with ``jax.vjp`` on the real inputs. A
        patched ``jax.vjp`` in the student's process gains nothing, and neither the primal
        inputs nor the cotangent reach it. The function must therefore be traceable for the
        case's shapes, as under ``jax.jit``. A ``jax.custom_vjp`` in the student's code is
        exported with the program and its backward rule is what the executor runs: it is
        part of the student's function, right or wrong, and judged as such.
        """
        statics = set(case.static_argnums)
        vjp = case.vjp if not case.jit else None
        how = "differentiated with jax.vjp" if vjp else "under jax.jit"
        if not exported:
            blobs: list[bytes] = []
            header = {
                "op": "call", "fn": fn, "mode": "export",
                "args": _encode(tuple(a if i in statics else _placeholder(a)
                                      for i, a in enumerate(args)), blobs),
                "kwargs": _encode({k: v if k in case.static_argnames else _placeholder(v)
                                   for k, v in dict(case.kwargs).items()}, blobs),
                "static_argnames": list(case.static_argnames),
                "static_argnums": list(case.static_argnums), "x64": bool(case.x64),
                "cold": bool(case.cold), "replace": dict(case.replace), "vjp": bool(vjp),
            }
            reply = send(header, blobs, timeout, what)
            if isinstance(reply, str):
                return reply
            if not reply.ok:
                return self._call_error(reply.error, fn, label, case)
            if reply.program is None:
                return f"{fn}() {how} sent back no compiled program on {label}."
            exported.append((reply.program, reply.out))
        program, structure = exported[0]
        blobs = [protocol.array_to_npy(program)]
        header = {
            "op": "run_exported", "program": {"array": 0}, "x64": bool(case.x64),
            "args": _encode(tuple(a for i, a in enumerate(args) if i not in statics), blobs),
            "kwargs": _encode({k: v for k, v in dict(case.kwargs).items()
                               if k not in case.static_argnames}, blobs),
        }
        if vjp:
            argnums, cotangent = vjp
            if statics & set(argnums):  # the case's own fault: a grading error of this part
                raise ValueError(f"Case.vjp differentiates the static argument(s) "
                                 f"{sorted(statics & set(argnums))}")
            try:
                header["cotangent"] = _encode(_leaves_by(structure, cotangent), blobs)
            except (TypeError, IndexError, KeyError):
                return (f"{fn}() {how}: its output does not have the structure of the "
                        f"expected one on {label}, so the cotangent cannot be pulled back.")
            # Positions among the arguments the executor receives (static ones stay behind).
            header["vjp_argnums"] = [i - sum(s < i for s in statics) for i in argnums]
        program_of = "the differentiated program" if vjp else "the jit-compiled program"
        reply = send(header, blobs, timeout, f"running {program_of} of {fn}() on "
                                             f"{label.split(' (')[0]}", target=executor)
        if isinstance(reply, str):
            text = reply.replace("Your code", f"{program_of.capitalize()} of {fn}()", 1)
            return _Diagnosed(text, reply.mistake) if isinstance(reply, _Diagnosed) else text
        if not reply.ok:
            err = reply.error
            return (f"{fn}() {how}: its compiled program failed on {label}: "
                    f"{err.type}: {_first_lines(err.message)}")
        if vjp:
            return _Out(reply.out)
        leaves = reply.out
        try:
            return _Out(_fill(structure, leaves))
        except (TypeError, IndexError) as exc:
            return f"{fn}() under jax.jit sent back output the grader could not read on {label} ({exc})."

    def _forbidden_missing(self, error: protocol.WorkerError) -> str | None:
        """The forbidden module a ``ModuleNotFoundError`` names, if any: in the OS sandbox a
        forbidden module is absent, so that is how its import fails once the in-process fence
        is out of the way."""
        if error.type != "ModuleNotFoundError":
            return None
        m = re.match(r"No module named '([\w.]+)'", error.message)
        if m is None:
            return None
        for f in self.assignment.forbidden_imports:
            if m.group(1) == f or m.group(1).startswith(f + "."):
                return f
        return None

    def _call_error(self, error: protocol.WorkerError, fn: str, label: str, case: Case) -> str:
        etype = error.type
        message = _first_lines(error.message)
        where = _where(error, self._submission)
        forbidden = self._forbidden_missing(error)
        if forbidden:
            return f"{fn}() imports '{forbidden}', which this assignment does not allow{where}."
        if etype == "Missing":
            return f"Your file does not define {fn}() (or it is not a function)."
        if etype == "NotImplementedError":
            return f"Not implemented yet ({fn}() raises NotImplementedError)."
        if etype == "SystemExit":
            return (f"{fn}() raised SystemExit (sys.exit() or exit()) on {label}{where}: a graded "
                    "function must return its result.")
        if etype == "KeyboardInterrupt":
            return f"{fn}() raised KeyboardInterrupt on {label}{where}."
        if error.flood:
            return (f"{fn}() printed more than {human_bytes(self.limits.output_hard_bytes)} of "
                    f"output on {label}, so it was stopped.")
        if error.memory:
            return (f"{fn}() ran out of memory on {label}{where}: the limit is "
                    f"{human_bytes(self.limits.memory_bytes)} ({etype}).")
        if error.forbidden:
            return f"{fn}() {message}."
        if etype == "SandboxError":
            return f"{fn}() did something graded code may not do on {label}{where}: {message}."
        if case.jit and etype in _JIT_ERRORS:
            return (f"{fn}() does not work under jax.jit on {label}{where}: {etype}: {message} "
                    "(Python control flow or NumPy calls on traced values?)")
        if case.vjp and etype in _JIT_ERRORS:
            return (f"{fn}() cannot be traced for jax.vjp on {label}{where}: the grader "
                    f"differentiates it as a program traced for the case's shapes, as "
                    f"jax.jit does: {etype}: {message} (Python control flow or NumPy calls "
                    "on traced values?)")
        text = f"{fn}() raised {etype} on {label}{where}: {message}."
        if case.error_hint:
            return _Diagnosed(f"{text} Likely cause: {case.error_hint}", case.error_hint)
        return text

    def _cell_notes(self, cell_errors: Sequence) -> str:
        """Why a notebook defines less than it shows: its cells that did not parse (skipped,
        the others still ran) and the cell whose error stopped it (as Jupyter's Run All stops)."""
        sub = self._submission
        notes = []
        for cell, skipped, error in cell_errors[:5]:
            name = sub.cell_name(cell) if sub is not None else f"cell {cell}"
            name = name[:1].upper() + name[1:]
            if skipped:
                notes.append(f"{name} was not run: it has a syntax error"
                             f"{_syntax_where(error, sub)}: {_first_lines(error.message, 2)}")
            else:
                stop = " so the cells after it were not run (as Jupyter's Run All stops there)"
                stop = "," + stop if not getattr(sub, "keep_going", False) else ""
                where = _where(error, sub) or f", in {name}"
                if error.type == "KernelDied":  # os._exit in a cell (grader.nbexec)
                    notes.append(f"{name} ended the kernel{where}: {_first_lines(error.message, 1)}"
                                 f"{stop}")
                    continue
                notes.append(f"{name} raised {error.type}{where}: "
                             f"{_first_lines(error.message, 2)}{stop}")
        return "".join(f"\n{n}." if not n.endswith(".") else f"\n{n}" for n in notes)

    def _load_error(self, error: protocol.WorkerError, load_seconds: float | None = None) -> str:
        etype = error.type
        message = _first_lines(error.message)
        if etype in ("SyntaxError", "IndentationError", "TabError"):
            line = error.line
            text = error.text.strip()
            at = f" at line {line}" if line else ""
            return f"Your file has a syntax error{at}: {message}" + (f"\n    {text}" if text else "")
        if error.forbidden:
            return f"Your file {message}."
        forbidden = self._forbidden_missing(error)
        if forbidden:
            return f"Your file imports '{forbidden}', which this assignment does not allow."
        if etype == "LoadTimeout":  # a notebook's cell ran past the load limit (grader.nbexec)
            limit = self.limits.load_seconds if load_seconds is None else load_seconds
            return (f"Your notebook did not finish within {limit:g} s (the time "
                    f"limit) while loading{_where(error, self._submission)}: an infinite loop, a "
                    "hang, or far too much work.")
        if etype == "SystemExit":
            return (f"Your file raised SystemExit while loading{_where(error, self._submission)}: "
                    "code that exits must sit under `if __name__ == \"__main__\":`.")
        return f"Your file raised {etype} while loading{_where(error, self._submission)}: {message}"


class _Ahead:
    """Work the parent starts early, so that it overlaps what it would otherwise wait for
    (one ``grade()`` call; the parent's own work, never the student's).

    - The expected values of the cases, computed in grading order in one background thread
      from the moment the cases exist: while the worker starts, and then while it runs the
      student's calls (each used to be computed when its case was judged, the worker idle
      meanwhile). A part that ends (passed, or stopped at a failing case) cancels those of
      its values not yet begun. :meth:`expected` gives a case's value, or raises what
      computing it raised, exactly as ``judge.resolve`` in the judging thread would have (a
      grading error of that part). Values already computed (``Grader.materialize``) are
      used as they are.
    - The executor of jit and vjp cases, when some case to run has one: started in the
      worker's start-up threads (which outlive it, see :class:`grader.runner.Worker`) as
      soon as the student's file has loaded, so its start-up overlaps the first part
      instead of delaying the first jit case; a file that does not load never starts it.
      :meth:`executor_ready` waits for that start before the executor's first request, so
      only one thread at a time ever uses it. A start that failed leaves the executor
      stopped, and its next request starts it again (and reports the failure) as before.
    - The next part's worker, when it needs another configuration than this part's (see
      :class:`_Relay`): started once this part's load succeeded, while its cases run.
    """

    def __init__(self, parts: list[_PartCases], starter: concurrent.futures.ThreadPoolExecutor,
                 executor: Worker, relay: _Relay | None = None,
                 configs: Sequence[tuple[Mapping[str, str], str | None]] = ()):
        self._starter, self._executor = starter, executor
        self._relay, self._configs = relay, list(configs)
        self._index = {id(pc): i for i, pc in enumerate(parts)}
        self._executor_start: concurrent.futures.Future | None = None
        self._lock = threading.Lock()  # the two lanes (_SecondLane) both report loads
        self._needs_executor = any(case.jit or case.vjp for pc in parts for case, _ in pc.cases)
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="grader-expected")
        self._values: dict[int, concurrent.futures.Future] = {}
        self._by_part: list[list[concurrent.futures.Future]] = []
        self._prepared: dict[int, concurrent.futures.Future] = {}
        for pc in parts:
            futures = []
            for case, _ in pc.cases:
                if judge.is_lazy(case.expected) and id(case) not in self._values:
                    self._values[id(case)] = self._pool.submit(judge.resolve, case.expected)
                    futures.append(self._values[id(case)])
                if case.prepare is not None and id(case) not in self._prepared:
                    self._prepared[id(case)] = self._pool.submit(case.prepare)
                    futures.append(self._prepared[id(case)])
            self._by_part.append(futures)

    def expected(self, case: Case) -> Any:
        """``judge.resolve(case.expected)``, computed ahead when it could be."""
        future = self._values.pop(id(case), None)
        if future is None or future.cancelled():
            return judge.resolve(case.expected)
        return future.result()

    def prepared(self, case: Case) -> None:
        """Wait for ``case.prepare`` if it was started ahead (so that ``validate`` finds its
        work done instead of doing it a second time beside it), and raise what it raised:
        work that does not depend on the answer failed, the grader's fault (a grading error
        of the part; left to ``validate``, which calls the same work again, it became the
        student's zero as a "result that could not be checked"). Not started ahead (or
        cancelled): run here, with the same rule."""
        future = self._prepared.pop(id(case), None)
        if future is not None and not future.cancelled():
            future.result()
        elif case.prepare is not None:
            case.prepare()

    def part_done(self, index: int) -> None:
        for future in self._by_part[index]:
            future.cancel()

    def file_loaded(self, pc: _PartCases) -> None:
        """The student's file loaded in the worker of part ``pc`` (in either lane)."""
        with self._lock:
            if self._needs_executor:  # once: from then on the executor is started on demand
                self._needs_executor = False
                self._executor_start = self._starter.submit(self._executor.start)
        index = self._index.get(id(pc))
        if self._relay is not None and index is not None and index + 1 < len(self._configs):
            self._relay.prepare(*self._configs[index + 1])

    def executor_ready(self) -> None:
        with self._lock:
            start = self._executor_start
        if start is not None:
            concurrent.futures.wait([start])

    def close(self) -> None:
        """Cancel what has not begun; wait for what has (an expected value, the executor's
        start: the caller then stops both workers)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.executor_ready()


def _cache_folder(folder: Path) -> str | None:
    """``folder`` created (its parent pruned to the newest folders), or ``None`` where it cannot
    be: a cache the grader cannot write is skipped, grading works without one."""
    worker_cache.prune(folder.parent)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    return str(folder)


def _started(start: concurrent.futures.Future) -> None:
    """Wait for a worker's start (``Worker.start`` run in the start-up pool).

    Raises:
      GraderError: it failed (the grader's fault, never the student's).
    """
    try:
        failure = start.result()
    except Exception as exc:  # noqa: BLE001 - the grader's fault, never the student's
        raise GraderError(f"the grader could not start its worker process "
                          f"({type(exc).__name__}: {exc})") from exc
    if failure is not None:
        raise GraderError(failure.message)


def _second_lane_start(configs: Sequence[tuple[Mapping[str, str], str | None]]) -> int | None:
    """The index of the first part graded in the second lane (:class:`_SecondLane`): the
    first of the last run of parts that share one worker configuration, when there are two
    runs or more (else ``None``). Those parts need a worker of their own anyway; splitting a
    single run in two instead cost more processor time (a second worker started, programs
    compiled twice) than it saved in the seven reference solutions (111 s against 103 s, for
    the same wall time)."""
    starts = [i for i in range(1, len(configs)) if configs[i] != configs[i - 1]]
    return starts[-1] if starts else None


class _SecondLane:
    """The last parts that need a worker of their own configuration (:func:`_second_lane_start`),
    graded in that worker by a thread of their own from the start, while the first parts are
    graded: the two cores both work. (One worker's calls after another's left a quarter of
    two cores idle over the seven reference solutions; the last parts are the course's
    training loops, the longest calls.)

    Nothing a part sees changes: its worker has the configuration it had (a fresh process for
    a new configuration, as :class:`_Relay` gives), limits are processor time (a busy
    neighbour does not turn correct code into a timeout), the executor serves one request at
    a time (:class:`Grader`'s lock) and results keep the parts' order. A file that does not
    load is every part's zero, found by the first part that loads it (in either lane) where
    every part before was a grading error, as with one lane. The worker stops after its last
    part (code it left running would take the other lane's processor); ``close`` stops what
    is still running when the grading ends early (the file did not load, an interrupt), and
    saves what the worker compiled.
    """

    def __init__(self, worker: Worker, starter: concurrent.futures.ThreadPoolExecutor,
                 parts: list[tuple[int, _PartCases]],
                 grade_part: Callable[[Worker, _PartCases], tuple[PartResult, str | None]],
                 part_done: Callable[[int], None]):
        self.worker = worker
        self._start = starter.submit(worker.start)
        self._stop = threading.Event()
        self._results = {index: concurrent.futures.Future() for index, _ in parts}
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="grader-lane")
        self._done = self._thread.submit(self._run, parts, grade_part, part_done)

    def _run(self, parts, grade_part, part_done) -> None:
        try:
            _started(self._start)
            for index, pc in parts:
                if self._stop.is_set():
                    break
                result = grade_part(self.worker, pc)
                if index == parts[-1][0]:
                    # Its last part is graded: the worker stops now, not when the first lane
                    # ends (code it left running would take the processor meanwhile).
                    self.worker.retire()
                self._results[index].set_result(result)
                part_done(index)
        except BaseException as exc:  # noqa: BLE001 - re-raised where the part's result is asked for
            for future in self._results.values():
                if not future.done():
                    future.set_exception(exc)
        for future in self._results.values():
            future.cancel()  # parts not graded: the grading ended without them

    def result(self, index: int) -> tuple[PartResult, str | None]:
        """Part ``index``'s ``(result, fatal)``, once graded (what grading it raised, raised)."""
        return self._results[index].result()

    def close(self) -> None:
        self._stop.set()
        if not self._done.done():
            self.worker.kill()  # a call still running: its result will not be used
        concurrent.futures.wait([self._done, self._start])
        self.worker.save_cache()  # before its thread ends (a restart there ties the worker to it)
        self._thread.shutdown(wait=True)
        self.worker.close()


class _Relay:
    """The worker of each part, in turn: one worker serves consecutive parts that need the same
    configuration (trusted helpers, compile cache); where the next part needs another, its
    worker is started beforehand (:meth:`prepare`, in the start-up threads, while this part
    runs) instead of after this one ends.

    What a worker holds is what it held before: the helpers of its own parts only, no cache
    for a part with timed cases, a fresh process for every configuration. A spare that was
    prepared loads no student code until its part begins; it is seeded with the cache folder
    as it was when it started (the entries the current worker compiles meanwhile are written
    when it stops, for later runs). A worker is still never reused after a failure
    (:meth:`grader.runner.Worker.request` replaces it).
    """

    def __init__(self, first: Worker, starter: concurrent.futures.ThreadPoolExecutor,
                 make: Callable[[Mapping[str, str], str | None], Worker]):
        self.current = first
        self._starter, self._make = starter, make
        self._spare: tuple[Worker, concurrent.futures.Future] | None = None

    @staticmethod
    def _fits(worker: Worker, trusted: Mapping[str, str], cache_dir: str | None) -> bool:
        return worker.cfg["trusted"] == dict(trusted) and worker.cfg["cache_dir"] == cache_dir

    def prepare(self, trusted: Mapping[str, str], cache_dir: str | None) -> None:
        """Start a worker for the next part, unless the current one fits it (or one is ready)."""
        if self._fits(self.current, trusted, cache_dir) or self._spare is not None:
            return
        spare = self._make(trusted, cache_dir)
        self._spare = (spare, self._starter.submit(spare.start))

    def use(self, trusted: Mapping[str, str], cache_dir: str | None) -> Worker:
        """The worker for a part with this configuration: the current one if it fits, else the
        prepared one (the current one's compiled programs saved, then it is stopped), else the
        current one restarted with it."""
        if self._fits(self.current, trusted, cache_dir):
            return self.current
        spare = self._take_spare()
        if spare is not None and self._fits(spare, trusted, cache_dir):
            self.current.retire()
            self.current = spare
        else:
            if spare is not None:
                spare.close()
            self.current.reconfigure(trusted=dict(trusted), cache_dir=cache_dir)
        return self.current

    def _take_spare(self) -> Worker | None:
        if self._spare is None:
            return None
        (spare, start), self._spare = self._spare, None
        concurrent.futures.wait([start])  # never two threads on one worker
        return spare

    def close(self) -> None:
        spare = self._take_spare()
        if spare is not None:
            spare.close()
        self.current.close()


def _placeholder(value: Any) -> Any:
    """``value`` with every array (and PRNG key) replaced by zeros of its shape and dtype."""
    if isinstance(value, dict):
        return {k: _placeholder(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_placeholder(v) for v in value)
    kd = _parent_key_data(value)
    if kd is not None:
        import jax

        return jax.random.wrap_key_data(np.zeros_like(kd[0]), impl=jax.random.key_impl(value))
    if isinstance(value, (np.ndarray, np.generic)) or (type(value).__module__ or "").startswith("jax"):
        arr = np.asarray(value)
        return np.zeros(arr.shape, arr.dtype)
    return value


def _fill(structure: Any, leaves: Any) -> Any:
    """An exported program's flat outputs put back into the structure the worker reported
    (each leaf of ``structure`` is the index of its output). Raises ``TypeError`` or
    ``IndexError`` if the two do not fit."""
    if not isinstance(leaves, list):
        raise TypeError("the program's outputs are not a list")
    used: set[int] = set()

    def rec(node: Any) -> Any:
        if node is None:
            return None
        if isinstance(node, dict):
            return {k: rec(v) for k, v in node.items()}
        if isinstance(node, (list, tuple)):
            return type(node)(rec(v) for v in node)
        if type(node) is int and 0 <= node < len(leaves) and node not in used:
            used.add(node)
            return leaves[node]
        raise IndexError("the output's structure does not match the program's outputs")

    out = rec(structure)
    if len(used) != len(leaves):
        raise IndexError("the output's structure does not match the program's outputs")
    return out


def _leaves_by(structure: Any, value: Any) -> list:
    """The leaves of ``value`` (a cotangent, built by the parent like the expected output) in
    the order of an exported program's outputs: ``structure`` as :func:`_fill` reads it.
    Raises ``TypeError``, ``IndexError`` or ``KeyError`` if ``value`` does not have that
    structure."""
    leaves: dict[int, Any] = {}

    def rec(node: Any, v: Any) -> None:
        if node is None:
            if v is not None:
                raise TypeError("None expected")
        elif isinstance(node, dict):
            if not isinstance(v, dict) or set(v) != set(node):
                raise KeyError("the keys differ")
            for k, n in node.items():
                rec(n, v[k])
        elif isinstance(node, (list, tuple)):
            if not isinstance(v, (list, tuple)) or len(v) != len(node):
                raise TypeError("the lengths differ")
            for n, x in zip(node, v):
                rec(n, x)
        elif type(node) is int and node not in leaves and not isinstance(v, (dict, list, tuple)):
            leaves[node] = v
        else:
            raise IndexError("the output's structure does not match")

    rec(structure, value)
    if sorted(leaves) != list(range(len(leaves))):
        raise IndexError("the output's structure does not match")
    return [leaves[i] for i in range(len(leaves))]


class _Diagnosed(str):
    """Feedback in which the engine names a known mistake: ``mistake`` is the course's message
    (:attr:`PartResult.mistake`). Only the engine builds one, in three places:

    - a wrong result that matches a ``Case.mistakes`` entry (``judge.diagnose``);
    - an exception on a case with an ``error_hint`` (one the usual wordings do not explain:
      not ``NotImplementedError``, a jit/trace error, memory, a forbidden import...);
    - a timeout of a call of a part with a ``timeout_hint``.

    A file that does not load, a grading error, a check that fails (a validator) and an
    exception with no hint name no mistake. Text a student controls (an exception message,
    printed output) can appear in the feedback but never makes one, so it cannot name a
    mistake on the instructor's summary. A string method (``replace``...) returns a plain
    ``str``: rewording the feedback drops the name unless it is carried on explicitly.
    """

    mistake: str

    def __new__(cls, text: str, mistake: str) -> _Diagnosed:
        self = super().__new__(cls, text)
        self.mistake = mistake
        return self


class _Out:
    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


def _replace_case(case: Case, **changes: Any) -> Case:
    import dataclasses

    return dataclasses.replace(case, **changes)


def _resolve_or_failed(value: Any) -> Any:
    try:
        return judge.resolve(value)
    except Exception as exc:  # noqa: BLE001 - reported when a submission is judged
        return _Failed(exc)


def grade(assignment: Assignment, path: str | Path, *, seed: int | None = None,
          hidden: bool = True, overrides: Mapping[str, Any] | None = None,
          cache_root: str | None = None, deny_read: Sequence[str] = (),
          on_part: Callable[[int, int, str], None] | None = None,
          trusted_cache: bool = False, cache_owner: str | None = None) -> Result:
    """Grade one file (the library entry point behind ``grader test``/``grader submit``).

    ``trusted_cache``: share one worker compilation cache across every file of the assignment
    (see :class:`Grader`); only for files you trust. ``cache_owner``: whose files share one
    worker cache (one student's; see :func:`grader.worker_cache.folder`); default: nobody's,
    the cache is keyed by the file's contents.
    """
    g = Grader(assignment, seed=seed, hidden=hidden, overrides=overrides, cache_root=cache_root,
               deny_read=deny_read, trusted_cache=trusted_cache)
    return g.grade(path, on_part=on_part, cache_owner=cache_owner)

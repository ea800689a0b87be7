"""How an assignment is declared: ``ASSIGNMENT``, an :class:`Assignment`, in the ``assignment.py``
of the assignment's folder (see :mod:`grader.registry` for the folder's layout).

An assignment is an id, a title, its parts and its import policy. A part names the graded
function, its points, how to build its *visible* cases (fixed inputs; what ``grader test``
runs) and its *hidden* cases (built from the run's seed; only ``grader submit`` runs them).
Both kinds are plain :class:`Case` objects, built in the trusted parent; expected values
come from ``jax``/``jaxdl`` computed in the parent, never from the worker.

A case is judged in this order (first failure wins; the part is all-or-nothing):

1. the call itself (plain, or under ``jax.jit`` with ``jit=True``, or the student's function
   differentiated with ``jax.vjp`` in the worker when ``vjp`` is set) must return in time;
2. type, structure, shape and dtype of the result against ``expected`` (float32 in stays
   float32 out unless ``check_dtype=False``), then values with ``rtol``/``atol``; on a value
   mismatch the known ``mistakes`` are tried so the feedback can name the likely bug;
3. ``key_args``: the call is repeated with the same arguments (results must be identical) and
   once with ``key_args`` (another key: results must differ);
4. ``validate(out)``: a parent-side check (for example the held-out accuracy a training
   function reaches), returning ``None`` or a message for the student. ``prepare`` (a
   zero-argument callable) is the work such a check needs that does not depend on the answer
   (the replay of the documented training loop, an import): the parent starts it in the
   background with the expected values, while the worker runs, and ``validate`` finds it done
   (it keeps its result where ``validate`` looks, e.g. a ``functools`` cache). What it
   raises is the grader's fault: a grading error of the part, never the student's zero.

``error_hint`` (a case) and ``timeout_hint`` (a part) name the likely mistake when the student's
function raises on that case, or runs out of time, where no wrong answer can be compared.

``replace`` maps names in the student's namespace to trusted helpers (``"trusted:function"``,
a function of the ``trusted.py`` in the assignment's folder) that the worker binds for that
call only, so a graded function calling other graded functions (``model`` calling
``forward_propagation``) is judged on its own code. A helper bound over the graded function's
own name wraps it (the worker calls ``helper(fn, *args, **kwargs)``), e.g. to call it twice on
the same inputs. No worker sees ``trusted.py`` itself: the worker of a part whose cases bind
helpers receives only those helpers and what they use, as source (:mod:`grader.helper_source`;
it may import ``jax``, ``numpy`` and allowed ``jaxdl`` modules), and every other part's worker
receives none. Student code can never import ``grader`` itself; the OS sandbox holds no other
grader or course file.

``expected`` (and each mistake's wrong answer) may be a zero-argument callable, evaluated only
when the case is judged, so counting cases (``grader test`` reports how many hidden cases
``grader submit`` will add) costs nothing. Hidden builders take an ``int`` seed and must
return the same *number* of cases for every seed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple, Sequence


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


@dataclass(frozen=True)
class Limits:
    """Resource limits for a submission; defaults, overridable per assignment and per part.

    Time limits and ``output_bytes`` apply per part. ``time_per_call`` and ``load_seconds``
    are seconds of processor time used by the worker (a busy machine does not shorten them),
    with a wall-clock backstop of ``grader.runner.WAIT_SLACK`` times as long for code that
    waits instead of computing; ``total_seconds`` is wall-clock time. ``memory_bytes``, ``output_hard_bytes``
    and ``total_seconds`` belong to the worker / the whole submission, so only the
    assignment's value (or the caller's override) counts for them, not a part's.
    """

    time_per_call: float = 10.0        # processor seconds for one call of a graded function
    load_seconds: float = 20.0         # processor seconds for loading (executing) the student's file
    memory_bytes: int = 2 * 2**30      # the worker's data-segment limit (RLIMIT_DATA)
    output_bytes: int = 16 * 1024      # printed output kept per part for the report
    output_hard_bytes: int = 8 * 2**20  # more output than this in one call stops the worker
    total_seconds: float = 300.0       # budget for grading the whole submission

    def replace(self, **changes: Any) -> "Limits":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Case:
    """One call of a graded function and how to judge its result (see the module docstring)."""

    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    expected: Any = UNSET
    label: str = ""
    rtol: float = 1e-5
    atol: float = 1e-6
    check_dtype: bool = True
    jit: bool = False
    static_argnames: tuple[str, ...] = ()
    static_argnums: tuple[int, ...] = ()
    vjp: tuple[tuple[int, ...], Any] | None = None  # (argnums, cotangent)
    key_args: tuple | None = None
    mistakes: tuple[tuple[str, Any], ...] = ()  # (feedback naming the mistake, its wrong answer)
    validate: Callable[[Any], str | None] | None = None
    x64: bool = False
    time_limit: float | None = None
    error_hint: str = ""  # appended to the feedback when the student's function raises here
    cold: bool = False  # run with JAX's persistent compilation cache off: time limits on
    #                     compiling (jit once vs every epoch) stay the same on a resubmission
    replace: Mapping[str, str] = field(default_factory=dict)  # name -> "module:function"
    prepare: Callable[[], Any] | None = None  # work ``validate`` will need that does not depend
    #   on the student's answer (the parent's replay of the documented training loop): started
    #   ahead in the background, while the worker runs; what it raises is left to ``validate``

    def describe(self) -> str:
        how = " under jax.jit" if self.jit else " differentiated with jax.vjp" if self.vjp else ""
        return (self.label or "the inputs") + how


@dataclass(frozen=True)
class Part:
    """A graded function: ``visible()`` and ``hidden(seed)`` build its cases."""

    function: str
    points: float
    description: str
    visible: Callable[[], Sequence[Case]]
    hidden: Callable[[int], Sequence[Case]] = lambda seed: ()
    limits: Mapping[str, Any] = field(default_factory=dict)  # overrides of Limits fields
    timeout_hint: str = ""  # appended to the feedback when a call of this part times out


class Mistake(NamedTuple):
    """A known wrong implementation, stated once in the assignment folder's ``mistakes.py``.

    ``function``: the graded function it breaks. ``source``: a complete ``def`` of that
    function written the wrong way (substituted into ``solution.py``, it must zero that part
    only; the project's tests do this). ``message``: the feedback naming the mistake, which the
    case builders of ``assignment.py`` attach to the wrong answer (or :class:`~grader.judge.Symptom`)
    that recognises it.
    """

    function: str
    source: str
    message: str


TRUSTED_MODULE = "trusted"  # the module part of Case.replace values: the folder's trusted.py


@dataclass(frozen=True)
class Assignment:
    """An assignment and its import policy, stated once.

    ``forbidden_imports`` are refused in the worker (submodules included; absent from its
    sandbox). ``preload`` modules are imported by the worker *before* the policy is armed (use
    it for allowed library modules that import a forbidden one internally). ``allowed_imports``
    (markdown) names what students may import; ``discouraged`` names calls the stub asks students
    not to make although no import policy can refuse them (``jax.nn.softmax`` where ``jax.nn``
    is needed). :meth:`policy_text` renders all of it for the stub, and the project's tests check
    the reference solution against ``forbidden_imports + discouraged``.

    ``folder`` is set by :mod:`grader.registry` when it loads the assignment (its
    ``solution.py``, ``mistakes.py`` and ``trusted.py`` live there). ``handout``: whether the
    student handout and ``assignments/`` carry a stub of it (the grader's own selftest does not).
    ``released``: built from a handout's data (:mod:`grader.released`): visible cases only.
    """

    id: str
    title: str
    parts: tuple[Part, ...]
    forbidden_imports: tuple[str, ...] = ()
    preload: tuple[str, ...] = ()
    limits: Limits = Limits()
    allowed_imports: str = ""
    discouraged: tuple[str, ...] = ()
    handout: bool = True
    folder: Path | None = None
    released: bool = False

    def policy_text(self) -> str:
        """The stub's "Allowed imports" paragraph (markdown, one line; wrapped by the caller)."""
        def names(items) -> str:
            quoted = [f"`{m}`" for m in items]
            return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]

        text = f"**Allowed imports:** {self.allowed_imports.strip().rstrip('.')}."
        if self.forbidden_imports:
            text += (f" Not {names(self.forbidden_imports)} (they would be the answer, or hold "
                     "it); the grader refuses them.")
        if self.discouraged:
            text += f" Please do not call {names(self.discouraged)} either."
        return text

    @property
    def trusted_path(self) -> Path | None:
        """The folder's ``trusted.py`` (helpers for ``Case.replace``), if it has one."""
        if self.folder is None:
            return None
        path = self.folder / "trusted.py"
        return path if path.is_file() else None

    @property
    def solution_path(self) -> Path | None:
        return None if self.folder is None else self.folder / "solution.py"

    @property
    def max_score(self) -> float:
        return float(sum(p.points for p in self.parts))

    @property
    def default_path(self) -> str:
        return f"assignments/{self.id}.py"

    def part_limits(self, part: Part, overrides: Mapping[str, Any] | None = None) -> Limits:
        """Assignment defaults, then the part's overrides, then the caller's (tests, CLI)."""
        return self.limits.replace(**dict(part.limits)).replace(**dict(overrides or {}))

"""Presenting a :class:`grader.engine.Result`: a rich table, a total line, Gradescope JSON.

:func:`gradescope` / :func:`to_json` are the one serializer of results: ``grader submit
--json`` and ``grader grade`` (one ``results.json`` per submission, :mod:`grader.batch`) both
write through them. :func:`unscored` turns a submission that has no result (no file, several
files, a grading error before any part ran) into one, so it is reported the same way.

Student-controlled text (exception messages, printed output) is always inserted as
``rich.text.Text``, never as markup, and was already stripped of control characters by the
engine, so a submission cannot restyle or forge the report.

A part with a grading error (``PartResult.status == "error"``: the grader failed, not the
student) never shows as a zero: the table says "grading error", the total says it is
incomplete and how many points are withheld, and the Gradescope test carries no score (see
:func:`gradescope`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from grader.engine import ERROR, GRADED, PartResult, Result
from grader.spec import Assignment

_OUTPUT_LINES = 6


def _points(x: float) -> str:
    return f"{x:g}"


def render(result: Result, console: Console) -> None:
    """Print the per-part table, the total, and what the run means."""
    mode = "visible cases only" if result.mode == "test" else "all cases"
    console.print(Text.assemble((f"{result.assignment_id}", "bold"), f" - {result.title}"))
    console.print(Text(f"File: {result.file}   ({mode})", style="dim"))
    table = Table(show_lines=True, expand=False)
    table.add_column("Part", no_wrap=True)
    table.add_column("Points", justify="right", no_wrap=True)
    table.add_column("Feedback", overflow="fold")
    for p in result.parts:
        style = "green" if p.passed else ("yellow" if p.score > 0 else "red")
        points = Text(f"{_points(p.score)} / {_points(p.points)}", style=style)
        if p.status == ERROR:
            points = Text(f"grading error\n(- / {_points(p.points)})", style="bold magenta")
        feedback: list[Any] = [Text(p.feedback)]
        if p.output.strip():
            lines = p.output.strip("\n").splitlines()
            shown = "\n".join(lines[:_OUTPUT_LINES])
            more = f"\n... ({len(lines) - _OUTPUT_LINES} more lines not shown)" if len(lines) > _OUTPUT_LINES else ""
            feedback.append(Text("Your code printed:", style="dim italic"))
            feedback.append(Text(shown + more, style="dim"))
        table.add_row(Text(p.function + "()"), points, Group(*feedback))
    console.print(table)
    total_style = "bold green" if result.score >= result.max_score else "bold"
    console.print(Text(f"Total: {_points(result.score)} / {_points(result.max_score)}", style=total_style)
                  if not result.errors else Text(_incomplete(result), style="bold magenta"))
    if result.mode == "test":
        n = result.hidden_not_run
        console.print(Text(
            f"This ran the visible cases only. Grading your submission (`grader submit "
            f"{result.assignment_id}`, or where your course collects it) also runs "
            f"{n} hidden case{'s' if n != 1 else ''} (other inputs and shapes, jit, keys, "
            "gradients, training), so passing here does not guarantee those points."))
    else:
        console.print(Text(f"Seed: {result.seed} (hidden inputs come from it; replay this run "
                           f"with --seed {result.seed})", style="dim"))


def _incomplete(result: Result) -> str:
    """The total line of a result with grading errors."""
    withheld = sum(p.points for p in result.errors)
    n = len(result.errors)
    names = ", ".join(p.function + "()" for p in result.errors)
    return (f"Total: {_points(result.score)} / {_points(result.max_score)} - INCOMPLETE: "
            f"{n} part{'s' if n != 1 else ''} ({names}, {_points(withheld)} points) could not be "
            "graded because of an error in the grader, not in your code. Those points are "
            "withheld, not lost; please tell your instructor.")


def gradescope(result: Result, *, hidden_visibility: str = "visible") -> dict:
    """Gradescope's ``results.json``: one test per part, named after its graded function.

    The format (gradescope-autograders.readthedocs.io, "Autograder Specifications") takes a
    top-level ``score`` or a ``score`` on every test. We always give the top-level ``score``
    (the points of the graded parts), so a part with a grading error can be a test *without*
    a ``score``: it is ``"status": "failed"`` with its ``max_score``, its output says the
    grader failed and the points are withheld, and it is tagged ``grading-error``. The
    submission's ``output`` starts with the same warning, and ``extra_data`` carries
    ``"complete": false`` and the failed parts, so a course can find and regrade them.

    ``hidden_visibility`` (Gradescope's ``visibility``: ``hidden``, ``after_due_date``,
    ``after_published`` or ``visible``) is given to the test of every part that failed on a
    hidden case (its feedback describes that case), so hidden inputs stay hidden until the
    instructor says; the other tests are ``visible``. What a part's code printed while hidden
    cases ran may show their inputs too: with a ``hidden_visibility`` other than ``visible``
    it goes into a test of its own, ``<function>: printed output`` (0 points), with that
    visibility.

    Each part's test carries, in its own ``extra_data`` (where the format allows a test extra
    keys; Gradescope stores it and shows it to no one), ``"mistake"``: the known mistake the
    engine diagnosed (:attr:`grader.engine.PartResult.mistake`, ``""`` if none). The class
    summaries (:mod:`grader.class_summary`) count named mistakes from it, never from the
    feedback text. It is as hidden as the test's feedback: a test that describes a hidden
    case has the test's visibility, and the service's :func:`grader.serve.policy.reveal`
    drops it wherever it withholds the feedback.
    """
    tests = []
    for p in result.parts:
        output = p.feedback
        printed = None
        if p.output.strip():
            if hidden_visibility != "visible" and p.hidden_cases > 0:
                printed = {"name": f"{p.function}: printed output", "score": 0.0,
                           "max_score": 0.0, "status": "passed",
                           "output": "Your code printed:\n" + p.output,
                           "visibility": hidden_visibility}
            else:
                output += "\n\nYour code printed:\n" + p.output
        test = {
            "name": p.function,
            "score": p.score,
            "max_score": p.points,
            "status": "passed" if p.passed else "failed",
            "output": output,
            "visibility": hidden_visibility if p.failed_case.startswith("hidden") else "visible",
            "extra_data": {"mistake": p.mistake},
        }
        if p.status == ERROR:
            del test["score"]
            test["tags"] = ["grading-error"]
        tests.append(test)
        if printed is not None:
            tests.append(printed)
    summary = (f"{result.assignment_id}: {_points(result.score)} / {_points(result.max_score)} "
               f"(seed {result.seed})")
    if result.errors:
        summary = _incomplete(result) + "\n" + summary
    return {
        "score": result.score,
        "max_score": result.max_score,
        "execution_time": round(result.seconds, 1),
        "output": summary,
        "tests": tests,
        "extra_data": {"seed": result.seed, "assignment": result.assignment_id,
                       "mode": result.mode, "complete": not result.errors,
                       "grading_errors": [p.function for p in result.errors]},
    }


def to_json(result: Result, *, headline: str = "", hidden_visibility: str = "visible",
            **extra_data: Any) -> str:
    """:func:`gradescope` as the text of a ``results.json`` file (the one serializer of the
    results: ``grader submit --json`` and ``grader grade``'s per-submission files).
    ``headline`` (if any) is the first line of the submission's ``output``; ``extra_data``
    keys are added to the file's ``extra_data`` (``grader grade`` adds the student id, the
    submission's path, its batch status and its note)."""
    data = gradescope(result, hidden_visibility=hidden_visibility)
    if headline:
        data["output"] = headline + "\n" + data["output"]
    data["extra_data"].update(extra_data)
    return json.dumps(_valid(data), indent=2) + "\n"


def _valid(value: Any) -> Any:
    """Every string valid UTF-8 (a lone surrogate would make the file invalid JSON for strict
    readers such as jq), in keys and values alike."""
    from grader.notebook import valid_text

    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        return {_valid(k): _valid(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_valid(v) for v in value]
    return value


def write_json(result: Result, path: str | Path) -> None:
    Path(path).write_text(to_json(result), encoding="utf-8")


def unscored(assignment: Assignment, *, file: str, seed: int | None, reason: str,
             withheld: bool) -> Result:
    """A :class:`Result` for a submission that has none, so it can be reported the same way.

    Every part carries ``reason`` as its feedback. ``withheld=False``: the submission itself
    is why it was not graded (no file, several files, a symbolic link): every part scores 0,
    as Gradescope's autograder does for an upload it cannot grade. ``withheld=True``: the
    grader is why (a grading error before any part ran): every part is a grading error, its
    points withheld, not zero (see :func:`gradescope`).
    """
    parts = [PartResult(p.function, p.description, float(p.points), 0.0, reason,
                        status=ERROR if withheld else GRADED)
             for p in assignment.parts]
    return Result(assignment.id, assignment.title, file, seed, "submit", parts)

"""Presenting a :class:`grader.engine.Result`: a rich table, a total line, Gradescope JSON.

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

from grader.engine import ERROR, Result

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
            f"This ran the visible cases only. `grader submit {result.assignment_id}` also runs "
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


def gradescope(result: Result) -> dict:
    """Gradescope's ``results.json``: one test per part, named after its graded function.

    The format (gradescope-autograders.readthedocs.io, "Autograder Specifications") takes a
    top-level ``score`` or a ``score`` on every test. We always give the top-level ``score``
    (the points of the graded parts), so a part with a grading error can be a test *without*
    a ``score``: it is ``"status": "failed"`` with its ``max_score``, its output says the
    grader failed and the points are withheld, and it is tagged ``grading-error``. The
    submission's ``output`` starts with the same warning, and ``extra_data`` carries
    ``"complete": false`` and the failed parts, so a course can find and regrade them.
    """
    tests = []
    for p in result.parts:
        output = p.feedback
        if p.output.strip():
            output += "\n\nYour code printed:\n" + p.output
        test = {
            "name": p.function,
            "score": p.score,
            "max_score": p.points,
            "status": "passed" if p.passed else "failed",
            "output": output,
            "visibility": "visible",
        }
        if p.status == ERROR:
            del test["score"]
            test["tags"] = ["grading-error"]
        tests.append(test)
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


def write_json(result: Result, path: str | Path) -> None:
    Path(path).write_text(json.dumps(gradescope(result), indent=2) + "\n", encoding="utf-8")

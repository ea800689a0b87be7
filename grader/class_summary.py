"""The class summary of a ``grader grade`` batch: which parts a class passes, which mistakes it
makes, how its scores spread.

:func:`summarize` digests the batch's rows (:class:`grader.batch.Row`) into a
:class:`ClassSummary`; :func:`render` prints it as a table; :func:`write_html` writes it as a
small HTML page with the score histogram as a PNG beside it (drawn with matplotlib; without
matplotlib the page is written without the image and says so, as does the printed summary).

Per part:

- **pass rate**: parts passed over parts graded. A part is graded when its submission has a
  verdict for it: every part of a ``graded`` row, and the parts a ``grading error`` row did
  grade. Rows not graded at all (no file, several files, a symbolic link, interrupted) are
  counted in the header, never in a rate.
- **named mistakes**: the known mistakes the grader diagnosed, most frequent first. A failed
  part names one only through :attr:`grader.engine.PartResult.mistake`, which the engine sets
  when it diagnosed the mistake itself: a wrong result matching a ``Case.mistakes`` entry,
  or the "likely cause" it appended to an exception (``Case.error_hint``) or a timeout
  (``Part.timeout_hint``); see ``grader.engine._Diagnosed``. The name is that message,
  exactly as the student read it: "the weights are scaled by sqrt(1 / n_{l-1}) (Xavier); He
  uses sqrt(2 / n_{l-1})." The feedback text is never searched for it: it quotes what the
  student's code raised or printed, so a submission could otherwise name any mistake. A
  report stored before the field existed (a ``results.json`` whose tests have no
  ``extra_data["mistake"]``, read back by :func:`grader.serve.client.result_from_json`)
  names no mistake: its failed parts count under their kind below.
- **other failures**: failed parts that name no known mistake, by kind ("not implemented",
  "timed out", "wrong result (no known mistake)", ...), most frequent first. The kind is
  read from the engine's feedback wording (:func:`failure_kind`; a fixed list, so the
  summary shows only those words); text it does not recognise is "other".

The score histogram counts the totals of ``graded`` rows (a grading error's total is
withheld, so it is not plotted); its bins are :func:`bin_edges`.

Nothing in the summary is student-controlled text (names come from the course, kinds are
fixed strings; student ids are not shown), and the HTML escapes everything anyway.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from grader import atomic_file

# How a failure with no named mistake reads, checked in this order against the feedback
# (the wording of grader.engine and grader.runner). The first match names its kind.
_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("grading error", ("Grading error:",)),
    ("not implemented", ("Not implemented yet",)),
    ("forbidden import", ("which this assignment does not allow",)),
    ("function missing", ("does not define",)),
    ("file does not load", ("Your file ",)),
    ("timed out", ("did not finish within", "time budget", "s of CPU time")),
    ("crashed or killed", ("ran out of memory", "was killed", "crashed with",
                           "ended the worker process", "printed more than",
                           "closed its connection")),
    ("fails under jax.jit", ("under jax.jit",)),
    ("randomness not from the key", ("with the same key", "for two different keys")),
    ("wrong result (no known mistake)", ("Wrong result on",)),
    ("raised an exception", (" raised ",)),
)
_ONE_POINT_BINS_UP_TO = 30
_TEN_BINS = 10
_BAR_WIDTH = 30


@dataclass
class PartSummary:
    """One part across the class (see the module docstring)."""

    function: str
    points: float
    graded: int = 0
    passed: int = 0
    mistakes: list[tuple[str, int]] = field(default_factory=list)  # most frequent first
    other: list[tuple[str, int]] = field(default_factory=list)     # most frequent first

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.graded if self.graded else None


@dataclass
class ClassSummary:
    assignment_id: str
    title: str
    seed: int | None
    max_score: float
    submissions: int
    statuses: dict[str, int]          # batch status -> number of rows, in first-seen order
    scores: list[float]               # totals of the ``graded`` rows
    parts: list[PartSummary]
    html: Path | None = None          # set by write_html
    png: Path | None = None           # set by write_html (None: no image)
    png_note: str = ""                # why there is no image, when there is none

    @property
    def graded(self) -> int:
        return len(self.scores)

    def histogram(self) -> list[tuple[str, int]]:
        """``(label, count)`` per bin of :func:`bin_edges`, lowest first."""
        edges = bin_edges(self.max_score)
        counts = [0] * (len(edges) - 1)
        for s in self.scores:
            i = 0
            while i < len(counts) - 1 and s >= edges[i + 1]:
                i += 1
            counts[i] += 1
        return [(_bin_label(edges, i), c) for i, c in enumerate(counts)]


def bin_edges(max_score: float) -> list[float]:
    """Histogram bin edges: one bin per point (``k <= score < k + 1``, labelled ``k``, the last
    one holding full marks) when the maximum is a whole number of at most 30 points, else ten
    equal bins (``low <= score < high``, the last one closed)."""
    top = max(float(max_score), 1.0)
    if top <= _ONE_POINT_BINS_UP_TO and top.is_integer():
        return [float(k) for k in range(int(top) + 2)]
    return [top * k / _TEN_BINS for k in range(_TEN_BINS + 1)]


def _bin_label(edges: list[float], i: int) -> str:
    low, high = edges[i], edges[i + 1]
    if high - low == 1 and low.is_integer():
        return _pts(low)
    return f"{low:.3g}-{high:.3g}"


# -- what a failure names ---------------------------------------------------------------


def failure_kind(feedback: str) -> str:
    """What kind of failure ``feedback`` describes when it names no known mistake."""
    for kind, needles in _KINDS:
        if any(n in feedback for n in needles):
            return kind
    if feedback.startswith("On "):  # a check of the result failed (e.g. held-out accuracy)
        return "failed a check"
    return "other"


# -- the summary --------------------------------------------------------------------------


def summarize(assignment, rows: Iterable, *, seed: int | None = None) -> ClassSummary:
    """The :class:`ClassSummary` of a batch's rows (objects with ``status`` and ``result``:
    :class:`grader.batch.Row`; ``result`` a :class:`grader.engine.Result` or ``None``).

    A failed part names the mistake in its ``PartResult.mistake`` (empty: none, e.g. a
    report stored before that field existed), never one found in its feedback."""
    from grader.engine import GRADED as PART_GRADED

    rows = list(rows)
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    parts = {p.function: PartSummary(p.function, float(p.points)) for p in assignment.parts}
    mistakes = {f: Counter() for f in parts}
    other = {f: Counter() for f in parts}
    scores = []
    for r in rows:
        if r.result is None:
            continue
        if r.status == "graded":
            scores.append(float(r.result.score))
        if r.status not in ("graded", "grading error"):
            continue
        for p in r.result.parts:
            s = parts.get(p.function)
            if s is None or getattr(p, "status", PART_GRADED) != PART_GRADED:
                continue
            s.graded += 1
            if p.passed:
                s.passed += 1
                continue
            if p.mistake:
                mistakes[p.function][p.mistake] += 1
            else:
                other[p.function][failure_kind(p.feedback)] += 1
    for f, s in parts.items():
        s.mistakes = _most_common(mistakes[f])
        s.other = _most_common(other[f])
    return ClassSummary(assignment.id, assignment.title, seed, float(assignment.max_score),
                        len(rows), statuses, scores, list(parts.values()))


def _most_common(counter: Counter) -> list[tuple[str, int]]:
    """Most frequent first; ties in alphabetical order (the same batch, the same summary)."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def _pts(x: float) -> str:
    return f"{x:g}"


def _rate(s: PartSummary) -> str:
    if not s.graded:
        return "-"
    return f"{s.passed}/{s.graded} ({100 * s.passed / s.graded:.0f}%)"


def _header(summary: ClassSummary) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in summary.statuses.items())
    seed = "" if summary.seed is None else f", seed {summary.seed}"
    return (f"Class summary: {summary.assignment_id} - {summary.submissions} submission"
            f"{'s' if summary.submissions != 1 else ''} ({counts or 'none'}{seed})")


def _score_line(summary: ClassSummary) -> str:
    if not summary.scores:
        return "No graded submission: no score distribution."
    xs = sorted(summary.scores)
    n = len(xs)
    mean = sum(xs) / n
    median = xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2
    full = sum(1 for x in xs if x >= summary.max_score)
    return (f"Scores of the {n} graded submission{'s' if n != 1 else ''} (out of "
            f"{_pts(summary.max_score)}): mean {mean:.3g}, median {_pts(median)}, "
            f"min {_pts(xs[0])}, max {_pts(xs[-1])}, full marks {full}")


def render(summary: ClassSummary, console: Console) -> None:
    """Print the summary: a table of parts, then the score histogram as bars."""
    console.print(Text(_header(summary), style="bold"))
    table = Table(show_lines=True, expand=False)
    table.add_column("Part", no_wrap=True)
    table.add_column("Passed", justify="right", no_wrap=True)
    table.add_column("Named mistakes (most frequent first)", overflow="fold")
    table.add_column("Other failures", overflow="fold")
    for s in summary.parts:
        rate = s.pass_rate
        style = "" if rate is None else "green" if rate >= 0.8 else "yellow" if rate >= 0.5 else "red"
        table.add_row(Text(f"{s.function}() ({_pts(s.points)})"), Text(_rate(s), style=style),
                      Text("\n".join(f"{n} x {m}" for m, n in s.mistakes) or "-"),
                      Text("\n".join(f"{n} x {k}" for k, n in s.other) or "-"))
    console.print(table)
    console.print(Text(_score_line(summary)))
    if summary.scores:
        hist = summary.histogram()
        top = max(c for _, c in hist) or 1
        pad = max(len(label) for label, _ in hist)
        for label, c in hist:
            bar = "#" * math.ceil(_BAR_WIDTH * c / top) if c else ""
            console.print(Text(f"  {label.rjust(pad)} | {bar} {c or ''}".rstrip()))
    if summary.html is not None:
        image = (f" and {summary.png.name}" if summary.png is not None
                 else f" (no histogram image: {summary.png_note})")
        console.print(Text(f"Summary page: {summary.html}{image}", style="dim"))


# -- the HTML page and its PNG ------------------------------------------------------------


def write_html(summary: ClassSummary, html_path: str | Path, png_path: str | Path) -> ClassSummary:
    """Write the page to ``html_path`` and the histogram to ``png_path`` (both replaced
    atomically); without matplotlib (or if drawing fails) the page has no image, says why,
    and a ``png_path`` left by an earlier run is removed. Sets ``summary.html``/``png``/
    ``png_note`` and returns ``summary``."""
    html_path, png_path = Path(html_path), Path(png_path)
    summary.png, summary.png_note = None, ""
    try:
        _draw_histogram(summary, png_path)
        summary.png = png_path
    except ImportError:
        summary.png_note = "matplotlib is not installed (pip install matplotlib)"
    except Exception as exc:  # noqa: BLE001 - a missing picture never loses the summary
        summary.png_note = f"the histogram could not be drawn ({type(exc).__name__}: {exc})"
    if summary.png is None:
        try:
            png_path.unlink()
        except OSError:
            pass
    atomic_file.write_bytes(html_path, _page(summary).encode("utf-8"))
    summary.html = html_path
    return summary


def _draw_histogram(summary: ClassSummary, png_path: Path) -> None:
    # The object-oriented API without pyplot: no global backend or figure state is touched.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    edges = bin_edges(summary.max_score)
    counts = [c for _, c in summary.histogram()]
    widths = [edges[i + 1] - edges[i] for i in range(len(counts))]
    if all(w == 1 for w in widths) and summary.max_score <= _ONE_POINT_BINS_UP_TO:
        # one bar per whole score, centred on it: 0, 1, ..., max_score
        ax.bar(edges[:-1], counts, width=0.9, align="center", color="#3b6ea8")
        ax.set_xticks(edges[:-1])
        ax.set_xlim(-0.5, edges[-2] + 0.5)
    else:
        ax.bar(edges[:-1], counts, width=widths, align="edge", edgecolor="white",
               color="#3b6ea8")
        ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel(f"score (out of {_pts(summary.max_score)})")
    ax.set_ylabel("submissions")
    ax.set_title(f"{summary.assignment_id}: {summary.graded} graded submission"
                 f"{'s' if summary.graded != 1 else ''}")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    with atomic_file.replacing(png_path) as tmp:
        fig.savefig(tmp, format="png")


def _page(summary: ClassSummary) -> str:
    e = html.escape
    rows = []
    for s in summary.parts:
        mistakes = "".join(f"<li>{n} &times; {e(m)}</li>" for m, n in s.mistakes)
        other = "".join(f"<li>{n} &times; {e(k)}</li>" for k, n in s.other)
        rows.append(
            f"<tr><td><code>{e(s.function)}()</code> ({e(_pts(s.points))})</td>"
            f"<td class=num>{e(_rate(s))}</td>"
            f"<td>{'<ul>' + mistakes + '</ul>' if mistakes else '-'}</td>"
            f"<td>{'<ul>' + other + '</ul>' if other else '-'}</td></tr>")
    hist_rows = "".join(f"<tr><td>{e(label)}</td><td class=num>{c}</td></tr>"
                        for label, c in summary.histogram()) if summary.scores else ""
    if summary.png is not None:
        image = (f'<p><img src="{e(summary.png.name)}" alt="histogram of the scores of the '
                 f'graded submissions"></p>')
    else:
        image = f"<p class=note>No histogram image: {e(summary.png_note)}.</p>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{e(summary.assignment_id)}: class summary</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 60em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 0.3em 0.6em; vertical-align: top; text-align: left; }}
td.num {{ text-align: right; white-space: nowrap; }}
ul {{ margin: 0; padding-left: 1.2em; }}
.note {{ color: #a33; }}
</style>
</head>
<body>
<h1>{e(summary.assignment_id)} - {e(summary.title)}</h1>
<p>{e(_header(summary))}</p>
<h2>Parts</h2>
<table>
<tr><th>Part (points)</th><th>Passed</th><th>Named mistakes (most frequent first)</th><th>Other failures</th></tr>
{chr(10).join(rows)}
</table>
<h2>Scores</h2>
<p>{e(_score_line(summary))}</p>
{image}
{'<table><tr><th>score</th><th>submissions</th></tr>' + hist_rows + '</table>' if hist_rows else ''}
</body>
</html>
"""



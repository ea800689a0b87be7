"""The class summary (grader.class_summary): named mistakes, failure kinds, pass rates, the
histogram, and the page without matplotlib. Rows are built by hand here (no grading);
tests/grader/test_batch.py checks it on a really graded class."""

from __future__ import annotations

import sys

import pytest
from rich.console import Console

from grader import class_summary
from grader.batch import GRADED, GRADING_ERROR, NO_FILE, Row
from grader.engine import ERROR, PartResult, Result

XAVIER = "the weights are scaled by sqrt(1 / n_{l-1}) (Xavier); He uses sqrt(2 / n_{l-1})."
LOOP = "a Python loop over the examples is too slow: vectorize it."


def _row(selftest, status, feedback: dict, scores: dict | None = None, errors=()):
    parts = []
    for p in selftest.parts:
        text = feedback.get(p.function, "Passed all 4 cases (1 visible, 3 hidden).")
        score = (scores or {}).get(p.function, float(p.points) if p.function not in feedback else 0.0)
        parts.append(PartResult(p.function, p.description, float(p.points), score, text,
                                status=ERROR if p.function in errors else "graded"))
    result = Result(selftest.id, selftest.title, "x.py", 3, "submit", parts)
    return Row(None, result, status, "", "x", "x.py")


def test_mistakes_and_kinds_are_counted_most_frequent_first(selftest):
    wrong = f"Wrong result on visible case 1 (relu of a (3, 4) float32 array): {XAVIER}"
    timeout = ("Your code did not finish within 10 s (the time limit) while running relu() on "
               f"hidden case 2: it was stopped. Likely cause: {LOOP}")
    rows = [
        _row(selftest, GRADED, {"relu": wrong}),
        _row(selftest, GRADED, {"relu": wrong, "sigmoid": "Not implemented yet (sigmoid() "
                                                         "raises NotImplementedError)."}),
        _row(selftest, GRADED, {"relu": timeout, "sigmoid": "Your code did not finish within "
                                "10 s (the time limit) while running sigmoid() on visible case 1"}),
        _row(selftest, GRADED, {"relu": "Wrong result on visible case 1 (relu): values differ "
                                "at 3 of 12 positions."}),
        _row(selftest, GRADING_ERROR, {"sigmoid": "Grading error: the grader itself failed."},
             errors=("sigmoid",)),  # not a verdict: out of the rates; its other parts count
        Row(None, None, NO_FILE, "no submission in eve/", "eve", "eve/"),
    ]
    known = {"relu": [XAVIER, "sqrt(1 / n_{l-1})", LOOP]}  # the longest message contained wins
    s = class_summary.summarize(selftest, rows, seed=3, known=known)
    relu = {p.function: p for p in s.parts}["relu"]
    sigmoid = {p.function: p for p in s.parts}["sigmoid"]
    assert (relu.passed, relu.graded) == (1, 5)
    assert relu.mistakes == [(XAVIER, 2), (LOOP, 1)]
    assert relu.other == [("wrong result (no known mistake)", 1)]
    assert (sigmoid.passed, sigmoid.graded) == (2, 4)
    assert sigmoid.other == [("not implemented", 1), ("timed out", 1)]
    assert s.statuses == {GRADED: 4, GRADING_ERROR: 1, NO_FILE: 1}
    assert s.graded == 4  # the grading error's total is withheld: not in the histogram
    # without the cases' messages, "Likely cause:" still names the timeout's mistake
    relu = class_summary.summarize(selftest, rows).parts[0]
    assert (LOOP, 1) in relu.mistakes
    out = Console(width=200, record=True)
    class_summary.render(s, out)
    text = out.export_text()
    assert f"2 x {XAVIER}" in text and "1/5 (20%)" in text and "1 x not implemented" in text


def test_histogram_bins(selftest):
    s = class_summary.summarize(selftest, [
        _row(selftest, GRADED, {}), _row(selftest, GRADED, {"relu": "x"}),
        _row(selftest, GRADED, {"relu": "x"}, scores={"sigmoid": 0.5})])
    assert sorted(s.scores) == [5.5, 6.0, 7.0]
    assert [(label, n) for label, n in s.histogram() if n] == [("5", 1), ("6", 1), ("7", 1)]
    assert [label for label, _ in s.histogram()] == [str(k) for k in range(8)]
    assert class_summary.bin_edges(100) == [10.0 * k for k in range(11)]  # ten bins past 30


def test_page_without_matplotlib(tmp_path, monkeypatch, selftest):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends",
                 "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails: as if not installed
    page, png = tmp_path / "s.html", tmp_path / "s.png"
    png.write_bytes(b"an image from an earlier run")
    s = class_summary.summarize(selftest, [_row(selftest, GRADED, {"relu": "x"})])
    class_summary.write_html(s, page, png)
    assert s.png is None and not png.exists()
    text = page.read_text()
    assert "No histogram image: matplotlib is not installed" in text and "<img" not in text
    out = Console(width=200, record=True)
    class_summary.render(s, out)
    assert "no histogram image: matplotlib is not installed" in out.export_text()


def test_page_with_matplotlib(tmp_path, selftest):
    pytest.importorskip("matplotlib")
    s = class_summary.summarize(selftest, [_row(selftest, GRADED, {"relu": f"Wrong: {XAVIER}"})],
                                known={"relu": [XAVIER]})
    class_summary.write_html(s, tmp_path / "s.html", tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "sqrt(1 / n_{l-1}) (Xavier)" in (tmp_path / "s.html").read_text()

"""The class summary (grader.class_summary): named mistakes, failure kinds, pass rates, the
histogram, and the page without matplotlib. Rows are mostly built by hand here; one test
grades a small assignment for real to see which failures the engine itself names as a
mistake, and tests/grader/test_batch.py checks the summary on a really graded class."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from rich.console import Console

from grader import class_summary, engine, report
from grader.batch import GRADED, GRADING_ERROR, NO_FILE, Row
from grader.engine import ERROR, PartResult, Result
from grader.serve.client import result_from_json
from grader.spec import Assignment, Case, Part

XAVIER = "the weights are scaled by sqrt(1 / n_{l-1}) (Xavier); He uses sqrt(2 / n_{l-1})."
LOOP = "a Python loop over the examples is too slow: vectorize it."


def _row(selftest, status, feedback: dict, scores: dict | None = None, errors=(),
         mistakes: dict | None = None):
    """A batch row of ``selftest``: ``feedback`` (function -> text) fails those parts,
    ``mistakes`` (function -> message) is what the engine diagnosed on them."""
    parts = []
    for p in selftest.parts:
        text = feedback.get(p.function, "Passed all 4 cases (1 visible, 3 hidden).")
        score = (scores or {}).get(p.function, float(p.points) if p.function not in feedback else 0.0)
        parts.append(PartResult(p.function, p.description, float(p.points), score, text,
                                status=ERROR if p.function in errors else "graded",
                                mistake=(mistakes or {}).get(p.function, "")))
    result = Result(selftest.id, selftest.title, "x.py", 3, "submit", parts)
    return Row(None, result, status, "", "x", "x.py")


def test_mistakes_and_kinds_are_counted_most_frequent_first(selftest):
    wrong = f"Wrong result on visible case 1 (relu of a (3, 4) float32 array): {XAVIER}"
    timeout = ("Your code did not finish within 10 s (the time limit) while running relu() on "
               f"hidden case 2: it was stopped. Likely cause: {LOOP}")
    rows = [
        _row(selftest, GRADED, {"relu": wrong}, mistakes={"relu": XAVIER}),
        _row(selftest, GRADED, {"relu": wrong, "sigmoid": "Not implemented yet (sigmoid() "
                                                         "raises NotImplementedError)."},
             mistakes={"relu": XAVIER}),
        _row(selftest, GRADED, {"relu": timeout, "sigmoid": "Your code did not finish within "
                                "10 s (the time limit) while running sigmoid() on visible case 1"},
             mistakes={"relu": LOOP}),
        _row(selftest, GRADED, {"relu": "Wrong result on visible case 1 (relu): values differ "
                                "at 3 of 12 positions."}),
        _row(selftest, GRADING_ERROR, {"sigmoid": "Grading error: the grader itself failed."},
             errors=("sigmoid",)),  # not a verdict: out of the rates; its other parts count
        Row(None, None, NO_FILE, "no submission in eve/", "eve", "eve/"),
    ]
    s = class_summary.summarize(selftest, rows, seed=3)
    relu = {p.function: p for p in s.parts}["relu"]
    sigmoid = {p.function: p for p in s.parts}["sigmoid"]
    assert (relu.passed, relu.graded) == (1, 5)
    assert relu.mistakes == [(XAVIER, 2), (LOOP, 1)]
    assert relu.other == [("wrong result (no known mistake)", 1)]
    assert (sigmoid.passed, sigmoid.graded) == (2, 4)
    assert sigmoid.other == [("not implemented", 1), ("timed out", 1)]
    assert s.statuses == {GRADED: 4, GRADING_ERROR: 1, NO_FILE: 1}
    assert s.graded == 4  # the grading error's total is withheld: not in the histogram
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
    s = class_summary.summarize(selftest, [_row(selftest, GRADED, {"relu": f"Wrong: {XAVIER}"},
                                                mistakes={"relu": XAVIER})])
    class_summary.write_html(s, tmp_path / "s.html", tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "sqrt(1 / n_{l-1}) (Xavier)" in (tmp_path / "s.html").read_text()


def test_feedback_that_quotes_a_mistake_names_none(selftest):
    """A student's exception message (or printed text) quoting a mistake's message lands in
    the feedback; only the engine's diagnosis (``PartResult.mistake``) names a mistake."""
    quoted = (f"relu() raised ValueError on visible case 1 (relu of a (3, 4) float32 array): "
              f"{XAVIER} Likely cause: {LOOP}")
    s = class_summary.summarize(selftest, [_row(selftest, GRADED, {"relu": quoted})])
    relu = s.parts[0]
    assert relu.mistakes == [] and relu.other == [("raised an exception", 1)]


# -- which failures the engine names, through the results.json and back ----------------------

MASK = "it returns the mask (z > 0) instead of max(z, 0)."
CAST = "it returns float64: cast the result to the input's dtype."
SLOW = "a Python loop over the examples: vectorize it."
_Z = np.array([-1.0, 0.5, 2.0], np.float32)

SUBMISSION = f'''
import time


def wrong(z):
    return (z > 0).astype(z.dtype)        # the known mistake


def quoting(z):
    print({MASK!r})
    raise ValueError({MASK + " Likely cause: " + SLOW!r})   # no hint on this case


def hinted(z):
    raise TypeError("float64")            # the case's error_hint names the mistake


def slow(z):
    time.sleep(30)                        # the part's timeout_hint names the mistake
'''


def _case(**kw) -> Case:
    return Case(args=(_Z,), expected=np.maximum(_Z, 0), label="a (3,) array",
                mistakes=((MASK, (_Z > 0).astype(np.float32)),), **kw)


DIAGNOSED = Assignment(
    id="test/diagnosed", title="named mistakes", handout=False,
    parts=(Part("wrong", 1, "a known wrong result", lambda: [_case()]),
           Part("quoting", 1, "raises the mistake's message", lambda: [_case()],
                timeout_hint=SLOW),
           Part("hinted", 1, "raises where the case has a hint",
                lambda: [_case(error_hint=CAST)]),
           Part("slow", 1, "times out", lambda: [_case()], limits={"time_per_call": 2.0},
                timeout_hint=SLOW)))


def test_the_engine_names_what_it_diagnosed_and_the_json_carries_it(tmp_path):
    path = tmp_path / "sub.py"
    path.write_text(SUBMISSION)
    result = engine.grade(DIAGNOSED, path, seed=0)
    by = {p.function: p for p in result.parts}
    assert [p.score for p in result.parts] == [0, 0, 0, 0], [p.feedback for p in result.parts]
    assert by["wrong"].mistake == MASK and by["wrong"].feedback.endswith(MASK)
    assert by["quoting"].mistake == "" and MASK in by["quoting"].feedback  # the student's text
    assert by["hinted"].mistake == CAST and by["hinted"].feedback.endswith(f"Likely cause: {CAST}")
    assert by["slow"].mistake == SLOW and by["slow"].feedback.endswith(f"Likely cause: {SLOW}")

    data = json.loads(report.to_json(result))
    assert [t["extra_data"] for t in data["tests"]] == [
        {"mistake": m} for m in (MASK, "", CAST, SLOW)]
    summary = class_summary.summarize(DIAGNOSED, [Row(None, result_from_json(data), GRADED,
                                                      "", "x", "x.py")])
    assert {p.function: p.mistakes for p in summary.parts} == {
        "wrong": [(MASK, 1)], "quoting": [], "hinted": [(CAST, 1)], "slow": [(SLOW, 1)]}
    assert summary.parts[1].other == [("raised an exception", 1)]

    # a results.json stored before the field existed names no mistake: its failure kinds
    for t in data["tests"]:
        del t["extra_data"]
    old = class_summary.summarize(DIAGNOSED, [Row(None, result_from_json(data), GRADED,
                                                  "", "x", "x.py")])
    assert all(p.mistakes == [] for p in old.parts)
    assert [p.other for p in old.parts] == [
        [("wrong result (no known mistake)", 1)], [("raised an exception", 1)],
        [("raised an exception", 1)], [("timed out", 1)]]

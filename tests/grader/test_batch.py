"""`grader grade`: a folder graded in parallel; a hostile submission affects only itself."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from grader import cli

from .conftest import build_source


def test_grade_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JAXDL_GRADER_CACHE", "off")
    folder = tmp_path / "subs"
    (folder / "bob").mkdir(parents=True)
    (folder / "alice.py").write_text(build_source())
    (folder / "bob" / "work.py").write_text(build_source("os_exit", "segfault", "output_flood"))
    (folder / "carol.py").write_text(build_source("reads_classmate", CLASSMATE=folder / "alice.py"))
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "old.py").write_text("junk")
    out = tmp_path / "grades.csv"
    rc = cli.main(["grade", "selftest/basics", str(folder), "--out", str(out), "--jobs", "2",
                   "--seed", "5"])
    assert rc == 0
    assert "Graded 3 of 3 submissions" in " ".join(capsys.readouterr().out.split())
    with out.open() as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"alice.py", "bob/work.py", "carol.py"}
    assert rows["alice.py"]["score"] == "7" and rows["alice.py"]["max_score"] == "7"
    bob = rows["bob/work.py"]
    assert (bob["relu_backward"], bob["sigmoid"], bob["sample_normal"]) == ("0", "0", "0")
    assert bob["score"] == "4"
    carol = rows["carol.py"]
    assert carol["relu"] == "0" and carol["score"] == "6"
    assert all(r["seed"] == "5" for r in rows.values())


# -- rows, statuses and the CSV, with a stand-in for the engine (no workers: fast) ---------

class _FakeGrader:
    """Stands in for engine.Grader: ``behaviour[file name]`` says what grading it does."""

    behaviour: dict = {}
    prepare_error: Exception | None = None

    def __init__(self, assignment, *, seed=None, **kwargs):
        self.assignment, self.seed = assignment, 77 if seed is None else seed

    def materialize(self):
        if self.prepare_error is not None:
            raise self.prepare_error

    def cases(self):
        return []

    def grade(self, path, *, display_name=None, on_part=None, cache_owner=None):
        from grader.engine import PartResult, Result

        what = self.behaviour.get(path.name, "ok")
        if isinstance(what, BaseException):
            raise what
        parts = [PartResult(p.function, p.description, float(p.points), float(p.points), "ok")
                 for p in self.assignment.parts]
        if what == "part error":  # the engine's own grading error on the first part
            parts[0].score, parts[0].status = 0.0, "error"
            parts[0].feedback = "Grading error: the grader itself failed (ImportError: sklearn)."
        return Result(self.assignment.id, self.assignment.title, display_name, self.seed,
                      "submit", parts)


def _folder(tmp_path, *names):
    folder = tmp_path / "subs"
    folder.mkdir()
    for name in names:
        (folder / name).write_text("# a submission\n")
    return folder


def _rows(path):
    with open(path, newline="") as f:
        return {r["submission"]: r for r in csv.DictReader(f)}


def test_any_exception_is_that_submissions_grading_error(tmp_path, monkeypatch, selftest):
    from grader import batch
    from grader.engine import GraderError

    monkeypatch.setattr(_FakeGrader, "behaviour", {
        "b.py": RuntimeError("a bug in the grader"),
        "c.py": GraderError("the worker could not start"),
    })
    monkeypatch.setattr(batch, "Grader", _FakeGrader)
    folder = _folder(tmp_path, "a.py", "b.py", "c.py", "d.py")
    out = tmp_path / "grades.csv"
    rows = batch.grade_folder(selftest, folder, out, jobs=2, seed=9)
    assert [(r.path.name, r.status) for r in rows] == [
        ("a.py", "graded"), ("b.py", "grading error"), ("c.py", "grading error"), ("d.py", "graded")]
    csv_rows = _rows(out)
    with out.open(newline="") as f:
        assert next(csv.reader(f)) == batch.csv_fields(selftest)
    assert csv_rows["a.py"]["status"] == "graded" and csv_rows["a.py"]["score"] == "7"
    b, c = csv_rows["b.py"], csv_rows["c.py"]
    assert b["score"] == "" and b["relu"] == "" and b["max_score"] == "7"  # withheld, not a zero
    assert "RuntimeError: a bug in the grader" in b["note"] and "not of the submission" in b["note"]
    assert "the worker could not start" in c["note"]
    assert all(r["seed"] == "9" for r in csv_rows.values())


def test_engine_grading_error_withholds_the_total(tmp_path, monkeypatch, selftest):
    from grader import batch
    from grader.engine import PartResult

    if "status" not in PartResult.__dataclass_fields__:
        pytest.skip("this engine reports no per-part grading errors")
    monkeypatch.setattr(_FakeGrader, "behaviour", {"e.py": "part error"})
    monkeypatch.setattr(batch, "Grader", _FakeGrader)
    folder = _folder(tmp_path, "e.py")
    rows = batch.grade_folder(selftest, folder, tmp_path / "g.csv", seed=1)
    assert rows[0].status == "grading error"
    row = _rows(tmp_path / "g.csv")["e.py"]
    assert (row["status"], row["score"], row["relu"], row["sigmoid"]) == ("grading error", "", "", "1")
    assert "relu: Grading error: the grader itself failed (ImportError: sklearn)" in row["note"]


def test_failed_preparation_still_writes_every_row(tmp_path, monkeypatch, selftest):
    from grader import batch

    monkeypatch.setattr(_FakeGrader, "prepare_error", ImportError("No module named 'sklearn'"))
    monkeypatch.setattr(batch, "Grader", _FakeGrader)
    folder = _folder(tmp_path, "a.py", "b.py")
    out = tmp_path / "grades.csv"
    with pytest.raises(ImportError):
        batch.grade_folder(selftest, folder, out, seed=9)
    rows = _rows(out)
    assert set(rows) == {"a.py", "b.py"}
    assert all(r["status"] == "grading error" and r["score"] == "" for r in rows.values())
    assert all("could not prepare the cases (ImportError" in r["note"] for r in rows.values())


def test_cli_grade_exit_1_when_preparation_fails(tmp_path, monkeypatch, capsys, selftest):
    from grader import batch

    monkeypatch.setenv("JAXDL_GRADER_CACHE", "off")
    monkeypatch.setattr(_FakeGrader, "prepare_error", ValueError("expected values failed"))
    monkeypatch.setattr(batch, "Grader", _FakeGrader)
    folder = _folder(tmp_path, "a.py")
    out = tmp_path / "grades.csv"
    assert cli.main(["grade", "selftest/basics", str(folder), "--out", str(out)]) == 1
    assert "lists every submission as a grading error" in " ".join(capsys.readouterr().err.split())
    assert _rows(out)["a.py"]["status"] == "grading error"


def test_stopped_batch_marks_the_rest_interrupted(tmp_path, monkeypatch, selftest):
    from grader import batch

    monkeypatch.setattr(batch, "Grader", _FakeGrader)
    folder = _folder(tmp_path, "a.py", "b.py", "c.py")
    stop = batch.Stop()

    def on_done(row):  # the first submission done, then "a signal": nothing else starts
        stop.set()

    rows = batch.grade_folder(selftest, folder, tmp_path / "g.csv", jobs=1, seed=1,
                              on_done=on_done, stop=stop)
    assert [r.status for r in rows] == ["graded", "not graded (interrupted)",
                                        "not graded (interrupted)"]
    csv_rows = _rows(tmp_path / "g.csv")
    assert csv_rows["b.py"]["score"] == "" and "interrupted" in csv_rows["b.py"]["note"]


def test_csv_is_replaced_atomically(tmp_path, monkeypatch, selftest):
    from grader import batch

    monkeypatch.setattr(batch, "Grader", _FakeGrader)
    folder = _folder(tmp_path, "a.py")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "grades.csv"
    out.write_text("the previous grades\n")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(batch.os, "fsync", disk_full)
    with pytest.raises(OSError):
        batch.grade_folder(selftest, folder, out, seed=1)
    assert out.read_text() == "the previous grades\n"  # never half-written
    assert [p.name for p in out_dir.iterdir()] == ["grades.csv"]  # no temporary file left
    monkeypatch.undo()
    monkeypatch.setattr(batch, "Grader", _FakeGrader)
    batch.grade_folder(selftest, folder, out, seed=1)
    assert _rows(out)["a.py"]["status"] == "graded"
    # the CSV and its reports (grades_results/, the summary page and image); no temporary file
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "grades.csv", "grades_results", "grades_summary.html", "grades_summary.png"]


def _unwritable_folder(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):  # root ignores permissions: use a folder nobody may write
        folder = Path("/sys")
    from grader.batch import check_writable

    if check_writable(folder / "x.csv") is None:
        pytest.skip("no unwritable folder on this machine")
    return folder


@pytest.mark.parametrize("where", ["missing", "folder", "unwritable"])
def test_bad_out_is_a_usage_error_before_grading(tmp_path, monkeypatch, capsys, where):
    from grader import batch

    def must_not_run(*a, **k):
        raise AssertionError("grading started")

    monkeypatch.setattr(batch, "grade_folder", must_not_run)
    monkeypatch.setattr(batch, "Grader", must_not_run)
    folder = _folder(tmp_path, "a.py")
    out = {"missing": tmp_path / "nowhere" / "grades.csv", "folder": tmp_path,
           "unwritable": _unwritable_folder(tmp_path) / "grades.csv"}[where]
    assert cli.main(["grade", "selftest/basics", str(folder), "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"--out {out}" in err
    assert {"missing": "does not exist", "folder": "is a folder",
            "unwritable": "cannot write"}[where] in err
    # the same check for `grader submit --json OUT`
    from grader import engine

    monkeypatch.setattr(engine, "grade", must_not_run)
    sub = tmp_path / "sub.py"
    sub.write_text(build_source())
    assert cli.main(["submit", "selftest/basics", "--file", str(sub), "--json", str(out)]) == 2
    assert f"--json {out}" in " ".join(capsys.readouterr().err.split())


def test_symbolic_links_are_never_graded(selftest, tmp_path):
    """Red-team finding: a link in the submissions folder (from an unpacked archive) pointing
    at the reference solution was graded 7/7 as its target."""
    from grader import batch

    from .conftest import SOLUTION

    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "mallory.py").symlink_to(SOLUTION)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "eve.py").write_text(SOLUTION.read_text())
    (folder / "linked_folder").symlink_to(outside, target_is_directory=True)
    out = tmp_path / "g.csv"
    rows = batch.grade_folder(selftest, folder, out, jobs=1, seed=1)
    # a linked folder (one folder per student) is not walked: its row says so
    assert [(r.student, r.path.name) for r in rows] == [("linked_folder", "linked_folder"),
                                                         ("mallory", "mallory.py")]
    assert all(r.status == batch.NOT_A_FILE and r.result is None for r in rows)
    assert "symbolic link to a folder" in rows[0].note
    import csv

    for row in csv.DictReader(out.read_text().splitlines()):
        assert row["status"] == "not graded (not a file)" and row["score"] == ""
        assert all(row[p.function] in ("", "0") for p in selftest.parts)


# -- reports: the CSV's feedback columns, one results.json per submission, the class summary ---

_MISTAKES = {  # later defs replace the solution's: each breaks one part with a known mistake
    "relu_mask": "def relu(z):\n    return (z > 0).astype(jnp.float32)\n",
    "sigmoid_flipped": "def sigmoid(z):\n    return 1 / (1 + jnp.exp(z))\n",
    "standardize_rows": ("def standardize(X):\n    return (X - X.mean(axis=1, keepdims=True)) / "
                         "(X.std(axis=1, keepdims=True) + 1e-8)\n"),
}


def _with_mistakes(*names: str, hostile: tuple[str, ...] = ()) -> str:
    return build_source(*hostile) + "".join("\n\n" + _MISTAKES[n] for n in names)


def _message(part, index: int = 0) -> str:
    """The known mistake's message, read from the assignment's own cases (not the grader's)."""
    (case,) = part.visible()
    return case.mistakes[index][0]


def test_reports_name_the_mistakes(tmp_path, monkeypatch, capsys, selftest):
    """Real grading of a small class: the CSV's feedback columns, each student's results.json
    (the same as `grader submit --json`), and the class summary, recounted from those JSONs."""
    import json
    from collections import Counter

    from grader import class_summary

    monkeypatch.setenv("JAXDL_GRADER_CACHE", "off")
    monkeypatch.setenv("COLUMNS", "200")
    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "alice.py").write_text(build_source())
    (folder / "bob.py").write_text(_with_mistakes("relu_mask", "standardize_rows"))
    (folder / "carol").mkdir()  # one folder per student, a notebook in it
    cells = [{"cell_type": "markdown", "source": "# Carol's work"},
             {"cell_type": "code", "source": _with_mistakes("relu_mask", "sigmoid_flipped")}]
    (folder / "carol" / "hw.ipynb").write_text(json.dumps({"cells": cells, "nbformat": 4,
                                                           "nbformat_minor": 5}))
    (folder / "carol" / "notes.txt").write_text("not a submission")
    (folder / "dan.py").write_text(build_source("not_implemented"))
    (folder / "eve").mkdir()  # a folder with no submission in it
    (folder / "eve" / "notes.txt").write_text("I will submit tomorrow")
    (folder / "frank").mkdir()  # a folder with two
    (folder / "frank" / "a.py").write_text(build_source())
    (folder / "frank" / "b.py").write_text(build_source())
    (folder / "README.md").write_text("not a submission")
    seen = []
    render = class_summary.render
    monkeypatch.setattr(class_summary, "render", lambda s, c: (seen.append(s), render(s, c)))
    out = tmp_path / "grades.csv"
    assert cli.main(["grade", "selftest/basics", str(folder), "--out", str(out), "--jobs", "2",
                     "--seed", "5"]) == 0
    printed = capsys.readouterr().out
    parts = {p.function: p for p in selftest.parts}
    mask = _message(parts["relu"])
    assert "Graded 4 of 6 submissions" in " ".join(printed.split())
    assert f"2 x {mask}" in printed and "1 x not implemented" in printed

    # the CSV: one row per student, the parts' feedback names the mistake
    with out.open(newline="") as f:
        assert next(csv.reader(f)) == batch_fields(selftest)
    with out.open(newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"alice", "bob", "carol", "dan", "eve", "frank"}
    assert rows["carol"]["submission"] == "carol/hw.ipynb" and rows["carol"]["score"] == "5"
    assert rows["bob"]["relu feedback"].endswith(mask)
    assert rows["bob"]["standardize feedback"].endswith(_message(parts["standardize"]))
    assert rows["carol"]["sigmoid feedback"].endswith(_message(parts["sigmoid"]))
    assert rows["dan"]["sample_normal feedback"].startswith("Not implemented yet")
    assert rows["alice"]["relu feedback"].startswith("Passed") and rows["alice"]["score"] == "7"
    for who, status, needle in (("eve", "not graded (no file)", "no submission in eve/"),
                                ("frank", "not graded (several files)", "a.py, b.py")):
        assert rows[who]["status"] == status and rows[who]["score"] == ""
        assert needle in rows[who]["note"]

    # one results.json per student, what `grader submit --json` writes for the same file
    results = tmp_path / "grades_results"
    jsons = {p.stem: json.loads(p.read_text()) for p in results.iterdir()}
    assert set(jsons) == set(rows)
    single = tmp_path / "bob.json"
    assert cli.main(["submit", "selftest/basics", "--file", str(folder / "bob.py"), "--json",
                     str(single), "--seed", "5"]) == 0
    submitted = json.loads(single.read_text())
    for data in jsons.values():
        assert set(data) == set(submitted)
        assert [t["name"] for t in data["tests"]] == [t["name"] for t in submitted["tests"]]
        assert all(set(t) == set(submitted["tests"][0]) for t in data["tests"])
        assert set(data["extra_data"]) == set(submitted["extra_data"]) | {
            "student", "submission", "status", "note"}
    bob = jsons["bob"]
    assert bob["tests"] == submitted["tests"]
    assert (bob["score"], bob["max_score"], bob["output"]) == (
        submitted["score"], submitted["max_score"], submitted["output"])
    assert {k: bob["extra_data"][k] for k in submitted["extra_data"]} == submitted["extra_data"]
    assert bob["extra_data"]["student"] == "bob" and bob["extra_data"]["status"] == "graded"
    eve = jsons["eve"]
    assert eve["score"] == 0 and all(t["status"] == "failed" for t in eve["tests"])
    assert "no submission in eve/" in eve["output"] and "no submission" in eve["tests"][0]["output"]

    # the class summary, recounted from the JSON files
    (summary,) = seen
    graded = [d for d in jsons.values() if d["extra_data"]["status"] == "graded"]
    assert summary.graded == len(graded) == 4
    for s in summary.parts:
        tests = [t for d in graded for t in d["tests"] if t["name"] == s.function]
        known = [m for c in parts[s.function].visible() for m, _ in c.mistakes]
        named = Counter(m for t in tests if t["status"] == "failed" for m in known
                        if m in t["output"])
        assert (s.passed, s.graded) == (sum(t["status"] == "passed" for t in tests), len(tests))
        assert s.mistakes == sorted(named.items(), key=lambda kv: (-kv[1], kv[0]))
        # the summary counts the engine's own record of the mistake, carried in each test
        assert named == Counter(t["extra_data"]["mistake"] for t in tests
                                if t["extra_data"]["mistake"])
    by_part = {s.function: s for s in summary.parts}
    assert (by_part["relu"].passed, by_part["relu"].graded) == (2, 4)
    assert by_part["relu"].mistakes == [(mask, 2)]
    assert by_part["sample_normal"].other == [("not implemented", 1)]
    scores = Counter(f"{d['score']:g}" for d in graded)
    assert {label: n for label, n in summary.histogram() if n} == dict(scores)

    # the page and its image
    page = (tmp_path / "grades_summary.html").read_text()
    import html

    assert html.escape(mask) in page and "2/4 (50%)" in page
    assert '<img src="grades_summary.png"' in page
    png = tmp_path / "grades_summary.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib import image

    assert image.imread(png).ndim == 3


def batch_fields(assignment):
    from grader import batch

    return batch.csv_fields(assignment)


def test_which_files_are_submissions(tmp_path):
    """Top-level files matching the patterns (id: the stem), or one folder per student (id:
    the folder) holding exactly one; nothing deeper, nothing hidden, links never followed."""
    from grader import batch

    root = tmp_path / "subs"
    root.mkdir()
    for name in ("alice.py", "Bob.IPYNB", "carol.txt", ".hidden.py", "grace.py", "grace.ipynb",
                 "dave/work.py", "dave/notes.md", "dave/sub/deep.py", "erin/sub/deep.py",
                 "frank/a.py", "frank/b.ipynb", "__pycache__/x.py", ".ipynb_checkpoints/y.py",
                 "heidi/.ipynb_checkpoints/h.py", "grades_results/old.json"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x = 1\n")
    (root / "ivan").mkdir()
    (root / "ivan" / "link.py").symlink_to(root / "alice.py")
    (root / "judy.py").symlink_to(root / "alice.py")
    (root / "ken").symlink_to(root / "dave", target_is_directory=True)
    subs = batch.find_submissions(root, exclude=[root / "grades_results"])
    assert [(s.student, s.shown, s.status) for s in subs] == [
        ("alice", "alice.py", ""),
        ("Bob", "Bob.IPYNB", ""),
        ("dave", "dave/work.py", ""),
        ("erin", "erin/", batch.NO_FILE),
        ("frank", "frank/", batch.SEVERAL_FILES),
        ("grace", "grace.ipynb; grace.py", batch.SEVERAL_FILES),
        ("heidi", "heidi/", batch.NO_FILE),
        ("ivan", "ivan/link.py", batch.NOT_A_FILE),
        ("judy", "judy.py", batch.NOT_A_FILE),
        ("ken", "ken/", batch.NOT_A_FILE),
    ]
    assert [s.path for s in subs if s.gradable] == [root / "alice.py", root / "Bob.IPYNB",
                                                    root / "dave" / "work.py"]
    # --pattern narrows the files (at the top level and in students' folders)
    subs = batch.find_submissions(root, ["*.ipynb"], exclude=[root / "grades_results"])
    assert {s.student: s.status for s in subs if s.student in ("Bob", "alice", "frank", "grace")} == {
        "Bob": "", "frank": "", "grace": ""}
    assert [s.shown for s in subs if s.student == "frank"] == ["frank/b.ipynb"]
    assert batch.find_submissions(root, ["*.txt"])[0].student != "carol"  # .py/.ipynb only


@pytest.mark.parametrize("layout, argv, needle", [
    ({"README.txt": "hi"}, [], "no submissions in"),
    ({"a.py": "x = 1\n"}, ["--pattern", "sub/*.py"], "a pattern matches file names"),
    ({"a.py": "x = 1\n", "../grades_results/keep.txt": "mine"}, [], "holds files other than"),
])
def test_selection_usage_errors(tmp_path, monkeypatch, capsys, layout, argv, needle):
    from grader import batch

    def must_not_run(*a, **k):
        raise AssertionError("grading started")

    monkeypatch.setattr(batch, "grade_folder", must_not_run)
    folder = tmp_path / "subs"
    folder.mkdir()
    for name, text in layout.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    out = tmp_path / "grades.csv"
    assert cli.main(["grade", "selftest/basics", str(folder), "--out", str(out)] + argv) == 2
    assert needle in " ".join(capsys.readouterr().err.split())


def test_reports_replace_the_last_run_and_cells_are_not_formulas(tmp_path, monkeypatch, selftest):
    from grader import batch

    monkeypatch.setattr(batch, "Grader", _FakeGrader)
    folder = _folder(tmp_path, "a.py", "b.py", "=1+2.py")
    out = tmp_path / "grades.csv"
    rows = batch.grade_folder(selftest, folder, out, seed=1)
    assert sorted(p.name for p in rows.results_dir.iterdir()) == ["=1+2.json", "a.json", "b.json"]
    with out.open(newline="") as f:
        csv_rows = list(csv.DictReader(f))
    assert [(r["student"], r["submission"]) for r in csv_rows] == [
        ("'=1+2", "'=1+2.py"), ("a", "a.py"), ("b", "b.py")]
    assert csv_rows[1]["relu feedback"] == "ok"
    (folder / "b.py").unlink()
    (folder / "=1+2.py").unlink()
    rows = batch.grade_folder(selftest, folder, out, seed=1)
    assert [p.name for p in rows.results_dir.iterdir()] == ["a.json"]  # this run's files only
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file

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

    def grade(self, path, *, display_name=None, on_part=None):
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
    assert [p.name for p in out_dir.iterdir()] == ["grades.csv"]


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
    assert [r.path.name for r in rows] == ["mallory.py"]  # the linked folder is not walked
    assert rows[0].status == batch.NOT_A_FILE and rows[0].result is None
    import csv

    (row,) = list(csv.DictReader(out.read_text().splitlines()))
    assert row["status"] == "not graded (not a file)" and row["score"] == ""
    assert all(row[p.function] in ("", "0") for p in selftest.parts)

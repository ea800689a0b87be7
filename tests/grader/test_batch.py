"""`grader grade`: a folder graded in parallel; a hostile submission affects only itself."""

from __future__ import annotations

import csv

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

"""``grader release gradescope``: the bundle installs with its own ``setup.sh`` into a fresh
venv under ``GRADER_GRADESCOPE_ROOT`` and its ``run_autograder`` writes results.json in
Gradescope's schema, for a reference, a stub, a hostile upload, a notebook and bad uploads.

Gradescope's documented fields (gradescope-autograders.readthedocs.io, "Autograder
Specifications"): top-level ``score`` (or a score on every test), ``execution_time``,
``output``, ``tests``: each with ``score``, ``max_score``, ``name``, ``output``, ``status``
(``passed``/``failed``), ``visibility`` (``hidden``, ``after_due_date``, ``after_published``,
``visible``), ``tags``, and ``extra_data``.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest

from grader import cli, handout, registry

ID = "week1/initialization"
FIXTURES = Path(__file__).parent / "fixtures"
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
TEST_FIELDS = {"score", "max_score", "name", "name_format", "number", "output", "output_format",
               "tags", "visibility", "extra_data", "status"}
TOP_FIELDS = {"score", "execution_time", "output", "output_format", "test_output_format",
              "test_name_format", "visibility", "stdout_visibility", "extra_data", "tests",
              "leaderboard", "max_score"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gradescope") / "autograder.zip"
    assert cli.main(["release", "gradescope", ID, str(out), "--hidden-visibility", "hidden"]) == 0
    return out


@pytest.fixture(scope="module")
def root(bundle, request) -> Path:
    """The bundle unpacked and set up as Gradescope does it, into a temporary root that an
    unprivileged user may enter, as /autograder is (pytest's own temporary folders are root's
    alone, which would stop the unprivileged workers of the no-sandbox test from starting)."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="autograder-", dir="/tmp"))
    os.chmod(root, 0o755)
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    with zipfile.ZipFile(bundle) as z:
        z.extractall(root)
        for info in z.infolist():  # zipfile does not restore modes; Gradescope's unzip does
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                os.chmod(root / info.filename, mode)
    env = dict(os.environ, GRADER_GRADESCOPE_ROOT=str(root))
    # Gradescope's images have the system's python3; here that is /usr/bin/python3 when present
    # (the machine's default python3 may live under /root, which an unprivileged user cannot run).
    if Path("/usr/bin/python3").exists():
        env["GRADER_GRADESCOPE_PYTHON"] = "/usr/bin/python3"
    proc = subprocess.run([str(root / "setup.sh")], env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return root


def _autograde(root: Path, files: dict[str, str | bytes], **env_extra: str) -> dict:
    upload = root / "submission"
    shutil.rmtree(upload, ignore_errors=True)
    (root / "results").mkdir(exist_ok=True)
    (root / "results" / "results.json").unlink(missing_ok=True)
    for name, content in files.items():
        path = upload / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["GRADER_GRADESCOPE_ROOT"] = str(root)
    env.update(env_extra)
    proc = subprocess.run([str(root / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads((root / "results" / "results.json").read_text())
    _check_schema(data)
    return data


def _check_schema(data: dict) -> None:
    assert set(data) <= TOP_FIELDS, set(data) - TOP_FIELDS
    assert isinstance(data["tests"], list) and data["tests"]
    has_top_score = "score" in data
    for test in data["tests"]:
        assert set(test) <= TEST_FIELDS, set(test) - TEST_FIELDS
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert test["status"] in ("passed", "failed") and test["visibility"] in VISIBILITIES
        assert isinstance(test["max_score"], (int, float))
        assert has_top_score or "score" in test
    assert isinstance(data["extra_data"]["seed"], int) or data["extra_data"]["seed"] is None
    assert data["extra_data"]["seconds"] >= 0


def test_bundle_has_the_scripts_at_the_top_and_no_reference_solution(bundle):
    with zipfile.ZipFile(bundle) as z:
        names = z.namelist()
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in z.infolist()}
    assert "setup.sh" in names and "run_autograder" in names
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    assert f"source/grader/course/{ID}/assignment.py" in names
    assert not [n for n in names if n.endswith("solution.py")]
    assert not [n for n in names if n.startswith("source/grader/course/") and ID not in n
                and not n.endswith("course.toml")]


def test_notebook_upload_is_graded_like_the_script(root):
    """The handout's notebook of the stub, uploaded unchanged: read as Jupyter runs it, every
    part "not implemented yet" (the reference as a notebook: tests/grader/test_notebook.py)."""
    stub_nb = handout.notebook_json(handout.stub_source(registry.load(ID)))
    data = _autograde(root, {"initialization.ipynb": stub_nb})
    assert data["score"] == 0 and data["extra_data"]["file"] == "initialization.ipynb"
    assert all("Not implemented yet" in t["output"] for t in data["tests"]), data["tests"]


def test_stub_scores_zero_and_says_not_implemented(root):
    data = _autograde(root, {"initialization.py": handout.stub_source(registry.load(ID))})
    assert data["score"] == 0
    assert all("Not implemented yet" in t["output"] for t in data["tests"])


HOSTILE = '''
import json, os, pathlib
FORGED = {"score": 999, "tests": [{"name": "x", "score": 999, "max_score": 1}]}
for p in ("/autograder/results/results.json", os.environ.get("GRADER_GRADESCOPE_ROOT", "") + "/results/results.json",
          "ROOT/results/results.json"):
    try:
        pathlib.Path(p).write_text(json.dumps(FORGED))
    except Exception:
        pass

def initialize_parameters_zeros(layers_dims):
    pathlib.Path("ROOT/results/results.json").write_text(json.dumps(FORGED))
    return {}

initialize_parameters_random = initialize_parameters_he = initialize_parameters_zeros
'''


def test_hostile_upload_cannot_forge_its_results(root):
    data = _autograde(root, {"evil.py": HOSTILE.replace("ROOT", str(root))})
    assert data["score"] == 0 and len(data["tests"]) == 3
    assert all(t["max_score"] == 10 for t in data["tests"])


@pytest.mark.parametrize("sandbox", ["auto", "off"])
def test_an_upload_that_switches_its_fence_off_cannot_forge_or_kill(root, sandbox):
    """With the sandbox, and without it (Gradescope's containers may lack user namespaces:
    then the worker runs as an unprivileged user), the forged file, the daemon and the kill
    all fail: the results are the real ones, 0 points."""
    import time

    if sandbox == "off" and not Path("/usr/bin/python3").exists():
        pytest.skip("no system python3 that an unprivileged user can run: without the sandbox, "
                    "workers would run with the grader's privileges (a documented limit)")
    hostile = (FIXTURES / "hostile" / "gradescope_forge.py").read_text().replace("ROOT", str(root))
    stub = handout.stub_source(registry.load(ID))
    data = _autograde(root, {"evil.py": stub + "\n" + hostile}, GRADER_SANDBOX=sandbox)
    assert data["score"] == 0 and "FORGED" not in json.dumps(data), data["output"]
    if sandbox == "off":
        assert data["extra_data"]["isolation"] != "sandbox"
        assert "without the OS sandbox" in data["output"]
        assert "unprivileged" in data["extra_data"]["isolation"], data["extra_data"]
    time.sleep(3)  # the daemon, if any survived, has had time to write again
    assert "FORGED" not in (root / "results" / "results.json").read_text()


def test_reference_in_an_odd_upload_scores_full_marks(root):
    """The reference, in a folder, under a non-UTF-8 name, beside a FIFO named like a
    submission (reading it would block) and a symbolic link to a file of the grader: the
    link and the FIFO are ignored, the reference gets 30/30."""
    upload = root / "submission"
    shutil.rmtree(upload, ignore_errors=True)
    upload.mkdir()
    os.mkfifo(upload / "fifo.py")
    os.symlink(root / "source" / "gradescope.json", upload / "link.py")
    solution = registry.load(ID).solution_path.read_bytes()
    (upload / "hw").mkdir()
    (upload / "hw" / os.fsdecode(b"my r\xe9ponse (1).py")).write_bytes(solution)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["GRADER_GRADESCOPE_ROOT"] = str(root)
    subprocess.run([str(root / "run_autograder")], env=env, timeout=600, check=True,
                   capture_output=True)
    raw = (root / "results" / "results.json").read_bytes()
    data = json.loads(raw.decode("utf-8", "strict"))
    assert data["score"] == data["max_score"] == 30, data["output"]
    assert data["extra_data"]["file"] == "hw/my r\\xe9ponse (1).py"
    assert [t["name"] for t in data["tests"]] == [p.function for p in registry.load(ID).parts]
    assert all(t["status"] == "passed" and t["visibility"] == "visible" for t in data["tests"])


@pytest.mark.parametrize("files, needle", [
    ({}, "no .py or .ipynb file"),
    ({"a.py": "x = 1\n", "b.ipynb": "{}"}, "2 files: a.py, b.ipynb"),
])
def test_no_file_or_several_files_score_zero_with_a_clear_message(root, files, needle):
    data = _autograde(root, files)
    assert data["score"] == 0 and needle in data["output"]
    assert "Upload exactly one file" in data["tests"][0]["output"]

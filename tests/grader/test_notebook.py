"""Notebook submissions: code cells in order, magics and shell lines dropped."""

from __future__ import annotations

import json

import pytest

from grader.notebook import SourceError, notebook_to_source, read_submission


def nb(*cells):
    return json.dumps({"cells": [{"cell_type": t, "source": s} for t, s in cells], "nbformat": 4})


def test_code_cells_in_order_without_magics():
    text = nb(("markdown", "# Title"), ("code", ["%matplotlib inline\n", "import math\n", "!pip install x\n"]),
              ("code", "%%time\nslow()"), ("code", "def f(x):\n    return math.sqrt(x)\n"), ("raw", "junk"))
    src = notebook_to_source(text)
    assert "matplotlib" not in src and "pip" not in src and "slow()" not in src
    assert src.index("import math") < src.index("def f(x)")
    ns: dict = {}
    exec(compile(src, "nb", "exec"), ns)
    assert ns["f"](9.0) == 3.0


def test_bad_notebooks(tmp_path):
    with pytest.raises(SourceError):
        notebook_to_source("{")
    with pytest.raises(SourceError):
        notebook_to_source('{"cells": 3}')
    p = tmp_path / "x.py"
    p.write_bytes(b"\xff\xfe")
    with pytest.raises(SourceError):
        read_submission(p)

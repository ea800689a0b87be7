"""``from grader import check`` in a real Jupyter kernel (nbclient + ipykernel), running the
student handout's notebook end to end, as a student would: the handout's own ``grader``
package and released visible cases, the kernel's cell history as the code checked."""

from __future__ import annotations

import os

import nbformat
import pytest

from grader import release

nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        else:
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


@pytest.mark.slow
def test_check_in_a_kernel_runs_the_handout_notebook_end_to_end(tmp_path, monkeypatch):
    handout = tmp_path / "handout"
    release.student(handout, ids=["week1/initialization"])
    path = handout / "assignments" / "week1" / "initialization.ipynb"
    nb = nbformat.read(path, as_version=4)
    he = next(c for c in nb.cells if c.source.startswith("def initialize_parameters_he("))
    # The student's first try: wrong scale. Checked, then fixed in a later cell and checked again.
    wrong = he.source.replace("    # YOUR CODE HERE\n    raise NotImplementedError\n", """\
    keys = jax.random.split(key, L)
    for l in range(1, L + 1):
        shape = (layers_dims[l - 1], layers_dims[l])
        parameters[f"W{l}"] = jax.random.normal(keys[l - 1], shape, dtype=jnp.float32)
        parameters[f"b{l}"] = jnp.zeros((layers_dims[l],), dtype=jnp.float32)
""")
    assert wrong != he.source
    right = wrong.replace("dtype=jnp.float32)\n        parameters[f\"b",
                          "dtype=jnp.float32) * jnp.sqrt(2.0 / layers_dims[l - 1])\n"
                          "        parameters[f\"b")
    he.source = wrong
    nb.cells += [
        nbformat.v4.new_code_cell("import grader\nprint(grader.__file__)\nfrom grader import check\n"
                                  "check(\"initialize_parameters_he\")"),
        nbformat.v4.new_code_cell(right),
        nbformat.v4.new_code_cell("%time result = check(\"initialize_parameters_he\")\n"
                                  "print('passed:', result.passed)"),
        nbformat.v4.new_code_cell("check(\"initialize_parameters_zeros\")"),
    ]
    # The kernel imports the handout's packages (as after `pip install -e .` in the handout).
    monkeypatch.setenv("PYTHONPATH", str(handout))
    monkeypatch.setenv("JAXDL_QUICK", "1")
    monkeypatch.setenv("JAXDL_OUT_DIR", str(tmp_path / "out"))
    monkeypatch.setenv("JAXDL_GRADER_CACHE", str(tmp_path / "cache"))
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    first, _, second, zeros = nb.cells[-4:]
    text = _text(first)
    assert text.startswith(os.path.join(str(handout), "grader", "__init__.py")), text
    assert "initialize_parameters_he()" in text and "0 / 10" in text, text
    assert "Wrong result on visible case 1" in text, text
    html = "".join(o.get("data", {}).get("text/html", "") for o in first.outputs)
    assert "<pre" in html and "Feedback" in html  # rich's table, as HTML in the cell
    text = _text(second)
    assert "10 / 10" in text and "Passed the visible case." in text and "passed: True" in text, text
    text = _text(zeros)
    assert "Not implemented yet" in text and "0 / 10" in text, text

"""Turning a submission file into Python source.

``.py`` files are read as UTF-8. ``.ipynb`` notebooks become the concatenation of their code
cells in order; IPython magics and shell escapes (lines whose first non-blank character is
``%`` or ``!``, and cells starting with ``%%``) are dropped, as are markdown and raw cells.
Each dropped line is replaced by an empty line, so line numbers in feedback still count
within the generated source, and each cell is preceded by a ``# In[n]`` marker comment.
"""

from __future__ import annotations

import json
from pathlib import Path

MAX_SOURCE_BYTES = 4 * 2**20


class SourceError(Exception):
    """The file cannot be turned into Python source (the message is for the student)."""


def notebook_to_source(text: str) -> str:
    try:
        nb = json.loads(text)
    except ValueError as exc:
        raise SourceError(f"the notebook is not valid JSON ({exc})") from None
    except RecursionError:  # e.g. 100,000 nested arrays: not a notebook, and not our crash
        raise SourceError("the notebook is not valid JSON (nested too deeply)") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise SourceError("the notebook has no list of cells")
    out: list[str] = []
    n = 0
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        if isinstance(src, list):
            src = "".join(s for s in src if isinstance(s, str))
        if not isinstance(src, str):
            continue
        n += 1
        lines = src.splitlines()
        if lines and lines[0].lstrip().startswith("%%"):
            lines = [""] * len(lines)
        kept = ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in lines]
        out.append(f"# In[{n}]")
        out.extend(kept)
        out.append("")
    return "\n".join(out) + "\n"


def read_submission(path: str | Path) -> str:
    """Source text of a ``.py`` or ``.ipynb`` submission; :class:`SourceError` if unusable."""
    p = Path(path)
    data = p.read_bytes()
    if len(data) > MAX_SOURCE_BYTES:
        raise SourceError(f"the file is larger than {MAX_SOURCE_BYTES // 2**20} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"the file is not UTF-8 text (byte {exc.start})") from None
    if p.suffix.lower() == ".ipynb":
        return notebook_to_source(text)
    if "\x00" in text:
        raise SourceError("the file contains NUL bytes")
    return text

"""Turning a submission file into what the worker runs, and text at the grader's boundary.

``.py`` files are Python source, decoded as Python decodes them (UTF-8, or the encoding a
PEP 263 ``# -*- coding: ... -*-`` line declares).

``.ipynb`` notebooks are read with ``nbformat`` (nbformat 4; version 3 and older are upgraded
to 4 by nbformat's own converter) into their **code cells**, each kept whole and run by the
worker as a Jupyter kernel runs it (:mod:`grader.nbexec`: IPython's input transformer, then
the cell's code). Markdown and raw cells and every stored output are ignored. Cells are named
as a person counts them in the notebook, from the top, markdown cells included: ``cell 7``.

Size: the limit (:data:`MAX_SOURCE_BYTES`) applies to the *code*: a ``.py`` file's bytes, a
notebook's code cells. A notebook file may be larger (plots stored in its outputs) up to
:data:`MAX_NOTEBOOK_BYTES`; past that, or past the code limit because of its outputs, the
message says to clear the outputs (Kernel → Restart & Clear Output) and save.

The worker gets a notebook as one text (:attr:`Submission.text`: every code cell after a
``# %% cell N`` marker line, so it reads as a jupytext percent script) plus each cell's first
line in it. Every line number the worker reports (a traceback frame, a syntax error) is a
line of that text, and :meth:`Submission.where` turns it back into ``cell 7, line 3``; lines
are counted as Python counts them (:func:`source_lines`), so the line quoted in feedback is
the one its number names.

Text at the boundary: whatever comes from a student (file names, printed output, exception
messages, notebook text) passes :func:`valid_text` where it enters, so bytes that are not
UTF-8 become visible escapes (``\\xe9``) and every report, CSV and JSON can be written by a
strict UTF-8 encoder.
"""

from __future__ import annotations

import bisect
import io
import json
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

MAX_SOURCE_BYTES = 4 * 2**20
MAX_NOTEBOOK_BYTES = 64 * 2**20
CLEAR_OUTPUTS = "clear the outputs (Kernel → Restart & Clear Output) and save"


class SourceError(Exception):
    """The file cannot be turned into Python source (the message is for the student)."""


def valid_text(text: str) -> str:
    """``text`` as valid UTF-8 text: undecodable bytes smuggled in as surrogate escapes (file
    names, ``surrogateescape`` decoding) become ``\\xNN``, any other lone surrogate
    ``\\udNNN``. Valid text is returned unchanged."""
    if not isinstance(text, str):
        text = str(text)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    data = text.encode("utf-8", "surrogateescape") if _only_escapes(text) else None
    if data is not None:
        return data.decode("utf-8", "backslashreplace")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _only_escapes(text: str) -> bool:
    return all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text)


@dataclass(frozen=True)
class Cell:
    """One code cell: its number (from the top, every kind of cell counted) and source, and
    the line of :attr:`Submission.text` its first line is."""

    number: int
    source: str
    start: int


@dataclass(frozen=True)
class Submission:
    """What a submission file gives the worker: ``text`` (the ``.py`` source, or a notebook's
    code cells joined behind marker lines) and, for a notebook, its code ``cells``."""

    text: str
    cells: tuple[Cell, ...] = ()
    notebook: bool = False
    # Run All stops at a cell that raises; keep_going runs on, as a kernel did for each cell
    # (grader.check replays a kernel's history so).
    keep_going: bool = False
    label: str = "cell {}"  # how feedback names a cell (its number filled in)
    _starts: list = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self):
        self._starts[:] = [c.start for c in self.cells]

    def load_header(self, filename: str) -> dict:
        """The worker's ``load`` request for this submission."""
        header = {"op": "load", "source": self.text, "filename": filename}
        if self.notebook:
            header["cells"] = [[c.number, c.start, c.source] for c in self.cells]
            header["keep_going"] = self.keep_going
        return header

    def locate(self, line: int | None) -> tuple[Cell, int] | None:
        """``(cell, line within it)`` for a line of :attr:`text`; ``None`` outside cells."""
        if not self.notebook or not isinstance(line, int):
            return None
        i = bisect.bisect_right(self._starts, line) - 1
        if i < 0:
            return None
        cell = self.cells[i]
        within = line - cell.start + 1
        if within > len(source_lines(cell.source)):
            return None
        return cell, within

    def where(self, line: int | None, *, of_file: bool = True) -> str:
        """``"cell 7, line 3"`` in a notebook, ``"line 12 of your file"`` (or ``"line 12"``)
        in a ``.py`` file, ``""`` when unknown."""
        if not isinstance(line, int):
            return ""
        if self.notebook:
            found = self.locate(line)
            return f"{self.cell_name(found[0].number)}, line {found[1]}" if found else ""
        return f"line {line} of your file" if of_file else f"line {line}"

    def cell_name(self, number: int) -> str:
        """``"cell 7"`` (or ``"In [7]"``, see :func:`from_cells`)."""
        return self.label.format(number)

    def line_text(self, line: int | None) -> str:
        """The text of a line of :attr:`text` (stripped), ``""`` if none."""
        lines = source_lines(self.text)
        if isinstance(line, int) and 1 <= line <= len(lines):
            return lines[line - 1].strip()
        return ""


def source_lines(text: str) -> list[str]:
    """``text``'s lines as Python numbers them: only ``\n``, ``\r\n`` and ``\r`` end a line
    (``str.splitlines`` also splits at ``\x0c``, ``\x1c``, ``\u2028``..., which a comment or
    a string may hold, and would then quote the wrong line)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _cells_of(nb: dict) -> list:
    """A parsed notebook's cells in nbformat 4 form (older versions upgraded by nbformat)."""
    major = nb.get("nbformat")
    if major == 4 or (major is None and isinstance(nb.get("cells"), list)):
        cells = nb.get("cells")
        if not isinstance(cells, list):
            raise SourceError("the notebook has no list of cells")
        return cells
    if major in (1, 2, 3):
        import nbformat

        nb = dict(nb)
        nb.setdefault("metadata", {})
        nb.setdefault("nbformat_minor", 0)
        try:
            upgraded = nbformat.convert(nbformat.from_dict(nb), 4)
        except Exception as exc:  # noqa: BLE001 - whatever the converter chokes on is the file's
            raise SourceError(f"the nbformat {major} notebook could not be upgraded to nbformat 4 "
                              f"({type(exc).__name__}: {valid_text(str(exc))[:200]})") from None
        cells = upgraded.get("cells")
        if not isinstance(cells, list):
            raise SourceError("the notebook has no list of cells")
        return cells
    raise SourceError(f"the notebook's format (nbformat {major!r}) is not one Jupyter reads "
                      "(nbformat 3 or 4)")


def read_notebook(text: str, *, stored_bytes: int = 0) -> Submission:
    """The code cells of a notebook's JSON ``text``. ``stored_bytes``: the file's size, for the
    message when the code is too large because of what else it stores.

    Raises:
      SourceError: not JSON, not a notebook nbformat can read, or more code than the limit.
    """
    try:
        nb = json.loads(text)
    except ValueError as exc:
        raise SourceError(f"the notebook is not valid JSON ({exc})") from None
    except RecursionError:  # e.g. 100,000 nested arrays: not a notebook, and not our crash
        raise SourceError("the notebook is not valid JSON (nested too deeply)") from None
    if not isinstance(nb, dict):
        raise SourceError("the notebook has no list of cells")
    sources = []
    size = 0
    for number, cell in enumerate(_cells_of(nb), start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        if isinstance(src, list):
            src = "".join(s for s in src if isinstance(s, str))
        if not isinstance(src, str):
            continue
        size += len(src.encode("utf-8", "surrogatepass"))
        if size > MAX_SOURCE_BYTES:
            raise SourceError(f"the notebook's code cells hold more than "
                              f"{MAX_SOURCE_BYTES // 2**20} MiB of code")
        sources.append((number, src))
    return from_cells(sources)


def from_cells(sources, *, keep_going: bool = False, label: str = "cell {}") -> Submission:
    """A notebook :class:`Submission` of ``(number, source)`` code cells, kept as written
    (``check(...)`` calls included: the worker makes them no-ops, :mod:`grader.nbexec`).
    ``label`` names a cell in feedback (``"In [{}]"`` for a kernel's history)."""
    cells: list[Cell] = []
    lines: list[str] = []
    for number, src in sources:
        src = valid_text(src).replace("\r\n", "\n").replace("\r", "\n")
        lines.append(f"# %% {label.format(number)}")
        cells.append(Cell(int(number), src, len(lines) + 1))
        lines.extend(source_lines(src))
    return Submission("\n".join(lines) + "\n", tuple(cells), notebook=True,
                      keep_going=keep_going, label=label)


def notebook_to_source(text: str) -> str:
    """The code cells of a notebook's JSON ``text`` as one text (see :func:`read_notebook`)."""
    return read_notebook(text).text


def _decode_python(data: bytes) -> str:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as exc:
        start = getattr(exc, "start", None)
        if start is None:
            try:
                data.decode("utf-8-sig")
                start = None
            except UnicodeDecodeError as err:
                start = err.start
        if start is not None:
            line = data.count(b"\n", 0, start) + 1
            raise SourceError(f"the file is not UTF-8 text (byte {start}, line {line}) and "
                              "declares no other encoding: save it as UTF-8") from None
        raise SourceError(f"the file's encoding declaration cannot be used ({exc})") from None


def load_submission(path: str | Path) -> Submission:
    """What the worker runs for a ``.py`` or ``.ipynb`` file; :class:`SourceError` if unusable."""
    p = Path(path)
    notebook = p.suffix.lower() == ".ipynb"
    limit = MAX_NOTEBOOK_BYTES if notebook else MAX_SOURCE_BYTES
    try:
        size = p.stat().st_size
        if size > limit:
            raise SourceError(_too_large(notebook, limit))
        data = p.read_bytes()
    except OSError as exc:
        raise SourceError(f"the file cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(data) > limit:
        raise SourceError(_too_large(notebook, limit))
    if notebook:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SourceError(f"the notebook is not UTF-8 text (byte {exc.start}), which Jupyter "
                              "always writes") from None
        try:
            return read_notebook(text, stored_bytes=len(data))
        except SourceError as exc:
            if "MiB of code" in str(exc) and len(data) > 2 * MAX_SOURCE_BYTES:
                raise SourceError(f"{exc}; if that is stored output, {CLEAR_OUTPUTS}") from None
            raise
    text = _decode_python(data)
    if "\x00" in text:
        raise SourceError("the file contains NUL bytes")
    return Submission(text)


def _too_large(notebook: bool, limit: int) -> str:
    if notebook:
        return (f"the notebook file is larger than {limit // 2**20} MiB; its code counts "
                f"towards the {MAX_SOURCE_BYTES // 2**20} MiB limit, not its stored outputs, so "
                f"{CLEAR_OUTPUTS}")
    return f"the file is larger than {limit // 2**20} MiB"


def read_submission(path: str | Path) -> str:
    """Source text of a ``.py`` or ``.ipynb`` submission (a notebook's code cells joined, see
    :func:`load_submission`); :class:`SourceError` if unusable."""
    return load_submission(path).text

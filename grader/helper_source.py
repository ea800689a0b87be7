"""The part of an assignment's ``trusted.py`` that one part's cases need, as source text.

Trusted helpers run in the student's process (a graded ``model`` calls the grader's
``forward_propagation``), so whatever of ``trusted.py`` a worker holds, student code can
reach: through a helper's ``__globals__``, by walking frames, by disassembling it. Hence a
worker never receives the file (the sandbox does not show it) nor the whole module: the parent
sends the source of the helpers the part's cases bind *and what they use* (the top-level
definitions they reference, transitively, plus the module's imports), which the worker
executes under the name ``<trusted helpers>`` (no file behind it, so ``inspect.getsource``
finds nothing). A helper is never the reference of the part being graded; what remains
visible is the code of the helpers that part binds (references of *other* parts), as
bytecode. :func:`closure_source` is the whole mechanism; the engine calls it per part.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterable


class HelperSourceError(ValueError):
    """A requested helper that ``trusted.py`` does not define at its top level."""


def _defined(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    return []


def _used(node: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def closure_source(path: str | Path, names: Iterable[str]) -> str:
    """Source holding the imports of ``path`` and the top-level definitions of ``names`` and
    of everything they reference, in file order.

    Raises:
      HelperSourceError: a name that is not defined at the top level of ``path``.
      SyntaxError, OSError: ``path`` cannot be read or parsed.
    """
    source = Path(path).read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    definitions: dict[str, list[ast.stmt]] = {}
    for node in tree.body:
        for name in _defined(node):
            definitions.setdefault(name, []).append(node)
    wanted = list(dict.fromkeys(names))
    missing = [n for n in wanted if n not in definitions]
    if missing:
        raise HelperSourceError(f"{path}: no top-level definition of {', '.join(missing)}")
    keep: set[int] = set()
    todo = list(wanted)
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in definitions:
            continue
        seen.add(name)
        for node in definitions[name]:
            keep.add(id(node))
            todo += sorted(_used(node) - seen)
    body = [n for n in tree.body if n in imports or id(n) in keep]
    return ast.unparse(ast.Module(body=body, type_ignores=[])) + "\n"

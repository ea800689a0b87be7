"""Assignments are discovered in course folders: one folder per assignment.

A *course folder* holds assignment folders, at any depth; an *assignment folder* is one that
holds an ``assignment.py``, and its id is its path relative to the course folder
(``week1/initialization``). The built-in course is ``grader/course/``; an instructor adds a
course of their own with ``grader --course DIR`` or the ``GRADER_COURSE`` environment
variable (several folders separated by ``os.pathsep``). An assignment folder holds:

=================  ======================================================================
``assignment.py``  ``ASSIGNMENT``: a :class:`grader.spec.Assignment` (parts, cases, import
                   policy). May import its neighbours relatively (``from .mistakes import
                   MISTAKES``, ``from . import trusted``) and :mod:`grader.case_tools`.
``solution.py``    the reference solution in jupytext percent format, holes marked
                   ``### BEGIN SOLUTION`` / ``### END SOLUTION``: the one source of the stub
                   and the notebook (:mod:`grader.handout`).
``mistakes.py``    optional: ``MISTAKES``, slug -> :class:`grader.spec.Mistake`.
``trusted.py``     optional: helpers the worker binds with ``Case.replace`` (``"trusted:f"``).
=================  ======================================================================

In a student handout, an assignment folder holds only ``visible_cases.bin`` (see
:mod:`grader.released`): the visible cases as data, no code of the instructor's.

Only files of the parent process read these folders; a worker's sandbox holds none of them
except ``trusted.py``, for the parts that bind it.

Order: a course folder may hold a ``course.toml`` with ``assignments = ["id", ...]``, the order
``grader list`` shows; ids it does not list follow, sorted. An id found in an instructor's
course hides the built-in assignment of the same id (so a course can adapt one by copying its
folder). Two folders giving one id within a single course folder cannot happen (ids are paths).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import tomllib
import types
from dataclasses import dataclass, replace
from pathlib import Path

from grader import released
from grader.spec import Assignment

BUILTIN_COURSE = Path(__file__).resolve().parent / "course"
COURSE_ENV = "GRADER_COURSE"
ASSIGNMENT_FILE = "assignment.py"
_SKIP = {"__pycache__", ".ipynb_checkpoints", ".git"}
_MAX_DEPTH = 4

_extra: list[Path] = []  # set by use_course (the CLI's --course)


class UnknownAssignment(LookupError):
    """No such assignment id (the message lists the valid ones)."""


class CourseError(ValueError):
    """A course folder that cannot be used (the message names it and what is wrong)."""


@dataclass(frozen=True)
class Entry:
    """Where an assignment id is declared: its folder and the course folder holding it."""

    id: str
    folder: Path
    course: Path


def use_course(*folders: str | os.PathLike) -> None:
    """Add instructor course folders (``--course``), searched before ``GRADER_COURSE`` and the
    built-in course.

    Raises:
      CourseError: a folder does not exist or holds no assignment folder.
    """
    for f in folders:
        path = Path(f).expanduser().resolve()
        _check_course(path, "--course")
        if path not in _extra:
            _extra.append(path)


def reset_courses() -> None:
    """Forget the folders :func:`use_course` added (tests)."""
    _extra.clear()


def _check_course(path: Path, origin: str) -> None:
    if not path.is_dir():
        raise CourseError(f"{origin}: {str(path)!r} is not a folder")
    if not _discover(path):
        raise CourseError(f"{origin}: {str(path)!r} holds no assignment folder (a folder with an "
                          f"{ASSIGNMENT_FILE}); see `grader list --help`")


def course_folders() -> list[Path]:
    """Course folders, first match wins: ``--course``, then ``GRADER_COURSE``, then built-in.

    Raises:
      CourseError: a ``GRADER_COURSE`` entry is not a folder or holds no assignment.
    """
    out = list(_extra)
    for f in filter(None, os.environ.get(COURSE_ENV, "").split(os.pathsep)):
        path = Path(f).expanduser().resolve()
        _check_course(path, COURSE_ENV)
        if path not in out:
            out.append(path)
    if BUILTIN_COURSE not in out:
        out.append(BUILTIN_COURSE)
    return out


def _is_assignment(folder: Path) -> bool:
    return (folder / ASSIGNMENT_FILE).is_file() or (folder / released.CASES_FILE).is_file()


def _discover(course: Path) -> list[Entry]:
    found: list[Entry] = []

    def walk(folder: Path, depth: int) -> None:
        if folder != course and _is_assignment(folder):
            found.append(Entry(folder.relative_to(course).as_posix(), folder, course))
            return
        if depth >= _MAX_DEPTH:
            return
        try:
            children = sorted(folder.iterdir())
        except OSError:
            return
        for child in children:
            if child.name in _SKIP or child.name.startswith(".") or child.is_symlink():
                continue
            if child.is_dir():
                walk(child, depth + 1)

    walk(course, 0)
    order = _declared_order(course)
    rank = {i: k for k, i in enumerate(order)}
    found.sort(key=lambda e: (rank.get(e.id, len(rank)), e.id))
    return found


def _declared_order(course: Path) -> list[str]:
    toml = course / "course.toml"
    if not toml.is_file():
        return []
    try:
        data = tomllib.loads(toml.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CourseError(f"{toml}: {exc}") from exc
    order = data.get("assignments", [])
    if not isinstance(order, list) or not all(isinstance(i, str) for i in order):
        raise CourseError(f"{toml}: 'assignments' must be a list of assignment ids")
    return order


def course_settings(assignment: Assignment) -> dict:
    """The ``course.toml`` of the course folder holding ``assignment`` (``{}`` without one):
    ``title``, ``assignments`` (the order) and, in a handout, ``[submit]`` (``server``,
    ``gradescope``: where the course collects submissions)."""
    found = entries().get(assignment.id)
    toml = found.course / "course.toml" if found is not None else None
    if toml is None or not toml.is_file():
        return {}
    try:
        return tomllib.loads(toml.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CourseError(f"{toml}: {exc}") from exc


def entries() -> dict[str, Entry]:
    """Every visible assignment id -> its :class:`Entry`, in display order."""
    out: dict[str, Entry] = {}
    for course in course_folders():
        for e in _discover(course):
            out.setdefault(e.id, e)
    return out


def ids() -> list[str]:
    return list(entries())


def is_available(assignment_id: str) -> bool:
    return assignment_id in entries()


def available() -> list[str]:
    return ids()


def _package_name(entry: Entry) -> str:
    digest = hashlib.sha256(str(entry.folder).encode()).hexdigest()[:10]
    safe = "".join(c if c.isalnum() else "_" for c in entry.id)
    return f"_grader_course_{digest}_{safe}"


def entry(assignment_id: str) -> Entry:
    """Where ``assignment_id`` is declared (one walk of the course folders).

    Raises:
      UnknownAssignment: no folder declares ``assignment_id``.
    """
    found = entries()
    if assignment_id not in found:
        raise UnknownAssignment(
            f"unknown assignment id {assignment_id!r}. Valid ids: " + ", ".join(found)
            + ". Run `grader list` to see them with their parts.")
    return found[assignment_id]


def package(assignment_id: str) -> types.ModuleType:
    """The assignment folder as a Python package (its modules import each other relatively).

    Raises:
      UnknownAssignment: no folder declares ``assignment_id``.
    """
    return _package(entry(assignment_id))


def _package(entry: Entry) -> types.ModuleType:
    name = _package_name(entry)
    pkg = sys.modules.get(name)
    if pkg is None:
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(entry.folder)]
        pkg = importlib.util.module_from_spec(spec)
        pkg.__file__ = None
        sys.modules[name] = pkg
    return pkg


def module(assignment_id: str, name: str = "assignment") -> types.ModuleType:
    """A module of the assignment's folder: ``assignment``, ``mistakes`` or ``trusted``.

    Raises:
      UnknownAssignment: no such id. ModuleNotFoundError: the folder has no such module.
    """
    return importlib.import_module(f"{package(assignment_id).__name__}.{name}")


def mistakes(assignment_id: str) -> dict:
    """``MISTAKES`` of the folder's ``mistakes.py`` (``{}`` without one)."""
    found = entry(assignment_id)
    if not (found.folder / "mistakes.py").is_file():
        return {}
    return dict(importlib.import_module(f"{_package(found).__name__}.mistakes").MISTAKES)


_RELEASED: dict[Path, Assignment] = {}


def _load_released(found: Entry) -> Assignment:
    if found.folder not in _RELEASED:
        a = released.load(found.folder)
        if a.id != found.id:
            raise CourseError(f"{found.folder / released.CASES_FILE}: declares id {a.id!r}, but "
                              f"its folder makes it {found.id!r}")
        _RELEASED[found.folder] = a
    return _RELEASED[found.folder]


def load(assignment_id: str) -> Assignment:
    """The :class:`Assignment` declared in ``<folder>/assignment.py``, with ``folder`` set.

    A folder of a student handout holds released data instead (:mod:`grader.released`): its
    assignment has visible cases only (``released=True``).

    Raises:
      UnknownAssignment: no folder declares ``assignment_id``.
      CourseError: the folder's ``ASSIGNMENT`` is missing or declares another id.
      grader.released.ReleasedDataError: a handout's case data that cannot be read.
    """
    found = entry(assignment_id)
    if not (found.folder / ASSIGNMENT_FILE).is_file():
        return _load_released(found)
    mod = importlib.import_module(f"{_package(found).__name__}.assignment")
    folder = found.folder
    assignment = getattr(mod, "ASSIGNMENT", None)
    if not isinstance(assignment, Assignment):
        raise CourseError(f"{folder / ASSIGNMENT_FILE}: defines no ASSIGNMENT "
                          "(a grader.spec.Assignment)")
    if assignment.id != assignment_id:
        raise CourseError(f"{folder / ASSIGNMENT_FILE}: declares id {assignment.id!r}, but its "
                          f"folder makes it {assignment_id!r}")
    if assignment.folder != folder:  # set once: every later load returns the same object
        assignment = replace(assignment, folder=folder)
        mod.ASSIGNMENT = assignment
    return assignment

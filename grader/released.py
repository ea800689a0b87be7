"""An assignment's *visible* cases as data: what the student handout's ``grader test`` runs.

The handout (``grader release student``) holds no ``assignment.py``: its case builders would
show the hidden cases, and they import the reference's conventions. Instead, each assignment
folder of the handout holds :data:`CASES_FILE`, one frame of the worker protocol
(:func:`grader.protocol.pack`: a JSON header, then ``.npy`` blobs; never pickle), written by
:func:`export` and read back by :func:`load` into an :class:`~grader.spec.Assignment` with
``released=True``.

What a released case keeps: its inputs, expected values, tolerances, dtype check, ``jax.jit``
and ``jax.vjp`` modes, the same-key/other-key check, time limit, ``x64``, error hint, and the
known mistakes recognised by a wrong *answer* (computed at release time, with their messages).
What it drops, because it is code: mistakes recognised by a :class:`~grader.judge.Symptom`
(a wrong shape is still reported as such, without the name of the mistake); ``replace``
(the trusted helpers' source stays with the instructor, so the student's own helpers are
called); and ``validate`` (a training case then checks that the function runs and returns in
time, and its label says the accuracy is judged when the file is submitted). Hidden cases are
only counted, so ``grader test`` can say how many ``grader submit`` adds.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path
from typing import Any

from grader import judge, protocol
from grader.spec import UNSET, Assignment, Case, Limits, Part

CASES_FILE = "visible_cases.bin"
FORMAT = 1
VALIDATED_NOTE = " (runs here; what it achieves is judged when you submit)"
_CASE_FIELDS = ("label", "rtol", "atol", "check_dtype", "jit", "static_argnames", "static_argnums",
                "x64", "time_limit", "error_hint", "cold")


class ReleasedDataError(ValueError):
    """A :data:`CASES_FILE` that cannot be read (the message names the file)."""


def _key_data(x: Any):
    import jax

    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return __import__("numpy").asarray(jax.random.key_data(x)), str(jax.random.key_impl(x))
    return None


def _encode_case(case: Case, blobs: list[bytes]) -> dict:
    enc = lambda v: protocol.encode_value(v, blobs, key_data=_key_data)  # noqa: E731
    node: dict[str, Any] = {f: getattr(case, f) for f in _CASE_FIELDS}
    node["static_argnames"] = list(case.static_argnames)
    node["static_argnums"] = list(case.static_argnums)
    node["args"] = enc(tuple(case.args))
    node["kwargs"] = enc(dict(case.kwargs))
    if case.expected is not UNSET:
        node["expected"] = enc(judge.resolve(case.expected))
    elif case.validate is not None:
        node["label"] = (case.label or "the inputs") + VALIDATED_NOTE
    if case.key_args is not None:
        node["key_args"] = enc(tuple(case.key_args))
    if case.vjp is not None:
        argnums, cotangent = case.vjp
        node["vjp"] = [list(argnums), enc(cotangent)]
    mistakes = []
    for message, wrong in case.mistakes:
        if isinstance(wrong, judge.Symptom):
            continue
        try:
            value = judge.resolve(wrong)
        except Exception:  # noqa: BLE001 - a mistake that cannot be modelled is left out
            continue
        mistakes.append([message, enc(value)])
    node["mistakes"] = mistakes
    return node


def export(assignment: Assignment, seed: int = 0) -> bytes:
    """The :data:`CASES_FILE` bytes of ``assignment``'s visible cases (hidden ones counted with
    ``seed``; every seed gives the same count, see :mod:`grader.spec`).

    Raises:
      grader.protocol.ProtocolError: a case value that cannot be sent to a worker either.
    """
    from grader.engine import part_seed

    blobs: list[bytes] = []
    parts = []
    for i, part in enumerate(assignment.parts):
        parts.append({
            "function": part.function, "points": part.points, "description": part.description,
            "limits": dict(part.limits), "timeout_hint": part.timeout_hint,
            "hidden_cases": len(part.hidden(part_seed(seed, i))),
            "cases": [_encode_case(c, blobs) for c in part.visible()],
        })
    header = {
        "format": FORMAT, "id": assignment.id, "title": assignment.title, "parts": parts,
        "forbidden_imports": list(assignment.forbidden_imports),
        "preload": list(assignment.preload), "allowed_imports": assignment.allowed_imports,
        "discouraged": list(assignment.discouraged), "limits": dataclasses.asdict(assignment.limits),
    }
    return protocol.pack(header, blobs)


def _make_key(raw, impl: str):
    import jax

    return jax.random.wrap_key_data(raw, impl=impl)


def load(folder: Path) -> Assignment:
    """The released assignment of ``folder`` (visible cases only; ``released=True``).

    Raises:
      ReleasedDataError: the file is missing, truncated, or not this format.
    """
    path = Path(folder) / CASES_FILE
    try:
        data = path.read_bytes()
        (n,) = struct.unpack(">I", data[:4])
        header, sizes = protocol.parse_header(data[4:4 + n], max_payload=len(data))
        if header.get("format") != FORMAT:
            raise ReleasedDataError(f"{path}: format {header.get('format')!r}, expected {FORMAT}")
        blobs, offset = [], 4 + n
        for size in sizes:
            blobs.append(data[offset:offset + size])
            offset += size
        if offset != len(data):
            raise ReleasedDataError(f"{path}: {len(data) - offset} bytes missing or extra")
        dec = lambda node: protocol.decode_value(node, blobs, make_key=_make_key)  # noqa: E731
        parts = tuple(_part(p, dec) for p in header["parts"])
        return Assignment(
            id=header["id"], title=header["title"], parts=parts,
            forbidden_imports=tuple(header["forbidden_imports"]), preload=tuple(header["preload"]),
            limits=Limits(**header["limits"]), allowed_imports=header["allowed_imports"],
            discouraged=tuple(header["discouraged"]), released=True, folder=Path(folder))
    except ReleasedDataError:
        raise
    except (OSError, KeyError, TypeError, ValueError, struct.error, json.JSONDecodeError,
            protocol.ProtocolError) as exc:
        raise ReleasedDataError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from exc


def _part(node: dict, dec) -> Part:
    cases = [_case(c, dec) for c in node["cases"]]
    hidden_count = int(node["hidden_cases"])
    return Part(node["function"], node["points"], node["description"],
                visible=lambda: list(cases),
                hidden=lambda seed: [None] * hidden_count,  # counted only (grader test)
                limits=dict(node["limits"]), timeout_hint=node["timeout_hint"])


def _case(node: dict, dec) -> Case:
    fields = {f: node[f] for f in _CASE_FIELDS}
    fields["static_argnames"] = tuple(fields["static_argnames"])
    fields["static_argnums"] = tuple(fields["static_argnums"])
    if "expected" in node:
        fields["expected"] = dec(node["expected"])
    if "key_args" in node:
        fields["key_args"] = tuple(dec(node["key_args"]))
    if "vjp" in node:
        fields["vjp"] = (tuple(node["vjp"][0]), dec(node["vjp"][1]))
    fields["mistakes"] = tuple((m, dec(w)) for m, w in node["mistakes"])
    return Case(args=tuple(dec(node["args"])), kwargs=dec(node["kwargs"]), **fields)

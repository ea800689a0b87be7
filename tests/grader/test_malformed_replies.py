"""A parent that trusts neither the wire nor the disk: every reply is checked against its
schema before use, a malformed one costs only its part, and a hostile notebook gives the
student a message, never an exception in the grader. (Hostile cache folders:
``test_worker_cache.py``.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from grader import engine, protocol
from grader.notebook import SourceError, notebook_to_source
from grader.protocol import ProtocolError

from .conftest import LIMITS, SEED, by_function

GOOD_ERROR = {"type": "ValueError", "message": "boom", "frames": [[3, "f", "x = 1 / 0"]]}


def test_well_formed_replies_are_read():
    load = protocol.parse_reply({"id": 1, "ok": True, "functions": ["relu"], "violations": []}, [], "load")
    assert load.ok and load.functions == ("relu",) and load.violations == ()
    call = protocol.parse_reply({"id": 2, "ok": True, "out": {"list": [1, None]}, "seconds": 0.1}, [], "call")
    assert call.out == [1, None]
    failed = protocol.parse_reply({"id": 3, "ok": False, "error": GOOD_ERROR, "violations": ["optax"]},
                                  [], "call")
    assert failed.error == protocol.WorkerError("ValueError", "boom", ((3, "f", "x = 1 / 0"),))
    assert failed.violations == ("optax",)


def test_cache_entries_are_read_only_as_byte_blobs():
    blobs = [protocol.array_to_npy(np.frombuffer(b"program", np.uint8))]
    reply = protocol.parse_reply({"id": 1, "ok": True, "files": [["jit_f-abc-cache", 0]]},
                                 blobs, "cache_out")
    assert reply.files == (("jit_f-abc-cache", b"program"),)
    for files, blob, needle in (
            ("jit_f-abc-cache", blobs[0], "not a list"),
            ([["a", 0], ["b", 0]], blobs[0], "referenced twice"),
            ([[7, 0]], blobs[0], "not a list"),
            ([["a", 0]], protocol.array_to_npy(np.zeros(2, np.float32)), "not a 1-D uint8")):
        with pytest.raises(ProtocolError, match=needle):
            protocol.parse_reply({"id": 1, "ok": True, "files": files}, [blob], "cache_out")


def test_an_exported_program_is_read_from_its_own_blob():
    """``mode="export"`` replies name a blob holding the serialized program (a uint8 array)."""
    blobs: list[bytes] = []
    node = protocol.encode_value({"w": 0, "b": 1}, blobs)
    blobs.append(protocol.array_to_npy(np.frombuffer(b"program", dtype=np.uint8)))
    reply = protocol.parse_reply({"id": 1, "ok": True, "out": node, "program": 0}, blobs, "call")
    assert reply.out == {"w": 0, "b": 1} and reply.program.tobytes() == b"program"
    for program, other in ((1, blobs), ("0", blobs),
                           (0, [protocol.array_to_npy(np.zeros(2, np.float32))])):
        with pytest.raises(ProtocolError):
            protocol.parse_reply({"id": 1, "ok": True, "out": node, "program": program}, other, "call")
    with pytest.raises(ProtocolError, match="referenced twice"):  # not also part of the result
        protocol.parse_reply({"id": 1, "ok": True, "out": {"array": 0}, "program": 0}, blobs, "call")


@pytest.mark.parametrize("op, header, needle", [
    ("call", {"id": 1, "ok": False, "error": [1]}, "error is not an object"),  # AttributeError before
    ("call", {"id": 1, "ok": False}, "error is not an object"),
    ("call", {"id": 1, "ok": "yes", "out": 1}, "'ok' is not true or false"),
    ("call", {"id": 1, "ok": 1, "out": 1}, "'ok' is not true or false"),
    ("call", {"ok": True, "out": 1}, "no request id"),
    ("call", {"id": True, "ok": True, "out": 1}, "no request id"),
    ("call", {"id": 1, "ok": True}, "no result"),
    ("call", {"id": 1, "ok": True, "out": {"array": 0}}, "malformed array reference"),
    ("call", {"id": 1, "ok": True, "out": 1, "violations": "optax"}, "violations"),
    ("call", {"id": 1, "ok": True, "out": 1, "violations": [{"m": 1}]}, "violations"),
    ("load", {"id": 1, "ok": True, "functions": "relu sigmoid"}, "functions"),
    ("load", {"id": 1, "ok": True, "functions": ["relu", 3]}, "functions"),
    ("load", {"id": 1, "ok": True}, "functions"),
    ("load", {"id": 1, "ok": True, "functions": ["f"] * 10_001}, "functions"),
    ("call", {"id": 1, "ok": False, "error": dict(GOOD_ERROR, type=None)}, "error.type"),
    ("call", {"id": 1, "ok": False, "error": dict(GOOD_ERROR, message=["x"])}, "error.message"),
    ("call", {"id": 1, "ok": False, "error": dict(GOOD_ERROR, message="x" * 100_001)}, "error.message"),
    ("call", {"id": 1, "ok": False, "error": dict(GOOD_ERROR, frames={"0": 1})}, "error.frames"),
    ("call", {"id": 1, "ok": False, "error": dict(GOOD_ERROR, frames=[[3, "f"]])}, "[line, function, code]"),
    ("call", {"id": 1, "ok": False, "error": dict(GOOD_ERROR, frames=[["3", "f", ""]])}, "frame line"),
    ("call", {"id": 1, "ok": False, "error": dict(GOOD_ERROR, frames=[[-1, "f", ""]])}, "frame line"),
    ("call", {"id": 1, "ok": False, "error": dict(GOOD_ERROR, frames=[[3, None, ""]])}, "frame function"),
    ("call", {"id": 1, "ok": False, "error": dict(GOOD_ERROR, frames=[[1, "f", ""]] * 257)}, "error.frames"),
    ("load", {"id": 1, "ok": False, "error": dict(GOOD_ERROR, line="12")}, "error.line"),
    ("load", {"id": 1, "ok": False, "error": dict(GOOD_ERROR, line=10**20)}, "error.line"),
    ("load", {"id": 1, "ok": False, "error": dict(GOOD_ERROR, text=5)}, "error.text"),
    ("call", {"id": 1, "ok": False, "error": dict(GOOD_ERROR, memory="yes")}, "error.memory"),
    ("call", {"id": 1, "ok": False, "error": dict(GOOD_ERROR, forbidden=1)}, "error.forbidden"),
    ("call", [1, 2], "not a JSON object"),
])
def test_malformed_replies_are_protocol_errors(op, header, needle):
    with pytest.raises(ProtocolError) as info:
        protocol.parse_reply(header, [], op)
    assert needle in str(info.value)


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def forged(selftest, submissions):
    return engine.grade(selftest, submissions("malformed_replies"), seed=SEED, overrides=LIMITS)


@pytest.mark.parametrize("function, needle", [
    ("relu", "the reply's error is not an object"),
    ("relu_backward", "is not [line, function, code]"),
    ("sigmoid", "'ok' is not true or false"),
    ("sample_normal", "error.line is not a line number"),
    ("standardize", "invalid array shape"),  # an .npy header of shape (0, 2**63)
])
def test_a_malformed_reply_costs_its_part(forged, function, needle):
    p = by_function(forged)[function]
    assert p.score == 0 and p.status == "graded"
    assert "sent back a reply the grader could not read" in p.feedback, p.feedback
    assert needle in p.feedback and "running" in p.feedback


def test_grading_goes_on_after_malformed_replies(forged):
    p = by_function(forged)["train_logistic"]
    assert p.passed, p.feedback
    assert forged.status == "complete" and forged.score == p.points


def test_a_malformed_load_reply_is_an_unreadable_file(selftest, submissions):
    """A file that answers its own load with ``"functions": "<names>"`` (a string that a
    parent testing ``fn in functions`` would have searched as text) earns nothing."""
    result = engine.grade(selftest, submissions("malformed_replies", "malformed_load_reply"),
                          seed=SEED, overrides=LIMITS)
    assert result.score == 0 and result.status == "complete"
    assert all("could not read" in p.feedback and "functions" in p.feedback for p in result.parts)


# ----------------------------------------------------------------------------- the disk


def test_deeply_nested_notebook_is_a_source_error():
    with pytest.raises(SourceError, match="nested too deeply"):
        notebook_to_source("[" * 100_000 + "]" * 100_000)


def test_deeply_nested_notebook_scores_zero_with_a_reason(selftest, tmp_path):
    path = tmp_path / "deep.ipynb"
    path.write_text(json.dumps({"cells": []})[:-1] + ", \"x\": " + "[" * 100_000 + "]" * 100_000 + "}")
    result = engine.grade(selftest, path, seed=SEED, overrides=LIMITS)
    assert result.score == 0
    assert all("could not be read" in p.feedback and "nested too deeply" in p.feedback
               for p in result.parts)

"""The parent's side of the wire, fuzzed: whatever bytes a worker writes, decoding raises
:class:`ProtocolError` or nothing, and the judge answers any decoded value with a message.

Inputs are valid encodings (of random pytrees) mutated the way a hostile worker would: bytes
flipped, inserted or cut, header fields replaced by arbitrary JSON, ``.npy`` headers rewritten
with arbitrary shapes, dtypes and orders. Settings keep the whole file to a few seconds and
write no example database into the work tree.
"""

from __future__ import annotations

import io
import json
import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from grader import judge, protocol
from grader.protocol import FrameReader, ProtocolError, Unsupported, WireKey

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ----------------------------------------------------------------------------- strategies

DTYPES = st.sampled_from(["bool", "int8", "int32", "int64", "uint8", "uint64", "float16",
                          "float32", "float64", "complex64", "complex128", ">f4", ">i8"])
ARRAYS = DTYPES.flatmap(lambda dt: hnp.arrays(np.dtype(dt), hnp.array_shapes(min_dims=0, max_dims=3,
                                                                             max_side=4)))
HUGE = st.sampled_from([2**63, -2**63 - 1, 10**400, -10**400])  # beyond int64, beyond float
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), HUGE,
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
PYTREES = st.recursive(
    st.one_of(SCALARS, ARRAYS),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.lists(inner, max_size=4).map(tuple),
                            st.dictionaries(st.one_of(st.text(max_size=4), st.integers(-5, 5)),
                                            inner, max_size=4)),
    max_leaves=12)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner,
                                                                        max_size=4)),
    max_leaves=10)
REPLY_KEYS = ["id", "ok", "out", "error", "functions", "violations", "blobs", "type", "message",
              "frames", "line", "text", "memory", "flood", "forbidden", "array", "list", "key", "program"]


def encode(value) -> tuple[dict, list[bytes]]:
    blobs: list[bytes] = []
    node = protocol.encode_value(value, blobs, permissive=True)
    return {"id": 1, "ok": True, "out": node, "violations": []}, blobs


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def npy_with_header(header: str, data: bytes = b"") -> bytes:
    text = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode("utf-8") + data


def parent_reads(data: bytes, chunks: list[int] = ()) -> None:
    """Everything the parent does with a worker's bytes: frame, then check as each reply kind."""
    reader, got, pos = FrameReader(), None, 0
    for size in list(chunks) + [len(data)]:
        got = reader.feed(data[pos:pos + size])
        pos += size
        if got is not None:
            break
    if got is None:
        return
    header, blobs = got
    for op in ("load", "call", "run_exported"):
        try:
            checked = protocol.parse_reply(header, blobs, op)
        except ProtocolError:
            continue
        assert_clean(checked)


def assert_clean(reply: protocol.WorkerReply) -> None:
    """A reply that passed the schema holds only the types the engine expects."""
    assert type(reply.ok) is bool
    assert all(type(v) is str for v in reply.violations)
    assert all(type(f) is str for f in reply.functions)
    if not reply.ok:
        e = reply.error
        assert type(e.type) is str and type(e.message) is str and type(e.text) is str
        assert e.line is None or type(e.line) is int
        assert all(type(c) is str and type(n) is str and (ln is None or type(ln) is int)
                   for ln, n, c in e.frames)
        assert all(type(x) is bool for x in (e.memory, e.flood, e.forbidden))


# ----------------------------------------------------------------------------- frames


@FUZZ
@given(value=PYTREES)
def test_valid_frames_pass(value):
    """The mutations below start from frames the parent accepts (the fuzzing is not vacuous)."""
    header, blobs = FrameReader().feed(protocol.pack(*encode(value)))
    reply = protocol.parse_reply(header, blobs, "call")
    assert reply.ok and reply.error is None
    assert_clean(reply)


@FUZZ
@given(value=PYTREES, flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
       chunks=st.lists(st.integers(1, 64), max_size=3))
def test_frames_with_flipped_bytes(value, flips, chunks):
    data = bytearray(protocol.pack(*encode(value)))
    for i, b in flips:
        data[i % len(data)] = b
    try:
        parent_reads(bytes(data), chunks)
    except ProtocolError:
        pass


@FUZZ
@given(value=PYTREES, cut=st.integers(0, 10**6), extra=st.binary(max_size=16))
def test_frames_truncated_or_extended(value, cut, extra):
    data = protocol.pack(*encode(value))
    for mutated in (data[:cut % (len(data) + 1)], data + extra, extra + data):
        try:
            parent_reads(mutated)
        except ProtocolError:
            pass


@FUZZ
@given(value=PYTREES, key=st.sampled_from(REPLY_KEYS), new=JSON, drop=st.sampled_from(REPLY_KEYS))
def test_frames_with_rewritten_header_fields(value, key, new, drop):
    header, blobs = encode(value)
    header[key] = new
    header.pop(drop, None)
    header["error"] = {"type": "ValueError", "message": "m", key: new}
    for h in (header, {**header, "ok": False}):
        raw = json.dumps(h).encode()
        try:
            parent_reads(struct.pack(">I", len(raw)) + raw + b"".join(blobs))
        except ProtocolError:
            pass


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(data):
    try:
        parent_reads(data)
        parent_reads(struct.pack(">I", len(data)) + data)
    except ProtocolError:
        pass


@FUZZ
@given(header=st.dictionaries(st.sampled_from(REPLY_KEYS), JSON, max_size=6),
       blobs=st.lists(st.binary(max_size=200), max_size=3))
def test_reply_headers_from_arbitrary_json(header, blobs):
    for op in ("load", "call", "run_exported"):
        try:
            assert_clean(protocol.parse_reply(header, blobs, op))
        except ProtocolError:
            pass


# ----------------------------------------------------------------------------- .npy blobs

SHAPES = st.one_of(
    st.lists(st.integers(-2**64, 2**64), max_size=5).map(tuple),
    st.lists(st.sampled_from([0, 1, 2, 2**31, 2**62, 2**63, -1]), max_size=40).map(tuple),
    st.sampled_from(["True", "(True, 2)", "(1.5,)", "[2, 3]", "None", "'x'", "(0, 2**63)", "((1,),)"]),
)
DESCRS = st.one_of(st.sampled_from(["<f4", ">f8", "|b1", "<c16", "|u1", "<i8", "|O", "<U3", "|V8",
                                    "<M8[s]", "[('a', '<f4')]", "('<f4', (2,))", "<f2", "<g"]),
                   st.text(max_size=6).map(repr))


@FUZZ
@given(descr=DESCRS, fortran=st.sampled_from(["True", "False", "0", "'yes'"]), shape=SHAPES,
       data=st.binary(max_size=64))
@example(descr="'<f4'", fortran="False", shape="(0, 2**63)", data=b"")
def test_npy_headers_with_arbitrary_fields(descr, fortran, shape, data):
    shape_text = shape if isinstance(shape, str) else repr(shape)
    descr_text = descr if descr.startswith(("'", "[", "(", '"')) else repr(descr)
    blob = npy_with_header(f"{{'descr': {descr_text}, 'fortran_order': {fortran}, "
                           f"'shape': {shape_text}, }}", data)
    check_npy(blob)


@FUZZ
@given(arr=ARRAYS, flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1,
                                  max_size=4), cut=st.integers(0, 10**6))
def test_npy_blobs_mutated(arr, flips, cut):
    data = bytearray(npy(arr))
    for i, b in flips:
        data[i % len(data)] = b
    check_npy(bytes(data))
    check_npy(bytes(data[:cut % (len(data) + 1)]))


def check_npy(blob: bytes) -> None:
    """Decoding raises only ProtocolError; what it returns is a plain native array of at most
    the data that was sent."""
    try:
        arr = protocol.decode_value({"array": 0}, [blob])
    except ProtocolError:
        return
    assert type(arr) is np.ndarray and arr.dtype.kind in "biufc" and arr.dtype.isnative
    assert arr.nbytes <= len(blob)


# ----------------------------------------------------------------------------- regressions


@pytest.mark.parametrize("shape", ["(0, %d)" % 2**63, "(0, %d)" % 2**40, "(%d,)" % 2**63, "(-1,)",
                                   "(True,)", "(1.5,)", "(0,) * 40", "(0, %d, %d)" % (2**62, 2**62)])
def test_impossible_npy_shapes_are_protocol_errors(shape):
    with pytest.raises(ProtocolError):
        protocol.npy_to_array(npy_with_header(f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}"))


def test_big_endian_arrays_arrive_in_native_order():
    arr = protocol.npy_to_array(npy(np.arange(3, dtype=">f4")))
    assert arr.dtype == np.float32 and arr.dtype.isnative and arr.tolist() == [0.0, 1.0, 2.0]


def test_a_blob_referenced_twice_is_refused():
    """Otherwise a 200,000-node list could decode into as many copies of one large array."""
    blob = npy(np.zeros(4, np.float32))
    with pytest.raises(ProtocolError, match="referenced twice"):
        protocol.decode_value({"list": [{"array": 0}, {"array": 0}]}, [blob])


@pytest.mark.parametrize("depth", [40, 1_000, 100_000])
def test_deep_nesting_anywhere_is_a_protocol_error(depth):
    nested = "[" * depth + "]" * depth
    for raw in (nested, '{"id": 1, "ok": true, "out": %s}' % nested,
                '{"id": 1, "ok": false, "error": %s}' % nested):
        data = raw.encode()
        with pytest.raises(ProtocolError):
            header, blobs = FrameReader().feed(struct.pack(">I", len(data)) + data)
            protocol.parse_reply(header, blobs, "call")


# ----------------------------------------------------------------------------- the judge

DECODED = st.recursive(
    st.one_of(SCALARS, ARRAYS.map(lambda a: a.astype(a.dtype.newbyteorder("="))),
              st.builds(Unsupported, st.text(max_size=8)),
              hnp.arrays(np.uint32, st.sampled_from([(2,), (3, 2)])).map(lambda d: WireKey(d, "threefry2x32"))),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.lists(inner, max_size=3).map(tuple),
                            st.dictionaries(st.sampled_from(["w", "b", 0]), inner, max_size=3)),
    max_leaves=8)
EXPECTED = [
    np.zeros((2, 3), np.float32), np.arange(4, dtype=np.int32), np.array(1.5, np.float32),
    np.array(7, np.int64), np.array([True, False]), np.ones(2, np.complex64),
    1.5, 3, True, None, "text", (np.zeros(2, np.float32), 1.0), [1, 2.0],
    {"w": np.zeros(2, np.float32), "b": np.zeros((), np.float32)},
    WireKey(np.zeros(2, np.uint32), "threefry2x32"),
]


@FUZZ
@given(out=DECODED, check_dtype=st.booleans())
@example(out=10**400, check_dtype=True)
@example(out=[-(10**400), 2**70], check_dtype=False)
@example(out=np.array([np.inf, -np.inf]), check_dtype=False)
def test_the_judge_answers_any_decoded_value(out, check_dtype):
    for expected in EXPECTED:
        msg = judge.compare(out, expected, check_dtype=check_dtype)
        assert msg is None or isinstance(msg, str)
        shape_msg = judge.compare(out, expected, values=False)
        assert shape_msg is None or isinstance(shape_msg, str)
        hint = judge.diagnose(out, [("the mistake", expected)], rtol=1e-5, atol=1e-6,
                              check_dtype=check_dtype)
        assert hint in (None, "the mistake")
    assert isinstance(judge.identical(out, out), bool)


def test_huge_python_ints_are_wrong_answers_not_crashes():
    assert "too large" in judge.compare(10**400, 1.5)
    assert "too large" in judge.compare(2**70, np.array(1.5, np.float32))
    assert judge.compare(10**400, 10**400) is None
    assert "expected 1.5" in judge.compare(math.inf, 1.5)

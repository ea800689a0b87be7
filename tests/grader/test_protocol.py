"""The wire format: round trips, and a parent decoder that survives any bytes."""

from __future__ import annotations

import io
import json
import math
import os
import struct

import numpy as np
import pytest

from grader import protocol
from grader.protocol import FrameReader, ProtocolError


def roundtrip(value, **kw):
    blobs: list[bytes] = []
    node = protocol.encode_value(value, blobs, **kw)
    frame = protocol.pack({"out": node}, blobs)
    header, got = FrameReader().feed(frame)
    return protocol.decode_value(header["out"], got)


def test_pytree_roundtrip():
    value = {"W1": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros((), np.float64),
             "seq": [1, 2.5, None, True, "text", (np.int32(3), np.array([True, False]))],
             7: math.inf}
    out = roundtrip(value)
    assert out["W1"].dtype == np.float32 and out["W1"].shape == (2, 3)
    assert out["b"].shape == () and out["b"].dtype == np.float64
    assert out["seq"][:5] == [1, 2.5, None, True, "text"]
    assert isinstance(out["seq"][5], tuple) and out["seq"][5][0].dtype == np.int32
    assert out[7] == math.inf
    assert type(out["W1"]) is np.ndarray and out["W1"].flags.writeable


def test_fortran_and_noncontiguous_arrays():
    a = np.asfortranarray(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(roundtrip(a), a)
    np.testing.assert_array_equal(roundtrip(a[:, ::2]), a[:, ::2])


def test_keys_roundtrip_and_rewrap():
    import jax

    key = jax.random.key(3)
    blobs: list[bytes] = []

    def key_data(x):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return np.asarray(jax.random.key_data(x)), "threefry2x32"
        return None

    node = protocol.encode_value((key, 2), blobs, key_data=key_data)
    out = protocol.decode_value(node, blobs, make_key=lambda d, impl: jax.random.wrap_key_data(d, impl=impl))
    assert jax.random.key_data(out[0]).tolist() == jax.random.key_data(key).tolist()
    assert isinstance(protocol.decode_value(node, blobs)[0], protocol.WireKey)


def test_permissive_encoding_of_odd_values():
    class Weird:
        pass

    blobs: list[bytes] = []
    node = protocol.encode_value([Weird(), np.array([object()], dtype=object)], blobs, permissive=True)
    out = protocol.decode_value(node, blobs)
    assert isinstance(out[0], protocol.Unsupported) and "Weird" in out[0].description
    assert isinstance(out[1], protocol.Unsupported) and "object" in out[1].description
    with pytest.raises(ProtocolError):
        protocol.encode_value(Weird(), [])


def npy(arr, allow_pickle=False):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def frame(header_bytes: bytes, tail: bytes = b"") -> bytes:
    return struct.pack(">I", len(header_bytes)) + header_bytes + tail


def _explode():  # pragma: no cover - must never run
    raise AssertionError("unpickled!")


class Bomb:
    def __reduce__(self):
        return (_explode, ())


HOSTILE_FRAMES = {
    "not json": frame(b"{not json"),
    "not an object": frame(b"[1, 2, 3]"),
    "bad utf8": frame(b"\xff\xfe"),
    "huge int": frame(b'{"out": ' + b"9" * 5000 + b"}"),
    "deep": frame(b'{"out": ' + b'{"list": [' * 5000 + b"]}" * 5000 + b"}"),
    "negative blob": frame(b'{"blobs": [-1]}'),
    "blob not int": frame(b'{"blobs": ["12"]}'),
    "huge blob": frame(json.dumps({"blobs": [2**40]}).encode()),
    "trailing bytes": frame(b'{"out": 1}', b"extra"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FRAMES))
def test_hostile_frames_raise_protocol_error(name):
    with pytest.raises(ProtocolError):
        FrameReader().feed(HOSTILE_FRAMES[name])


def test_huge_header_length_is_refused_before_reading():
    with pytest.raises(ProtocolError):
        FrameReader().feed(struct.pack(">I", 2**31) + b"{")


@pytest.mark.parametrize("node", [
    [1, 2],                                   # untagged list
    {"list": 1},
    {"dict": [[1.5, 2]]},                     # float key
    {"dict": [["a", 1], ["a", 2]]},           # duplicate key
    {"array": 5},                             # no such blob
    {"array": 0, "extra": 1},
    {"key": 0, "impl": 3},
    {"tuple": [], "list": []},
    {"unsupported": 3},
    {"mystery": 1},
])
def test_malformed_nodes(node):
    with pytest.raises(ProtocolError):
        protocol.decode_value(node, [npy(np.zeros(2, np.float32))])


@pytest.mark.parametrize("blob", [
    npy(np.array([Bomb()], dtype=object), allow_pickle=True),     # pickled object array
    npy(np.zeros(3, dtype=[("a", "f4"), ("b", "i4")])),           # structured dtype
    npy(np.array(["a", "b"])),                                    # unicode strings
    npy(np.zeros(4, np.float32))[:-4],                            # truncated data
    npy(np.zeros(4, np.float32)) + b"\x00" * 4,                   # extra data
    b"\x93NUMPY\x01\x00" + b"garbage",
    b"not npy at all",
])
def test_hostile_arrays_are_refused(blob):
    with pytest.raises(ProtocolError):
        protocol.decode_value({"array": 0}, [blob])


def test_lying_npy_header_allocates_nothing():
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000,), }"
    header = header.ljust(118) + "\n"
    blob = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\x00" * 8
    with pytest.raises(ProtocolError):
        protocol.decode_value({"array": 0}, [blob])


def test_random_bytes_never_escape_as_other_exceptions():
    rng = np.random.default_rng(0)
    base = protocol.pack({"out": {"array": 0}}, [npy(np.arange(5, dtype=np.float32))])
    for _ in range(300):
        data = bytearray(base)
        for i in rng.integers(0, len(data), size=int(rng.integers(1, 6))):
            data[int(i)] = int(rng.integers(0, 256))
        try:
            got = FrameReader().feed(bytes(data))
            if got is not None:
                protocol.decode_value(got[0].get("out"), got[1])
        except ProtocolError:
            pass


def test_pack_request_refuses_what_the_worker_would_refuse(monkeypatch):
    """The parent's own check (a request too large is the grader's error, never a worker that
    stopped on it): the blob table's limits are the worker's reader's, the header's is
    REQUEST_HEADER_BYTES; what passes reads back unchanged."""
    r, w = os.pipe()
    try:
        os.write(w, protocol.pack_request({"op": "call", "x": 1}, [b"abc"]))
        assert protocol.read_frame_blocking(r, max_header=protocol.REQUEST_HEADER_BYTES) == (
            {"op": "call", "x": 1, "blobs": [3]}, [b"abc"])
    finally:
        os.close(r)
        os.close(w)
    with pytest.raises(protocol.RequestTooLarge, match="malformed blob table"):
        protocol.pack_request({"op": "call"}, [b""] * (protocol.MAX_BLOBS + 1))
    monkeypatch.setattr(protocol, "MAX_PAYLOAD_BYTES", 8)
    with pytest.raises(protocol.RequestTooLarge, match="larger than 8 bytes"):
        protocol.pack_request({"op": "call"}, [b"12345", b"6789"])
    monkeypatch.setattr(protocol, "REQUEST_HEADER_BYTES", 20)
    with pytest.raises(protocol.RequestTooLarge, match="the worker reads at most 20"):
        protocol.pack_request({"op": "call", "pad": "x" * 40})

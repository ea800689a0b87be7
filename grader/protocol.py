"""Wire format between the trusted grader (parent) and the worker that runs student code.

Nothing here uses pickle. A message is one frame::

    u32 big-endian  n   length of the JSON header
    n bytes             UTF-8 JSON object; its "blobs" entry lists the byte length of each blob
    blob bytes          the blobs, back to back, each a complete ``.npy`` file

Values (pytrees) are JSON nodes. Scalars stay plain JSON (``null``, ``true``, ``3``,
``2.5``, ``"text"``; NaN and infinities as JSON's ``NaN``/``Infinity`` extension); containers
and arrays are tagged one-key objects::

    {"list": [...]}  {"tuple": [...]}  {"dict": [[key, value], ...]}   (keys str or int)
    {"array": i}                         blob i, a .npy of a bool/int/uint/float/complex dtype
    {"key": i, "impl": "threefry2x32"}   a JAX typed PRNG key: blob i holds its key data;
                                         the worker rewraps it with jax.random.wrap_key_data
    {"unsupported": "TypeName"}          (worker -> parent) a value that cannot cross;
    {"baddtype": "bfloat16", "shape": [..]}   the judge turns both into feedback

The parent's decoding must survive *any* bytes a hostile worker writes: :class:`FrameReader`,
:func:`parse_header`, :func:`decode_value` and :func:`parse_reply` are total, every failure
(bad JSON, absurd lengths, deep nesting, object or structured dtypes, a ``.npy`` header that
claims more data than was sent or an impossible shape, a reply field of the wrong type)
raises :class:`ProtocolError` and nothing else, which the engine turns into "the worker sent
an unreadable reply" for that part. ``.npy`` blobs are parsed by hand (header first, its
shape bounded, then ``np.frombuffer`` of exactly the announced bytes) so a lying header can
never make the parent allocate memory it was not sent; each blob may be referenced once, so
a small message cannot decode into many copies of a large array.

Replies of the worker (``load`` and ``call``) are checked field by field against the schema
in :func:`parse_reply` before the parent reads any of them; it returns a frozen
:class:`WorkerReply` and the engine reads nothing else.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

# Caps, chosen far above what any assignment needs and far below what hurts the parent.
MAX_HEADER_BYTES = 4 * 2**20  # a worker's reply
# A request from the parent: a load request carries the student's code (up to the engine's
# 4 MiB code limit) twice (a notebook's cells and their joined source), JSON-escaped (a
# non-ASCII character as up to 12 bytes), so its cap follows the code limit, not the replies'.
REQUEST_HEADER_BYTES = 128 * 2**20
# Time limits count processor time; code that waits instead of computing is stopped at this
# many times the limit in wall-clock time (the parent's requests, a notebook's load timer).
WAIT_SLACK = 3.0
MAX_PAYLOAD_BYTES = 256 * 2**20
MAX_BLOBS = 10_000
MAX_DEPTH = 32
MAX_NODES = 200_000
MAX_STRING = 1_000_000
MAX_NDIM = 32
# A dimension, and the product of the nonzero dimensions, of any array that crosses: an array
# holds at most MAX_PAYLOAD_BYTES of data, and a shape such as (0, 2**63) is refused before
# numpy sees it.
MAX_ARRAY_ELEMENTS = MAX_PAYLOAD_BYTES

_ALLOWED_KINDS = "biufc"


class ProtocolError(Exception):
    """The other side sent something that is not a valid message."""


# --------------------------------------------------------------------------- framing


def pack(header: dict, blobs: list[bytes] | tuple[bytes, ...] = ()) -> bytes:
    """One frame: length-prefixed JSON header followed by the blobs."""
    header = dict(header)
    header["blobs"] = [len(b) for b in blobs]
    raw = json.dumps(header, allow_nan=True, separators=(",", ":")).encode("utf-8")
    return struct.pack(">I", len(raw)) + raw + b"".join(blobs)


def write_frame(fd: int, header: dict, blobs: list[bytes] | tuple[bytes, ...] = ()) -> None:
    data = memoryview(pack(header, blobs))
    while data:
        n = os.write(fd, data)
        data = data[n:]


def parse_header(raw: bytes, max_payload: int = MAX_PAYLOAD_BYTES) -> tuple[dict, list[int]]:
    """Validate a header; return it and the list of blob sizes it announces."""
    try:
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(f"malformed message header ({type(exc).__name__})") from None
    if not isinstance(header, dict):
        raise ProtocolError("message header is not a JSON object")
    sizes = header.get("blobs", [])
    _check_blob_sizes(sizes, max_payload)
    return header, sizes


def _check_blob_sizes(sizes: Any, max_payload: int) -> None:
    """A frame's blob table: a list of at most ``MAX_BLOBS`` sizes totalling at most
    ``max_payload`` bytes. Raises :class:`ProtocolError`."""
    if not isinstance(sizes, list) or len(sizes) > MAX_BLOBS:
        raise ProtocolError("malformed blob table")
    if not all(type(s) is int and 0 <= s <= max_payload for s in sizes):
        raise ProtocolError("malformed blob table")
    if sum(sizes) > max_payload:
        raise ProtocolError(f"message larger than {max_payload} bytes")


class FrameReader:
    """Incremental frame parser for the parent's non-blocking reads (see ``runner``).

    ``feed(bytes)`` returns a complete ``(header, blobs)`` once one has arrived, else ``None``.
    Raises :class:`ProtocolError` as soon as the bytes cannot be a valid frame.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD_BYTES):
        self.max_payload = max_payload
        self.buf = bytearray()
        self.header: dict | None = None
        self.sizes: list[int] = []
        self.header_end = 0

    def feed(self, data: bytes) -> tuple[dict, list[bytes]] | None:
        self.buf += data
        if self.header is None:
            if len(self.buf) < 4:
                return None
            (n,) = struct.unpack(">I", bytes(self.buf[:4]))
            if n > MAX_HEADER_BYTES:
                raise ProtocolError(f"message header of {n} bytes is too large")
            if len(self.buf) < 4 + n:
                return None
            self.header, self.sizes = parse_header(bytes(self.buf[4 : 4 + n]), self.max_payload)
            self.header_end = 4 + n
        need = self.header_end + sum(self.sizes)
        if len(self.buf) < need:
            return None
        if len(self.buf) > need:
            raise ProtocolError("unexpected bytes after a message")
        blobs, pos = [], self.header_end
        for s in self.sizes:
            blobs.append(bytes(self.buf[pos : pos + s]))
            pos += s
        header = self.header
        self.buf, self.header, self.sizes, self.header_end = bytearray(), None, [], 0
        return header, blobs


class RequestTooLarge(ValueError):
    """The parent's own request is one its worker would refuse to read (a grader fault)."""


def pack_request(header: dict, blobs: list[bytes] | tuple[bytes, ...] = ()) -> bytes:
    """:func:`pack` for a request of the parent to its worker, checked against the limits the
    worker reads requests with (``REQUEST_HEADER_BYTES``, ``MAX_PAYLOAD_BYTES``,
    ``MAX_BLOBS``), so that a request too large is the grader's error, raised here, and never
    a worker that stopped on it (which would look like the student's code ending it).

    Raises:
        RequestTooLarge: the header or the blobs exceed what the worker reads.
    """
    try:
        _check_blob_sizes([len(b) for b in blobs], MAX_PAYLOAD_BYTES)
    except ProtocolError as exc:
        raise RequestTooLarge(f"a request the worker would refuse: {exc}") from None
    data = pack(header, blobs)
    (n,) = struct.unpack(">I", data[:4])
    if n > REQUEST_HEADER_BYTES:
        raise RequestTooLarge(f"a request header of {n} bytes (the worker reads at most "
                              f"{REQUEST_HEADER_BYTES})")
    return data


# A worker that cannot read its parent's request exits with this status. The parent only sends
# requests that pass pack_request, so the channel was disturbed from inside the worker.
UNREADABLE_REQUEST_EXIT = 86


def read_frame_blocking(fd: int, max_payload: int = MAX_PAYLOAD_BYTES,
                        max_header: int = MAX_HEADER_BYTES) -> tuple[dict, list[bytes]]:
    """Blocking read of one frame (used by the worker, which trusts its parent: it reads
    requests with ``max_header=REQUEST_HEADER_BYTES``)."""

    def read_exact(n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            chunk = os.read(fd, min(n - got, 1 << 20))
            if not chunk:
                raise EOFError("pipe closed")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    (n,) = struct.unpack(">I", read_exact(4))
    if n > max_header:
        raise ProtocolError("header too large")
    header, sizes = parse_header(read_exact(n), max_payload)
    return header, [read_exact(s) for s in sizes]


# --------------------------------------------------------------------------- arrays


def array_to_npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a if a.flags.c_contiguous else np.array(a, order="C"), allow_pickle=False)
    return buf.getvalue()


def npy_to_array(blob: bytes) -> np.ndarray:
    """Parse a ``.npy`` blob defensively; returns a fresh, writable, plain ndarray."""
    fp = io.BytesIO(blob)
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
        else:
            raise ValueError("unknown .npy version")
    except Exception as exc:  # noqa: BLE001 - any parse failure is a protocol error
        raise ProtocolError(f"invalid array data ({type(exc).__name__})") from None
    if not isinstance(dtype, np.dtype) or dtype.kind not in _ALLOWED_KINDS \
            or dtype.fields is not None or dtype.subdtype is not None or dtype.hasobject:
        raise ProtocolError(f"array of unsupported dtype {str(dtype)[:40]!r}")
    if type(fortran) is not bool:
        raise ProtocolError("invalid array header")
    if type(shape) is not tuple or len(shape) > MAX_NDIM \
            or not all(type(d) is int and 0 <= d <= MAX_ARRAY_ELEMENTS for d in shape) \
            or math.prod(d for d in shape if d) > MAX_ARRAY_ELEMENTS:
        raise ProtocolError("invalid array shape")
    count = math.prod(shape)
    start = fp.tell()
    if len(blob) - start != count * dtype.itemsize:
        raise ProtocolError("array data does not match its header")
    flat = np.frombuffer(blob, dtype=dtype, count=count, offset=start)
    order = "F" if fortran else "C"
    # Native byte order: a big-endian float32 is a float32 to the judge.
    return np.array(flat.reshape(shape, order=order), dtype=dtype.newbyteorder("="), copy=True,
                    order="C")


# --------------------------------------------------------------------------- pytrees


def encode_value(value: Any, blobs: list[bytes], *, key_data: Callable | None = None,
                 permissive: bool = False, _depth: int = 0) -> Any:
    """Turn a pytree into JSON nodes, appending array blobs to ``blobs``.

    ``key_data(x)`` returns ``(raw_uint32_ndarray, impl_name)`` if ``x`` is a typed PRNG key
    array, else ``None`` (supplied by callers that have JAX imported). With ``permissive``
    (the worker encoding a student's return value) anything that cannot cross becomes an
    ``unsupported``/``baddtype`` node instead of raising.
    """
    if _depth > MAX_DEPTH:
        if permissive:
            return {"unsupported": "a value nested too deeply"}
        raise ProtocolError("value nested too deeply")
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:
        if abs(value) > 2**63 and permissive:
            return float(value) if abs(value) < 2**1023 else {"unsupported": "an int too large to send"}
        return value
    if t is float:
        return value
    rec = lambda v: encode_value(v, blobs, key_data=key_data, permissive=permissive,  # noqa: E731
                                 _depth=_depth + 1)
    if t is list:
        return {"list": [rec(v) for v in value]}
    if t is tuple:
        return {"tuple": [rec(v) for v in value]}
    if t is dict:
        items = []
        for k, v in value.items():
            if type(k) not in (str, int):
                if permissive:
                    return {"unsupported": f"a dict with a {type(k).__name__} key"}
                raise ProtocolError("dict keys must be str or int")
            items.append([k, rec(v)])
        return {"dict": items}
    if key_data is not None:
        kd = key_data(value)
        if kd is not None:
            raw, impl = kd
            blobs.append(array_to_npy(np.asarray(raw)))
            return {"key": len(blobs) - 1, "impl": str(impl)}
    if isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "__array__") and hasattr(value, "dtype"):
        try:
            arr = np.asarray(value)
        except Exception:  # noqa: BLE001
            if permissive:
                return {"unsupported": _type_name(value)}
            raise
        if arr.dtype.kind not in _ALLOWED_KINDS or arr.dtype.fields is not None or arr.dtype.hasobject \
                or arr.dtype.type.__module__ not in ("numpy", "builtins"):
            if permissive:
                return {"baddtype": str(arr.dtype)[:40], "shape": [int(d) for d in arr.shape]}
            raise ProtocolError(f"cannot send dtype {arr.dtype}")
        blobs.append(array_to_npy(arr))
        return {"array": len(blobs) - 1}
    if permissive:
        # Subclasses of builtins (a NamedTuple, an OrderedDict, a float subclass) cross as
        # their plain base type; anything else is reported by type name.
        if isinstance(value, tuple):
            return rec(tuple(value))
        if isinstance(value, dict):
            return rec(dict(value))
        if isinstance(value, list):
            return rec(list(value))
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int):  # an int subclass: the same bounds as a plain int
            return rec(int.__int__(value))
        if isinstance(value, float):
            return float.__float__(value)
        return {"unsupported": _type_name(value)}
    raise ProtocolError(f"cannot send a value of type {type(value).__name__}")


def _type_name(value: Any) -> str:
    try:
        name = type(value).__qualname__
    except Exception:  # noqa: BLE001
        name = "object"
    return str(name)[:80] if isinstance(name, str) else "object"


class _Budget:
    """What one decoded value may cost: node count, and each blob used at most once."""

    def __init__(self) -> None:
        self.nodes = 0
        self.blobs: set[int] = set()

    def tick(self) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ProtocolError("value has too many elements")

    def blob(self, index: Any, blobs: list[bytes], ok: bool) -> bytes:
        if not ok or type(index) is not int or not 0 <= index < len(blobs):
            raise ProtocolError("malformed array reference")
        if index in self.blobs:
            raise ProtocolError("an array blob referenced twice")
        self.blobs.add(index)
        return blobs[index]


class Unsupported:
    """A value the worker could not send (parent side); carries what the judge reports."""

    def __init__(self, description: str):
        self.description = description

    def __repr__(self) -> str:
        return f"Unsupported({self.description!r})"


class WireKey:
    """A PRNG key as received by the parent: raw key data plus the impl name."""

    def __init__(self, data: np.ndarray, impl: str):
        self.data, self.impl = data, impl

    def __repr__(self) -> str:
        return f"WireKey({self.impl}, shape={self.data.shape})"


def decode_value(node: Any, blobs: list[bytes], *, make_key: Callable | None = None,
                 _depth: int = 0, _budget: _Budget | None = None) -> Any:
    """Inverse of :func:`encode_value`. Raises :class:`ProtocolError` on anything invalid.

    ``make_key(data, impl)`` builds a key (the worker passes one that calls
    ``jax.random.wrap_key_data``); without it keys decode to :class:`WireKey`.
    """
    budget = _budget or _Budget()
    budget.tick()
    if _depth > MAX_DEPTH:
        raise ProtocolError("value nested too deeply")
    if node is None or type(node) in (bool, int, float):
        return node
    if type(node) is str:
        if len(node) > MAX_STRING:
            raise ProtocolError("string too long")
        return node
    if type(node) is not dict or len(node) not in (1, 2):
        raise ProtocolError("malformed value")
    rec = lambda v: decode_value(v, blobs, make_key=make_key, _depth=_depth + 1,  # noqa: E731
                                 _budget=budget)
    if "list" in node or "tuple" in node:
        seq = node.get("list", node.get("tuple"))
        if len(node) != 1 or type(seq) is not list:
            raise ProtocolError("malformed sequence")
        items = [rec(v) for v in seq]
        return items if "list" in node else tuple(items)
    if "dict" in node:
        items = node["dict"]
        if len(node) != 1 or type(items) is not list:
            raise ProtocolError("malformed dict")
        out: dict = {}
        for item in items:
            if type(item) is not list or len(item) != 2 or type(item[0]) not in (str, int):
                raise ProtocolError("malformed dict entry")
            if item[0] in out:
                raise ProtocolError("duplicate dict key")
            out[item[0]] = rec(item[1])
        return out
    if "array" in node:
        return npy_to_array(budget.blob(node["array"], blobs, len(node) == 1))
    if "key" in node:
        impl = node.get("impl")
        if type(impl) is not str or len(impl) > 64:
            raise ProtocolError("malformed key")
        data = npy_to_array(budget.blob(node["key"], blobs, True))
        if data.dtype != np.uint32:
            raise ProtocolError("malformed key data")
        return make_key(data, impl) if make_key else WireKey(data, impl)
    if "unsupported" in node:
        desc = node["unsupported"]
        if len(node) != 1 or type(desc) is not str:
            raise ProtocolError("malformed value")
        return Unsupported(desc[:200])
    if "baddtype" in node:
        dt, shape = node.get("baddtype"), node.get("shape")
        if type(dt) is not str or type(shape) is not list or not all(type(d) is int for d in shape):
            raise ProtocolError("malformed value")
        return Unsupported(f"an array of dtype {dt[:40]} and shape {tuple(shape[:32])}")
    raise ProtocolError("malformed value")



# --------------------------------------------------------------------------- replies

# Caps on reply fields, far above what the worker sends (messages <= 4,000 characters, 8
# frames, 2,000 names) and far below what could hurt the parent.
MAX_TEXT = 100_000
MAX_FRAMES = 256
MAX_NAMES = 10_000
MAX_LINE = 10**9


@dataclass(frozen=True)
class WorkerError:
    """An exception raised by student code, as the worker described it (every field checked).

    ``frames`` are ``(line, function, source line)`` in the student's file, innermost last
    (``line`` may be ``None`` where Python knows none); ``line``/``text`` locate a syntax error;
    ``memory``, ``flood`` and ``forbidden`` mark running out of memory, writing past the output
    cap and a refused import.
    """

    type: str
    message: str
    frames: tuple[tuple[int | None, str, str], ...] = ()
    line: int | None = None
    text: str = ""
    memory: bool = False
    flood: bool = False
    forbidden: bool = False


def _parse_files(items: Any, blobs: list[bytes], budget: "_Budget") -> tuple[tuple[str, bytes], ...]:
    if type(items) is not list or len(items) > MAX_BLOBS:
        raise ProtocolError("the reply's 'files' is not a list of [name, blob]")
    out = []
    for item in items:
        if type(item) is not list or len(item) != 2 or type(item[0]) is not str or len(item[0]) > 255:
            raise ProtocolError("the reply's 'files' is not a list of [name, blob]")
        data = npy_to_array(budget.blob(item[1], blobs, True))
        if data.dtype != np.uint8 or data.ndim != 1:
            raise ProtocolError("a file in the reply is not a 1-D uint8 array")
        out.append((item[0], data.tobytes()))
    return tuple(out)


@dataclass(frozen=True)
class WorkerReply:
    """A checked reply to ``load`` or ``call``: what the engine may read, and nothing else.

    ``ok`` replies carry ``functions`` (``load``: the callables the file defines) or ``out``
    (``call``, ``run_exported``: the decoded result), and for a ``call`` in mode ``export``
    ``program``, the serialized program as a 1-D ``uint8`` array; the others carry ``error``.
    ``violations`` lists the modules whose import the worker's policy refused during the
    request.
    """

    ok: bool
    violations: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    out: Any = None
    error: WorkerError | None = None
    program: np.ndarray | None = None
    files: tuple[tuple[str, bytes], ...] = ()  # cache_out: (entry name, its bytes)
    # load of a notebook: (cell number, skipped: it did not parse, its error) per cell that
    # did not parse or raised (grader.nbexec)
    cell_errors: tuple[tuple[int, bool, WorkerError], ...] = ()


def parse_reply(header: Any, blobs: list[bytes], op: str) -> WorkerReply:
    """Check a worker's reply to ``op`` (``"load"``, ``"call"``, ``"run_exported"``,
    ``"cache_out"``) against its schema.

    Required: ``id`` (an int; the runner matched it with the request), ``ok`` (a bool), then
    ``functions`` (a list of str) for an ok ``load``, ``out`` (a value node, decoded here with
    ``blobs``) for an ok ``call``/``run_exported``, ``error`` for a failed request: an object
    with ``type`` and ``message`` (str) and optionally ``frames`` (a list of
    ``[line, function, code]``), ``line`` (int or null), ``text`` (str),
    ``memory``/``flood``/``forbidden`` (bool). Optional: ``violations`` (a list of str);
    ``cell_errors`` on an ok ``load`` (a list of such error objects, each with ``cell`` (int)
    and ``skipped`` (bool));
    ``program`` on an ok ``call`` (the index of a blob holding a 1-D ``uint8`` array, not also
    used by ``out``); ``files`` on an ok ``cache_out`` (a list of ``[name, blob index]``, each
    blob a 1-D ``uint8`` array; the names are checked by whoever writes them, see
    :mod:`grader.worker_cache`). Lengths, counts and line numbers are capped (``MAX_*``). Fields the
    engine does not use (``seconds``, anything a newer worker adds) are not read. Anything
    else raises :class:`ProtocolError`, nothing else does.
    """
    if op not in ("load", "call", "run_exported", "cache_out"):
        raise ValueError(f"no reply schema for op {op!r}")
    if type(header) is not dict:
        raise ProtocolError("the reply is not a JSON object")
    if type(header.get("id")) is not int:
        raise ProtocolError("the reply has no request id")
    ok = header.get("ok")
    if type(ok) is not bool:
        raise ProtocolError("the reply's 'ok' is not true or false")
    violations = _str_list(header.get("violations", []), "violations", 1000)
    if not ok:
        return WorkerReply(False, violations, error=_parse_error(header.get("error")))
    if op == "load":
        return WorkerReply(True, violations, functions=_str_list(header.get("functions"),
                                                                  "functions", MAX_NAMES),
                           cell_errors=_cell_errors(header.get("cell_errors", [])))
    blobs, budget = list(blobs), _Budget()
    if op == "cache_out":
        return WorkerReply(True, violations, files=_parse_files(header.get("files"), blobs, budget))
    if "out" not in header:
        raise ProtocolError("the reply has no result")
    out = decode_value(header["out"], blobs, _budget=budget)
    program = None
    if op == "call" and "program" in header:
        program = npy_to_array(budget.blob(header["program"], blobs, True))
        if program.dtype != np.uint8 or program.ndim != 1:
            raise ProtocolError("the reply's program is not a 1-D uint8 array")
    return WorkerReply(True, violations, out=out, program=program)


def _text(value: Any, what: str) -> str:
    """A string of the reply, made valid UTF-8 text (a lone surrogate an exception message
    smuggled in becomes an escape: text enters the parent valid, see grader.notebook)."""
    if type(value) is not str or len(value) > MAX_TEXT:
        raise ProtocolError(f"the reply's {what} is not a string of at most {MAX_TEXT} characters")
    from grader.notebook import valid_text

    return valid_text(value)


def _cell_errors(items: Any) -> tuple[tuple[int, bool, WorkerError], ...]:
    if type(items) is not list or len(items) > MAX_FRAMES:
        raise ProtocolError(f"the reply's cell_errors is not a list of at most {MAX_FRAMES} errors")
    out = []
    for item in items:
        if type(item) is not dict:
            raise ProtocolError("a cell error of the reply is not an object")
        cell = _line(item.get("cell"), "cell number")
        skipped = _flag(item, "skipped")
        if cell is None:
            raise ProtocolError("a cell error of the reply has no cell number")
        out.append((cell, skipped, _parse_error(item)))
    return tuple(out)


def _str_list(value: Any, what: str, limit: int) -> tuple[str, ...]:
    if type(value) is not list or len(value) > limit:
        raise ProtocolError(f"the reply's {what} is not a list of at most {limit} strings")
    return tuple(_text(v, what) for v in value)


def _line(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not 0 <= value <= MAX_LINE:
        raise ProtocolError(f"the reply's {what} is not a line number")
    return value


def _flag(error: dict, name: str) -> bool:
    value = error.get(name, False)
    if type(value) is not bool:
        raise ProtocolError(f"the reply's error.{name} is not true or false")
    return value


def _parse_error(error: Any) -> WorkerError:
    if type(error) is not dict:
        raise ProtocolError("the reply's error is not an object")
    frames = error.get("frames", [])
    if type(frames) is not list or len(frames) > MAX_FRAMES:
        raise ProtocolError(f"the reply's error.frames is not a list of at most {MAX_FRAMES} frames")
    checked = []
    for frame in frames:
        if type(frame) is not list or len(frame) != 3:
            raise ProtocolError("a frame of the reply's error is not [line, function, code]")
        checked.append((_line(frame[0], "frame line"), _text(frame[1], "frame function"),
                        _text(frame[2], "frame code")))
    return WorkerError(
        type=_text(error.get("type"), "error.type"),
        message=_text(error.get("message"), "error.message"),
        frames=tuple(checked),
        line=_line(error.get("line"), "error.line"),
        text=_text(error.get("text", ""), "error.text"),
        memory=_flag(error, "memory"), flood=_flag(error, "flood"),
        forbidden=_flag(error, "forbidden"),
    )

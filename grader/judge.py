"""Comparing a decoded worker result with the parent's expected value.

Everything here runs in the trusted parent on values that came out of
:func:`grader.protocol.decode_value`: plain ``np.ndarray`` copies, Python scalars, strings,
``None``, lists/tuples/dicts of those, :class:`~grader.protocol.WireKey` and
:class:`~grader.protocol.Unsupported`. No object from student code ever reaches this module,
so there is nothing whose ``__eq__`` could lie: comparisons are numpy's on numpy's arrays.

Order of checks, first failure reported: Python type and container structure (dict keys,
sequence lengths), array shape, dtype (strict unless the case says otherwise; Python numbers
are accepted where a 0-d array is expected), non-finite values, then values with
``rtol``/``atol`` (``|out - expected| <= atol + rtol * |expected|``, as ``np.isclose``).
Messages name the path inside the result (``result['W1'][2, 0]``) and what was seen.

:func:`compare` is total in ``out``: any decoded value, however malformed (a Python int too
large for a float, a complex where a float was expected, NaN, infinities), gives a message
or ``None``, never an exception, so a wrong output is always the student's wrong output. It
raises only for a malformed ``expected`` (a fault of the grader, reported as a grading error).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from grader.protocol import Unsupported, WireKey


class Symptom:
    """A known mistake recognised by a predicate instead of a wrong answer.

    Use it in ``Case.mistakes`` as ``(message, Symptom(test))`` where ``test(out) -> bool`` is
    true when the (decoded, plain numpy) result shows the mistake, e.g. shuffled rows that lost
    their labels. A predicate that raises counts as "not this mistake".
    """

    def __init__(self, test: Callable[[Any], bool]):
        self.test = test

    def __repr__(self) -> str:
        return f"Symptom({getattr(self.test, '__name__', 'test')})"


def is_lazy(value: Any) -> bool:
    """A lazy expected value: a zero-argument callable that :func:`resolve` calls."""
    return callable(value) and not isinstance(value, (np.ndarray, np.generic, Symptom))


def resolve(value: Any) -> Any:
    """Evaluate a lazy expected value (zero-argument callable) and convert it to numpy."""
    if isinstance(value, Symptom):
        return value
    if is_lazy(value):
        value = value()
    return to_numpy(value)


def to_numpy(value: Any) -> Any:
    """Expected values as plain numpy/Python objects (JAX arrays and keys converted)."""
    if isinstance(value, Symptom):
        return value
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(to_numpy(v) for v in value)
    if isinstance(value, tuple):  # NamedTuple -> tuple
        return tuple(to_numpy(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str, np.ndarray, WireKey)):
        return value
    if isinstance(value, np.generic):
        return np.asarray(value)
    mod = type(value).__module__ or ""
    if mod.startswith("jax") or hasattr(value, "__jax_array__"):
        import jax

        if jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
            impl = jax.random.key_impl(value)
            name = getattr(impl, "name", None) or str(impl)
            return WireKey(np.asarray(jax.random.key_data(value)), str(name))
        return np.asarray(value)
    raise TypeError(f"cannot use {type(value).__name__} as an expected value")


def describe(value: Any) -> str:
    """A short description of a (decoded) value for feedback."""
    if isinstance(value, Unsupported):
        d = value.description
        return d if d.startswith("a") and " " in d else f"an object of type {d}"
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "a Python int"
    if isinstance(value, float):
        return "a Python float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, np.ndarray):
        return f"an array of shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, WireKey):
        return "a PRNG key"
    if isinstance(value, dict):
        keys = ", ".join(repr(k) for k in list(value)[:8])
        return f"a dict with keys {keys}" if value else "an empty dict"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"an object of type {type(value).__name__}"


def _fmt(x: Any) -> str:
    if isinstance(x, (np.floating, float)):
        return f"{float(x):.6g}"
    if isinstance(x, (np.complexfloating, complex)):
        return f"{complex(x):.6g}"
    return str(x.item() if isinstance(x, np.generic) else x)


def _sub(path: str, key: Any) -> str:
    return f"{path}[{key!r}]"


def compare(out: Any, expected: Any, *, rtol: float = 1e-5, atol: float = 1e-6,
            check_dtype: bool = True, values: bool = True, path: str = "the result") -> str | None:
    """``None`` if ``out`` matches ``expected``, else a message for the student."""
    kw = dict(rtol=rtol, atol=atol, check_dtype=check_dtype, values=values)
    if isinstance(expected, dict):
        if not isinstance(out, dict):
            return f"{path} is {describe(out)}, expected {describe(expected)}"
        missing = [k for k in expected if k not in out]
        extra = [k for k in out if k not in expected]
        if missing:
            return f"{path} is missing the key{'s' if len(missing) > 1 else ''} " + ", ".join(map(repr, missing[:8]))
        if extra:
            return f"{path} has unexpected key{'s' if len(extra) > 1 else ''} " + ", ".join(map(repr, extra[:8]))
        for k in expected:
            msg = compare(out[k], expected[k], path=_sub(path, k), **kw)
            if msg:
                return msg
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(out, (list, tuple)):
            return f"{path} is {describe(out)}, expected a {type(expected).__name__} of {len(expected)} items"
        if len(out) != len(expected):
            return f"{path} has {len(out)} items, expected {len(expected)}"
        for i, (o, e) in enumerate(zip(out, expected)):
            msg = compare(o, e, path=f"{path}[{i}]", **kw)
            if msg:
                return msg
        return None
    if isinstance(expected, WireKey):
        if not isinstance(out, WireKey):
            return f"{path} is {describe(out)}, expected a PRNG key"
        if out.data.shape != expected.data.shape:
            return f"{path} is a key array of shape {out.data.shape[:-1]}, expected {expected.data.shape[:-1]}"
        if values and (out.impl != expected.impl or not np.array_equal(out.data, expected.data)):
            return f"{path} is a different key than expected (check how you split the key)"
        return None
    if expected is None or isinstance(expected, str):
        if type(out) is not type(expected) or out != expected:
            return f"{path} is {describe(out)}, expected {expected!r}"
        return None
    if isinstance(expected, (bool, int, float)):
        with np.errstate(all="ignore"):
            return _compare_scalar(out, expected, path=path, rtol=rtol, atol=atol, values=values)
    if isinstance(expected, np.ndarray):
        return _compare_array(out, expected, path=path, **kw)
    raise TypeError(f"unsupported expected value {type(expected).__name__}")


def _compare_scalar(out: Any, expected: Any, *, path: str, rtol: float, atol: float,
                    values: bool) -> str | None:
    if isinstance(out, np.ndarray) and out.shape == ():
        if out.dtype.kind not in "biuf":
            return f"{path} is {describe(out)}, expected a number"
        out = out.item()
    if isinstance(expected, bool):
        if not isinstance(out, bool):
            return f"{path} is {describe(out)}, expected a bool"
    elif not isinstance(out, (int, float)) or isinstance(out, bool):
        return f"{path} is {describe(out)}, expected a number"
    if not values:
        return None
    if isinstance(expected, float) or isinstance(out, float):
        try:
            out = float(out)
        except OverflowError:
            return f"{path} is an integer too large for a float, expected {_fmt(expected)}"
        if np.isnan(out) and not np.isnan(expected):
            return f"{path} is NaN, expected {_fmt(expected)}"
        if not np.isclose(out, expected, rtol=rtol, atol=atol, equal_nan=True):
            return f"{path} is {_fmt(out)}, expected {_fmt(expected)}"
        return None
    if out != expected:
        return f"{path} is {_fmt(out)}, expected {_fmt(expected)}"
    return None


def _compare_array(out: Any, expected: np.ndarray, *, path: str, rtol: float, atol: float,
                   check_dtype: bool, values: bool) -> str | None:
    exp_desc = f"an array of shape {tuple(expected.shape)} and dtype {expected.dtype}"
    if expected.shape == () and isinstance(out, (int, float)) and not isinstance(out, bool) \
            and expected.dtype.kind in "iuf":
        if isinstance(out, int) and not -2**63 <= out < 2**63:
            return f"{path} is a Python int too large for 64 bits, expected {exp_desc}"
        out = np.asarray(out, dtype=np.float64 if isinstance(out, float) else np.int64)
        check_dtype = False
    if not isinstance(out, np.ndarray):
        return f"{path} is {describe(out)}, expected {exp_desc}"
    if out.shape != expected.shape:
        hint = ""
        if out.shape == expected.shape[::-1] and len(out.shape) == 2:
            hint = " (transposed?)"
        elif tuple(d for d in out.shape if d != 1) == tuple(d for d in expected.shape if d != 1):
            hint = " (an extra or missing axis of size 1?)"
        elif out.size == expected.size:
            hint = " (same number of entries: a reshape or axis mix-up?)"
        return f"{path} has shape {tuple(out.shape)}, expected {tuple(expected.shape)}{hint}"
    if check_dtype and out.dtype != expected.dtype:
        hint = ""
        if expected.dtype == np.float32 and out.dtype == np.float64:
            hint = " (float32 inputs should give float32 results: a float64 constant or a NumPy call?)"
        return f"{path} has dtype {out.dtype}, expected {expected.dtype}{hint}"
    if not check_dtype and out.dtype.kind not in "biufc":
        return f"{path} has dtype {out.dtype}, expected {expected.dtype}"
    if not values:
        return None
    with np.errstate(all="ignore"):
        return _compare_values(out, expected, path=path, rtol=rtol, atol=atol)


def _compare_values(out: np.ndarray, expected: np.ndarray, *, path: str, rtol: float,
                    atol: float) -> str | None:
    if expected.dtype.kind in "fc" or out.dtype.kind in "fc":
        o = out.astype(np.complex128 if "c" in (out.dtype.kind, expected.dtype.kind) else np.float64)
        e = expected.astype(o.dtype)
        for bad, name in ((np.isnan, "NaN"), (np.isinf, "an infinity")):
            where = bad(o) & ~bad(e)
            if where.any():
                idx = tuple(int(i) for i in np.argwhere(where)[0])
                at = f" at index {idx}" if o.ndim else ""
                return f"{path} contains {name}{at} where a finite value ({_fmt(e[idx])}) was expected"
        close = np.isclose(o, e, rtol=rtol, atol=atol, equal_nan=True)
        if close.all():
            return None
        diff = np.where(close, 0.0, np.abs(o - e))
        diff = np.nan_to_num(diff, nan=np.inf)
        idx = np.unravel_index(int(np.argmax(diff)), o.shape) if o.ndim else ()
        n_bad = int((~close).sum())
        where = f" at index {tuple(int(i) for i in idx)}" if o.ndim else ""
        return (f"{path} has wrong values: {n_bad} of {o.size} entries differ; the largest "
                f"difference is{where}: got {_fmt(o[idx])}, expected {_fmt(e[idx])} "
                f"(tolerance rtol={rtol:g}, atol={atol:g})")
    equal = out == expected
    if equal.all():
        return None
    idx = tuple(int(i) for i in np.argwhere(~equal)[0]) if out.ndim else ()
    where = f" at index {idx}" if out.ndim else ""
    return (f"{path} has wrong values: {int((~equal).sum())} of {out.size} entries differ; "
            f"first{where}: got {_fmt(out[idx])}, expected {_fmt(expected[idx])}")


def identical(a: Any, b: Any) -> bool:
    """Bit-for-bit equality of two decoded results (for the same-key-same-result check)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(identical(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, WireKey):
        return a.impl == b.impl and np.array_equal(a.data, b.data)
    if isinstance(a, Unsupported):
        return False
    if isinstance(a, float) and np.isnan(a) and np.isnan(b):
        return True
    return a == b


def diagnose(out: Any, mistakes, *, rtol: float, atol: float, check_dtype: bool) -> str | None:
    """The message of the first known mistake whose wrong answer (or symptom) ``out`` matches."""
    for message, wrong in mistakes:
        try:
            wrong = resolve(wrong)
            if isinstance(wrong, Symptom):
                if wrong.test(out):
                    return message
                continue
            if compare(out, wrong, rtol=rtol, atol=atol, check_dtype=check_dtype) is None:
                return message
        except Exception:  # noqa: BLE001 - a broken mistake model must not break grading
            continue
    return None

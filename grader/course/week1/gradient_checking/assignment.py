"""``week1/gradient_checking``: 1-D and N-D gradient checking, and the fixed backward pass.

Expected values are computed in the parent:

- ``forward_propagation``/``backward_propagation``: ``theta * x`` and ``jax.grad`` of it (= x).
- ``gradient_check`` and ``gradient_check_n``: the course's two-sided relative difference,
  transcribed to NumPy float64 (``gradapprox = (J(theta + eps) - J(theta - eps)) / (2 eps)``,
  ``||grad - gradapprox|| / (||grad|| + ||gradapprox||)``) with the stub's cost
  (``forward_propagation_n``) and parameter order (``W1, b1, W2, b2, W3, b3``, row-major).
- ``backward_propagation_n``: ``dW_l``, ``db_l`` are ``jax.grad`` of the cost; the course's
  intermediate entries (``dZ3 = A3 - Y``, ``dA2``, ...) follow the course's formulas.

How each function is graded independently of the others in the student's file:

- ``gradient_check`` calls the file's ``forward_propagation`` and ``backward_propagation``:
  every case binds them to trusted helpers (``Case.replace``, see
  ``trusted.py`` in this folder), so a mistake in those parts costs only
  those parts. Some cases bind the course's linear ``J = theta * x`` (the course's own test:
  x = 3, theta = 4 gives 7.814075313343006e-11 in float64, a rounding-level value that any
  implementation of the documented formula reproduces; rtol 1e-4 leaves room for a few ulps of
  difference in the operation order), others a nonlinear ``J = x * theta**3`` with
  ``epsilon`` 1e-3 or 1e-4. The one-sided difference is exact for a linear ``J`` (up to
  rounding), so it is caught on the cubic cases, where its error is of order ``epsilon``
  (~1e-4 instead of ~1e-7).
- ``gradient_check_n`` takes the gradients to check as an argument: the parent passes them
  (the course's buggy gradients, gradients with a deliberate error, or ``jax.grad``'s), so the
  student's ``backward_propagation_n`` plays no part. Most cases use ``eps`` of 1e-3 or 1e-4,
  where the difference is a deterministic function of the inputs (rounding noise ~1e-13
  relative); at the course's ``eps = 1e-7`` one case checks the buggy gradients (0.285, noise
  1e-9 relative) and one that correct float64 gradients give a tiny difference (atol 1e-6).
  The one-sided mistake only shows with a larger ``eps`` (its error is of order ``eps``), so it
  is caught by the ``eps = 1e-3`` cases.

Known mistakes are recognised from their exact wrong answers (the 1-D float32 one replays the
formula in IEEE float32 with NumPy, bit-identical to JAX's float32; the N-D one re-runs the
stub's recipe eagerly in JAX float32 in the parent) and, for float32, by a result orders of
magnitude above the float64 one on the cases where only rounding noise is expected.

Hidden cases: other values and epsilons; other networks ([n_x, n_1, n_2, 1], m examples), of
sizes fixed for every seed (:data:`HIDDEN_NETS`: the shape rule of :mod:`grader.case_tools`;
sizes all distinct and other than the course's), their entries drawn per seed; Python floats
and 0-d float32 arrays; float32 and float64 (``x64``) network inputs; ``jax.jit`` for
the array functions; float32 in, float32 out.

Import policy: ``jaxdl.gradcheck`` would be the answer; ``optax`` and ``flax`` are refused.
"""

from __future__ import annotations

import functools

import numpy as np

from grader.judge import Symptom
from grader import case_tools
from grader.case_tools import rng as _rng
from grader.spec import Assignment, Case, Part

from .mistakes import MISTAKES

F32 = np.float32

HINTS = {slug: mistake.message for slug, mistake in MISTAKES.items()}

NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")
BACKWARD_KEYS = ("dZ3", "dW3", "db3", "dA2", "dZ2", "dW2", "db2", "dA1", "dZ1", "dW1", "db1")
DIFF_TOL = {"rtol": 1e-4, "atol": 1e-15}
_TOO_LARGE = "the difference is orders of magnitude above the float64 one; perhaps "


def _fmt(v) -> str:
    return f"{float(v):.6g}"


# ================================================================== 1-D: J = theta * x


def _scalar_case(fn: str, x, theta, *, jit: bool = False) -> Case:
    """forward (theta * x) or backward (dJ/dtheta = x) on Python floats or 0-d float32 arrays."""
    arrays = isinstance(x, np.ndarray)

    def expected():
        if not arrays:
            return float(theta) * float(x) if fn == "forward" else float(x)
        import jax

        if fn == "forward":
            return np.asarray(theta * x, F32)
        return np.asarray(jax.grad(lambda t: t * x)(theta))

    kind = "0-d float32 arrays" if arrays else "Python floats"
    mistakes = ()
    if fn == "backward":
        mistakes = ((HINTS["backward_derivative_wrt_x"], theta if arrays else float(theta)),)
    return Case(args=(x, theta), expected=expected, jit=jit, rtol=1e-5, atol=1e-7, mistakes=mistakes,
                label=f"{fn}_propagation(x={_fmt(x)}, theta={_fmt(theta)}) with {kind}")


def _scalar_parts(fn: str, visible_xt):
    def visible():
        return [_scalar_case(fn, *visible_xt)]

    def hidden(seed: int):
        r = _rng(seed)

        def draw():
            x, t = r.uniform(-5, 5, size=2)
            if abs(x - t) < 0.5:
                t = t + 1.0
            return x, t

        x1, t1 = draw()
        x2, t2 = (np.asarray(v, F32) for v in draw())
        x3, t3 = (np.asarray(v, F32) for v in draw())
        return [_scalar_case(fn, float(x1), float(t1)), _scalar_case(fn, x2, t2),
                _scalar_case(fn, x3, t3, jit=True)]

    return visible, hidden


forward_visible, forward_hidden = _scalar_parts("forward", (2.0, 4.0))
backward_visible, backward_hidden = _scalar_parts("backward", (3.0, 4.0))


# ------------------------------------------------------------------ gradient_check (1-D)

TRUSTED = "trusted"  # this folder's trusted.py (spec.Case.replace)
PAIRS = {  # what gradient_check's forward/backward calls are bound to, per kind of case
    "linear": {"forward_propagation": f"{TRUSTED}:forward_linear",
               "backward_propagation": f"{TRUSTED}:backward_linear"},
    "cubic": {"forward_propagation": f"{TRUSTED}:forward_cubic",
              "backward_propagation": f"{TRUSTED}:backward_cubic"},
}
GC_MISTAKES = ("one_sided_difference", "norm_of_one_vector", "float32")


def _pair(kind: str, dtype):
    """The trusted forward/backward pair, in the given NumPy float type (same operation order)."""
    if kind == "linear":
        return (lambda x, t: t * x), (lambda x, t: x)
    three = dtype(3.0)
    return (lambda x, t: x * t * t * t), (lambda x, t: three * x * t * t)


def check_1d(x, theta, epsilon: float = 1e-7, variant: str | None = None, kind: str = "linear") -> float:
    """The course's 1-D gradient check with the ``kind`` pair (``variant``: a known mistake).

    Float64 throughout, as the stub's ``with jax.enable_x64(True):`` block; the ``float32``
    mistake replays the same operations in IEEE float32 (what JAX's float32 arithmetic does).
    """
    dtype = F32 if variant == "float32" else np.float64
    forward, backward = _pair(kind, dtype)
    x, theta, eps = dtype(x), dtype(theta), dtype(epsilon)
    J_plus = forward(x, theta + eps)
    if variant == "one_sided_difference":
        gradapprox = (J_plus - forward(x, theta)) / eps
    else:
        gradapprox = (J_plus - forward(x, theta - eps)) / dtype(2 * epsilon)
    grad = backward(x, theta)
    numerator = np.abs(grad - gradapprox)
    denominator = np.abs(grad) if variant == "norm_of_one_vector" else np.abs(grad) + np.abs(gradapprox)
    return float(numerator / denominator)


def _gc_case(x, theta, kind: str, epsilon: float | None = None) -> Case:
    eps = 1e-7 if epsilon is None else epsilon
    kwargs = {} if epsilon is None else {"epsilon": epsilon}
    good = check_1d(x, theta, eps, kind=kind)
    # Only the mistakes that change this case's result are attached (for the linear J the
    # one-sided difference is exact, and its rounding often equals the two-sided one's).
    names = [m for m in GC_MISTAKES if abs(check_1d(x, theta, eps, m, kind) - good) > 0.1 * good]
    mistakes = tuple((HINTS[m], lambda m=m: check_1d(x, theta, eps, m, kind)) for m in names)
    if kind == "linear":  # only rounding noise (~1e-10) is expected here
        mistakes += ((_TOO_LARGE + HINTS["float32"], Symptom(lambda out: float(out) > 1e-6)),)
    what = ("the course's J = theta * x" if kind == "linear"
            else "J = x * theta**3 (the grader binds forward_propagation and backward_propagation "
                 "to this nonlinear pair: call them, don't inline theta * x)")
    arrays = " (0-d float32 arrays)" if isinstance(x, np.ndarray) else ""
    return Case(args=(x, theta), kwargs=kwargs, expected=lambda: check_1d(x, theta, eps, kind=kind),
                mistakes=mistakes, replace=PAIRS[kind], **DIFF_TOL,
                label=f"gradient_check(x={float(x)!r}, theta={float(theta)!r}, epsilon={eps:g}){arrays} "
                      f"with {what}")


def _draw_pair(r: np.random.Generator, f32: bool = False):
    x, t = (float(v) * (1.0 if r.random() < 0.7 else -1.0) for v in r.uniform(0.5, 3.0, size=2))
    if f32:
        return np.asarray(x, F32), np.asarray(t, F32)
    return x, t


def gc_visible():
    return [_gc_case(3.0, 4.0, "linear"), _gc_case(2.0, 1.5, "cubic", 1e-3)]


def gc_hidden(seed: int):
    r = _rng(seed)
    return [_gc_case(*_draw_pair(r), "linear"),
            _gc_case(*_draw_pair(r, f32=True), "linear"),
            _gc_case(*_draw_pair(r), "cubic", 1e-3),
            _gc_case(*_draw_pair(r, f32=True), "cubic", 1e-4)]


# ================================================================== N-D: the 3-layer network


def course_test_case():
    """The course's gradient-checking inputs (np.random.seed(1) draws), batch-first, float64."""
    rng = np.random.RandomState(1)
    x = rng.randn(4, 3)
    y = np.array([1, 1, 0])
    W1, b1 = rng.randn(5, 4), rng.randn(5, 1)
    W2, b2 = rng.randn(3, 5), rng.randn(3, 1)
    W3, b3 = rng.randn(1, 3), rng.randn(1, 1)
    params = {"W1": W1.T, "b1": b1[:, 0], "W2": W2.T, "b2": b2[:, 0], "W3": W3.T, "b3": b3[:, 0]}
    return x.T.copy(), y.astype(np.float64)[:, None], {k: v.copy() for k, v in params.items()}


# Hidden network sizes ([n_x, n_1, n_2, 1], m), fixed (the shape rule of grader.case_tools) and
# other than the course's ([4, 5, 3, 1], 3): n_x, n_1, n_2 and m all distinct.
HIDDEN_NETS = (((5, 3, 4, 1), 7), ((3, 6, 2, 1), 9))


def random_net(r: np.random.Generator, dtype=F32, sizes=HIDDEN_NETS[0]):
    """A [n_x, n_1, n_2, 1] problem of ``sizes`` (``(dims, m)``) with entries drawn from ``r``
    and moderate activations (A3 not saturated)."""
    dims, m = list(sizes[0]), sizes[1]
    X = r.normal(size=(m, dims[0])).astype(dtype)
    Y = (r.random((m, 1)) < 0.5).astype(dtype)
    Y[0, 0], Y[1, 0] = 1.0, 0.0
    params = {}
    for l in range(1, 4):
        params[f"W{l}"] = (r.normal(size=(dims[l - 1], dims[l])) * np.sqrt(1.5 / dims[l - 1])).astype(dtype)
        params[f"b{l}"] = (0.1 * r.normal(size=(dims[l],))).astype(dtype)
    return X, Y, params, dims


def _net_label(X, params) -> str:
    dims = [X.shape[1]] + [params[f"W{l}"].shape[1] for l in (1, 2, 3)]
    return f"layers {dims}, m={X.shape[0]}, {X.dtype}"


def _f64(params) -> dict:
    return {k: np.asarray(v, np.float64) for k, v in params.items()}


def forward_n(X, Y, params):
    """The stub's forward_propagation_n in NumPy float64: (cost, cache)."""
    p = _f64(params)
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    m = X.shape[0]
    Z1 = X @ p["W1"] + p["b1"]
    A1 = np.maximum(Z1, 0.0)
    Z2 = A1 @ p["W2"] + p["b2"]
    A2 = np.maximum(Z2, 0.0)
    Z3 = A2 @ p["W3"] + p["b3"]
    with np.errstate(over="ignore", divide="ignore"):
        A3 = 1.0 / (1.0 + np.exp(-Z3))
        log_probs = -np.log(A3) * Y + -np.log(1 - A3) * (1 - Y)
    cost = 1.0 / m * np.sum(log_probs)
    return float(cost), (Z1, A1, p["W1"], p["b1"], Z2, A2, p["W2"], p["b2"], Z3, A3, p["W3"], p["b3"])


def backward_n(X, Y, cache, variant: str | None = None) -> dict:
    """The course's backward pass (``variant``: one of the course's bugs left in), float64."""
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    m = X.shape[0]
    Z1, A1, W1, b1, Z2, A2, W2, b2, Z3, A3, W3, b3 = (np.asarray(c, np.float64) for c in cache)
    dZ3 = A3 - Y
    dW3 = 1.0 / m * (A2.T @ dZ3)
    db3 = 1.0 / m * np.sum(dZ3, axis=0)
    dA2 = dZ3 @ W3.T
    dZ2 = np.where(A2 > 0, dA2, 0.0)
    dW2 = 1.0 / m * (A1.T @ dZ2) * (2 if variant in ("bugs_not_fixed", "dW2_still_doubled") else 1)
    db2 = 1.0 / m * np.sum(dZ2, axis=0)
    dA1 = dZ2 @ W2.T
    dZ1 = np.where(A1 > 0, dA1, 0.0)
    dW1 = 1.0 / m * (X.T @ dZ1)
    db1 = (4.0 if variant in ("bugs_not_fixed", "db1_still_4x") else 1.0) / m * np.sum(dZ1, axis=0)
    out = {"dZ3": dZ3, "dW3": dW3, "db3": db3, "dA2": dA2, "dZ2": dZ2, "dW2": dW2,
           "db2": db2, "dA1": dA1, "dZ1": dZ1, "dW1": dW1, "db1": db1}
    return {k: out[k] for k in BACKWARD_KEYS}


def _flatten(tree: dict, prefix: str = "") -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(tree[prefix + n], np.float64)) for n in NAMES])


def _unflatten(theta: np.ndarray, params: dict) -> dict:
    out, start = {}, 0
    for n in NAMES:
        size = int(np.prod(params[n].shape))
        out[n] = theta[start:start + size].reshape(params[n].shape)
        start += size
    return out


def check_n(params, gradients, X, Y, epsilon: float = 1e-7, variant: str | None = None) -> float:
    """The course's N-D gradient check in float64 (``variant``: a known mistake)."""
    if variant == "n_float32":
        return _check_n_float32(params, gradients, X, Y, epsilon)
    p = _f64(params)
    theta, grad = _flatten(p), _flatten(gradients, "d")
    n = theta.shape[0]

    def J(t):
        return forward_n(X, Y, _unflatten(t, p))[0]

    J0 = J(theta)
    gradapprox = np.empty(n)
    for i in range(n):
        if variant == "n_epsilon_all_parameters":
            plus, minus = theta + epsilon, theta - epsilon
        else:
            plus, minus = theta.copy(), theta.copy()
            plus[i] += epsilon
            minus[i] -= epsilon
        if variant == "n_one_sided_difference":
            gradapprox[i] = (J(plus) - J0) / epsilon
        else:
            gradapprox[i] = (J(plus) - J(minus)) / (2 * epsilon)
    numerator = np.linalg.norm(grad - gradapprox)
    if variant == "n_norm_of_one_vector":
        return float(numerator / np.linalg.norm(gradapprox))
    return float(numerator / (np.linalg.norm(grad) + np.linalg.norm(gradapprox)))


def _check_n_float32(params, gradients, X, Y, epsilon: float) -> float:
    """The float32 mistake: the stub's recipe, eagerly in JAX float32, as the student's code runs."""
    import math

    import jax
    import jax.numpy as jnp

    f32 = jnp.float32
    P = {n: jnp.asarray(params[n], dtype=f32) for n in NAMES}
    G = {"d" + n: jnp.asarray(gradients["d" + n], dtype=f32) for n in NAMES}
    X, Y = jnp.asarray(X, dtype=f32), jnp.asarray(Y, dtype=f32)
    theta = jnp.concatenate([jnp.ravel(P[n]) for n in NAMES])
    grad = jnp.concatenate([jnp.ravel(G["d" + n]) for n in NAMES])
    shapes = {n: tuple(P[n].shape) for n in NAMES}

    def cost(t):
        q, start = {}, 0
        for n, shape in shapes.items():
            size = math.prod(shape)
            q[n] = jnp.reshape(t[start:start + size], shape)
            start += size
        m = X.shape[0]
        A1 = jax.nn.relu(X @ q["W1"] + q["b1"][None, :])
        A2 = jax.nn.relu(A1 @ q["W2"] + q["b2"][None, :])
        A3 = 1.0 / (1.0 + jnp.exp(-(A2 @ q["W3"] + q["b3"][None, :])))
        log_probs = -jnp.log(A3) * Y + -jnp.log(1 - A3) * (1 - Y)
        return 1.0 / m * jnp.sum(log_probs)

    J_plus = [cost(theta.at[i].add(epsilon)) for i in range(theta.shape[0])]
    J_minus = [cost(theta.at[i].add(-epsilon)) for i in range(theta.shape[0])]
    gradapprox = (jnp.stack(J_plus) - jnp.stack(J_minus)) / (2 * epsilon)
    numerator = jnp.linalg.norm(grad - gradapprox)
    return float(numerator / (jnp.linalg.norm(grad) + jnp.linalg.norm(gradapprox)))


def _course_cost(p, X, Y):
    import jax
    import jax.numpy as jnp

    m = X.shape[0]
    A1 = jax.nn.relu(X @ p["W1"] + p["b1"][None, :])
    A2 = jax.nn.relu(A1 @ p["W2"] + p["b2"][None, :])
    A3 = 1.0 / (1.0 + jnp.exp(-(A2 @ p["W3"] + p["b3"][None, :])))
    return 1.0 / m * jnp.sum(-jnp.log(A3) * Y + -jnp.log(1 - A3) * (1 - Y))


@functools.lru_cache(maxsize=1)
def _course_grad():
    """``jax.grad`` of the course's cost, one jitted function (compiled once per shape)."""
    import jax

    return jax.jit(jax.grad(_course_cost))


def true_gradients(X, Y, params) -> dict:
    """``jax.grad`` of the cost (float64, compiled), keyed ``dW1, db1, ...``."""
    import jax

    with jax.enable_x64(True):
        g = _course_grad()(*case_tools.as_jax((dict(params), X, Y), np.float64))
        return {"d" + k: np.asarray(v) for k, v in g.items()}


def _cast(tree: dict, dtype) -> dict:
    return {k: np.asarray(v, dtype) for k, v in tree.items()}


# ------------------------------------------------------------------ gradient_check_n

N_MISTAKES = ("n_one_sided_difference", "n_norm_of_one_vector", "n_epsilon_all_parameters", "n_float32")


def _gc_n_case(params, gradients, X, Y, epsilon: float, what: str, *, x64: bool,
               tiny: bool = False) -> Case:
    """``tiny``: correct gradients at eps = 1e-7, where the result is rounding noise: only
    "small" is checked (atol 1e-6), and a large result is taken for float32 arithmetic."""
    # The one-sided error is of order epsilon: at 1e-7 it hides in the rounding noise.
    names = [m for m in N_MISTAKES if epsilon >= 1e-5 or m != "n_one_sided_difference"]
    mistakes = tuple((HINTS[m], lambda m=m: check_n(params, gradients, X, Y, epsilon, m)) for m in names)
    tol = dict(DIFF_TOL)
    if tiny:
        mistakes += ((_TOO_LARGE + HINTS["n_float32"], Symptom(lambda out: float(out) > 1e-3)),)
        tol = {"rtol": 0.0, "atol": 1e-6}
    return Case(args=(params, gradients, X, Y, epsilon), expected=lambda: check_n(params, gradients, X, Y, epsilon),
                mistakes=mistakes, x64=x64, **tol,
                label=f"gradient_check_n with {what}, {_net_label(X, params)}, epsilon={epsilon:g}")


def _course_gradients(variant: str | None = None):
    X, Y, params = course_test_case()
    _, cache = forward_n(X, Y, params)
    return X, Y, params, backward_n(X, Y, cache, variant)


def gc_n_visible():
    X, Y, params, buggy = _course_gradients("bugs_not_fixed")
    _, _, _, fixed = _course_gradients()
    return [_gc_n_case(params, buggy, X, Y, 1e-7, "the course's buggy gradients", x64=True),
            _gc_n_case(params, fixed, X, Y, 1e-3, "the course's fixed gradients", x64=True)]


def gc_n_hidden(seed: int):
    r = _rng(seed)
    # 1. float32 inputs, gradients of the buggy backward pass (dW2 x 2, db1 x 4), eps 1e-4
    X, Y, params, _ = random_net(r, sizes=HIDDEN_NETS[0])
    _, cache = forward_n(X, Y, params)
    buggy = _cast(backward_n(X, Y, cache, "bugs_not_fixed"), F32)
    # 2. float32 inputs, correct gradients (float32-rounded) with one entry off by 1%, eps 1e-3
    X2, Y2, params2, _ = random_net(r, sizes=HIDDEN_NETS[1])
    _, cache2 = forward_n(X2, Y2, params2)
    near = backward_n(X2, Y2, cache2)
    name = str(r.choice(["dW1", "dW2", "dW3"]))
    idx = tuple(int(r.integers(0, s)) for s in near[name].shape)
    near[name] = near[name].copy()
    near[name][idx] *= 1.01
    near = _cast(near, F32)
    # 3. float32 inputs, correct gradients, eps 1e-3 (the one-sided error shows)
    X3, Y3, params3, _ = random_net(r, sizes=HIDDEN_NETS[1])
    _, cache3 = forward_n(X3, Y3, params3)
    exact3 = _cast(backward_n(X3, Y3, cache3), F32)
    # 4. float64 inputs, correct gradients, the course's eps 1e-7: a tiny difference
    X4, Y4, params4, _ = random_net(r, np.float64, HIDDEN_NETS[0])
    _, cache4 = forward_n(X4, Y4, params4)
    exact4 = backward_n(X4, Y4, cache4)
    return [
        _gc_n_case(params, buggy, X, Y, 1e-4, "gradients with the course's two bugs", x64=False),
        _gc_n_case(params2, near, X2, Y2, 1e-3, f"correct gradients except {name}{list(idx)} (1% off)", x64=False),
        _gc_n_case(params3, exact3, X3, Y3, 1e-3, "correct gradients", x64=False),
        _gc_n_case(params4, exact4, X4, Y4, 1e-7, "correct gradients", x64=True, tiny=True),
    ]


# ------------------------------------------------------------------ backward_propagation_n


def _backward_n_case(X, Y, params, *, jit: bool = False) -> Case:
    dtype = np.asarray(X).dtype
    _, cache64 = forward_n(X, Y, params)
    cache = tuple(np.asarray(c, dtype) for c in cache64)
    x64 = dtype == np.float64

    def expected():
        course = backward_n(X, Y, cache)
        course.update(true_gradients(X, Y, params))
        return _cast(course, dtype)

    mistakes = tuple((HINTS[v], lambda v=v: _cast(backward_n(X, Y, cache, v), dtype))
                     for v in ("bugs_not_fixed", "dW2_still_doubled", "db1_still_4x"))
    tol = {"rtol": 1e-7, "atol": 1e-10} if x64 else {"rtol": 1e-4, "atol": 1e-5}
    return Case(args=(X, Y, cache), expected=expected, jit=jit, x64=x64, mistakes=mistakes, **tol,
                label=f"backward_propagation_n on {_net_label(X, params)}")


def backward_n_visible():
    X, Y, params = course_test_case()
    return [_backward_n_case(X, Y, params)]


def backward_n_hidden(seed: int):
    r = _rng(seed)
    X1, Y1, p1, _ = random_net(r, sizes=HIDDEN_NETS[0])
    X2, Y2, p2, _ = random_net(r, sizes=HIDDEN_NETS[1])
    X3, Y3, p3, _ = random_net(r, np.float64, HIDDEN_NETS[1])
    return [_backward_n_case(X1, Y1, p1), _backward_n_case(X2, Y2, p2, jit=True),
            _backward_n_case(X3, Y3, p3)]


ASSIGNMENT = Assignment(
    id="week1/gradient_checking",
    title="Gradient checking: 1-D and N-D two-sided differences, fixing a backward pass",
    parts=(
        Part("forward_propagation", 10, "J = theta * x", forward_visible, forward_hidden),
        Part("backward_propagation", 10, "dJ/dtheta = x", backward_visible, backward_hidden),
        Part("gradient_check", 10, "two-sided difference, relative difference in float64",
             gc_visible, gc_hidden),
        Part("gradient_check_n", 20, "one parameter at a time, float64, on gradients the grader passes",
             gc_n_visible, gc_n_hidden),
        Part("backward_propagation_n", 10, "the course's backward pass, bugs fixed, checked against jax.grad",
             backward_n_visible, backward_n_hidden),
    ),
    forbidden_imports=("jaxdl.gradcheck", "optax", "flax"),
    allowed_imports="`jax` (with `jax.numpy`), `numpy`, `math`",
)

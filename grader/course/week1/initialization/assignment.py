"""``week1/initialization``: zero, large random and He initialization of a batch-first MLP.

Expected values come from ``jaxdl.init.init_mlp`` in the parent, which follows the stub's key
convention (``keys = jax.random.split(key, L)``, layer ``l`` draws
``jax.random.normal(keys[l-1], (n_{l-1}, n_l), float32)``): method ``"zeros"``,
``"random"`` (x 10) and ``"he"`` (x sqrt(2 / n_{l-1})). Wrong answers for the known mistakes are
computed the same way (``"xavier"`` is the sqrt(1 / n_{l-1}) mistake, ``"random"`` with
``scale=1`` the missing x 10); shape mistakes and non-zero biases are recognised by a
:class:`~grader.judge.Symptom` whatever the values.

Hidden cases: other layer sizes, the same for every seed (:data:`DEEP` and :data:`SHALLOW`:
fixed shapes, the case-building rule of :mod:`grader.case_tools`, so a resubmission finds
every program compiled; the keys are drawn per seed): three and one weight layers where the
visible cases have two, consecutive sizes that differ, odd and non-square (a transposed weight
has the wrong shape and the n_{l-1} / n_l scale mix-up shows), and no n_l equal to 2 n_{l-1}
(the n_l-for-n_{l-1} scale is then not the Xavier one); a typed key and a raw ``PRNGKey``,
``jax.jit`` with ``layers_dims`` static (a tuple; a jitted normal may differ from the eager one
by an ulp, hence the tolerance), same key -> same parameters and another key -> other
parameters. The He part also has a behavioural case: the parent trains the course's
network ``[2, 10, 5, 1]`` from the student's parameters with its own compiled gradient
descent (``jaxdl.nn.mlp_apply`` + ``jaxdl.losses.binary_cross_entropy``) on circles drawn
from the seed and requires 80% accuracy on held-out points (the reference reaches ~96%;
zero or x10 initializations stay near 50-70%), or 5 points less than the reference draw
reaches from the same key where that is lower: 2 keys in 300 leave the network stuck near 50%
from a correct He draw (a correct file scored 0 at seed 1391618088).

Import policy: ``jaxdl.init`` would be the answer; ``optax`` and ``flax`` are refused too.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import numpy as np

from grader.judge import Symptom
from grader import case_tools
from grader.case_tools import rng as _rng, key as _key
from grader.spec import Assignment, Case, Part

from .mistakes import MISTAKES

F32 = np.float32

HINTS = {slug: mistake.message for slug, mistake in MISTAKES.items()}

# The behavioural He case: full-batch gradient descent on the course's network.
TRAIN_DIMS = (2, 10, 5, 1)
TRAIN_STEPS = 2000
TRAIN_LR = 0.3
TRAIN_THRESHOLD = 0.80
TRAIN_SLACK = 0.05  # below the reference's accuracy, where that is under the threshold


# The hidden layer sizes (fixed: programs compiled for them are reused across seeds). Each
# differs from the visible [3, 2, 1] / [2, 4, 1] in depth; consecutive sizes differ (a
# transposed weight has the wrong shape, the n_{l-1} / n_l scale mix-up shows) and no n_l is
# 2 n_{l-1} (so scaling by n_l is never the Xavier scale). ``distinct_dims`` checks this.
DEEP = (5, 3, 7, 2)
SHALLOW = (6, 11)


def distinct_dims(dims: Sequence[int]) -> list[int]:
    """``dims`` as a list, checked to tell the mistakes apart: consecutive sizes differ and no
    size is twice the one before (transposed shapes, the n_l-for-n_{l-1} scale and the Xavier
    scale all show).

    Raises:
      ValueError: ``dims`` does not.
    """
    pairs = list(zip(dims[:-1], dims[1:]))
    if any(a == b or b == 2 * a for a, b in pairs):
        raise ValueError(f"hidden layer sizes {list(dims)} cannot tell the initialization mistakes apart")
    return [int(d) for d in dims]


def _label(name: str, dims, key_desc: str = "") -> str:
    return f"{name}({key_desc}layers_dims={list(dims)})"


# ------------------------------------------------------------------ wrong answers


def _as_np(params) -> dict:
    return {k: np.asarray(v) for k, v in params.items()}


def _drawn(key, dims, scale_fn, *, transposed_draw: bool = False, same_key: bool = False) -> dict:
    """Weights ``normal(keys[l-1] or key, shape) * scale_fn(n_prev, n_cur)``, zero biases."""
    import jax
    import jax.numpy as jnp

    L = len(dims) - 1
    keys = jax.random.split(key, L)
    out = {}
    for l in range(1, L + 1):
        n_prev, n_cur = dims[l - 1], dims[l]
        k = key if same_key else keys[l - 1]
        if transposed_draw:
            W = jax.random.normal(k, (n_cur, n_prev), dtype=jnp.float32).T
        else:
            W = jax.random.normal(k, (n_prev, n_cur), dtype=jnp.float32)
        out[f"W{l}"] = np.asarray(W * F32(scale_fn(n_prev, n_cur)))
        out[f"b{l}"] = np.zeros((n_cur,), F32)
    return out


def _init_mlp(key, dims, method: str, **kw):
    def f():
        from jaxdl import init

        return _as_np(init.init_mlp(key, list(dims), method, **kw))

    return f


def _transposed_symptom(dims) -> Symptom:
    def test(out) -> bool:
        return any(
            getattr(out.get(f"W{l}"), "shape", None) == (dims[l], dims[l - 1])
            and dims[l] != dims[l - 1]
            for l in range(1, len(dims)))

    return Symptom(test)


def _column_bias_symptom(dims) -> Symptom:
    def test(out) -> bool:
        return any(getattr(out.get(f"b{l}"), "shape", None) == (dims[l], 1) for l in range(1, len(dims)))

    return Symptom(test)


def _nonzero_bias_symptom(dims) -> Symptom:
    def test(out) -> bool:
        found = False
        for l in range(1, len(dims)):
            b = out.get(f"b{l}")
            if not isinstance(b, np.ndarray) or b.size != dims[l]:
                return False
            found = found or bool(np.any(b != 0))
        return found

    return Symptom(test)


# ------------------------------------------------------------------ zeros


def _zeros_case(dims, jit: bool = False) -> Case:
    def expected():
        return {name: np.zeros(shape, F32) for l in range(1, len(dims))
                for name, shape in ((f"W{l}", (dims[l - 1], dims[l])), (f"b{l}", (dims[l],)))}

    arg = tuple(dims) if jit else list(dims)
    return Case(args=(arg,), expected=expected, label=_label("initialize_parameters_zeros", dims),
                jit=jit, static_argnums=(0,) if jit else (),
                mistakes=((HINTS["zeros_weights_transposed"], _transposed_symptom(dims)),
                          (HINTS["zeros_bias_column"], _column_bias_symptom(dims))))


def zeros_visible():
    return [_zeros_case([3, 2, 1])]


def zeros_hidden(seed: int):
    return [_zeros_case(distinct_dims(DEEP)), _zeros_case(distinct_dims(SHALLOW), jit=True)]


# ------------------------------------------------------------------ random and He


def _random_mistakes(key, dims) -> tuple:
    return (
        (HINTS["random_weights_transposed"], _transposed_symptom(dims)),
        (HINTS["random_without_x10"], _init_mlp(key, dims, "random", scale=1.0)),
        (HINTS["random_key_reused"], lambda: _drawn(key, dims, lambda a, b: 10.0, same_key=True)),
        (HINTS["random_weights_transposed"], lambda: _drawn(key, dims, lambda a, b: 10.0, transposed_draw=True)),
        (HINTS["random_nonzero_biases"], _nonzero_bias_symptom(dims)),
    )


def _he_mistakes(key, dims) -> tuple:
    he = lambda a, b: np.sqrt(2.0 / a)  # noqa: E731
    return (
        (HINTS["he_weights_transposed"], _transposed_symptom(dims)),
        (HINTS["he_xavier_scale"], _init_mlp(key, dims, "xavier")),
        (HINTS["he_scale_current_layer"], lambda: _drawn(key, dims, lambda a, b: np.sqrt(2.0 / b))),
        (HINTS["he_weights_transposed"], lambda: _drawn(key, dims, he, transposed_draw=True)),
        (HINTS["he_key_reused"], lambda: _drawn(key, dims, he, same_key=True)),
        (HINTS["he_nonzero_biases"], _nonzero_bias_symptom(dims)),
    )


def _random_case(kind: str, seed: int, dims, *, other: int | None = None, raw: bool = False,
                 jit: bool = False, validate=None) -> Case:
    key = _key(seed, raw)
    method = "random" if kind == "random" else "he"
    mistakes = _random_mistakes(key, dims) if kind == "random" else _he_mistakes(key, dims)
    arg = tuple(dims) if jit else list(dims)
    key_desc = f"jax.random.{'PRNGKey' if raw else 'key'}({seed}), "
    return Case(args=(key, arg), expected=_init_mlp(key, dims, method),
                label=_label(f"initialize_parameters_{kind}", dims, key_desc),
                key_args=None if other is None else (_key(other, raw), arg),
                jit=jit, static_argnums=(1,) if jit else (), mistakes=mistakes,
                rtol=1e-5, atol=1e-6, validate=validate)


def _random_parts(kind: str, visible_dims: Sequence[int]):
    def visible():
        return [_random_case(kind, 3, list(visible_dims))]

    def hidden(seed: int):
        r = _rng(seed)
        s = [int(x) for x in r.integers(0, 2**31 - 1, size=4)]
        cases = [
            _random_case(kind, s[0], distinct_dims(DEEP), other=s[0] ^ 1),
            _random_case(kind, s[1], distinct_dims(SHALLOW), raw=True, other=s[1] ^ 1),
            _random_case(kind, s[2], distinct_dims(DEEP), jit=True),
        ]
        if kind == "he":
            case = _random_case(kind, s[3], list(TRAIN_DIMS), validate=_training_validator(s[3]))
            cases.append(dataclasses.replace(case, prepare=functools.partial(_reference_accuracy, s[3])))
        return cases

    return visible, hidden


random_visible, random_hidden = _random_parts("random", [3, 2, 1])
he_visible, he_hidden = _random_parts("he", [2, 4, 1])


# ------------------------------------------------------------------ behavioural He case


@functools.lru_cache(maxsize=1)
def _trainer():
    """Full-batch gradient descent on the course MLP, compiled once per process."""
    import jax

    from jaxdl import losses, nn

    def loss(params, X, Y):
        return losses.binary_cross_entropy(nn.mlp_apply(params, X), Y)

    def run(params, X, Y):
        def step(p, _):
            g = jax.grad(loss)(p, X, Y)
            return jax.tree_util.tree_map(lambda a, b: a - TRAIN_LR * b, p, g), None

        return jax.lax.scan(step, params, None, length=TRAIN_STEPS)[0]

    return jax.jit(run)


@functools.lru_cache(maxsize=4)
def _circles(data_seed: int):
    """The circles the He case trains and scores on (scikit-learn's, imported on first use)."""
    from jaxdl import datasets

    return datasets.circles(n_train=300, n_test=500, seed=data_seed)


def _data_seed(seed: int) -> int:
    return seed % 100_000


@functools.lru_cache(maxsize=8)
def _reference_accuracy(seed: int) -> float:
    """What the reference He draw for ``jax.random.key(seed)`` reaches (:func:`train_and_score`).
    The case's ``prepare``: computed ahead, while the worker runs (the circles, the trainer's
    program and its run), so the validation after the student's call waits for none of them."""
    return train_and_score(_init_mlp(_key(seed), TRAIN_DIMS, "he")(), _data_seed(seed))


def train_and_score(params: dict, data_seed: int) -> float:
    """Held-out accuracy of the course network trained from ``params`` (parent side)."""
    import jax.numpy as jnp

    from jaxdl import nn

    X, y, X_test, y_test = _circles(data_seed)
    p = {k: jnp.asarray(v, dtype=jnp.float32) for k, v in params.items()}
    trained = _trainer()(p, X, y.astype(jnp.float32)[:, None])
    logits = nn.mlp_apply(trained, X_test)[:, 0]
    return float(jnp.mean(((logits > 0) == (y_test > 0)).astype(jnp.float32)))


def _training_validator(seed: int):
    """The behavioural He case: the network trained from the student's parameters reaches
    ``TRAIN_THRESHOLD`` on held-out circles, or ``TRAIN_SLACK`` less than the reference draw
    for the same key reaches when that is below the threshold (about one key in 150 leaves the
    course network stuck near 50% from a correct He draw; such a key must not fail it)."""
    dims = TRAIN_DIMS
    template = {name: np.zeros(shape, F32) for l in range(1, len(dims))
                for name, shape in ((f"W{l}", (dims[l - 1], dims[l])), (f"b{l}", (dims[l],)))}
    data_seed = _data_seed(seed)

    def validate(out):
        problem = case_tools.trained_params_problem(out, template)
        if problem:
            return problem
        acc = train_and_score(out, data_seed)
        required = min(TRAIN_THRESHOLD, _reference_accuracy(seed) - TRAIN_SLACK)
        if acc < required:
            return (f"the course network [2, 10, 5, 1] trained by the grader from your parameters "
                    f"({TRAIN_STEPS} gradient-descent steps, learning rate {TRAIN_LR}) classifies "
                    f"{acc:.0%} of held-out circle points correctly; at least "
                    f"{required:.0%} is required")
        return None

    return validate


ASSIGNMENT = Assignment(
    id="week1/initialization",
    title="Initialization: zeros, large random and He initialization",
    parts=(
        Part("initialize_parameters_zeros", 10, "all-zero W (n_{l-1}, n_l) and b (n_l,), float32",
             zeros_visible, zeros_hidden),
        Part("initialize_parameters_random", 10, "N(0, 1) x 10 from keys = split(key, L), zero biases",
             random_visible, random_hidden),
        Part("initialize_parameters_he", 10, "N(0, 1) x sqrt(2 / n_{l-1}), zero biases; trains on circles",
             he_visible, he_hidden),
    ),
    forbidden_imports=("jaxdl.init", "optax", "flax"),
    allowed_imports="`jax` (with `jax.numpy`, `jax.random`), `numpy`, `math`",
)

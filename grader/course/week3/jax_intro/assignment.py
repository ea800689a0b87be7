"""``week3/jax_intro``: the course's TensorFlow introduction, the JAX way.

Expected values come from ``jax``/``jaxdl`` in the parent: ``jax.random`` with the stub's
key convention, ``jaxdl.init.init_mlp(..., "glorot")``, ``jaxdl.nn.mlp_apply``,
and, for ``compute_total_loss``, a float64 NumPy log-softmax summed over the batch (the part asks
for the sum), compared within ``case_tools.tolerance`` (cond = max |z|). A hidden case has
logits shifted by +-200..600, where a loss without the max shift (``log(exp(z) / sum(exp(z)))``
or ``log`` of a softmax) overflows or underflows to inf/nan: that mistake is named.

``model`` is judged on what it produces, not on how it is written. The visible case: the parent
evaluates the returned parameters on the digits test set with its own forward pass (accuracy
>= 0.9), and the call must finish inside a time limit (10 s of processor time) that a step
jitted once meets easily (about 1-3 s here) and an un-jitted or re-jitted-every-epoch loop
does not (about 18-25 s and 48 s). An epoch jitted as a whole, its Python loop over the 45
mini-batches unrolled while tracing, is compiled once but is not faster than no jit at all:
XLA compiles the 45 copies of the step in about 18 s of processor time (0.4 s a copy, 2 s for
5 copies; ``jax.lax.scan`` exists for this: "native Python loop constructs in a jit()
function are unrolled, leading to large XLA computations", its documentation says). No limit
passes it that does not pass the un-jitted loop too, which is what the time limit is for, so
it fails like them; the stub says why, and the timeout hint (``SLOW_STEP``) lists the three
causes without claiming one, since the time cannot tell them apart. The same loop over an
epoch as one ``lax.scan`` is in the corpus of correct alternatives.

The hidden case: the stub fixes every choice that changes the numbers (keys, batches,
Adam, the summed loss, the cost history), so the parent replays the documented loop with the
same key in float64 (``trusted.train``) on 242 digits for 4 epochs, and compares the
returned cost history and parameters with it (``case_tools.trajectory_verdict``: the
trajectory rule of ``case_tools``). The training set ends in a mini-batch of 2 examples,
so a cost averaged per mini-batch is far from the per-example one. When the run leaves the
replay, the parent replays the known loop mistakes too and names the one it matches: Adam's
state not carried from step to step (or reset every epoch), one shuffle for every epoch, the
cost averaged per mini-batch. A run that follows the replay with Keras's Adam ``eps`` (1e-7
instead of 1e-8) passes (``grader.training_replay.ACCEPTED``): not a mistake worth a zero, and
0.06-6.3 bounds from the documented replay here (seeds 11-16), so without its own replay it
would pass or fail by the seed.

Compilations are counted by the clock only: a step jitted anew in every iteration (a new
function each time) traces and compiles again at every step, ~1800 times in the visible
case, and runs out of its time limit like the re-jit-every-epoch mistake. ``jax.jit(step)``
called in the loop on the *same* function is a cache hit in JAX (no trace, no compilation;
as fast as jitting once): nothing to count, and not a mistake the numbers or the time show.
Nothing the student's process reports about its compilations is trusted.

Hidden sizes are the same for every seed (the shape rule of :mod:`grader.case_tools`): the
arrays' shapes, ``C``, the layer sizes (:data:`grader.case_tools.HIDDEN_DIMS`), and the
trajectory case's numbers of examples and mini-batches and its learning rate (which a jitted
step compiles in); all other than the visible cases'. Values, labels, digits and keys are drawn
per seed, so a resubmission compiles no new program in the parent, the worker or the executor.

So that a mistake in ``forward_propagation``, ``compute_total_loss`` or
``initialize_parameters`` costs only its own part, the worker runs ``model`` with the grader's
trusted versions of those three helpers bound in the student's namespace (``Case.replace``).

Import policy: ``optax``, ``flax`` and the ``jaxdl`` modules that would answer a part
(``jaxdl.nn``, ``jaxdl.losses``, ``jaxdl.init``, ``jaxdl.train``) are refused;
``jaxdl.optim`` and ``jaxdl.data`` are the course's "framework" and are allowed.
"""

from __future__ import annotations

import functools

import numpy as np

from grader import case_tools, training_replay
from grader.case_tools import rng as _rng, key as _key
from grader.judge import Symptom
from grader.spec import Assignment, Case, Part

from .mistakes import MISTAKES, SLOW_STEP

F32 = np.float32

HINTS = {slug: mistake.message for slug, mistake in MISTAKES.items()}

# The trusted helpers ``model`` runs with (see the module docstring).
TRUSTED_HELPERS = {
    "initialize_parameters": "trusted:initialize_parameters",
    "forward_propagation": "trusted:forward_propagation",
    "compute_total_loss": "trusted:compute_total_loss",
}


# ------------------------------------------------------------------ linear_function


def _linear_case(seed: int, **kw) -> Case:
    import jax
    import jax.numpy as jnp

    key = _key(seed)

    def draw(kx, kw_, kb):
        X = jax.random.normal(kx, (1, 3), jnp.float32)
        W = jax.random.normal(kw_, (3, 4), jnp.float32)
        b = jax.random.normal(kb, (4,), jnp.float32)
        return X @ W + b[None, :]

    return Case(args=(key,), expected=lambda: draw(*jax.random.split(key, 3)), key_args=(_key(seed + 1),),
                mistakes=((HINTS["linear_function_one_key"], lambda: draw(key, key, key)),),
                label=f"linear_function(jax.random.key({seed % 2**31}))", **kw)


def linear_visible():
    return [_linear_case(1)]


def linear_hidden(seed: int):
    return [_linear_case(seed), _linear_case(seed + 7, jit=True)]


# ------------------------------------------------------------------ sigmoid


def _sigmoid_case(z, label: str, **kw) -> Case:
    import jax

    def expected():
        return jax.nn.sigmoid(np.asarray(z, F32))

    return Case(args=(z,), expected=expected, label=label, **kw)


def sigmoid_visible():
    return [_sigmoid_case(np.array([-1.0, 0.0, 2.0], F32), "sigmoid of a float32 array"),
            _sigmoid_case(np.array([-3, 0, 1, 4], np.int32), "sigmoid of an int32 array",
                          error_hint=HINTS["sigmoid_without_cast"])]


# Hidden sizes and static values, fixed for every seed (the shape rule of grader.case_tools),
# other than the visible cases': sigmoid of (3,) and (4,); one_hot_matrix of 6 labels, C=4;
# initialize_parameters [12, 25, 12, 6]; forward_propagation of 5 examples through
# [6, 5, 4, 3]; compute_total_loss of (4, 3) logits. Rows, columns and consecutive layer sizes
# differ (a transposed or hard-coded shape shows); the values are drawn per seed.
SIGMOID_SHAPE = (3, 5)
ONE_HOT_C, ONE_HOT_M = 7, (11, 13)         # m > C: the wrong axis gives a (C, m) array
FORWARD_M = (9, 11)                        # examples through case_tools.HIDDEN_DIMS[0], [1]
LOSS_SIZES = ((13, 5), (9, 7), (11, 6))    # (m, C): plain, jitted, large logits (C >= 3)


def sigmoid_hidden(seed: int):
    r = _rng(seed)
    shape = SIGMOID_SHAPE
    return [_sigmoid_case((4 * r.normal(size=shape)).astype(F32), f"sigmoid of a float32 {shape} array", jit=True),
            _sigmoid_case(r.integers(-6, 7, size=shape).astype(np.int32), f"sigmoid of an int32 {shape} array",
                          error_hint=HINTS["sigmoid_without_cast"]),
            _sigmoid_case(int(r.integers(-5, 6)), "sigmoid of a Python int")]


# ------------------------------------------------------------------ one_hot_matrix


def _one_hot_case(labels: np.ndarray, C: int, **kw) -> Case:
    expected = np.eye(C, dtype=F32)[labels]
    return Case(args=(labels, C), expected=expected, static_argnums=(1,), static_argnames=("C",),
                mistakes=((HINTS["one_hot_wrong_axis"], expected.T.copy()),),
                label=f"one_hot_matrix of {labels.shape[0]} labels, C={C}", **kw)


def one_hot_visible():
    return [_one_hot_case(np.array([1, 2, 3, 0, 2, 1], np.int32), 4)]


def one_hot_hidden(seed: int):
    r = _rng(seed)
    C = ONE_HOT_C
    return [_one_hot_case(r.integers(0, C, size=ONE_HOT_M[0]).astype(np.int32), C),
            _one_hot_case(r.integers(0, C, size=ONE_HOT_M[1]).astype(np.int32), C, jit=True)]


# ------------------------------------------------------------------ initialize_parameters


def _init_case(seed: int, dims: list[int], **kw) -> Case:
    import jax
    import jax.numpy as jnp
    import jaxdl

    key = _key(seed)

    def one_key():
        params = {}
        for l in range(1, len(dims)):
            std = np.sqrt(2.0 / (dims[l - 1] + dims[l]))
            params[f"W{l}"] = jax.random.normal(key, (dims[l - 1], dims[l]), jnp.float32) * std
            params[f"b{l}"] = jnp.zeros((dims[l],), jnp.float32)
        return params

    def truncated():
        keys = jax.random.split(key, len(dims) - 1)
        init = jax.nn.initializers.glorot_normal()
        params = {}
        for l in range(1, len(dims)):
            params[f"W{l}"] = init(keys[l - 1], (dims[l - 1], dims[l]), jnp.float32)
            params[f"b{l}"] = jnp.zeros((dims[l],), jnp.float32)
        return params

    return Case(args=(key, dims), expected=lambda: jaxdl.init.init_mlp(key, dims, method="glorot"),
                key_args=(_key(seed + 1), dims), rtol=1e-5, atol=1e-6,
                mistakes=((HINTS["initialize_one_key_for_all_layers"], one_key),
                          (HINTS["initialize_truncated_glorot"], truncated)),
                label=f"initialize_parameters(key, {dims})", **kw)


def init_visible():
    return [_init_case(1, [12, 25, 12, 6])]


def init_hidden(seed: int):
    dims, jit_dims = (list(d) for d in case_tools.HIDDEN_DIMS)
    return [_init_case(seed, dims),
            _init_case(seed + 3, jit_dims, jit=True, static_argnums=(1,), static_argnames=("layers_dims",))]


# ------------------------------------------------------------------ forward_propagation


def _params(r: np.random.Generator, dims: list[int]) -> dict:
    params = {}
    for l in range(1, len(dims)):
        params[f"W{l}"] = (r.normal(size=(dims[l - 1], dims[l])) / np.sqrt(dims[l - 1])).astype(F32)
        params[f"b{l}"] = (0.5 * r.normal(size=(dims[l],))).astype(F32)
    return params


def _forward_case(r: np.random.Generator, m: int, dims: list[int], **kw) -> Case:
    import jax

    X = r.normal(size=(m, dims[0])).astype(F32)
    params = _params(r, dims)
    L = len(dims) - 1
    A = X.astype(np.float64)
    for l in range(1, L + 1):
        Z = A @ params[f"W{l}"] + params[f"b{l}"]
        A = np.maximum(Z, 0.0)
    if Z.min() >= 0:  # a ReLU on the logits must change something: make them all negative
        params[f"b{L}"] = (params[f"b{L}"] - (Z.max() + 1.0)).astype(F32)

    def expected():
        return _mlp_apply()(params, X)

    return Case(args=(X, params), expected=expected, rtol=1e-5, atol=1e-5,
                mistakes=((HINTS["forward_relu_on_logits"], lambda: jax.nn.relu(expected())),),
                label=f"forward_propagation of {m} examples through layers {dims}", **kw)


def forward_visible():
    return [_forward_case(_rng(2), 5, [6, 5, 4, 3])]


def forward_hidden(seed: int):
    r = _rng(seed)
    (m, jit_m), (dims, jit_dims) = FORWARD_M, case_tools.HIDDEN_DIMS
    return [_forward_case(r, m, list(dims)), _forward_case(r, jit_m, list(jit_dims), jit=True)]


# ------------------------------------------------------------------ compute_total_loss


def _loss_np(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The summed softmax cross-entropy in float64 (stable), as a float32 0-d array."""
    z = np.asarray(logits, np.float64)
    mx = z.max(axis=-1, keepdims=True)
    log_probs = z - mx - np.log(np.exp(z - mx).sum(axis=-1, keepdims=True))
    return np.asarray(-(np.asarray(labels, np.float64) * log_probs).sum(), F32)


@functools.cache
def _mlp_apply():
    """``jaxdl.nn.mlp_apply`` compiled: one program per shape (called eagerly, each layer's
    operations compiled one program each, ~20 per network in the parent)."""
    import jax
    import jaxdl

    return jax.jit(jaxdl.nn.mlp_apply)


def _not_finite(out) -> bool:
    return isinstance(out, np.ndarray) and out.dtype.kind == "f" and not bool(np.all(np.isfinite(out)))


def _loss_case(r: np.random.Generator, m: int, C: int, *, large: bool = False, **kw) -> Case:
    import jax
    import jaxdl

    logits = (3 * r.normal(size=(m, C))).astype(F32)
    classes = r.integers(0, C, size=m)
    if large:  # rows shifted by +-200..600, spread ~40: exp overflows, and a true class far
        #        below its row's maximum underflows a softmax taken before the log
        shifts = r.choice([-1.0, 1.0], size=(m, 1)) * r.uniform(200.0, 600.0, size=(m, 1))
        logits = (shifts + 40 * r.normal(size=(m, C))).astype(F32)
        classes[0] = int(np.argmin(logits[0]))
        logits[0, classes[0]] = logits[0].max() - F32(120.0)
    labels = np.eye(C, dtype=F32)[classes]

    def softmax_first():
        return jaxdl.losses.softmax_cross_entropy(jax.nn.softmax(logits), labels) * F32(m)

    # Each example's log-softmax rounds at the scale of its logits; m of them are summed
    # (case_tools.tolerance: cond = max |z|, absolute scale m).
    tol = case_tools.tolerance(F32, cond=float(np.max(np.abs(logits))), scale=float(m))
    mistakes = [(HINTS["loss_mean_not_sum"], lambda: np.asarray(_loss_np(logits, labels) / F32(m), F32)),
                (HINTS["loss_softmax_before_loss"], softmax_first)]
    if large:
        mistakes.insert(0, (HINTS["loss_without_max_shift"], Symptom(_not_finite)))
    what = f"({m}, {C}) logits shifted by +-200..600 (spread ~40)" if large else f"({m}, {C}) logits"
    return Case(args=(logits, labels), expected=lambda: _loss_np(logits, labels), **tol,
                mistakes=tuple(mistakes), label=f"compute_total_loss of {what}", **kw)


def loss_visible():
    return [_loss_case(_rng(3), 4, 3)]


def loss_hidden(seed: int):
    r = _rng(seed)
    plain, jitted, large = LOSS_SIZES
    return [_loss_case(r, *plain), _loss_case(r, *jitted, jit=True), _loss_case(r, *large, large=True)]


# ------------------------------------------------------------------ model


def _digits_split(seed: int):
    import jaxdl

    X_train, y_train, X_test, y_test = jaxdl.datasets.digits(seed=seed)
    eye = np.eye(10, dtype=F32)
    return (np.asarray(X_train), eye[np.asarray(y_train)], np.asarray(X_test), eye[np.asarray(y_test)],
            np.asarray(y_test))


def _model_validator(X_test, y_test, init_params_fn, threshold: float = 0.9):
    def validate(out):
        if not isinstance(out, (list, tuple)) or len(out) != 2:
            return "model() must return (parameters, costs)"
        params, costs = out
        template = {k: np.asarray(v) for k, v in init_params_fn().items()}
        problem = case_tools.trained_params_problem(params, template)
        if problem:
            return problem
        if all(np.array_equal(params[k], template[k]) for k in template):
            return HINTS["model_mutates_parameters"]

        logits = np.asarray(_mlp_apply()(params, X_test))
        return case_tools.held_out_accuracy_problem(np.argmax(logits, axis=-1), y_test, threshold,
                                                    data="the held-out digits")

    return validate


def _model_case(seed: int, num_epochs: int) -> Case:
    import jax
    import jaxdl

    X_train, Y_train, X_test, Y_test, y_test = _digits_split(seed)
    key = _key(seed)
    init_key, _ = jax.random.split(key)
    dims = [X_train.shape[1], 25, 12, 10]
    return Case(args=(key, X_train, Y_train, X_test, Y_test),
                kwargs={"learning_rate": 0.001, "num_epochs": num_epochs, "minibatch_size": 32, "print_cost": False},
                validate=_model_validator(X_test, y_test, lambda: jaxdl.init.init_mlp(init_key, dims, "glorot")),
                replace=TRUSTED_HELPERS, cold=True,
                label=f"model on the digits set ({X_train.shape[0]} train / {X_test.shape[0]} test, "
                      f"{num_epochs} epochs)")


TRAJECTORY_EPOCHS = 4
CONVENTIONS = ("the documented loop: init_key, shuffle_key = jax.random.split(key); epoch e shuffles with "
               "jax.random.fold_in(shuffle_key, e); one Adam state carried from step to step; the summed "
               "batch loss; costs[e] = (sum of the epoch's batch losses) / m")


def _costs(batch_losses, how: str, minibatch_size: int) -> list[float]:
    """costs[e] from epoch e's (summed loss, examples) pairs, formed ``how``
    (``grader.training_replay.COST_FORMS``: the documented per-example cost, each batch's mean
    averaged, each batch's sum over the nominal batch size)."""
    out = []
    for epoch in batch_losses:
        losses = np.array([l for l, _ in epoch], np.float64)
        sizes = np.array([n for _, n in epoch], np.float64)
        out.append({"example": losses.sum() / sizes.sum(), "batch_mean": np.mean(losses / sizes),
                    "nominal": losses.sum() / (minibatch_size * len(epoch))}[how])
    return [float(c) for c in out]


def _replay(key, X, Y, learning_rate: float, num_epochs: int, minibatch_size: int):
    """The case's :func:`grader.training_replay.replayer`: the documented loop and its known
    mistakes, each trained only when a verdict needs it."""
    from . import trusted as T

    return training_replay.replayer(
        lambda **loop: T.train(key, X, Y, learning_rate, num_epochs, minibatch_size, **loop),
        lambda batch_losses, how: _costs(batch_losses, how, minibatch_size))


def _trajectory_validator(replay):
    def validate(out):
        if not isinstance(out, (list, tuple)) or len(out) != 2:
            return "model() must return (parameters, costs)"
        params, costs = out
        initial = replay.documented()[0]
        msg = case_tools.trained_params_problem(params, initial)
        if msg:
            return msg
        if all(np.array_equal(params[k], initial[k]) for k in initial):
            return HINTS["model_mutates_parameters"]
        return case_tools.trajectory_verdict(costs, params, replay, training_replay.DOCUMENTED,
                                             training_replay.loop_variants(HINTS), CONVENTIONS,
                                             accepted=training_replay.ACCEPTED)

    return validate


# The trajectory case's sizes and hyperparameters, fixed (the shape rule of grader.case_tools:
# the student's jitted step compiles them in, and so does the parent's replay): mini-batches of
# 16 (the visible case's are 32), 15 full ones and a last one of 2 (smaller than the others: a
# cost averaged per mini-batch is far from the per-example one), a learning rate that is not
# the default 0.001 (a hard-coded rate fails). The digits, their order and the key are drawn
# per seed.
TRAJECTORY_MINIBATCH, TRAJECTORY_FULL, TRAJECTORY_LAST = 16, 15, 2
TRAJECTORY_LEARNING_RATE = 0.002
TRAJECTORY_TEST = 40  # held-out rows passed (the hidden case judges the trajectory, not them)


def _trajectory_case(seed: int) -> Case:
    """``TRAJECTORY_FULL * TRAJECTORY_MINIBATCH + TRAJECTORY_LAST`` digits drawn per seed, 4
    epochs, compared with the parent's replay of the documented loop (module docstring)."""
    r = _rng(seed)
    X_train, Y_train, X_test, Y_test, _ = _digits_split(seed)
    minibatch_size, full, last = TRAJECTORY_MINIBATCH, TRAJECTORY_FULL, TRAJECTORY_LAST
    rows = r.choice(X_train.shape[0], size=full * minibatch_size + last, replace=False)
    X, Y = X_train[rows], Y_train[rows]
    learning_rate = TRAJECTORY_LEARNING_RATE
    key = _key(seed)
    replay = _replay(key, X, Y, learning_rate, TRAJECTORY_EPOCHS, minibatch_size)
    return Case(args=(key, X, Y, X_test[:TRAJECTORY_TEST], Y_test[:TRAJECTORY_TEST]),
                kwargs={"learning_rate": learning_rate, "num_epochs": TRAJECTORY_EPOCHS,
                        "minibatch_size": minibatch_size, "print_cost": False},
                validate=_trajectory_validator(replay), replace=TRUSTED_HELPERS,
                prepare=replay.documented,
                label=(f"model on {X.shape[0]} digits ({full} mini-batches of {minibatch_size} and one of {last}), "
                       f"{TRAJECTORY_EPOCHS} epochs, learning rate {learning_rate:g}: costs and parameters against "
                       "the replay of the documented loop with the same key"))


def model_visible():
    return [_model_case(0, 40)]


def model_hidden(seed: int):
    return [_trajectory_case(seed)]


ASSIGNMENT = Assignment(
    id="week3/jax_intro",
    title="JAX introduction: pytrees, value_and_grad, jit, explicit optimizer state",
    parts=(
        Part("linear_function", 10, "X W + b from split keys", linear_visible, linear_hidden),
        Part("sigmoid", 10, "float32 out for int or float in", sigmoid_visible, sigmoid_hidden),
        Part("one_hot_matrix", 10, "(m, C) one-hot, float32", one_hot_visible, one_hot_hidden),
        Part("initialize_parameters", 10, "Glorot-normal weights, zero biases", init_visible, init_hidden),
        Part("forward_propagation", 10, "LINEAR-RELU-...-LINEAR logits", forward_visible, forward_hidden),
        Part("compute_total_loss", 10, "sum of softmax cross-entropy", loss_visible, loss_hidden),
        Part("model", 10, "a jitted Adam training loop: held-out accuracy >= 0.9 within the time limit, "
                          "the documented trajectory",
             model_visible, model_hidden, limits={"time_per_call": 10.0}, timeout_hint=SLOW_STEP),
    ),
    forbidden_imports=("optax", "flax", "jaxdl.nn", "jaxdl.losses", "jaxdl.init", "jaxdl.train", "jaxdl.tune"),
    allowed_imports=("`jax` (with `jax.numpy`, `jax.nn`, `jax.random`), `numpy`, `math`, and in "
                     "`model` the optimizer `jaxdl.optim` and the mini-batches of `jaxdl.data`"),
    preload=("jaxdl.optim",),
)

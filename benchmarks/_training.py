"""Mini-batch Adam training of an MLP, written five ways (shared by moons_adam and digits_softmax).

Contenders (all start from the same He-initialized parameters, same layers, batch size,
learning rate, epochs; every epoch is a fresh shuffle and ``m // batch`` full batches plus
the smaller remainder batch, as in the course):

- ``numpy``: a transcription of the course's loop (``model(..., optimizer="adam")`` of
  "Optimization Methods"): ``random_mini_batches`` with ``np.random.seed(seed)``,
  ``forward_propagation`` (relu, then sigmoid or softmax), ``compute_cost`` (summed
  cross-entropy, ``cost_total / m`` per epoch), ``backward_propagation`` by hand and
  ``update_parameters_with_adam`` (bias-corrected, eps outside the root), batch-first
  (``X`` is ``(m, n_x)``, ``W`` is ``(n_in, n_out)``), float64 like the course, one BLAS thread.
- ``torch``: the same in PyTorch eager on CPU (``nn.Linear``, ``BCEWithLogitsLoss`` /
  ``CrossEntropyLoss``, ``torch.optim.Adam``), one ``backward``/``step`` per mini-batch,
  one intra-op thread (faster than two for these tiny matrices, much faster on a busy machine).
- ``per_step``: a ``jax.jit`` step (``value_and_grad`` + ``optax.adam`` + ``apply_updates``)
  called from a Python loop over host-shuffled NumPy mini-batches.
- ``scan``: one hand-written ``jax.jit`` program: ``lax.scan`` over epochs, each a
  ``lax.scan`` over the full batches plus the remainder batch, ``optax.adam``; it follows
  ``jaxdl.fit``'s key convention (per epoch ``split(key, 3)`` and
  ``jaxdl.data.permutation``, drawn inside the epoch loop), so its parameters equal fit's
  (checked, ~1e-6).
- ``fit``: ``jaxdl.train.fit(loss_fn, params, jaxdl.optim.adam(lr), X, Y, key=...,
  epochs=..., batch_size=..., progress=False)``.

The JAX contenders share one ``loss_fn`` (``jaxdl.nn.mlp_apply`` + ``jaxdl.losses``), so the
scan/fit comparison isolates the training-loop machinery.

Worker (a fresh process per cold / warm-cached measurement)::

    JAXDL_COMPILATION_CACHE=<dir> python -m benchmarks._training --workload moons \\
        --contender fit --data <npz> --calls 3 [--quick]

prints one JSON line ``{"fit": {"times": [...], "loss": ...}}``: ``times[0]`` is the first
call in the process (cold with an empty cache dir, warm-cached with a filled one), the rest are
warm in-process calls.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Workload:
    name: str
    layers: tuple[int, ...]
    epochs: int
    batch_size: int
    learning_rate: float
    softmax: bool  # False: one sigmoid output unit (binary); True: softmax over layers[-1] classes
    seed: int = 0

    @property
    def description(self) -> str:
        return f"{list(self.layers)}, batch {self.batch_size}, {self.epochs} epochs, Adam lr={self.learning_rate:g}"


MOONS = Workload("moons", (2, 5, 2, 1), epochs=5000, batch_size=64, learning_rate=0.0007, softmax=False)
DIGITS = Workload("digits", (64, 128, 64, 10), epochs=200, batch_size=64, learning_rate=0.001, softmax=True)
WORKLOADS = {"moons": MOONS, "digits": DIGITS}


def quick_version(w: Workload) -> Workload:
    """A tiny version of the workload (smoke tests): a few epochs."""
    return Workload(w.name, w.layers, epochs=max(2, w.epochs // 500), batch_size=w.batch_size,
                    learning_rate=w.learning_rate, softmax=w.softmax, seed=w.seed)


# --------------------------------------------------------------------------- data


def load_data(w: Workload) -> tuple[np.ndarray, np.ndarray]:
    """``(X float32 (m, n_x), y int32 (m,))``: the course's 300 moons, or the digits train split."""
    from jaxdl import datasets

    X, y, _, _ = datasets.moons() if w.name == "moons" else datasets.digits()
    return np.asarray(X, np.float32), np.asarray(y, np.int32)


def init_params(w: Workload) -> dict[str, np.ndarray]:
    """He-initialized ``{"W1", "b1", ...}`` (float32 NumPy), the same for every contender."""
    import jax

    from jaxdl import init

    p = init.init_mlp(jax.random.key(w.seed), list(w.layers), method="he")
    return {k: np.asarray(val) for k, val in p.items()}


def save_inputs(path: str, w: Workload) -> None:
    X, y = load_data(w)
    np.savez(path, X=X, y=y, **init_params(w))


def load_inputs(path: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as z:
        X, y = z["X"], z["y"]
        params = {k: z[k] for k in z.files if k not in ("X", "y")}
    return X, y, params


def _num_layers(params: dict) -> int:
    return len(params) // 2


# --------------------------------------------------------------------------- NumPy (the course loop)


def _np_random_mini_batches(X, Y, mini_batch_size, seed):
    np.random.seed(seed)
    m = X.shape[0]
    permutation = list(np.random.permutation(m))
    shuffled_X = X[permutation]
    shuffled_Y = Y[permutation]
    mini_batches = []
    num_complete = math.floor(m / mini_batch_size)
    for k in range(num_complete):
        mini_batches.append((shuffled_X[k * mini_batch_size:(k + 1) * mini_batch_size],
                             shuffled_Y[k * mini_batch_size:(k + 1) * mini_batch_size]))
    if m % mini_batch_size != 0:
        mini_batches.append((shuffled_X[num_complete * mini_batch_size:],
                             shuffled_Y[num_complete * mini_batch_size:]))
    return mini_batches


def _np_forward(X, parameters, softmax):
    L = len(parameters) // 2
    caches = [X]
    A = X
    for l in range(1, L):
        Z = A @ parameters["W" + str(l)] + parameters["b" + str(l)]
        A = np.maximum(0, Z)
        caches.append(A)
    Z = A @ parameters["W" + str(L)] + parameters["b" + str(L)]
    if softmax:
        e = np.exp(Z - Z.max(axis=1, keepdims=True))
        AL = e / e.sum(axis=1, keepdims=True)
    else:
        AL = 1 / (1 + np.exp(-Z))
    return AL, caches


def _np_compute_cost(AL, Y, softmax):
    if softmax:
        return -np.sum(Y * np.log(AL))
    logprobs = np.multiply(-np.log(AL), Y) + np.multiply(-np.log(1 - AL), 1 - Y)
    return np.sum(logprobs)


def _np_backward(Y, AL, caches, parameters):
    L = len(parameters) // 2
    m = Y.shape[0]
    grads = {}
    dZ = 1.0 / m * (AL - Y)
    for l in range(L, 0, -1):
        A_prev = caches[l - 1]
        grads["dW" + str(l)] = A_prev.T @ dZ
        grads["db" + str(l)] = np.sum(dZ, axis=0)
        if l > 1:
            dA = dZ @ parameters["W" + str(l)].T
            dZ = np.multiply(dA, np.int64(A_prev > 0))
    return grads


def _np_initialize_adam(parameters):
    L = len(parameters) // 2
    v, s = {}, {}
    for l in range(1, L + 1):
        for p in ("W", "b"):
            v["d" + p + str(l)] = np.zeros_like(parameters[p + str(l)])
            s["d" + p + str(l)] = np.zeros_like(parameters[p + str(l)])
    return v, s


def _np_update_parameters_with_adam(parameters, grads, v, s, t, learning_rate, beta1=0.9, beta2=0.999,
                                    epsilon=1e-8):
    L = len(parameters) // 2
    for l in range(1, L + 1):
        for p in ("W", "b"):
            d = "d" + p + str(l)
            v[d] = beta1 * v[d] + (1 - beta1) * grads[d]
            v_corrected = v[d] / (1 - beta1**t)
            s[d] = beta2 * s[d] + (1 - beta2) * np.power(grads[d], 2)
            s_corrected = s[d] / (1 - beta2**t)
            parameters[p + str(l)] = parameters[p + str(l)] - learning_rate * v_corrected / (
                np.sqrt(s_corrected) + epsilon)
    return parameters, v, s


def numpy_train(w: Workload, X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray]):
    """The course's ``model(X, Y, layers_dims, optimizer="adam", ...)`` loop; returns (params, costs).

    BLAS is limited to one thread (threadpoolctl, when installed: scikit-learn brings it): for
    these small matrices a second thread brings nothing, and on a busy machine BLAS threads
    waiting on each other made the digits run up to 30x slower.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return _numpy_train(w, X, y, params)
    with threadpool_limits(limits=1, user_api="blas"):
        return _numpy_train(w, X, y, params)


def _numpy_train(w: Workload, X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray]):
    X = X.astype(np.float64)
    Y = np.eye(w.layers[-1])[y] if w.softmax else y.astype(np.float64)[:, None]
    parameters = {k: v.astype(np.float64) for k, v in params.items()}
    m = X.shape[0]
    v, s = _np_initialize_adam(parameters)
    t = 0
    seed = 10
    costs = []
    for _ in range(w.epochs):
        seed = seed + 1
        cost_total = 0.0
        for minibatch_X, minibatch_Y in _np_random_mini_batches(X, Y, w.batch_size, seed):
            AL, caches = _np_forward(minibatch_X, parameters, w.softmax)
            cost_total += _np_compute_cost(AL, minibatch_Y, w.softmax)
            grads = _np_backward(minibatch_Y, AL, caches, parameters)
            t = t + 1
            parameters, v, s = _np_update_parameters_with_adam(parameters, grads, v, s, t, w.learning_rate)
        costs.append(cost_total / m)
    return parameters, costs


# --------------------------------------------------------------------------- PyTorch eager


def torch_train(w: Workload, X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray]):
    """PyTorch eager on CPU: the idiomatic zero_grad / backward / step loop; returns (model, costs)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # faster than 2 for these tiny matrices (no intra-op work to share)
    try:
        return _torch_train(torch, w, X, y, params)
    finally:
        torch.set_num_threads(threads)


def _torch_train(torch, w: Workload, X: np.ndarray, y: np.ndarray, params: dict[str, np.ndarray]):
    torch.manual_seed(w.seed)
    L = _num_layers(params)
    layers: list[Any] = []
    for l in range(1, L + 1):
        lin = torch.nn.Linear(w.layers[l - 1], w.layers[l])
        with torch.no_grad():  # same initial parameters as the other contenders (torch stores W as (out, in))
            lin.weight.copy_(torch.from_numpy(params[f"W{l}"].T.copy()))
            lin.bias.copy_(torch.from_numpy(params[f"b{l}"].copy()))
        layers.append(lin)
        if l < L:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=w.learning_rate, betas=(0.9, 0.999), eps=1e-8)
    if w.softmax:
        loss_fn = torch.nn.CrossEntropyLoss()
        Yt = torch.from_numpy(y.astype(np.int64))
    else:
        loss_fn = torch.nn.BCEWithLogitsLoss()
        Yt = torch.from_numpy(y.astype(np.float32))
    Xt = torch.from_numpy(X)
    m = X.shape[0]
    gen = torch.Generator().manual_seed(w.seed)
    costs = []
    for _ in range(w.epochs):
        perm = torch.randperm(m, generator=gen)
        cost_total = 0.0
        for start in range(0, m, w.batch_size):
            idx = perm[start:start + w.batch_size]
            xb, yb = Xt[idx], Yt[idx]
            out = model(xb)
            loss = loss_fn(out if w.softmax else out[:, 0], yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            cost_total += loss.item() * len(idx)
        costs.append(cost_total / m)
    return model, costs


# --------------------------------------------------------------------------- JAX pieces


@functools.lru_cache(maxsize=None)
def make_loss(w: Workload):
    """The workload's loss, one function object per workload (as a user defines it once)."""
    import jax.numpy as jnp

    from jaxdl import losses, nn

    if w.softmax:
        C = w.layers[-1]

        def loss_fn(p, X, Y):
            onehot = (Y[:, None] == jnp.arange(C, dtype=Y.dtype)[None, :]).astype(jnp.float32)
            return losses.softmax_cross_entropy(nn.mlp_apply(p, X), onehot)
    else:

        def loss_fn(p, X, Y):
            return losses.binary_cross_entropy(nn.mlp_apply(p, X)[:, 0], Y)

    return loss_fn


def _jax_labels(w: Workload, y: np.ndarray) -> np.ndarray:
    return y.astype(np.int32) if w.softmax else y.astype(np.float32)


def make_per_step(w: Workload):
    """``run(params_np, X, y) -> (params, costs)``: a jitted step called once per mini-batch."""
    import jax
    import optax

    loss_fn = make_loss(w)
    opt = optax.adam(w.learning_rate)

    @jax.jit
    def step(params, opt_state, Xb, Yb):
        loss, grads = jax.value_and_grad(loss_fn)(params, Xb, Yb)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def run(params_np, X, y, epochs=None):
        Y = _jax_labels(w, y)
        params = jax.tree.map(jax.numpy.asarray, params_np)
        opt_state = opt.init(params)
        m = X.shape[0]
        rng = np.random.default_rng(w.seed)
        losses, sizes = [], []
        for _ in range(w.epochs if epochs is None else epochs):
            perm = rng.permutation(m)
            for start in range(0, m, w.batch_size):
                idx = perm[start:start + w.batch_size]
                params, opt_state, loss = step(params, opt_state, X[idx], Y[idx])
                losses.append(loss)
                sizes.append(len(idx))
        per_batch = np.asarray(jax.device_get(losses)) * np.asarray(sizes)
        costs = per_batch.reshape(-1, len(range(0, m, w.batch_size))).sum(1) / m
        return jax.block_until_ready(params), costs

    return run


def make_scan(w: Workload):
    """``train(params, key, X, Y) -> (params, costs)``: the whole run as one jitted ``lax.scan``."""
    import jax
    import jax.numpy as jnp
    import optax
    from jax import lax

    from jaxdl import data

    loss_fn = make_loss(w)
    opt = optax.adam(w.learning_rate)
    bs = w.batch_size

    def train(params, key, X, Y):
        m = X.shape[0]
        nf, rem = divmod(m, bs)

        def step(carry, idx):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, X[idx], Y[idx])
            updates, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        def epoch(carry, _):
            params, opt_state, key = carry
            key, perm_key, _ = jax.random.split(key, 3)  # fit's convention (third key: dropout)
            perm = data.permutation(perm_key, m)  # jaxdl's shuffle, as fit's
            (params, opt_state), losses = lax.scan(step, (params, opt_state), perm[: nf * bs].reshape(nf, bs))
            cost = jnp.sum(losses) * bs
            if rem:
                (params, opt_state), loss = step((params, opt_state), perm[nf * bs:])
                cost = cost + loss * rem
            return (params, opt_state, key), cost / m

        (params, _, _), costs = lax.scan(epoch, (params, opt.init(params), key), None, length=w.epochs)
        return params, costs

    return jax.jit(train)


def fit_call(w: Workload, params, X, Y, key):
    from jaxdl import optim, train

    state, history = train.fit(make_loss(w), params, optim.adam(w.learning_rate), X, Y, key=key,
                               epochs=w.epochs, batch_size=w.batch_size, progress=False)
    return state.params, history["loss"]


# --------------------------------------------------------------------------- worker


def worker(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    p.add_argument("--contender", required=True, help="fit, scan or fit,scan (one process, in that order)")
    p.add_argument("--data", required=True)
    p.add_argument("--calls", type=int, default=2)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--save-params", default=None, help="write the last contender's final params (npz)")
    args = p.parse_args(argv)
    w = WORKLOADS[args.workload]
    if args.quick:
        w = quick_version(w)
    contenders = args.contender.split(",")
    if not contenders or any(c not in ("fit", "scan") for c in contenders):
        p.error(f"--contender must be fit, scan or a comma list of them, got {args.contender!r}")

    import jax
    import jax.numpy as jnp

    from jaxdl import compile_cache

    compile_cache.enable_from_env()  # JAXDL_COMPILATION_CACHE, for every contender's programs

    X_np, y_np, params_np = load_inputs(args.data)
    X = jnp.asarray(X_np)
    Y = jnp.asarray(_jax_labels(w, y_np))
    params = {k: jnp.asarray(val) for k, val in params_np.items()}
    key = jax.random.key(1)
    jax.block_until_ready((X, Y, params, key))

    report = {}
    final_params = None
    for contender in contenders:
        if contender == "fit":
            def call():
                return fit_call(w, params, X, Y, key)
        else:
            train = make_scan(w)

            def call(train=train):
                return train(params, key, X, Y)

        times = []
        out = None
        for _ in range(args.calls):
            t0 = time.perf_counter()
            out = jax.block_until_ready(call())
            times.append(time.perf_counter() - t0)
        final_params, costs = out
        report[contender] = {"times": times, "loss": float(np.asarray(costs)[-1])}
    if args.save_params:
        np.savez(args.save_params, **{k: np.asarray(val) for k, val in final_params.items()})
    print(json.dumps(report))


if __name__ == "__main__":
    worker()

"""Training engine: a pytree ``TrainState``, a jitted train step, ``fit`` and ``evaluate``.

Everything is pure: state goes in, new state comes out. ``fit`` runs many epochs of
mini-batch updates inside one compiled ``lax.scan`` program per chunk of epochs, and its
numbers are *the same* as a plain Python loop over :func:`jaxdl.data.random_minibatches`
calling the step of :func:`make_train_step` (tested to 1e-6).

The loss-function contract
--------------------------
``loss_fn`` returns the MEAN loss over the rows of the batch it is given (every jaxdl loss
does). Two flags select the signature (they are the same in :func:`make_train_step` and
:func:`fit`)::

    stateful  needs_key   loss_fn signature
    False     False       loss_fn(params, X, Y) -> loss
    False     True        loss_fn(params, X, Y, *, key) -> loss                  # dropout
    True      False       loss_fn(params, model_state, X, Y) -> (loss, new_model_state)
    True      True        loss_fn(params, model_state, X, Y, *, key) -> (loss, new_model_state)

``loss`` is a float scalar. Gradients are taken w.r.t. ``params`` only; ``model_state``
(batch-norm running statistics, any pytree) is carried along, never differentiated.
``key`` is a fresh PRNG key per mini-batch (see the key convention below).

With ``last_batch="masked"`` (``fit`` only, opt-in; see below) ``loss_fn`` also receives a
keyword ``mask`` (bool ``(batch,)``) and must return the mean over the rows where ``mask``
is True, e.g. ``masked_mean(per_example_losses, mask)``.

Keys, batches and epochs (the convention ``fit`` follows and a Python loop can replay)
----------------------------------------------------------------------------------------
``key`` given to ``fit`` starts a chain. For every epoch::

    key, perm_key, dropout_key = jax.random.split(key, 3)
    batches = jaxdl.data.random_minibatches(perm_key, X, Y, batch_size)
    # i.e. perm = jaxdl.data.permutation(perm_key, m); batch k = rows k*bs:(k+1)*bs of X[perm]
    for k, (Xb, Yb) in enumerate(batches):
        batch_key = jax.random.fold_in(dropout_key, k)    # passed as loss_fn(..., key=batch_key)
        state, loss_k = step(state, Xb, Yb, key=batch_key)

The returned ``state.key`` is the chain key after the last epoch, so
``fit(loss_fn, state, optimizer, X, Y, key=state.key, ...)`` continues the same chain.

The last, smaller batch (``m % batch_size`` rows)
-------------------------------------------------
``last_batch="exact"`` (default): inside the compiled epoch, the full batches run in a
``lax.scan`` and the remainder batch runs once more at its true size ``m % batch_size``
(the loss is traced for both shapes). ``loss_fn`` sees exactly the rows a Python loop would
see, so batch-norm statistics, dropout masks and ``l2_penalty(params, lambd, X.shape[0])``
all match the loop exactly, with no contract change. ``"masked"``: the remainder batch is
padded to ``batch_size`` with copies of real rows plus a ``mask`` (the layout of
:func:`jaxdl.data.minibatch_indices`), one traced shape only; ``loss_fn`` must honour
``mask`` (a masked mean of per-row losses equals the loop; batch statistics would not
unless the loss masks them too). ``"drop"``: the remainder rows are skipped this epoch
(``drop_remainder``).

History
-------
``history["loss"][e]`` is the course's epoch cost: ``sum_k n_k * loss_k / m`` over the
mini-batches of epoch ``e`` (``n_k`` rows each), i.e. ``cost_total / m`` with
``cost_total`` the sum of the per-batch summed costs (for ``"drop"``, ``m`` is the number
of rows used). ``history["batch_loss"]`` is ``(epochs, num_batches)``, the loss of every
update. With a dev set, ``history["dev_<name>"]`` holds each dev metric after each epoch.
All values are NumPy arrays (JAX arrays when ``fit`` runs under a transformation).

Data parallelism
----------------
``fit(..., mesh=Mesh(np.array(jax.devices()), ("data",)))`` shards every mini-batch over
the mesh's ``"data"`` (or ``"batch"``) axis and replicates parameters and optimizer state.
``jit`` keeps global semantics, so the numbers are those of the single-device run (up to
float summation order) and batch-norm statistics are over the whole batch. ``batch_size``
must be divisible by the number of devices on that axis.

The mesh may span processes (hosts of a TPU pod or a GPU cluster, or processes on one
machine) through JAX's multi-process runtime: every process calls
``jax.distributed.initialize(...)``, builds the same global mesh from ``jax.devices()`` and
makes the same ``fit`` call. Each process either passes the whole data set (host arrays,
the same everywhere) or feeds its own rows as global arrays
(``jax.make_array_from_process_local_data(NamedSharding(mesh, P("data")), rows)``); the
result equals the one-process run (tested with two processes to 1e-5).

Progress
--------
``fit`` reports after every compiled chunk to a callback, ``progress(epoch, epochs,
metrics)``: :class:`ProgressBar` (rich) by default, any callable of yours, or none.

Speed: what one compiled step costs, and what ``fit`` reuses
-------------------------------------------------------------
A chunk's randomness (the key chain, every epoch's permutation, the dropout keys) is drawn
in one vectorized pass before its training loop: on XLA:CPU a random draw inside the loop
runs threefry as a rolled loop of ~80 tiny kernels, more than a small model's whole update.
``fit`` keeps its last 32 compiled chunk programs: a later call with the same ``loss_fn``
object, an equal optimizer (:class:`jaxdl.optim.Optimizer`: same factory and
hyperparameters; an optax transformation only equals itself) and the same static settings
(data rows, batch size, chunk length, flags, mesh) runs without tracing, lowering or
loading anything -- any number of epochs, any data of the same shape. As with
``jax.jit``, a ``loss_fn`` that reads a global changed between calls keeps the value it was
traced with; pass a new function object to retrace.

Compilation cache
-----------------
``enable_compilation_cache(path=None)`` (default ``~/.cache/jaxdl/jax``) turns on JAX's
persistent cache for every program, small ones included; ``compile_cache.enable_from_env()``
does the same from the environment variable ``JAXDL_COMPILATION_CACHE=path``. Importing
this package changes no JAX configuration; see :mod:`jaxdl.compile_cache`.

Layout: ``_state`` (:class:`TrainState`), ``_checks`` (argument checks), ``_loss`` (the
``loss_fn`` signatures), ``_step`` (the update and :func:`make_train_step`), ``_keys`` (the
key chain), ``_sharding`` (meshes, one process or many), ``_chunk`` and ``_program`` (the
compiled epochs and their memo), ``_progress``, ``_fit``, ``_metrics`` (:func:`evaluate`).

Quick start::

    from jaxdl import init, losses, nn, optim, train
    params = init.init_mlp(jax.random.key(0), [2, 16, 1])
    loss_fn = lambda p, X, Y: losses.binary_cross_entropy(nn.mlp_apply(p, X)[:, 0], Y)
    state, history = train.fit(loss_fn, params, optim.adam(1e-2), X, Y,
                               key=jax.random.key(1), epochs=200, batch_size=64)
    train.evaluate(lambda p, X: nn.mlp_apply(p, X), state.params, X_test, y_test)
"""

from __future__ import annotations

import jax  # noqa: F401  (the namespace of the docstring examples)
import jax.numpy as jnp  # noqa: F401

from jaxdl.compile_cache import ENV_VAR as COMPILATION_CACHE_ENV_VAR
from jaxdl.compile_cache import (
    compilation_cache_dir,
    disable_compilation_cache,
    enable_compilation_cache,
)
from jaxdl.train._fit import fit
from jaxdl.train._loss import masked_mean
from jaxdl.train._metrics import evaluate
from jaxdl.train._progress import ProgressBar
from jaxdl.train._state import TrainState
from jaxdl.train._step import make_train_step

__all__ = [
    "COMPILATION_CACHE_ENV_VAR",
    "ProgressBar",
    "TrainState",
    "compilation_cache_dir",
    "disable_compilation_cache",
    "enable_compilation_cache",
    "evaluate",
    "fit",
    "make_train_step",
    "masked_mean",
]

# The examples in the docstrings of the re-exported objects are run by ``doctest.testmod``
# on this package (which on its own only looks at objects defined in this file).
__test__ = {name: globals()[name] for name in ("TrainState", "evaluate", "ProgressBar")}

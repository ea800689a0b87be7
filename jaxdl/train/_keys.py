"""The key chain of ``fit`` (module docstring of :mod:`jaxdl.train`), drawn ahead of the training loop.

Per epoch ``key, perm_key, dropout_key = jax.random.split(key, 3)``; the epoch's order is
``jaxdl.data.permutation(perm_key, m)`` and batch ``k`` gets ``fold_in(dropout_key, k)``.
A chunk's randomness is drawn in one vectorized pass before its loop: on XLA:CPU a random
draw inside the loop runs threefry as a rolled loop of ~80 tiny kernels, more than a small
model's whole update.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxdl import data as _data

MAX_PRESHUFFLED_INDICES = 1 << 24  # 64 MB of int32 permutations per chunk


def preshuffles(epochs: int, m: int) -> bool:
    """Whether a chunk of ``epochs`` epochs over ``m`` rows draws its permutations ahead (else per epoch)."""
    return epochs * m <= MAX_PRESHUFFLED_INDICES


def chunk_randomness(key: Any, *, epochs: int, m: int, n_batches: int, needs_key: bool) -> tuple[Any, Any, Any]:
    """The randomness of ``epochs`` epochs starting from ``key``.

    Returns ``(chain, shuffles, batch_keys)``: ``chain[e]`` is the chain key after epoch
    ``e``; ``shuffles[e]`` the epoch's permutation (int32 ``(m,)``), or its key when
    :func:`preshuffles` is False (then :func:`epoch_permutation` draws it inside the loop);
    ``batch_keys[e, k] = fold_in(dropout_key_e, k)`` for the ``n_batches`` batches (``None``
    without ``needs_key``).
    """

    def advance(k, _):
        k, perm_key, dropout_key = jax.random.split(k, 3)
        return k, (k, perm_key, dropout_key)

    _, (chain, perm_keys, dropout_keys) = lax.scan(advance, key, None, length=epochs)
    if preshuffles(epochs, m):
        shuffles = jax.vmap(lambda k: _data.permutation(k, m))(perm_keys)
    else:
        shuffles = perm_keys
    batch_keys = None
    if needs_key:
        fold = jax.vmap(jax.random.fold_in, in_axes=(None, 0))
        batch_keys = jax.vmap(fold, in_axes=(0, None))(dropout_keys, jnp.arange(n_batches, dtype=jnp.uint32))
    return chain, shuffles, batch_keys


def epoch_permutation(shuffle: Any, *, epochs: int, m: int) -> Any:
    """The epoch's permutation from ``shuffles[e]`` of :func:`chunk_randomness`."""
    return shuffle if preshuffles(epochs, m) else _data.permutation(shuffle, m)

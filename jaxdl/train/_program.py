"""The memo of ``fit``'s compiled chunk programs: equal settings reuse one ``jax.jit`` object."""

from __future__ import annotations

from collections.abc import Callable

import jax

from jaxdl._reuse import reused
from jaxdl.train._chunk import ChunkSpec, make_chunk

PROGRAMS_KEPT = 32  # fit programs kept for reuse (each holds its loss_fn alive)


@reused(PROGRAMS_KEPT)
def chunk_program(spec: ChunkSpec, donate: bool) -> Callable:
    """The jitted chunk, shared by ``fit`` calls with the same ``spec``.

    Reusing the ``jax.jit`` object lets jax's own cache skip tracing, lowering and loading
    (about 0.2 s for a small model) on every later call with the same ``loss_fn`` object, an
    equal optimizer (:mod:`jaxdl.optim` optimizers with equal hyperparameters compare equal;
    others only to themselves) and equal settings. Unhashable parts (an optimizer closing
    over arrays, say) just build a fresh program.
    """
    return jax.jit(make_chunk(spec), donate_argnums=(0,) if donate else ())

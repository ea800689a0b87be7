"""jaxdl: a small, pure-functional JAX library for "Improving Deep Neural Networks".

Pytrees in, pytrees out; randomness only from explicit PRNG keys; optimizer and batch-norm
state passed in and returned. Submodules (one concern each) load on first use, so
``import jaxdl`` is cheap and the optional ones (``jaxdl.plot`` needs matplotlib) cost
nothing until touched::

    import jaxdl
    params = jaxdl.init.init_mlp(jax.random.key(0), [2, 10, 5, 1], method="he")
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "init",
    "nn",
    "losses",
    "optim",
    "schedules",
    "data",
    "datasets",
    "gradcheck",
    "train",
    "tune",
    "diagnostics",
    "compile_cache",
    "plot",
)

__all__ = list(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'jaxdl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_SUBMODULES))

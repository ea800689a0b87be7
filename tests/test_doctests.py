"""The runnable examples in jaxdl's docstrings are tests too."""

from __future__ import annotations

import doctest
import importlib

import jax
import pytest

MODULES = ["init", "nn", "losses", "optim", "schedules", "data", "datasets", "gradcheck",
           "diagnostics", "train", "tune", "plot"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(f"jaxdl.{name}")
    # Examples are written for users' default settings, not the suite's strict promotion.
    with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in jaxdl.{name}"

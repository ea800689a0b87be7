"""The grading the lane tests attack and watch (``test_second_lane``, ``test_lane_attacks``)."""

from __future__ import annotations

import dataclasses

from grader import engine

from .conftest import LIMITS, SEED

PARTS = ("relu", "sigmoid", "standardize")


def two_lanes(selftest, tmp_path, *, lanes: int = 2, hidden: bool = True) -> engine.Grader:
    """The self-test's relu and sigmoid with the compile cache, standardize with timed
    ("cold") cases and so without it: two runs of worker configurations, the second one graded
    in the second lane (``grader.engine._SecondLane``) unless ``lanes=1``."""
    a = dataclasses.replace(selftest, parts=tuple(p for p in selftest.parts if p.function in PARTS))
    grader = engine.Grader(a, seed=SEED, hidden=hidden, overrides=LIMITS, cache_root=str(tmp_path / "cache"),
                           lanes=lanes)
    for pc in grader.cases():
        if pc.part.function == "standardize":
            pc.cases = [(dataclasses.replace(c, cold=True), n) for c, n in pc.cases]
    return grader

"""Smoke test of the grader's benchmark (its numbers go to the README, not into asserts)."""

from __future__ import annotations

from grader import bench


def test_startup_measures_both_modes():
    medians = bench.startup(repeats=1)
    assert set(medians) == {"sandbox", "fence"}
    assert all(0 < t < 120 for t in medians.values())

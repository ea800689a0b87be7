"""Smoke test of the benchmarks: each runs at a tiny size with one repeat and reports its rows.

This checks that the benchmark code runs (contenders, worker processes, ratios, tables),
not speed: ``--quick`` sizes are far too small to measure anything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from benchmarks import __main__ as bench_main
from benchmarks._harness import ROOT, Result, Timing, torch_available
from benchmarks.moons_adam import QUICK_XLA_FLAGS

# Rows every benchmark must report (PyTorch's only when it is installed).
EXPECTED = {
    "moons_adam": [
        "NumPy course loop",
        "JAX jitted per-step + optax",
        *(f"{c} ({m})" for c in ("hand-written lax.scan + optax", "jaxdl.fit")
          for m in ("cold", "warm cached", "warm in-process")),
    ],
    "digits_softmax": [
        "NumPy course loop",
        "JAX jitted per-step + optax",
        *(f"{c} ({m})" for c in ("hand-written lax.scan + optax", "jaxdl.fit")
          for m in ("cold", "warm cached", "warm in-process")),
    ],
    "optimizer_update": ["jaxdl.optim.adam", "optax.adam"],
    "batchnorm": ["jaxdl.nn.batchnorm", "flax.linen.BatchNorm"],
    "tuning": [
        "4 trials vmapped (one program) (warm)",
        "4 trials one after another (warm)",
        "4 trials vmapped (one program) (cold)",
        "4 trials one after another (cold)",
    ],
    "serve_load": ["GET /api/submissions/{id}", "GET /api/submissions/{id} p99", "target p99",
                   "POST /api/submissions", "time per graded submission"],
    "grader_speed": ["grader test (cold)", "grader test (edited)", "grader submit (edited)",
                     "fresh process: init_mlp + fit (cold)", "NumPy course loop"],
}
TARGETED = {"moons_adam": 4, "digits_softmax": 0, "optimizer_update": 1, "batchnorm": 1, "tuning": 1,
            "serve_load": 1, "grader_speed": 3}


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    """``python -m benchmarks --quick`` in a fresh process (JAX's default config, cheap XLA compiles)."""
    out = tmp_path_factory.mktemp("bench") / "results.json"
    md = out.with_suffix(".md")
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + QUICK_XLA_FLAGS).strip()
    env.pop("JAXDL_COMPILATION_CACHE", None)
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json", str(out), "--markdown", str(md)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text()), md.read_text(), proc.stdout


def test_every_benchmark_reports_its_rows(quick_results):
    data, _, _ = quick_results
    assert data["failed"] == []
    by_name = {r["name"]: r for r in data["results"]}
    assert sorted(by_name) == sorted(bench_main.BENCHMARKS)
    for name, rows in EXPECTED.items():
        timings = {t["name"]: t for t in by_name[name]["timings"]}
        for row in rows:
            assert row in timings, f"{name}: missing row {row!r}, got {sorted(timings)}"
            assert len(timings[row]["samples_s"]) >= 1
            assert timings[row]["median_s"] > 0
        has_torch = "PyTorch eager (CPU)" in timings
        if name in ("moons_adam", "digits_softmax"):
            assert has_torch == torch_available()
        targeted = [r for r in by_name[name]["ratios"] if r["op"] is not None]
        assert len(targeted) == TARGETED[name]
        for r in targeted:
            is_torch_ratio = "PyTorch" in r["label"]
            if is_torch_ratio and not torch_available():
                assert r["value"] is None and r["status"] == "n/a"
            else:
                assert r["value"] > 0 and r["status"].split()[0] in ("PASS", "MISS")


def test_markdown_has_every_table(quick_results):
    _, md, stdout = quick_results
    assert md.startswith("Measured ")
    for name in ("Course moons/Adam", "Digits softmax", "10M-parameter", "Batch norm", "tuning trials",
                 "grader serve", "grader test / submit"):
        assert name in md
    assert "| ratio | value | per-repeat | target | result |" in md
    assert "Targets" in stdout and "load average at start" in stdout


def test_grader_speed_reports_each_command_with_the_load(quick_results):
    """One sample per grader command (``--quick``: one repeat, the self-test assignment), each
    a whole ``grader`` process that exited 0 with full marks (else the benchmark fails), and
    the load average the numbers were measured at."""
    data, _, _ = quick_results
    result = next(r for r in data["results"] if r["name"] == "grader_speed")
    assert "selftest/basics" in result["title"]
    timings = {t["name"]: t for t in result["timings"]}
    for row in ("grader test (cold)", "grader test (edited)", "grader submit (edited)"):
        assert len(timings[row]["samples_s"]) == 1
    assert any(n.startswith("load average (1 min)") for n in result["notes"])


def test_ratio_status_and_missing_contender():
    r = Result("x", "x")
    r.timings += [Timing("a", [2.0, 2.2, 1.8]), Timing("b", [1.0, 2.0, 0.9])]
    assert r.ratio("a/b", "a", "b", ">=", 1.5).status == "PASS"  # 2.0 / 1.0
    assert r.ratio("a/b", "a", "b", ">=", 3.0).status == "MISS"
    assert r.ratio("a/b", "a", "b", "<=", 1.5, paired=True).status == "MISS (within noise)"  # 2.2/2.0 = 1.1
    assert r.ratio("b/a", "b", "a").status == "-"
    missing = r.ratio("c/a", "c", "a", ">=", 30.0)
    assert missing.value is None and missing.status == "n/a"


def test_usage_errors():
    with pytest.raises(SystemExit) as e:
        bench_main.main(["--only", "nope"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        bench_main.main(["--repeats", "0"])
    assert e.value.code == 2

"""Shared pieces of the benchmarks: timing, results with targets, rich tables, workers.

A benchmark module exposes ``NAME``, ``TITLE`` and ``run(*, quick, repeats) -> Result``.
A :class:`Result` holds the contenders' median times (:class:`Timing`) and the
:class:`Ratio` rows, each comparing two timings, optionally against a target
(``at least`` / ``at most``) that yields PASS or MISS.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- timing


def block(tree: Any) -> Any:
    """``jax.block_until_ready`` when JAX is loaded (NumPy/PyTorch results pass through)."""
    if "jax" in sys.modules:
        import jax

        return jax.block_until_ready(tree)
    return tree


def time_call(fn: Callable[[], Any]) -> float:
    """Seconds for one ``fn()``, results blocked on."""
    t0 = time.perf_counter()
    block(fn())
    return time.perf_counter() - t0


def time_repeats(fn: Callable[[], Any], repeats: int, *, warmup: int = 0, inner: int = 1) -> list[float]:
    """``repeats`` samples of the seconds per call of ``fn`` (each sample: ``inner`` calls / inner)."""
    for _ in range(warmup):
        block(fn())
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = None
        for _ in range(inner):
            out = fn()
        block(out)
        samples.append((time.perf_counter() - t0) / inner)
    return samples


# --------------------------------------------------------------------------- results


@dataclass
class Timing:
    """One contender's samples (seconds); ``note`` says what was timed."""

    name: str
    samples: list[float]
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


@dataclass
class Ratio:
    """``numerator.median / denominator.median`` ("how many times faster/slower"), with an optional target.

    ``op`` is ``">="`` (at least ``target``) or ``"<="`` (at most ``target``) or ``None`` (reported only).
    """

    label: str
    numerator: str
    denominator: str
    op: str | None = None
    target: float | None = None
    value: float | None = None
    spread: tuple[float, float] | None = None  # min, max of the per-repeat (paired) ratios

    def _meets(self, value: float) -> bool:
        return value >= self.target if self.op == ">=" else value <= self.target

    @property
    def status(self) -> str:
        """PASS / MISS on the median ratio; a MISS whose paired ratios straddle the target says so."""
        if self.op is None or self.value is None:
            return "-" if self.value is not None else "n/a"
        if self._meets(self.value):
            return "PASS"
        if self.spread is not None and any(self._meets(x) for x in self.spread):
            return "MISS (within noise)"
        return "MISS"

    @property
    def spread_text(self) -> str:
        return "" if self.spread is None else f"{self.spread[0]:.2f}-{self.spread[1]:.2f}"

    @property
    def target_text(self) -> str:
        if self.op is None:
            return "(info)"
        return f"{'>=' if self.op == '>=' else '<='} {self.target:g}x"


@dataclass
class Result:
    name: str
    title: str
    timings: list[Timing] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def timing(self, name: str) -> Timing | None:
        return next((t for t in self.timings if t.name == name), None)

    def add(self, name: str, samples: Sequence[float], note: str = "") -> Timing:
        t = Timing(name, list(samples), note)
        self.timings.append(t)
        return t

    def ratio(self, label: str, numerator: str, denominator: str, op: str | None = None,
              target: float | None = None, *, paired: bool = False) -> Ratio:
        """Add a ratio row (of the medians); ``n/a`` (skipped, not a miss) when a contender is missing.

        ``paired``: the two contenders' samples were taken interleaved, repeat by repeat; the
        spread column then shows the min and max of the per-repeat ratios (the noise).
        """
        num, den = self.timing(numerator), self.timing(denominator)
        value = num.median / den.median if num is not None and den is not None and den.median > 0 else None
        spread = None
        if paired and value is not None and min(len(num.samples), len(den.samples)) > 1:
            # sample i of each was taken in repeat i (zip: a contender may skip the later repeats)
            per = [a / b for a, b in zip(num.samples, den.samples)]
            spread = (min(per), max(per))
        r = Ratio(label, numerator, denominator, op, target, value, spread)
        self.ratios.append(r)
        return r

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "timings": [{"name": t.name, "median_s": t.median, "samples_s": t.samples, "note": t.note}
                        for t in self.timings],
            "ratios": [{"label": r.label, "value": r.value, "op": r.op, "target": r.target, "status": r.status,
                        "spread": r.spread}
                       for r in self.ratios],
            "notes": self.notes,
        }


# --------------------------------------------------------------------------- rendering


def fmt_seconds(s: float) -> str:
    if s >= 1.0:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} us"


def render(result: Result):
    """A rich renderable: one table of timings, one of ratios, then the notes."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    t = Table(title=f"{result.title}", title_justify="left", show_edge=True)
    t.add_column("contender")
    t.add_column("median", justify="right")
    t.add_column("repeats", justify="right")
    t.add_column("what is timed")
    for timing in result.timings:
        t.add_row(timing.name, fmt_seconds(timing.median), str(len(timing.samples)), timing.note)
    r = Table(show_edge=True)
    r.add_column("ratio")
    r.add_column("value", justify="right")
    r.add_column("per-repeat", justify="right")
    r.add_column("target", justify="right")
    r.add_column("result", justify="center")
    for ratio in result.ratios:
        style = "bold green" if ratio.status == "PASS" else "bold red" if ratio.status.startswith("MISS") else ""
        value = f"{ratio.value:.2f}x" if ratio.value is not None else "n/a"
        r.add_row(ratio.label, value, ratio.spread_text, ratio.target_text, Text(ratio.status, style=style))
    parts: list[Any] = [t, r]
    parts.extend(Text(f"  note: {n}", style="dim") for n in result.notes)
    return Group(*parts)


def markdown(result: Result) -> str:
    """The result as Markdown tables (for benchmarks/README.md)."""
    lines = [f"### {result.title}", "", "| contender | median | repeats | what is timed |", "|---|---:|---:|---|"]
    for t in result.timings:
        lines.append(f"| {t.name} | {fmt_seconds(t.median)} | {len(t.samples)} | {t.note} |")
    lines += ["", "| ratio | value | per-repeat | target | result |", "|---|---:|---:|---:|:---:|"]
    for r in result.ratios:
        value = f"{r.value:.2f}x" if r.value is not None else "n/a"
        lines.append(f"| {r.label} | {value} | {r.spread_text} | {r.target_text} | {r.status} |")
    for n in result.notes:
        lines += ["", f"Note: {n}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- subprocess workers


def run_worker(module: str, args: Sequence[str], *, env: dict[str, str] | None = None,
               timeout: float = 1800.0) -> dict:
    """Run ``python -m <module> <args>`` in a fresh process; return the JSON of its last stdout line."""
    full_env = dict(os.environ)
    full_env.pop("JAXDL_COMPILATION_CACHE", None)
    full_env.setdefault("JAX_PLATFORMS", "cpu")
    if env:
        full_env.update(env)
    proc = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=full_env, cwd=ROOT, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker {module} {' '.join(args)} failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    last = [ln for ln in proc.stdout.splitlines() if ln.strip()][-1]
    return json.loads(last)


def op_counts(compiled_text: str) -> dict[str, int]:
    """Histogram of the XLA ops of a compiled program's text (``jitted.lower(...).compile().as_text()``)."""
    import collections
    import re

    return dict(collections.Counter(re.findall(r"= \S+ (\w[\w-]*)\(", compiled_text)))


def torch_available() -> bool:
    """PyTorch importable, and not switched off with ``JAXDL_BENCH_NO_TORCH=1``."""
    if os.environ.get("JAXDL_BENCH_NO_TORCH", "").strip() not in ("", "0"):
        return False
    import importlib.util

    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False

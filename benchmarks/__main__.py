"""``python -m benchmarks [--quick] [--repeats N] [--only NAME ...] [--markdown FILE] [--json FILE]``.

Runs the benchmarks one after another in this process (the training ones also start fresh
worker processes for their cold / warm-cached measurements) and prints, for each, the
contenders' median times and the ratios against their targets (PASS / MISS), then a
summary of every target. Exit status 0 when every benchmark ran (whatever PASS/MISS says),
1 when one crashed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import traceback
from importlib import import_module

BENCHMARKS = ("moons_adam", "digits_softmax", "optimizer_update", "batchnorm", "tuning",
              "serve_load", "grader_speed")


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def machine_line() -> str:
    import jax

    from benchmarks._harness import torch_available

    torch = "not installed"
    if torch_available():
        import torch as t

        torch = t.__version__
    return (f"{datetime.date.today().isoformat()}, {platform.system()} {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, jax {jax.__version__} "
            f"({jax.default_backend()}), torch {torch}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description="jaxdl speed benchmarks.")
    p.add_argument("--quick", action="store_true", help="tiny sizes and 1 repeat (a smoke test, not a measurement)")
    p.add_argument("--repeats", type=int, default=None, help="repeats per measurement (default 5; 1 with --quick)")
    p.add_argument("--only", action="append", default=None, metavar="NAME",
                   help=f"run only this benchmark (repeatable or comma-separated): {', '.join(BENCHMARKS)}")
    p.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown to FILE")
    p.add_argument("--json", metavar="FILE", help="also write the raw results as JSON to FILE")
    args = p.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 5)
    if repeats < 1:
        p.error(f"--repeats must be >= 1, got {repeats}")
    names = list(BENCHMARKS)
    if args.only:
        names = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
        unknown = [n for n in names if n not in BENCHMARKS]
        if unknown:
            p.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")

    from rich.console import Console
    from rich.table import Table

    from benchmarks._harness import markdown, render

    console = Console(width=max(120, Console().width))
    load_start = load_average()
    header = machine_line()
    console.print(f"[bold]jaxdl benchmarks[/bold]  {header}\n"
                  f"repeats {repeats}{', --quick (sizes are tiny: not a measurement)' if args.quick else ''}; "
                  f"load average at start {load_start}")
    results, failed = [], []
    modules = {n: import_module(f"benchmarks.{n}") for n in names}
    for n, module in modules.items():  # --quick: start the worker processes now, to overlap
        if hasattr(module, "prefetch"):
            module.prefetch(quick=args.quick, repeats=repeats)
    for n, module in modules.items():
        console.rule(f"{n}  (load average {load_average()})")
        try:
            result = module.run(quick=args.quick, repeats=repeats)
        except Exception:  # report and go on with the others
            console.print(f"[bold red]{n} failed:[/bold red]\n{traceback.format_exc()}")
            failed.append(n)
            continue
        results.append(result)
        console.print(render(result))
    load_end = load_average()

    summary = Table(title="Targets", title_justify="left")
    for col in ("benchmark", "ratio", "value", "target", "result"):
        summary.add_column(col, justify="right" if col in ("value", "target") else "left")
    for result in results:
        for r in result.ratios:
            if r.op is not None:
                summary.add_row(result.name, r.label, f"{r.value:.2f}x" if r.value is not None else "n/a",
                                r.target_text, r.status)
    console.rule()
    console.print(summary)
    console.print(f"load average at start {load_start}, at end {load_end}")

    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(f"Measured {header}; repeats {repeats}; load average (1, 5, 15 min) "
                    f"{load_start} at start, {load_end} at end.\n\n")
            f.write("\n".join(markdown(r) for r in results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": header, "repeats": repeats, "quick": args.quick,
                       "load_average": {"start": load_start, "end": load_end},
                       "results": [r.to_json() for r in results], "failed": failed}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

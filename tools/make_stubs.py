"""Generate the student stubs in ``assignments/`` from the reference solutions.

One source of truth: each reference solution ``tests/solutions/<id>.py`` marks every hole
nbgrader-style::

    def relu(z):
        \"\"\"...\"\"\"
        ### BEGIN SOLUTION
        return jnp.maximum(z, 0)
        ### END SOLUTION

and the stub ``assignments/<id>.py`` is the same file with each marked block replaced by
``# YOUR CODE HERE`` and ``raise NotImplementedError`` (at the marker's indentation).
Lines ending in ``# SOLUTION ONLY`` are dropped from the stub. ``tests/test_stubs.py``
checks that the committed stubs equal what this script generates.

Usage::

    python tools/make_stubs.py          # rewrite assignments/ from tests/solutions/
    python tools/make_stubs.py --check  # exit 1 if a stub is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "tests" / "solutions"
STUBS = ROOT / "assignments"

_BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*### END SOLUTION\s*$")


def make_stub(solution_source: str, origin: str = "<solution>") -> str:
    """The stub text for a reference solution's text."""
    out: list[str] = []
    indent: str | None = None
    for number, line in enumerate(solution_source.splitlines(keepends=True), start=1):
        begin = _BEGIN.match(line)
        if indent is None:
            if begin:
                indent = begin.group(1)
                out.append(f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError\n")
            elif _END.match(line):
                raise ValueError(f"{origin}:{number}: END SOLUTION without BEGIN SOLUTION")
            elif not line.rstrip().endswith("# SOLUTION ONLY"):
                out.append(line)
        elif begin:
            raise ValueError(f"{origin}:{number}: nested BEGIN SOLUTION")
        elif _END.match(line):
            indent = None
    if indent is not None:
        raise ValueError(f"{origin}: BEGIN SOLUTION without END SOLUTION")
    return "".join(out)


def stub_pairs() -> list[tuple[Path, Path]]:
    """(solution, stub) paths for every reference solution."""
    return [
        (solution, STUBS / solution.relative_to(SOLUTIONS))
        for solution in sorted(SOLUTIONS.glob("week*/*.py"))
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if out of date")
    args = parser.parse_args(argv)
    stale = []
    for solution, stub in stub_pairs():
        text = make_stub(solution.read_text(), str(solution))
        if stub.exists() and stub.read_text() == text:
            continue
        stale.append(stub)
        if not args.check:
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text(text)
            print(f"wrote {stub.relative_to(ROOT)}")
    if args.check and stale:
        print("out of date: " + ", ".join(str(s.relative_to(ROOT)) for s in stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

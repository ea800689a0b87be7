"""Keep ``assignments/`` in step with the course folders' reference solutions.

For every assignment with ``handout=True`` (see :mod:`grader.registry`), the stub
``assignments/<id>.py`` is :func:`grader.handout.stub_source` of its folder's ``solution.py``,
and the solution's own "Allowed imports" paragraph is rewritten from the assignment's policy
(so the solution, the stub and the grader state one policy). ``tests/test_stubs.py`` checks
that the committed files equal what this script generates. The notebooks are not committed:
``grader release student`` writes them.

Usage::

    python tools/make_stubs.py          # rewrite stale stubs (and policy paragraphs)
    python tools/make_stubs.py --check  # exit 1 if anything is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import handout, registry  # noqa: E402

STUBS = ROOT / "assignments"


def generated() -> list[tuple[Path, str]]:
    """(path, text) of every generated file: each solution with its policy, each stub."""
    out = []
    for aid in registry.ids():
        a = registry.load(aid)
        if not a.handout:
            continue
        solution = a.solution_path
        out.append((solution, handout.with_policy(solution.read_text(encoding="utf-8"), a, str(solution))))
        out.append((STUBS / f"{aid}.py", handout.stub_source(a)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if out of date")
    args = parser.parse_args(argv)
    stale = []
    # Solutions first: each stub is generated from its solution with the policy rendered.
    for path, text in generated():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if args.check and stale:
        print("out of date: " + ", ".join(str(p.relative_to(ROOT)) for p in stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

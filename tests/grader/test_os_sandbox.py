"""The OS sandbox, attacked: with the in-process fence switched off by the submission itself,
every escape of the isolation issue's classes 1-5 must fail, score exactly what the honest
code earns, and leave nothing created, changed or running outside the sandbox."""

from __future__ import annotations

import os
import textwrap
import socket
import stat
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from grader import bubblewrap, engine, runner

from .conftest import LIMITS, SEED, by_function, child_pids

PROJECT = Path(engine.PROJECT_ROOT)
SITE = Path(np.__file__).resolve().parent.parent


def test_the_sandbox_is_active_here():
    """CI installs bubblewrap: grading there must run in the OS sandbox, not the fence."""
    probe = bubblewrap.probe()
    assert probe.ok, probe.reason
    assert runner.isolation_mode() == "sandbox"


def test_require_refuses_a_machine_without_bubblewrap(monkeypatch):
    monkeypatch.setattr(bubblewrap, "probe", lambda: bubblewrap.Probe(False, "no bwrap here"))
    with pytest.raises(runner.SandboxUnavailable, match="no bwrap here"):
        runner.isolation_mode("require")
    assert runner.isolation_mode("auto") == "fence"
    assert runner.isolation_mode("off") == "fence"
    with pytest.raises(ValueError, match="GRADER_SANDBOX must be"):
        runner.isolation_mode("sometimes")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _attacks(output: str) -> dict[str, str]:
    out = {}
    for line in output.splitlines():
        if line.startswith("ATTACK "):
            _, name, verdict = line.split(" ", 3)[:3]
            if name not in out:  # a part runs several cases: the first attempt counts
                out[name] = line
                out[name + ":ok"] = verdict == "SUCCEEDED"
    return out


@pytest.fixture(scope="module")
def escaped(selftest, submissions, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "escaped.txt"
    port = _free_port()
    reached: list[bool] = []

    def knock() -> None:  # try the port the submission listens on, from outside
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not reached:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    reached.append(True)
            except OSError:
                time.sleep(0.1)

    knocker = threading.Thread(target=knock, daemon=True)
    knocker.start()
    before = child_pids()
    cache = tmp_path_factory.mktemp("cache")
    (cache / "parent").mkdir()
    (cache / "worker" / "someone-else").mkdir(parents=True)
    path = submissions("fence_off", "os_escapes", OUTSIDE=outside, PARENT_PID=os.getpid(),
                       PORT=port, PROJECT=PROJECT, SITE=SITE, CACHE=cache)
    result = engine.grade(selftest, path, seed=SEED, overrides=LIMITS, cache_root=str(cache))
    assert not (cache / "parent" / "poison").exists()
    saved = [p for p in (cache / "worker").iterdir() if p.name != "someone-else"]
    assert len(saved) == 1 and any(saved[0].iterdir())  # the worker's programs were saved
    for entry in saved[0].iterdir():  # ... by the parent, as plain private files
        st = entry.lstat()
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, entry
    assert (saved[0] / "rootid-cache").exists()  # sent back, but defanged
    time.sleep(4)  # the spawned child would write at 3 s
    yield by_function(result), outside, reached, before
    reached.append(False)  # stop the knocker


def test_every_part_scores_what_the_honest_code_earns(escaped):
    parts, *_ = escaped
    for name in ("relu", "relu_backward", "sigmoid", "sample_normal", "standardize"):
        assert parts[name].score == parts[name].points, (name, parts[name].feedback)


def test_the_fence_was_really_off(escaped):
    parts, *_ = escaped
    attacks = _attacks(parts["relu_backward"].output)
    # `import optax` got past the (emptied) fence and failed only because optax is absent.
    assert "failed ModuleNotFoundError" in attacks["import_optax"], attacks
    for part in parts.values():
        assert "SandboxError" not in part.output, part.output  # no refusal came from the fence


@pytest.mark.parametrize("function, attack", [
    ("relu", "write_outside"), ("relu", "signal_parent"), ("relu", "setpriority_parent"),
    ("relu_backward", "import_optax"), ("relu_backward", "read_optax"),
    ("relu_backward", "proc_root_jaxdl"), ("relu_backward", "read_solutions"),
    ("relu_backward", "read_git"), ("relu_backward", "read_case_builders"),
    ("sigmoid", "mkfifo"), ("sigmoid", "mknod"), ("sigmoid", "sqlite_outside"),
    ("sigmoid", "chmod_readonly"), ("sigmoid", "write_jaxdl"),
    ("sigmoid", "poison_parent_cache"), ("sigmoid", "list_other_caches"),
    ("sigmoid", "write_cache_seed"),
    ("sample_normal", "connect_out"), ("sample_normal", "memfd"),
    ("sample_normal", "ptrace_attach"), ("standardize", "unshare"),
])
def test_attack_fails(escaped, function, attack):
    parts, *_ = escaped
    attacks = _attacks(parts[function].output)
    assert attack in attacks, parts[function].output
    if attack == "read_optax" and attacks[attack + ":ok"]:
        # site-packages is too large to recreate entry by entry: optax's folder is masked by
        # an empty one whose __init__.py is the grader's stand-in for a missing module.
        assert "Stands in" in attacks[attack], attacks[attack]
        return
    assert not attacks[attack + ":ok"], attacks[attack]


def test_nothing_escaped_to_the_host(escaped):
    parts, outside, reached, before = escaped
    assert not outside.exists()
    assert not Path(str(outside) + ".db").exists()
    assert not (PROJECT / "jaxdl" / "evil.py").exists()
    assert oct((PROJECT / "jaxdl" / "nn.py").stat().st_mode & 0o777) != oct(0o777)
    # The spawned child started inside the sandbox and died with it.
    assert _attacks(parts["relu"].output)["spawn:ok"]  # spawning itself is allowed in there
    assert child_pids() <= before


def test_a_server_inside_is_unreachable(escaped):
    parts, _, reached, _ = escaped
    assert _attacks(parts["sample_normal"].output)["listen:ok"], parts["sample_normal"].output
    assert reached == [] or reached == [False]


def test_only_the_sandbox_processes_are_visible(escaped):
    parts, *_ = escaped
    line = _attacks(parts["standardize"].output)["proc_other"]
    pids = eval(line.split("SUCCEEDED ", 1)[1])  # noqa: S307 - a list of ints the test printed
    assert max(pids) < 50 and os.getpid() not in pids or len(pids) <= 5


@pytest.fixture(scope="module")
def limited(selftest, submissions):
    if runner.cgroups.unavailable_reason():
        pytest.fail("control groups are needed for the kernel caps: "
                    + runner.cgroups.unavailable_reason())
    path = submissions("fence_off", "os_limits")
    before = child_pids()
    result = by_function(engine.grade(selftest, path, seed=SEED, overrides=LIMITS))
    return result, before


def test_memory_spread_over_processes_is_capped_by_the_kernel(limited):
    parts, _ = limited
    p = parts["relu"]
    # 3 x 700 MiB is over the group's cap (1 GiB + 768 MiB): the kernel's OOM killer chose a
    # child (the part goes on, and its output shows the SIGKILL) or the worker itself (the
    # part scores 0 for memory).
    lines = [ln for ln in p.output.splitlines() if ln.startswith("MEMORY")]
    killed_child = any(int(c) == -9 for ln in lines for c in ln.split()[1:])
    assert killed_child or "memory" in p.feedback, (p.feedback, p.output)
    assert parts["sigmoid"].score == parts["sigmoid"].points  # the next part is unaffected


def test_a_fork_bomb_is_capped_by_the_kernel(limited):
    parts, before = limited
    p = parts["relu_backward"]
    assert p.score == p.points, p.feedback
    line = next(ln for ln in p.output.splitlines() if ln.startswith("FORKBOMB"))
    assert line.startswith("FORKBOMB stopped"), line
    assert int(line.split()[2]) < runner.MAX_PIDS
    assert child_pids() <= before  # every child died with the sandbox


def test_cpu_time_is_capped_by_the_kernel():
    from grader import protocol

    w = runner.Worker(memory_bytes=2**30, output_bytes=4096, output_hard_bytes=2**20,
                      cpu_seconds=2)
    try:
        assert w.start() is None
        src = "def spin():\n    while True:\n        pass\n"
        assert w.request({"op": "load", "source": src, "filename": "s.py"}, timeout=30,
                         what="loading").header["ok"]
        reply = w.request({"op": "call", "fn": "spin", "args": protocol.encode_value((), []),
                           "kwargs": {"dict": []}}, timeout=60, what="spinning")
        assert reply.failure is not None and reply.failure.kind == "timeout"
        assert "CPU limit" in reply.failure.message, reply.failure.message
        assert reply.seconds < 30
    finally:
        w.kill()


def test_an_absent_module_is_named_in_the_feedback(selftest, submissions):
    p = by_function(engine.grade(selftest, submissions("fence_off", "absent_import"), seed=SEED,
                                 hidden=False, overrides=LIMITS))["relu"]
    assert p.score == 0
    assert "imports 'optax', which this assignment does not allow" in p.feedback, p.feedback


def test_trusted_helpers_exist_only_in_the_parts_that_bind_them(tmp_path):
    """A trusted helper holds reference code of other parts: a worker holds only the helpers
    its part binds and what they use, from source with no file behind it, and only while
    that part is graded. The rest of trusted.py (here ``secret_answer``, say the reference of
    the part being graded) is nowhere in it: not as a file, a global or a source line."""
    import numpy as np

    from grader.spec import Assignment, Case, Part

    folder = tmp_path / "course" / "hw" / "helpers"
    folder.mkdir(parents=True)
    (folder / "trusted.py").write_text(
        "import jax.numpy as jnp\n\nZERO = 0\n\n\ndef _floor():\n    return ZERO\n\n\n"
        "def relu(z):\n    return jnp.maximum(z, _floor())\n\n\n"
        "def secret_answer(z):\n    return jnp.maximum(z, 0)  # SECRET-MARKER\n")
    z = np.array([-1.0, 0.5, 2.0], np.float32)

    def cases(replace):
        return lambda: [Case(args=(z,), expected=np.maximum(z, 0), replace=replace)]

    assignment = Assignment(
        id="hw/helpers", title="helpers", folder=folder,
        parts=(Part("probe", 1, "no helper", cases({})),
               Part("probe", 1, "a helper bound", cases({"relu": "trusted:relu"})),
               Part("probe", 1, "no helper again", cases({}))))
    path = tmp_path / "s.py"
    path.write_text(textwrap.dedent(f"""
        import inspect, os, sys
        import jax.numpy as jnp

        def probe(z):
            helper = globals().get("relu")
            print("FILE", os.path.exists({str(folder / "trusted.py")!r}))
            if helper is not None:
                print("GLOBALS", sorted(k for k in helper.__globals__ if not k.startswith("__")))
                try:
                    inspect.getsource(helper)
                    print("SOURCE readable")
                except (OSError, TypeError):
                    print("SOURCE none")
                found = [m for m in list(sys.modules.values()) if hasattr(m, "secret_answer")]
                print("SECRET", bool(found))
            return jnp.maximum(z, 0)
        """))
    result = engine.grade(assignment, path, seed=0, overrides=LIMITS)
    assert [p.score for p in result.parts] == [1, 1, 1], [p.feedback for p in result.parts]
    outs = [p.output for p in result.parts]
    assert all("FILE False" in o for o in outs), outs
    assert ["GLOBALS" in o for o in outs] == [False, True, False], outs
    assert "GLOBALS ['ZERO', '_floor', 'jnp', 'relu']" in outs[1], outs[1]
    assert "SOURCE none" in outs[1] and "SECRET False" in outs[1], outs[1]

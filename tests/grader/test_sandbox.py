"""The worker's audit-hook policy (the in-process fence), probed directly through one worker.

These workers run with ``isolation="fence"``: the fence alone, without the OS sandbox, so
its own refusals are what is tested. The OS sandbox is attacked in ``test_os_sandbox.py``.
"""

from __future__ import annotations

import os

import pytest

from grader import protocol
from grader.engine import PROJECT_ROOT
from grader.runner import Worker

PROBE = '''
import os


def probe(outside):
    checks = {
        "import_solutions": lambda: __import__("tests.grader.conftest"),
        "read_tests": lambda: open(os.path.join(ROOT, "tests", "conftest.py")).read(),
        "proc_parent": lambda: open(f"/proc/{os.getppid()}/cmdline").read(),
        "proc_self": lambda: open("/proc/self/status").read(),
        "dir_fd": lambda: os.open("/etc", os.O_RDONLY),
        "setrlimit": lambda: __import__("resource").setrlimit(__import__("resource").RLIMIT_DATA, (-1, -1)),
        "symlink": lambda: os.symlink("/etc/passwd", "link"),
        "ctypes": lambda: __import__("ctypes").CDLL("libc.so.6").getpid(),
        "gc_objects": lambda: __import__("gc").get_objects(),
        "signal_parent": lambda: os.kill(os.getppid(), 0),
        "write_outside": lambda: open(outside, "w"),
        "remove_outside": lambda: os.remove(outside),
        "chmod_outside": lambda: os.chmod(os.path.dirname(outside), 0o777),
        "files_inside": lambda: (open("z", "w").close(), os.mkdir("d"), os.rename("z", "d/z"),
                                 os.remove("d/z"), os.rmdir("d")),
        "env": lambda: ",".join(sorted(os.environ)),
    }
    out = {}
    for name, check in checks.items():
        try:
            value = check()
            out[name] = "ok " + (value if isinstance(value, str) and name == "env" else "")
        except BaseException as exc:
            out[name] = f"{type(exc).__name__}: {exc}"
    return out
'''


@pytest.fixture(scope="module")
def probed(tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "file.txt"
    outside.write_text("keep me")
    os.environ["GRADER_TEST_SECRET"] = "hunter2"
    w = Worker(memory_bytes=2**30, output_bytes=4096, output_hard_bytes=2**20,
               deny_read=[str(PROJECT_ROOT / "tests")], isolation="fence")
    try:
        assert w.start() is None
        src = f"ROOT = {str(PROJECT_ROOT)!r}\n" + PROBE
        load = w.request({"op": "load", "source": src, "filename": "probe.py"}, timeout=30, what="x")
        assert load.header["ok"], load.header
        blobs: list[bytes] = []
        reply = w.request({"op": "call", "fn": "probe", "kwargs": {"dict": []},
                           "args": protocol.encode_value((str(outside),), blobs)}, blobs,
                          timeout=30, what="x")
        assert reply.failure is None and reply.header["ok"], reply
        yield protocol.decode_value(reply.header["out"], reply.blobs), outside
    finally:
        os.environ.pop("GRADER_TEST_SECRET", None)
        w.kill()


@pytest.mark.parametrize("check, needle", [
    ("import_solutions", "is not allowed in graded code"),
    ("read_tests", "is not allowed in graded code"),
    ("proc_parent", "other processes' /proc entries"),
    ("dir_fd", "opening the directory '/etc'"),
    ("setrlimit", "changing resource limits"),
    ("symlink", "creating links"),
    ("ctypes", "ctypes (calling native code)"),
    ("gc_objects", "garbage collector"),
    ("signal_parent", "sending signals to other processes"),
    ("write_outside", "graded code may only write in its temporary working directory"),
    ("remove_outside", "graded code may only write"),
    ("chmod_outside", "graded code may only write"),
])
def test_refused(probed, check, needle):
    result, _ = probed
    assert result[check].startswith("SandboxError") and needle in result[check], result[check]


def test_allowed_and_untouched(probed):
    result, outside = probed
    assert result["proc_self"].startswith("ok")
    assert result["files_inside"].startswith("ok")
    assert outside.read_text() == "keep me"
    env = result["env"].split(" ", 1)[1].split(",")
    assert "GRADER_TEST_SECRET" not in env  # the caller's environment does not leak
    assert {"PATH", "HOME", "TMPDIR"} <= set(env)


def test_worker_files_are_removed_after_kill():
    w = Worker(memory_bytes=2**30, output_bytes=4096, output_hard_bytes=2**20)
    assert w.start() is None
    tmp = w.tmp
    assert tmp is not None
    w.kill()
    assert not os.path.exists(tmp)


def test_preloaded_forbidden_module_is_hidden_from_the_student():
    """An allowed library may import a forbidden one before the policy is armed (preload);
    the student's own import must still be refused."""
    w = Worker(memory_bytes=2**30, output_bytes=4096, output_hard_bytes=2**20,
               forbidden=["optax"], preload=["optax"], isolation="fence")
    try:
        assert w.start() is None
        src = ("import sys\n"
               "hidden = not any(m == 'optax' or m.startswith('optax.') for m in sys.modules)\n"
               "def was_hidden():\n"
               "    return hidden\n"
               "def f():\n"
               "    import optax.tree_utils\n")
        load = w.request({"op": "load", "source": src, "filename": "s.py"}, timeout=30, what="x")
        assert load.header["ok"] and load.header["violations"] == []
        blobs: list[bytes] = []
        reply = w.request({"op": "call", "fn": "f", "kwargs": {"dict": []},
                           "args": protocol.encode_value((), blobs)}, blobs, timeout=30, what="x")
        assert not reply.header["ok"]
        assert reply.header["violations"] == ["optax"]
        check = w.request({"op": "call", "fn": "was_hidden", "kwargs": {"dict": []},
                           "args": {"tuple": []}}, [], timeout=30, what="x")
        assert check.header["ok"] and check.header["out"] is True
    finally:
        w.kill()

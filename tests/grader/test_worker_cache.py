"""Workers' cache folders are student-writable: pruning and removal survive hostile trees."""

from __future__ import annotations

import ctypes
import os
import stat
import time
from pathlib import Path

from grader import worker_cache


def _deep_tree(root, depth: int) -> None:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):  # one-letter names, fd-relative: deeper than PATH_MAX allows
            os.mkdir("a", dir_fd=fd)
            child = os.open("a", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            with open(os.open("f", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=child), "w") as f:
                f.write("x")
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


def test_remove_a_tree_deeper_than_path_max(tmp_path):
    victim = tmp_path / "cache"
    victim.mkdir()
    _deep_tree(victim, 3000)  # 6,000-character paths at the bottom
    worker_cache.remove(victim)
    assert not victim.exists()
    assert list(tmp_path.iterdir()) == []


def test_remove_does_not_follow_links(tmp_path):
    keep = tmp_path / "keep"
    keep.mkdir()
    (keep / "precious.txt").write_text("mine")
    victim = tmp_path / "cache"
    victim.mkdir()
    (victim / "link").symlink_to(keep)
    (victim / "sub").mkdir()
    (victim / "sub" / "link2").symlink_to(keep / "precious.txt")
    os.chmod(victim / "sub", 0)  # a student's unreadable folder
    worker_cache.remove(victim)
    assert not victim.exists()
    assert (keep / "precious.txt").read_text() == "mine"


def test_size_flags_what_cannot_be_a_cache(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(5):
        (flat / f"entry{i}").write_bytes(b"x" * 100)
    assert 500 <= worker_cache.size(flat, 10**6) <= 5 * 4096  # bytes, or blocks allocated
    assert worker_cache.size(flat, 250) > 250  # stops once past the limit
    deep = tmp_path / "deep"
    deep.mkdir()
    _deep_tree(deep, worker_cache.MAX_DEPTH + 2)
    assert worker_cache.size(deep, 10**9) > 10**9
    assert worker_cache.cap_size(deep, 10**9) is True and not deep.exists()
    assert worker_cache.cap_size(flat, 10**6) is False and flat.exists()


def test_prune_keeps_the_newest_and_survives_a_tree_bomb(tmp_path):
    root = tmp_path / "worker"
    root.mkdir()
    (root / "d0").mkdir()
    _deep_tree(root / "d0", 1500)
    for i in range(1, 5):
        (root / f"d{i}").mkdir()
        time.sleep(0.01)
    (root / "stray-file").write_text("not a folder")
    worker_cache.prune(root, keep=2)
    assert sorted(p.name for p in root.iterdir()) == ["d3", "d4", "stray-file"]


def test_size_counts_allocated_blocks(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    with open(folder / "hidden", "wb") as f:  # fallocate(KEEP_SIZE): size 0, 8 MiB on disk
        libc = ctypes.CDLL(None, use_errno=True)
        libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
        assert libc.fallocate(f.fileno(), 1, 0, 8 * 2**20) == 0, os.strerror(ctypes.get_errno())
    assert (folder / "hidden").stat().st_size == 0
    assert worker_cache.size(folder, 2**30) >= 8 * 2**20


def test_entries_cross_only_as_plain_files(tmp_path):
    src = tmp_path / "scratch"
    src.mkdir()
    (src / "jit_f-abc-cache").write_bytes(b"program")
    (src / "seeded-cache").write_bytes(b"old")
    (src / "../escape").resolve().write_bytes(b"x")
    (src / "link-cache").symlink_to(tmp_path / "escape")
    os.mkfifo(src / "fifo-cache")
    (src / "bad name").write_bytes(b"x")
    (src / "big-cache").write_bytes(b"x" * (worker_cache.MAX_ENTRY_BYTES + 1))
    entries = worker_cache.read_entries(src, skip={"seeded-cache": 3})
    assert entries == [("jit_f-abc-cache", b"program")]
    dest = tmp_path / "host"
    hostile = entries + [("../outside", b"x"), (".hidden", b"x"), ("ok-cache", "not bytes")]
    assert worker_cache.write_entries(dest, hostile) == 1
    assert [p.name for p in dest.iterdir()] == ["jit_f-abc-cache"]
    st = (dest / "jit_f-abc-cache").stat()
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert not (tmp_path / "outside").exists()


def test_folder_depends_on_source_unless_trusted(tmp_path):
    a = worker_cache.folder(tmp_path, "week1/x", "print(1)")
    b = worker_cache.folder(tmp_path, "week1/x", "print(2)")
    assert a != b and a.parent == tmp_path / "worker"
    assert worker_cache.folder(tmp_path, "week1/x", "print(1)", trusted=True) == \
        worker_cache.folder(tmp_path, "week1/x", "print(2)", trusted=True)
    # Undecodable text (lone surrogates from a Latin-1 file name) still hashes.
    worker_cache.folder(tmp_path, "week1/x", "bad \udce9 text")


def test_timed_parts_run_without_the_cache(selftest, submissions, tmp_path):
    """A part with "cold" (timed) cases gets a worker with no compile cache at all: the
    submission could switch JAX's cache back on in its own process otherwise."""
    import dataclasses

    from grader import engine

    from .conftest import LIMITS, SEED, by_function

    grader = engine.Grader(selftest, seed=SEED, hidden=False, overrides=LIMITS,
                           cache_root=str(tmp_path / "cache"))
    for pc in grader.cases():
        if pc.part.function == "relu":
            pc.cases = [(dataclasses.replace(c, cold=True), n) for c, n in pc.cases]
    parts = by_function(grader.grade(submissions("cache_probe")))
    assert "CACHE False False" in parts["relu"].output, parts["relu"].output
    assert "CACHE True True" in parts["relu_backward"].output, parts["relu_backward"].output
    assert parts["relu"].score == parts["relu"].points


def test_a_poisoned_cache_never_hangs_the_graders_start_up(selftest, submissions, tmp_path):
    """Red-team round 2: entries poisoned by a submission are read only by its own calls
    (the worker's warm-up runs before the cache is seeded), so a re-grade starts normally
    and is never a "grading error"."""
    from grader import engine

    from .conftest import LIMITS, SEED

    path = submissions("fence_off", "cache_poison")
    for _ in range(2):
        result = engine.grade(selftest, path, seed=SEED, hidden=False, overrides=LIMITS,
                              cache_root=str(tmp_path / "cache"))
        assert result.status == "complete", [p.feedback for p in result.parts]


def test_cache_folders_are_shared_by_one_owner_and_never_across_owners(tmp_path):
    """One student's edited files share a folder (an edit recompiles only what changed);
    two students, or no owner at all (keyed by the file), never do."""
    from grader import worker_cache as wc

    a, b = "def f():\n    return 1\n", "def f():\n    return 1  # edited\n"
    assert wc.folder(tmp_path, "x/y", a, owner="student\0ann") == wc.folder(tmp_path, "x/y", b, owner="student\0ann")
    assert wc.folder(tmp_path, "x/y", a, owner="student\0ann") != wc.folder(tmp_path, "x/y", a, owner="student\0bob")
    assert wc.folder(tmp_path, "x/y", a, owner="student\0ann") != wc.folder(tmp_path, "x/z", a, owner="student\0ann")
    assert wc.folder(tmp_path, "x/y", a) != wc.folder(tmp_path, "x/y", b)
    # An owner named like a source, or "trusted", cannot meet the other kinds of folder.
    assert wc.folder(tmp_path, "x/y", a, owner=a) != wc.folder(tmp_path, "x/y", a)
    assert wc.folder(tmp_path, "x/y", a, owner="trusted") != wc.folder(tmp_path, "x/y", a, trusted=True)
    # The jit executor's folder is its own: the student's worker, which can write anything
    # into the student's folder, never fills the cache of the process that checks it.
    student = wc.folder(tmp_path, "x/y", a, owner="student\0ann")
    executor = wc.folder(tmp_path, "x/y", a, owner="student\0ann", executor=True)
    assert executor.parent == tmp_path / "executor" and student.parent == tmp_path / "worker"
    assert executor == wc.folder(tmp_path, "x/y", b, owner="student\0ann", executor=True)
    assert executor != wc.folder(tmp_path, "x/y", a, owner="student\0bob", executor=True)


def test_batch_gives_each_student_a_cache_folder_of_their_own(tmp_path, selftest):
    from grader import batch, worker_cache as wc

    subs = tmp_path / "subs"
    subs.mkdir()
    source = (Path(__file__).resolve().parents[2] / "grader" / "course" / "selftest" / "basics"
              / "solution.py").read_text()
    (subs / "ann.py").write_text(source)
    (subs / "bob.py").write_text(source)  # the same bytes: still two folders
    cache = tmp_path / "cache"
    batch.grade_folder(selftest, subs, tmp_path / "grades.csv", jobs=1, seed=3, cache_root=str(cache),
                       overrides={"time_per_call": 60.0}, reports=False)
    folders = {p.name for p in (cache / "worker").iterdir()}
    expected = {wc.folder(cache, selftest.id, source, owner="student\0" + s).name for s in ("ann", "bob")}
    assert expected <= folders and len(expected) == 2

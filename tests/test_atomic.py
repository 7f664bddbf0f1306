"""Atomic files and folders: a result appears whole or not at all, and one run at a time."""

import errno
import json
import os
import stat
import subprocess
import sys

import pytest

from gpudecode import atomic
from gpudecode.atomic import (FolderLock, StagedFolder, atomic_path, atomic_write_text,
                              clean_leftovers, discard_staged, exchange_paths, replace_folder,
                              shown_path, sibling_name)
from gpudecode.errors import OutputError


def test_written_whole_with_ordinary_permissions(tmp_path):
    target = tmp_path / "sub" / "summary.json"
    atomic_write_text(target, "{}")
    assert target.read_text() == "{}"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["summary.json"]


def test_crash_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "cells.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["cells.csv"]


def _folder(path, files):
    path.mkdir()
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def _contents(path):
    return {p.name: p.read_text() for p in path.iterdir()}


def test_exchange_swaps_two_folders_in_one_call(tmp_path):
    a = _folder(tmp_path / "a", {"x": "A"})
    b = _folder(tmp_path / "b", {"y": "B", "z": "B"})
    ino_a = a.stat().st_ino
    try:
        exchange_paths(a, b)
    except OSError as exc:
        if exc.errno in (errno.ENOSYS, errno.EINVAL):
            pytest.skip(f"no RENAME_EXCHANGE here ({exc})")
        raise
    assert _contents(a) == {"y": "B", "z": "B"} and _contents(b) == {"x": "A"}
    assert b.stat().st_ino == ino_a                  # the same folder, moved


def test_replace_folder_over_a_non_empty_folder(tmp_path):
    final = _folder(tmp_path / "out", {"cells.csv": "old", "pairs.csv": "old"})
    new = _folder(tmp_path / "new", {"cells.csv": "new"})
    method = replace_folder(new, final)
    assert method in ("exchange", "two renames")
    assert _contents(final) == {"cells.csv": "new"}  # no pairs.csv left from the old run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    # And into a place that does not exist yet: one rename.
    assert replace_folder(_folder(tmp_path / "n2", {"a": "1"}), tmp_path / "fresh") == "rename"
    assert _contents(tmp_path / "fresh") == {"a": "1"}


def test_without_exchange_two_renames_and_recovery_after_a_kill_between(tmp_path, monkeypatch):
    def no_exchange(a, b):
        raise OSError(errno.EINVAL, "not supported")
    monkeypatch.setattr(atomic, "exchange_paths", no_exchange)
    final = _folder(tmp_path / "out", {"cells.csv": "old"})
    assert replace_folder(_folder(tmp_path / "new", {"cells.csv": "new"}), final) == "two renames"
    assert _contents(final) == {"cells.csv": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    # A kill between the two renames: the old folder is aside, the new one not yet in place.
    real_rename = os.rename
    calls = []

    def rename_then_die(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed between the renames")
        return real_rename(src, dst)
    monkeypatch.setattr(atomic.os, "rename", rename_then_die)
    with pytest.raises(KeyboardInterrupt):
        replace_folder(_folder(tmp_path / "new2", {"cells.csv": "newer"}), final)
    monkeypatch.setattr(atomic.os, "rename", real_rename)
    assert not final.exists()
    # The next run on the folder first puts the old complete folder back.
    clean_leftovers(final)
    assert _contents(final) == {"cells.csv": "new"}


def test_staged_folder_commit_replaces_discard_keeps(tmp_path):
    final = _folder(tmp_path / "out", {"models.csv": "old", "pairs.csv": "old"})
    with StagedFolder(final) as stage:
        assert stage.path.parent == tmp_path and stage.path.name.startswith(".out.gpudecode-new-")
        assert sibling_name(final, "lock").exists()              # locked while building
        (stage.path / "models.csv").write_text("new")
        stage.commit()
    assert _contents(final) == {"models.csv": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # lock and temp gone

    with pytest.raises(ValueError):
        with StagedFolder(final) as stage:
            (stage.path / "models.csv").write_text("half")
            raise ValueError("bad input found late")
    assert _contents(final) == {"models.csv": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_discard_staged_removes_what_this_process_builds(tmp_path):
    stage = StagedFolder(tmp_path / "out")
    path = stage.open()
    (path / "cells.csv").write_text("half")
    assert discard_staged() == [path]
    assert list(tmp_path.iterdir()) == []


def test_leftovers_of_killed_runs_are_removed_by_the_next(tmp_path):
    final = _folder(tmp_path / "out", {"summary.json": "{}"})
    killed = _folder(sibling_name(final, "new", "123-deadbeef"), {"cells.csv": "half"})
    inner = final / ".results.h5.abc123.tmp"
    inner.write_text("half")
    other = _folder(tmp_path / "out2", {"a": "keep"})           # another result: not touched
    looks_alike = _folder(tmp_path / ".out.gpudecode-newer", {"a": "keep"})
    removed = clean_leftovers(final)
    assert set(removed) == {killed, inner}
    assert not killed.exists() and not inner.exists()
    assert other.exists() and looks_alike.exists()


def test_long_names_get_short_siblings(tmp_path):
    final = tmp_path / ("a" * 250)
    stage = StagedFolder(final)
    assert len(stage.path.name.encode()) < 200
    with stage:
        (stage.path / "x").write_text("1")
        stage.commit()
    assert (final / "x").read_text() == "1"
    assert shown_path(stage.path) != final                      # shortened: shown as is
    short = StagedFolder(tmp_path / "out")
    assert shown_path(short.path) == tmp_path / "out"
    assert shown_path(tmp_path / "out") == tmp_path / "out"


HOLD = """
import sys, time
from gpudecode.atomic import FolderLock
lock = FolderLock(sys.argv[1], sys.argv[2]).acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_lock_names_the_holder_and_is_taken_over_when_it_dies(tmp_path):
    lock_path = tmp_path / ".out.lock"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(lock_path), str(tmp_path / "out")],
                            stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(OutputError) as err:
            FolderLock(lock_path, tmp_path / "out").acquire()
        assert f"pid {proc.pid}" in str(err.value) and err.value.field == "--out"
        assert "in use by another gpudecode run" in str(err.value)
    finally:
        proc.kill()
        proc.wait()
    # The holder was killed: its lock file is still there, the lock is not.
    assert json.loads(lock_path.read_text())["pid"] == proc.pid
    with FolderLock(lock_path, tmp_path / "out") as lock:
        assert lock.held
        assert json.loads(lock_path.read_text())["pid"] == os.getpid()
    assert not lock_path.exists()

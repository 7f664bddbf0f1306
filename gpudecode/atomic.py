"""Atomic writes: results appear whole or not at all.

Files: :func:`atomic_path` / :func:`atomic_write_text` write to a temporary name beside the
target and rename it over the target (``rename(2)`` replaces a file in one step).

Folders: :class:`StagedFolder` builds a whole result folder under a temporary sibling name
(``.NAME.gpudecode-new-<token>``) and swaps it in with one atomic step. ``rename(2)`` cannot
replace a non-empty folder, so an existing folder is exchanged with the new one by
``renameat2(RENAME_EXCHANGE)`` (Linux >= 3.15; ``renamex_np(RENAME_SWAP)`` on macOS): one
system call after which ``NAME`` is the new folder and the temporary name holds the old one,
which is then deleted. Where the file system cannot exchange (EINVAL: e.g. some network file
systems), the old folder is first renamed aside (``.NAME.gpudecode-old-<token>``) and the
new one renamed in; a kill between those two renames leaves ``NAME`` absent and the old
folder aside, and the next :class:`StagedFolder` on ``NAME`` renames it back before anything
else. Either way a reader sees the old complete folder or the new complete one.

A :class:`FolderLock` (``flock`` on a lock file holding pid, host and start time) keeps two
runs off one folder: the second is told who holds it. The kernel drops the lock when its
process dies, so a lock file left by a killed run is simply taken over. Only the lock holder
deletes temporary siblings, so a run never deletes another live run's work.

:func:`discard_staged` removes every temporary folder this process has open (for an
interrupt handler that exits without unwinding the stack).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path

from .errors import OutputError

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["atomic_path", "atomic_write_text", "exchange_paths", "replace_folder",
           "FolderLock", "StagedFolder", "discard_staged", "sibling_name", "clean_leftovers",
           "shown_path", "output_error",
           "STAGING_TAG"]

STAGING_TAG = ".gpudecode-"
_NAME_BYTES = 120            # longest name kept whole in a sibling name (NAME_MAX is 255)
_LEFTOVER = re.compile(r"new-[0-9]+-[0-9a-f]{8}|old-[0-9a-f]{12}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file lives in the same folder, so the final ``os.replace`` is atomic.
    On any exception the temporary file is removed and ``path`` is left untouched.

    Examples
    --------
    >>> with atomic_path("out.h5") as tmp:          # doctest: +SKIP
    ...     with h5py.File(tmp, "w") as f: ...
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{_short(path.name)}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    # mkstemp makes 0600 files; results should get the permissions any new file would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# ----------------------------------------------------------------------------- names

def _short(name: str) -> str:
    """``name``, or its first bytes plus a hash when it is too long to carry a suffix."""
    raw = name.encode("utf-8", "surrogateescape")
    if len(raw) <= _NAME_BYTES:
        return name
    head = raw[:_NAME_BYTES - 17].decode("utf-8", "ignore")
    return f"{head}~{hashlib.sha256(raw).hexdigest()[:16]}"


def shown_path(path: str | os.PathLike) -> Path:
    """The folder a temporary ``.NAME.gpudecode-new-...`` folder becomes (others unchanged).

    For what a report shows while it is drawn inside a folder that is not yet in place.
    """
    path = Path(path)
    name = path.name
    head, tag, tail = name.rpartition(STAGING_TAG)
    if tag and head.startswith(".") and _LEFTOVER.fullmatch(tail) and tail.startswith("new-"):
        return path.parent / head[1:]
    return path


def sibling_name(final: str | os.PathLike, kind: str, token: str = "") -> Path:
    """``final``'s hidden sibling ``.NAME.gpudecode-<kind>[-token]`` (same folder, same disk)."""
    final = Path(final)
    suffix = f"{kind}-{token}" if token else kind
    return final.parent / f".{_short(final.name)}{STAGING_TAG}{suffix}"


# ----------------------------------------------------------------------------- exchange

_RENAME_EXCHANGE = 2         # linux/fs.h
_RENAME_SWAP = 2             # macOS sys/stdio.h
_AT_FDCWD = -100
_libc = None


def _c_library():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return _libc


def exchange_paths(a: str | os.PathLike, b: str | os.PathLike) -> None:
    """Swap two existing paths in one atomic step (``renameat2(RENAME_EXCHANGE)``).

    Raises
    ------
    OSError
        ``ENOSYS`` where the system has no exchange call, ``EINVAL`` / ``ENOTSUP`` where the
        file system does not support it, or the error of the call.
    """
    a_b, b_b = os.fsencode(os.fspath(a)), os.fsencode(os.fspath(b))
    libc = _c_library()
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        rc = libc.renameat2(_AT_FDCWD, a_b, _AT_FDCWD, b_b, ctypes.c_uint(_RENAME_EXCHANGE))
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        rc = libc.renamex_np(a_b, b_b, ctypes.c_uint(_RENAME_SWAP))
    else:
        raise OSError(errno.ENOSYS, "no atomic exchange of two paths on this system")
    if rc != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), os.fspath(a), None, os.fspath(b))


_CANNOT_EXCHANGE = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}


def replace_folder(new: str | os.PathLike, final: str | os.PathLike) -> str:
    """Put folder ``new`` at ``final`` in one atomic step; delete what was there.

    Returns
    -------
    str
        ``"rename"`` (``final`` did not exist), ``"exchange"`` (one ``RENAME_EXCHANGE``), or
        ``"two renames"`` (the file system cannot exchange; see the module docstring).
    """
    new, final = Path(new), Path(final)
    if not final.exists() and not final.is_symlink():
        try:
            os.rename(new, final)
            return "rename"
        except FileExistsError:
            pass                                    # appeared meanwhile: exchange below
        except OSError as exc:
            if exc.errno != errno.ENOTEMPTY:
                raise
    try:
        exchange_paths(new, final)
    except OSError as exc:
        if exc.errno not in _CANNOT_EXCHANGE:
            raise
        old = sibling_name(final, "old", uuid.uuid4().hex[:12])
        os.rename(final, old)
        os.rename(new, final)
        _remove(old)
        return "two renames"
    _remove(new)                                    # the old folder, now under the new name
    return "exchange"


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _fsync_tree(folder: Path) -> None:
    """Flush every file of ``folder`` and the folders themselves to disk (power-loss safety)."""
    for root, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                fd = os.open(os.path.join(root, name), os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        with contextlib.suppress(OSError):
            fd = os.open(root, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


# ----------------------------------------------------------------------------- locking

class FolderLock:
    """An exclusive lock on a result folder, held through ``lock_path`` (``flock``).

    Parameters
    ----------
    lock_path : path
        The lock file (created; removed on release).
    folder : path
        The folder the lock guards (named in the error).

    Raises
    ------
    OutputError
        On :meth:`acquire`, when another process holds the lock: the message names its pid,
        host and start time (field ``--out``).
    """

    def __init__(self, lock_path: str | os.PathLike, folder: str | os.PathLike):
        self.path = Path(lock_path)
        self.folder = Path(folder)
        self._fd: int | None = None

    def acquire(self) -> "FolderLock":
        for _ in range(20):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise output_error(exc, self.folder, "cannot lock the output folder") from None
            if fcntl is None:  # pragma: no cover - Windows: no lock
                self._fd = fd
                return self
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise OutputError(
                    f"the output folder is in use by another gpudecode run ({holder})",
                    path=self.folder, field="--out",
                    fix="wait for that run to finish (or stop it), or choose another --out"
                ) from None
            except OSError as exc:                   # no locking on this file system
                warnings.warn(f"cannot lock {self.path} ({exc.strerror}): two runs on "
                              f"{self.folder} at once would not be detected", stacklevel=2)
                self._fd = fd
                return self
            # The holder before us may have removed the file after we opened it: lock the
            # file that is at the path now.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            info = {"pid": os.getpid(), "host": socket.gethostname(),
                    "started": time.strftime("%Y-%m-%d %H:%M:%S"), "argv": sys.argv[:1]}
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(info).encode(), 0)
            self._fd = fd
            return self
        raise OutputError("cannot take the lock on the output folder (it keeps changing)",
                          path=self.folder, field="--out", fix="retry, or choose another --out")

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _read_holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info.get("pid"):
        return "process unknown"
    return f"pid {info['pid']} on {info.get('host', '?')}, started {info.get('started', '?')}"


def output_error(exc: OSError, path, what: str) -> OutputError:
    """A typed, one-line error for an OSError met while writing results."""
    reason = exc.strerror or str(exc)
    fixes = {errno.ENOSPC: "free disk space, or choose an --out on another disk",
             errno.EDQUOT: "free space within your quota, or choose an --out on another disk",
             errno.EROFS: "choose an --out on a writable disk",
             errno.EACCES: "choose an --out you can write to, or fix its permissions",
             errno.EPERM: "choose an --out you can write to, or fix its permissions",
             errno.ENAMETOOLONG: "choose a shorter --out path",
             errno.EFBIG: "raise the file size limit (ulimit -f), or write smaller results"}
    where = exc.filename or path
    return OutputError(f"{what}: {reason}", path=where, field="--out",
                       fix=fixes.get(exc.errno, "choose another --out"))


# ----------------------------------------------------------------------------- staging

_OPEN: dict[Path, "StagedFolder"] = {}
_OPEN_LOCK = threading.Lock()


def discard_staged() -> list[Path]:
    """Remove every temporary folder this process is building and release its locks.

    For an interrupt handler that ends the process without unwinding (``os._exit``); a
    normal exception unwinding through :class:`StagedFolder` cleans up by itself.

    Returns
    -------
    list of Path
        The temporary folders removed.
    """
    with _OPEN_LOCK:
        stages = list(_OPEN.values())
    removed = []
    for st in stages:
        removed.append(st.path)
        st.discard()
    return removed


def clean_leftovers(final: str | os.PathLike) -> list[Path]:
    """Remove temporary siblings of ``final`` left by killed runs; restore an old folder
    left aside by an interrupted two-rename swap. Call only while holding ``final``'s lock.

    Returns
    -------
    list of Path
        What was removed (or restored, for an ``-old-`` folder put back at ``final``).
    """
    final = Path(final)
    parent = final.parent
    if not parent.is_dir():
        return []
    prefix = f".{_short(final.name)}{STAGING_TAG}"
    found = sorted(p for p in parent.iterdir()
                   if p.name.startswith(prefix) and _LEFTOVER.fullmatch(p.name[len(prefix):]))
    done = []
    olds = [p for p in found if p.name[len(prefix):].startswith("old-")]
    if olds and not final.exists():
        os.rename(olds[-1], final)
        done.append(olds[-1])
        found.remove(olds[-1])
    for p in found:
        _remove(p)
        done.append(p)
    # Legacy leftovers of the file-by-file writer (killed inside the folder).
    if final.is_dir():
        for p in final.glob(".*.tmp"):
            _remove(p)
            done.append(p)
    return done


class StagedFolder:
    """Build a result folder under a temporary sibling name; swap it in on :meth:`commit`.

    Parameters
    ----------
    final : path
        Where the result goes. Its parent must be writable (the temporary folder is a
        sibling, so the swap never crosses disks).
    lock : bool
        Take :class:`FolderLock` on ``final`` (lock file ``.NAME.gpudecode-lock`` beside it).

    Examples
    --------
    >>> with StagedFolder("out") as stage:          # doctest: +SKIP
    ...     (stage.path / "cells.csv").write_text("...")
    ...     stage.commit()                           # without commit: nothing changes
    """

    def __init__(self, final: str | os.PathLike, *, lock: bool = True):
        self.final = Path(os.path.abspath(final))
        self.path = sibling_name(self.final, "new", f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self._lock = FolderLock(sibling_name(self.final, "lock"), self.final) if lock else None
        self.method: str | None = None
        self._open = False

    def open(self) -> Path:
        """Lock, clear leftovers of killed runs, create the temporary folder; return it."""
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise output_error(exc, self.final, "cannot create the output folder") from None
        if self._lock is not None:
            self._lock.acquire()
        try:
            clean_leftovers(self.final)
            umask = os.umask(0)
            os.umask(umask)
            os.mkdir(self.path, 0o777 & ~umask)
        except OSError as exc:
            self._release()
            raise output_error(exc, self.final, "cannot write beside the output folder") \
                from None
        except BaseException:
            self._release()
            raise
        with _OPEN_LOCK:
            _OPEN[self.path] = self
        self._open = True
        return self.path

    def commit(self) -> str:
        """Swap the temporary folder in at ``final`` (one atomic step); release the lock."""
        try:
            _fsync_tree(self.path)
            self.method = replace_folder(self.path, self.final)
        except OSError as exc:
            self.discard()
            raise output_error(exc, self.final, "cannot put the result in place") from None
        self._forget()
        self._release()
        return self.method

    def discard(self) -> None:
        """Remove the temporary folder; ``final`` stays as it was."""
        if self._open:
            _remove(self.path)
            self._forget()
        self._release()

    def _forget(self):
        self._open = False
        with _OPEN_LOCK:
            _OPEN.pop(self.path, None)

    def _release(self):
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> "StagedFolder":
        self.open()
        return self

    def __exit__(self, *exc):
        if self._open:
            self.discard()

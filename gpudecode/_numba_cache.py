"""Numba's on-disk cache of the compiled CPU kernels: where it lives and whether it is warm.

The CPU kernels (``gpudecode.kernels``) are ``njit(cache=True)`` functions, so a process
loads what an earlier one compiled instead of compiling again (tens of seconds). This
module is imported before anything else in the package, so before a kernel is declared:

- ``NUMBA_CACHE_DIR`` set by the user wins. Otherwise it is set (in ``os.environ``, so
  subprocesses and Dask workers inherit it) to ``<user cache>/gpudecode/numba/<key>``:
  ``<user cache>`` is ``$XDG_CACHE_HOME`` or ``~/.cache`` (``%LOCALAPPDATA%`` on Windows,
  ``~/Library/Caches`` on macOS), falling back to the temporary directory when that is not
  writable. ``<key>`` hashes the kernels' folder and sources with the Python and Numba versions:
  Numba checks only the timestamp of a kernel's own file, so a kernel that inlines a
  changed helper from another file would otherwise be loaded stale.
- :func:`warm_kernels` compiles every CPU kernel once per machine, saying so, and leaves a
  marker file; later processes find the marker and say nothing.

Every process and Dask worker of a machine shares the one directory.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

__all__ = ["cache_dir", "cache_key", "marker_path", "is_warm", "warm_kernels",
           "COMPILE_ESTIMATE_S"]

ENV = "NUMBA_CACHE_DIR"

COMPILE_ESTIMATE_S = 60
"""Seconds to compile every CPU kernel: about 60 s of CPU, spread over the cores (2-core
machine, measured in bench/RESULTS.md; longer when the cores are busy)."""


def _kernel_files() -> list[Path]:
    spec = importlib.util.find_spec("gpudecode.kernels")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = Path(list(spec.submodule_search_locations)[0])
    return sorted(folder.glob("*.py"))


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def cache_key() -> str:
    """16 hex digits naming this install of the kernels: their folder and sources, Python
    and Numba (Numba files its cache by source path, so two installs never share entries)."""
    h = hashlib.sha256()
    h.update(f"{sys.version_info[:2]} numba {_version('numba')} "
             f"llvmlite {_version('llvmlite')}".encode())
    files = _kernel_files()
    if files:
        h.update(str(files[0].parent.resolve()).encode())
    for path in files:
        h.update(path.name.encode())
        try:
            h.update(path.read_bytes())
        except OSError:
            pass
    return h.hexdigest()[:16]


def _user_cache_root() -> Path:
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gpudecode" / "numba"


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
        return True
    except OSError:
        return False


def _choose_dir(key: str) -> Path | None:
    user = getattr(os, "getuid", lambda: "")()
    for root in (_user_cache_root(),
                 Path(tempfile.gettempdir()) / f"gpudecode-numba-{user}"):
        if _writable(root / key):
            return root / key
    return None


def _configure() -> tuple[str | None, str]:
    """Point Numba at the cache folder unless the user chose one; return (folder, key)."""
    key = cache_key()
    chosen = os.environ.get(ENV)
    if not chosen:
        folder = _choose_dir(key)
        if folder is None:  # nowhere writable: Numba's own default (__pycache__) applies
            return None, key
        chosen = os.environ[ENV] = str(folder)
        config = sys.modules.get("numba.core.config")
        if config is not None:  # numba imported first: its config read the env already
            config.CACHE_DIR = chosen
    return chosen, key


_DIR, _KEY = _configure()


def cache_dir() -> Path | None:
    """The folder Numba caches the kernels in (None: Numba's default beside the sources)."""
    return Path(_DIR) if _DIR else None


def _cpu_name() -> str:
    from numba.core import config
    if config.CPU_NAME:
        return config.CPU_NAME
    try:  # installed with numba, but not a declared dependency of gpudecode
        import llvmlite.binding as llvm
    except Exception:
        return "unknown-cpu"
    return llvm.get_host_cpu_name()


def marker_path() -> Path | None:
    """The file that says every kernel of this build was compiled for this CPU type."""
    if _DIR is None:
        return None
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in _cpu_name())
    return Path(_DIR) / f"gpudecode-kernels-{_KEY}-{name}.ready"


def is_warm() -> bool:
    """True when this machine's cache holds every CPU kernel (the marker file exists)."""
    marker = marker_path()
    return marker is not None and marker.exists()


@contextmanager
def _exclusive(lock_path: Path, on_wait):
    """Hold an exclusive lock on ``lock_path`` (POSIX); ``on_wait()`` if we must wait."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock, concurrent first runs each compile
        yield
        return
    with open(lock_path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            on_wait()
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _say(text: str, end: str = "\n") -> None:
    print(text, end=end, file=sys.stderr, flush=True)


_warm_in_process = False


def warm_kernels(say=_say) -> float | None:
    """Compile every CPU kernel into the disk cache unless this machine has them already.

    The first run on a machine prints ``compiling kernels (first run on this machine, ~N
    s)... done in X s`` (through ``say``, stderr by default) and writes the marker; later
    runs, and later calls in this process, do nothing. Concurrent first runs wait for the
    one that compiles (POSIX file lock), then load its results.

    A failure to compile is reported in one line and left to the kernel's first use.

    Returns
    -------
    float or None
        Seconds spent compiling; None when nothing was compiled.
    """
    global _warm_in_process
    if _warm_in_process:
        return None
    from numba.core import config
    if config.DISABLE_JIT:  # NUMBA_DISABLE_JIT=1: nothing is compiled, nothing to mark
        _warm_in_process = True
        return None
    marker = marker_path()
    if marker is None or marker.exists():
        _warm_in_process = True
        return None
    with _exclusive(marker.with_suffix(".lock"),
                    lambda: say("waiting for another gpudecode process to compile the "
                                "kernels...")):
        if marker.exists():
            _warm_in_process = True
            return None
        say(f"compiling kernels (first run on this machine, ~{COMPILE_ESTIMATE_S} s)...",
            end=" ")
        start = time.perf_counter()
        from .kernels.warmup import compile_cpu_kernels
        try:
            compile_cpu_kernels()
        except Exception as exc:  # a kernel that fails to compile fails again where used
            say(f"failed ({type(exc).__name__}: {exc}); kernels compile when first used")
            _warm_in_process = True
            return None
        seconds = time.perf_counter() - start
        tmp = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
        tmp.write_text(f"compiled in {seconds:.1f} s on {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        os.replace(tmp, marker)
        say(f"done in {seconds:.0f} s")
    _warm_in_process = True
    return seconds

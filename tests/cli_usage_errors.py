"""Usage errors of the installed ``gpudecode`` command: usage and one line, exit 2, no traceback.

CI (.ci/run) runs this file in a venv made with ``pip install .`` only, the README's first
command (no extras: no click, no dask, no pytest), so an import of a package that is not
declared breaks it; tests/test_cli.py runs it in the test environment too::

    python tests/cli_usage_errors.py

It needs nothing but the standard library and the ``gpudecode`` command, and compiles no
kernel (every case fails before any decoding).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# argv after "gpudecode", text the output must contain
USAGE_ERRORS = [
    ([], "Usage: gpudecode"),
    (["infoo"], "No such command 'infoo'"),
    (["decode", "rec.h5", "--permutation", "100"], "No such option: --permutation"),
    (["decode", "rec.h5", "--anchors", "Correct"], "No such option: --anchors"),
    (["decode", "rec.h5", "--anchor", "Correct"], "Missing option '--out'"),
    (["decode", "rec.h5", "--anchor", "Correct", "--out", "o", "--pre", "abc"], "'--pre'"),
]


def gpudecode_command() -> list[str]:
    """The console script next to this Python, else ``python -m gpudecode.cli``."""
    exe = Path(sys.executable).with_name("gpudecode")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "gpudecode.cli"]


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([*gpudecode_command(), *argv], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


def check(res: subprocess.CompletedProcess, needle: str, what: str) -> list[str]:
    """Problems with one run (empty when it is a clean exit-2 error)."""
    text = res.stdout + res.stderr
    problems = []
    if res.returncode != 2:
        problems.append(f"{what}: exit status {res.returncode}, expected 2")
    if "Traceback" in text:
        problems.append(f"{what}: printed a traceback:\n{text}")
    if needle not in text:
        problems.append(f"{what}: {needle!r} not in the output:\n{text}")
    return problems


def check_usage_errors(cwd: Path) -> list[str]:
    problems = []
    for argv, needle in USAGE_ERRORS:
        res = run(argv, cwd)
        problems += check(res, needle, "gpudecode " + " ".join(argv))
        error_lines = [ln for ln in res.stderr.splitlines() if ln.startswith("Error:")]
        if argv and len(error_lines) != 1:
            problems.append(f"gpudecode {' '.join(argv)}: expected one 'Error:' line, got:\n"
                            f"{res.stderr}")
    return problems


def check_cohort_without_dask(cwd: Path) -> list[str]:
    """Only meaningful where Dask is not installed (the ``pip install .`` venv)."""
    (cwd / "manifest.csv").write_text("animal,session,traces\nm1,s1,rec.h5\n")
    (cwd / "rec.h5").write_bytes(b"")
    res = run(["cohort", "manifest.csv", "--out", "cohort", "--target", "outcome"], cwd)
    return check(res, 'pip install "gpudecode[dask]"', "gpudecode cohort without dask")


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="gpudecode-usage-"))
    try:
        problems = check_usage_errors(folder)
        try:
            import dask.distributed  # noqa: F401
        except ImportError:
            problems += check_cohort_without_dask(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for p in problems:
        print(p, file=sys.stderr)
    print(f"CLI usage errors: {'FAILED' if problems else 'ok'} "
          f"({len(USAGE_ERRORS)} cases{', cohort without dask' if 'dask' not in sys.modules else ''})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

"""Helpers for tests of bad input through the command line (shared by the reader tests).

Each bad-input case must end with exit status 2, exactly one ``error:`` line naming the
file, the field and the fix, no traceback, and nothing written.
"""

from __future__ import annotations

from pathlib import Path

from gpudecode.cli import main

# An error line must stay readable: a quoted row of input is capped at ~80 characters.
MAX_ERROR_CHARS = 600


def tree(folder) -> list[str]:
    """Every path under ``folder`` (relative), sorted."""
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def cli_error(argv, capsys, watch, *needles) -> str:
    """Run the CLI in-process, expect a one-line exit-2 error; return that line.

    Parameters
    ----------
    argv : list
        Arguments after ``gpudecode``.
    watch : path
        A folder whose contents must not change (inputs live there; outputs would too).
    needles : str
        Substrings the error line must contain (file, field, fix).
    """
    before = tree(watch)
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    assert code == 2, (code, cap.out, cap.err)
    assert "Traceback" not in cap.err + cap.out
    lines = [ln for ln in cap.err.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, cap.err
    line = lines[0]
    assert "Fix:" in line, line
    assert len(line) <= MAX_ERROR_CHARS, len(line)
    for needle in needles:
        assert needle in line, (needle, line)
    assert tree(watch) == before, "a failed command wrote files"
    return line


def cli_ok(argv, capsys) -> tuple[str, str]:
    """Run the CLI in-process and expect exit status 0; return (stdout, stderr)."""
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    assert code == 0, (code, cap.out, cap.err)
    return cap.out, cap.err

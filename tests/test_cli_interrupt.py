"""Ctrl-C during ``gpudecode decode``: stops within seconds, says so, exit 130, nothing partial.

The decode runs in a subprocess (as a user runs it) long enough to take minutes; SIGINT is
sent once decoding has started. An earlier result in ``--out`` must come through unchanged,
and no temporary sibling or lock file may be left beside it.
"""

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gpudecode.cli import main

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process")


def _gpudecode() -> list[str]:
    exe = Path(sys.executable).with_name("gpudecode")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "gpudecode.cli"]


def _default_sigint():
    # A child of a shell's background job inherits SIGINT ignored; Python only installs its
    # Ctrl-C handler when SIGINT is not ignored at start.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sim")
    assert main(["simulate", str(folder), "--cells", "40"]) == 0
    return folder / "sim01_s01.h5"


def _interrupt_decode(session: Path, out_dir: Path, *, wait_for: str, after_s: float):
    """Start a long decode, send SIGINT ``after_s`` after the line starting ``wait_for``.

    Returns (exit status, stdout, stderr, seconds from SIGINT to exit).
    """
    cmd = [*_gpudecode(), "decode", str(session), "--target", "outcome", "--shuffles", "50",
           "--permutations", "5000", "--classifier", "linear-svm,logistic", "--out", str(out_dir)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint, env={**os.environ, "COLUMNS": "200"})
    lines: queue.Queue = queue.Queue()

    def read():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen = []
    while True:
        try:
            line = lines.get(timeout=600)     # the first run may compile the kernels
        except queue.Empty:
            proc.kill()
            pytest.fail("decode printed nothing for 10 minutes:\n" + "".join(seen))
        if line is None:
            proc.wait()
            pytest.fail(f"decode ended (status {proc.returncode}) before {wait_for!r}:\n"
                        + "".join(seen) + proc.stderr.read())
        seen.append(line)
        if line.startswith(wait_for):
            break
    time.sleep(after_s)
    assert proc.poll() is None, "the decode finished before it could be interrupted"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("still running 60 s after Ctrl-C")
    stopped_s = time.monotonic() - t0
    reader.join(5)
    rest = []
    while not lines.empty():
        line = lines.get()
        if line is not None:
            rest.append(line)
    return proc.returncode, "".join(seen + rest), proc.stderr.read(), stopped_s


def test_ctrl_c_during_decode_stops_and_leaves_nothing(session, tmp_path):
    out_dir = tmp_path / "run"
    code, out, err, stopped_s = _interrupt_decode(session, out_dir, wait_for="- single-cell",
                                                  after_s=2.0)
    assert code == 130, (out, err)
    assert err.strip().splitlines()[-1] == "interrupted", err
    assert "Traceback" not in err
    assert stopped_s < 20, f"took {stopped_s:.1f} s to stop"
    assert not out_dir.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []     # no temporary sibling, no lock


def test_ctrl_c_keeps_an_earlier_result_whole(session, tmp_path, capsys):
    out_dir = tmp_path / "run"
    assert main(["decode", str(session), "--target", "outcome", "--shuffles", "2",
                 "--folds", "2", "--permutations", "0", "--classifier", "lda",
                 "--out", str(out_dir)]) == 0
    capsys.readouterr()
    before = _files(out_dir)
    assert "summary.json" in before and "cells.csv" in before
    code, out, err, _ = _interrupt_decode(session, out_dir, wait_for="- single-cell", after_s=4.0)
    assert code == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err
    assert _files(out_dir) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]

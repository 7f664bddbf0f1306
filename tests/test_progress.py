"""Progress lines and bars, and Ctrl-C handling of a run in a worker thread."""

import io
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from rich.console import Console

from gpudecode.progress import StageProgress, format_duration, run_interruptibly


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _piped():
    buf = io.StringIO()
    return Console(file=buf, width=200, force_terminal=False), buf


def test_piped_output_is_a_line_per_stage_and_progress_at_most_every_30_s():
    console, buf = _piped()
    clock = FakeClock()
    progress = StageProgress(console, clock=clock)
    with progress:
        progress("single-cell")
        for step in range(1, 201):             # 200 chunks, 1 s each: 200 s in all
            clock.now = float(step)
            progress("single-cell", step * 100, 20_000)
        progress("democracy")
        clock.now += 2
        progress("democracy", 5, 10)           # a short stage: no progress line
    lines = buf.getvalue().splitlines()
    assert lines[0] == "- single-cell" and lines[-1] == "- democracy"
    ticks = [ln for ln in lines if ln.startswith("  single-cell:")]
    # the first after 5 s (the stage will take longer than 30 s), then every 30 s
    assert ticks[0].startswith("  single-cell: 500 of 20,000 fits (2%) in 5 s, about")
    assert ticks[0].endswith("about 3.2 min left")
    assert len(ticks) == 1 + (200 - 5) // 30
    assert not any(ln.startswith("  democracy:") for ln in lines)


def test_cancel_raises_at_the_next_report():
    console, _ = _piped()
    cancel = threading.Event()
    progress = StageProgress(console, cancel)
    progress("single-cell", 1, 10)
    cancel.set()
    with pytest.raises(KeyboardInterrupt):
        progress("single-cell", 2, 10)


def test_terminal_gets_bars_with_counts():
    buf = io.StringIO()
    console = Console(file=buf, width=120, force_terminal=True)
    with StageProgress(console) as progress:
        progress("single-cell")
        progress("single-cell", 50, 100)
        progress("time-resolved")
        progress("time-resolved", 3, 4)
        tasks = {t.description: (t.completed, t.total) for t in progress.bars.tasks}
    assert tasks == {"single-cell": (100, 100), "time-resolved": (3, 4)}


def test_format_duration():
    assert format_duration(42) == "42 s"
    assert format_duration(210) == "3.5 min"
    assert format_duration(7560) == "2.1 h"


def test_run_interruptibly_returns_and_raises_what_the_work_does():
    cancel = threading.Event()
    assert run_interruptibly(lambda a, b=0: a + b, 2, b=3, cancel=cancel) == 5

    def fail():
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        run_interruptibly(fail, cancel=cancel)


SCRIPT = textwrap.dedent("""
    import sys, threading, time
    from gpudecode.progress import run_interruptibly

    cancel = threading.Event()

    def cooperative():
        # checks the flag as the engines' progress reports do
        while True:
            time.sleep(0.05)
            if cancel.is_set():
                print("worker unwinding", flush=True)
                raise KeyboardInterrupt

    def stuck():
        while True:                           # a step that reports no progress
            time.sleep(0.05)

    work = cooperative if sys.argv[1] == "cooperative" else stuck
    print("started", flush=True)
    try:
        run_interruptibly(work, cancel=cancel, grace_s=1.0,
                          on_abandon=lambda: print("abandoned", flush=True))
    except KeyboardInterrupt:
        print("KeyboardInterrupt in the main thread", flush=True)
        sys.exit(130)
""")


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process")
@pytest.mark.parametrize("work, expected", [
    ("cooperative", ["started", "worker unwinding", "KeyboardInterrupt in the main thread"]),
    ("stuck", ["started", "abandoned"]),
])
def test_ctrl_c_stops_a_worker_that_unwinds_or_not(work, expected):
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, work], stdout=subprocess.PIPE,
                            text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout.readline().strip() == "started"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert out.splitlines() == expected[1:]

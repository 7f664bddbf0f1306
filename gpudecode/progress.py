"""Progress of a long run on the command line, and Ctrl-C that acts at once.

:class:`StageProgress` is the ``progress(stage[, done, total])`` callback of
:func:`gpudecode.pipeline.decode_session`: in a terminal, one rich progress bar per stage
with counts, elapsed time and time left; otherwise (output piped to a file) one line per
stage and a progress line at most every ``every_s`` seconds (the first after a few seconds
when the stage will take longer, as an estimate).

:func:`run_interruptibly` runs the work in a worker thread while the main thread waits, so
Ctrl-C is seen at once even while the kernels run (they release the GIL). The worker is told
to stop at its next progress report (the engines report every chunk, about a second of work)
and unwinds, which removes its temporary result folder. If it has not stopped after
``grace_s`` seconds (a step that reports no progress), the temporary folders are removed
(:func:`gpudecode.atomic.discard_staged`) and the process ends with status 130, since a
thread cannot be stopped from outside.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from typing import Callable

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

__all__ = ["StageProgress", "run_interruptibly", "format_duration", "STAGE_UNITS"]

# What the engines count: problems (fits) for the batched engines, label sets otherwise.
STAGE_UNITS = {"single-cell": "fits", "time-resolved": "fits"}


def format_duration(seconds: float) -> str:
    """``42 s``, ``3.5 min``, ``2.1 h``."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class StageProgress:
    """``progress(stage)`` when a stage starts, ``progress(stage, done, total)`` as it runs.

    Parameters
    ----------
    console : rich.console.Console
        Bars when it is a terminal, plain lines otherwise.
    cancel : threading.Event, optional
        When set, the next call raises KeyboardInterrupt (in the worker thread).
    every_s : float
        Least seconds between two progress lines (not a terminal).
    first_s : float
        Seconds into a stage before the first progress line, printed only if the stage
        looks longer than ``every_s`` (not a terminal).
    clock : callable
        Monotonic seconds (tests pass a fake clock).
    """

    def __init__(self, console: Console, cancel: threading.Event | None = None, *,
                 every_s: float = 30.0, first_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.console = console
        self.cancel = cancel or threading.Event()
        self.every_s, self.first_s, self.clock = every_s, first_s, clock
        self.bars = None
        if console.is_terminal:
            self.bars = Progress(TextColumn("{task.description:<24}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.fields[unit]}"),
                                 TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                                 console=console)
        self.stage = None
        self._task = None
        self._t0 = self._last = 0.0
        self._lines = 0

    def __enter__(self) -> "StageProgress":
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.bars is not None:
            self.bars.stop()

    def __call__(self, stage: str, done: int | None = None, total: int | None = None) -> None:
        if self.cancel.is_set():
            raise KeyboardInterrupt
        now = self.clock()
        if stage != self.stage:
            self._start(stage, now)
        if done is None or not total:
            return
        if self.bars is not None:
            self.bars.update(self._task, completed=done, total=total)
            return
        elapsed = now - self._t0
        left = elapsed * (total - done) / done if done else math.inf
        if done >= total:
            return
        if self._lines == 0:
            due = elapsed >= self.first_s and left > self.every_s
        else:
            due = now - self._last >= self.every_s
        if due:
            unit = STAGE_UNITS.get(stage, "label sets")
            self.console.print(f"  {stage}: {done:,} of {total:,} {unit} ({done / total:.0%}) "
                               f"in {format_duration(elapsed)}, about {format_duration(left)} "
                               f"left", markup=False, highlight=False)
            self._last = now
            self._lines += 1

    def _start(self, stage: str, now: float) -> None:
        if self.bars is not None:
            if self._task is not None:
                task = self.bars.tasks[-1]
                self.bars.update(self._task, completed=task.total or task.completed,
                                 total=task.total or task.completed or 1)
            self._task = self.bars.add_task(stage, total=None,
                                            unit=STAGE_UNITS.get(stage, "label sets"))
        else:
            self.console.print(f"- {stage}", markup=False, highlight=False)
        self.stage = stage
        self._t0 = self._last = now
        self._lines = 0


def run_interruptibly(fn: Callable, *args, cancel: threading.Event, grace_s: float = 3.0,
                      on_abandon: Callable[[], None] | None = None, **kwargs):
    """``fn(*args, **kwargs)`` in a worker thread; Ctrl-C stops it within about ``grace_s``.

    Parameters
    ----------
    fn : callable
        The work. It should check ``cancel`` now and then (a :class:`StageProgress` does)
        and clean up as it unwinds.
    cancel : threading.Event
        Set on Ctrl-C.
    grace_s : float
        Seconds the worker has to unwind after Ctrl-C.
    on_abandon : callable, optional
        Called when the worker did not stop in time, before the process ends with status
        130 (``os._exit``: a thread cannot be stopped).

    Returns
    -------
    What ``fn`` returned; re-raises what it raised (KeyboardInterrupt after Ctrl-C).
    """
    box: dict = {}
    finished = threading.Event()

    def work():
        try:
            box["result"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the main thread
            box["error"] = exc
        finally:
            finished.set()

    # Waiting on an Event, not Thread.join: a KeyboardInterrupt inside join() leaves the
    # thread marked as stopped while it still runs (CPython's bpo-45274 handling).
    threading.Thread(target=work, name="gpudecode-work", daemon=True).start()
    try:
        while not finished.wait(0.25):
            pass
    except KeyboardInterrupt:
        cancel.set()
        try:
            finished.wait(grace_s)
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
            pass
        if not finished.is_set():
            if on_abandon is not None:
                on_abandon()
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            os._exit(130)
        raise KeyboardInterrupt from None
    if "error" in box:
        raise box["error"]
    return box.get("result")

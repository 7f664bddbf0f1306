"""Arduino-style event logs: ``timestamp_ms<TAB>NAME[<TAB>arg1<TAB>arg2 ...]`` lines.

Common in odor-delivery and licking rigs::

    # rig 3, mouse A7
    1520\tlick
    2034\todor_on\t2
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..errors import FormatError
from ..session import Events
from ._base import clip, require_path
from .events_csv import read_text

__all__ = ["read_arduino_log"]


def read_arduino_log(path: str | os.PathLike) -> Events:
    """Read a tab-separated ``timestamp_ms<TAB>NAME`` log.

    Blank lines and lines starting with ``#`` are skipped. Times are converted from
    milliseconds to seconds. Extra tab-separated fields become attributes ``arg1``,
    ``arg2``, ... (numbers as float64, else str; missing ones NaN/empty).

    Parameters
    ----------
    path : path

    Returns
    -------
    Events
        Sorted by time, in seconds.

    Raises
    ------
    FormatError
        A line without a tab, a timestamp that is not a number, or an empty name; the
        message names the line.
    """
    p = require_path(path, "events file")
    times, names, args = [], [], []
    for line_no, raw in enumerate(read_text(p).splitlines(), start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        parts = [x.strip() for x in raw.rstrip("\r\n").split("\t")]
        while len(parts) > 2 and parts[-1] == "":
            parts.pop()
        if len(parts) < 2:
            raise FormatError(f"line {line_no}: expected 'timestamp_ms<TAB>NAME', got {clip(text)}",
                              path=p, field="timestamp_ms",
                              fix="separate the time (ms) and the event name with a tab")
        try:
            ms = float(parts[0])
        except ValueError:
            ms = math.nan
        if not math.isfinite(ms):
            raise FormatError(f"line {line_no}: timestamp {clip(parts[0])} is not a number of "
                              "milliseconds", path=p, field="timestamp_ms",
                              fix="start every line with the time in ms, or comment it out with #")
        if parts[1] == "":
            raise FormatError(f"line {line_no}: the event name is empty", path=p, field="NAME",
                              fix="put the event name after the first tab")
        times.append(ms / 1000.0)
        names.append(parts[1])
        args.append(parts[2:])
    n_args = max((len(a) for a in args), default=0)
    attrs = {f"arg{k + 1}": np.asarray([a[k] if k < len(a) else "" for a in args], dtype=object)
             for k in range(n_args)}
    return Events(np.asarray(times, dtype=np.float64), np.asarray(names, dtype=object), attrs)

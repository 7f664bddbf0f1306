"""Clock alignment: map behaviour-log times onto the imaging clock.

Touchscreen chambers and miniscopes run on separate clocks that differ by an offset and
a small drift. The behaviour program emits sync pulses (ABET ``TTL #1``) that the
imaging system records (e.g. an Inscopix GPIO channel); a least-squares line through the
paired pulse times, ``imaging = scale * behaviour + offset``, maps one clock onto the other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import EventsError, FormatError, ParameterError
from ..session import Events
from ._base import clip, require_path
from .events_csv import guess_delimiter, is_comment, iter_rows, read_text

__all__ = ["ClockFit", "fit_clock", "align_events", "read_sync_pulses"]

MAX_RESIDUAL_S = 0.05
MAX_DRIFT = 0.01


@dataclass(frozen=True)
class ClockFit:
    """A linear map from the behaviour clock to the imaging clock.

    Attributes
    ----------
    scale : float
        Imaging seconds per behaviour second (1 + drift).
    offset : float
        Imaging time (s) of behaviour time 0.
    n_pulses : int
        Pulse pairs the fit used.
    max_residual_s : float
        Largest |fitted - recorded| imaging pulse time, seconds.
    """

    scale: float
    offset: float
    n_pulses: int
    max_residual_s: float

    def apply(self, times) -> np.ndarray:
        """Behaviour times (s) mapped to imaging times (s)."""
        return self.scale * np.asarray(times, dtype=np.float64) + self.offset


def _pulse_array(values, what: str, path) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(arr)):
        raise EventsError(f"{int((~np.isfinite(arr)).sum())} {what} pulse times are NaN or "
                          "infinite", path=path, field="sync_pulses",
                          fix="remove those pulse times")
    return np.sort(arr)


def fit_clock(behaviour_times, imaging_times, path=None, *,
              max_residual_s: float = MAX_RESIDUAL_S) -> ClockFit:
    """Fit ``imaging = scale * behaviour + offset`` over sync pulses paired in time order.

    Parameters
    ----------
    behaviour_times : array-like, shape (n_pulses,)
        Sync pulse times on the behaviour clock, seconds.
    imaging_times : array-like, shape (n_pulses,)
        The same pulses recorded on the imaging clock, seconds.
    path : path, optional
        The event file, named in error messages.
    max_residual_s : float
        A pulse further than this from the fitted line means the pulses are mispaired.

    Returns
    -------
    ClockFit

    Raises
    ------
    EventsError
        Different pulse counts, fewer than 2 pulses, a residual above ``max_residual_s``
        (mispaired pulses), or a scale far from 1 (times in different units).
    """
    beh = _pulse_array(behaviour_times, "behaviour", path)
    img = _pulse_array(imaging_times, "imaging", path)
    if beh.size != img.size:
        raise EventsError(
            f"{beh.size} sync pulses in the behaviour log but {img.size} on the imaging side: "
            "they cannot be paired", path=path, field="sync_pulses",
            fix="trim the pulse lists so both cover the same pulses (e.g. drop pulses sent "
                "before the camera started), or check --sync-event / --sync-channel")
    if beh.size < 2:
        raise EventsError(f"clock alignment needs at least 2 sync pulses, got {beh.size}",
                          path=path, field="sync_pulses",
                          fix="record more sync pulses, or shift by a constant with --event-offset")
    bm, im = beh.mean(), img.mean()
    x = beh - bm
    sxx = float(x @ x)
    if sxx == 0.0:
        raise EventsError("all behaviour sync pulses have the same time", path=path,
                          field="sync_pulses", fix="check the sync event name")
    scale = float(x @ (img - im)) / sxx
    offset = float(im - scale * bm)
    resid = np.abs(img - (scale * beh + offset))
    worst = float(resid.max())
    if worst > max_residual_s:
        k = int(resid.argmax())
        raise EventsError(
            f"sync pulse {k + 1} of {beh.size} is {worst * 1e3:.1f} ms off the fitted line "
            f"(limit {max_residual_s * 1e3:.0f} ms): pulses look mispaired", path=path,
            field="sync_pulses",
            fix="make sure both lists hold the same pulses in the same order (a missed or "
                "extra pulse shifts every pair after it)")
    if abs(scale - 1.0) > MAX_DRIFT:
        raise EventsError(
            f"the fitted clock scale is {scale:.6g} (expected close to 1): the two pulse lists "
            "are not in the same units or are not the same pulses", path=path,
            field="sync_pulses", fix="give both pulse lists in seconds")
    return ClockFit(scale=scale, offset=offset, n_pulses=int(beh.size), max_residual_s=worst)


def align_events(events: Events, fit: ClockFit) -> Events:
    """Events with times mapped onto the imaging clock by ``fit``."""
    return events.shifted(offset=fit.offset, scale=fit.scale)


def _float(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def read_sync_pulses(path: str | os.PathLike, channel: str | None = None) -> np.ndarray:
    """Read imaging-side sync pulse times, seconds.

    Two layouts are accepted:

    - one column of times in seconds, with or without a header row;
    - an Inscopix GPIO export, a long table ``Time (s), Channel Name, Value``: the rising
      edges (value crossing midway between the channel's min and max, upwards) of
      ``channel`` are the pulses.

    Parameters
    ----------
    path : path
    channel : str, optional
        GPIO channel name (e.g. ``GPIO-1``); needed when the export holds several channels.

    Returns
    -------
    ndarray, shape (n_pulses,)
        Sorted pulse times, float64 seconds.

    Raises
    ------
    FormatError
        An unreadable layout or value (the message names the line).
    ParameterError
        No ``channel`` given for a multi-channel export, or an unknown channel.
    EventsError
        No pulses found.
    """
    p = require_path(path, "sync pulse file")
    text = read_text(p)
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")),
                 "")
    try:
        rows = [(ln, c) for ln, c in iter_rows(text, guess_delimiter(first))
                if c and not is_comment(c)]
    except FormatError as err:
        raise FormatError(err.message, path=p, field=err.field, fix=err.fix) from None
    if not rows:
        raise EventsError("the sync pulse file is empty", path=p, field="sync_pulses",
                          fix="give one pulse time (s) per line")
    head = [c.lower() for c in rows[0][1]]
    if any("channel" in h for h in head) and any(h == "value" for h in head):
        pulses = _gpio_rising_edges(p, rows, head, channel)
    else:
        pulses = _one_column(p, rows)
    if pulses.size == 0:
        raise EventsError("no sync pulses found", path=p,
                          field="sync_pulses" if channel is None else channel,
                          fix="check the file (and the channel) holds the sync pulses")
    return np.sort(pulses)


def _one_column(p, rows) -> np.ndarray:
    if _float(rows[0][1][0]) is None:
        rows = rows[1:]
    out = []
    for line, cells in rows:
        cells = [c for c in cells if c != ""]
        if len(cells) != 1:
            raise FormatError(f"line {line} has {len(cells)} values; expected one pulse time "
                              "per line, or an Inscopix GPIO table 'Time (s), Channel Name, "
                              "Value'", path=p, field="sync_pulses",
                              fix="keep only the pulse-time column")
        v = _float(cells[0])
        if v is None or not np.isfinite(v):
            raise FormatError(f"line {line}: {clip(cells[0])} is not a time in seconds", path=p,
                              field="sync_pulses", fix="fix or remove that line")
        out.append(v)
    return np.asarray(out, dtype=np.float64)


def _gpio_rising_edges(p, rows, head, channel) -> np.ndarray:
    t_col = next((j for j, h in enumerate(head) if h.startswith("time")), 0)
    c_col = next(j for j, h in enumerate(head) if "channel" in h)
    v_col = head.index("value")
    header_line = rows[0][0]
    by_channel: dict[str, tuple[list[float], list[float]]] = {}
    for line, cells in rows[1:]:
        if len(cells) <= max(t_col, c_col, v_col):
            raise FormatError(f"line {line} has {len(cells)} values; the header (line "
                              f"{header_line}) has {len(head)}", path=p, field="row",
                              fix="check the GPIO export is complete")
        t, v = _float(cells[t_col]), _float(cells[v_col])
        if t is None or not np.isfinite(t):
            raise FormatError(f"line {line}: time {clip(cells[t_col])} is not a number", path=p,
                              field="Time (s)", fix="fix or remove that line")
        if v is None:
            if cells[v_col] == "":
                continue
            raise FormatError(f"line {line}: value {clip(cells[v_col])} is not a number", path=p,
                              field="Value", fix="fix or remove that line")
        ts, vs = by_channel.setdefault(cells[c_col], ([], []))
        ts.append(t)
        vs.append(v)
    names = list(by_channel)
    if channel is None:
        if len(names) != 1:
            raise ParameterError(f"the GPIO export holds {len(names)} channels: {names}",
                                 path=p, field="sync_channel",
                                 fix="name the channel with the sync pulses (--sync-channel)")
        channel = names[0]
    if channel not in by_channel:
        match = [n for n in names if n.lower() == str(channel).strip().lower()]
        if not match:
            raise ParameterError(f"no GPIO channel named {channel!r}; channels: {names}",
                                 path=p, field="sync_channel", fix="use one of those names")
        channel = match[0]
    ts, vs = (np.asarray(x, dtype=np.float64) for x in by_channel[channel])
    order = np.argsort(ts, kind="stable")
    ts, vs = ts[order], vs[order]
    lo, hi = vs.min(), vs.max()
    if hi == lo:
        return np.zeros(0)
    high = vs > (lo + hi) / 2.0
    return ts[1:][high[1:] & ~high[:-1]]

"""Data objects: the behavioural event table and the imaging session."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from .errors import EventsError, FrameTimesError, NonFiniteError, ShapeError

__all__ = ["Events", "Session", "interpolate_nonfinite", "clock_spans", "MAX_FRAME_INTERVAL_S"]

# Median frame interval above which frame times are taken for a unit mistake (ms read as s):
# calcium imaging runs at 0.5-100+ Hz, never slower than 0.2 Hz.
MAX_FRAME_INTERVAL_S = 5.0
# Event span / imaging span ratios that suggest event times in ms against frames in s.
_MS_RATIO = (200.0, 5000.0)


def clock_spans(frame_times, event_times) -> str:
    """Both clocks' spans as text for error messages, with a hint when events look like ms.

    Parameters
    ----------
    frame_times : array-like, shape (n_frames,)
        Seconds.
    event_times : array-like, shape (n_events,)
        Seconds (as read).

    Returns
    -------
    str
        e.g. ``"imaging 0.000 .. 1,899.967 s, events 312.004 .. 2,290.512 s"``.
    """
    ft = np.asarray(frame_times, dtype=np.float64)
    et = np.asarray(event_times, dtype=np.float64)
    text = f"imaging {ft[0]:,.3f} .. {ft[-1]:,.3f} s"
    if et.size:
        text += f", events {et.min():,.3f} .. {et.max():,.3f} s"
        img_span = float(ft[-1] - ft[0])
        ev_span = float(et.max() - et.min())
        if img_span > 0 and _MS_RATIO[0] <= ev_span / img_span <= _MS_RATIO[1]:
            text += (f"; the events span {ev_span / img_span:,.0f}x the recording: event times "
                     "look like milliseconds (divide them by 1000)")
    return text


def _as_attr_column(values, n: int, name: str) -> np.ndarray:
    """An attribute column is float64 when every value parses as a number, else str."""
    arr = np.asarray(values)
    if arr.shape != (n,):
        raise ShapeError(f"event attribute column has shape {arr.shape}, expected ({n},)",
                         field=name, fix="give one value per event")
    if arr.dtype.kind in "fiub":
        return arr.astype(np.float64)
    out = np.empty(n, dtype=object)
    numeric = np.empty(n, dtype=np.float64)
    all_numeric = True
    for i, v in enumerate(arr):
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out[i] = ""
            numeric[i] = np.nan
            continue
        s = str(v).strip()
        out[i] = s
        if s == "":
            numeric[i] = np.nan
            continue
        if all_numeric:
            try:
                numeric[i] = float(s)
            except ValueError:
                all_numeric = False
    if all_numeric and n and any(s != "" for s in out):
        return numeric
    return out


class Events:
    """A time-stamped behavioural event table.

    Parameters
    ----------
    times : array-like, shape (n_events,)
        Event times in seconds, on the imaging clock once aligned.
    names : array-like of str, shape (n_events,)
        Event names (e.g. ``"Correct"``, ``"Touch Down Event"``).
    attrs : mapping of str to array-like, optional
        Attribute columns, each shape (n_events,). Columns whose values all parse as
        numbers are stored as float64 (missing = NaN), others as str (missing = "").

    Notes
    -----
    Events are kept sorted by time (stable, so simultaneous events keep file order).
    """

    def __init__(self, times, names, attrs: Mapping[str, Iterable] | None = None):
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        names = np.asarray([str(n).strip() for n in np.asarray(names, dtype=object).reshape(-1)],
                           dtype=object)
        if names.shape != times.shape:
            raise ShapeError(f"{len(names)} event names for {len(times)} event times",
                             field="event", fix="give one name per event time")
        if not np.all(np.isfinite(times)):
            raise EventsError(f"{int((~np.isfinite(times)).sum())} event times are NaN or infinite",
                              field="time", fix="remove or correct those rows")
        order = np.argsort(times, kind="stable")
        self.times = times[order]
        self.names = names[order]
        self.attrs: dict[str, np.ndarray] = {}
        for key, col in (attrs or {}).items():
            self.attrs[str(key)] = _as_attr_column(col, len(times), str(key))[order]

    @classmethod
    def empty(cls) -> "Events":
        return cls(np.zeros(0), np.zeros(0, dtype=object))

    def __len__(self) -> int:
        return len(self.times)

    def __repr__(self) -> str:
        counts = self.counts()
        top = ", ".join(f"{k!r}: {v}" for k, v in list(counts.items())[:6])
        more = ", ..." if len(counts) > 6 else ""
        return (f"<Events: {len(self)} events, {len(counts)} names {{{top}{more}}}, "
                f"attrs={list(self.attrs)}>")

    def counts(self) -> dict[str, int]:
        """Number of events per name, most frequent first."""
        return dict(Counter(self.names.tolist()).most_common())

    @property
    def unique_names(self) -> list[str]:
        return sorted(set(self.names.tolist()))

    def span(self) -> tuple[float, float]:
        """(first, last) event time in seconds; (nan, nan) when empty."""
        if len(self) == 0:
            return (float("nan"), float("nan"))
        return float(self.times[0]), float(self.times[-1])

    def subset(self, mask_or_index) -> "Events":
        """Events at a boolean mask or integer index (kept in time order)."""
        idx = np.asarray(mask_or_index)
        return Events(self.times[idx], self.names[idx],
                      {k: v[idx] for k, v in self.attrs.items()})

    def select(self, names: Iterable[str]) -> np.ndarray:
        """Integer indices of the events whose name is in ``names``."""
        wanted = set(names)
        return np.flatnonzero([n in wanted for n in self.names])

    def shifted(self, offset: float = 0.0, scale: float = 1.0) -> "Events":
        """A copy with times mapped to ``scale * t + offset``."""
        return Events(scale * self.times + offset, self.names, self.attrs)

    def concat(self, other: "Events") -> "Events":
        """Both tables merged in time order; attribute columns missing on one side are filled."""
        keys = list(dict.fromkeys([*self.attrs, *other.attrs]))
        attrs = {}
        for k in keys:
            cols = []
            for ev in (self, other):
                if k in ev.attrs:
                    cols.append(ev.attrs[k].astype(object))
                else:
                    cols.append(np.full(len(ev), "", dtype=object))
            attrs[k] = np.concatenate(cols)
        return Events(np.concatenate([self.times, other.times]),
                      np.concatenate([self.names, other.names]), attrs)


def interpolate_nonfinite(traces: np.ndarray, frame_times: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill runs of NaN/inf of at most ``max_gap`` frames by linear interpolation in time.

    Parameters
    ----------
    traces : ndarray, shape (n_cells, n_frames)
    frame_times : ndarray, shape (n_frames,)
    max_gap : int
        Longest run of non-finite frames that is filled. Longer runs, and runs at
        either end of a trace, are left as they are.

    Returns
    -------
    ndarray, shape (n_cells, n_frames)
        A float32 copy with the short gaps filled.
    """
    out = np.array(traces, dtype=np.float32, copy=True)
    for c in np.flatnonzero(~np.all(np.isfinite(out), axis=1)):
        row = out[c]
        bad = ~np.isfinite(row)
        edges = np.diff(np.concatenate([[0], bad.view(np.int8), [0]]))
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        good = np.flatnonzero(~bad)
        for a, b in zip(starts, stops):
            if b - a > max_gap or a == 0 or b == len(row):
                continue
            row[a:b] = np.interp(frame_times[a:b], frame_times[good], row[good])
    return out


@dataclass(eq=False)
class Session:
    """One imaging session: traces, their frame times, cells and behavioural events.

    Parameters
    ----------
    traces : ndarray, shape (n_cells, n_frames)
        Fluorescence (or deconvolved activity), stored as float32. Axis order is
        cells x frames.
    frame_times : ndarray, shape (n_frames,)
        Time of each frame in seconds, strictly increasing. Gaps (e.g. between
        trial-locked recordings) are allowed.
    cell_ids : array-like of str, shape (n_cells,), optional
        Identifier of each cell; defaults to ``"0", "1", ...``.
    events : Events, optional
        Behavioural events, times on the imaging clock.
    animal, session : str
        Identifiers used in cohort tables.
    day : int or None
        Training day (or session index), for learning curves.
    source : dict
        Where the data came from (``{"traces": path, "events": path, "format": ...}``);
        error messages name these files.
    """

    traces: np.ndarray
    frame_times: np.ndarray
    cell_ids: np.ndarray | None = None
    events: Events = field(default_factory=Events.empty)
    animal: str = ""
    session: str = ""
    day: int | None = None
    source: dict = field(default_factory=dict)

    def __post_init__(self):
        path = self.source.get("traces")
        traces = np.asarray(self.traces)
        frame_times = np.asarray(self.frame_times, dtype=np.float64)
        if traces.ndim == 1:
            traces = traces[None, :]
        if traces.ndim != 2:
            raise ShapeError(f"traces must be 2-D (cells x frames), got shape {traces.shape}",
                             path=path, field="traces", fix="pass a cells x frames matrix")
        if frame_times.ndim != 1:
            raise ShapeError(f"frame_times must be 1-D, got shape {frame_times.shape}",
                             path=path, field="frame_times", fix="pass one time per frame")
        if traces.shape[1] != frame_times.size:
            if traces.shape[0] == frame_times.size:
                raise ShapeError(
                    f"traces have shape {traces.shape} but there are {frame_times.size} frame "
                    "times: the matrix looks like frames x cells",
                    path=path, field="traces", fix="transpose the matrix to cells x frames")
            raise ShapeError(
                f"traces have {traces.shape[1]} frames but there are {frame_times.size} frame times",
                path=path, field="frame_times", fix="give exactly one time per frame (column)")
        if frame_times.size < 2:
            raise ShapeError(f"a session needs at least 2 frames, got {frame_times.size}",
                             path=path, field="frame_times", fix="check the traces file")
        if not np.all(np.isfinite(frame_times)):
            raise FrameTimesError(
                f"{int((~np.isfinite(frame_times)).sum())} frame times are NaN or infinite",
                path=path, field="frame_times", fix="repair the time column")
        steps = np.diff(frame_times)
        if np.any(steps <= 0):
            n_dup = int((steps == 0).sum())
            n_back = int((steps < 0).sum())
            first = int(np.flatnonzero(steps <= 0)[0])
            raise FrameTimesError(
                f"frame times must be strictly increasing: {n_dup} duplicated and {n_back} "
                f"decreasing steps (first at frame {first + 1}, t={frame_times[first + 1]:.6g} s)",
                path=path, field="frame_times",
                fix="sort the frames, drop duplicated frames, or rebuild times from the frame rate")
        n_bad = int((~np.isfinite(traces)).sum())
        if n_bad:
            cells = int((~np.all(np.isfinite(traces), axis=1)).sum())
            raise NonFiniteError(
                f"{n_bad} trace values in {cells} cells are NaN or infinite",
                path=path, field="traces",
                fix="fill short gaps with --interpolate-gaps N (load_session(max_gap=N)) "
                    "or drop the affected cells")
        self.traces = np.ascontiguousarray(traces, dtype=np.float32)
        self.frame_times = frame_times
        if self.cell_ids is None:
            self.cell_ids = np.array([str(i) for i in range(traces.shape[0])], dtype=object)
        else:
            ids = np.asarray([str(c) for c in np.asarray(self.cell_ids, dtype=object).reshape(-1)],
                             dtype=object)
            if ids.size != traces.shape[0]:
                raise ShapeError(f"{ids.size} cell ids for {traces.shape[0]} cells",
                                 path=path, field="cell_ids", fix="give one id per trace row")
            self.cell_ids = ids
        if self.events is None:
            self.events = Events.empty()

    @property
    def n_cells(self) -> int:
        return self.traces.shape[0]

    @property
    def n_frames(self) -> int:
        return self.traces.shape[1]

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return float(self.frame_times[-1] - self.frame_times[0])

    @property
    def frame_interval(self) -> float:
        """Median seconds between frames (robust to gaps)."""
        return float(np.median(np.diff(self.frame_times)))

    @property
    def frame_rate(self) -> float:
        """Nominal frame rate in Hz (1 / median frame interval)."""
        return 1.0 / self.frame_interval

    def gaps(self, factor: float = 2.0) -> np.ndarray:
        """Indices ``i`` where frames i and i+1 are more than ``factor`` frame intervals apart."""
        return np.flatnonzero(np.diff(self.frame_times) > factor * self.frame_interval)

    def __repr__(self) -> str:
        ident = "/".join(x for x in (self.animal, self.session) if x) or "unnamed"
        day = f", day {self.day}" if self.day is not None else ""
        return (f"<Session {ident}{day}: {self.n_cells} cells x {self.n_frames} frames, "
                f"{self.duration:.1f} s at {self.frame_rate:.2f} Hz, "
                f"{len(self.events)} events ({len(self.events.counts())} names)>")

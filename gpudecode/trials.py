"""Trials: cut a session into epochs of trials x cells x frames around anchor events.

A :class:`TrialSpec` says which events anchor a trial, the window ``[-pre, +post]`` s
around each anchor, how each trial gets its label and which trials are excluded.
:func:`make_epochs` applies it to a :class:`~gpudecode.session.Session`.

Frames are chosen by ``frame_times`` (never by ``time * rate``), so non-uniform frame
times and gaps between trial-locked recordings work:

- ``dt`` is the median frame interval and every trial has ``n = round((pre + post) / dt)``
  frames;
- a trial anchored at ``t`` starts at the first frame whose time is ``>= t - pre``
  (``np.searchsorted(frame_times, t - pre, side="left")``) and takes ``n`` consecutive
  frames from there.
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .errors import (AnchorError, EventsError, NoTrialsError, ParameterError, ShapeError,
                     TooFewTrialsError)
from .session import Session, clock_spans

__all__ = ["TrialSpec", "Epochs", "make_epochs", "DroppedTrialsWarning",
           "REASON_OUTSIDE", "REASON_GAP", "REASON_NO_LABEL_EVENT"]

LABEL_RULES = ("anchor", "events", "attr")
REASON_OUTSIDE = "window outside recording"
REASON_GAP = "window crosses a gap in frame times"
REASON_NO_LABEL_EVENT = "no label event within window"
GAP_FACTOR = 2.0
# Slack for comparing event-time differences with window bounds (float rounding).
TIME_TOL = 1e-9
MAX_LISTED_NAMES = 20
# More than this fraction of anchors outside the recording means the clocks do not match.
MAX_OUTSIDE_FRACTION = 0.5


class DroppedTrialsWarning(UserWarning):
    """Some anchor events did not give a usable trial (the message says how many and why)."""


def _names_tuple(value, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = (value,)
    try:
        names = tuple(str(v).strip() for v in value)
    except TypeError:
        raise ParameterError(f"{field} must be a list of event names, got {value!r}",
                             field=field, fix="give event names as a list of strings") from None
    if any(n == "" for n in names):
        raise ParameterError(f"{field} contains an empty event name: {names!r}",
                             field=field, fix="remove the empty name (check for stray commas)")
    return names


def _finite_float(value, field: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{field} must be a number of seconds, got {value!r}",
                             field=field, fix=f"give {field} in seconds, e.g. 1.0") from None
    if not math.isfinite(out):
        raise ParameterError(f"{field} must be finite, got {value!r}",
                             field=field, fix=f"give {field} in seconds, e.g. 1.0")
    return out


@dataclass(frozen=True)
class TrialSpec:
    """Which events make trials, the window around them, the label rule and exclusions.

    Parameters
    ----------
    anchors : tuple of str
        Names of the events that anchor a trial (one trial per event), e.g.
        ``("Correct", "Incorrect")``. A single string is accepted.
    pre, post : float
        Window ``[-pre, +post]`` seconds around each anchor: ``pre`` seconds before and
        ``post`` seconds after, both ``>= 0`` and ``pre + post > 0``. (A negative ``--pre``
        was almost always meant as "1 s before"; to analyse part of the window use the
        analyses' own windows, e.g. ``--summed-window``.)
    label : {"anchor", "events", "attr"}
        How each trial is labelled:

        - ``"anchor"``: the anchor's own name;
        - ``"events"``: the name of the first event among ``label_events`` whose time lies
          within ``label_window = (a, b)`` seconds after the anchor, bounds inclusive (the
          anchor event itself never counts);
        - ``"attr"``: the anchor event's value in attribute column ``label_attr``; numbers
          that are whole are rendered without a decimal point (``3.0 -> "3"``).
    label_events : tuple of str
        Candidate label events for ``label="events"``.
    label_window : (float, float)
        ``(a, b)`` seconds relative to the anchor, ``a <= b``, for ``label="events"``.
    label_attr : str or None
        Attribute column for ``label="attr"``.
    exclude_events : tuple of str
        Event names that exclude a trial when one lies within ``exclude_within`` s of its
        anchor (either side, inclusive), e.g. ``("Start Correction Trial",)``. Names absent
        from a session exclude nothing (sessions without correction trials are normal).
    exclude_within : float
        Half-width in seconds of the exclusion zone around each anchor, ``>= 0``.
    """

    anchors: tuple[str, ...]
    pre: float
    post: float
    label: str = "anchor"
    label_events: tuple[str, ...] = ()
    label_window: tuple[float, float] = (0.0, 10.0)
    label_attr: str | None = None
    exclude_events: tuple[str, ...] = ()
    exclude_within: float = 0.0

    def __post_init__(self):
        set_ = object.__setattr__
        anchors = _names_tuple(self.anchors, "anchors")
        if not anchors:
            raise ParameterError(
                "no anchor events given", field="anchors",
                fix="name at least one anchor event, e.g. --anchor Correct,Incorrect")
        set_(self, "anchors", tuple(dict.fromkeys(anchors)))
        pre = _finite_float(self.pre, "pre")
        post = _finite_float(self.post, "post")
        window = f"the window [-pre, +post] = [{-pre:g}, {post:g}] s"
        empty = pre + post <= 0
        for name, value, side in (("pre", pre, "before"), ("post", post, "after")):
            if value < 0:
                raise ParameterError(
                    f"{name} is {value:g} s; it counts seconds {side} the anchor and must be "
                    f">= 0 ({window}{' is empty' if empty else ''})", field=name,
                    fix=f"give a positive number: --{name} {abs(value):g} means {abs(value):g} s "
                        f"{side} the anchor")
        if empty:
            raise ParameterError(f"{window} is empty (pre + post = 0 s)", field="pre",
                                 fix="make pre + post positive, e.g. --pre 1 --post 1")
        set_(self, "pre", pre)
        set_(self, "post", post)

        label = str(self.label).strip().lower()
        if label not in LABEL_RULES:
            raise ParameterError(f"unknown label rule {self.label!r}", field="label",
                                 fix=f"use one of {', '.join(LABEL_RULES)}")
        set_(self, "label", label)
        label_events = tuple(dict.fromkeys(_names_tuple(self.label_events, "label_events")))
        set_(self, "label_events", label_events)
        if label == "events" and not label_events:
            raise ParameterError("label rule 'events' needs label events", field="label_events",
                                 fix="name them, e.g. --label-events Correct,Incorrect")
        if label != "events" and label_events:
            raise ParameterError(
                f"label events {list(label_events)} are given but the label rule is {label!r}",
                field="label_events", fix="set label='events' (--label-events) or drop them")
        try:
            a, b = self.label_window
        except (TypeError, ValueError):
            raise ParameterError(f"label_window must be two numbers (a, b), got "
                                 f"{self.label_window!r}", field="label_window",
                                 fix="give it as A,B seconds after the anchor, e.g. 0,10") from None
        a = _finite_float(a, "label_window")
        b = _finite_float(b, "label_window")
        if a > b:
            raise ParameterError(f"label_window ({a:g}, {b:g}) ends before it starts",
                                 field="label_window", fix="give it as A,B with A <= B")
        set_(self, "label_window", (a, b))
        attr = None if self.label_attr is None else str(self.label_attr).strip()
        set_(self, "label_attr", attr)
        if label == "attr" and not attr:
            raise ParameterError("label rule 'attr' needs an attribute column", field="label_attr",
                                 fix="name the column, e.g. --label-attr position")
        if label != "attr" and attr:
            raise ParameterError(
                f"label attribute {attr!r} is given but the label rule is {label!r}",
                field="label_attr", fix="set label='attr' (--label-attr) or drop it")

        exclude = tuple(dict.fromkeys(_names_tuple(self.exclude_events, "exclude_events")))
        set_(self, "exclude_events", exclude)
        within = _finite_float(self.exclude_within, "exclude_within")
        if within < 0:
            raise ParameterError(f"exclude_within must be >= 0 s, got {within:g}",
                                 field="exclude_within", fix="give a distance in seconds, e.g. 5")
        if within > 0 and not exclude:
            raise ParameterError(
                f"exclude_within is {within:g} s but no exclusion events are named",
                field="exclude_events", fix="name the events, e.g. 'Start Correction Trial'")
        set_(self, "exclude_within", within)

    def exclusion_reason(self) -> str:
        """The drop reason recorded for excluded trials."""
        names = ", ".join(repr(n) for n in self.exclude_events)
        return f"within {self.exclude_within:g} s of {names}"


class Epochs:
    """Trials x cells x frames cut from a session, with labels and a per-trial table.

    Attributes
    ----------
    data : ndarray, shape (n_trials, n_cells, n_frames), float32
        Activity of each cell in each trial; axis order trials x cells x frames.
    labels : ndarray of str, shape (n_trials,)
    classes : ndarray of str, shape (n_classes,)
        Sorted unique labels.
    y : ndarray of int64, shape (n_trials,)
        Index of each trial's label in ``classes``.
    times : ndarray of float64, shape (n_frames,)
        Nominal time of each frame slot relative to the anchor, in s:
        ``times[j] = -pre + j * frame_interval``. For uniform frames the actual time of a
        trial's frame ``j`` relative to its anchor lies in ``[times[j], times[j] + dt)``;
        ``trials["window_start"]`` holds each trial's exact offset of frame 0.
    trials : dict of str to ndarray, each shape (n_trials,)
        ``anchor_time`` (s), ``label``, ``event_index`` (row of the anchor in
        ``session.events``), ``anchor_name``, ``first_frame`` (index into the session's
        frames), ``window_start`` (time of the first chosen frame minus the anchor time, s).
    cell_ids : ndarray of str, shape (n_cells,)
    dropped : dict of str to int
        Number of anchor events dropped per reason.
    spec : TrialSpec
    frame_interval : float
        Median frame interval of the session (s) used to size the window.
    """

    def __init__(self, data, labels, times, trials, cell_ids, dropped, spec, frame_interval,
                 source=None):
        self.data = np.ascontiguousarray(data, dtype=np.float32)
        self.labels = np.asarray(labels, dtype=str).reshape(-1)
        if self.data.ndim != 3 or self.data.shape[0] != self.labels.size:
            raise ShapeError(f"data {self.data.shape} must be trials x cells x frames with one "
                             f"label per trial ({self.labels.size} labels)", field="data",
                             fix="give data as trials x cells x frames and one label per trial")
        self.classes, self.y = np.unique(self.labels, return_inverse=True)
        self.y = self.y.astype(np.int64).reshape(-1)
        self.times = np.asarray(times, dtype=np.float64)
        self.trials = {k: np.asarray(v) for k, v in trials.items()}
        self.cell_ids = np.asarray(cell_ids, dtype=object)
        self.dropped = dict(dropped)
        self.spec = spec
        self.frame_interval = float(frame_interval)
        self.source = dict(source or {})

    @property
    def n_trials(self) -> int:
        return self.data.shape[0]

    @property
    def n_cells(self) -> int:
        return self.data.shape[1]

    @property
    def n_frames(self) -> int:
        return self.data.shape[2]

    def __len__(self) -> int:
        return self.n_trials

    def counts(self) -> dict[str, int]:
        """Number of trials per label, in ``classes`` order."""
        per = np.bincount(self.y, minlength=len(self.classes))
        return {str(c): int(n) for c, n in zip(self.classes, per)}

    def check_min_trials(self, n_folds: int, path=None) -> None:
        """Raise :class:`TooFewTrialsError` unless every class can fill ``n_folds`` CV folds.

        Stratified k-fold cross-validation needs at least ``n_folds`` trials of each class,
        and decoding needs at least two classes.
        """
        try:
            whole = not isinstance(n_folds, bool) and int(n_folds) == n_folds
        except (TypeError, ValueError):
            whole = False
        if not whole or n_folds < 2:
            raise ParameterError(f"the number of folds must be an integer >= 2, got {n_folds!r}",
                                 field="folds", fix="use e.g. --folds 5")
        n_folds = int(n_folds)
        path = path if path is not None else (self.source.get("events")
                                              or self.source.get("traces"))
        counts = self.counts()
        if len(counts) < 2:
            only = ", ".join(f"{k!r} ({v} trials)" for k, v in counts.items())
            raise TooFewTrialsError(
                f"only one class, {only}: decoding needs at least 2 classes",
                path=path, field="label",
                fix="choose a label rule with two or more outcomes, or add sessions")
        short = {k: v for k, v in counts.items() if v < n_folds}
        if short:
            what = "; ".join(f"class {k!r} has {v} trial{'s' if v != 1 else ''}"
                             for k, v in short.items())
            raise TooFewTrialsError(
                f"{what}; {n_folds}-fold cross-validation needs at least {n_folds} per class",
                path=path, field="label",
                fix=_fewer_folds_fix(min(short.values())))

    def subset(self, mask) -> "Epochs":
        """The trials at a boolean mask or integer index; classes are recomputed."""
        idx = np.asarray(mask)
        if idx.dtype == bool:
            if idx.shape != (self.n_trials,):
                raise ShapeError(f"mask has shape {idx.shape}, expected ({self.n_trials},)",
                                 field="mask", fix="give one boolean per trial")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        return Epochs(self.data[idx], self.labels[idx], self.times,
                      {k: v[idx] for k, v in self.trials.items()}, self.cell_ids,
                      self.dropped, self.spec, self.frame_interval, self.source)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k!r}: {v}" for k, v in self.counts().items())
        dropped = ", ".join(f"{k!r}: {v}" for k, v in self.dropped.items())
        span = (f"{self.times[0]:+.3g} to {self.times[-1]:+.3g} s" if self.n_frames else "empty")
        return (f"<Epochs: {self.n_trials} trials x {self.n_cells} cells x {self.n_frames} "
                f"frames ({span}, dt={self.frame_interval:.4g} s), labels {{{counts}}}, "
                f"dropped {{{dropped}}}>")


def _fewer_folds_fix(smallest: int) -> str:
    more = "pool more sessions, or decode a different target (label rule)"
    if smallest >= 2:
        return f"use fewer folds (--folds {smallest} or less), {more}"
    return more[0].upper() + more[1:]


def _events_path(session: Session):
    return session.source.get("events") or session.source.get("traces")


def _list_names(counts: dict[str, int]) -> str:
    names = sorted(counts)
    shown = ", ".join(f"{n!r} ({counts[n]})" for n in names[:MAX_LISTED_NAMES])
    if len(names) > MAX_LISTED_NAMES:
        shown += f", ... and {len(names) - MAX_LISTED_NAMES} more"
    return shown


def _check_names(wanted, counts: dict[str, int], what: str, field: str, path) -> None:
    missing = [n for n in wanted if n not in counts]
    if not missing:
        return
    lowered = {n.lower(): n for n in counts}
    hints = []
    for m in missing:
        close = ([lowered[m.lower()]] if m.lower() in lowered
                 else difflib.get_close_matches(m, list(counts), n=1, cutoff=0.9))
        if close:
            hints.append(f"{m!r} -> {close[0]!r}?")
    fix = ("use names from the list (exact spelling and case); leave out names that do not "
           "occur in this session")
    if hints:
        fix = "did you mean " + ", ".join(hints) + " Otherwise " + fix
    plural = "s" if len(missing) > 1 else ""
    raise AnchorError(
        f"{what} event{plural} {', '.join(repr(m) for m in missing)} not found in this "
        f"session; the events that exist are: {_list_names(counts)}",
        path=path, field=field, fix=fix)


def _format_value(value) -> str:
    """An attribute value as a label: ``3.0 -> "3"``, ``2.5 -> "2.5"``, NaN/"" -> ""."""
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return ""
        if v.is_integer():
            return str(int(v))
        return repr(v)
    return str(value).strip()


def _reasons_text(dropped: dict[str, int]) -> str:
    return "; ".join(f"{n} {reason}" for reason, n in dropped.items())


def _check_clocks(session: Session, spec: TrialSpec, anchor_times: np.ndarray, path) -> None:
    """More than :data:`MAX_OUTSIDE_FRACTION` of the anchors outside the recording is an error.

    An anchor counts as outside when its own time lies before the first or after the last
    frame. A few such trials (a log that starts before the camera) are dropped with a
    warning, as are anchors inside the recording whose window runs over its edge. When
    most anchors are outside, the behaviour and imaging clocks are not the same clock (a
    time column starting at 0 against a rig's own timestamps), and the few trials kept
    would be cut at the wrong frames.
    """
    ft = session.frame_times
    n_anchors = anchor_times.size
    n_outside = int(((anchor_times < ft[0]) | (anchor_times > ft[-1])).sum())
    if n_outside == 0 or n_outside <= MAX_OUTSIDE_FRACTION * n_anchors:
        return
    names = ", ".join(repr(a) for a in spec.anchors)
    raise EventsError(
        f"{n_outside} of {n_anchors} anchor events ({names}; {100 * n_outside / n_anchors:.0f}%) "
        f"lie outside the recording ({clock_spans(ft, session.events.times)}): the behaviour "
        "and imaging clocks do not match", path=path, field="time",
        fix="shift the events onto the imaging clock with --event-offset S, or align them "
            "with --sync-event NAME --sync-pulses FILE; if the imaging covers only part of "
            "the behaviour log, cut the log to the imaged part")


def make_epochs(session: Session, spec: TrialSpec) -> Epochs:
    """Cut ``session`` into trials x cells x frames around the anchors of ``spec``.

    Parameters
    ----------
    session : Session
        Traces (cells x frames), frame times and events on the imaging clock.
    spec : TrialSpec

    Returns
    -------
    Epochs
        ``data`` has shape (n_trials, n_cells, n_frames) with
        ``n_frames = round((pre + post) / dt)``, ``dt`` the median frame interval.

    Raises
    ------
    EventsError
        The session has no events, or more than half of the anchor events
        (:data:`MAX_OUTSIDE_FRACTION`) lie outside the recording (before its first or after
        its last frame): the event times are not on the imaging clock (the message gives
        both clocks' spans and suggests ``--event-offset`` / ``--sync-event`` +
        ``--sync-pulses``).
    AnchorError
        An anchor or label event name, or the label attribute column, does not exist.
    ParameterError
        The window is shorter than one frame.
    NoTrialsError
        Every anchor event was dropped.

    Warns
    -----
    DroppedTrialsWarning
        Once per call when some anchors were dropped, with the count for each reason:
        ``"window outside recording"`` (the window starts more than half a frame before the
        first frame or runs past the last frame), ``"window crosses a gap in frame times"``
        (two chosen frames, or the window start and its first frame, are more than 2 frame
        intervals apart), ``"within S s of NAMES"`` (exclusion), ``"no label event within
        window"`` or ``"no value in attribute 'COL'"``. Each trial counts under the first
        reason that applies, in that order.
    """
    if not isinstance(spec, TrialSpec):
        raise ParameterError(f"spec must be a TrialSpec, got {type(spec).__name__}", field="spec",
                             fix="build one with TrialSpec(anchors=..., pre=..., post=...)")
    path = _events_path(session)
    events = session.events
    if events is None or len(events) == 0:
        raise EventsError(
            "the session has no behavioural events, so there is nothing to anchor trials on",
            path=session.source.get("traces"), field="events",
            fix="pass the event log with --events FILE (load_session(..., events=FILE))")
    counts = events.counts()
    _check_names(spec.anchors, counts, "anchor", "anchor", path)
    if spec.label == "events":
        _check_names(spec.label_events, counts, "label", "label_events", path)
    if spec.label == "attr" and spec.label_attr not in events.attrs:
        cols = ", ".join(repr(c) for c in events.attrs) or "none"
        raise AnchorError(
            f"attribute column {spec.label_attr!r} not found; the event attribute columns are: "
            f"{cols}", path=path, field="label_attr",
            fix="use one of the listed columns (exact spelling and case)")

    frame_times = session.frame_times
    n_total = frame_times.size
    dt = session.frame_interval
    n = int(round((spec.pre + spec.post) / dt))
    if n < 1:
        raise ParameterError(
            f"the window pre + post = {spec.pre + spec.post:g} s is shorter than one frame "
            f"({dt:.4g} s)", path=session.source.get("traces"), field="pre",
            fix=f"widen the window to at least {dt:.4g} s")

    anchor_idx = events.select(spec.anchors)
    t = events.times[anchor_idx]
    start = t - spec.pre
    first = np.searchsorted(frame_times, start, side="left")
    reason = np.full(anchor_idx.size, None, dtype=object)

    outside = (start < frame_times[0] - dt / 2) | (first + n > n_total)
    _check_clocks(session, spec, t, path)
    reason[outside] = REASON_OUTSIDE
    inside = np.flatnonzero(~outside)
    if inside.size:
        frames = first[inside, None] + np.arange(n)
        ft = frame_times[frames]
        gap = (ft[:, 0] - start[inside] > GAP_FACTOR * dt)
        if n > 1:
            gap |= np.any(np.diff(ft, axis=1) > GAP_FACTOR * dt, axis=1)
        reason[inside[gap]] = REASON_GAP

    if spec.exclude_events:
        ex_idx = events.select(spec.exclude_events)
        ex_t = events.times[ex_idx]
        for i in np.flatnonzero(reason == None):  # noqa: E711 (object array)
            near = np.abs(ex_t - t[i]) <= spec.exclude_within + TIME_TOL
            if np.any(near & (ex_idx != anchor_idx[i])):
                reason[i] = spec.exclusion_reason()

    labels = np.full(anchor_idx.size, "", dtype=object)
    if spec.label == "anchor":
        labels[:] = events.names[anchor_idx]
    elif spec.label == "events":
        cand = events.select(spec.label_events)
        a, b = spec.label_window
        for i in range(anchor_idx.size):
            rel = events.times[cand] - t[i]
            ok = (rel >= a - TIME_TOL) & (rel <= b + TIME_TOL) & (cand != anchor_idx[i])
            if np.any(ok):
                # events are time-sorted (stable), so the first hit is the earliest
                labels[i] = events.names[cand[np.argmax(ok)]]
    else:
        col = events.attrs[spec.label_attr]
        labels[:] = [_format_value(v) for v in col[anchor_idx]]
    label_reason = (REASON_NO_LABEL_EVENT if spec.label == "events"
                    else f"no value in attribute {spec.label_attr!r}")
    reason[(labels == "") & (reason == None)] = label_reason  # noqa: E711

    keep = np.flatnonzero(reason == None)  # noqa: E711
    tally = Counter(r for r in reason.tolist() if r is not None)
    known = (REASON_OUTSIDE, REASON_GAP, spec.exclusion_reason(), label_reason)
    dropped = {r: tally[r] for r in known if r in tally}
    n_anchors = anchor_idx.size
    window = f"[{-spec.pre:g}, {spec.post:g}] s"
    if keep.size == 0:
        raise NoTrialsError(
            f"no usable trials: all {n_anchors} anchor events "
            f"({', '.join(repr(a) for a in spec.anchors)}) were dropped with window {window}: "
            f"{_reasons_text(dropped)}",
            path=path, field="anchor",
            fix="check that event times are on the imaging clock (offset / sync alignment), "
                "shorten --pre/--post, or relax the label rule and exclusions")
    if dropped:
        warnings.warn(
            f"dropped {n_anchors - keep.size} of {n_anchors} trials (window {window}): "
            f"{_reasons_text(dropped)}", DroppedTrialsWarning, stacklevel=2)

    first_k = first[keep]
    frames = first_k[:, None] + np.arange(n)
    data = np.transpose(session.traces[:, frames], (1, 0, 2))
    trials = {
        "anchor_time": t[keep].astype(np.float64),
        "label": labels[keep].astype(str),
        "event_index": anchor_idx[keep].astype(np.int64),
        "anchor_name": events.names[anchor_idx[keep]].astype(str),
        "first_frame": first_k.astype(np.int64),
        "window_start": frame_times[first_k] - t[keep],
    }
    times = -spec.pre + np.arange(n) * dt
    return Epochs(data, trials["label"], times, trials, session.cell_ids, dropped, spec, dt,
                  source=session.source)

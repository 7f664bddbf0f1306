"""Readers: one module per format family, one :func:`load_session` entry point."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import (EventsError, FormatError, FrameTimesError, InputFileError,
                      ParameterError, ShapeError)
from ..session import MAX_FRAME_INTERVAL_S, Events, Session, clock_spans, interpolate_nonfinite
from ._base import TraceData, check_frame_rate, clip, open_hdf5, require_path, times_from_rate

__all__ = [
    "TRACE_FORMATS",
    "EVENT_FORMATS",
    "load_session",
    "load_traces",
    "load_events",
    "sniff_traces_format",
    "sniff_events_format",
    "TraceData",
]

TRACE_FORMATS = ("gpudecode", "csv", "text", "nwb", "caiman", "suite2p", "matlab")
EVENT_FORMATS = ("csv", "abet", "arduino", "nwb")

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_TEXT_SUFFIXES = (".csv", ".txt", ".tsv", ".dat")
_SNIFF_BYTES = 1 << 16


def _hdf5_offset(path: Path) -> int | None:
    """Byte offset of the HDF5 superblock (0, or 512 for MATLAB v7.3), None if not HDF5."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(520)
    except OSError:
        return None
    for off in (0, 512):
        if head[off:off + 8] == _HDF5_SIGNATURE:
            return off
    return None


def _find_suite2p_plane(path: Path) -> Path | None:
    for cand in (path, path / "plane0", path / "suite2p" / "plane0"):
        if (cand / "F.npy").exists() or (cand / "spks.npy").exists():
            return cand
    return None


def _first_content_line(p: Path) -> str:
    """The first non-blank, non-comment line of a text file ('' when none), decoded by BOM."""
    try:
        with open(p, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise InputFileError(f"cannot read the file ({exc.strerror or exc})", path=p,
                             field="file", fix="check the file is readable") from None
    text = _decode_head(head)
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    return ""


def _decode_head(head: bytes) -> str:
    """The start of a text file as str: UTF-16 by its BOM, else UTF-8 (BOM optional) or cp1252."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return head.decode("utf-16", errors="replace")
    try:
        return head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a character cut at the end of the sniffed block
            return head[:exc.start].decode("utf-8-sig", errors="replace")
        return head.decode("cp1252", errors="replace")


def sniff_traces_format(path: str | os.PathLike) -> str:
    """Guess the traces format of ``path``; one of :data:`TRACE_FORMATS`.

    HDF5 files are told apart by their content (gpudecode, NWB, CaImAn); MATLAB by suffix
    or user block. Text files (``.csv``, ``.tsv``, ``.txt``, ``.dat``) whose first line is a
    header are traces CSVs; those whose first line is numbers only are plain-text matrices
    (``text``).

    Raises
    ------
    FormatError
        When nothing matches, or an HDF5 file is truncated or damaged.
    """
    p = require_path(path, "traces file")
    if p.is_dir():
        if _find_suite2p_plane(p) is not None:
            return "suite2p"
        raise FormatError("folder is not a suite2p output (no F.npy or plane0/F.npy)", path=p,
                          field="format", fix="point to suite2p/plane0 or pass --format")
    off = _hdf5_offset(p)
    if p.suffix.lower() == ".mat" or off == 512:
        return "matlab"
    if off == 0:
        with open_hdf5(p, "traces file") as f:
            if f.attrs.get("format") in ("gpudecode-session", b"gpudecode-session"):
                return "gpudecode"
            if "nwb_version" in f.attrs or "nwb_version" in f:
                return "nwb"
            if "estimates" in f:
                return "caiman"
        raise FormatError("HDF5 file is not NWB, CaImAn or gpudecode's own layout", path=p,
                          field="format", fix="pass --format explicitly")
    if p.suffix.lower() in _TEXT_SUFFIXES:
        from .text_matrix import looks_like_text_matrix
        if looks_like_text_matrix(_first_content_line(p)):
            return "text"
        return "csv"
    if p.suffix.lower() == ".npy":
        raise FormatError("a bare .npy file has no frame times or cell ids", path=p,
                          field="format", fix="point to the suite2p plane0 folder instead")
    raise FormatError(f"unknown traces format (suffix {clip(p.suffix)})", path=p,
                      field="format",
                      fix=f"use one of {', '.join(TRACE_FORMATS)} or pass --format")


def sniff_events_format(path: str | os.PathLike) -> str:
    """Guess the events format of ``path``; one of :data:`EVENT_FORMATS`.

    Text is decoded by its byte-order mark (UTF-8 or UTF-16, as Excel's 'Unicode text'
    writes), else as UTF-8 or Windows-1252.
    """
    p = require_path(path, "events file")
    if p.is_dir():
        raise FormatError("events path is a folder", path=p, field="events",
                          fix="point to the events file itself")
    if _hdf5_offset(p) is not None:
        return "nwb"
    try:
        with open(p, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise InputFileError(f"cannot read the file ({exc.strerror or exc})", path=p,
                             field="file", fix="check the file is readable") from None
    lines = [ln.strip() for ln in _decode_head(head).splitlines()[:400]]
    for ln in lines:
        first = ln.replace(";", ",").split(",")[0].strip().strip('"')
        if first in ("Evnt_Time", "Event_Time"):
            return "abet"
    content = [ln for ln in lines if ln and not ln.startswith("#")]
    if content:
        header = [c.strip().strip('"').lower()
                  for c in content[0].replace("\t", ",").replace(";", ",").split(",")]
        if "time" in header and "event" in header:
            return "csv"
        parts = content[0].split("\t")
        if len(parts) >= 2:
            try:
                float(parts[0])
                return "arduino"
            except ValueError:
                pass
    raise FormatError("unknown events format: no 'time,event' header, no ABET 'Evnt_Time' row, "
                      "and not 'ms<TAB>NAME' lines", path=p, field="format",
                      fix="see FORMATS in the README, or pass --events-format")


def _check_format(fmt: str, allowed, path, what: str) -> None:
    if fmt not in allowed:
        raise FormatError(f"unknown {what} format {fmt!r}", path=path, field="format",
                          fix=f"use one of: auto, {', '.join(allowed)}")


def _unreadable(p: Path, exc: OSError) -> FormatError:
    """A read that failed half-way (truncated HDF5 data, I/O error) as a one-line error."""
    return FormatError(f"the file could not be read ({clip(exc.strerror or exc)}): it may be "
                       "truncated or damaged", path=p, field="file",
                       fix="copy the file again from its source")


def load_traces(path, format: str = "auto", *, signal: str | None = None,
                frame_rate: float | None = None, trust_pickle: bool = False,
                keep_rejected: bool = False, n_frames: int | None = None) -> TraceData:
    """Read traces from any supported format (see :data:`TRACE_FORMATS`).

    Parameters
    ----------
    n_frames : int, optional
        Plain-text matrices only: the number of frame times known from a frame-times file;
        the matrix axis of that length is the frame axis.

    Returns
    -------
    TraceData
        ``traces`` is cells x frames.
    """
    p = require_path(path, "traces file")
    fmt = sniff_traces_format(p) if format == "auto" else format
    _check_format(fmt, TRACE_FORMATS, p, "traces")
    try:
        return _read_traces(p, fmt, signal, frame_rate, trust_pickle, keep_rejected, n_frames)
    except OSError as exc:
        raise _unreadable(p, exc) from None


def _read_traces(p, fmt, signal, frame_rate, trust_pickle, keep_rejected, n_frames):
    if fmt == "csv":
        from .traces_csv import read_traces_csv
        return read_traces_csv(p, keep_rejected=keep_rejected)
    if fmt == "text":
        from .text_matrix import read_text_matrix
        return read_text_matrix(p, n_frames=n_frames)
    if fmt == "nwb":
        from .nwb import read_nwb
        return read_nwb(p, keep_rejected=keep_rejected)
    if fmt == "caiman":
        from .caiman import read_caiman
        return read_caiman(p, signal=signal or "C", keep_rejected=keep_rejected)
    if fmt == "suite2p":
        from .suite2p import read_suite2p
        return read_suite2p(p, signal=signal or "F", frame_rate=frame_rate,
                            trust_pickle=trust_pickle, keep_rejected=keep_rejected)
    if fmt == "matlab":
        from .matlab import read_matlab
        return read_matlab(p, signal=signal or "C", frame_rate=frame_rate)
    from .native import read_session
    s = read_session(p)
    return TraceData(s.traces, s.frame_times, None, list(s.cell_ids), s.events,
                     {"animal": s.animal, "session": s.session, "day": s.day})


def load_events(path, format: str = "auto") -> Events:
    """Read a behavioural event log (see :data:`EVENT_FORMATS`)."""
    p = require_path(path, "events file")
    fmt = sniff_events_format(p) if format == "auto" else format
    _check_format(fmt, EVENT_FORMATS, p, "events")
    try:
        if fmt == "csv":
            from .events_csv import read_events_csv
            return read_events_csv(p)
        if fmt == "abet":
            from .abet import read_abet_csv
            return read_abet_csv(p)
        if fmt == "arduino":
            from .arduino import read_arduino_log
            return read_arduino_log(p)
        from .nwb import read_nwb_events
        return read_nwb_events(p)
    except OSError as exc:
        raise _unreadable(p, exc) from None


def _check_max_gap(max_gap, path) -> int:
    try:
        whole = not isinstance(max_gap, bool) and int(max_gap) == max_gap
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole or max_gap < 0:
        raise ParameterError(f"the longest gap to interpolate must be a whole number of frames "
                             f">= 0, got {max_gap!r}", path=path, field="--interpolate-gaps",
                             fix="pass a number of frames, e.g. --interpolate-gaps 3 "
                                 "(load_session(max_gap=3)); 0 turns interpolation off")
    return int(max_gap)


def _check_offset(event_offset, path) -> float:
    try:
        value = float(event_offset)
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value):
        raise ParameterError(f"the event offset must be a finite number of seconds, got "
                             f"{event_offset!r}", path=path, field="--event-offset",
                             fix="pass seconds added to every event time, "
                                 "e.g. --event-offset -12.5")
    return value


def _user_frame_times(frame_times) -> tuple[np.ndarray | None, Path | None]:
    """Frame times given by the user (a file path or an array) and the file they came from."""
    if frame_times is None:
        return None, None
    if isinstance(frame_times, (str, os.PathLike)):
        from .text_matrix import read_frame_times
        path = require_path(frame_times, "frame-times file")
        try:
            return read_frame_times(path), path
        except OSError as exc:
            raise _unreadable(path, exc) from None
    try:
        arr = np.asarray(frame_times, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError("frame_times must be numbers (seconds) or a file path",
                             field="--frame-times",
                             fix="pass a file with one time in seconds per line") from None
    if arr.ndim != 1:
        raise ShapeError(f"frame_times must be 1-D (one time per frame), got shape {arr.shape}",
                         field="--frame-times", fix="pass one time in seconds per frame")
    return arr, None


def load_session(traces, events=None, format: str = "auto", *, events_format: str = "auto",
                 signal: str | None = None, frame_rate: float | None = None,
                 frame_times=None, trust_pickle: bool = False, keep_rejected: bool = False,
                 event_offset: float = 0.0, sync_event: str | None = None,
                 sync_pulses=None, sync_channel: str | None = None,
                 max_gap: int = 0, animal: str | None = None, session: str | None = None,
                 day: int | None = None) -> Session:
    """Read one session: traces (any format) plus an optional behavioural event log.

    Parameters
    ----------
    traces : path
        Traces file or folder; see :data:`TRACE_FORMATS`.
    events : path, optional
        Event log; see :data:`EVENT_FORMATS`. When omitted, events stored with the traces
        (NWB, gpudecode HDF5) are used.
    format, events_format : str
        ``"auto"`` sniffs the format from the file.
    signal : str, optional
        Which trace to read where a file holds several (CaImAn/CNMF-E ``C``/``S``,
        suite2p ``F``/``spks``, MIN1PIPE ``sigfn``/``spkfn``).
    frame_rate : float, optional
        Hz (> 0), for files without frame times (plain-text matrices, suite2p without
        ``trust_pickle``); overrides a rate stored in the file.
    frame_times : path or array-like, shape (n_frames,), optional
        Time of every frame in seconds: a file with one time per line (an optional header
        line), or an array. Overrides any frame times or rate in the traces file; frame
        times may jump between trials (trial-locked acquisition). Not together with
        ``frame_rate``.
    trust_pickle : bool
        suite2p only: allow unpickling ``ops.npy`` to read the frame rate. Loading pickles
        runs code: only for files you trust.
    keep_rejected : bool
        Keep cells the pipeline rejected (Inscopix status, CaImAn/suite2p classifiers).
    event_offset : float
        Seconds added to every event time (behaviour clock -> imaging clock).
    sync_event, sync_pulses, sync_channel
        Align clocks from paired sync pulses: events named ``sync_event`` in the behaviour
        log are paired in order with the imaging-side pulse times ``sync_pulses`` (an array
        in seconds, or a file: one time per line, or an Inscopix GPIO CSV whose channel
        ``sync_channel`` is read for rising edges), and a linear fit maps behaviour time to
        imaging time. Applied instead of ``event_offset``.
    max_gap : int
        Fill runs of NaN/inf trace values up to this many frames by linear interpolation;
        0 (default) makes any non-finite value an error.
    animal, session, day
        Metadata; default to what the file stores, else the file name.

    Returns
    -------
    Session
        ``source`` records the files, the format and, for plain-text matrices, the
        orientation read (``"cells x frames"`` or ``"frames x cells"``).

    Raises
    ------
    GpudecodeError
        Any problem with the files or the options, named with file, field and fix. Frame
        times more than :data:`MAX_FRAME_INTERVAL_S` apart (median) are an error: they are
        milliseconds read as seconds, or a frame rate given in the wrong unit.
    """
    tp = require_path(traces, "traces file")
    frame_rate = check_frame_rate(frame_rate, path=tp, field_name="--frame-rate")
    max_gap = _check_max_gap(max_gap, tp)
    event_offset = _check_offset(event_offset, events if events is not None else tp)
    if frame_rate is not None and frame_times is not None:
        raise ParameterError("both a frame rate and frame times were given", path=tp,
                             field="--frame-times",
                             fix="pass either --frame-rate HZ or --frame-times FILE, not both")
    user_times, times_path = _user_frame_times(frame_times)
    data = load_traces(tp, format, signal=signal, frame_rate=frame_rate,
                       trust_pickle=trust_pickle, keep_rejected=keep_rejected,
                       n_frames=None if user_times is None else user_times.size)
    arr = np.asarray(data.traces)
    if arr.ndim != 2:
        raise ShapeError(f"traces must be 2-D (cells x frames), got shape {arr.shape}", path=tp,
                         field="traces", fix="check the file holds one trace per cell")
    times_field = "time"
    if user_times is not None:
        if user_times.size != arr.shape[1]:
            raise ShapeError(f"{user_times.size:,} frame times for {arr.shape[1]:,} frames "
                             f"({arr.shape[0]:,} cells x {arr.shape[1]:,} frames read from "
                             f"{tp.name})", path=times_path, field="--frame-times",
                             fix="pass the frame-times file of this recording (one time per frame)")
        times, times_field = user_times, "--frame-times"
    elif frame_rate is not None and data.frame_times is None:
        times, times_field = times_from_rate(arr.shape[1], frame_rate, path=tp), "--frame-rate"
    elif data.frame_times is not None:
        times = np.asarray(data.frame_times, dtype=np.float64)
    else:
        times = times_from_rate(arr.shape[1], data.frame_rate, path=tp, field_name="--frame-rate")
    if max_gap and arr.shape[1] == times.shape[0]:
        arr = interpolate_nonfinite(arr, times, max_gap)

    ev = data.events if data.events is not None else Events.empty()
    ev_path = None
    if events is not None:
        ev_path = require_path(events, "events file")
        ev = load_events(ev_path, events_format)
    if sync_event is not None or sync_pulses is not None:
        if sync_event is None or sync_pulses is None:
            raise ParameterError("clock alignment needs both the behaviour sync event name and "
                                 "the imaging pulse times", field="sync",
                                 fix="pass --sync-event NAME and --sync-pulses FILE together")
        from .align import align_events, fit_clock, read_sync_pulses
        pulses = sync_pulses
        if isinstance(sync_pulses, (str, os.PathLike)):
            pulses = read_sync_pulses(sync_pulses, channel=sync_channel)
        beh = ev.times[ev.select([sync_event])]
        if beh.size == 0:
            raise EventsError(f"no events named {sync_event!r} to align clocks with", path=ev_path,
                              field="sync_event",
                              fix=f"use one of: {', '.join(ev.unique_names[:20])}")
        ev = align_events(ev, fit_clock(beh, np.asarray(pulses, dtype=np.float64), path=ev_path))
    elif event_offset:
        ev = ev.shifted(offset=float(event_offset))

    meta = data.meta or {}
    source = {"traces": str(tp), "events": None if ev_path is None else str(ev_path),
              "format": format if format != "auto" else sniff_traces_format(tp)}
    if times_path is not None:
        source["frame_times"] = str(times_path)
    if meta.get("orientation"):
        source["orientation"] = meta["orientation"]
    sess = Session(
        traces=arr, frame_times=times, cell_ids=data.cell_ids, events=ev,
        animal=animal if animal is not None else str(meta.get("animal") or ""),
        session=session if session is not None else str(meta.get("session") or tp.stem),
        day=day if day is not None else meta.get("day"),
        source=source,
    )
    _check_frame_interval(sess, times_path or tp, times_field)
    _check_events_in_recording(sess, ev_path or tp)
    return sess


def _check_frame_interval(sess: Session, path, field: str) -> None:
    """Frames more than MAX_FRAME_INTERVAL_S apart are a unit mistake, not a recording."""
    dt = sess.frame_interval
    if dt <= MAX_FRAME_INTERVAL_S:
        return
    what = (f"frame rate {sess.frame_rate:.3g} Hz (median frame interval {dt:.4g} s) is "
            "implausible for calcium imaging")
    if field == "--frame-rate":
        raise ParameterError(f"a {what}", path=path, field=field,
                             fix=f"pass the frame rate in Hz (e.g. --frame-rate {1000 / dt:.4g} "
                                 "if you gave mHz)")
    raise FrameTimesError(
        f"a {what}: the time column looks like milliseconds (read as ms it is "
        f"{1000 / dt:.4g} Hz; times run {sess.frame_times[0]:.6g} .. {sess.frame_times[-1]:.6g})",
        path=path, field=field,
        fix="convert the frame times to seconds (divide by 1000), or give the times in seconds "
            "with --frame-times FILE or the rate with --frame-rate HZ")


def _check_events_in_recording(sess: Session, path) -> None:
    """All events outside the recording means the clocks are not aligned: an error.

    Some events outside (a log that starts before the camera) only warn; whether too many
    of the trials fall outside is judged per analysis by :func:`~gpudecode.trials.make_epochs`,
    which knows the anchors.
    """
    ev = sess.events
    if len(ev) == 0:
        return
    t0, t1 = sess.frame_times[0], sess.frame_times[-1]
    outside = (ev.times < t0) | (ev.times > t1)
    n_out = int(outside.sum())
    spans = clock_spans(sess.frame_times, ev.times)
    if n_out == len(ev):
        raise EventsError(
            f"all {len(ev):,} events lie outside the recording ({spans}): the two clocks are "
            "not aligned", path=path, field="time",
            fix="shift events with --event-offset S or align with --sync-event/--sync-pulses")
    if n_out:
        warnings.warn(f"{n_out:,} of {len(ev):,} events ({100 * n_out / len(ev):.0f}%) lie outside "
                      f"the recording ({spans}); trials anchored on them will be dropped",
                      stacklevel=3)

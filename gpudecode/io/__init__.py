"""Readers: one module per format family, one :func:`load_session` entry point."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import h5py
import numpy as np

from ..errors import EventsError, FormatError, ParameterError
from ..session import Events, Session, interpolate_nonfinite
from ._base import TraceData, require_path, times_from_rate

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

TRACE_FORMATS = ("gpudecode", "csv", "nwb", "caiman", "suite2p", "matlab")
EVENT_FORMATS = ("csv", "abet", "arduino", "nwb")

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


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


def sniff_traces_format(path: str | os.PathLike) -> str:
    """Guess the traces format of ``path``; one of :data:`TRACE_FORMATS`.

    Raises
    ------
    FormatError
        When nothing matches.
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
        with h5py.File(p, "r") as f:
            if f.attrs.get("format") in ("gpudecode-session", b"gpudecode-session"):
                return "gpudecode"
            if "nwb_version" in f.attrs or "nwb_version" in f:
                return "nwb"
            if "estimates" in f:
                return "caiman"
        raise FormatError("HDF5 file is not NWB, CaImAn or gpudecode's own layout", path=p,
                          field="format", fix="pass --format explicitly")
    if p.suffix.lower() in (".csv", ".txt", ".tsv"):
        return "csv"
    if p.suffix.lower() == ".npy":
        raise FormatError("a bare .npy file has no frame times or cell ids", path=p,
                          field="format", fix="point to the suite2p plane0 folder instead")
    raise FormatError(f"unknown traces format (suffix {p.suffix!r})", path=p, field="format",
                      fix=f"use one of {', '.join(TRACE_FORMATS)} or pass --format")


def sniff_events_format(path: str | os.PathLike) -> str:
    """Guess the events format of ``path``; one of :data:`EVENT_FORMATS`."""
    p = require_path(path, "events file")
    if p.is_dir():
        raise FormatError("events path is a folder", path=p, field="events",
                          fix="point to the events file itself")
    if _hdf5_offset(p) is not None:
        return "nwb"
    with open(p, "r", encoding="utf-8-sig", errors="replace") as fh:
        lines = [ln.strip() for _, ln in zip(range(400), fh)]
    for ln in lines:
        first = ln.split(",")[0].strip().strip('"')
        if first in ("Evnt_Time", "Event_Time"):
            return "abet"
    content = [ln for ln in lines if ln and not ln.startswith("#")]
    if content:
        header = [c.strip().strip('"').lower() for c in content[0].replace("\t", ",").split(",")]
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


def load_traces(path, format: str = "auto", *, signal: str | None = None,
                frame_rate: float | None = None, trust_pickle: bool = False,
                keep_rejected: bool = False) -> TraceData:
    """Read traces from any supported format (see :data:`TRACE_FORMATS`).

    Returns
    -------
    TraceData
        ``traces`` is cells x frames.
    """
    p = require_path(path, "traces file")
    fmt = sniff_traces_format(p) if format == "auto" else format
    _check_format(fmt, TRACE_FORMATS, p, "traces")
    if fmt == "csv":
        from .traces_csv import read_traces_csv
        return read_traces_csv(p, keep_rejected=keep_rejected)
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


def load_session(traces, events=None, format: str = "auto", *, events_format: str = "auto",
                 signal: str | None = None, frame_rate: float | None = None,
                 trust_pickle: bool = False, keep_rejected: bool = False,
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
        Hz, for files without frame times (suite2p without ``trust_pickle``); overrides a
        rate stored in the file.
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
    """
    tp = require_path(traces, "traces file")
    data = load_traces(tp, format, signal=signal, frame_rate=frame_rate,
                       trust_pickle=trust_pickle, keep_rejected=keep_rejected)
    arr = np.asarray(data.traces)
    if arr.ndim != 2:
        from ..errors import ShapeError
        raise ShapeError(f"traces must be 2-D (cells x frames), got shape {arr.shape}", path=tp,
                         field="traces", fix="check the file holds one trace per cell")
    if frame_rate is not None and data.frame_times is None:
        times = times_from_rate(arr.shape[1], frame_rate, path=tp)
    elif data.frame_times is not None:
        times = np.asarray(data.frame_times, dtype=np.float64)
    else:
        times = times_from_rate(arr.shape[1], data.frame_rate, path=tp)
    if max_gap < 0:
        raise ParameterError(f"max_gap must be >= 0, got {max_gap}", field="max_gap",
                             fix="pass a number of frames, 0 to disable")
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
    sess = Session(
        traces=arr, frame_times=times, cell_ids=data.cell_ids, events=ev,
        animal=animal if animal is not None else str(meta.get("animal") or ""),
        session=session if session is not None else str(meta.get("session") or tp.stem),
        day=day if day is not None else meta.get("day"),
        source={"traces": str(tp), "events": None if ev_path is None else str(ev_path),
                "format": format if format != "auto" else sniff_traces_format(tp)},
    )
    _check_events_in_recording(sess, ev_path or tp)
    return sess


def _check_events_in_recording(sess: Session, path) -> None:
    """All events outside the recording means the clocks are not aligned: an error.

    Some events outside (a log that starts before the camera) only warn.
    """
    ev = sess.events
    if len(ev) == 0:
        return
    t0, t1 = sess.frame_times[0], sess.frame_times[-1]
    outside = (ev.times < t0) | (ev.times > t1)
    n_out = int(outside.sum())
    if n_out == len(ev):
        raise EventsError(
            f"all {len(ev)} events ({ev.times[0]:.3f}-{ev.times[-1]:.3f} s) lie outside the "
            f"recording ({t0:.3f}-{t1:.3f} s): the two clocks are not aligned",
            path=path, field="time",
            fix="shift events with --event-offset S or align with --sync-event/--sync-pulses")
    if n_out:
        warnings.warn(f"{n_out} of {len(ev)} events lie outside the recording "
                      f"({t0:.3f}-{t1:.3f} s); trials anchored on them will be dropped",
                      stacklevel=3)

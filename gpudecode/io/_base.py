"""Shared pieces of the readers: the trace container and small checks."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import h5py

from ..errors import FormatError, InputFileError, ParameterError
from ..session import Events

__all__ = ["TraceData", "require_path", "times_from_rate", "clip", "open_hdf5",
           "check_frame_rate", "shorten", "MAX_QUOTE_CHARS"]

MAX_QUOTE_CHARS = 80


@dataclass
class TraceData:
    """What a traces reader returns, before it becomes a :class:`~gpudecode.Session`.

    Attributes
    ----------
    traces : ndarray, shape (n_cells, n_frames)
        Cells x frames, float32 (readers transpose time-first layouts).
    frame_times : ndarray, shape (n_frames,) or None
        Seconds; None when the file only gives a frame rate (then ``frame_rate`` is set).
    frame_rate : float or None
        Hz, when the file states one.
    cell_ids : list of str or None
    events : Events or None
        Events stored in the same file (NWB).
    meta : dict
        Anything else worth reporting (e.g. ``{"signal": "C", "n_rejected": 3}``).
    """

    traces: np.ndarray
    frame_times: np.ndarray | None = None
    frame_rate: float | None = None
    cell_ids: list[str] | None = None
    events: Events | None = None
    meta: dict = field(default_factory=dict)


def require_path(path: str | os.PathLike, what: str = "file") -> Path:
    """Return ``path`` as a Path, or raise :class:`InputFileError` if it does not exist."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"{what} not found", path=p,
                             fix="check the path (relative paths start from the current folder)")
    return p


def times_from_rate(n_frames: int, rate: float | None, *, path=None, field_name="frame_rate",
                    start: float = 0.0) -> np.ndarray:
    """Frame times ``start + i / rate`` for i in range(n_frames)."""
    if rate is None:
        raise ParameterError("the file gives no frame times and no frame rate", path=path,
                             field=field_name,
                             fix="pass the frame rate (--frame-rate HZ) or a file with one time "
                                 "per frame (--frame-times FILE)")
    rate = float(rate)
    if not np.isfinite(rate) or rate <= 0:
        raise ParameterError(f"frame rate must be a positive number, got {rate}", path=path,
                             field=field_name, fix="pass the frame rate in Hz (--frame-rate HZ)")
    return start + np.arange(n_frames, dtype=np.float64) / rate


def clip(text, limit: int = MAX_QUOTE_CHARS) -> str:
    """``repr`` of a piece of the user's file, at most ``limit`` characters (with an ellipsis).

    Error messages quote input to show what was read; a whole 100 KB row is no help.
    """
    text = str(text)
    if len(text) <= limit:
        return repr(text)
    return repr(text[:limit]) + f"... ({len(text):,} characters)"


def shorten(text, limit: int = 40) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (for field names from files)."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."


def open_hdf5(path: Path, what: str = "HDF5 file", fix: str | None = None) -> h5py.File:
    """Open ``path`` read-only; a truncated, damaged or non-HDF5 file is a :class:`FormatError`.

    h5py raises a bare ``OSError`` ("truncated file: eof = ...") for a file cut short by an
    interrupted copy; the message names the file and says what to do instead.
    """
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        detail = str(exc)
        field = "file"
        if "truncated" in detail:
            msg = (f"the {what} is truncated (shorter than the size its header states): "
                   "an interrupted copy or download")
            fix = "copy the file again from its source"
        elif "signature" in detail:
            msg = f"the {what} is not an HDF5 file"
            fix = fix or "pass --format for its real format"
            field = "format"
        else:
            msg = f"the {what} cannot be opened as HDF5 ({clip(detail)})"
            fix = fix or "check the file is complete and readable (copy it again)"
        raise FormatError(msg, path=path, field=field, fix=fix) from None


def check_frame_rate(rate, *, path=None, field_name: str = "--frame-rate") -> float | None:
    """``rate`` as a positive finite float (Hz), or None; anything else is a ParameterError."""
    if rate is None:
        return None
    try:
        value = float(rate)
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value) or value <= 0:
        raise ParameterError(f"the frame rate must be a positive number of Hz, got {rate!r}",
                             path=path, field=field_name,
                             fix="pass the imaging frame rate in Hz, e.g. --frame-rate 30")
    return value

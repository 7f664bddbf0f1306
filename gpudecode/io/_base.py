"""Shared pieces of the readers: the trace container and small checks."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputFileError, ParameterError
from ..session import Events

__all__ = ["TraceData", "require_path", "times_from_rate"]


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
                             field=field_name, fix="pass the frame rate (--frame-rate HZ)")
    rate = float(rate)
    if not np.isfinite(rate) or rate <= 0:
        raise ParameterError(f"frame rate must be a positive number, got {rate}", path=path,
                             field=field_name, fix="pass the frame rate in Hz (--frame-rate HZ)")
    return start + np.arange(n_frames, dtype=np.float64) / rate

"""Plain-text matrices: headerless numbers, one row per cell (``C.txt``, ``S.txt``, ``C_raw.txt``).

CaImAn, two-photon and miniscope pipelines export traces as whitespace-separated numbers
with no header and no time column (see FORMATS.md, 'Plain-text matrices')::

    0.12 0.40 0.38 ...        cell 0, one value per frame
    0.00 0.00 1.70 ...        cell 1

Lines may end in CRLF; commas between values are read too (MATLAB ``csvwrite``). The file
holds no frame times: they come from ``--frame-rate`` or from a frame-times file (one time in
seconds per line), read by :func:`read_frame_times`.

Orientation: the documented layout is cells x frames, but frames x cells dumps exist. With a
frame-times file the axis whose length equals the number of frame times is the frame axis.
Without one, the frame axis is the long one (every real recording has more frames than cells);
when that means transposing, a warning says so. The choice is recorded in
``TraceData.meta["orientation"]``.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import FormatError, ShapeError
from ._base import TraceData, clip, require_path
from .events_csv import read_text

__all__ = ["read_text_matrix", "read_frame_times", "looks_like_text_matrix",
           "ORIENTATIONS"]

ORIENTATIONS = ("cells x frames", "frames x cells")
# A row (or column) that rises by the same step every frame is a time axis, not a cell.
_EVEN_STEP_RTOL = 1e-3
_MIN_FRAMES_FOR_TIME_CHECK = 10


def _content_lines(text: str):
    """``(line_number, line)`` for every non-blank line not starting with ``#``."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, stripped


def _tokens(line: str) -> list[str]:
    return line.replace(",", " ").split()


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def looks_like_text_matrix(first_line: str) -> bool:
    """True when a file's first content line is numbers only (no header): a plain matrix."""
    tokens = _tokens(first_line)
    return bool(tokens) and ";" not in first_line and all(_is_number(t) for t in tokens)


def _parse(text: str, path: Path) -> np.ndarray:
    """The numbers as a float64 (rows, columns) array; exact errors name the line."""
    lines = list(_content_lines(text))
    if not lines:
        raise FormatError("the file holds no numbers", path=path, field="matrix",
                          fix="export the traces as one row of values per cell")
    body = "\n".join(line for _, line in lines)
    try:
        data = np.loadtxt(io.StringIO(body.replace(",", " ")), dtype=np.float64, ndmin=2)
    except ValueError:
        data = None
    if data is not None:
        return data
    width = None
    rows = []
    for number, line in lines:
        tokens = _tokens(line)
        values = []
        for j, token in enumerate(tokens):
            try:
                values.append(float(token))
            except ValueError:
                if number == lines[0][0]:
                    raise FormatError(
                        f"line {number} is not all numbers ({clip(line)}): a plain-text matrix "
                        "has no header", path=path, field="matrix",
                        fix="for a table with a time column and cell names use --format csv; "
                            "otherwise delete the header line") from None
                raise FormatError(f"line {number}, value {j + 1}: {clip(token)} is not a number",
                                  path=path, field="matrix",
                                  fix="fix that value (write nan for a missing one)") from None
        if width is None:
            width = len(values)
        elif len(values) != width:
            raise FormatError(f"line {number} has {len(values)} values but line {lines[0][0]} "
                              f"has {width}: every row must have the same length", path=path,
                              field="matrix",
                              fix="check the export is complete (a cut-off last line?)")
        rows.append(values)
    return np.asarray(rows, dtype=np.float64)


def _orient(data: np.ndarray, n_frames: int | None, path: Path) -> tuple[np.ndarray, str, str]:
    """Cells x frames, the orientation read, and how it was decided."""
    n_rows, n_cols = data.shape
    if n_frames is not None:
        if n_cols == n_frames:
            return data, ORIENTATIONS[0], f"{n_frames} frame times = {n_cols} columns"
        if n_rows == n_frames:
            return data.T, ORIENTATIONS[1], f"{n_frames} frame times = {n_rows} rows"
        raise ShapeError(
            f"there are {n_frames:,} frame times but the matrix is {n_rows:,} rows x "
            f"{n_cols:,} columns: neither axis has one value per frame", path=path,
            field="--frame-times",
            fix="pass the frame-times file that belongs to this matrix (one time per frame)")
    if n_rows > n_cols:
        warnings.warn(
            f"{path}: the matrix has {n_rows:,} rows x {n_cols:,} columns; taking the long axis as "
            f"frames (frames x cells): read as {n_cols:,} cells x {n_rows:,} frames",
            stacklevel=3)
        return data.T, ORIENTATIONS[1], "the frame axis is the long one"
    return data, ORIENTATIONS[0], ("the frame axis is the long one" if n_cols > n_rows
                                   else "square matrix: the documented layout, cells x frames")


def _check_not_time_axis(traces: np.ndarray, orientation: str, path: Path) -> None:
    """A first 'cell' that rises by a constant step is a time column/row left in the export."""
    if traces.shape[1] < _MIN_FRAMES_FOR_TIME_CHECK:
        return
    first = traces[0]
    step = np.diff(first)
    if not (np.all(np.isfinite(step)) and np.all(step > 0)):
        return
    if np.ptp(step) <= _EVEN_STEP_RTOL * abs(float(np.median(step))):
        where = "row" if orientation == ORIENTATIONS[0] else "column"
        raise FormatError(
            f"the first {where} rises evenly from {first[0]:g} to {first[-1]:g} (step "
            f"{np.median(step):g}): it looks like frame times, not a cell", path=path,
            field="matrix",
            fix=f"remove that {where} and pass the times with --frame-times FILE, or add a header "
                "'time, C0, C1, ...' and read the file with --format csv")


def read_text_matrix(path: str | os.PathLike, n_frames: int | None = None) -> TraceData:
    """Read a headerless plain-text matrix of traces (cells x frames, or frames x cells).

    Parameters
    ----------
    path : path
        Whitespace- (or comma-) separated numbers, one row per cell; CRLF line ends, blank
        lines and ``#`` comment lines are fine; UTF-8 or UTF-16 (with BOM).
    n_frames : int, optional
        Number of frame times the caller has (from a frame-times file): the axis of that
        length is the frame axis. Without it the long axis is the frame axis.

    Returns
    -------
    TraceData
        ``traces`` float32, shape (n_cells, n_frames) (cells x frames); ``frame_times`` and
        ``frame_rate`` None (the file has neither); ``cell_ids`` ``"0", "1", ...`` (row or
        column index in the file); ``meta["orientation"]`` ``"cells x frames"`` or
        ``"frames x cells"`` (how the file was laid out) and ``meta["orientation_reason"]``.

    Raises
    ------
    FormatError
        An empty file, a header line, a value that is not a number, rows of unequal length
        (the message names the line and quotes at most 80 characters), or a first row/column
        that is an evenly rising time axis.
    ShapeError
        ``n_frames`` matches neither axis.

    Warns
    -----
    UserWarning
        When the long axis is the rows, so the matrix is read as frames x cells.
    """
    p = require_path(path, "traces file")
    data = _parse(read_text(p), p)
    traces, orientation, reason = _orient(data, n_frames, p)
    _check_not_time_axis(traces, orientation, p)
    return TraceData(
        traces=np.ascontiguousarray(traces, dtype=np.float32),
        frame_times=None, frame_rate=None,
        cell_ids=[str(i) for i in range(traces.shape[0])],
        meta={"orientation": orientation, "orientation_reason": reason,
              "shape_in_file": tuple(int(x) for x in data.shape)},
    )


def read_frame_times(path: str | os.PathLike) -> np.ndarray:
    """Read a frame-times file: one time in seconds per line (an optional header line).

    Trial-locked recordings, where frames are acquired only during trials, have jumps
    between trials: that is fine, times only have to increase (checked by the Session).

    Parameters
    ----------
    path : path

    Returns
    -------
    ndarray, shape (n_frames,)
        float64 seconds, in file order.

    Raises
    ------
    FormatError
        An empty file, a line with several values, or a value that is not a number (the
        message names the line).
    """
    p = require_path(path, "frame-times file")
    lines = list(_content_lines(read_text(p)))
    if lines and not _is_number(_tokens(lines[0][1])[0]):
        lines = lines[1:]  # a header such as 'time (s)'
    if not lines:
        raise FormatError("the frame-times file holds no times", path=p, field="frame_times",
                          fix="write one frame time in seconds per line")
    out = np.empty(len(lines), dtype=np.float64)
    for i, (number, line) in enumerate(lines):
        tokens = _tokens(line)
        if len(tokens) != 1:
            raise FormatError(f"line {number} has {len(tokens)} values ({clip(line)}); expected "
                              "one frame time per line", path=p, field="frame_times",
                              fix="keep only the column of frame times (seconds)")
        try:
            out[i] = float(tokens[0])
        except ValueError:
            raise FormatError(f"line {number}: {clip(tokens[0])} is not a time in seconds",
                              path=p, field="frame_times",
                              fix="fix or remove that line") from None
    return out

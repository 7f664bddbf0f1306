"""Traces CSV: a time column (seconds) then one column per cell, one row per frame.

Both the plain layout and the Inscopix export are read (see FORMATS.md)::

    Time (s), C0, C1              (plain)

     , C00, C01                   (Inscopix: blank first cell, cell names)
    Time(s)/Cell Status, accepted, rejected
    0.000, 1.25, 0.50
"""

from __future__ import annotations

import csv
import io
import math
import os
import warnings
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import FormatError, ParameterError, ShapeError
from ._base import TraceData, clip, require_path, shorten
from .text_matrix import looks_like_text_matrix

__all__ = ["read_traces_csv", "write_traces_csv", "CELL_STATUSES"]

CELL_STATUSES = ("accepted", "rejected", "undecided")
_TIME_HEADERS = {"", "time", "time(s)", "time_s", "time(sec)", "time_sec", "times",
                 "time(s)/cellname"}
_MISSING = {"", "nan", "na", "n/a", "null", "none"}


def _norm(cell: str) -> str:
    return "".join(cell.lower().split())


def _split(line: str, delimiter: str, path=None, line_no: int = 0) -> list[str]:
    try:
        cells = next(csv.reader([line], delimiter=delimiter, skipinitialspace=True), [])
    except csv.Error as exc:  # e.g. a field over csv's 128 KB limit: a line with no separator
        raise FormatError(f"line {line_no} is not a {delimiter!r}-separated row ({exc}): "
                          f"{clip(line)}", path=path, field="row",
                          fix="check the separator and quoting of that line") from None
    return [c.strip() for c in cells]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return False


def _next_content(fh, line_no: int) -> tuple[int, str | None]:
    """Next non-blank, non-comment line and its 1-based number (None at end of file)."""
    while True:
        raw = fh.readline()
        if raw == "":
            return line_no, None
        line_no += 1
        if raw.strip() and not raw.lstrip().startswith("#"):
            return line_no, raw.rstrip("\r\n")


def _read_header(fh, p: Path):
    """Parse the header rows; return (delimiter, names, statuses or None, lines consumed)."""
    line_no, line = _next_content(fh, 0)
    if line is None:
        raise FormatError("the file is empty", path=p, field="header",
                          fix="export the traces with a header row 'Time (s), C0, C1, ...'")
    if looks_like_text_matrix(line):
        raise FormatError(f"line {line_no} holds numbers, not a header: this looks like a "
                          "headerless matrix (one row per cell, no time column)", path=p,
                          field="header",
                          fix="read it with --format text and --frame-rate HZ (or "
                              "--frame-times FILE), or add a header row 'time, C0, C1, ...'")
    delim = _delimiter(line)
    header = _split(line, delim, p, line_no)
    first = _norm(header[0])
    if first not in _TIME_HEADERS:
        if _is_number(header[0]):
            raise FormatError(f"line {line_no} holds numbers, not a header: the first row must "
                              "name the columns", path=p, field="header",
                              fix="add a header row 'time, C0, C1, ...' (time in seconds)")
        raise FormatError(f"the first column is {clip(header[0])}; it must be the frame time in "
                          "seconds", path=p, field=shorten(header[0], 40),
                          fix="put a 'time' column (seconds) first, then one column per cell")
    names = header[1:]
    while names and names[-1] == "":
        names.pop()
    if not names:
        raise FormatError("the header names no cells (only a time column)", path=p,
                          field="header", fix="add one column per cell after the time column")
    for j, name in enumerate(names):
        if name == "":
            raise FormatError(f"column {j + 2} of the header (line {line_no}) has no cell name",
                              path=p, field="header", fix="name every cell column")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise FormatError(f"cell names appear more than once: {dup[:5]}", path=p,
                          field="header", fix="give every cell column its own name")

    pos = fh.tell()
    next_no, nxt = _next_content(fh, line_no)
    statuses = None
    if nxt is not None:
        cells = _split(nxt, delim, p, next_no)
        words = [c.lower() for c in cells[1:]]
        if "status" in cells[0].lower() or any(w in CELL_STATUSES for w in words):
            statuses = _parse_statuses(cells, names, p, next_no)
            line_no = next_no
        else:
            fh.seek(pos)
    return delim, names, statuses, line_no


def _parse_statuses(cells, names, p, line_no) -> list[str]:
    values = cells[1:]
    while len(values) > len(names) and values[-1] == "":
        values.pop()
    if len(values) != len(names):
        raise FormatError(f"the cell status row (line {line_no}) has {len(values)} values for "
                          f"{len(names)} cells", path=p, field="Cell Status",
                          fix="give one status (accepted/rejected/undecided) per cell")
    out = []
    for name, v in zip(names, values):
        s = v.lower()
        if s not in CELL_STATUSES:
            raise FormatError(f"line {line_no}: cell {clip(name, 40)} has status {clip(v)}", path=p,
                              field="Cell Status", fix="use accepted, rejected or undecided")
        out.append(s)
    return out


def _delimiter(line: str) -> str:
    """Comma, tab (a header with tabs and no commas) or semicolon (``;`` and neither)."""
    if "\t" in line and "," not in line:
        return "\t"
    if ";" in line and "," not in line:
        return ";"
    return ","


def _parse_slow(p: Path, skip: int, delim: str, columns: list[str]):
    """Parse the data rows cell by cell: empty/'nan' -> NaN, exact errors with line numbers.

    With ``;`` separators a comma can only be a decimal mark (``0,5``) and reads as one.
    """
    n = len(columns)
    rows = []
    with open(p, "r", encoding="utf-8-sig", errors="replace", newline="") as fh:
        for _ in range(skip):
            fh.readline()
        line_no = skip
        for raw in fh:
            line_no += 1
            text = raw.rstrip("\r\n")
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            if delim == ";":
                text = text.replace(",", ".")
            cells = [c.strip().strip('"').strip() for c in text.split(delim)]
            while len(cells) > n and cells[-1] == "":
                cells.pop()
            if len(cells) != n:
                raise FormatError(
                    f"line {line_no} has {len(cells)} values but the header has {n} columns "
                    f"(time + {n - 1} cells)", path=p, field="row",
                    fix="every row needs a time and one value per cell (empty for missing)")
            row = []
            for j, c in enumerate(cells):
                if c.lower() in _MISSING:
                    if j == 0:
                        raise FormatError(f"line {line_no}: the frame time is missing", path=p,
                                          field=columns[0],
                                          fix="give every row its frame time in seconds")
                    row.append(math.nan)
                    continue
                try:
                    row.append(float(c))
                except ValueError:
                    raise FormatError(
                        f"line {line_no}, column {j + 1} ({clip(columns[j], 40)}): {clip(c)} is "
                        "not a number", path=p, field=shorten(columns[j], 40),
                        fix="fix that value (leave it empty or write nan for a missing value)"
                    ) from None
            rows.append(row)
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), n)


def read_traces_csv(path: str | os.PathLike, keep_rejected: bool = False) -> TraceData:
    """Read a traces CSV: time column + one column per cell (plain or Inscopix layout).

    The first column holds frame times in seconds; its header may be ``time``,
    ``Time (s)``, ``Time(s)``, ``time_s``, ``Time(s)/Cell Name`` or blank (Inscopix). The
    other header cells are the cell names. An optional second header row starting with
    ``Time(s)/Cell Status`` gives each cell's status. Separators are ``,`` (spaces after
    them are fine), tabs, or ``;`` (a header with semicolons and no commas: European
    spreadsheet exports; commas in the values are then decimal marks, ``0,5`` = 0.5).
    Empty values and ``nan`` read as NaN (the Session later reports or interpolates them).

    Cell statuses: ``rejected`` cells are dropped unless ``keep_rejected``; ``accepted``
    and ``undecided`` cells are kept. Undecided cells are kept because Inscopix marks every
    cell undecided until someone reviews them, so dropping them would drop whole
    unreviewed sessions.

    Parameters
    ----------
    path : path
        The CSV file.
    keep_rejected : bool
        Keep cells whose status is ``rejected``.

    Returns
    -------
    TraceData
        ``traces`` float32, shape (n_cells, n_frames) (cells x frames); ``frame_times``
        float64, shape (n_frames,); ``cell_ids`` the kept cell names; ``meta`` with
        ``status`` (kept cells' statuses, or None without a status row), ``n_rejected``
        (rejected cells in the file) and ``n_dropped`` (cells left out).

    Raises
    ------
    FormatError
        No header, a first column that is not time, no cells, a ragged row, a value that
        is not a number (the message names the line and the column), or all cells rejected.
    """
    p = require_path(path, "traces file")
    with open(p, "r", encoding="utf-8-sig", errors="replace", newline="") as fh:
        delim, names, statuses, n_header = _read_header(fh, p)
        columns = ["time", *names]
        data = None
        try:
            body = fh if delim != ";" else io.StringIO(fh.read().replace(",", "."))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data = np.loadtxt(body, delimiter=delim, dtype=np.float64, ndmin=2, comments="#")
        except ValueError:
            data = None
    if (data is None or data.shape[1] != len(columns) or data.shape[0] == 0
            or np.isnan(data[:, 0]).any()):
        data = _parse_slow(p, n_header, delim, columns)
    if data.shape[0] == 0:
        raise FormatError("the file has a header but no data rows", path=p, field="row",
                          fix="export at least two frames")

    keep = np.ones(len(names), dtype=bool)
    n_rejected = 0
    if statuses is not None:
        rejected = np.array([s == "rejected" for s in statuses])
        n_rejected = int(rejected.sum())
        if not keep_rejected:
            keep = ~rejected
    if not keep.any():
        raise FormatError(f"all {len(names)} cells are marked rejected", path=p,
                          field="Cell Status",
                          fix="review the cells, or keep them with --keep-rejected")
    idx = np.flatnonzero(keep)
    traces = np.ascontiguousarray(data[:, 1:][:, idx].T, dtype=np.float32)
    meta = {
        "status": None if statuses is None else [statuses[i] for i in idx],
        "n_rejected": n_rejected,
        "n_dropped": int(len(names) - idx.size),
    }
    return TraceData(traces=traces, frame_times=np.ascontiguousarray(data[:, 0]),
                     cell_ids=[names[i] for i in idx], meta=meta)


def _quote(name: str) -> str:
    if any(ch in name for ch in ',"\t\n\r'):
        return '"' + name.replace('"', '""') + '"'
    return name


def write_traces_csv(path: str | os.PathLike, traces, frame_times, cell_ids=None,
                     statuses=None) -> None:
    """Write traces in the Inscopix CSV layout, atomically.

    Without ``statuses`` the header is ``Time (s), C0, C1, ...``; with them, row 1 is a
    blank cell then the cell names and row 2 is ``Time(s)/Cell Status`` then the statuses.
    Values are written with 9 significant digits (exact for float32), times with full
    float64 precision.

    Parameters
    ----------
    path : path
    traces : array-like, shape (n_cells, n_frames)
        Cells x frames.
    frame_times : array-like, shape (n_frames,)
        Seconds.
    cell_ids : sequence of str, shape (n_cells,), optional
        Defaults to ``C0, C1, ...``.
    statuses : sequence of str, shape (n_cells,), optional
        Each ``accepted``, ``rejected`` or ``undecided``.
    """
    arr = np.asarray(traces, dtype=np.float32)
    times = np.asarray(frame_times, dtype=np.float64).reshape(-1)
    if arr.ndim != 2:
        raise ShapeError(f"traces must be 2-D (cells x frames), got shape {arr.shape}",
                         path=path, field="traces", fix="pass a cells x frames matrix")
    n_cells, n_frames = arr.shape
    if times.size != n_frames:
        raise ShapeError(f"traces have {n_frames} frames but there are {times.size} frame times",
                         path=path, field="frame_times",
                         fix="pass cells x frames traces and one time per frame")
    names = [f"C{i}" for i in range(n_cells)] if cell_ids is None else [str(c) for c in cell_ids]
    if len(names) != n_cells:
        raise ShapeError(f"{len(names)} cell ids for {n_cells} cells", path=path,
                         field="cell_ids", fix="give one id per trace row")
    if statuses is not None:
        statuses = [str(s).lower() for s in statuses]
        if len(statuses) != n_cells:
            raise ShapeError(f"{len(statuses)} statuses for {n_cells} cells", path=path,
                             field="statuses", fix="give one status per cell")
        bad = sorted(set(statuses) - set(CELL_STATUSES))
        if bad:
            raise ParameterError(f"unknown cell statuses {bad}", path=path, field="statuses",
                                 fix="use accepted, rejected or undecided")
    head = ", ".join(_quote(n) for n in names)
    row_fmt = ", ".join(["%.9g"] * n_cells)
    frames = arr.T.tolist()
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            if statuses is None:
                fh.write(f"Time (s), {head}\n")
            else:
                fh.write(f" , {head}\n")
                fh.write("Time(s)/Cell Status, " + ", ".join(statuses) + "\n")
            chunk = 2000
            for start in range(0, n_frames, chunk):
                stop = min(start + chunk, n_frames)
                fh.write("".join(f"{float(times[i])!r}, {row_fmt % tuple(frames[i])}\n"
                                 for i in range(start, stop)))

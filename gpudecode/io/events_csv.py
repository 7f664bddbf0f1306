"""Generic events CSV: a header with ``time`` (seconds) and ``event``; other columns are attributes.

Also holds the small text helpers the other text readers share (decoding, row splitting,
number formatting).
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from ..atomic import atomic_path
from ..errors import FormatError, ParameterError
from ..session import Events
from ._base import clip, require_path, shorten

__all__ = ["read_events_csv", "write_events_csv"]

TIME_NAMES = ("time", "time (s)", "time(s)", "time_s", "time_sec", "time (sec)", "time(sec)")
EVENT_NAMES = ("event",)


def read_text(path: Path) -> str:
    """The whole file as text: UTF-8 (with or without BOM), else Windows-1252.

    Exports from Windows acquisition PCs (ABET II, Excel) are often not UTF-8.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FormatError(f"cannot read the file ({exc.strerror or exc})", path=path,
                          field="file", fix="check the file is readable") from None
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 ("Unicode text" from Excel)
        return raw.decode("utf-16", errors="replace")
    if b"\x00" in raw[:4096]:
        raise FormatError("the file is binary, not text", path=path, field="format",
                          fix="point to the CSV/text export, or pass the right --format")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def guess_delimiter(line: str) -> str:
    """Tab when a header line has tabs and no commas, ``;`` when it has semicolons and
    neither (European spreadsheet exports), else comma."""
    if "\t" in line and "," not in line:
        return "\t"
    if ";" in line and "," not in line:
        return ";"
    return ","


def iter_rows(text: str, delimiter: str = ",") -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, cells)`` for every row; cells are stripped.

    Line numbers are 1-based physical lines (the last line of a row that spans lines).
    Blank rows are yielded as an empty list so callers can skip them.
    """
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, skipinitialspace=True)
    try:
        for cells in reader:
            cells = [c.strip() for c in cells]
            if not any(cells):
                cells = []
            yield reader.line_num, cells
    except csv.Error as exc:
        raise FormatError(f"line {reader.line_num}: unreadable CSV ({exc})", field="row",
                          fix="check quoting on that line") from None


def is_comment(cells: list[str]) -> bool:
    return bool(cells) and cells[0].startswith("#")


def trim_trailing(cells: list[str], n: int) -> list[str]:
    """Drop empty cells beyond the first ``n`` (trailing separators)."""
    while len(cells) > n and cells[-1] == "":
        cells = cells[:-1]
    return cells


def format_number(value) -> str:
    """Shortest text that reads back to the same float64; integers without ``.0``; NaN empty."""
    v = float(value)
    if math.isnan(v):
        return ""
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def format_attr(value) -> str:
    if isinstance(value, (float, np.floating, int, np.integer)):
        return format_number(value)
    return "" if value is None else str(value)


def parse_time(cell: str, *, path, line: int, field: str, decimal_comma: bool = False) -> float:
    """A finite float from ``cell`` or a FormatError naming the line and the column.

    ``decimal_comma``: read ``1,5`` as 1.5 (files separated by ``;``).
    """
    text = cell.strip().strip('"')
    if decimal_comma:
        text = text.replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value):
        what = "is empty" if cell == "" else f"{clip(cell)} is not a finite number"
        raise FormatError(f"line {line}: the time value {what}", path=path, field=field,
                          fix="give every event a time in seconds (a plain number)")
    return value


def _header(rows, path) -> tuple[int, list[str]]:
    for line, cells in rows:
        if cells and not is_comment(cells):
            return line, cells
    raise FormatError("the file is empty (no header row)", path=path, field="header",
                      fix="write a header row 'time,event' followed by one row per event")


def read_events_csv(path: str | os.PathLike) -> Events:
    """Read a generic events CSV.

    The header names a ``time`` column (seconds; ``Time (s)`` and ``time_s`` are accepted)
    and an ``event`` column, in any case and order. Every other column becomes an event
    attribute (numbers become float64, anything else str). Comma, tab or ``;`` separated
    (with ``;``, times may use a decimal comma); spaces after separators, blank lines and
    lines starting with ``#`` are ignored. UTF-8, UTF-16 (with BOM) or Windows-1252 text.

    Parameters
    ----------
    path : path
        The CSV file.

    Returns
    -------
    Events
        Sorted by time.

    Raises
    ------
    FormatError
        No header, a missing ``time``/``event`` column, a time that is not a number, an
        empty event name, or a row longer than the header; the message names the line.
    """
    p = require_path(path, "events file")
    text = read_text(p)
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")),
                 "")
    delimiter = guess_delimiter(first)
    try:
        rows = iter_rows(text, delimiter)
        header_line, header = _header(rows, p)
        header = trim_trailing(header, 1)
        lower = [h.lower() for h in header]
        t_col = next((lower.index(n) for n in TIME_NAMES if n in lower), None)
        e_col = next((lower.index(n) for n in EVENT_NAMES if n in lower), None)
        for col, name in ((t_col, "time"), (e_col, "event")):
            if col is None:
                raise FormatError(f"the header has no '{name}' column (columns: "
                                  f"{clip(', '.join(header))})",
                                  path=p, field=name,
                                  fix="name the columns 'time' (seconds) and 'event'")
        attr_cols = [j for j in range(len(header)) if j not in (t_col, e_col)]
        for j in attr_cols:
            if header[j] == "":
                raise FormatError(f"column {j + 1} of the header (line {header_line}) has no name",
                                  path=p, field="header", fix="name every column")
        seen = set()
        for j in attr_cols:
            if header[j] in seen:
                raise FormatError(f"column name {clip(header[j], 40)} appears twice in the "
                                  "header", path=p, field=shorten(header[j], 40),
                                  fix="give every column its own name")
            seen.add(header[j])
        n = len(header)
        times, names = [], []
        attrs: dict[str, list[str]] = {header[j]: [] for j in attr_cols}
        for line, cells in rows:
            if not cells or is_comment(cells):
                continue
            cells = trim_trailing(cells, n)
            if len(cells) > n:
                raise FormatError(f"line {line} has {len(cells)} values but the header has {n} "
                                  "columns", path=p, field="row",
                                  fix="remove the extra values or name their column")
            cells = cells + [""] * (n - len(cells))
            times.append(parse_time(cells[t_col], path=p, line=line, field=header[t_col],
                                    decimal_comma=delimiter == ";"))
            if cells[e_col] == "":
                raise FormatError(f"line {line}: the event name is empty", path=p,
                                  field=header[e_col], fix="give every row an event name")
            names.append(cells[e_col])
            for j in attr_cols:
                attrs[header[j]].append(cells[j])
    except FormatError as err:
        if err.path is None:
            err = FormatError(err.message, path=p, field=err.field, fix=err.fix)
        raise err from None
    return Events(np.asarray(times, dtype=np.float64), np.asarray(names, dtype=object),
                  {k: np.asarray(v, dtype=object) for k, v in attrs.items()})


def write_events_csv(path: str | os.PathLike, events: Events) -> None:
    """Write ``events`` as a generic events CSV (``time,event,<attributes>``), atomically.

    Times are written with full float64 precision; NaN attributes as empty cells.

    Raises
    ------
    ParameterError
        When an attribute is called ``time`` or ``event`` (it would shadow the columns).
    """
    keys = list(events.attrs)
    for k in keys:
        if k.strip().lower() in TIME_NAMES + EVENT_NAMES:
            raise ParameterError(f"an event attribute is named {k!r}, which clashes with the "
                                 "time/event columns", path=path, field=k,
                                 fix="rename the attribute")
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["time", "event", *keys])
            cols = [events.attrs[k] for k in keys]
            for i in range(len(events)):
                w.writerow([format_number(events.times[i]), events.names[i],
                            *(format_attr(c[i]) for c in cols)])

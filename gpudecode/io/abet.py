"""ABET II raw data CSV (Lafayette/Campden touchscreen chambers).

Layout (see FORMATS.md)::

    Animal ID,M12                               header block: key,value rows
    Date/Time,03/02/2021 10:15:02
    Schedule Name,PAL_Training
    Evnt_Time,Evnt_ID,Evnt_Name,Item_Name,Alias_Name,Group_ID,Arg1_Name,Arg1_Value,...
    0,1,Condition Event,Correct,,6,,              definitions (Evnt_Time == 0): dropped
    12.406,1,Condition Event,Display Image,,3,,   events, seconds
    15.112,3,Touch Down Event,Bussey Mouse Operant Mode 3 x 1 x low,,1,Position,2
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import FormatError, ParameterError
from ..session import Events
from ._base import require_path
from .events_csv import format_attr, format_number, is_comment, iter_rows, parse_time, read_text

__all__ = ["read_abet_csv", "read_abet_header", "write_abet_csv", "ABET_TIME_COLUMNS"]

ABET_TIME_COLUMNS = ("Evnt_Time", "Event_Time")
_KEPT = ("Evnt_Name", "Alias_Name", "Group_ID")
_ARG_VALUE = re.compile(r"^Arg(\d+)_Value$", re.IGNORECASE)
_ARG_NAME = re.compile(r"^Arg(\d+)_Name$", re.IGNORECASE)
_STANDARD = {"evnt_time", "event_time", "evnt_id", "evnt_name", "item_name", "alias_name",
             "group_id"}

# Stable codes per event kind for files this module writes (ABET numbers its kinds too).
_EVENT_IDS = {
    "Condition Event": 1, "Variable Event": 2, "Touch Down Event": 3, "Touch Up Event": 4,
    "Whisker - Display Image": 5, "Input Transition On Event": 6,
    "Input Transition Off Event": 7, "Output On Event": 8, "Output Off Event": 9,
    "Timer Event": 10, "Schedule Startup Event": 11, "Schedule Shutdown Event": 12,
}
_ITEM_KINDS = (
    (re.compile(r"^(Feeder|TTL|Tone|Sound|House ?light|Tray Light) #\d+$", re.I),
     "Output On Event"),
    (re.compile(r"^(Tray|FIRBeam|BIRBeam|Lever|Nose ?poke) #\d+$", re.I),
     "Input Transition On Event"),
)


def _scan(path: Path) -> tuple[list[tuple[int, list[str]]], int]:
    """All rows and the index of the column-header row (``Evnt_Time`` / ``Event_Time``)."""
    text = read_text(path)
    try:
        rows = list(iter_rows(text, ","))
    except FormatError as err:
        raise FormatError(err.message, path=path, field=err.field, fix=err.fix) from None
    wanted = {c.lower() for c in ABET_TIME_COLUMNS}
    for i, (_, cells) in enumerate(rows):
        if cells and cells[0].strip('"').lower() in wanted:
            return rows, i
    raise FormatError("no column-header row starting with 'Evnt_Time' (or 'Event_Time'): not an "
                      "ABET II raw data export", path=path, field="Evnt_Time",
                      fix="export the raw data (not the summary) from ABET II, or use a "
                          "'time,event' CSV")


def read_abet_header(path: str | os.PathLike) -> dict[str, str]:
    """The header block of an ABET II raw export as ``{key: value}``.

    Keys are as written (``Animal ID``, ``Date/Time``, ``Schedule Name``, ...); values are
    stripped strings (empty when a row has no value).

    Raises
    ------
    FormatError
        When the file has no ``Evnt_Time`` column-header row.
    """
    p = require_path(path, "ABET file")
    rows, start = _scan(p)
    out: dict[str, str] = {}
    for _, cells in rows[:start]:
        if cells and cells[0] and not is_comment(cells):
            out.setdefault(cells[0], cells[1] if len(cells) > 1 else "")
    return out


def read_abet_csv(path: str | os.PathLike) -> Events:
    """Read an ABET II raw data CSV into events.

    Definition rows (``Evnt_Time == 0``) are dropped. Each event is named by its
    ``Item_Name`` (``Evnt_Name`` when ``Item_Name`` is empty). Attributes kept:
    ``Evnt_Name``, ``Alias_Name``, ``Group_ID`` and every ``ArgN_Value`` column; in
    addition, each non-empty ``ArgN_Name`` becomes an attribute of that name holding
    ``ArgN_Value`` (e.g. ``Position`` for touch events), NaN/empty on other rows.

    Parameters
    ----------
    path : path
        The raw data CSV (times in seconds).

    Returns
    -------
    Events
        Sorted by time. Use :func:`read_abet_header` for the header block
        (``Animal ID``, ``Schedule Name``, ...).

    Raises
    ------
    FormatError
        No ``Evnt_Time`` header row, no ``Item_Name`` column, a time that is not a number
        or a row longer than the header (the message names the line).
    """
    p = require_path(path, "ABET file")
    rows, start = _scan(p)
    header_line, header = rows[start]
    header = [h.strip('"') for h in header]
    while header and header[-1] == "":
        header.pop()
    lower = [h.lower() for h in header]
    if "item_name" not in lower:
        raise FormatError(f"the column-header row (line {header_line}) has no 'Item_Name' column",
                          path=p, field="Item_Name",
                          fix="export the ABET II raw data with all standard columns")
    item_col = lower.index("item_name")
    kind_col = lower.index("evnt_name") if "evnt_name" in lower else None
    kept = [(lower.index(k.lower()), header[lower.index(k.lower())]) for k in _KEPT
            if k.lower() in lower]
    value_cols = {int(m.group(1)): j for j, h in enumerate(header) if (m := _ARG_VALUE.match(h))}
    name_cols = {int(m.group(1)): j for j, h in enumerate(header) if (m := _ARG_NAME.match(h))}
    kept += [(value_cols[k], header[value_cols[k]]) for k in sorted(value_cols)]
    n = len(header)

    times, names = [], []
    attrs: dict[str, list[str]] = {name: [] for _, name in kept}
    named: dict[str, dict[int, str]] = {}
    for line, cells in rows[start + 1:]:
        if not cells or is_comment(cells):
            continue
        cells = [c.strip('"') for c in cells]
        while len(cells) > n and cells[-1] == "":
            cells.pop()
        if len(cells) > n:
            raise FormatError(f"line {line} has {len(cells)} values but the header row has {n} "
                              "columns", path=p, field="row",
                              fix="check the export is not truncated or merged")
        cells += [""] * (n - len(cells))
        t = parse_time(cells[0], path=p, line=line, field=header[0])
        if t == 0:
            continue
        name = cells[item_col] or (cells[kind_col] if kind_col is not None else "")
        if not name:
            raise FormatError(f"line {line}: the event has no Item_Name or Evnt_Name", path=p,
                              field="Item_Name", fix="check that row of the export")
        i = len(times)
        times.append(t)
        names.append(name)
        for j, key in kept:
            attrs[key].append(cells[j])
        for k, j in name_cols.items():
            arg = cells[j]
            if arg and arg.lower() not in _STANDARD and k in value_cols \
                    and not _ARG_VALUE.match(arg) and arg not in attrs:
                named.setdefault(arg, {})[i] = cells[value_cols[k]]
    for key, values in named.items():
        attrs[key] = [values.get(i, "") for i in range(len(times))]
    return Events(np.asarray(times, dtype=np.float64), np.asarray(names, dtype=object),
                  {k: np.asarray(v, dtype=object) for k, v in attrs.items()})


def _kind(name: str, attrs: dict, i: int) -> str:
    if "Evnt_Name" in attrs and str(attrs["Evnt_Name"][i]).strip():
        return str(attrs["Evnt_Name"][i]).strip()
    if name in _EVENT_IDS:
        return name
    for pattern, kind in _ITEM_KINDS:
        if pattern.match(name):
            return kind
    return "Condition Event"


def _present(value) -> bool:
    if isinstance(value, (float, np.floating)):
        return not np.isnan(value)
    return str(value).strip() != ""


def write_abet_csv(path: str | os.PathLike, events: Events, header: dict | None = None) -> None:
    """Write ``events`` as an ABET II raw data CSV, atomically.

    Layout: the header block (``Animal ID``, ``Date/Time``, ``Schedule Name`` first, then
    the rest of ``header``), the ``Evnt_Time`` column-header row, one definition row
    (time 0) per distinct item, then the events in time order. Event names become
    ``Item_Name``; attributes ``Evnt_Name``, ``Evnt_ID``, ``Alias_Name`` and ``Group_ID``
    fill their columns (``Evnt_Name`` is guessed from the name when absent). Every other
    attribute with a value on an event goes into the next ``ArgN_Name`` / ``ArgN_Value``
    pair (name = the attribute's name); ``ArgN_Value`` attributes are written as they are
    when an event has no such named attribute.

    Parameters
    ----------
    path : path
    events : Events
        Times in seconds; all must be > 0 (ABET reserves time 0 for definitions).
    header : dict, optional
        Header-block entries, e.g. ``{"Animal ID": "M12", "Schedule Name": "PAL"}``.

    Raises
    ------
    ParameterError
        An event at time <= 0.
    """
    if len(events) and events.times[0] <= 0:
        raise ParameterError(f"ABET files cannot hold events at time <= 0 (first event at "
                             f"{events.times[0]:g} s): time 0 marks definition rows",
                             path=path, field="time", fix="shift the events to positive times")
    attrs = events.attrs
    special = {"evnt_name", "evnt_id", "alias_name", "group_id"}
    raw_args = {int(m.group(1)): k for k in attrs if (m := _ARG_VALUE.match(k))}
    extra = [k for k in attrs if k.lower() not in special and not _ARG_VALUE.match(k)
             and not _ARG_NAME.match(k)]

    records = []
    items: dict[tuple[str, str], list[str]] = {}
    for i in range(len(events)):
        name = str(events.names[i])
        kind = _kind(name, attrs, i)
        args = [(k, attrs[k][i]) for k in extra if _present(attrs[k][i])]
        if not args and raw_args:
            top = max(raw_args)
            args = [("", attrs[raw_args[k]][i] if k in raw_args else "")
                    for k in range(1, top + 1)]
            while args and not _present(args[-1][1]):
                args.pop()
        items.setdefault((kind, name), [a for a, _ in args])
        records.append((i, kind, name, args))
    n_args = max([4, *(len(r[3]) for r in records)])
    group_of = {key: g for g, key in enumerate(items, start=1)}

    def ident(kind, i=None):
        if i is not None and "Evnt_ID" in attrs and _present(attrs["Evnt_ID"][i]):
            return format_attr(attrs["Evnt_ID"][i])
        return str(_EVENT_IDS.get(kind, 1))

    def field(key, i, default=""):
        return format_attr(attrs[key][i]) if key in attrs and _present(attrs[key][i]) else default

    columns = ["Evnt_Time", "Evnt_ID", "Evnt_Name", "Item_Name", "Alias_Name", "Group_ID"]
    for k in range(1, n_args + 1):
        columns += [f"Arg{k}_Name", f"Arg{k}_Value"]
    block = {"Animal ID": "", "Date/Time": "", "Schedule Name": ""}
    block.update({str(k): "" if v is None else str(v) for k, v in (header or {}).items()})

    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\r\n")
            for key, value in block.items():
                w.writerow([key, value])
            w.writerow(columns)
            for (kind, name), arg_names in items.items():
                row = ["0", ident(kind), kind, name, "", str(group_of[(kind, name)])]
                for a in arg_names:
                    row += [a, ""]
                w.writerow(row + [""] * (len(columns) - len(row)))
            for i, kind, name, args in records:
                row = [format_number(events.times[i]), ident(kind, i), kind, name,
                       field("Alias_Name", i), field("Group_ID", i, str(group_of[(kind, name)]))]
                for a, v in args:
                    row += [a, format_attr(v)]
                w.writerow(row + [""] * (len(columns) - len(row)))

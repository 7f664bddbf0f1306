"""Cohort manifests: which sessions to decode, where their files are, how to read them.

A manifest is a CSV file (one row per session; ``,``, ``;`` or tab separated; lines whose
first cell starts with ``#`` and empty lines are skipped) or a TOML file with one
``[[session]]`` table per session. Columns (keys), case-insensitive:

==============  =========  ===============================================================
column          required   meaning
==============  =========  ===============================================================
animal          yes        animal id (a folder name in the results, at most 255 bytes;
                           ``all`` is reserved)
session         yes        session id, unique per animal (a folder name, at most 255 bytes)
day             no         training day (a number) for learning curves
traces          yes        traces file or folder (see ``gpudecode.io.TRACE_FORMATS``)
events          no         behavioural event log; empty: events stored with the traces
format          no         traces format, default ``auto``; ``h5`` means ``gpudecode``; an
                           events-only format (``abet``, ``arduino``) sets ``events_format``
                           (as in the manifest ``gpudecode simulate`` writes)
events_format   no         event log format, default ``auto``
registration    no         CSV with columns ``cell_id, cohort_id``: this session's cell ids
                           -> cohort-wide ids (see :func:`read_registration`)
sync_event      no         behaviour-log event paired with the imaging ``sync_pulses``
sync_pulses     no         file of imaging-clock pulse times (needs ``sync_event``)
event_offset    no         seconds added to every event time (when not syncing on pulses)
frame_rate      no         Hz, for traces without frame times
signal          no         which trace to read where a file holds several
==============  =========  ===============================================================

Relative paths start from the manifest's folder. Other columns are kept in
:attr:`ManifestEntry.extra` (metadata such as genotype), unless they look like a misspelt
known column, which is a problem.

:func:`read_manifest` checks everything before anything runs and raises one
:class:`~gpudecode.errors.FormatError` (field ``manifest``) listing every problem with
its row: CSV rows are numbered like spreadsheet rows (the header is row 1), TOML entries
as ``[[session]] 1, 2, ...``.
"""

from __future__ import annotations

import csv
import difflib
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import FormatError, GpudecodeError, InputFileError
from .io import EVENT_FORMATS, TRACE_FORMATS

__all__ = [
    "MANIFEST_COLUMNS",
    "REQUIRED_COLUMNS",
    "RESERVED_ANIMAL",
    "MAX_NAME_BYTES",
    "ManifestEntry",
    "read_manifest",
    "read_registration",
]

REQUIRED_COLUMNS = ("animal", "session", "traces")
MANIFEST_COLUMNS = ("animal", "session", "day", "traces", "events", "format", "events_format",
                    "registration", "sync_event", "sync_pulses", "event_offset", "frame_rate",
                    "signal")
RESERVED_ANIMAL = "all"
MAX_NAME_BYTES = 255         # NAME_MAX: animal and session ids are folder names
_PATH_COLUMNS = ("traces", "events", "registration", "sync_pulses")
_TRACE_ALIASES = {"h5": "gpudecode", "hdf5": "gpudecode"}
_UNSAFE_NAME = re.compile(r'[/\\:*?"<>|\x00-\x1f]')
_FIX = ("correct the listed rows (relative paths start from the manifest's folder); "
        "columns: " + ", ".join(MANIFEST_COLUMNS))


@dataclass(frozen=True)
class ManifestEntry:
    """One session of a cohort manifest, with paths resolved and values checked.

    Attributes
    ----------
    animal, session : str
    day : int, float or None
        Whole numbers are ints.
    traces : Path
        Absolute path of the traces file or folder.
    events : Path or None
    format, events_format : str
        Reader formats, ``"auto"`` to sniff.
    registration : Path or None
        Cell registration CSV (read it with :func:`read_registration`).
    sync_event : str or None
    sync_pulses : Path or None
    event_offset : float
    frame_rate : float or None
    signal : str or None
    row : int
        CSV row (header = 1) or 1-based ``[[session]]`` index it came from.
    extra : dict of str to str
        Other columns of the row.
    """

    animal: str
    session: str
    traces: Path
    day: int | float | None = None
    events: Path | None = None
    format: str = "auto"
    events_format: str = "auto"
    registration: Path | None = None
    sync_event: str | None = None
    sync_pulses: Path | None = None
    event_offset: float = 0.0
    frame_rate: float | None = None
    signal: str | None = None
    row: int = field(default=0, compare=False)
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> tuple[str, str]:
        """``(animal, session)``, unique within a manifest."""
        return (self.animal, self.session)

    def load_kwargs(self) -> dict:
        """Keyword arguments for :func:`gpudecode.io.load_session`."""
        kw = {"traces": self.traces, "events": self.events, "format": self.format,
              "events_format": self.events_format, "animal": self.animal,
              "session": self.session, "day": self.day}
        if self.sync_event is not None:
            kw["sync_event"] = self.sync_event
            kw["sync_pulses"] = self.sync_pulses
        elif self.event_offset:
            kw["event_offset"] = self.event_offset
        if self.frame_rate is not None:
            kw["frame_rate"] = self.frame_rate
        if self.signal is not None:
            kw["signal"] = self.signal
        return kw

    def as_dict(self) -> dict:
        """JSON-ready fields (paths as strings, ``None`` kept)."""
        out = {}
        for name in MANIFEST_COLUMNS:
            v = getattr(self, name)
            out[name] = str(v) if isinstance(v, Path) else v
        out["extra"] = dict(self.extra)
        return out


# ----------------------------------------------------------------------------- reading

def _read_text(path: Path, what: str) -> str:
    if not path.exists():
        raise InputFileError(f"{what} not found", path=path,
                             fix="check the path (relative paths start from the current folder)")
    if path.is_dir():
        raise InputFileError(f"{what} is a folder", path=path, fix=f"give the {what} itself")
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise InputFileError(f"cannot read the {what}: {err}", path=path,
                             fix="give a UTF-8 text file") from None


def _csv_rows(text: str, path: Path, field_name: str) -> tuple[list[str], list[tuple[int, list]]]:
    """Header (lower-cased, stripped) and ``(row number, cells)`` of a small CSV table."""
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(lines, delimiter=delimiter)
    header = None
    rows = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [c.strip().lower() for c in cells]
            else:
                rows.append((reader.line_num, [c.strip() for c in cells]))
    except csv.Error as err:
        raise FormatError(f"not a readable CSV table: {err}", path=path, field=field_name,
                          fix="save it as a plain CSV file") from None
    if header is None:
        raise FormatError("the file is empty (no header row)", path=path, field=field_name,
                          fix="start with a header row naming the columns")
    return header, rows


def read_registration(path: str | os.PathLike) -> dict[str, str]:
    """Read a cell-registration table: session cell id -> cohort-wide cell id.

    The CSV has (at least) the columns ``cell_id`` (the id the traces file gives the cell)
    and ``cohort_id`` (the same physical cell's id across the animal's sessions). A cell
    with an empty ``cohort_id`` was not matched in other sessions and is left out.

    Parameters
    ----------
    path : path

    Returns
    -------
    dict of str to str

    Raises
    ------
    InputFileError
        The file is missing or unreadable.
    FormatError
        Field ``registration``; the message lists every problem: missing columns, empty or
        repeated ``cell_id``, a ``cohort_id`` given to two cells.
    """
    p = Path(path)
    header, rows = _csv_rows(_read_text(p, "registration file"), p, "registration")
    missing = [c for c in ("cell_id", "cohort_id") if c not in header]
    if missing:
        raise FormatError(f"missing column{'s' if len(missing) > 1 else ''} "
                          f"{', '.join(missing)} (found: {', '.join(header) or 'none'})",
                          path=p, field="registration",
                          fix="give a header row with cell_id and cohort_id")
    ic, ik = header.index("cell_id"), header.index("cohort_id")
    mapping: dict[str, str] = {}
    seen_cell: dict[str, int] = {}
    seen_cohort: dict[str, tuple[int, str]] = {}
    problems = []
    for line, cells in rows:
        cell = cells[ic] if ic < len(cells) else ""
        cohort = cells[ik] if ik < len(cells) else ""
        if not cell:
            problems.append(f"row {line}: empty cell_id")
            continue
        if cell in seen_cell:
            problems.append(f"row {line}: cell_id {cell!r} repeats row {seen_cell[cell]}")
            continue
        seen_cell[cell] = line
        if not cohort:
            continue
        if cohort in seen_cohort:
            other_line, other_cell = seen_cohort[cohort]
            problems.append(f"row {line}: cohort_id {cohort!r} is also given to cell "
                            f"{other_cell!r} (row {other_line})")
            continue
        seen_cohort[cohort] = (line, cell)
        mapping[cell] = cohort
    if problems:
        raise FormatError(f"{len(problems)} problem{'s' if len(problems) > 1 else ''}: "
                          + "; ".join(problems), path=p, field="registration",
                          fix="give each session cell one row, and each cohort_id to at most "
                              "one cell of the session")
    return mapping


def _toml_records(text: str, path: Path, problems: list) -> list[tuple[str, dict, int]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise FormatError(f"not valid TOML: {err}", path=path, field="manifest",
                          fix="fix the syntax; each session is a [[session]] table") from None
    for key in data:
        if key != "session":
            problems.append(f"unexpected top-level key {key!r}")
    sessions = data.get("session")
    if not isinstance(sessions, list) or not all(isinstance(s, dict) for s in sessions):
        problems.append("no [[session]] tables")
        return []
    records = []
    for i, table in enumerate(sessions, start=1):
        rec = {}
        for k, v in table.items():
            k = k.strip().lower()
            if isinstance(v, bool) or not isinstance(v, (str, int, float)):
                problems.append(f"[[session]] {i}: {k} must be a string or a number, got {v!r}")
                v = ""
            rec[k] = v if isinstance(v, str) else repr(v) if isinstance(v, float) else str(v)
        records.append((f"[[session]] {i}", rec, i))
    return records


def _csv_records(text: str, path: Path, problems: list) -> tuple[list, list[str]]:
    header, rows = _csv_rows(text, path, "manifest")
    if len(set(header)) < len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        problems.append(f"row 1: repeated column{'s' if len(dup) > 1 else ''} "
                        f"{', '.join(repr(d) for d in dup)}")
    records = []
    for line, cells in rows:
        if len(cells) > len(header):
            problems.append(f"row {line}: {len(cells)} values but the header has "
                            f"{len(header)} columns")
        rec = {h: (cells[j] if j < len(cells) else "") for j, h in enumerate(header) if h}
        records.append((f"row {line}", rec, line))
    return records, header


def _number(value: str):
    try:
        v = float(value)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _resolve(value: str, base: Path) -> Path:
    p = Path(os.path.expanduser(value))
    return Path(os.path.abspath(p if p.is_absolute() else base / p))


def _check_name(value: str, column: str, where: str, problems: list) -> None:
    if _UNSAFE_NAME.search(value) or value.startswith(".") or value != value.strip():
        problems.append(f"{where}: {column} {value!r} cannot be a folder name (no "
                        f"/ \\ : * ? \" < > |, no leading '.')")
    n_bytes = len(value.encode("utf-8", "surrogateescape"))
    if n_bytes > MAX_NAME_BYTES:
        shown = value[:40] + "..."
        problems.append(f"{where}: {column} {shown!r} is {n_bytes} bytes long; it names a "
                        f"result folder, and folder names are limited to {MAX_NAME_BYTES} "
                        f"bytes: shorten it")


def _entry(where: str, rec: dict, number: int, base: Path, problems: list,
           registrations: dict) -> ManifestEntry | None:
    n_before = len(problems)
    for col in REQUIRED_COLUMNS:
        if col in rec and not rec[col]:
            problems.append(f"{where}: empty {col}")
    animal, session = rec.get("animal", ""), rec.get("session", "")
    if animal:
        _check_name(animal, "animal", where, problems)
        if animal.lower() == RESERVED_ANIMAL:
            problems.append(f"{where}: animal id {animal!r} is reserved for cohort-wide rows "
                            f"of the learning tables; rename the animal")
    if session:
        _check_name(session, "session", where, problems)

    day = None
    if rec.get("day"):
        day = _number(rec["day"])
        if day is None:
            problems.append(f"{where}: day {rec['day']!r} is not a number")
        elif day.is_integer():
            day = int(day)

    fmt = (rec.get("format") or "auto").lower()
    events_format = (rec.get("events_format") or "auto").lower()
    if events_format not in EVENT_FORMATS + ("auto",):
        problems.append(f"{where}: unknown events_format {rec['events_format']!r} "
                        f"(known: auto, {', '.join(EVENT_FORMATS)})")
    fmt = _TRACE_ALIASES.get(fmt, fmt)
    if fmt in EVENT_FORMATS and fmt not in TRACE_FORMATS:
        if events_format == "auto":
            events_format = fmt
        fmt = "auto"
    if fmt not in TRACE_FORMATS + ("auto",):
        known = ", ".join(("auto",) + TRACE_FORMATS + tuple(_TRACE_ALIASES))
        problems.append(f"{where}: unknown format {rec['format']!r} (known: {known})")

    paths: dict[str, Path | None] = {}
    for col in _PATH_COLUMNS:
        value = rec.get(col, "")
        paths[col] = _resolve(value, base) if value else None
        p = paths[col]
        if p is None:
            continue
        if not p.exists():
            problems.append(f"{where}: {col} {value!r} not found ({p})")
        elif col != "traces" and p.is_dir():
            problems.append(f"{where}: {col} {value!r} is a folder, not a file ({p})")
    reg = paths["registration"]
    if reg is not None and reg.is_file():
        if reg not in registrations:
            try:
                read_registration(reg)
                registrations[reg] = None
            except GpudecodeError as err:
                registrations[reg] = err.message
        if registrations[reg]:
            problems.append(f"{where}: registration {rec['registration']!r}: {registrations[reg]}")

    sync_event = rec.get("sync_event") or None
    if (sync_event is None) != (paths["sync_pulses"] is None):
        have, need = (("sync_event", "sync_pulses") if sync_event else
                      ("sync_pulses", "sync_event"))
        problems.append(f"{where}: {have} is given without {need} (clock alignment needs both)")
    event_offset = 0.0
    if rec.get("event_offset"):
        event_offset = _number(rec["event_offset"])
        if event_offset is None:
            problems.append(f"{where}: event_offset {rec['event_offset']!r} is not a number "
                            f"of seconds")
    frame_rate = None
    if rec.get("frame_rate"):
        frame_rate = _number(rec["frame_rate"])
        if frame_rate is None or frame_rate <= 0:
            problems.append(f"{where}: frame_rate {rec['frame_rate']!r} is not a positive "
                            f"number of Hz")
    if len(problems) > n_before or not all(rec.get(c) for c in REQUIRED_COLUMNS):
        return None
    return ManifestEntry(
        animal=animal, session=session, day=day, traces=paths["traces"], events=paths["events"],
        format=fmt, events_format=events_format, registration=reg, sync_event=sync_event,
        sync_pulses=paths["sync_pulses"], event_offset=float(event_offset),
        frame_rate=frame_rate, signal=rec.get("signal") or None, row=number,
        extra={k: v for k, v in rec.items() if k not in MANIFEST_COLUMNS})


def _check_columns(columns, problems: list, where: str) -> None:
    for col in columns:
        if col in MANIFEST_COLUMNS or not col:
            continue
        close = difflib.get_close_matches(col, MANIFEST_COLUMNS, n=1, cutoff=0.75)
        if close:
            problems.append(f"{where}: column {col!r} is not known: did you mean {close[0]!r}?")


def read_manifest(path: str | os.PathLike) -> list[ManifestEntry]:
    """Read and check a cohort manifest (CSV, or TOML with ``[[session]]`` tables).

    Parameters
    ----------
    path : path
        ``.toml`` files are read as TOML, anything else as CSV.

    Returns
    -------
    list of ManifestEntry
        In file order; paths are absolute.

    Raises
    ------
    InputFileError
        The manifest itself is missing or unreadable.
    FormatError
        Field ``manifest``: one error whose message lists every problem found, each with
        its row: missing required columns, empty required values, misspelt column names,
        missing files (traces, events, registration, sync pulses), bad registration tables,
        repeated animal/session pairs, unknown formats, non-numeric ``day``,
        ``event_offset`` or ``frame_rate``, ids that cannot be folder names. The list is
        also in the error's ``problems`` attribute.
    """
    p = Path(path)
    text = _read_text(p, "manifest")
    base = p.parent
    problems: list[str] = []
    if p.suffix.lower() == ".toml":
        records = _toml_records(text, p, problems)
        for where, rec, _ in records:
            missing = [c for c in REQUIRED_COLUMNS if c not in rec]
            if missing:
                problems.append(f"{where}: missing key{'s' if len(missing) > 1 else ''} "
                                f"{', '.join(missing)}")
            _check_columns(rec, problems, where)
    else:
        records, header = _csv_records(text, p, problems)
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            problems.append(f"row 1: missing required column{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(missing)} (found: {', '.join(header)})")
        _check_columns(header, problems, "row 1")
        if not records:
            problems.append("no sessions listed below the header")

    entries = []
    seen: dict[tuple[str, str], str] = {}
    registrations: dict = {}
    for where, rec, number in records:
        key = (rec.get("animal", ""), rec.get("session", ""))
        if all(key):
            if key in seen:
                problems.append(f"{where}: animal {key[0]!r} session {key[1]!r} is listed "
                                f"again (first at {seen[key]})")
            else:
                seen[key] = where
        entry = _entry(where, rec, number, base, problems, registrations)
        if entry is not None:
            entries.append(entry)
    if problems:
        err = FormatError(f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in the "
                          f"manifest: " + "; ".join(problems), path=p, field="manifest",
                          fix=_FIX)
        err.problems = problems
        raise err
    return entries

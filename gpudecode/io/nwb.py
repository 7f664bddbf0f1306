"""NWB 2.x reader, plain h5py: ophys traces (RoiResponseSeries) and behavioural events.

Typed objects are found by their ``neurodata_type`` attribute, never by group name.
See FORMATS.md for the layouts read here.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Callable

import h5py
import numpy as np

try:  # registers Blosc/Zstd/LZ4 filters used by some archives
    import hdf5plugin  # noqa: F401
except Exception:
    pass

from ..errors import FormatError, FrameTimesError, ParameterError, ShapeError
from ..session import Events
from ._base import TraceData, open_hdf5, require_path, times_from_rate

__all__ = ["read_nwb", "read_nwb_events"]

_TRACE_TYPE = "RoiResponseSeries"
_CONTAINER_RANK = {"Fluorescence": 0, "DfOverF": 1}
_REJECT_COLUMNS = ("accepted", "iscell")
_RAGGED_SEP = ";"
_EVENT_TABLE_TYPES = ("EventsTable", "TtlsTable")
_NDX_POINT_TYPES = ("Events", "LabeledEvents", "TTLs")


# ---------------------------------------------------------------- file access


def _open_nwb(path: Path) -> h5py.File:
    """Open ``path`` read-only, raising :class:`FormatError` unless it is NWB 2.x HDF5."""
    if path.is_dir():
        raise FormatError("folder is not an NWB HDF5 file (NWB Zarr stores are not supported)",
                          path=path, field="format",
                          fix="export the file to HDF5 with pynwb (NWBHDF5IO.export) "
                              "and pass the .nwb file")
    if not h5py.is_hdf5(path):
        raise FormatError("not an HDF5 file, so not NWB 2.x", path=path, field="format",
                          fix="pass an NWB 2.x (.nwb, HDF5) file, or another --format")
    f = open_hdf5(path, "NWB file", fix="check the file is complete (not truncated by a copy)")
    if "nwb_version" not in f.attrs:
        old = "nwb_version" in f
        f.close()
        if old:
            raise FormatError("NWB 1.x file: only NWB 2.x is read", path=path,
                              field="nwb_version",
                              fix="convert it to NWB 2.x (e.g. with pynwb / nwb-conversion tools)")
        raise FormatError("HDF5 file is not NWB (no 'nwb_version' attribute at the root), so it "
                          f"holds no {_TRACE_TYPE}", path=path, field="nwb_version",
                          fix="pass an NWB 2.x file, or pass --format for this file's layout")
    return f


def _missing_filters(ds: h5py.Dataset) -> list[str]:
    try:
        plist = ds.id.get_create_plist()
        found = []
        for i in range(plist.get_nfilters()):
            code, _flags, _vals, name = plist.get_filter(i)
            if not h5py.h5z.filter_avail(code):
                label = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
                found.append(f"{label or 'filter'} (id {code})")
        return found
    except Exception:
        return []


def _read(ds: h5py.Dataset, path: Path):
    """Whole dataset; :class:`FormatError` (naming a fix) when HDF5 cannot decode it."""
    try:
        return ds[()]
    except OSError as exc:
        missing = _missing_filters(ds)
        if missing:
            raise FormatError(
                f"dataset is compressed with HDF5 filter(s) {', '.join(missing)} that this "
                "installation cannot decode (Blosc/Zstd archives need extra filters)",
                path=path, field=ds.name,
                fix="pip install hdf5plugin, then read the file again") from None
        raise FormatError(f"cannot read dataset ({exc})", path=path, field=ds.name,
                          fix="check the file is complete (not truncated by a copy)") from None


def _is_string(ds: h5py.Dataset) -> bool:
    return h5py.check_string_dtype(ds.dtype) is not None or ds.dtype.kind == "S"


def _read_strings(ds: h5py.Dataset, path: Path) -> np.ndarray:
    """Text dataset as an object array of str (vlen UTF-8 or fixed-length bytes)."""
    raw = _read(ds, path)
    arr = np.asarray(raw, dtype=object).reshape(-1)
    return np.array([v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                     for v in arr], dtype=object)


def _as_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return _as_text(value.reshape(-1)[0]) if value.size else None
    return str(value)


def _scalar_text(f: h5py.File, name: str) -> str | None:
    obj = f.get(name)
    if not isinstance(obj, h5py.Dataset):
        return None
    try:
        return _as_text(obj[()])
    except Exception:
        return None


def _attr_text(obj, name: str) -> str | None:
    try:
        return _as_text(obj.attrs.get(name))
    except Exception:
        return None


def _index_types(f: h5py.File) -> list[tuple[str, str]]:
    """(path, neurodata_type) of every typed group, in file order, skipping /specifications.

    Soft links are not followed (their targets are listed where they live).
    """
    found: list[tuple[str, str]] = []

    def visit(name, obj):
        if isinstance(obj, h5py.Group):
            kind = _attr_text(obj, "neurodata_type")
            if kind:
                found.append((obj.name, kind))

    for key in f:
        if key == "specifications":
            continue
        link = f.get(key, getlink=True)
        if not isinstance(link, h5py.HardLink):
            continue
        obj = f[key]
        if isinstance(obj, h5py.Group):
            visit(key, obj)
            obj.visititems(visit)
    return found


def _parent_type(f: h5py.File, path: str) -> str | None:
    return _attr_text(f[path].parent, "neurodata_type")


# ---------------------------------------------------------------- timing


def _series_times(g: h5py.Group, n: int, path: Path) -> tuple[np.ndarray, float | None]:
    """Times (s) of the ``n`` samples of a TimeSeries-like group, and its rate if rate-based.

    ``timestamps`` may be a soft link to another series' timestamps (h5py follows it).
    """
    try:
        ts = g.get("timestamps")
    except (KeyError, OSError):
        ts = None
    if isinstance(ts, h5py.Dataset):
        t = np.asarray(_read(ts, path), dtype=np.float64).reshape(-1)
        if t.size != n:
            raise FrameTimesError(f"{t.size} timestamps for {n} samples", path=path,
                                  field=ts.name, fix="the file is inconsistent: rewrite it with "
                                                     "one timestamp per sample")
        return t, None
    st = g.get("starting_time")
    if isinstance(st, h5py.Dataset):
        rate = st.attrs.get("rate")
        start = float(np.asarray(_read(st, path)).reshape(-1)[0])
        rate = None if rate is None else float(np.asarray(rate).reshape(-1)[0])
        return times_from_rate(n, rate, path=path, field_name=f"{st.name}@rate",
                               start=start), rate
    raise FormatError("series has neither 'timestamps' nor 'starting_time' + 'rate'",
                      path=path, field=f"{g.name}/timestamps",
                      fix="the file does not follow NWB; rewrite it with pynwb")


# ---------------------------------------------------------------- traces


def _choose_series(f: h5py.File, found: list[str], series: str | None, path: Path
                   ) -> str:
    if series is not None:
        want = series.strip().strip("/")
        matches = [p for p in found
                   if want in (p.strip("/"), p.rsplit("/", 1)[-1], p.rsplit("/", 2)[-2])]
        if not matches:
            raise ParameterError(f"no {_TRACE_TYPE} named {series!r}", path=path,
                                 field="series", fix=f"use one of: {', '.join(found)}")
        found = matches
    ranked = sorted(found, key=lambda p: _CONTAINER_RANK.get(_parent_type(f, p) or "", 2))
    return ranked[0]


def _read_cell_ids(f: h5py.File, g: h5py.Group, n_rois: int, path: Path
                   ) -> tuple[list[str] | None, np.ndarray | None, dict]:
    """Cell ids and accepted mask (None when absent) from the ``rois`` DynamicTableRegion."""
    info: dict = {}
    try:
        rois = g.get("rois")
    except (KeyError, OSError):
        rois = None
    if not isinstance(rois, h5py.Dataset):
        return None, None, info
    ref = rois.attrs.get("table")
    if not isinstance(ref, h5py.Reference) or not ref:
        return None, None, info
    try:
        table = f[ref]
    except Exception:
        return None, None, info
    region = np.asarray(_read(rois, path)).reshape(-1)
    if region.size != n_rois:
        raise ShapeError(f"'rois' lists {region.size} rows but 'data' has {n_rois} ROI columns "
                         "(data must be time x rois)", path=path, field=rois.name,
                         fix="the file is inconsistent: rewrite it with one ROI per data column")
    region = region.astype(np.int64)
    info["roi_table"] = table.name
    ids_ds = table.get("id")
    ids = None
    if isinstance(ids_ds, h5py.Dataset):
        all_ids = np.asarray(_read(ids_ds, path)).reshape(-1)
        if region.size and (region.min() < 0 or region.max() >= all_ids.size):
            raise ShapeError(f"'rois' points at rows outside the {all_ids.size}-row table "
                             f"{table.name}", path=path, field=rois.name,
                             fix="the file is inconsistent: rewrite it")
        ids = [str(v) for v in all_ids[region]]
    accepted = None
    for col in _REJECT_COLUMNS:
        ds = table.get(col)
        if not isinstance(ds, h5py.Dataset) or f"{col}_index" in table:
            continue
        vals = np.asarray(_read(ds, path))
        if vals.ndim == 2:  # suite2p's iscell: (rois, [label, probability])
            vals = vals[:, 0]
        if vals.ndim != 1 or vals.dtype.kind not in "biuf":
            continue
        if vals.dtype.kind != "b" and not np.all(np.isin(vals, (0, 1))):
            continue
        if region.size and region.max() >= vals.size:
            continue
        accepted = vals.astype(bool)[region]
        info["accepted_column"] = f"{table.name}/{col}"
        break
    return ids, accepted, info


def _read_meta(f: h5py.File) -> dict:
    meta = {}
    animal = _scalar_text(f, "general/subject/subject_id")
    if animal:
        meta["animal"] = animal
    session = (_scalar_text(f, "general/session_id") or _scalar_text(f, "session_id")
               or _scalar_text(f, "identifier"))
    if session:
        meta["session"] = session
    for key in ("identifier", "session_start_time"):
        val = _scalar_text(f, key)
        if val:
            meta[key] = val
    meta["nwb_version"] = _attr_text(f, "nwb_version")
    return meta


def read_nwb(path: str | os.PathLike, keep_rejected: bool = False,
             series: str | None = None) -> TraceData:
    """Read calcium traces and events from an NWB 2.x file.

    Parameters
    ----------
    path : path-like
        The ``.nwb`` (HDF5) file.
    keep_rejected : bool
        Keep ROIs whose PlaneSegmentation ``accepted`` (or ``iscell``) column is false.
    series : str, optional
        Which RoiResponseSeries to read when there are several: its group name, its full
        path, or the name of its container (e.g. ``"DfOverF"``). By default a series
        inside ``Fluorescence`` is preferred, then ``DfOverF``, then the first found.

    Returns
    -------
    TraceData
        ``traces`` (cells x frames, float32) with ``conversion`` and ``offset`` applied;
        ``frame_times`` (s); ``frame_rate`` for rate-based series; ``cell_ids`` from the
        PlaneSegmentation ``id`` column; ``events`` from :func:`read_nwb_events`;
        ``meta`` with ``series`` (path read), ``series_alternatives``, ``unit``,
        ``n_rejected``, ``animal``, ``session`` where the file states them.

    Raises
    ------
    InputFileError
        The file does not exist.
    FormatError
        Not NWB, no RoiResponseSeries, or a compression filter that is not installed.
    """
    p = require_path(path, "NWB file")
    with _open_nwb(p) as f:
        typed = _index_types(f)
        found = [q for q, kind in typed if kind == _TRACE_TYPE]
        if not found:
            kinds = sorted({k for _, k in typed})
            kinds = kinds[:12] + (["..."] if len(kinds) > 12 else [])
            raise FormatError(
                f"NWB file holds no {_TRACE_TYPE} (no ophys traces); types present: "
                f"{', '.join(kinds) or 'none'}", path=p, field=_TRACE_TYPE,
                fix="pass an NWB file with ophys traces (processing/ophys/Fluorescence or "
                    "DfOverF); its trials/events can still be used via --events FILE")
        chosen = _choose_series(f, found, series, p)
        g = f[chosen]
        data_ds = g.get("data")
        if not isinstance(data_ds, h5py.Dataset):
            raise FormatError("RoiResponseSeries has no 'data' dataset", path=p,
                              field=f"{chosen}/data", fix="the file does not follow NWB")
        data = np.asarray(_read(data_ds, p))
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2 or data.dtype.kind not in "biuf":
            raise ShapeError(f"'data' has shape {data.shape} and dtype {data.dtype}; expected "
                             "numbers, time x rois", path=p, field=data_ds.name,
                             fix="read a RoiResponseSeries with 2-D numeric data")
        conversion = data_ds.attrs.get("conversion")
        offset = data_ds.attrs.get("offset")
        values = data.astype(np.float64)
        if conversion is not None and float(conversion) != 1.0:
            values *= float(conversion)
        if offset is not None and float(offset) != 0.0:
            values += float(offset)
        traces = np.ascontiguousarray(values.T, dtype=np.float32)
        times, rate = _series_times(g, traces.shape[1], p)

        ids, accepted, info = _read_cell_ids(f, g, traces.shape[0], p)
        meta = _read_meta(f)
        meta.update(info)
        meta["series"] = chosen
        meta["container"] = _parent_type(f, chosen) or g.parent.name.rsplit("/", 1)[-1]
        meta["unit"] = _attr_text(data_ds, "unit")
        alternatives = [q for q in found if q != chosen]
        if alternatives:
            meta["series_alternatives"] = alternatives
        if accepted is not None:
            meta["n_rejected"] = int((~accepted).sum())
            if not keep_rejected:
                if not accepted.any():
                    raise FormatError(f"all {accepted.size} ROIs are marked rejected",
                                      path=p, field=info["accepted_column"],
                                      fix="pass keep_rejected=True (--keep-rejected) to use them")
                traces = traces[accepted]
                if ids is not None:
                    ids = [c for c, ok in zip(ids, accepted) if ok]
        events = _read_events(f, p, typed)
    return TraceData(traces=traces, frame_times=times, frame_rate=rate, cell_ids=ids,
                     events=events, meta=meta)


# ---------------------------------------------------------------- events


def _column(table: h5py.Group, name: str, n: int, path: Path) -> np.ndarray | None:
    """One table column as float64 or str, length ``n``; None when it cannot be an attribute.

    Ragged columns (``name_index`` present) are joined per row with ``;``.
    """
    ds = table.get(name)
    if not isinstance(ds, h5py.Dataset):
        return None
    if ds.dtype.names is not None or (ds.dtype.kind in "OV" and not _is_string(ds)):
        return None  # compound rows or object references
    if _is_string(ds):
        vals = _read_strings(ds, path) if ds.ndim == 1 else None
    elif ds.dtype.kind in "biuf" and ds.ndim == 1:
        vals = np.asarray(_read(ds, path), dtype=np.float64)
    else:
        return None
    if vals is None:
        return None
    idx_ds = table.get(f"{name}_index")
    if isinstance(idx_ds, h5py.Dataset):
        if f"{name}_index_index" in table:
            return None
        ends = np.asarray(_read(idx_ds, path)).astype(np.int64).reshape(-1)
        if ends.size != n or (ends.size and ends[-1] > vals.size):
            return None
        starts = np.concatenate([[0], ends[:-1]])
        text = [_RAGGED_SEP.join(_fmt(v) for v in vals[a:b].tolist())
                for a, b in zip(starts, ends)]
        return np.array(text, dtype=object)
    if vals.size != n:
        return None
    return vals


def _fmt(v) -> str:
    """A cell value as text: ``3`` for 3.0, shortest round-trip form for other floats."""
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return str(int(v)) if v.is_integer() else repr(v)
    return str(v)


def _table_columns(table: h5py.Group, skip: set[str], n: int, path: Path
                   ) -> dict[str, np.ndarray]:
    """Attribute columns of a DynamicTable, in ``colnames`` order, skipping ``skip``."""
    try:
        names = [_as_text(c) for c in np.asarray(table.attrs.get("colnames", [])).reshape(-1)]
    except Exception:
        names = []
    if not names:
        names = [k for k in table if isinstance(table.get(k), h5py.Dataset)]
    cols: dict[str, np.ndarray] = {}
    for name in names:
        if not name or name in skip or name == "id" or name.endswith("_index"):
            continue
        vals = _column(table, name, n, path)
        if vals is None:
            continue
        cols[name] = vals
        meaning = _meanings(table, name, vals, path)
        if meaning is not None:
            cols[f"{name}_meaning"] = meaning
    return cols


def _meanings(table: h5py.Group, name: str, vals: np.ndarray, path: Path
              ) -> np.ndarray | None:
    """Meaning of each categorical value, from a ``<name>_meanings`` table (value, meaning)."""
    mt = table.get(f"{name}_meanings")
    if not isinstance(mt, h5py.Group):
        ref = table[name].attrs.get("meanings") if name in table else None
        mt = table.file[ref] if isinstance(ref, h5py.Reference) and ref else None
    if not isinstance(mt, h5py.Group) or "value" not in mt or "meaning" not in mt:
        return None
    keys = _column(mt, "value", mt["value"].shape[0], path)
    means = _column(mt, "meaning", mt["meaning"].shape[0], path)
    if keys is None or means is None:
        return None
    lookup = {_fmt(k): str(m) for k, m in zip(keys.tolist(), means.tolist())}
    return np.array([lookup.get(_fmt(v), "") for v in vals.tolist()], dtype=object)


def _events(times, names, attrs: dict) -> Events:
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    keep = np.isfinite(times)
    names = np.asarray(names, dtype=object).reshape(-1)
    if names.size == 1 and times.size != 1:
        names = np.repeat(names, times.size)
    return Events(times[keep], names[keep], {k: np.asarray(v)[keep] for k, v in attrs.items()})


def _intervals_events(g: h5py.Group, path: Path) -> Events:
    """TimeIntervals rows -> events at ``start_time``; ``trials`` rows are named ``trial``."""
    start = np.asarray(_read(g["start_time"], path), dtype=np.float64).reshape(-1)
    cols = _table_columns(g, {"start_time"}, start.size, path)
    name = "trial" if g.name == "/intervals/trials" or g.name.endswith("/trials") else \
        g.name.rsplit("/", 1)[-1]
    return _events(start, [name], cols)


def _annotation_events(g: h5py.Group, path: Path) -> Events:
    labels = _read_strings(g["data"], path)
    times, _ = _series_times(g, labels.size, path)
    keep = np.array([bool(s.strip()) for s in labels], dtype=bool)
    series = np.full(labels.size, g.name.rsplit("/", 1)[-1], dtype=object)
    return _events(times[keep], labels[keep], {"series": series[keep]})


def _timeseries_events(g: h5py.Group, path: Path) -> Events:
    """A TimeSeries of behavioural events: one event per timestamp, named by the group."""
    data_ds = g["data"]
    attrs = {}
    if _is_string(data_ds) and data_ds.ndim == 1:
        vals = _read_strings(data_ds, path)
        attrs["value"] = vals
    elif data_ds.dtype.kind in "biuf" and data_ds.ndim in (1, 2):
        vals = np.asarray(_read(data_ds, path), dtype=np.float64)
        conversion = data_ds.attrs.get("conversion")
        offset = data_ds.attrs.get("offset")
        vals = vals * (1.0 if conversion is None else float(conversion)) + \
            (0.0 if offset is None else float(offset))
        if vals.ndim == 1:
            attrs["value"] = vals
        else:
            for j in range(vals.shape[1]):
                attrs[f"value_{j}"] = vals[:, j]
    else:
        return Events.empty()
    times, _ = _series_times(g, vals.shape[0], path)
    return _events(times, [g.name.rsplit("/", 1)[-1]], attrs)


def _event_type_names(table: h5py.Group, n: int, path: Path) -> np.ndarray | None:
    """ndx-events 0.3: names from an ``event_type``/``ttl_type`` region into a types table."""
    for col in ("event_type", "ttl_type"):
        ds = table.get(col)
        if not isinstance(ds, h5py.Dataset):
            continue
        ref = ds.attrs.get("table")
        if not isinstance(ref, h5py.Reference) or not ref:
            continue
        types = table.file[ref]
        if "event_name" not in types:
            continue
        names = _read_strings(types["event_name"], path)
        rows = np.asarray(_read(ds, path)).astype(np.int64).reshape(-1)
        if rows.size != n or (rows.size and (rows.min() < 0 or rows.max() >= names.size)):
            return None
        return names[rows]
    return None


def _events_table_events(g: h5py.Group, path: Path) -> Events:
    """EventsTable (core, ndx-events 0.3/0.4): one row per event at ``timestamp``."""
    times = np.asarray(_read(g["timestamp"], path), dtype=np.float64).reshape(-1)
    group_name = g.name.rsplit("/", 1)[-1]
    typed_names = _event_type_names(g, times.size, path)
    cols = _table_columns(g, {"timestamp", "event_type", "ttl_type"}, times.size, path)
    if typed_names is not None:
        cols.setdefault("series", np.full(times.size, group_name, dtype=object))
        return _events(times, typed_names, cols)
    return _events(times, [group_name], cols)


def _ndx_point_events(g: h5py.Group, path: Path) -> Events:
    """ndx-events 0.1/0.2 ``Events`` (timestamps only) and ``LabeledEvents``/``TTLs``."""
    times = np.asarray(_read(g["timestamps"], path), dtype=np.float64).reshape(-1)
    group_name = g.name.rsplit("/", 1)[-1]
    key_ds = g.get("data") if "data" in g else g.get("label_keys")
    if not isinstance(key_ds, h5py.Dataset):
        return _events(times, [group_name], {})
    keys = np.asarray(_read(key_ds, path)).astype(np.int64).reshape(-1)
    if keys.size != times.size:
        return Events.empty()
    labels = key_ds.attrs.get("labels")
    if labels is None:
        labels = g.attrs.get("labels")
    if labels is None and isinstance(g.get("labels"), h5py.Dataset):
        labels = _read_strings(g["labels"], path)
    labels = [] if labels is None else [_as_text(v) for v in np.asarray(labels).reshape(-1)]
    names = [labels[k] if 0 <= k < len(labels) and labels[k] else str(k) for k in keys]
    return _events(times, names, {"value": keys.astype(np.float64),
                                  "series": np.full(times.size, group_name, dtype=object)})


def _annotated_table_events(g: h5py.Group, path: Path) -> Events:
    """ndx-events 0.2 ``AnnotatedEventsTable``: one row per event type, ragged ``event_times``."""
    times = np.asarray(_read(g["event_times"], path), dtype=np.float64).reshape(-1)
    ends = np.asarray(_read(g["event_times_index"], path)).astype(np.int64).reshape(-1)
    labels = _read_strings(g["label"], path)
    if labels.size != ends.size or (ends.size and ends[-1] > times.size):
        return Events.empty()
    starts = np.concatenate([[0], ends[:-1]])
    names = np.concatenate([np.full(b - a, lab, dtype=object)
                            for lab, a, b in zip(labels, starts, ends)] or [np.zeros(0, object)])
    series = np.full(names.size, g.name.rsplit("/", 1)[-1], dtype=object)
    return _events(times[:names.size], names, {"series": series})


def _event_sources(f: h5py.File, typed: list[tuple[str, str]]) -> list[tuple[str, Callable]]:
    """(group path, reader) for every event layout found, in file order."""
    sources: list[tuple[str, Callable]] = []
    seen: set[str] = set()

    def add(q, fn):
        if q not in seen:
            seen.add(q)
            sources.append((q, fn))

    for q, kind in typed:
        g = f[q]
        if kind == "TimeIntervals" and "start_time" in g and not q.endswith("/invalid_times"):
            add(q, _intervals_events)
        elif kind == "AnnotationSeries" and "data" in g:
            add(q, _annotation_events)
        elif kind in _EVENT_TABLE_TYPES and "timestamp" in g:
            add(q, _events_table_events)
        elif kind in _NDX_POINT_TYPES and "timestamps" in g:
            add(q, _ndx_point_events)
        elif kind == "AnnotatedEventsTable" and "event_times" in g:
            add(q, _annotated_table_events)
        elif (_parent_type(f, q) == "BehavioralEvents" and "data" in g):
            add(q, _timeseries_events)
    # untyped groups written by hand following the layouts
    trials = f.get("intervals/trials")
    if isinstance(trials, h5py.Group) and "start_time" in trials:
        add(trials.name, _intervals_events)
    events_root = f.get("events")
    if isinstance(events_root, h5py.Group):
        for key in events_root:
            g = events_root.get(key)
            if isinstance(g, h5py.Group) and "timestamp" in g:
                add(g.name, _events_table_events)
    return sources


def _read_events(f: h5py.File, path: Path, typed: list[tuple[str, str]] | None = None
                 ) -> Events:
    typed = _index_types(f) if typed is None else typed
    out = Events.empty()
    for q, reader in _event_sources(f, typed):
        try:
            ev = reader(f[q], path)
        except FormatError as exc:
            if "hdf5plugin" in str(exc):
                raise
            warnings.warn(f"{path}: skipped events in {q}: {exc}", stacklevel=3)
            continue
        except (KeyError, ValueError, TypeError, IndexError, OSError) as exc:
            warnings.warn(f"{path}: skipped events in {q} (layout not understood: {exc})",
                          stacklevel=3)
            continue
        if len(ev):
            out = ev if len(out) == 0 else out.concat(ev)
    return out


def read_nwb_events(path: str | os.PathLike) -> Events:
    """Read the behavioural events stored in an NWB 2.x file.

    Layouts read (any may be absent; groups whose layout is not understood are skipped
    with a warning):

    - ``/intervals/trials``: one event named ``trial`` per row at ``start_time``; every
      other column (``stop_time``, custom columns) becomes an attribute. Other
      TimeIntervals tables (except ``invalid_times``) give events named by the table.
      Ragged columns are joined per row into one string with ``;``.
    - ``AnnotationSeries``: one event per (timestamp, text), named by the text, attribute
      ``series`` = the group name.
    - ``TimeSeries`` inside ``BehavioralEvents``: events named by the series at each
      timestamp, attribute ``value`` = data (with conversion/offset).
    - ``EventsTable`` (core, ndx-events 0.3/0.4) and hand-written ``/events/<name>/``
      groups with a ``timestamp`` column: events named ``<name>``, other columns as
      attributes (ndx-events 0.3 ``event_type`` rows are named by ``event_name``;
      categorical ``<col>_meanings`` tables add ``<col>_meaning``).
    - ndx-events 0.2 ``Events`` (named by the group), ``LabeledEvents``/``TTLs`` (named by
      ``labels[data]``, attributes ``value``, ``series``), ``AnnotatedEventsTable``.

    Parameters
    ----------
    path : path-like
        The ``.nwb`` (HDF5) file.

    Returns
    -------
    Events
        Sorted by time; empty when the file holds none.

    Raises
    ------
    InputFileError, FormatError
        Missing file; not NWB; a compression filter that is not installed.
    """
    p = require_path(path, "NWB file")
    with _open_nwb(p) as f:
        return _read_events(f, p)

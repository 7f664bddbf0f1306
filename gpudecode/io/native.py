"""gpudecode's own HDF5 session layout (``format="gpudecode"``).

Layout (version 1)::

    /                       attrs: format="gpudecode-session", version=1,
                                   animal, session, day (int, -1 = unknown)
    /traces                 float32 (n_cells, n_frames)   cells x frames
    /frame_times            float64 (n_frames,)           seconds
    /cell_ids               str     (n_cells,)
    /events/time            float64 (n_events,)           seconds, imaging clock
    /events/name            str     (n_events,)
    /events/attrs/<column>  float64 or str (n_events,)
    /ground_truth/<key>     optional arrays written by the simulator

Strings are variable-length UTF-8.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from ..atomic import atomic_path
from ..errors import FormatError, GpudecodeError, ShapeError
from ..session import Events, Session
from ._base import clip, open_hdf5, require_path, shorten

__all__ = ["save_session", "read_session", "read_ground_truth", "FORMAT_TAG", "FORMAT_VERSION"]

FORMAT_TAG = "gpudecode-session"
FORMAT_VERSION = 1
_STR = h5py.string_dtype("utf-8")


def _write_column(group: h5py.Group, name: str, values: np.ndarray) -> None:
    values = np.asarray(values)
    if values.dtype.kind in "fiub":
        group.create_dataset(name, data=values.astype(np.float64))
    else:
        group.create_dataset(name, data=np.asarray([str(v) for v in values], dtype=object),
                             dtype=_STR)


def _read_column(ds: h5py.Dataset) -> np.ndarray:
    if ds.dtype.kind in "OSU":
        return np.asarray(ds.asstr()[()], dtype=object)
    return ds[()]


def save_session(session: Session, path: str | os.PathLike, ground_truth: dict | None = None,
                 compression: str | None = "gzip") -> None:
    """Write ``session`` (and optional simulator ground truth) to ``path`` atomically.

    Parameters
    ----------
    session : Session
    path : path
        Destination ``.h5`` file; replaced only once fully written.
    ground_truth : dict of str to array-like, optional
        Stored under ``/ground_truth``; nested dicts become groups.
    compression : str or None
        h5py compression for the traces.
    """
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT_TAG
            f.attrs["version"] = FORMAT_VERSION
            f.attrs["animal"] = session.animal
            f.attrs["session"] = session.session
            f.attrs["day"] = -1 if session.day is None else int(session.day)
            f.create_dataset("traces", data=session.traces, compression=compression,
                             chunks=True if compression else None)
            f.create_dataset("frame_times", data=session.frame_times)
            _write_column(f, "cell_ids", session.cell_ids)
            ev = f.create_group("events")
            ev.create_dataset("time", data=session.events.times)
            _write_column(ev, "name", session.events.names)
            attrs = ev.create_group("attrs")
            for key, col in session.events.attrs.items():
                _write_column(attrs, key, col)
            if ground_truth:
                _write_tree(f.create_group("ground_truth"), ground_truth)


def _write_tree(group: h5py.Group, tree: dict) -> None:
    for key, value in tree.items():
        if isinstance(value, dict):
            _write_tree(group.create_group(str(key)), value)
        elif isinstance(value, str):
            group.attrs[str(key)] = value
        else:
            arr = np.asarray(value)
            if arr.dtype.kind in "OUS":
                _write_column(group, str(key), arr.reshape(-1))
            else:
                group.create_dataset(str(key), data=arr)


def _read_tree(group: h5py.Group) -> dict:
    out: dict = dict(group.attrs)
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = _read_tree(item)
        else:
            out[key] = _read_column(item)
    return out


def _open_checked(path) -> h5py.File:
    p = require_path(path, "session file")
    f = open_hdf5(p, "session file",
                  fix="pass a complete file written by gpudecode (save_session / simulate)")
    tag = f.attrs.get("format")
    if isinstance(tag, bytes):
        tag = tag.decode("utf-8", "replace")
    if tag != FORMAT_TAG:
        f.close()
        raise FormatError(f"HDF5 file is not a gpudecode session (format attribute "
                          f"{clip(tag, 40)})", path=p, field="format",
                          fix="pass --format for its real format")
    return f


_REWRITE = "rewrite the file with gpudecode.io.native.save_session"


def _describe_dtype(dtype: np.dtype) -> str:
    if dtype.names:
        return f"compound ({', '.join(dtype.names[:5])})"
    return {"O": "text", "S": "text", "U": "text", "b": "boolean", "V": "opaque",
            "c": "complex"}.get(dtype.kind, str(dtype))


def _dataset(f: h5py.File, name: str, path) -> h5py.Dataset:
    item = f.get(name)
    if item is None:
        raise FormatError(f"the gpudecode session lacks {name}", path=path, field=name,
                          fix=_REWRITE)
    if not isinstance(item, h5py.Dataset):
        raise FormatError(f"{name} is a group where a dataset belongs (it holds: "
                          f"{clip(', '.join(item.keys()) or 'nothing')})", path=path, field=name,
                          fix=f"store {name} as an array; {_REWRITE}")
    return item


def _numeric(f: h5py.File, name: str, path, ndim: int, unit: str) -> np.ndarray:
    """A real-valued dataset of ``ndim`` dimensions, as stored."""
    ds = _dataset(f, name, path)
    if ds.dtype.kind not in "fiu":
        raise FormatError(f"{name} holds {_describe_dtype(ds.dtype)} values, not numbers",
                          path=path, field=name, fix=f"store {name} as {unit}; {_REWRITE}")
    if ds.ndim != ndim:
        want = "cells x frames" if ndim == 2 else "one value per element"
        raise ShapeError(f"{name} has shape {ds.shape}; expected {ndim}-D ({want})", path=path,
                         field=name, fix=f"store {name} as a {ndim}-D array; {_REWRITE}")
    return ds[()]


def _column(f: h5py.File, name: str, path, n: int, what: str) -> np.ndarray:
    """A 1-D column of length ``n`` (text or numbers) for cell ids, event names and attributes."""
    ds = _dataset(f, name, path)
    if ds.dtype.names or ds.dtype.kind not in "OSUfiub":
        raise FormatError(f"{name} holds {_describe_dtype(ds.dtype)} values", path=path,
                          field=name, fix=f"store {name} as text or numbers; {_REWRITE}")
    if ds.shape != (n,):
        raise ShapeError(f"{name} has shape {ds.shape}; expected ({n},), one per {what}",
                         path=path, field=name, fix=f"give one value per {what}; {_REWRITE}")
    try:
        return _read_column(ds)
    except UnicodeDecodeError:
        raise FormatError(f"{name} holds text that is not UTF-8", path=path, field=name,
                          fix=f"store strings as UTF-8; {_REWRITE}") from None


def _text_attr(f: h5py.File, key: str, path) -> str:
    value = f.attrs.get(key, "")
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        if value.size != 1:
            raise FormatError(f"the file attribute {key!r} is an array of shape {value.shape}, "
                              "not one value", path=path, field=key,
                              fix=f"store {key} as a single string; {_REWRITE}")
        value = value.reshape(-1)[0]
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
    return str(value)


def _day_attr(f: h5py.File, path) -> int | None:
    value = f.attrs.get("day", -1)
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(-1)[0]
    day = None
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        day = int(value)
    elif isinstance(value, (float, np.floating)) and np.isfinite(value):
        if float(value).is_integer():
            day = int(value)
    if day is None:
        shown = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        raise FormatError(f"the file attribute 'day' is {clip(shown, 40)}, not a whole number",
                          path=path, field="day",
                          fix="store the training day as an integer (-1 = unknown), e.g. "
                              "f.attrs['day'] = 3")
    return None if day < 0 else day


def read_session(path: str | os.PathLike) -> Session:
    """Read a session written by :func:`save_session`.

    Every dataset and attribute is checked before use: numeric ``traces`` (2-D),
    ``frame_times`` and ``events/time`` (1-D), one cell id per trace row, one name and one
    value of each ``events/attrs`` column per event, scalar ``animal``/``session`` and a
    whole-number ``day``.

    Returns
    -------
    Session
        ``traces`` cells x frames float32.

    Raises
    ------
    FormatError, ShapeError
        A missing, mistyped (text, compound, a group) or misshapen dataset or attribute;
        the message names the file and the dataset.
    """
    p = Path(path)
    try:
        with _open_checked(p) as f:
            return _read_checked(f, p)
    except OSError as exc:  # a read that fails half-way: truncated data
        raise FormatError(f"the session file could not be read ({clip(exc)})", path=p,
                          field="file", fix="the file is damaged: copy it again") from None


def _read_checked(f: h5py.File, path: Path) -> Session:
    version = f.attrs.get("version", FORMAT_VERSION)
    if not isinstance(version, (int, np.integer)) or int(version) > FORMAT_VERSION:
        raise FormatError(f"layout version {shorten(version, 20)}; this gpudecode reads version "
                          f"{FORMAT_VERSION}", path=path, field="version",
                          fix="upgrade gpudecode, or rewrite the file with this version")
    traces = _numeric(f, "traces", path, 2, "float32 (n_cells, n_frames)")
    frame_times = _numeric(f, "frame_times", path, 1, "float64 seconds (n_frames,)")
    if traces.shape[1] != frame_times.size:
        if traces.shape[0] == frame_times.size:
            raise ShapeError(f"traces have shape {traces.shape} but there are {frame_times.size} "
                             "frame times: the matrix is stored frames x cells", path=path,
                             field="traces", fix="transpose the matrix to cells x frames and "
                                                 "save it again (save_session)")
        raise ShapeError(f"traces have {traces.shape[1]} frames but there are "
                         f"{frame_times.size} frame times", path=path, field="frame_times",
                         fix=f"give one time per frame (column); {_REWRITE}")
    cell_ids = _column(f, "cell_ids", path, traces.shape[0], "cell (trace row)")
    times = _numeric(f, "events/time", path, 1, "float64 seconds (n_events,)")
    names = _column(f, "events/name", path, times.size, "event time")
    attrs = {}
    if "events/attrs" in f:
        group = f["events/attrs"]
        if not isinstance(group, h5py.Group):
            raise FormatError("events/attrs is a dataset where a group of columns belongs",
                              path=path, field="events/attrs", fix=_REWRITE)
        for key in group:
            attrs[key] = _column(f, f"events/attrs/{key}", path, times.size, "event")
    try:
        events = Events(times, names, attrs)
    except GpudecodeError as err:
        raise type(err)(err.message, path=path, field=f"events/{err.field or 'time'}",
                        fix=err.fix) from None
    return Session(
        traces=traces, frame_times=frame_times, cell_ids=cell_ids, events=events,
        animal=_text_attr(f, "animal", path), session=_text_attr(f, "session", path),
        day=_day_attr(f, path),
        source={"traces": str(path), "events": str(path), "format": "gpudecode"},
    )


def read_ground_truth(path: str | os.PathLike) -> dict:
    """The simulator's ground truth stored with a session; empty dict when none."""
    with _open_checked(path) as f:
        return _read_tree(f["ground_truth"]) if "ground_truth" in f else {}

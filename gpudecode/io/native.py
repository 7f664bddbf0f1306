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

import h5py
import numpy as np

from ..atomic import atomic_path
from ..errors import FormatError
from ..session import Events, Session
from ._base import require_path

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
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise FormatError(f"not an HDF5 file ({exc})", path=p, field="format",
                          fix="pass a file written by gpudecode (save_session / simulate)") from None
    tag = f.attrs.get("format")
    if isinstance(tag, bytes):
        tag = tag.decode()
    if tag != FORMAT_TAG:
        f.close()
        raise FormatError(f"HDF5 file is not a gpudecode session (format attribute {tag!r})",
                          path=p, field="format", fix="pass --format for its real format")
    return f


def read_session(path: str | os.PathLike) -> Session:
    """Read a session written by :func:`save_session`.

    Returns
    -------
    Session
        ``traces`` cells x frames float32.
    """
    with _open_checked(path) as f:
        missing = [k for k in ("traces", "frame_times", "cell_ids", "events/time", "events/name")
                   if k not in f]
        if missing:
            raise FormatError(f"gpudecode session lacks {', '.join(missing)}", path=path,
                              field=missing[0], fix="rewrite the file with save_session")
        attrs = {k: _read_column(v) for k, v in f["events/attrs"].items()} \
            if "events/attrs" in f else {}
        events = Events(f["events/time"][()], _read_column(f["events/name"]), attrs)
        day = int(f.attrs.get("day", -1))
        return Session(
            traces=f["traces"][()], frame_times=f["frame_times"][()],
            cell_ids=_read_column(f["cell_ids"]), events=events,
            animal=str(f.attrs.get("animal", "")), session=str(f.attrs.get("session", "")),
            day=None if day < 0 else day,
            source={"traces": str(path), "events": str(path), "format": "gpudecode"},
        )


def read_ground_truth(path: str | os.PathLike) -> dict:
    """The simulator's ground truth stored with a session; empty dict when none."""
    with _open_checked(path) as f:
        return _read_tree(f["ground_truth"]) if "ground_truth" in f else {}

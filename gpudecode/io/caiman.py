"""CaImAn HDF5 reader (``cnm.save(...)``: a dump of the CNMF object).

Layout (see FORMATS.md): ``estimates/C``, ``estimates/S``, ``estimates/YrA`` and
``estimates/F_dff`` are (cells, frames), row-major, not transposed;
``estimates/idx_components`` lists the accepted components; ``params/data/fr`` is the frame
rate. CaImAn stores ``None`` as the 0-d string dataset ``'NoneType'``.
"""

from __future__ import annotations

import os
import warnings

import h5py
import numpy as np

from ..errors import FormatError, GpudecodeError, ParameterError, ShapeError
from ._base import TraceData, open_hdf5, require_path

__all__ = ["CAIMAN_SIGNALS", "read_caiman"]

CAIMAN_SIGNALS = ("C", "S", "F_dff", "C+YrA")


def read_caiman(path: str | os.PathLike, signal: str = "C",
                keep_rejected: bool = False) -> TraceData:
    """Read the traces of a CaImAn HDF5 file.

    Parameters
    ----------
    path : path
        The ``.hdf5`` file written by ``cnm.save``.
    signal : {"C", "S", "F_dff", "C+YrA"}
        ``C`` denoised calcium, ``S`` deconvolved activity, ``F_dff`` dF/F (only when
        ``detrend_df_f`` was run), ``C+YrA`` denoised plus residual (the raw-ish trace).
    keep_rejected : bool
        Keep the components that component evaluation rejected (those not in
        ``estimates/idx_components``).

    Returns
    -------
    TraceData
        ``traces`` (n_cells, n_frames) float32; ``cell_ids`` are the original component
        indices as strings; ``frame_rate`` from ``params/data/fr`` (None when absent);
        ``meta`` holds ``signal``, ``n_components``, ``n_rejected`` (rejected by CaImAn),
        ``kept_rejected`` and ``orientation`` (``"cells x frames"`` as CaImAn writes, or
        ``"frames x cells"`` when the file holds the matrix the other way round, recognised
        by ``estimates/A``'s component count, ``estimates/f``'s frame count or, failing
        those, the long axis being frames; a warning says so).

    Raises
    ------
    InputFileError, FormatError, ShapeError, ParameterError
    """
    p = require_path(path, "CaImAn file")
    if signal not in CAIMAN_SIGNALS:
        raise ParameterError(f"unknown CaImAn signal {signal!r}", path=p, field="signal",
                             fix=f"use one of: {', '.join(CAIMAN_SIGNALS)}")
    fh = open_hdf5(p, "CaImAn file", fix="point to the .hdf5 file written by CaImAn's cnm.save")
    with fh:
        est = fh.get("estimates")
        if not isinstance(est, h5py.Group):
            raise FormatError("no 'estimates' group: not a CaImAn file", path=p,
                              field="estimates",
                              fix=f"the file holds: {_list_keys(fh)}; save with cnm.save(...)")
        if signal == "C+YrA":
            traces = _read_matrix(est, "C", p)
            residual = _read_matrix(est, "YrA", p)
            if residual.shape != traces.shape:
                raise ShapeError(f"estimates/YrA has shape {residual.shape} but estimates/C "
                                 f"has {traces.shape}", path=p, field="estimates/YrA",
                                 fix="use --signal C or re-save the CaImAn results")
            traces = traces + residual
        else:
            traces = _read_matrix(est, signal, p)
        field = "estimates/C" if signal == "C+YrA" else f"estimates/{signal}"
        traces, orientation, reason = _orient(traces, est, field, p)
        n_comp = traces.shape[0]
        try:
            accepted = _read_accepted(est, n_comp, p)
        except GpudecodeError:
            if not keep_rejected:
                raise
            accepted = None  # unusable selection; every component is kept anyway
        rate = _read_frame_rate(fh, p)

    n_rejected = 0 if accepted is None else n_comp - accepted.size
    keep = np.arange(n_comp) if (accepted is None or keep_rejected) else accepted
    if keep.size == 0:
        raise ShapeError(f"CaImAn rejected all {n_comp} components", path=p,
                         field="estimates/idx_components",
                         fix="keep them with --keep-rejected (keep_rejected=True)")
    return TraceData(
        traces=np.ascontiguousarray(traces[keep], dtype=np.float32),
        frame_times=None,
        frame_rate=rate,
        cell_ids=[str(int(i)) for i in keep],
        meta={"signal": signal, "n_components": n_comp, "n_rejected": int(n_rejected),
              "kept_rejected": bool(keep_rejected), "orientation": orientation,
              "orientation_reason": reason},
    )


def _list_keys(group: h5py.Group) -> str:
    return ", ".join(sorted(group.keys())) or "nothing"


def _n_components(est: h5py.Group) -> int | None:
    """Number of components from the spatial footprints ``estimates/A`` (pixels x cells)."""
    a = est.get("A")
    shape = None
    if isinstance(a, h5py.Group) and isinstance(a.get("shape"), h5py.Dataset):
        raw = np.asarray(a["shape"][()]).reshape(-1)
        if raw.size == 2 and raw.dtype.kind in "iuf":
            shape = raw
    elif isinstance(a, h5py.Dataset) and a.ndim == 2 and a.dtype.kind in "fiu":
        shape = a.shape
    return None if shape is None else int(shape[1])


def _n_frames(est: h5py.Group) -> int | None:
    """Number of frames from the background traces ``estimates/f`` (n_background x frames)."""
    f = est.get("f")
    if isinstance(f, h5py.Dataset) and f.ndim == 2 and f.dtype.kind in "fiu":
        return int(f.shape[1])
    return None


def _orient(traces: np.ndarray, est: h5py.Group, field: str, path):
    """Cells x frames, whichever way round the file stores the matrix.

    CaImAn writes (cells, frames); a frames x cells matrix (from a hand-made or converted
    file) is recognised by the component count of ``estimates/A``, the frame count of
    ``estimates/f``, and otherwise by the long axis (every recording has more frames than
    cells). A transposed read is announced with a warning.
    """
    n_rows, n_cols = traces.shape
    n_cells, n_frames = _n_components(est), _n_frames(est)
    evidence = []
    if n_cells is not None and n_rows != n_cols:
        if n_rows == n_cells:
            return traces, "cells x frames", f"estimates/A has {n_cells} components"
        if n_cols == n_cells:
            evidence.append(f"estimates/A has {n_cells} components")
    if n_frames is not None and n_rows != n_cols and not evidence:
        if n_cols == n_frames:
            return traces, "cells x frames", f"estimates/f has {n_frames} frames"
        if n_rows == n_frames:
            evidence.append(f"estimates/f has {n_frames} frames")
    if not evidence:
        if n_rows <= n_cols:
            return traces, "cells x frames", "the frame axis is the long one"
        evidence.append("the frame axis is the long one")
    warnings.warn(f"{path}: [{field}] is stored frames x cells ({n_rows:,} x {n_cols:,}; "
                  f"{evidence[0]}): read as {n_cols:,} cells x {n_rows:,} frames", stacklevel=4)
    return np.ascontiguousarray(traces.T), "frames x cells", evidence[0]


def _is_none(ds) -> bool:
    """True for CaImAn's encoding of None: a 0-d string dataset 'NoneType'."""
    if not isinstance(ds, h5py.Dataset) or ds.shape != ():
        return False
    value = ds[()]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value == "NoneType"


def _read_matrix(est: h5py.Group, name: str, path) -> np.ndarray:
    """``estimates/<name>`` as a float32 (n_cells, n_frames) array."""
    field = f"estimates/{name}"
    ds = est.get(name)
    if ds is None:
        raise FormatError(f"{field} is missing", path=path, field=field,
                          fix=f"choose another --signal; estimates holds: {_list_keys(est)}")
    if _is_none(ds):
        hint = " (run cnm.estimates.detrend_df_f() before saving)" if name == "F_dff" else ""
        raise FormatError(f"{field} is None in this file{hint}", path=path, field=field,
                          fix="choose another --signal, e.g. C")
    if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "fiub":
        raise FormatError(f"{field} is not a numeric matrix", path=path, field=field,
                          fix="choose another --signal, e.g. C")
    if ds.ndim != 2:
        raise ShapeError(f"{field} must be 2-D (cells x frames), got shape {ds.shape}",
                         path=path, field=field, fix="re-save the CaImAn results with cnm.save")
    if 0 in ds.shape:
        raise ShapeError(f"{field} is empty (shape {ds.shape})", path=path, field=field,
                         fix="check that CaImAn found components")
    return np.asarray(ds[()], dtype=np.float32)


def _read_accepted(est: h5py.Group, n_comp: int, path) -> np.ndarray | None:
    """Sorted accepted component indices, or None when CaImAn did not evaluate components."""
    field = "estimates/idx_components"
    ds = est.get("idx_components")
    if ds is None or _is_none(ds):
        return None
    if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "fiub":
        raise FormatError(f"{field} is not an index array", path=path, field=field,
                          fix="re-save the CaImAn results, or pass --keep-rejected")
    raw = np.asarray(ds[()]).reshape(-1)
    if raw.dtype.kind == "b":
        if raw.size != n_comp:
            raise ShapeError(f"{field} is a mask of {raw.size} for {n_comp} components",
                             path=path, field=field, fix="pass --keep-rejected")
        return np.flatnonzero(raw)
    if raw.size and not np.all(np.equal(np.mod(raw, 1), 0)):
        raise FormatError(f"{field} holds non-integer values", path=path, field=field,
                          fix="pass --keep-rejected")
    idx = raw.astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n_comp):
        raise FormatError(f"{field} has indices outside 0..{n_comp - 1}", path=path,
                          field=field, fix="pass --keep-rejected")
    return np.unique(idx)


def _read_frame_rate(fh: h5py.File, path) -> float | None:
    """``params/data/fr`` in Hz; None (with a warning if it is unusable) when not available.

    An unusable stored rate is not an error here: ``--frame-rate`` can still supply one.
    """
    field = "params/data/fr"
    ds = fh.get(field)
    if ds is None or _is_none(ds):
        return None
    rate = None
    if isinstance(ds, h5py.Dataset) and ds.dtype.kind in "fiu" and ds.size == 1:
        rate = float(np.asarray(ds[()]).reshape(-1)[0])
    if rate is None or not np.isfinite(rate) or rate <= 0:
        warnings.warn(f"{path}: [{field}] is not a positive frame rate; ignoring it "
                      "(pass --frame-rate HZ)", stacklevel=3)
        return None
    return rate

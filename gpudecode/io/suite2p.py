"""suite2p reader (a ``suite2p/plane0`` folder).

``F.npy``, ``Fneu.npy`` and ``spks.npy`` are (rois, frames); ``iscell.npy`` is (rois, 2) =
[label, probability]. ``ops.npy`` (frame rate ``fs``) is a pickle: loading it runs code, so
it is only read when the caller passes ``trust_pickle=True``. Numeric arrays are always
loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import FormatError, InputFileError, ParameterError, ShapeError
from ._base import TraceData, require_path

__all__ = ["SUITE2P_SIGNALS", "NEUROPIL_COEFFICIENT", "find_plane_folder", "read_suite2p"]

NEUROPIL_COEFFICIENT = 0.7
"""suite2p's default ``neucoeff``: the neuropil-corrected trace is ``F - 0.7 * Fneu``."""

SUITE2P_SIGNALS = ("F", "Fneu", "spks", "Fcorr")
_ALIASES = {"F-0.7*Fneu": "Fcorr"}


def find_plane_folder(path: str | os.PathLike) -> Path:
    """The plane folder holding ``F.npy``/``spks.npy``.

    ``path`` may be the plane folder itself, a folder holding ``plane0``, a folder holding
    ``suite2p/plane0``, or one of the ``.npy`` files inside the plane folder.

    Raises
    ------
    InputFileError
        When ``path`` does not exist.
    FormatError
        When none of those places holds suite2p output.
    """
    p = require_path(path, "suite2p folder")
    if p.is_file():
        p = p.parent
    for cand in (p, p / "plane0", p / "suite2p" / "plane0"):
        if (cand / "F.npy").is_file() or (cand / "spks.npy").is_file():
            return cand
    raise FormatError("no suite2p output here (looked for F.npy or spks.npy in the folder, "
                      "plane0/ and suite2p/plane0/)", path=p, field="F.npy",
                      fix="point to the suite2p/plane0 folder")


def read_suite2p(path: str | os.PathLike, signal: str = "F", frame_rate: float | None = None,
                 trust_pickle: bool = False, keep_rejected: bool = False) -> TraceData:
    """Read one suite2p plane.

    Parameters
    ----------
    path : path
        The ``plane0`` folder, or a folder holding ``plane0`` or ``suite2p/plane0``.
    signal : {"F", "Fneu", "spks", "Fcorr"}
        ``F`` ROI fluorescence, ``Fneu`` neuropil, ``spks`` deconvolved activity,
        ``Fcorr`` neuropil-corrected ``F - 0.7 * Fneu`` (also accepted as ``"F-0.7*Fneu"``).
    frame_rate : float, optional
        Hz. Required unless ``trust_pickle`` is set.
    trust_pickle : bool
        When ``frame_rate`` is None, unpickle ``ops.npy`` to read ``fs``. Unpickling runs
        code: only for folders you trust. Nothing else is ever unpickled.
    keep_rejected : bool
        Keep ROIs that ``iscell.npy`` labels as not cells.

    Returns
    -------
    TraceData
        ``traces`` (n_cells, n_frames) float32; ``cell_ids`` are the ROI indices (rows of
        ``F.npy``) as strings; ``frame_rate`` in Hz; ``meta`` holds ``signal``, ``plane``
        (the folder), ``n_rois``, ``n_rejected`` (ROIs labelled not-a-cell) and
        ``kept_rejected``.

    Raises
    ------
    InputFileError, FormatError, ShapeError, ParameterError
    """
    plane = find_plane_folder(path)
    signal = _ALIASES.get(signal, signal)
    if signal not in SUITE2P_SIGNALS:
        raise ParameterError(f"unknown suite2p signal {signal!r}", path=plane, field="signal",
                             fix=f"use one of: {', '.join(SUITE2P_SIGNALS)} "
                                 "(Fcorr = F - 0.7*Fneu)")
    rate = _resolve_frame_rate(plane, frame_rate, trust_pickle)

    if signal == "Fcorr":
        fluo = _load_matrix(plane, "F")
        neuropil = _load_matrix(plane, "Fneu")
        if neuropil.shape != fluo.shape:
            raise ShapeError(f"Fneu.npy has shape {neuropil.shape} but F.npy has {fluo.shape}",
                             path=plane / "Fneu.npy", field="Fneu",
                             fix="use --signal F, or re-run suite2p on this plane")
        traces = fluo - np.float32(NEUROPIL_COEFFICIENT) * neuropil
    else:
        traces = _load_matrix(plane, signal)

    n_rois = traces.shape[0]
    is_cell = _load_iscell(plane, n_rois)
    n_rejected = 0 if is_cell is None else int((~is_cell).sum())
    if is_cell is None or keep_rejected:
        keep = np.arange(n_rois)
    else:
        keep = np.flatnonzero(is_cell)
    if keep.size == 0:
        raise ShapeError(f"iscell.npy labels none of the {n_rois} ROIs as a cell",
                         path=plane / "iscell.npy", field="iscell",
                         fix="keep them with --keep-rejected (keep_rejected=True)")
    _warn_other_planes(plane)
    return TraceData(
        traces=np.ascontiguousarray(traces[keep], dtype=np.float32),
        frame_times=None,
        frame_rate=rate,
        cell_ids=[str(int(i)) for i in keep],
        meta={"signal": signal, "plane": str(plane), "n_rois": n_rois,
              "n_rejected": n_rejected, "kept_rejected": bool(keep_rejected)},
    )


def _load_npy(file: Path, field: str) -> np.ndarray:
    """A numeric ``.npy`` array, never unpickling."""
    if not file.is_file():
        raise InputFileError(f"{file.name} not found in the suite2p folder", path=file,
                             field=field, fix="choose another --signal, or check the folder")
    try:
        arr = np.load(file, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise FormatError(f"{file.name} holds pickled Python objects, not a numeric array",
                              path=file, field=field,
                              fix="save it as a plain numeric array (np.save of a float "
                                  "matrix)") from None
        raise FormatError(f"{file.name} is not a readable .npy array ({exc})", path=file,
                          field=field, fix="re-run suite2p or restore the file") from None
    except (OSError, EOFError) as exc:
        raise FormatError(f"{file.name} is not a readable .npy array ({exc})", path=file,
                          field=field, fix="re-run suite2p or restore the file") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiub":
        raise FormatError(f"{file.name} is not numeric (dtype {getattr(arr, 'dtype', '?')})",
                          path=file, field=field, fix="re-run suite2p or restore the file")
    return arr


def _load_matrix(plane: Path, name: str) -> np.ndarray:
    """``<name>.npy`` as float32 (n_rois, n_frames)."""
    file = plane / f"{name}.npy"
    arr = _load_npy(file, name)
    if arr.ndim != 2:
        raise ShapeError(f"{file.name} must be 2-D (rois x frames), got shape {arr.shape}",
                         path=file, field=name, fix="re-run suite2p or restore the file")
    if 0 in arr.shape:
        raise ShapeError(f"{file.name} is empty (shape {arr.shape})", path=file, field=name,
                         fix="check that suite2p found ROIs in this plane")
    return arr.astype(np.float32, copy=False)


def _load_iscell(plane: Path, n_rois: int) -> np.ndarray | None:
    """Boolean (n_rois,) from column 0 of ``iscell.npy``; None when the file is absent."""
    file = plane / "iscell.npy"
    if not file.exists():
        return None
    arr = _load_npy(file, "iscell")
    labels = arr[:, 0] if arr.ndim == 2 else arr
    if labels.ndim != 1 or labels.shape[0] != n_rois:
        raise ShapeError(f"iscell.npy has shape {arr.shape} for {n_rois} ROIs (expected "
                         f"({n_rois}, 2))", path=file, field="iscell",
                         fix="pass --keep-rejected after removing iscell.npy, or re-run suite2p")
    return labels == 1


def _resolve_frame_rate(plane: Path, frame_rate: float | None, trust_pickle: bool) -> float:
    if frame_rate is not None:
        try:
            rate = float(frame_rate)
        except (TypeError, ValueError):
            rate = float("nan")
        if not np.isfinite(rate) or rate <= 0:
            raise ParameterError(f"frame rate must be a positive number, got {frame_rate!r}",
                                 path=plane, field="frame_rate",
                                 fix="pass the frame rate in Hz (--frame-rate HZ)")
        return rate
    if not trust_pickle:
        raise ParameterError("suite2p stores the frame rate only in ops.npy, a pickle that is "
                             "not loaded by default (unpickling runs code)", path=plane,
                             field="frame_rate",
                             fix="pass --frame-rate HZ (or --trust-pickle to read ops.npy)")
    return _read_ops_fs(plane / "ops.npy", trust_pickle=trust_pickle)


def _read_ops_fs(file: Path, *, trust_pickle: bool) -> float:
    """``fs`` from ``ops.npy`` — the only place a pickle is ever loaded, and only with
    ``trust_pickle`` (``--trust-pickle``); without it ``np.load`` refuses the pickle."""
    if not file.is_file():
        raise InputFileError("ops.npy not found, so the frame rate is unknown", path=file,
                             field="fs", fix="pass --frame-rate HZ")
    try:
        ops = np.load(file, allow_pickle=trust_pickle).item()
        fs = ops["fs"]
    except Exception as exc:  # unpickling can raise anything
        raise FormatError(f"cannot read 'fs' from ops.npy ({type(exc).__name__}: {exc})",
                          path=file, field="fs", fix="pass --frame-rate HZ") from None
    try:
        rate = float(fs)
    except (TypeError, ValueError):
        rate = float("nan")
    if not np.isfinite(rate) or rate <= 0:
        raise FormatError(f"ops.npy 'fs' is {fs!r}, not a positive frame rate", path=file,
                          field="fs", fix="pass --frame-rate HZ")
    return rate


def _warn_other_planes(plane: Path) -> None:
    others = sorted(q.name for q in plane.parent.glob("plane*")
                    if q.is_dir() and q != plane and (q / "F.npy").exists())
    if others:
        warnings.warn(f"{plane}: reading only {plane.name}; this recording also has "
                      f"{', '.join(others)}", stacklevel=3)

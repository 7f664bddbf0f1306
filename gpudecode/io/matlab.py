"""MATLAB reader for CNMF-E and MIN1PIPE results (v7.3 via h5py, v5/v7 via scipy.io).

Layouts recognised (see FORMATS.md):

- CNMF-E ``neuron_results`` struct (``neuron.save_results``): ``C``, ``C_raw``, ``S``
  (K x T in MATLAB), frame rate ``Fs``;
- MIN1PIPE ``*_data_processed.mat``: top-level ``sigfn``, ``spkfn``, ``dff`` (K x T), frame
  rate ``Params.Fsi_new``;
- a plain top-level matrix named like the signal (e.g. ``C``), with an optional
  top-level frame rate ``Fs``.

MATLAB stores K x T (cells x frames). v7.3 files are HDF5, where shapes read reversed:
they are transposed back here, so both versions give (cells, frames).
"""

from __future__ import annotations

import os

import h5py
import numpy as np
import scipy.io
import scipy.sparse
from scipy.io.matlab import MatlabFunction, MatlabOpaque

from ..errors import FormatError, ParameterError, ShapeError
from ._base import TraceData, open_hdf5, require_path

__all__ = ["CNMFE_SIGNALS", "MIN1PIPE_SIGNALS", "read_matlab"]

CNMFE_SIGNALS = {"C": "C", "C_raw": "C_raw", "S": "S"}
MIN1PIPE_SIGNALS = {"C": "sigfn", "S": "spkfn", "sigfn": "sigfn", "spkfn": "spkfn",
                    "dff": "dff"}
_PLAIN_RATE_NAMES = ("Fs", "fs", "fr", "frame_rate")

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_PLAIN_CLASSES = {"double", "single", "logical", "char", "struct", "cell", "int8", "uint8",
                  "int16", "uint16", "int32", "uint32", "int64", "uint64", "function_handle"}
_SAVE_RESULTS_FIX = ("load it in MATLAB, run neuron.save_results('results.mat') (it saves "
                     "neuron_results = struct(neuron)) and read results.mat")


def read_matlab(path: str | os.PathLike, signal: str = "C",
                frame_rate: float | None = None) -> TraceData:
    """Read CNMF-E or MIN1PIPE traces from a ``.mat`` file (v7.3 or v5/v7).

    Parameters
    ----------
    path : path
        The ``.mat`` file.
    signal : str
        CNMF-E: ``C`` (denoised), ``C_raw``, ``S`` (deconvolved). MIN1PIPE: ``C`` or
        ``sigfn``, ``S`` or ``spkfn``, ``dff``. Plain files: the variable's name.
    frame_rate : float, optional
        Hz; overrides the rate stored in the file.

    Returns
    -------
    TraceData
        ``traces`` (n_cells, n_frames) float32 (MATLAB K x T); ``cell_ids`` ``"0".."K-1"``
        (MATLAB row k+1); ``frame_rate`` from ``frame_rate`` or the file (None if neither);
        ``meta`` holds ``signal``, ``variable`` (what was read), ``layout``
        (``cnmfe``/``min1pipe``/``plain``) and ``mat_version`` (``7.3`` or ``5``).

    Raises
    ------
    InputFileError, FormatError, ShapeError, ParameterError
    """
    p = require_path(path, "MATLAB file")
    if p.is_dir():
        raise FormatError("expected a .mat file, got a folder", path=p, field="format",
                          fix="point to the .mat file itself")
    if frame_rate is not None:
        frame_rate = _check_rate(frame_rate, p, "frame_rate", ParameterError,
                                 "pass the frame rate in Hz (--frame-rate HZ)")
    mat = _H5Mat(p) if _is_hdf5(p) else _V5Mat(p)
    try:
        layout, var, rate_path = _choose(mat, signal)
        traces = _as_traces(mat.array(var), p, ".".join(var))
        rate = frame_rate
        if rate is None and rate_path is not None and mat.has(rate_path):
            rate = _check_rate(mat.scalar(rate_path), p, ".".join(rate_path), FormatError,
                               "pass the frame rate (--frame-rate HZ)")
    finally:
        mat.close()
    return TraceData(
        traces=traces,
        frame_times=None,
        frame_rate=rate,
        cell_ids=[str(i) for i in range(traces.shape[0])],
        meta={"signal": signal, "variable": ".".join(var), "layout": layout,
              "mat_version": mat.version},
    )


def _is_hdf5(path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(520)
    return head[:8] == _HDF5_SIGNATURE or head[512:520] == _HDF5_SIGNATURE


def _check_rate(value, path, field, error, fix) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = float("nan")
    if not np.isfinite(rate) or rate <= 0:
        raise error(f"frame rate must be a positive number, got {value!r}", path=path,
                    field=field, fix=fix)
    return rate


def _choose(mat, signal: str):
    """Pick the layout: (layout name, variable path, frame-rate path or None)."""
    names = mat.names()
    if "neuron_results" in names and mat.kind(("neuron_results",)) == "struct":
        if signal not in CNMFE_SIGNALS:
            raise ParameterError(f"unknown CNMF-E signal {signal!r}", path=mat.path,
                                 field="signal", fix=f"use one of: {', '.join(CNMFE_SIGNALS)}")
        var = ("neuron_results", CNMFE_SIGNALS[signal])
        if not mat.has(var):
            raise FormatError(f"neuron_results has no field {var[1]!r}", path=mat.path,
                              field=".".join(var),
                              fix=f"choose another --signal; neuron_results holds: "
                                  f"{', '.join(mat.fields(var[:1])) or 'nothing'}")
        return "cnmfe", var, ("neuron_results", "Fs")
    if "sigfn" in names or "spkfn" in names:
        if signal not in MIN1PIPE_SIGNALS:
            raise ParameterError(f"unknown MIN1PIPE signal {signal!r}", path=mat.path,
                                 field="signal",
                                 fix=f"use one of: {', '.join(MIN1PIPE_SIGNALS)}")
        var = (MIN1PIPE_SIGNALS[signal],)
        if var[0] not in names:
            raise FormatError(f"MIN1PIPE file has no variable {var[0]!r}", path=mat.path,
                              field=var[0], fix=f"choose another --signal; the file holds: "
                                                f"{', '.join(names)}")
        return "min1pipe", var, ("Params", "Fsi_new")
    if signal in names and mat.kind((signal,)) == "numeric":
        rate = next((n for n in _PLAIN_RATE_NAMES if n in names), None)
        return "plain", (signal,), None if rate is None else (rate,)
    objects = [n for n in names if mat.kind((n,)) == "object"]
    if objects:
        what = ", ".join(f"{n} ({mat.class_name((n,))})" for n in objects)
        raise FormatError(f"the file holds MATLAB classdef objects ({what}) and no plain "
                          "traces; classdef objects can't be read outside MATLAB",
                          path=mat.path, field=objects[0], fix=_SAVE_RESULTS_FIX)
    raise FormatError(f"no CNMF-E 'neuron_results', no MIN1PIPE 'sigfn'/'spkfn' and no "
                      f"variable {signal!r}", path=mat.path, field=signal,
                      fix=f"the file holds: {', '.join(names) or 'nothing'}; pass --signal "
                          "with one of those names")


def _as_traces(arr, path, field) -> np.ndarray:
    """A MATLAB-oriented K x T matrix as float32 (n_cells, n_frames)."""
    if scipy.sparse.issparse(arr):
        arr = arr.toarray()
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiub":
        raise FormatError(f"{field} is not a numeric matrix (dtype {arr.dtype})", path=path,
                          field=field, fix="choose another --signal")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ShapeError(f"{field} must be 2-D (cells x frames), got shape {arr.shape}",
                         path=path, field=field, fix="save a K x T matrix (cells x frames)")
    if 0 in arr.shape:
        raise ShapeError(f"{field} is empty (shape {arr.shape})", path=path, field=field,
                         fix="check that the pipeline found cells")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _decode(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return _decode(value.reshape(-1)[0]) if value.size else ""
    return str(value)


class _H5Mat:
    """MATLAB v7.3: variables are root datasets/groups tagged with ``MATLAB_class``."""

    version = "7.3"

    def __init__(self, path):
        self.path = path
        self.fh = open_hdf5(path, "MATLAB v7.3 (HDF5) file", fix="re-save it from MATLAB")

    def close(self):
        self.fh.close()

    def names(self) -> list[str]:
        return sorted(k for k in self.fh.keys() if not k.startswith("#"))

    def _node(self, var):
        node = self.fh
        for part in var:
            if not isinstance(node, h5py.Group) or part not in node:
                return None
            node = node[part]
        return node

    def has(self, var) -> bool:
        return self._node(var) is not None

    def class_name(self, var) -> str:
        node = self._node(var)
        return _decode(node.attrs.get("MATLAB_class", b"")) if node is not None else ""

    def kind(self, var) -> str:
        node = self._node(var)
        cls = self.class_name(var)
        if cls and cls not in _PLAIN_CLASSES:
            return "object"
        if isinstance(node, h5py.Group):
            return "numeric" if "MATLAB_sparse" in node.attrs else "struct"
        if cls in ("struct", "cell", "char", "function_handle"):
            return cls
        return "numeric"

    def fields(self, var) -> list[str]:
        node = self._node(var)
        return sorted(node.keys()) if isinstance(node, h5py.Group) else []

    def array(self, var) -> np.ndarray:
        """The variable in MATLAB orientation (shapes un-reversed)."""
        node = self._node(var)
        field = ".".join(var)
        kind = self.kind(var)
        if kind == "object":
            raise FormatError(f"{field} is a MATLAB classdef object ({self.class_name(var)}) "
                              "that can't be read outside MATLAB", path=self.path,
                              field=field, fix=_SAVE_RESULTS_FIX)
        if kind in ("char", "cell", "function_handle"):
            raise FormatError(f"{field} is not a numeric matrix (MATLAB class {kind})",
                              path=self.path, field=field, fix="choose another --signal")
        if isinstance(node, h5py.Group):
            if "MATLAB_sparse" in node.attrs:
                return self._sparse(node)
            raise FormatError(f"{field} is a struct, not a matrix", path=self.path,
                              field=field, fix=f"its fields are: {', '.join(node.keys())}")
        if node.attrs.get("MATLAB_empty", 0):
            return np.zeros((0, 0))
        if node.dtype.kind not in "fiub":
            raise FormatError(f"{field} is not a numeric matrix (MATLAB class "
                              f"{self.class_name(var) or node.dtype})", path=self.path,
                              field=field, fix="choose another --signal")
        return np.asarray(node[()]).T

    def _sparse(self, group) -> np.ndarray:
        n_rows = int(np.asarray(group.attrs["MATLAB_sparse"]).reshape(-1)[0])
        jc = group["jc"][()].reshape(-1)
        if "data" not in group:  # an all-zero sparse matrix stores only jc
            return np.zeros((n_rows, jc.size - 1))
        mat = scipy.sparse.csc_matrix(
            (group["data"][()].reshape(-1), group["ir"][()].reshape(-1), jc),
            shape=(n_rows, jc.size - 1))
        return mat.toarray()

    def scalar(self, var):
        arr = self.array(var)
        return arr.reshape(-1)[0] if arr.size == 1 else arr


class _V5Mat:
    """MATLAB v5/v7 (``scipy.io.loadmat``, unsqueezed so K x T stays 2-D)."""

    version = "5"

    def __init__(self, path):
        self.path = path
        try:
            data = scipy.io.loadmat(path, squeeze_me=False, struct_as_record=True)
        except Exception as exc:  # scipy raises many types on malformed files
            raise FormatError(f"not a readable MATLAB file ({type(exc).__name__}: {exc})",
                              path=path, field="format",
                              fix="re-save it from MATLAB (save -v7 or -v7.3)") from None
        self.vars = {}
        for key, value in data.items():
            if key.startswith("__"):
                continue
            if isinstance(value, MatlabOpaque) and value.size:
                key = _decode(value[0]["s0"]) or key
            self.vars[key] = value

    def close(self):
        pass

    def names(self) -> list[str]:
        return sorted(self.vars)

    def _node(self, var):
        node = self.vars.get(var[0])
        for part in var[1:]:
            if not (isinstance(node, np.ndarray) and node.dtype.names and part in node.dtype.names
                    and node.size == 1):
                return None
            node = node.reshape(-1)[0][part]
        return node

    def has(self, var) -> bool:
        return self._node(var) is not None

    def class_name(self, var) -> str:
        node = self._node(var)
        if isinstance(node, MatlabOpaque) and node.size:
            return _decode(node[0]["s2"])
        return type(node).__name__

    def kind(self, var) -> str:
        node = self._node(var)
        if isinstance(node, MatlabOpaque):
            return "object"
        if isinstance(node, MatlabFunction):
            return "function_handle"
        if scipy.sparse.issparse(node):
            return "numeric"
        if isinstance(node, np.ndarray):
            if node.dtype.names:
                return "struct"
            if node.dtype.kind == "O":
                return "cell"
            if node.dtype.kind in "US":
                return "char"
            return "numeric"
        return "other"

    def fields(self, var) -> list[str]:
        node = self._node(var)
        return sorted(node.dtype.names) if isinstance(node, np.ndarray) and node.dtype.names \
            else []

    def array(self, var):
        node = self._node(var)
        field = ".".join(var)
        kind = self.kind(var)
        if kind == "object":
            raise FormatError(f"{field} is a MATLAB classdef object ({self.class_name(var)}) "
                              "that can't be read outside MATLAB", path=self.path,
                              field=field, fix=_SAVE_RESULTS_FIX)
        if kind == "struct":
            if node.size != 1:
                raise FormatError(f"{field} is a struct array of {node.size} elements, not a "
                                  "matrix", path=self.path, field=field,
                                  fix="save a single struct (1 x 1)")
            raise FormatError(f"{field} is a struct, not a matrix", path=self.path,
                              field=field, fix=f"its fields are: {', '.join(node.dtype.names)}")
        if kind != "numeric":
            raise FormatError(f"{field} is not a numeric matrix ({kind})", path=self.path,
                              field=field, fix="choose another --signal")
        return node

    def scalar(self, var):
        arr = self.array(var)
        if scipy.sparse.issparse(arr):
            arr = arr.toarray()
        return arr.reshape(-1)[0] if arr.size == 1 else arr

"""GPU twin of :mod:`gpudecode.kernels.correlation`: per-trial cell-cell Pearson correlations.

Two GPU paths compute the same float32 values as the CPU kernel (same column order,
constant cells 0):

- ``"cupy"``: centre and scale each cell's frames with CuPy (float64), one batched
  ``cupy.matmul`` (cuBLAS sgemm) per chunk, and a gather of the strict upper triangle.
- ``"numba"``: two numba.cuda kernels, one thread per (trial, cell) row for the
  unit-norm z-scoring (float64 sums, as on the CPU), and a shared-memory tiled product
  that computes only the tiles on or above the diagonal and writes the strict upper
  triangle straight into the output (no N x N scratch). Used when CuPy is missing, and
  in numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, tiny inputs) in CI.

``numba.cuda`` and CuPy are imported only when a kernel is first needed.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..errors import DeviceError, ParameterError
from ._gpu import GPU_FIX, array_kind, gpu_methods, usable_cuda
from .correlation import ledoit_wolf_factors, n_pairs, raise_non_finite

__all__ = ["correlate_chunk_cuda", "correlate_chunk_xp", "device_bytes_per_trial",
           "gpu_methods", "TILE"]

TILE = 16               # cells per tile edge (and frames per shared-memory step)
THREADS_PER_BLOCK = 256
MAX_GRID_Z = 65535
METHODS = ("auto", "cupy", "numba")


def device_bytes_per_trial(n_cells: int, n_frames: int, method: str) -> int:
    """Device scratch bytes per trial of a chunk (input, float64 temporaries, Z, R, output)."""
    cells_frames = n_cells * n_frames
    if method == "cupy":
        return 8 * cells_frames * 4 + 4 * n_cells * n_cells + 8 * n_pairs(n_cells) + 256
    return 8 * cells_frames + 4 * cells_frames + 4 * n_pairs(n_cells) + 256


# ---------------------------------------------------------------- CuPy (or any xp) path

def correlate_chunk_xp(xp, x, *, ledoit_wolf: bool = False, flat=None,
                       name: str = "epochs", offset: int = 0):
    """Correlations of one chunk with array-module operations (CuPy on the GPU).

    Parameters
    ----------
    xp : module
        ``cupy`` (or ``numpy``, which the tests use to check this path without a GPU).
    x : xp array, shape (n_trials, n_cells, n_frames), real dtype, at least 2 frames
    ledoit_wolf : bool
        Rescale as nilearn's default LedoitWolf estimator does.
    flat : xp int64 array, optional
        ``i * N + j`` of each pair in :func:`pair_index` order (computed if missing).

    Returns
    -------
    out : xp float32 array, shape (n_trials, n_pairs)
    n_constant : int
        Constant cell-trials in the chunk.
    """
    n_trials, n_cells, n_frames = x.shape
    x64 = x.astype(xp.float64)
    finite = xp.isfinite(x64).all(axis=2)
    if not bool(finite.all()):
        t, c = (int(v) for v in xp.argwhere(~finite)[0])
        raise_non_finite(t, c, name, offset)
    constant = (x64 == x64[:, :, :1]).all(axis=2)
    x64 -= x64.mean(axis=2, keepdims=True)
    ss = (x64 * x64).sum(axis=2, keepdims=True)
    constant |= ss[:, :, 0] == 0
    scale = xp.where(constant[:, :, None], 0.0, 1.0 / xp.sqrt(xp.where(ss > 0, ss, 1.0)))
    z = (x64 * scale).astype(xp.float32)
    del x64
    n_constant = int(constant.sum())
    if n_cells < 2 or n_trials == 0:
        return xp.empty((n_trials, n_pairs(n_cells)), dtype=xp.float32), n_constant
    r = xp.matmul(z, z.transpose(0, 2, 1))
    if flat is None:
        i, j = xp.triu_indices(n_cells, k=1)
        flat = i * n_cells + j
    out = xp.take(r.reshape(n_trials, n_cells * n_cells), flat, axis=1)
    del r
    if ledoit_wolf:
        q = (z.astype(xp.float64) ** 2).sum(axis=1)
        factors = ledoit_wolf_factors(
            _to_numpy((out.astype(xp.float64) ** 2).sum(axis=1)), _to_numpy((q * q).sum(axis=1)),
            _to_numpy(n_cells - constant.sum(axis=1)), n_cells, n_frames)
        out *= xp.asarray(factors.astype(np.float32))[:, None]
    return out, n_constant


def _to_numpy(a) -> np.ndarray:
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


# ---------------------------------------------------------------- numba.cuda path

cuda = None  # numba.cuda, bound on first use; the kernels must see it as a global


def _zscore_kernel(x, z, flags):
    # flags[t, c]: 0 normal, 1 constant, 2 non-finite
    n_trials, n_cells, n_frames = x.shape
    row0 = cuda.grid(1)
    stride = cuda.gridsize(1)
    for row in range(row0, n_trials * n_cells, stride):
        t = row // n_cells
        c = row - t * n_cells
        first = np.float64(x[t, c, 0])
        same = True
        finite = True
        acc = np.float64(0.0)
        for f in range(n_frames):
            v = np.float64(x[t, c, f])
            if math.isinf(v) or math.isnan(v):
                finite = False
            if v != first:
                same = False
            acc += v
        flag = 0
        scale = np.float64(0.0)
        mean = acc / n_frames
        if not finite:
            flag = 2
        else:
            ss = np.float64(0.0)
            for f in range(n_frames):
                d = np.float64(x[t, c, f]) - mean
                ss += d * d
            if same or ss == 0.0:
                flag = 1
            else:
                scale = 1.0 / math.sqrt(ss)
        flags[t, c] = flag
        for f in range(n_frames):
            if flag == 0:
                z[t, c, f] = np.float32((np.float64(x[t, c, f]) - mean) * scale)
            else:
                z[t, c, f] = np.float32(0.0)


def _make_pairs_kernel(tile: int):
    def _pairs_kernel(z, out):
        n_trials, n_cells, n_frames = z.shape
        bj = cuda.blockIdx.x
        bi = cuda.blockIdx.y
        if bj < bi:
            return  # tiles strictly below the diagonal hold no upper-triangle pairs
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        a = cuda.shared.array((tile, tile + 1), dtype=np.float32)
        b = cuda.shared.array((tile, tile + 1), dtype=np.float32)
        i = bi * tile + ty
        j = bj * tile + tx
        ja = bj * tile + ty  # row of z that this thread loads into b
        for t in range(cuda.blockIdx.z, n_trials, cuda.gridDim.z):
            acc = np.float32(0.0)
            for f0 in range(0, n_frames, tile):
                f = f0 + tx
                if i < n_cells and f < n_frames:
                    a[ty, tx] = z[t, i, f]
                else:
                    a[ty, tx] = np.float32(0.0)
                if ja < n_cells and f < n_frames:
                    b[ty, tx] = z[t, ja, f]
                else:
                    b[ty, tx] = np.float32(0.0)
                cuda.syncthreads()
                for k in range(tile):
                    acc += a[ty, k] * b[tx, k]
                cuda.syncthreads()
            if j > i and j < n_cells:
                out[t, i * (2 * n_cells - i - 1) // 2 + j - i - 1] = acc
    return _pairs_kernel


@functools.cache
def _zscore_compiled():
    global cuda
    cuda = usable_cuda()
    return cuda.jit(_zscore_kernel)


@functools.cache
def _pairs_compiled(tile: int):
    global cuda
    cuda = usable_cuda()
    return cuda.jit(_make_pairs_kernel(tile))


def _launch_numba(d_x, d_z, d_flags, d_out) -> None:
    n_trials, n_cells, _ = d_x.shape
    rows = n_trials * n_cells
    if rows:
        threads = min(THREADS_PER_BLOCK, rows)
        blocks = min(-(-rows // threads), 65535 * 32)
        _zscore_compiled()[blocks, threads](d_x, d_z, d_flags)
    if n_cells > 1 and n_trials:
        tile = TILE
        tiles = -(-n_cells // tile)
        grid = (tiles, tiles, min(n_trials, MAX_GRID_Z))
        _pairs_compiled(tile)[grid, (tile, tile)](d_z, d_out)


def correlate_chunk_cuda(x, *, method: str = "auto", ledoit_wolf: bool = False,
                         name: str = "epochs", offset: int = 0):
    """Correlations of one chunk of trials on the GPU.

    Parameters
    ----------
    x : ndarray, cupy.ndarray or numba device array, shape (n_trials, n_cells, n_frames)
        Trials x cells x frames, at least 2 frames (checked by the caller). Device arrays
        must be float32 or float64; host arrays of other real dtypes become float64.
    method : {"auto", "cupy", "numba"}
        ``auto`` uses CuPy (cuBLAS) when it imports and sees a device, else numba.cuda.
    ledoit_wolf : bool
        Rescale as nilearn's default LedoitWolf estimator does.
    name, offset : str, int
        Field name and index of the chunk's first trial, for error messages.

    Returns
    -------
    out : float32 array, shape (n_trials, n_pairs)
        Columns in :func:`~gpudecode.kernels.correlation.pair_index` order. CuPy in (or
        ``method="cupy"``): CuPy out; numba device array in: numba device array out;
        NumPy in with ``method="numba"``: NumPy out.
    n_constant : int
        Constant cell-trials in the chunk (their pairs are 0).

    Raises
    ------
    ParameterError
        Unknown method, or a device array of a non-float dtype.
    DeviceError
        The chosen path cannot run (no CuPy, no CUDA GPU and no simulator).
    NonFiniteError
        A NaN or infinite frame.
    """
    if method not in METHODS:
        raise ParameterError(f"unknown GPU correlation method {method!r}.", field="method",
                             fix="use auto, cupy or numba.")
    kind = array_kind(x)
    if method == "auto":
        method = "cupy" if kind == "cupy" or "cupy" in gpu_methods() else "numba"
    if method == "cupy":
        try:
            import cupy
        except Exception as exc:  # a CuPy without a driver can fail in odd ways
            raise DeviceError(f"the cupy correlation path needs CuPy ({type(exc).__name__}: "
                              f"{exc}).", field="gpu_method", fix=GPU_FIX) from None
        return correlate_chunk_xp(cupy, cupy.asarray(x), ledoit_wolf=ledoit_wolf,
                                  name=name, offset=offset)
    return _correlate_numba(x, kind, ledoit_wolf, name, offset)


def _correlate_numba(x, kind: str, ledoit_wolf: bool, name: str, offset: int):
    cuda_ = usable_cuda()
    if kind == "numpy":
        x = np.asarray(x)
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float64)
        d_x = cuda_.to_device(np.ascontiguousarray(x))
    else:
        if np.dtype(x.dtype) not in (np.float32, np.float64):
            raise ParameterError(
                f"device array has dtype {x.dtype}; the GPU kernel reads float32 or float64.",
                field=name, fix="convert to float32 before copying it to the device.")
        d_x = x if kind == "numba" else cuda_.as_cuda_array(x)
    n_trials, n_cells, n_frames = d_x.shape
    d_z = cuda_.device_array((n_trials, n_cells, n_frames), dtype=np.float32)
    d_flags = cuda_.device_array((n_trials, n_cells), dtype=np.int8)
    d_out = cuda_.device_array((n_trials, n_pairs(n_cells)), dtype=np.float32)
    _launch_numba(d_x, d_z, d_flags, d_out)

    flags = d_flags.copy_to_host()
    if (flags == 2).any():
        t, c = np.argwhere(flags == 2)[0]
        raise_non_finite(int(t), int(c), name, offset)
    constant = flags == 1
    n_constant = int(constant.sum())
    if not (ledoit_wolf and n_cells > 1 and n_trials):
        return _as_kind(d_out, kind, cuda_), n_constant
    z = d_z.copy_to_host().astype(np.float64)
    out = d_out.copy_to_host()
    q = (z * z).sum(axis=1)
    factors = ledoit_wolf_factors(np.einsum("tk,tk->t", out, out, dtype=np.float64),
                                  (q * q).sum(axis=1), n_cells - constant.sum(axis=1),
                                  n_cells, n_frames)
    out *= factors[:, None].astype(np.float32)
    return _as_kind(out, kind, cuda_), n_constant


def _as_kind(a, kind: str, cuda_):
    """Return ``a`` (host or numba device array) as the kind of array the caller passed."""
    if kind == "numpy":
        return a if isinstance(a, np.ndarray) else a.copy_to_host()
    if kind == "cupy":
        import cupy
        return cupy.asarray(a)
    return cuda_.to_device(a) if isinstance(a, np.ndarray) else a

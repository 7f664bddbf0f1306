"""Per-trial cell-cell Pearson correlations: the CPU kernel and the pieces its GPU twin shares.

Arrays are trials x cells x frames. For each trial every cell's frames are centred and
scaled to unit Euclidean norm (in float64, stored as float32), so the dot product of two
rows of ``Z`` is the Pearson correlation of the two cells. The products ``R = Z @ Z^T``
for the strict upper triangle come from a register-blocked Numba kernel (parallel over
trials x rows) writing straight into the output, with no N x N scratch; optionally
(``blas=True``) from one batched ``np.matmul`` (BLAS sgemm) per chunk and a gather.

Feature columns follow the strict upper triangle (``k=1``) in row-major order:
column ``k`` holds the pair ``(i[k], j[k]) = pair_index(n_cells)``, ``i < j``, i.e.
``(0, 1), (0, 2), ..., (0, N-1), (1, 2), ...``; the same order as
``R[np.triu_indices(N, k=1)]``. nilearn's ``sym_matrix_to_vec`` lists the strict lower
triangle row by row instead, ``(1, 0), (2, 0), (2, 1), (3, 0), ...``;
:func:`nilearn_columns` gives the permutation between the two.

A cell whose frames are all equal within a trial ("constant") has no correlation;
its row of ``Z`` is zero, so all its pairs in that trial are 0.

Optional Ledoit-Wolf mode (``ledoit_wolf=True``) reproduces nilearn's *default*
``ConnectivityMeasure(kind="correlation")``, which fits ``sklearn.covariance.LedoitWolf``
to the z-scored frames before converting to correlations. On z-scored data that
shrinkage only rescales each trial's correlations::

    r_lw = (1 - s) * r / ((1 - s) + s * m / N)

with ``s`` the Ledoit-Wolf shrinkage of the trial (sklearn's formula, computed here
from the correlations and the frame-wise sums of ``Z**2``) and ``m`` the number of
non-constant cells.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from ..errors import NonFiniteError, ParameterError, ShapeError
from ._prep import cpu_jit

MIN_WORK_PER_THREAD = 20_000_000  # multiply-adds (about 1 ms on one core)
FRAME_PAD = 8  # float32 lanes of an AVX2 register

__all__ = ["n_pairs", "pair_index", "pair_columns", "nilearn_columns", "check_correlation_array",
           "as_host_trials", "zscore_unit", "correlate_chunk", "ledoit_wolf_factors",
           "correlation_bytes_per_trial", "pair_products", "threads_for",
           "MIN_WORK_PER_THREAD"]


def n_pairs(n_cells: int) -> int:
    """Return the number of cell pairs, ``n_cells * (n_cells - 1) // 2``."""
    return n_cells * (n_cells - 1) // 2 if n_cells > 1 else 0


def pair_index(n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the cell pair of each correlation feature column.

    Parameters
    ----------
    n_cells : int
        Number of cells ``N >= 0``.

    Returns
    -------
    i, j : ndarray of int64, shape (N * (N - 1) / 2,)
        Column ``k`` of the features is the correlation of cells ``i[k] < j[k]``; pairs
        run over the strict upper triangle in row-major order (``np.triu_indices(N, 1)``).
    """
    if isinstance(n_cells, bool) or not isinstance(n_cells, (int, np.integer)) or n_cells < 0:
        raise ParameterError(f"n_cells must be a whole number >= 0, got {n_cells!r}.",
                             field="n_cells", fix="pass the number of cells, e.g. 109.")
    i, j = np.triu_indices(int(n_cells), k=1)
    return i.astype(np.int64), j.astype(np.int64)


def pair_columns(i, j, n_cells: int) -> np.ndarray:
    """Return the feature column of each cell pair ``(i, j)`` (either order, ``i != j``).

    Inverse of :func:`pair_index`: ``pair_columns(*pair_index(N), N) == arange(n_pairs(N))``.
    """
    i = np.asarray(i, dtype=np.int64)
    j = np.asarray(j, dtype=np.int64)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    if np.any(lo == hi) or np.any(lo < 0) or np.any(hi >= n_cells):
        raise ParameterError(f"cell pairs must be two different cells in 0..{n_cells - 1}.",
                             field="pairs", fix="pass distinct 0-based cell indices.")
    return lo * (2 * n_cells - lo - 1) // 2 + (hi - lo - 1)


def nilearn_columns(n_cells: int) -> np.ndarray:
    """Return, for each of nilearn's vectorised columns, our column holding the same pair.

    ``ours[:, nilearn_columns(N)]`` is in the order of nilearn's
    ``sym_matrix_to_vec(..., discard_diagonal=True)`` (strict lower triangle, row-major).
    """
    row, col = np.tril_indices(n_cells, k=-1)
    return pair_columns(col, row, n_cells)


def check_correlation_array(shape: tuple, dtype, name: str = "epochs") -> None:
    """Check that an array is trials x cells x frames, real, with at least 2 frames.

    Raises
    ------
    ShapeError
        Not 3-D, or fewer than 2 frames per trial.
    ParameterError
        Not a real numeric dtype.
    """
    if len(shape) != 3:
        raise ShapeError(
            f"correlation features need a 3-D array (trials x cells x frames), got shape "
            f"{tuple(shape)}.", field=name,
            fix="for one trial (cells x frames) pass x[None]; pass Epochs or epochs.data.")
    if shape[2] < 2:
        raise ShapeError(
            f"correlations need at least 2 frames per trial, got {shape[2]} (shape "
            f"{tuple(shape)}).", field=name,
            fix="lengthen the trial window (--pre/--post) or use a smaller --step.")
    if np.dtype(dtype).kind not in "fiub":
        raise ParameterError(f"correlation features need real numbers, got dtype "
                             f"{np.dtype(dtype)}.", field=name,
                             fix="convert the traces to float32 first.")


def as_host_trials(x, name: str = "epochs") -> np.ndarray:
    """Return ``x`` as a checked C-contiguous NumPy array: float32 or float64 kept, other
    real dtypes as float64."""
    x = np.asarray(x)
    check_correlation_array(x.shape, x.dtype, name)
    dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
    return np.ascontiguousarray(x, dtype=dtype)


def correlation_bytes_per_trial(n_cells: int, n_frames: int, blas: bool = False) -> int:
    """Scratch bytes one trial needs on the CPU: Z (float32), a float64 copy of the input
    when its dtype needs converting, and with BLAS the full N x N product (float32)."""
    square = 4 * n_cells * n_cells if blas else 0
    return 12 * n_cells * (n_frames + FRAME_PAD) + square + 64


def raise_non_finite(bad_trial: int, bad_cell: int, name: str = "epochs", offset: int = 0):
    """Raise :class:`NonFiniteError` for a NaN or infinity at (trial, cell)."""
    raise NonFiniteError(
        f"trial {bad_trial + offset}, cell {bad_cell} has NaN or infinite values; "
        "correlations need finite traces.", field=name,
        fix="drop or interpolate the non-finite frames (or the cell) before decoding.")


@cpu_jit(parallel=True, fastmath={"reassoc", "contract"})
def _zscore_unit_kernel(x, z, constant, bad):
    # reassociation lets the float64 sums vectorise; NaN/inf semantics stay IEEE
    n_trials, n_cells, n_frames = x.shape
    for row in prange(n_trials * n_cells):
        t = row // n_cells
        c = row - t * n_cells
        xr = x[t, c]
        zr = z[t, c]
        acc = 0.0
        lo = xr[0]
        hi = xr[0]
        for f in range(n_frames):
            v = xr[f]
            acc += v
            lo = min(lo, v)
            hi = max(hi, v)
        if not math.isfinite(acc):  # a NaN or infinite frame (float64 sums of finite
            bad[t, c] = True        # float32 values cannot overflow)
            zr[:] = 0.0
            continue
        mean = acc / n_frames
        ss = 0.0
        for f in range(n_frames):
            d = xr[f] - mean
            ss += d * d
        if lo == hi or ss == 0.0:
            constant[t, c] = True
            zr[:] = 0.0
        else:
            scale = 1.0 / math.sqrt(ss)
            for f in range(n_frames):
                zr[f] = (xr[f] - mean) * scale
            for f in range(n_frames, zr.shape[0]):
                zr[f] = 0.0


def zscore_unit(x: np.ndarray, pad: int = FRAME_PAD) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre each cell's frames within each trial and scale them to unit norm.

    Parameters
    ----------
    x : ndarray, shape (n_trials, n_cells, n_frames), float32 or float64
    pad : int
        Round the frame axis of ``z`` up to a multiple of ``pad`` with zeros (whole SIMD
        vectors for the pair kernel; zeros change no dot product).

    Returns
    -------
    z : ndarray of float32, shape (n_trials, n_cells, n_frames rounded up to ``pad``)
        ``(x - mean) / sqrt(sum((x - mean)**2))`` over frames (mean and sums in
        float64); zero rows for constant or non-finite cells. ``z[t] @ z[t].T`` is the
        trial's Pearson correlation matrix.
    constant : ndarray of bool, shape (n_trials, n_cells)
        All frames of the cell equal in that trial.
    bad : ndarray of bool, shape (n_trials, n_cells)
        The cell has a NaN or infinite frame in that trial.
    """
    n_trials, n_cells, n_frames = x.shape
    padded = -(-n_frames // pad) * pad
    z = np.empty((n_trials, n_cells, padded), dtype=np.float32)
    constant = np.zeros(x.shape[:2], dtype=np.bool_)
    bad = np.zeros(x.shape[:2], dtype=np.bool_)
    if x.size:
        _zscore_unit_kernel(x, z, constant, bad)
    return z, constant, bad


@cpu_jit(parallel=True, fastmath=True)
def _pair_dots_kernel(z, out):
    # rows (i0, i0 + 1) against four j at a time: 6 loads feed 8 multiply-adds per frame
    n_trials, n_cells, n_frames = z.shape
    n_blocks = n_cells // 2
    for row in prange(n_trials * n_blocks):
        t = row // n_blocks
        i0 = 2 * (row - t * n_blocks)
        i1 = i0 + 1
        b0 = i0 * (2 * n_cells - i0 - 1) // 2 - i0 - 1
        b1 = i1 * (2 * n_cells - i1 - 1) // 2 - i1 - 1
        x0 = z[t, i0]
        x1 = z[t, i1]
        a = np.float32(0.0)
        for f in range(n_frames):
            a += x0[f] * x1[f]
        out[t, b0 + i1] = a
        j = i1 + 1
        while j + 3 < n_cells:
            z0 = z[t, j]
            z1 = z[t, j + 1]
            z2 = z[t, j + 2]
            z3 = z[t, j + 3]
            a0 = np.float32(0.0)
            a1 = np.float32(0.0)
            a2 = np.float32(0.0)
            a3 = np.float32(0.0)
            c0 = np.float32(0.0)
            c1 = np.float32(0.0)
            c2 = np.float32(0.0)
            c3 = np.float32(0.0)
            for f in range(n_frames):
                u = x0[f]
                v = x1[f]
                w0 = z0[f]
                w1 = z1[f]
                w2 = z2[f]
                w3 = z3[f]
                a0 += u * w0
                a1 += u * w1
                a2 += u * w2
                a3 += u * w3
                c0 += v * w0
                c1 += v * w1
                c2 += v * w2
                c3 += v * w3
            out[t, b0 + j] = a0
            out[t, b0 + j + 1] = a1
            out[t, b0 + j + 2] = a2
            out[t, b0 + j + 3] = a3
            out[t, b1 + j] = c0
            out[t, b1 + j + 1] = c1
            out[t, b1 + j + 2] = c2
            out[t, b1 + j + 3] = c3
            j += 4
        while j < n_cells:
            zj = z[t, j]
            a = np.float32(0.0)
            c = np.float32(0.0)
            for f in range(n_frames):
                a += x0[f] * zj[f]
                c += x1[f] * zj[f]
            out[t, b0 + j] = a
            out[t, b1 + j] = c
            j += 1


def pair_products(z: np.ndarray, out: np.ndarray, blas: bool = False) -> None:
    """Write ``z[t, i] . z[t, j]`` for all pairs ``i < j`` into ``out[t]`` (pair_index order).

    Parameters
    ----------
    z : ndarray of float32, shape (n_trials, n_cells, n_frames), C-contiguous
    out : ndarray of float32, shape (n_trials, n_pairs(n_cells))
    blas : bool
        Use one batched ``np.matmul`` (BLAS sgemm, full N x N scratch per trial) and a
        gather instead of the register-blocked Numba kernel. On a quiet many-core machine
        sgemm is faster for long trials (hundreds of frames); on small or shared machines
        OpenBLAS's spinning threads fight Numba's, so the Numba kernel is the default.
    """
    n_trials, n_cells, _ = z.shape
    if n_cells < 2 or n_trials == 0:
        return
    if blas:
        i, j = pair_index(n_cells)
        square = np.matmul(z, z.transpose(0, 2, 1)).reshape(n_trials, n_cells * n_cells)
        np.take(square, i * n_cells + j, axis=1, out=out)
    else:
        _pair_dots_kernel(z, out)


@cpu_jit(fastmath={"reassoc", "contract"})
def _ledoit_wolf_stats_kernel(z, out, pairs_sq, frames_sq):
    n_trials, n_cells, n_frames = z.shape
    for t in range(n_trials):
        acc = 0.0
        for k in range(out.shape[1]):
            acc += np.float64(out[t, k]) ** 2
        pairs_sq[t] = acc
        total = 0.0
        for f in range(n_frames):
            q = 0.0
            for c in range(n_cells):
                q += np.float64(z[t, c, f]) ** 2
            total += q * q
        frames_sq[t] = total


def ledoit_wolf_factors(pairs_sq_sum, frame_sq_sum_sq, n_valid, n_cells: int, n_frames: int):
    """Per-trial factors that turn Pearson correlations into nilearn's Ledoit-Wolf ones.

    Parameters
    ----------
    pairs_sq_sum : ndarray, shape (n_trials,)
        Sum over pairs ``i < j`` of ``r_ij**2``.
    frame_sq_sum_sq : ndarray, shape (n_trials,)
        ``sum_f (sum_i z_if**2)**2`` over frames, with ``z`` the unit-norm rows.
    n_valid : ndarray, shape (n_trials,)
        Non-constant cells per trial (``m``).
    n_cells, n_frames : int

    Returns
    -------
    ndarray of float64, shape (n_trials,)
        ``(1 - s) / ((1 - s) + s * m / N)``, with ``s`` sklearn's ``ledoit_wolf_shrinkage``
        of the trial's z-scored frames (scale-free, so unit-norm rows give the same ``s``).
    """
    p, n = float(n_cells), float(n_frames)
    m = np.asarray(n_valid, dtype=np.float64)
    delta_ = (m + 2.0 * np.asarray(pairs_sq_sum, dtype=np.float64)) / n**2
    beta_ = np.asarray(frame_sq_sum_sq, dtype=np.float64)
    beta = (beta_ / n - delta_) / (p * n)
    delta = (delta_ - m**2 / (n**2 * p)) / p
    beta = np.minimum(beta, delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(beta == 0, 0.0, beta / delta)
    if n_cells == 1:
        s = np.zeros_like(s)
    denom = (1.0 - s) + s * m / p
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, (1.0 - s) / denom, 0.0)


def correlate_chunk(x: np.ndarray, out: np.ndarray, *, ledoit_wolf: bool = False,
                    blas: bool = False, name: str = "epochs", offset: int = 0) -> int:
    """Pearson correlations of all cell pairs, per trial, on the CPU, into ``out``.

    Parameters
    ----------
    x : ndarray, shape (n_trials, n_cells, n_frames), float32 or float64
        One chunk of trials (checked with :func:`as_host_trials`).
    out : ndarray of float32, shape (n_trials, n_pairs(n_cells)), C-contiguous
        Receives the strict upper triangle of each trial's correlation matrix,
        columns in :func:`pair_index` order.
    ledoit_wolf : bool
        Rescale each trial as nilearn's default LedoitWolf estimator does.
    blas : bool
        Use the BLAS pair product instead of the Numba kernel (see :func:`pair_products`).
    name, offset : str, int
        Field name and index of the chunk's first trial, for error messages.

    Returns
    -------
    int
        Number of constant cell-trials in the chunk (their pairs are 0).

    Raises
    ------
    NonFiniteError
        A trial has a NaN or infinite frame.
    """
    n_trials, n_cells, n_frames = x.shape
    previous = numba.get_num_threads()
    numba.set_num_threads(threads_for(n_trials * n_pairs(n_cells) * n_frames, previous))
    try:
        return _correlate_chunk(x, out, ledoit_wolf, blas, name, offset)
    finally:
        numba.set_num_threads(previous)


def threads_for(work: int, available: int) -> int:
    """Return how many Numba threads to use for ``work`` multiply-adds.

    One per :data:`MIN_WORK_PER_THREAD`, at most ``available``: waking a thread pool
    costs more than it saves on small inputs, above all on a busy machine, where each
    parallel region waits for a time slice on every core it uses.
    """
    return int(max(1, min(available, work // MIN_WORK_PER_THREAD)))


def _correlate_chunk(x, out, ledoit_wolf, blas, name, offset) -> int:
    n_trials, n_cells, n_frames = x.shape
    z, constant, bad = zscore_unit(x)
    if bad.any():
        t, c = np.argwhere(bad)[0]
        raise_non_finite(int(t), int(c), name, offset)
    n_constant = int(constant.sum())
    if n_cells < 2 or n_trials == 0:
        return n_constant
    pair_products(z, out, blas)
    if ledoit_wolf:
        pairs_sq = np.empty(n_trials)
        frames_sq = np.empty(n_trials)
        _ledoit_wolf_stats_kernel(z, out, pairs_sq, frames_sq)
        factors = ledoit_wolf_factors(pairs_sq, frames_sq, n_cells - constant.sum(axis=1),
                                      n_cells, n_frames)
        out *= factors.astype(np.float32)[:, None]
    return n_constant

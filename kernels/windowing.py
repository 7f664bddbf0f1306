"""Sliding-window mean over frames: the Numba CPU kernel and the checks it shares with its GPU twin.

Arrays are trials x cells x frames. Window ``w`` covers frames
``[w * step, w * step + width)``; only whole windows are kept, so there are
``(n_frames - width) // step + 1`` of them. Sums run in float64 in a fixed order
(frame by frame), so the CPU and GPU kernels give the same float32 result.
"""

from __future__ import annotations

import numbers

import numpy as np
from numba import prange

from ..errors import ParameterError, ShapeError
from ._prep import cpu_jit

__all__ = ["sliding_mean", "check_window", "check_epochs_array", "as_host_epochs", "n_windows"]


def n_windows(n_frames: int, width: int, step: int) -> int:
    """Return how many whole windows of ``width`` frames, ``step`` apart, fit in ``n_frames``."""
    return (n_frames - width) // step + 1


def check_window(width, step, n_frames: int) -> tuple[int, int, int]:
    """Check a window width and step against the number of frames per trial.

    Parameters
    ----------
    width : int
        Frames per window (the ``--window`` option).
    step : int
        Frames between the starts of consecutive windows (the ``--step`` option).
    n_frames : int
        Frames per trial.

    Returns
    -------
    width, step, n_windows : int

    Raises
    ------
    ParameterError
        If width or step is not a positive integer, or width exceeds ``n_frames``.
    """
    width = _as_count(width, "window", "frames per window")
    step = _as_count(step, "step", "frames between window starts")
    if width > n_frames:
        raise ParameterError(
            f"window width {width} frames is longer than the {n_frames} frames per trial.",
            field="window",
            fix=f"use --window {max(n_frames, 1)} or less, or lengthen the trial window "
                "(--pre/--post).",
        )
    return width, step, n_windows(n_frames, width, step)


def _as_count(value, field: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(
            f"{field} must be a whole number of frames ({what}), got {value!r}.",
            field=field, fix=f"pass --{field} as a positive integer, e.g. --{field} 4.")
    if value < 1:
        raise ParameterError(
            f"{field} must be at least 1 frame ({what}), got {value}.",
            field=field, fix=f"pass --{field} 1 or more.")
    return int(value)


def check_epochs_array(shape: tuple, dtype: np.dtype, name: str = "x") -> None:
    """Check that an array is 3-D (trials x cells x frames) with a real numeric dtype.

    Raises
    ------
    ShapeError
        If the array is not 3-D.
    ParameterError
        If the dtype is not real numeric (complex, object, strings).
    """
    if len(shape) != 3:
        raise ShapeError(
            f"sliding mean needs a 3-D array (trials x cells x frames), got shape {tuple(shape)}.",
            field=name,
            fix="for one trial (cells x frames) pass x[None]; for one cell pass x[:, None, :].",
        )
    if np.dtype(dtype).kind not in "fiub":
        raise ParameterError(
            f"sliding mean needs real numbers, got dtype {np.dtype(dtype)}.",
            field=name, fix="convert the traces to float32 first.")


def as_host_epochs(x, name: str = "x") -> np.ndarray:
    """Return ``x`` as a C-contiguous float32 or float64 NumPy array, checked.

    float32 and float64 are kept (float64 sums stay exact); other real dtypes
    (float16, integers, bool) become float64.
    """
    x = np.asarray(x)
    check_epochs_array(x.shape, x.dtype, name)
    dtype = x.dtype if x.dtype in (np.float32, np.float64) else np.float64
    return np.ascontiguousarray(x, dtype=dtype)


def sliding_mean(x, width: int, step: int) -> np.ndarray:
    """Mean over sliding windows of frames, on the CPU (Numba, parallel over trials x cells).

    Parameters
    ----------
    x : array_like, shape (n_trials, n_cells, n_frames)
        Trials x cells x frames. Any real dtype; summed in float64. Only 3-D input
        is accepted: pass ``x[None]`` for a single cells x frames trial.
    width : int
        Frames per window, ``1 <= width <= n_frames``.
    step : int
        Frames between the starts of consecutive windows, ``>= 1`` (may exceed ``width``).

    Returns
    -------
    out : ndarray of float32, shape (n_trials, n_cells, n_windows)
        ``out[..., w] = mean(x[..., w*step : w*step + width])`` with
        ``n_windows = (n_frames - width) // step + 1``.

    Raises
    ------
    ParameterError
        Bad width (field ``window``) or step (field ``step``), or a non-numeric dtype.
    ShapeError
        ``x`` is not 3-D.
    """
    x = as_host_epochs(x)
    width, step, n_win = check_window(width, step, x.shape[2])
    out = np.empty((x.shape[0], x.shape[1], n_win), dtype=np.float32)
    if out.size:
        _sliding_mean_kernel(x, width, step, out)
    return out


@cpu_jit(parallel=True)
def _sliding_mean_kernel(x, width, step, out):
    n_trials, n_cells, _ = x.shape
    n_win = out.shape[2]
    for row in prange(n_trials * n_cells):
        t = row // n_cells
        c = row - t * n_cells
        for w in range(n_win):
            start = w * step
            acc = 0.0
            for k in range(width):
                acc += x[t, c, start + k]
            out[t, c, w] = acc / width

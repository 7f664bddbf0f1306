"""Population feature matrices cut from epochs (trials x cells x frames).

Each function returns features that depend on one trial only, so nothing is learned from
other trials here; whatever is learned (scaling, selection) is fit inside the training part
of each split by the decoders.
"""

from __future__ import annotations

import numpy as np

from .backend import Backend
from .correlations import compute_correlations
from .errors import ParameterError
from .trials import Epochs

__all__ = ["window_features", "summed_features", "correlation_features", "timecourse_features",
           "window_times"]


def window_features(epochs: Epochs, window_frames: int, step_frames: int,
                    backend: Backend | None = None) -> np.ndarray:
    """Per-cell features: the sliding-window mean of each trial's time series.

    Parameters
    ----------
    epochs : Epochs
        Trials x cells x frames.
    window_frames, step_frames : int
        Sliding-window width and step, in frames.
    backend : Backend, optional

    Returns
    -------
    ndarray of float32, shape (n_cells, n_trials, n_windows)
        Cells x trials x windows, the layout the batched kernels take (one unit per cell).
    """
    backend = backend or Backend.from_device("auto")
    windowed = backend.to_host(backend.sliding_mean(epochs.data, window_frames, step_frames))
    return np.ascontiguousarray(windowed.transpose(1, 0, 2), dtype=np.float32)


def summed_features(epochs: Epochs,
                    summed_window_s: tuple[float, float] | None = None) -> np.ndarray:
    """Mean activity of every cell over a window of each trial.

    Parameters
    ----------
    epochs : Epochs
        Trials x cells x frames.
    summed_window_s : (float, float), optional
        ``(A, B)`` in s relative to the anchor; frames whose nominal time lies in ``[A, B]``
        are averaged. Default: the whole epoch.

    Returns
    -------
    ndarray of float32, shape (n_trials, n_cells)
    """
    if summed_window_s is None:
        keep = np.ones(epochs.n_frames, dtype=bool)
    else:
        a, b = (float(v) for v in summed_window_s)
        keep = (epochs.times >= a - 1e-9) & (epochs.times <= b + 1e-9)
        if b <= a or not keep.any():
            raise ParameterError(
                f"summed window {a:g},{b:g} s holds no frames of the epoch "
                f"({epochs.times[0]:g} .. {epochs.times[-1]:g} s)", field="--summed-window",
                fix="give A,B with A < B inside the trial window set by --pre/--post")
    return np.ascontiguousarray(epochs.data[:, :, keep].mean(-1), dtype=np.float32)


def correlation_features(epochs: Epochs, window_frames: int = 1, step_frames: int = 1,
                         backend: Backend | None = None, *, estimator: str = "pearson",
                         memory_fraction: float = 0.25) -> np.ndarray:
    """Per-trial cell-cell correlations over the (sliding-window averaged) frames.

    Parameters
    ----------
    epochs : Epochs
        Trials x cells x frames.
    window_frames, step_frames : int
        Sliding-window mean (width and step in frames) applied before correlating; ``1, 1``
        uses raw frames.
    backend : Backend, optional
    estimator : {"pearson", "ledoit-wolf"}

    Returns
    -------
    ndarray of float32, shape (n_trials, n_cells * (n_cells - 1) / 2)
        Upper triangle of each trial's correlation matrix, row-major
        (:func:`gpudecode.correlations.pair_index`).
    """
    backend = backend or Backend.from_device("auto")
    data = epochs.data
    if (window_frames, step_frames) != (1, 1):
        data = backend.sliding_mean(backend.asarray(data) if backend.is_gpu else data,
                                    window_frames, step_frames)
    return compute_correlations(data, backend, estimator=estimator,
                                memory_fraction=memory_fraction)


def window_times(epochs: Epochs, window_frames: int, step_frames: int) -> np.ndarray:
    """Centre time (s, relative to the anchor) of each sliding window (width and step in
    frames).

    Returns
    -------
    ndarray of float64, shape (n_windows,)
    """
    starts = np.arange(0, epochs.n_frames - window_frames + 1, step_frames)
    return np.array([epochs.times[s:s + window_frames].mean() for s in starts])


def timecourse_features(epochs: Epochs, window_frames: int, step_frames: int,
                        backend: Backend | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Population activity in successive windows (width and step in frames): one feature
    matrix per window.

    Returns
    -------
    X : ndarray of float32, shape (n_windows, n_trials, n_cells)
        Windows x trials x cells: each window's mean activity of every cell.
    times : ndarray of float64, shape (n_windows,)
        Window centres in s relative to the anchor.
    """
    backend = backend or Backend.from_device("auto")
    windowed = backend.to_host(backend.sliding_mean(epochs.data, window_frames, step_frames))
    X = np.ascontiguousarray(windowed.transpose(2, 0, 1), dtype=np.float32)
    return X, window_times(epochs, window_frames, step_frames)

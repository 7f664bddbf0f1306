"""Per-trial cell-cell correlation features.

For each trial, the Pearson correlation of every pair of cells over that trial's
frames (raw or windowed), as one row of ``N * (N - 1) / 2`` features. Column ``k`` is
the pair ``(i[k], j[k]) = pair_index(N)`` with ``i < j``, in row-major order of the
strict upper triangle (``np.triu_indices(N, k=1)``).

Same values as nilearn::

    ConnectivityMeasure(kind="correlation", vectorize=True, discard_diagonal=True,
                        cov_estimator=sklearn.covariance.EmpiricalCovariance())
        .fit_transform([trial.T for trial in epochs.data])[:, nilearn_columns(N)]

nilearn's *default* covariance estimator is LedoitWolf, which shrinks each trial's
correlations towards 0 by a per-trial factor; ``estimator="ledoit-wolf"`` reproduces
that default instead. nilearn orders the columns by the strict lower triangle, so its
columns are ours permuted (:func:`nilearn_columns`).

A cell whose frames are all equal within a trial gets correlation 0 with every cell in
that trial (nilearn gives NaN with the empirical estimator), and one
:class:`ConstantCellsWarning` per call says how many cell-trials that was.

Trials are processed in chunks sized from free memory (host RAM on the CPU, device
memory on the GPU), so only the output, ``n_trials x n_pairs`` float32, must fit in
host memory (2,000 cells x 300 trials: 2.4 GB); a chunk's scratch (z-scored frames, and
``N x N`` products where BLAS / cuBLAS is used) stays within ``memory_fraction`` of
the free memory.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from .backend import Backend, host_free_memory_bytes
from .errors import ParameterError
from .kernels.correlation import (as_host_trials, check_correlation_array, correlate_chunk,
                                  correlation_bytes_per_trial, n_pairs, nilearn_columns,
                                  pair_columns, pair_index)

__all__ = ["compute_correlations", "pair_index", "pair_columns", "nilearn_columns", "n_pairs",
           "plan_chunk_trials", "ConstantCellsWarning", "ESTIMATORS"]

ESTIMATORS = ("pearson", "ledoit-wolf")


class ConstantCellsWarning(UserWarning):
    """Some cells were constant within some trials; their correlations were set to 0."""


def plan_chunk_trials(n_trials: int, bytes_per_trial: int, free_bytes: int,
                      memory_fraction: float) -> int:
    """Return how many trials to process at once.

    ``floor(memory_fraction * free_bytes / bytes_per_trial)``, clipped to
    ``[1, max(n_trials, 1)]``.
    """
    budget = int(memory_fraction * max(int(free_bytes), 0))
    chunk = budget // max(int(bytes_per_trial), 1)
    return int(max(1, min(max(n_trials, 1), chunk)))


def _check_options(chunk_trials, memory_fraction, estimator) -> str:
    if chunk_trials is not None and (isinstance(chunk_trials, bool)
                                     or not isinstance(chunk_trials, numbers.Integral)
                                     or chunk_trials < 1):
        raise ParameterError(f"chunk_trials must be a whole number >= 1, got {chunk_trials!r}.",
                             field="chunk_trials",
                             fix="pass e.g. chunk_trials=16, or None to size chunks from "
                                 "free memory.")
    try:
        fraction_ok = 0 < float(memory_fraction) <= 1
    except (TypeError, ValueError):
        fraction_ok = False
    if not fraction_ok:
        raise ParameterError(f"memory_fraction must be in (0, 1], got {memory_fraction!r}.",
                             field="memory_fraction", fix="pass e.g. memory_fraction=0.25.")
    key = str(estimator).strip().lower().replace("_", "-")
    if key not in ESTIMATORS:
        raise ParameterError(f"unknown correlation estimator {estimator!r}.", field="estimator",
                             fix="use 'pearson' (plain Pearson) or 'ledoit-wolf' (nilearn's "
                                 "default shrinkage).")
    return key


def _input_array(epochs_or_array, backend: Backend):
    data = getattr(epochs_or_array, "data", epochs_or_array)
    if type(data).__module__.split(".")[0] == "cupy":
        if not backend.is_gpu:
            data = backend.to_host(data)
        check_correlation_array(tuple(data.shape), data.dtype)
        return data
    data = np.asarray(data)
    check_correlation_array(data.shape, data.dtype)
    return data


def _check_output_fits(n_trials: int, n_p: int) -> None:
    need = 4 * n_trials * n_p
    free = host_free_memory_bytes()
    if need > free:
        raise ParameterError(
            f"the correlation features need {need / 2**30:.1f} GiB ({n_trials} trials x "
            f"{n_p} pairs, float32) but only {free / 2**30:.1f} GiB of memory is available.",
            field="cells",
            fix="select fewer cells (pairs grow as cells squared), use fewer trials, or run "
                "on a machine with more memory.")


def compute_correlations(epochs_or_array, backend: Backend | None = None,
                         chunk_trials: int | None = None, memory_fraction: float = 0.25, *,
                         estimator: str = "pearson", gpu_method: str = "auto") -> np.ndarray:
    """Per-trial Pearson correlations of all cell pairs, as feature vectors.

    Parameters
    ----------
    epochs_or_array : Epochs or array_like, shape (n_trials, n_cells, n_frames)
        Trials x cells x frames (``Epochs.data``, raw or windowed frames); any real dtype
        (float32 and float64 are used as they are), at least 2 frames. On a GPU backend
        a CuPy array stays on the device.
    backend : Backend, optional
        Where to compute; default ``Backend.from_device("auto")``.
    chunk_trials : int, optional
        Trials per chunk; default sized so one chunk's scratch (z-scored frames and the
        ``N x N`` matrices) takes at most ``memory_fraction`` of the free memory.
    memory_fraction : float
        Share of free host (CPU) or device (GPU) memory a chunk may use, in (0, 1].
    estimator : {"pearson", "ledoit-wolf"}
        ``pearson``: plain Pearson correlation (nilearn with ``EmpiricalCovariance``).
        ``ledoit-wolf``: nilearn's default ``ConnectivityMeasure(kind="correlation")``,
        whose LedoitWolf shrinkage scales each trial's correlations by one factor.
    gpu_method : {"auto", "cupy", "numba"}
        GPU path: cuBLAS via CuPy, or the numba.cuda kernels (``auto``: CuPy if present).
        The CUDA simulator always uses numba.

    Returns
    -------
    ndarray of float32, shape (n_trials, n_cells * (n_cells - 1) / 2)
        Row ``t``, column ``k``: correlation of cells ``pair_index(n_cells)[0][k]`` and
        ``pair_index(n_cells)[1][k]`` over the frames of trial ``t``. Always a NumPy
        array (copied from the GPU chunk by chunk).

    Warns
    -----
    ConstantCellsWarning
        Once, when some cells are constant within some trials:
        ``"N cell-trials were constant; their correlations are set to 0"``.

    Raises
    ------
    ShapeError
        Input not 3-D, or fewer than 2 frames per trial.
    NonFiniteError
        A NaN or infinite frame (the message names the trial and cell).
    ParameterError
        Bad ``chunk_trials``, ``memory_fraction``, ``estimator`` or ``gpu_method``, a
        non-numeric dtype, or an output too large for host memory.
    DeviceError
        The GPU path cannot run.
    """
    estimator = _check_options(chunk_trials, memory_fraction, estimator)
    if gpu_method not in ("auto", "cupy", "numba"):
        raise ParameterError(f"unknown GPU correlation method {gpu_method!r}.",
                             field="gpu_method", fix="use auto, cupy or numba.")
    backend = backend if backend is not None else Backend.from_device("auto")
    x = _input_array(epochs_or_array, backend)
    n_trials, n_cells, n_frames = (int(v) for v in x.shape)
    n_p = n_pairs(n_cells)
    _check_output_fits(n_trials, n_p)
    out = np.empty((n_trials, n_p), dtype=np.float32)
    ledoit_wolf = estimator == "ledoit-wolf"

    if backend.is_gpu:
        n_constant = _run_gpu(x, out, backend, chunk_trials, memory_fraction, ledoit_wolf,
                              gpu_method)
    else:
        per_trial = correlation_bytes_per_trial(n_cells, n_frames)
        chunk = chunk_trials or plan_chunk_trials(n_trials, per_trial, host_free_memory_bytes(),
                                                  memory_fraction)
        n_constant = 0
        for start in range(0, n_trials, chunk):
            stop = min(start + chunk, n_trials)
            n_constant += correlate_chunk(as_host_trials(x[start:stop]), out[start:stop],
                                          ledoit_wolf=ledoit_wolf, offset=start)
    if n_constant:
        warnings.warn(f"{n_constant} cell-trials were constant; their correlations are set "
                      "to 0", ConstantCellsWarning, stacklevel=2)
    return out


def _run_gpu(x, out, backend: Backend, chunk_trials, memory_fraction, ledoit_wolf,
             gpu_method) -> int:
    from .kernels.correlation_cuda import (correlate_chunk_cuda, device_bytes_per_trial,
                                           gpu_methods)

    n_trials, n_cells, n_frames = (int(v) for v in x.shape)
    if backend.simulator:
        method = "numba"
    elif gpu_method == "auto":
        method = "cupy" if "cupy" in gpu_methods() else "numba"
    else:
        method = gpu_method
    per_trial = device_bytes_per_trial(n_cells, n_frames, method)
    chunk = chunk_trials or plan_chunk_trials(n_trials, per_trial, backend.free_memory_bytes(),
                                              memory_fraction)
    n_constant = 0
    for start in range(0, n_trials, chunk):
        stop = min(start + chunk, n_trials)
        part, n_const = correlate_chunk_cuda(x[start:stop], method=method,
                                             ledoit_wolf=ledoit_wolf, offset=start)
        if type(part).__module__.split(".")[0] == "cupy":
            part.get(out=out[start:stop])  # straight into the host output, no temporary
        else:
            out[start:stop] = backend.to_host(part)
        n_constant += n_const
    return n_constant

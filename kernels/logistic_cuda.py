"""numba.cuda twin of :func:`gpudecode.kernels.logistic.fit_predict_logistic`.

GPU layout (shared with ``lda_cuda``, see :func:`gpudecode.kernels._gpu.per_thread_kernel`):
one thread per problem (cell x label set x slot), in a grid-stride loop over the flattened
batch, so any batch fits a grid of at most ``_gpu.MAX_THREADS`` threads. Each thread owns a
slice of preallocated global-memory scratch arrays whose *last* axis is the thread, so
neighbouring threads touch neighbouring addresses (coalesced); the scratch is sized by the
number of resident threads, not by the batch, and capped at a fraction of free device memory
(:func:`gpudecode.kernels._gpu.scratch_threads`). Each thread runs the CPU kernel's per-pair step
(:func:`gpudecode.kernels.logistic.solve_pair`) compiled as a device function, on the scratch
:func:`gpudecode.kernels.logistic.scratch_shapes` declares. ``numba.cuda`` is imported only
on first use.
"""

from __future__ import annotations

from ._gpu import prepare_batch, run_per_thread
from .logistic import SCRATCH_DTYPES, build, check_params, scratch_shapes, uses_gram

__all__ = ["fit_predict_logistic_cuda"]


def _solve_pair():
    """The CPU kernel's per-pair step compiled for the GPU."""
    return build("cuda").solve_pair


def fit_predict_logistic_cuda(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *,
                              standardize=True, class_weight_balanced=False, C=1.0, max_iter=100,
                              tol=1e-6):
    """L2 logistic regression for every cell x label set x split slot, on the GPU.

    Same arguments, algorithm and result as
    :func:`gpudecode.kernels.logistic.fit_predict_logistic`. ``X`` and the index arrays may
    be NumPy arrays, CuPy arrays or numba device arrays (device arrays: float32/float64
    ``X``, int32 rest; their values are not checked).

    Returns
    -------
    pred : int32 array, shape (n_cells, n_labelsets, n_slots, max_test)
        NumPy for NumPy ``X``; CuPy for CuPy ``X``; a numba device array otherwise.

    Raises
    ------
    ShapeError, ParameterError, NonFiniteError
        As the CPU kernel (value checks on host input only).
    DeviceError
        If numba.cuda cannot run (no GPU and no simulator).
    """
    C, max_iter, tol = check_params(C, max_iter, tol)
    kind, arrays, n_classes = prepare_batch(X, Y, train_idx, n_train, test_idx, n_test,
                                            n_classes)
    d = arrays[0].shape[2]
    m = arrays[2].shape[1]
    use_gram = uses_gram(m, d)
    shapes = scratch_shapes(m, arrays[4].shape[1], d, n_classes, use_gram)
    return run_per_thread(_solve_pair, kind, arrays, n_classes, shapes, SCRATCH_DTYPES,
                          bool(standardize), bool(class_weight_balanced), C, tol, max_iter,
                          use_gram)

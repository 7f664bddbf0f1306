"""numba.cuda twin of :func:`gpudecode.kernels.lda.fit_predict_lda`.

One thread per problem (cell x label set x slot) in a grid-stride loop, scratch in global
memory with the thread axis last (:func:`gpudecode.kernels._gpu.per_thread_kernel`; see
:mod:`gpudecode.kernels.logistic_cuda`); each thread runs the CPU kernel's per-pair step
(:func:`gpudecode.kernels.lda.solve_pair`) compiled as a device function, on the scratch
:func:`gpudecode.kernels.lda.scratch_shapes` declares. ``numba.cuda`` is imported only on
first use.
"""

from __future__ import annotations

from ._gpu import prepare_batch, run_per_thread
from .lda import SCRATCH_DTYPES, build, scratch_shapes, shrinkage_mode

__all__ = ["fit_predict_lda_cuda"]


def _solve_pair():
    """The CPU kernel's per-pair step compiled for the GPU."""
    return build("cuda").solve_pair


def fit_predict_lda_cuda(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *,
                         standardize=True, class_weight_balanced=False, shrinkage="auto"):
    """LDA for every cell x label set x split slot, on the GPU.

    Same arguments, algorithm and result as :func:`gpudecode.kernels.lda.fit_predict_lda`.
    ``X`` and the index arrays may be NumPy arrays, CuPy arrays or numba device arrays
    (device arrays: float32/float64 ``X``, int32 rest; their values are not checked).

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
    mode, value = shrinkage_mode(shrinkage)
    kind, arrays, n_classes = prepare_batch(X, Y, train_idx, n_train, test_idx, n_test,
                                            n_classes)
    shapes = scratch_shapes(arrays[2].shape[1], arrays[4].shape[1], arrays[0].shape[2],
                            n_classes)
    return run_per_thread(_solve_pair, kind, arrays, n_classes, shapes, SCRATCH_DTYPES,
                          bool(standardize), bool(class_weight_balanced), mode, value)

"""numba.cuda twins of :func:`gpudecode.kernels.linear_svm.fit_predict_linear_svm` and
:func:`gpudecode.kernels.linear_svm.fit_predict_linear_svm_fixed`.

They run :mod:`gpudecode.kernels.rbf_svm_cuda`'s kernels with the linear kernel and
one-vs-one multiclass: one thread per (cell, slot) pair (or fixed-feature slot) fills the
pair's float32 Gram matrix, its diagonal and the train x test kernel, then one thread per
(pair, label set) problem solves libsvm's dual with the interior-point method of
:mod:`gpudecode.kernels.linear_qp`, the CPU kernel's per-problem code compiled as CUDA
device functions. With ``NUMBA_ENABLE_CUDASIM=1`` set before numba is imported they
run in numba's CUDA simulator (tiny inputs only).
"""

from __future__ import annotations

from .linear_svm import check_linear_params
from .rbf_svm_cuda import solve_fixed_cuda, solve_pairs_cuda

__all__ = ["fit_predict_linear_svm_cuda", "fit_predict_linear_svm_fixed_cuda"]


def fit_predict_linear_svm_cuda(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *,
                                standardize=True, class_weight_balanced=False, C=1.0,
                                tol=1e-3, max_iter=100000, shrinking=True,
                                max_scratch_bytes=None):
    """Fit and predict a batch of linear SVMs on the GPU with numba.cuda.

    Same problems, parameters and results as
    :func:`gpudecode.kernels.linear_svm.fit_predict_linear_svm` (scikit-learn's
    ``SVC(kernel="linear")``, one-vs-one beyond two classes).

    Parameters
    ----------
    X, Y, train_idx, n_train, test_idx, n_test, n_classes
        As for the CPU kernel: X (n_cells, n_trials, n_features) float32/float64,
        Y (n_labelsets, n_trials) int, train_idx / test_idx (n_slots, max_train | max_test)
        padded with -1, n_train / n_test (n_slots,). All NumPy, or all device arrays
        (numba device arrays or CuPy), which are not copied back.
    standardize, class_weight_balanced, C, tol, max_iter, shrinking
        As for the CPU kernel.
    max_scratch_bytes : int, optional
        Device memory for scratch buffers per chunk of (cell, slot) pairs; default a
        quarter of the free device memory, at most 1 GiB.

    Returns
    -------
    pred : int32 array, shape (n_cells, n_labelsets, n_slots, max_test)
        NumPy for NumPy input, a numba device array for device input; -1 on the padding.

    Raises
    ------
    ShapeError, ParameterError, NonFiniteError
        As for the CPU kernel (value checks only for host input).
    DeviceError
        numba.cuda cannot run (no GPU and no simulator).
    """
    C, tol, max_iter, shrinking = check_linear_params(C, tol, max_iter, shrinking)
    return solve_pairs_cuda(X, Y, train_idx, n_train, test_idx, n_test, n_classes,
                            bool(standardize), bool(class_weight_balanced), True, True, C, 1.0,
                            tol, max_iter, shrinking, max_scratch_bytes)


def fit_predict_linear_svm_fixed_cuda(X, Y, train_idx, n_train, test_idx, n_test, n_classes,
                                      *, class_weight_balanced=False, C=1.0, tol=1e-3,
                                      max_iter=100000, shrinking=True, max_scratch_bytes=None,
                                      gpu_method="auto"):
    """Linear SVMs on one fixed feature matrix, on the GPU.

    Same problems, parameters and results as
    :func:`gpudecode.kernels.linear_svm.fit_predict_linear_svm_fixed`: one Gram matrix of
    all trials (cuBLAS via CuPy, or a numba.cuda kernel), per slot its sub-blocks, then
    the interior-point solver per label set.

    Parameters
    ----------
    X : array, shape (n_trials, n_features)
        Trials x features, float32 or float64, not standardised.
    Y, train_idx, n_train, test_idx, n_test, n_classes
        As for :func:`fit_predict_linear_svm_cuda`.
    class_weight_balanced, C, tol, max_iter, shrinking, max_scratch_bytes
        As for :func:`fit_predict_linear_svm_cuda`.
    gpu_method : {"auto", "cupy", "numba"}
        How the Gram matrix is computed (``auto``: CuPy when usable, numba in the simulator).

    Returns
    -------
    pred : int32 array, shape (n_labelsets, n_slots, max_test)
        NumPy for NumPy input, a numba device array for device input; -1 on the padding.

    Raises
    ------
    ShapeError, ParameterError, NonFiniteError
        As for the CPU function (value checks only for host input).
    DeviceError
        numba.cuda cannot run (no GPU and no simulator).
    """
    C, tol, max_iter, shrinking = check_linear_params(C, tol, max_iter, shrinking)
    return solve_fixed_cuda(X, Y, train_idx, n_train, test_idx, n_test, n_classes,
                            bool(class_weight_balanced), True, True, C, 1.0, tol, max_iter,
                            shrinking, max_scratch_bytes, gpu_method)

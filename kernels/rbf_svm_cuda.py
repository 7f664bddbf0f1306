"""numba.cuda twin of :func:`gpudecode.kernels.rbf_svm.fit_predict_rbf_svm` (and, through
:func:`solve_pairs_cuda` / :func:`solve_fixed_cuda`, of the linear-kernel SVM of
:mod:`gpudecode.kernels.linear_svm_cuda`).

Two kernels per chunk of (cell, slot) pairs, both running the CPU kernel's per-problem
code compiled as CUDA device functions:

1. one thread per (cell, slot) pair standardises the pair's rows and fills its kernel
   matrices (float32 training Gram matrix, its diagonal, float64 train x test kernel) in
   global-memory buffers indexed by the pair;
2. one thread per (pair, label set) problem runs libsvm's SMO (the linear kernel: the
   interior-point solver of :mod:`gpudecode.kernels.linear_qp`) on the pair's Gram matrix
   and writes the predictions; its scratch (alpha, gradient, ... and the binary
   problem's ``Q`` in solver-slot order, n_train x n_train float32; for the linear kernel
   also the n_train x (n_train + 2) float64 Newton matrix) lives in global-memory buffers
   indexed by the problem.

Pairs are processed in chunks sized so that the buffers stay under ``max_scratch_bytes``
(default: a quarter of the free device memory, at most 1 GiB).

:func:`fit_predict_rbf_svm_fixed_cuda` is the twin of
:func:`gpudecode.kernels.rbf_svm.fit_predict_rbf_svm_fixed` (one fixed feature matrix):
the squared-distance matrix of all trials and the per-trial row statistics come from
cuBLAS via CuPy when it is usable (else from two numba.cuda kernels, as in the CUDA
simulator); then one thread per slot takes the slot's sub-blocks (the CPU code's
``prepare_fixed``) and step 2 above runs unchanged.

``numba.cuda`` is imported only when a kernel is first needed, so importing this module
never fails on a machine without CUDA; with ``NUMBA_ENABLE_CUDASIM=1`` set before numba is
imported the kernels run in numba's CUDA simulator (for tests on tiny inputs).
"""

from __future__ import annotations

import functools

import numpy as np

from ..errors import ParameterError
from ._gpu import (array_kind, device_batch, empty_result, gpu_methods, grid_1d, grid_2d,
                   layout_bytes, pairs_per_chunk, scratch_arrays, scratch_budget,
                   simulator_enabled, usable_cuda)
from .rbf_svm import (FEATURE_SCRATCH_DTYPES, KERNEL_SCRATCH_DTYPES, SOLVER_SCRATCH_DTYPES,
                      check_fixed_shape, check_rbf_params, feature_scratch_shapes,
                      fixed_distances, fixed_gram, kernel_scratch_shapes, rbf_core,
                      solver_scratch_shapes)

__all__ = ["fit_predict_rbf_svm_cuda", "fit_predict_rbf_svm_fixed_cuda", "solve_pairs_cuda",
           "solve_fixed_cuda"]


# numba.cuda and the device functions, bound on first use: the kernels must see them as
# module globals (the CUDA simulator swaps ``cuda`` in a kernel's globals).
cuda = None
_prepare_pair_dev = None
_fit_predict_labelset_dev = None
_prepare_fixed_dev = None


def _prepare_kernel(X, train_idx, n_train, test_idx, n_test, standardize, linear, gamma_fixed,
                    pair_lo, n_pairs, xtr_b, xte_b, xsq_b, stats_b, Kq_b, QD_b, Kt_b):
    tid = cuda.grid(1)
    if tid >= n_pairs:
        return
    n_slots = train_idx.shape[0]
    pair = pair_lo + tid
    c = pair // n_slots
    s = pair - c * n_slots
    _prepare_pair_dev(X, c, train_idx[s], n_train[s], test_idx[s], n_test[s], standardize,
                      linear, gamma_fixed, xtr_b[tid], xte_b[tid], xsq_b[tid],
                      stats_b[tid], Kq_b[tid], QD_b[tid], Kt_b[tid])


def _solve_kernel(Y, train_idx, n_train, n_test, n_classes, balanced, one_vs_one, linear, C,
                  eps, max_iter, shrinking, pair_lo, n_pairs, Kq_b, QD_b, Kt_b, counts_b,
                  order_b, alpha_b, G_b, Gbar_b, status_b, active_b, yv_b, Cv_b, coef_b,
                  scores_b, Qs_b, QDs_b, obj_b, V_b, H_b, pred):
    tid = cuda.grid(1)
    n_sets = Y.shape[0]
    if tid >= n_pairs * n_sets:
        return
    lp = tid // n_sets
    lab = tid - lp * n_sets
    n_slots = train_idx.shape[0]
    pair = pair_lo + lp
    c = pair // n_slots
    s = pair - c * n_slots
    _fit_predict_labelset_dev(Y[lab], train_idx[s], n_train[s], n_test[s], n_classes,
                              balanced, one_vs_one, linear, C, eps, max_iter, shrinking,
                              Kq_b[lp], QD_b[lp], Kt_b[lp], counts_b[tid], order_b[tid],
                              alpha_b[tid], G_b[tid], Gbar_b[tid], status_b[tid],
                              active_b[tid], yv_b[tid], Cv_b[tid], coef_b[tid], scores_b[tid],
                              Qs_b[tid], QDs_b[tid], obj_b[tid], V_b[tid], H_b[tid],
                              pred[c, lab, s])


def _gram_kernel(X, G):
    """``G[i, k] = X[0, i] . X[0, k]`` in float64, one thread per entry (exactly symmetric)."""
    i, k = cuda.grid(2)
    n = G.shape[0]
    if i >= n or k >= n:
        return
    d = X.shape[2]
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    d4 = d - d % 4
    for j in range(0, d4, 4):
        a0 += float(X[0, i, j]) * float(X[0, k, j])
        a1 += float(X[0, i, j + 1]) * float(X[0, k, j + 1])
        a2 += float(X[0, i, j + 2]) * float(X[0, k, j + 2])
        a3 += float(X[0, i, j + 3]) * float(X[0, k, j + 3])
    for j in range(d4, d):
        a0 += float(X[0, i, j]) * float(X[0, k, j])
    G[i, k] = (a0 + a1) + (a2 + a3)


def _distance_kernel(X, G, D, mu, css):
    """``D`` from ``G`` (libsvm's form); threads of column 0 also write row ``i``'s mean and
    centred sum of squares."""
    i, k = cuda.grid(2)
    n = G.shape[0]
    if i >= n or k >= n:
        return
    D[i, k] = (G[i, i] + G[k, k]) - 2.0 * G[i, k]
    if k == 0:
        d = X.shape[2]
        acc = 0.0
        for j in range(d):
            acc += float(X[0, i, j])
        m = acc / d
        ss = 0.0
        for j in range(d):
            t = float(X[0, i, j]) - m
            ss += t * t
        mu[i] = m
        css[i] = ss


def _prepare_fixed_kernel(D, mu, css, d, train_idx, n_train, test_idx, n_test, linear,
                          gamma_fixed, slot_lo, n_slots, Kq_b, QD_b, Kt_b):
    tid = cuda.grid(1)
    if tid >= n_slots:
        return
    s = slot_lo + tid
    _prepare_fixed_dev(D, mu, css, d, train_idx[s], n_train[s], test_idx[s], n_test[s],
                       linear, gamma_fixed, Kq_b[tid], QD_b[tid], Kt_b[tid])


@functools.cache
def _kernels():
    global cuda, _prepare_pair_dev, _fit_predict_labelset_dev
    cuda = usable_cuda()
    core = rbf_core("cuda")
    _prepare_pair_dev = core.prepare_pair
    _fit_predict_labelset_dev = core.fit_predict_labelset
    return cuda.jit(_prepare_kernel), cuda.jit(_solve_kernel)


@functools.cache
def _fixed_kernels():
    """``(gram, distance, prepare_fixed)`` kernels; the solve kernel is ``_kernels()[1]``."""
    global _prepare_fixed_dev
    _kernels()
    _prepare_fixed_dev = rbf_core("cuda").prepare_fixed
    return cuda.jit(_gram_kernel), cuda.jit(_distance_kernel), cuda.jit(_prepare_fixed_kernel)


def _solve_in_chunks(prepare_chunk, unit_layouts, n_units, Y, train_idx, n_train, n_test,
                     n_classes, balanced, one_vs_one, linear, C, tol, max_iter, shrinking,
                     max_scratch_bytes, pred):
    """Fit every label set of ``n_units`` units (pairs or slots) into ``pred``, by chunks.

    Each unit owns the scratch of ``unit_layouts`` (``(shapes, dtypes)`` pairs, e.g. the
    gathered rows) and its kernel matrices (:func:`~gpudecode.kernels.rbf_svm.
    kernel_scratch_shapes`); ``prepare_chunk(lo, n, *buffers)`` fills those of units
    ``lo..lo+n-1``, then one thread per (unit, label set) runs SMO (with ``linear``: the
    interior-point solver) on its solver scratch
    (:func:`~gpudecode.kernels.rbf_svm.solver_scratch_shapes`). Chunks are as many units as
    fit in :func:`~gpudecode.kernels._gpu.scratch_budget`.
    """
    nmax = train_idx.shape[1]
    mmax = pred.shape[3]
    n_sets = Y.shape[0]
    layouts = [*unit_layouts, (kernel_scratch_shapes(nmax, mmax), KERNEL_SCRATCH_DTYPES)]
    solver = solver_scratch_shapes(nmax, mmax, n_classes, linear)
    chunk = pairs_per_chunk(scratch_budget(max_scratch_bytes),
                            sum(layout_bytes(*layout) for layout in layouts),
                            layout_bytes(solver, SOLVER_SCRATCH_DTYPES), n_sets, n_units)
    buffers = [b for layout in layouts for b in scratch_arrays(*layout, chunk)]
    solver_b = scratch_arrays(solver, SOLVER_SCRATCH_DTYPES, chunk * n_sets)
    solve = _kernels()[1]
    for lo in range(0, n_units, chunk):
        n = min(chunk, n_units - lo)
        prepare_chunk(lo, n, *buffers)
        solve[grid_1d(n * n_sets)](Y, train_idx, n_train, n_test, n_classes, balanced,
                                   one_vs_one, linear, C, tol, max_iter, shrinking, lo, n,
                                   *buffers[-3:], *solver_b, pred)


def fit_predict_rbf_svm_cuda(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *,
                             standardize=True, class_weight_balanced=False, C=1.0,
                             gamma="scale", tol=1e-3, max_iter=100000, shrinking=True,
                             max_scratch_bytes=None):
    """Fit and predict a batch of RBF-kernel SVMs on the GPU with numba.cuda.

    Same problems, parameters and results as
    :func:`gpudecode.kernels.rbf_svm.fit_predict_rbf_svm` (scikit-learn's
    ``SVC(kernel="rbf")``, one-vs-rest beyond two classes).

    Parameters
    ----------
    X, Y, train_idx, n_train, test_idx, n_test, n_classes
        As for the CPU kernel: X (n_cells, n_trials, n_features) float32/float64,
        Y (n_labelsets, n_trials) int, train_idx / test_idx (n_slots, max_train | max_test)
        padded with -1, n_train / n_test (n_slots,). All NumPy, or all device arrays
        (numba device arrays or CuPy), which are not copied back.
    standardize, class_weight_balanced, C, gamma, tol, max_iter, shrinking
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
    C, gamma, tol, max_iter, shrinking = check_rbf_params(C, gamma, tol, max_iter, shrinking)
    return solve_pairs_cuda(X, Y, train_idx, n_train, test_idx, n_test, n_classes,
                            bool(standardize), bool(class_weight_balanced), False, False, C,
                            gamma, tol, max_iter, shrinking, max_scratch_bytes)


def solve_pairs_cuda(X, Y, train_idx, n_train, test_idx, n_test, n_classes, standardize,
                     balanced, linear, one_vs_one, C, gamma, tol, max_iter, shrinking,
                     max_scratch_bytes=None):
    """SMO for every (cell, slot) pair and label set on the GPU (checked parameters): the
    twin of :func:`gpudecode.kernels.rbf_svm.svm_batch` (RBF or, with ``linear``, linear
    kernel; one-vs-one multiclass with ``one_vs_one``). Arrays and result as
    :func:`fit_predict_rbf_svm_cuda`."""
    cuda, on_host, arrays, n_classes = device_batch(X, Y, train_idx, n_train, test_idx,
                                                    n_test, n_classes)
    X, Y, train_idx, n_train, test_idx, n_test = arrays
    n_cells, _, d = X.shape
    n_sets = Y.shape[0]
    n_slots, nmax = train_idx.shape
    mmax = test_idx.shape[1]
    shape = (n_cells, n_sets, n_slots, mmax)
    n_pairs = n_cells * n_slots
    if int(np.prod(shape)) == 0:
        return empty_result(shape, "numpy" if on_host else "numba")
    pred = cuda.device_array(shape, dtype=np.int32)

    prepare = _kernels()[0]

    def prepare_chunk(lo, n, *buffers):  # xtr, xte, xsq, stats, Kq, QD, Kt of the pairs
        prepare[grid_1d(n)](X, train_idx, n_train, test_idx, n_test, standardize, linear,
                            gamma, lo, n, *buffers)

    _solve_in_chunks(prepare_chunk, [(feature_scratch_shapes(nmax, mmax, d),
                                      FEATURE_SCRATCH_DTYPES)], n_pairs, Y, train_idx, n_train,
                     n_test, n_classes, balanced, one_vs_one, linear, C, tol, max_iter,
                     shrinking, max_scratch_bytes, pred)
    return pred.copy_to_host() if on_host else pred


def _device_distances(cuda, X, method: str, linear: bool = False):
    """``D, mu, css`` (see :func:`gpudecode.kernels.rbf_svm.fixed_distances`) of ``X[0]``
    on the device, with CuPy (cuBLAS) or the numba.cuda kernels; with ``linear``, ``D`` is
    the Gram matrix (:func:`gpudecode.kernels.rbf_svm.fixed_gram`) and ``mu``, ``css``
    are zeros (unused)."""
    n = X.shape[1]
    if method == "cupy":
        import cupy
        if linear:
            zeros = cupy.zeros(n, dtype=np.float64)
            return fixed_gram(cupy, cupy.asarray(X)[0]), zeros, zeros
        return fixed_distances(cupy, cupy.asarray(X)[0])
    gram, distance, _ = _fixed_kernels()
    G = cuda.device_array((n, n), dtype=np.float64)
    if linear:
        blocks, threads = grid_2d(n)
        gram[blocks, threads](X, G)
        zeros = cuda.to_device(np.zeros(n))
        return G, zeros, zeros
    D = cuda.device_array((n, n), dtype=np.float64)
    mu = cuda.device_array(n, dtype=np.float64)
    css = cuda.device_array(n, dtype=np.float64)
    blocks, threads = grid_2d(n)
    gram[blocks, threads](X, G)
    distance[blocks, threads](X, G, D, mu, css)
    return D, mu, css


def _distance_method(gpu_method, x_kind: str) -> str:
    if gpu_method not in ("auto", "cupy", "numba"):
        raise ParameterError(f"unknown GPU distance method {gpu_method!r}.", field="gpu_method",
                             fix="use auto, cupy or numba.")
    if gpu_method != "auto":
        if gpu_method == "cupy" and simulator_enabled():
            raise ParameterError("the cupy path cannot run in the CUDA simulator.",
                                 field="gpu_method", fix="use gpu_method='numba' or 'auto'.")
        return gpu_method
    if simulator_enabled():
        return "numba"
    if x_kind == "cupy":
        return "cupy"
    return "cupy" if "cupy" in gpu_methods() else "numba"


def fit_predict_rbf_svm_fixed_cuda(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *,
                                   class_weight_balanced=False, C=1.0, gamma="scale", tol=1e-3,
                                   max_iter=100000, shrinking=True, max_scratch_bytes=None,
                                   gpu_method="auto"):
    """RBF-kernel SVMs on one fixed feature matrix, on the GPU.

    Same problems, parameters and results as
    :func:`gpudecode.kernels.rbf_svm.fit_predict_rbf_svm_fixed`: one squared-distance
    matrix of all trials, and per slot its sub-blocks, then libsvm's SMO per label set.

    Parameters
    ----------
    X : array, shape (n_trials, n_features)
        Trials x features, float32 or float64, not standardised.
    Y, train_idx, n_train, test_idx, n_test, n_classes
        As for the CPU function: Y (n_labelsets, n_trials) int, train_idx / test_idx
        (n_slots, max_train | max_test) padded with -1, n_train / n_test (n_slots,). All
        NumPy, or all device arrays (numba device arrays or CuPy), which are not copied back.
    class_weight_balanced, C, gamma, tol, max_iter, shrinking
        As for the CPU function.
    max_scratch_bytes : int, optional
        Device memory for the per-slot kernel matrices and solver scratch per chunk of
        slots; default a quarter of the free device memory, at most 1 GiB.
    gpu_method : {"auto", "cupy", "numba"}
        How the distance matrix is computed: cuBLAS via CuPy or numba.cuda kernels
        (``auto``: CuPy when it is usable, numba in the CUDA simulator).

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
    C, gamma, tol, max_iter, shrinking = check_rbf_params(C, gamma, tol, max_iter, shrinking)
    return solve_fixed_cuda(X, Y, train_idx, n_train, test_idx, n_test, n_classes,
                            bool(class_weight_balanced), False, False, C, gamma, tol, max_iter,
                            shrinking, max_scratch_bytes, gpu_method)


def solve_fixed_cuda(X, Y, train_idx, n_train, test_idx, n_test, n_classes, balanced, linear,
                     one_vs_one, C, gamma, tol, max_iter, shrinking, max_scratch_bytes=None,
                     gpu_method="auto"):
    """SMO on one fixed feature matrix on the GPU (checked parameters): the twin of
    :func:`gpudecode.kernels.rbf_svm.solve_fixed` (squared distances for the RBF kernel,
    with ``linear`` the Gram matrix, of all trials; per slot its sub-blocks). Arguments and
    result as :func:`fit_predict_rbf_svm_fixed_cuda`."""
    shape = np.shape(X)
    check_fixed_shape(shape)
    x_kind = array_kind(X)
    method = _distance_method(gpu_method, x_kind)
    X3 = np.asarray(X)[None] if x_kind == "numpy" else X.reshape(1, *shape)
    cuda, on_host, arrays, n_classes = device_batch(X3, Y, train_idx, n_train, test_idx,
                                                    n_test, n_classes)
    X3, Y, train_idx, n_train, test_idx, n_test = arrays
    d = X3.shape[2]
    n_sets = Y.shape[0]
    n_slots, nmax = train_idx.shape
    mmax = test_idx.shape[1]
    shape = (1, n_sets, n_slots, mmax)
    if int(np.prod(shape)) == 0:
        return empty_result(shape[1:], "numpy" if on_host else "numba")
    pred = cuda.device_array(shape, dtype=np.int32)

    D, mu, css = _device_distances(cuda, X3, method, linear)
    prepare = _fixed_kernels()[2]

    def prepare_chunk(lo, n, *buffers):  # Kq, QD, Kt of the chunk's slots
        prepare[grid_1d(n)](D, mu, css, d, train_idx, n_train, test_idx, n_test, linear,
                            gamma, lo, n, *buffers)

    _solve_in_chunks(prepare_chunk, [], n_slots, Y, train_idx, n_train, n_test, n_classes,
                     balanced, one_vs_one, linear, C, tol, max_iter, shrinking,
                     max_scratch_bytes, pred)
    return pred.copy_to_host()[0] if on_host else pred[0]

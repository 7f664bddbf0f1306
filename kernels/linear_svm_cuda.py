"""numba.cuda twin of :func:`gpudecode.kernels.linear_svm.fit_predict_linear_svm`.

GPU layout (shared with ``logistic_cuda`` and ``lda_cuda``): one thread per problem (cell x
label set x slot), in a grid-stride loop over the flattened batch, so any batch fits a grid
of at most ``_gpu.MAX_THREADS`` threads. Each thread owns a slice of preallocated
global-memory scratch arrays whose *last* axis is the thread, so neighbouring threads touch
neighbouring addresses (coalesced); the arrays are the ones
:func:`gpudecode.kernels.linear_svm.scratch_shapes` declares for the CPU kernel. The scratch
is sized by the number of resident threads, not by the batch, and capped at a fraction of
free device memory (:func:`gpudecode.kernels._gpu.scratch_threads`). Every thread runs the
same per-problem device functions as the CPU kernel (compiled from the same Python source),
with the same deterministic coordinate order, so both give the same predictions; on a real
GPU the compiler may fuse multiply-adds, which can flip a prediction that sits on a tie.

``numba.cuda`` is imported only when a kernel is first needed; with
``NUMBA_ENABLE_CUDASIM=1`` set before numba is imported, the kernels run in numba's CUDA
simulator (slow: tiny inputs only).
"""

from __future__ import annotations

import functools

from ._gpu import prepare_batch, run_per_thread, usable_cuda
from ._prep import device_functions
from .linear_svm import SCRATCH_DTYPES, build, check_params, scratch_shapes, uses_gram

__all__ = ["fit_predict_linear_svm_cuda"]

cuda = None  # numba.cuda, bound on first use; the kernel must see it as a global


@functools.cache
def _kernel():
    global cuda
    cuda = usable_cuda()
    dev = build("cuda")
    P = device_functions("cuda")
    gather = P.gather_rows
    gram = P.gram
    solve_labelset = dev.solve_labelset

    def kernel(X, Y, train_idx, n_train, test_idx, n_test, n_classes, standardize, balanced, C,
               tol, max_iter, use_gram, out, XTR, XTE, MS, KB, QF, FS, IS, CNT, DEC):
        tid = cuda.grid(1)
        n_threads = FS.shape[1]
        if tid >= n_threads:
            return
        xtr = XTR[:, :, tid]
        xte = XTE[:, :, tid]
        ms = MS[:, :, tid]
        Kb = KB[:, :, tid]
        Qf = QF[:, :, tid]
        fs = FS[:, tid]
        iscr = IS[:, tid]
        counts = CNT[:, tid]
        dec = DEC[:, :, tid]
        d = X.shape[2]
        n_sets = Y.shape[0]
        n_slots = train_idx.shape[0]
        total = X.shape[0] * n_slots * n_sets
        for p in range(tid, total, n_threads):
            lab = p % n_sets
            rest = p // n_sets
            s = rest % n_slots
            c = rest // n_slots
            ntr = n_train[s]
            nte = n_test[s]
            gather(X, c, train_idx[s], ntr, test_idx[s], nte, standardize, xtr, xte, ms[0],
                   ms[1])
            if use_gram:
                gram(xtr, ntr, d, 1.0, Kb)
            solve_labelset(xtr, xte, Kb, ntr, nte, d, use_gram, Y[lab], train_idx[s], n_classes,
                           balanced, C, tol, max_iter, counts, fs, iscr, Qf, dec,
                           out[c, lab, s])

    return cuda.jit(kernel)


def fit_predict_linear_svm_cuda(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *,
                                standardize=True, class_weight_balanced=False, C=1.0,
                                max_iter=1000, tol=1e-4):
    """Linear SVM (hinge loss) for every cell x label set x split slot, on the GPU.

    Same arguments, algorithm and result as
    :func:`gpudecode.kernels.linear_svm.fit_predict_linear_svm`. ``X`` and the index arrays
    may be NumPy arrays, CuPy arrays or numba device arrays (device arrays: float32/float64
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
    return run_per_thread(_kernel, kind, arrays, n_classes, shapes, SCRATCH_DTYPES,
                          bool(standardize), bool(class_weight_balanced), C, tol, max_iter,
                          use_gram)

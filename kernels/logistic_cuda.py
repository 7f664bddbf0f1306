"""numba.cuda twin of :func:`gpudecode.kernels.logistic.fit_predict_logistic`.

One thread per problem (cell x label set x slot) in a grid-stride loop, scratch in
global memory with the thread axis last; the per-problem Newton solver is the CPU kernel's
own code compiled as device functions (see :mod:`gpudecode.kernels.linear_svm_cuda` for the
layout; host plumbing in :mod:`gpudecode.kernels._gpu`; scratch as
:func:`gpudecode.kernels.logistic.scratch_shapes` declares it). ``numba.cuda`` is imported
only on first use.
"""

from __future__ import annotations

import functools

from ._gpu import prepare_batch, run_per_thread, usable_cuda
from ._prep import device_functions
from .logistic import SCRATCH_DTYPES, build, check_params, scratch_shapes, uses_gram

__all__ = ["fit_predict_logistic_cuda"]


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
               tol, max_iter, use_gram, out, XTR, XTE, MV, KG, MS, FS, CNT, DEC):
        tid = cuda.grid(1)
        n_threads = FS.shape[1]
        if tid >= n_threads:
            return
        xtr = XTR[:, :, tid]
        xte = XTE[:, :, tid]
        ms = MV[:, :, tid]
        K = KG[:, :, tid]
        M = MS[:, :, tid]
        fs = FS[:, tid]
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
                gram(xtr, ntr, d, 0.0, K)
            solve_labelset(xtr, xte, K, ntr, nte, d, use_gram, Y[lab], train_idx[s], n_classes,
                           balanced, C, tol, max_iter, counts, fs, M, dec, out[c, lab, s])

    return cuda.jit(kernel)


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
    return run_per_thread(_kernel, kind, arrays, n_classes, shapes, SCRATCH_DTYPES,
                          bool(standardize), bool(class_weight_balanced), C, tol, max_iter,
                          use_gram)

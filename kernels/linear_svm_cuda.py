"""numba.cuda twin of :func:`gpudecode.kernels.linear_svm.fit_predict_linear_svm`.

Also home of the host plumbing shared by the batched classifier GPU twins
(``logistic_cuda``, ``lda_cuda``): input checks and transfers, scratch sizing, launch.

GPU layout: one thread per problem (cell x label set x slot), in a grid-stride loop over
the flattened batch, so any batch fits a grid of at most ``MAX_THREADS`` threads. Each
thread owns a slice of preallocated global-memory scratch arrays whose *last* axis is the
thread, so neighbouring threads touch neighbouring addresses (coalesced). The scratch is
sized by the number of resident threads, not by the batch, and capped at
``SCRATCH_FRACTION`` of free device memory. Every thread runs the same per-problem device
functions as the CPU kernel (compiled from the same Python source), with the same
deterministic coordinate order, so both give the same predictions; on a real GPU the
compiler may fuse multiply-adds, which can flip a prediction that sits on a tie.

``numba.cuda`` is imported only when a kernel is first needed; with
``NUMBA_ENABLE_CUDASIM=1`` set before numba is imported, the kernels run in numba's CUDA
simulator (slow: tiny inputs only).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..errors import DeviceError, ParameterError
from ._prep import check_batch, check_batch_shapes, device_functions
from .linear_svm import build, check_params, float_scratch_size, int_scratch_size, polish_cap
from .linear_svm import uses_gram
from .windowing_cuda import GPU_FIX, cuda_module, simulator_enabled

__all__ = ["fit_predict_linear_svm_cuda", "usable_cuda", "prepare_batch", "scratch_threads",
           "launch", "finish", "empty_result", "device_array"]

THREADS_PER_BLOCK = 64
MAX_THREADS = 1 << 17
SIM_MAX_THREADS = 64
SCRATCH_FRACTION = 0.5
FALLBACK_FREE_BYTES = 1 << 30

cuda = None  # numba.cuda, bound on first use; kernels see it as a global


def usable_cuda():
    """Import numba.cuda (binding this module's ``cuda``) and check that it can run kernels."""
    global cuda
    cuda = cuda_module()
    if not cuda.is_available():
        raise DeviceError("numba.cuda sees no usable CUDA GPU (driver, device or NVVM missing).",
                          field="device", fix=GPU_FIX)
    return cuda


def array_kind(x) -> str:
    """``"numpy"``, ``"cupy"`` or ``"numba"`` (a numba device array or other CUDA array)."""
    if isinstance(x, np.ndarray):
        return "numpy"
    if type(x).__module__.split(".")[0] == "cupy":
        return "cupy"
    if hasattr(x, "__cuda_array_interface__") or hasattr(x, "copy_to_host"):
        return "numba"
    return "numpy"


def _to_host(x):
    kind = array_kind(x)
    if kind == "cupy":
        return x.get()
    if kind == "numba":
        return x.copy_to_host()
    return np.asarray(x)


_DEVICE_DTYPES = {"X": (np.float32, np.float64), "Y": (np.int32,), "train_idx": (np.int32,),
                  "n_train": (np.int32,), "test_idx": (np.int32,), "n_test": (np.int32,)}


def prepare_batch(X, Y, train_idx, n_train, test_idx, n_test, n_classes):
    """Check a batch and return it on the device.

    Host (NumPy) ``X``: every array is checked as for the CPU kernels (shapes, index and
    label ranges, finite features) and copied to the device. Device ``X`` (CuPy or numba):
    shapes and dtypes are checked (float32/float64 features, int32 indices and labels),
    values are not (that would need a copy back); host arrays passed with it are copied over.

    Returns
    -------
    kind : str
        ``"numpy"``, ``"cupy"`` or ``"numba"``: the kind of ``X``, and of the result.
    arrays : tuple
        Device arrays ``(X, Y, train_idx, n_train, test_idx, n_test)``.
    n_classes : int

    Raises
    ------
    ShapeError, ParameterError, NonFiniteError
        As :func:`gpudecode.kernels._prep.check_batch`; ParameterError for device arrays of
        the wrong dtype.
    DeviceError
        If numba.cuda cannot run (no GPU and no simulator).
    """
    kind = array_kind(X)
    cu = usable_cuda()
    arrays = (X, Y, train_idx, n_train, test_idx, n_test)
    if kind == "numpy":
        host = check_batch(*[_to_host(a) for a in arrays], n_classes)
        return kind, tuple(cu.to_device(a) for a in host[:6]), host[6]
    n_classes = check_batch_shapes(*[tuple(a.shape) for a in arrays], n_classes)
    out = []
    for name, a in zip(_DEVICE_DTYPES, arrays):
        allowed = _DEVICE_DTYPES[name]
        if array_kind(a) == "numpy":
            a = np.asarray(a)
            if a.dtype not in allowed:
                a = a.astype(allowed[-1] if name == "X" else np.int32)
            out.append(cu.to_device(np.ascontiguousarray(a)))
            continue
        if np.dtype(a.dtype) not in allowed:
            raise ParameterError(
                f"device array {name} has dtype {a.dtype}; the GPU kernels read "
                f"{' or '.join(np.dtype(t).name for t in allowed)}.", field=name,
                fix=f"convert {name} before moving it to the device, or pass NumPy arrays.")
        out.append(a)
    return kind, tuple(out), n_classes


def scratch_threads(n_problems: int, float_elems: int, int_elems: int) -> int:
    """Resident threads for a kernel: at most one per problem, capped by scratch memory."""
    per_thread = 8 * float_elems + 4 * int_elems
    if simulator_enabled():
        cap = SIM_MAX_THREADS
    else:
        try:
            free = cuda.current_context().get_memory_info()[0]
        except Exception:
            free = FALLBACK_FREE_BYTES
        if not math.isfinite(free):
            free = FALLBACK_FREE_BYTES
        cap = int(SCRATCH_FRACTION * free) // max(per_thread, 1)
        if cap < 1:
            raise DeviceError(f"one thread's scratch ({per_thread} bytes) does not fit in free "
                              f"GPU memory ({free} bytes).", field="device",
                              fix="free GPU memory or decode fewer trials or features at once.")
    return max(1, min(n_problems, MAX_THREADS, cap))


def device_array(shape, dtype):
    """An uninitialised numba device array."""
    return cuda.device_array(shape, dtype=dtype)


def launch(kernel, n_threads: int, *args) -> None:
    """Launch ``kernel`` with ``n_threads`` threads (rounded up to whole blocks)."""
    tpb = min(THREADS_PER_BLOCK, n_threads)
    kernel[-(-n_threads // tpb), tpb](*args)


def finish(d_out, kind: str):
    """Return the result as the caller's kind of array: NumPy, CuPy or numba device array."""
    if kind == "numpy":
        return d_out.copy_to_host()
    if kind == "cupy":
        import cupy
        return cupy.asarray(d_out)
    return d_out


def empty_result(shape, kind: str):
    """A result with no entries, as the caller's kind of array."""
    out = np.full(shape, -1, dtype=np.int32)
    if kind == "numpy":
        return out
    if kind == "cupy":
        import cupy
        return cupy.asarray(out)
    return cuda.to_device(out)


@functools.cache
def _kernel():
    usable_cuda()
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
    kind, (dX, dY, dtr, dntr, dte, dnte), n_classes = prepare_batch(
        X, Y, train_idx, n_train, test_idx, n_test, n_classes)
    n_cells, _, d = dX.shape
    n_sets = dY.shape[0]
    n_slots, m = dtr.shape
    mt = dte.shape[1]
    shape = (n_cells, n_sets, n_slots, mt)
    if not np.prod(shape):
        return empty_result(shape, kind)
    gram_form = uses_gram(m, d)
    mg = m if gram_form else 1
    cap = polish_cap(m, d)
    mt1 = max(mt, 1)
    fsz = float_scratch_size(m, d)
    isz = int_scratch_size(m, d)
    n_threads = scratch_threads(
        int(np.prod(shape[:3])),
        m * d + mt1 * d + 2 * d + mg * mg + cap * cap + fsz + mt1 * n_classes,
        isz + n_classes)
    d_out = device_array(shape, np.int32)
    launch(_kernel(), n_threads, dX, dY, dtr, dntr, dte, dnte, n_classes, bool(standardize),
           bool(class_weight_balanced), C, tol, max_iter, gram_form, d_out,
           device_array((m, d, n_threads), np.float64),
           device_array((mt1, d, n_threads), np.float64),
           device_array((2, d, n_threads), np.float64),
           device_array((mg, mg, n_threads), np.float64),
           device_array((cap, cap, n_threads), np.float64),
           device_array((fsz, n_threads), np.float64),
           device_array((isz, n_threads), np.int32),
           device_array((n_classes, n_threads), np.int32),
           device_array((mt1, n_classes, n_threads), np.float64))
    return finish(d_out, kind)

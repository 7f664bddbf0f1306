"""numba.cuda twin of :func:`gpudecode.kernels.windowing.sliding_mean`.

One thread per (trial x cell row, window) on a 2-D grid (x: windows, y: rows),
with grid-stride loops so any size fits the grid limits. Sums run in float64 in
the same order as the CPU kernel, so both give the same float32 values.

``numba.cuda`` is imported only when a kernel is first needed, so importing this
module never fails on a machine without CUDA. With ``NUMBA_ENABLE_CUDASIM=1`` set
before numba is imported, the kernel runs in numba's CUDA simulator (slow; for
tests on tiny inputs).
"""

from __future__ import annotations

import functools

import numpy as np

from ..errors import ParameterError
from ._gpu import array_kind, usable_cuda
from .windowing import as_host_epochs, check_epochs_array, check_window

__all__ = ["sliding_mean_cuda"]

THREADS_PER_BLOCK = 256
MAX_GRID_Y = 65535

cuda = None  # numba.cuda, bound on first use; the kernel must see it as a global


def _sliding_mean_kernel(x, width, step, out):
    n_cells = x.shape[1]
    n_rows = x.shape[0] * n_cells
    n_win = out.shape[2]
    w0, r0 = cuda.grid(2)
    w_stride, r_stride = cuda.gridsize(2)
    for row in range(r0, n_rows, r_stride):
        t = row // n_cells
        c = row - t * n_cells
        for w in range(w0, n_win, w_stride):
            start = w * step
            # explicit float64: in the simulator, plain Python arithmetic would
            # keep float32 (NumPy 2 promotion) and drift from the CPU kernel
            acc = np.float64(0.0)
            for k in range(width):
                acc += np.float64(x[t, c, start + k])
            out[t, c, w] = acc / width


@functools.cache
def _kernel():
    global cuda
    cuda = usable_cuda()
    return cuda.jit(_sliding_mean_kernel)


def _launch(x, width: int, step: int, out) -> None:
    n_rows = out.shape[0] * out.shape[1]
    n_win = out.shape[2]
    tx = min(32, n_win)
    ty = max(1, min(THREADS_PER_BLOCK // tx, n_rows))
    blocks = (-(-n_win // tx), min(-(-n_rows // ty), MAX_GRID_Y))
    _kernel()[blocks, (tx, ty)](x, width, step, out)


def sliding_mean_cuda(x, width: int, step: int):
    """Mean over sliding windows of frames, on the GPU with numba.cuda.

    Parameters
    ----------
    x : ndarray, cupy.ndarray or numba device array, shape (n_trials, n_cells, n_frames)
        Trials x cells x frames. Device arrays must be float32 or float64 (CuPy
        arrays of other real dtypes are cast to float64 on the device); host
        arrays of any real dtype are accepted, as for the CPU kernel.
    width : int
        Frames per window, ``1 <= width <= n_frames``.
    step : int
        Frames between the starts of consecutive windows, ``>= 1``.

    Returns
    -------
    out : float32 array, shape (n_trials, n_cells, n_windows)
        Same values as :func:`~gpudecode.kernels.sliding_mean`, and the same kind
        of array as ``x``: NumPy in, NumPy out; CuPy in, CuPy out; numba device
        array in, numba device array out.

    Raises
    ------
    ParameterError, ShapeError
        As for the CPU kernel.
    DeviceError
        If numba.cuda cannot run (no GPU and no simulator).
    """
    kind = array_kind(x)
    if kind == "numpy":
        x = as_host_epochs(x)
    else:
        check_epochs_array(tuple(x.shape), x.dtype)
    width, step, n_win = check_window(width, step, x.shape[2])
    shape = (x.shape[0], x.shape[1], n_win)
    cuda = usable_cuda()

    if kind == "cupy":
        import cupy

        if x.dtype not in (np.float32, np.float64):
            x = x.astype(cupy.float64)
        out = cupy.empty(shape, dtype=cupy.float32)
        if out.size:
            _launch(x, width, step, out)
        return out

    if kind == "numba":
        if np.dtype(x.dtype) not in (np.float32, np.float64):
            raise ParameterError(
                f"device array has dtype {x.dtype}; the GPU kernel reads float32 or float64.",
                field="x", fix="convert on the host (x.astype('float32')) before copying it "
                               "to the device, or pass the NumPy array.")
        out = cuda.device_array(shape, dtype=np.float32)
        if out.size:
            _launch(x, width, step, out)
        return out

    if not np.prod(shape):
        return np.empty(shape, dtype=np.float32)
    d_out = cuda.device_array(shape, dtype=np.float32)
    _launch(cuda.to_device(x), width, step, d_out)
    return d_out.copy_to_host()

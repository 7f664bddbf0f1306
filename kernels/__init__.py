"""Compute kernels: Numba CPU kernels and their numba.cuda GPU twins.

Installed as ``gpudecode.kernels``. The CPU kernels are module-level ``njit(cache=True,
nogil=True)`` functions, compiled once per machine into Numba's disk cache
(:mod:`gpudecode._numba_cache`, :mod:`gpudecode.kernels.warmup`); per-problem device functions
are written once and compiled for both targets (:func:`gpudecode.kernels._prep.device`), and
so is each kernel's scratch layout (``scratch_shapes`` in the CPU module: the CPU driver and
the GPU twin allocate from it). The GPU plumbing the twins share (CUDA availability, array
kinds, device batches, grid sizing, scratch budget) is :mod:`gpudecode.kernels._gpu`. The GPU
twins are imported lazily, so ``import gpudecode.kernels`` never touches CUDA.
"""

from .windowing import check_window, sliding_mean

__all__ = ["sliding_mean", "sliding_mean_cuda", "check_window"]


def __getattr__(name):
    if name == "sliding_mean_cuda":
        from .windowing_cuda import sliding_mean_cuda
        return sliding_mean_cuda
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""GPU plumbing shared by the numba.cuda kernel twins, in one place.

- whether numba.cuda can run (:func:`simulator_enabled`, :func:`numba_cuda_problem`,
  :func:`usable_cuda`, checked once per process; the backend's device choice,
  :mod:`gpudecode.backend`, asks the same functions) and which GPU paths are usable
  (:func:`gpu_methods`: CuPy, numba.cuda);
- which kind of array the caller passed and how to hand the result back in that kind
  (:func:`array_kind`, :func:`to_host`, :func:`finish`, :func:`empty_result`);
- a batch of the classifier kernels on the device (:func:`prepare_batch`,
  :func:`device_batch`);
- grid sizing (:func:`grid_1d`, :func:`grid_2d`, :func:`launch`) and the scratch budget:
  how many threads or (cell, slot) pairs fit in device memory (:func:`scratch_threads`,
  :func:`scratch_budget`, :func:`pairs_per_chunk`), and the scratch itself, allocated from
  the layout the CPU kernel declares (:func:`layout_bytes`, :func:`scratch_arrays`);
- the one-thread-per-problem kernel the linear classifiers' twins share
  (:func:`per_thread_kernel`, :func:`run_per_thread`).

A scratch layout is a tuple of array shapes returned by the CPU module's
``*_scratch_shapes`` function plus the matching tuple of dtypes (``*_SCRATCH_DTYPES``); the
CPU kernel allocates its scratch from the same function, so both twins use one declaration.

``numba.cuda`` is imported only when a kernel first needs it, so importing this module
never fails on a machine without CUDA. With ``NUMBA_ENABLE_CUDASIM=1`` set before numba is
imported, the kernels run in numba's CUDA simulator (slow: tiny inputs only).
"""

from __future__ import annotations

import functools
import math
import numbers
import os

import numpy as np

from ..errors import DeviceError, ParameterError
from ._prep import check_batch, check_batch_shapes

__all__ = [
    "GPU_FIX", "simulator_enabled", "cuda_module", "numba_cuda_problem", "usable_cuda",
    "gpu_methods",
    "array_kind", "to_host", "prepare_batch", "device_batch", "finish", "empty_result",
    "device_array", "grid_1d", "grid_2d", "launch", "scratch_threads", "scratch_budget",
    "pairs_per_chunk", "layout_bytes", "scratch_arrays", "per_thread_kernel", "run_per_thread",
]

GPU_FIX = ("install the gpu extra: pip install 'gpudecode[gpu]' on a machine with an NVIDIA "
           "GPU, or use --device cpu.")

THREADS_PER_BLOCK = 64
MAX_THREADS = 1 << 17
SIM_MAX_THREADS = 64
SCRATCH_FRACTION = 0.5
FALLBACK_FREE_BYTES = 1 << 30
DEFAULT_MAX_SCRATCH = 1 << 30

_cuda = None  # numba.cuda once usable_cuda() has found it usable


# ----------------------------------------------------------------------------- availability

def simulator_enabled() -> bool:
    """Return True when numba.cuda runs in the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``).

    Numba reads the variable when it is first imported; its own config wins over
    the current environment.
    """
    try:
        from numba import config
        return bool(config.ENABLE_CUDASIM)
    except Exception:
        return os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"


def cuda_module():
    """Import and return ``numba.cuda``.

    Raises
    ------
    DeviceError
        If ``numba.cuda`` cannot be imported.
    """
    try:
        from numba import cuda
    except Exception as exc:  # broken CUDA installs fail in many ways
        raise DeviceError(f"numba.cuda failed to import ({type(exc).__name__}: {exc}).",
                          field="device", fix=GPU_FIX) from None
    return cuda


def numba_cuda_problem() -> str:
    """Why numba.cuda cannot run kernels here, or ``""`` when it can (a GPU or the simulator)."""
    try:
        from numba import cuda
        usable = cuda.is_available()
    except Exception as exc:
        return f"numba.cuda failed to import: {type(exc).__name__}: {exc}"
    if not usable:
        return ("numba.cuda cannot use the GPU (CUDA driver or NVVM missing; the gpu extra "
                "installs numba-cuda[cu12])")
    return ""


def usable_cuda():
    """Return ``numba.cuda`` if it can run kernels; checked once per process.

    Raises
    ------
    DeviceError
        numba.cuda does not import or sees no usable GPU.
    """
    global _cuda
    if _cuda is None:
        cuda = cuda_module()
        problem = numba_cuda_problem()
        if problem:
            raise DeviceError(f"{problem}.", field="device", fix=GPU_FIX)
        _cuda = cuda
    return _cuda


def gpu_methods() -> tuple[str, ...]:
    """The GPU paths usable here: ``("cupy", "numba")``, ``("numba",)`` or ``()``.

    ``"cupy"``: CuPy imports and sees a CUDA device (cuBLAS paths); ``"numba"``: numba.cuda
    runs kernels (a GPU or the simulator).
    """
    found = []
    try:
        import cupy
        cupy.cuda.runtime.getDeviceCount()
        found.append("cupy")
    except Exception:  # a CuPy without a driver can fail in odd ways
        pass
    if not numba_cuda_problem():
        found.append("numba")
    return tuple(found)


# ----------------------------------------------------------------------------- array kinds

def array_kind(x) -> str:
    """``"numpy"``, ``"cupy"`` or ``"numba"`` (a numba device array or another CUDA array)."""
    if isinstance(x, np.ndarray):
        return "numpy"
    if type(x).__module__.split(".")[0] == "cupy":
        return "cupy"
    if hasattr(x, "__cuda_array_interface__") or hasattr(x, "copy_to_host"):
        return "numba"
    return "numpy"


def to_host(x) -> np.ndarray:
    """``x`` as a NumPy array (copied from the device if needed; NumPy arrays as they are)."""
    kind = array_kind(x)
    if kind == "cupy":
        return x.get()
    if kind == "numba":
        if hasattr(x, "copy_to_host"):
            return x.copy_to_host()
        return usable_cuda().as_cuda_array(x).copy_to_host()  # another CUDA array
    return np.asarray(x)


def finish(d_out, kind: str):
    """Return the result as the caller's kind of array: NumPy, CuPy or numba device array."""
    if kind == "numpy":
        return d_out.copy_to_host()
    if kind == "cupy":
        import cupy
        return cupy.asarray(d_out)
    return d_out


def empty_result(shape, kind: str):
    """A result with no entries (all -1), as the caller's kind of array."""
    out = np.full(shape, -1, dtype=np.int32)
    if kind == "numpy":
        return out
    if kind == "cupy":
        import cupy
        return cupy.asarray(out)
    return usable_cuda().to_device(out)


# ----------------------------------------------------------------------------- batches

_DEVICE_DTYPES = {"X": (np.float32, np.float64), "Y": (np.int32,), "train_idx": (np.int32,),
                  "n_train": (np.int32,), "test_idx": (np.int32,), "n_test": (np.int32,)}


def prepare_batch(X, Y, train_idx, n_train, test_idx, n_test, n_classes):
    """Check a batch and return it on the device (the per-thread classifier twins).

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
        host = check_batch(*[to_host(a) for a in arrays], n_classes)
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


def device_batch(X, Y, train_idx, n_train, test_idx, n_test, n_classes):
    """Check a batch and put it on the device (the chunked twins: RBF SVM, tree).

    Host (NumPy) input is fully checked (:func:`gpudecode.kernels._prep.check_batch`) and
    copied; device input (numba device arrays, CuPy) is checked for shapes and dtypes only.

    Returns
    -------
    cuda, on_host, (X, Y, train_idx, n_train, test_idx, n_test), n_classes

    Raises
    ------
    ShapeError, ParameterError, NonFiniteError
        As :func:`gpudecode.kernels._prep.check_batch`; ParameterError for a batch mixing
        host and device arrays or device arrays of the wrong dtype.
    DeviceError
        If numba.cuda cannot run (no GPU and no simulator).
    """
    cuda = usable_cuda()
    kinds = {array_kind(a) for a in (X, Y, train_idx, n_train, test_idx, n_test)}
    if kinds == {"numpy"}:
        X, Y, train_idx, n_train, test_idx, n_test, n_classes = check_batch(
            X, Y, train_idx, n_train, test_idx, n_test, n_classes)
        arrays = [cuda.to_device(a) for a in (X, Y, train_idx, n_train, test_idx, n_test)]
        return cuda, True, arrays, n_classes
    if "numpy" in kinds:
        raise ParameterError("the batch mixes host (NumPy) and device arrays.", field="X",
                             fix="pass all six arrays as NumPy, or all on the device.")
    n_classes = check_batch_shapes(X.shape, Y.shape, train_idx.shape, n_train.shape,
                                   test_idx.shape, n_test.shape, n_classes)
    if np.dtype(X.dtype) not in (np.float32, np.float64):
        raise ParameterError(f"device array X has dtype {X.dtype}; the GPU kernels read "
                             "float32 or float64.", field="X",
                             fix="convert on the host (X.astype('float32')) first.")
    for name, a in (("Y", Y), ("train_idx", train_idx), ("n_train", n_train),
                    ("test_idx", test_idx), ("n_test", n_test)):
        if np.dtype(a.dtype).kind not in "iu":
            raise ParameterError(f"device array {name} has dtype {a.dtype}; it must hold "
                                 "integers.", field=name, fix=f"pass {name} as int32.")
    return cuda, False, [X, Y, train_idx, n_train, test_idx, n_test], n_classes


# ----------------------------------------------------------------------------- grids

def grid_1d(n: int, threads_per_block: int = THREADS_PER_BLOCK) -> tuple[int, int]:
    """``(blocks, threads)`` covering ``n`` threads (at least one block)."""
    return max(1, -(-n // threads_per_block)), threads_per_block


def grid_2d(n: int, tile: int = 16) -> tuple[tuple[int, int], tuple[int, int]]:
    """``(blocks, threads)`` covering an ``n x n`` grid with ``tile x tile`` blocks."""
    b = max(1, -(-n // tile))
    return (b, b), (tile, tile)


def launch(kernel, n_threads: int, *args) -> None:
    """Launch ``kernel`` with ``n_threads`` threads (rounded up to whole blocks)."""
    tpb = min(THREADS_PER_BLOCK, n_threads)
    kernel[-(-n_threads // tpb), tpb](*args)


# ----------------------------------------------------------------------------- scratch

def layout_bytes(shapes, dtypes) -> int:
    """Bytes of one set of scratch arrays: ``shapes[i]`` of ``dtypes[i]``."""
    if len(shapes) != len(dtypes):
        raise ValueError(f"{len(shapes)} scratch shapes but {len(dtypes)} dtypes")
    return sum(math.prod(shape) * np.dtype(dt).itemsize for shape, dt in zip(shapes, dtypes))


def device_array(shape, dtype):
    """An uninitialised numba device array."""
    return usable_cuda().device_array(shape, dtype=dtype)


def scratch_arrays(shapes, dtypes, n: int, *, lead: bool = True) -> list:
    """One device array per scratch array of a layout, for ``n`` threads or problems.

    ``lead=True``: shape ``(n, *shape)`` (one row per problem or pair); ``lead=False``:
    ``(*shape, n)`` (the thread axis last, so neighbouring threads touch neighbouring
    addresses).
    """
    if len(shapes) != len(dtypes):
        raise ValueError(f"{len(shapes)} scratch shapes but {len(dtypes)} dtypes")
    return [device_array((n, *shape) if lead else (*shape, n), dt)
            for shape, dt in zip(shapes, dtypes)]


def _free_device_bytes():
    """Free device memory in bytes, or None where it is not reported (the simulator)."""
    try:
        free = usable_cuda().current_context().get_memory_info()[0]
    except Exception:
        return None
    return free if math.isfinite(free) else None


def scratch_threads(n_problems: int, bytes_per_thread: int) -> int:
    """Resident threads for a per-thread kernel: at most one per problem, capped by scratch.

    At most ``MAX_THREADS`` (``SIM_MAX_THREADS`` in the simulator), and no more than
    ``SCRATCH_FRACTION`` of free device memory holds.

    Raises
    ------
    DeviceError
        One thread's scratch does not fit.
    """
    if simulator_enabled():
        cap = SIM_MAX_THREADS
    else:
        free = _free_device_bytes()
        free = FALLBACK_FREE_BYTES if free is None else free
        cap = int(SCRATCH_FRACTION * free) // max(bytes_per_thread, 1)
        if cap < 1:
            raise DeviceError(f"one thread's scratch ({bytes_per_thread} bytes) does not fit in "
                              f"free GPU memory ({free} bytes).", field="device",
                              fix="free GPU memory or decode fewer trials or features at once.")
    return max(1, min(n_problems, MAX_THREADS, cap))


def scratch_budget(max_scratch_bytes=None) -> int:
    """Bytes the chunked kernels may use for scratch buffers per chunk.

    ``max_scratch_bytes`` when given; else a quarter of the free device memory, between
    1 MiB and ``DEFAULT_MAX_SCRATCH`` (that default where memory is not reported).

    Raises
    ------
    ParameterError
        ``max_scratch_bytes`` is not a whole number > 0.
    """
    if max_scratch_bytes is not None:
        if isinstance(max_scratch_bytes, bool) or not isinstance(max_scratch_bytes,
                                                                   numbers.Integral) \
                or max_scratch_bytes < 1:
            raise ParameterError(f"max_scratch_bytes must be a whole number > 0, got "
                                 f"{max_scratch_bytes!r}.", field="max_scratch_bytes",
                                 fix="pass e.g. max_scratch_bytes=2**28, or leave it None.")
        return int(max_scratch_bytes)
    free = _free_device_bytes()
    if free is None:
        return DEFAULT_MAX_SCRATCH
    return int(max(min(free // 4, DEFAULT_MAX_SCRATCH), 1 << 20))


def pairs_per_chunk(budget: int, per_pair: int, per_problem: int, n_sets: int,
                    n_pairs: int) -> int:
    """How many (cell, slot) pairs, each with ``n_sets`` problems, fit in ``budget`` bytes."""
    per = per_pair + n_sets * per_problem
    return int(max(1, min(n_pairs, budget // max(per, 1))))


@functools.cache
def per_thread_kernel(solve, n_params: int, scratch_ndims: tuple):
    """A kernel solving one problem (cell x label set x slot) per thread.

    The threads walk the flattened batch in a grid-stride loop; each takes its slice of
    every scratch array (thread axis last) and calls the CPU kernel's per-pair step compiled
    for the GPU, ``solve(X, Y, train_idx, n_train, test_idx, n_test, c, s, lab, lab + 1,
    n_classes, *params, out, *scratch)`` (e.g. :func:`gpudecode.kernels.logistic.solve_pair`).
    The kernel's arguments are ``(X, Y, train_idx, n_train, test_idx, n_test, n_classes,
    *params, out, *scratch)``. Its source is written out here because a CUDA kernel takes
    no ``*args``; one kernel is compiled per (solve, number of parameters, scratch ranks).
    """
    params = [f"p{i}" for i in range(n_params)]
    scratch = [f"S{i}" for i in range(len(scratch_ndims))]
    views = [f"v{i}" for i in range(len(scratch_ndims))]
    lines = [
        "def kernel(X, Y, train_idx, n_train, test_idx, n_test, n_classes, "
        f"{', '.join([*params, 'out', *scratch])}):",
        "    tid = cuda.grid(1)",
        f"    n_threads = S0.shape[{scratch_ndims[0]}]",
        "    if tid >= n_threads:",
        "        return",
        *[f"    {v} = {S}[{':, ' * nd}tid]" for v, S, nd in zip(views, scratch, scratch_ndims)],
        "    n_sets = Y.shape[0]",
        "    n_slots = train_idx.shape[0]",
        "    for p in range(tid, X.shape[0] * n_slots * n_sets, n_threads):",
        "        lab = p % n_sets",
        "        rest = p // n_sets",
        "        s = rest % n_slots",
        "        c = rest // n_slots",
        "        solve(X, Y, train_idx, n_train, test_idx, n_test, c, s, lab, lab + 1, "
        f"n_classes, {', '.join([*params, 'out', *views])})",
    ]
    cuda = usable_cuda()
    scope = {"cuda": cuda, "solve": solve}
    exec(compile("\n".join(lines) + "\n", f"<per_thread_kernel {n_params} {scratch_ndims}>",
                 "exec"), scope)
    return cuda.jit(scope["kernel"])


def run_per_thread(make_solve, kind: str, arrays, n_classes: int, shapes, dtypes, *params):
    """Solve a batch with one thread per problem and return the predictions.

    Launches :func:`per_thread_kernel` for ``make_solve()`` with ``out`` int32
    (n_cells, n_labelsets, n_slots, max_test) and one scratch array per entry of the
    layout (``shapes``, ``dtypes``), the thread axis last; the thread count is
    :func:`scratch_threads` for the layout's bytes.

    Parameters
    ----------
    make_solve : callable
        Returns the per-pair step compiled for the GPU (called only for a non-empty batch).
    kind, arrays, n_classes
        As :func:`prepare_batch` returns them.
    shapes, dtypes : tuple
        One problem's scratch layout, as the CPU kernel declares it.
    *params
        The solver's hyper-parameters, in its order.

    Returns
    -------
    pred : int32 array, shape (n_cells, n_labelsets, n_slots, max_test)
        The caller's kind of array (:func:`finish`).
    """
    X, Y, train_idx, _, test_idx, _ = arrays
    shape = (X.shape[0], Y.shape[0], train_idx.shape[0], test_idx.shape[1])
    if not math.prod(shape):
        return empty_result(shape, kind)
    kernel = per_thread_kernel(make_solve(), len(params), tuple(len(s) for s in shapes))
    n_threads = scratch_threads(math.prod(shape[:3]), layout_bytes(shapes, dtypes))
    d_out = device_array(shape, np.int32)
    launch(kernel, n_threads, *arrays, n_classes, *params, d_out,
           *scratch_arrays(shapes, dtypes, n_threads, lead=False))
    return finish(d_out, kind)

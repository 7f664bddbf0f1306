"""The compute backend: CPU (NumPy + Numba) or GPU (CuPy + numba.cuda), chosen once per run.

``Backend.from_device("auto")`` uses the GPU when CuPy sees a CUDA device and
numba.cuda can use it, and otherwise the CPU; ``backend.reason`` says which it
picked and why. ``"gpu"`` without a usable GPU raises :class:`DeviceError` that
names the check that failed.

The first CPU backend on a machine compiles every CPU kernel into Numba's disk cache and
says so on stderr (``compiling kernels (first run on this machine, ~N s)... done in X s``);
later processes load the compiled kernels silently (:mod:`gpudecode._numba_cache`).

Testing the GPU code path without a GPU: run Python with ``NUMBA_ENABLE_CUDASIM=1``
set before numba is imported and call ``Backend.from_device("gpu",
allow_simulator=True)``. That backend runs the numba.cuda kernels in numba's CUDA
simulator (slow, tiny inputs only) with NumPy arrays (``xp`` is numpy).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from ._numba_cache import warm_kernels
from .errors import DeviceError, ParameterError
from .kernels import sliding_mean as _sliding_mean_cpu
from .kernels._gpu import GPU_FIX, numba_cuda_problem, simulator_enabled, to_host
from .kernels.windowing_cuda import sliding_mean_cuda

__all__ = ["Backend", "DEVICES", "probe_gpu", "GpuProbe"]

DEVICES = ("auto", "cpu", "gpu")

@dataclass(frozen=True)
class GpuProbe:
    """Outcome of looking for a usable GPU.

    Attributes
    ----------
    usable : bool
        CuPy imports, sees at least one CUDA device, and numba.cuda can use it.
    why : str
        When not usable, which import or check failed; otherwise empty.
    device_name : str
        E.g. ``"NVIDIA H100 80GB HBM3 (79 GiB)"``; empty when not usable.
    cupy : module or None
        The imported ``cupy`` module when usable.
    """

    usable: bool
    why: str = ""
    device_name: str = ""
    cupy: ModuleType | None = None


def probe_gpu() -> GpuProbe:
    """Check, in order, that CuPy imports, sees a CUDA device, and numba.cuda can use it."""
    try:
        import cupy
    except ModuleNotFoundError as exc:
        if exc.name == "cupy":
            return GpuProbe(False, "CuPy not installed")
        return GpuProbe(False, f"CuPy failed to import: {exc}")
    except Exception as exc:  # a CuPy without a driver can fail in odd ways
        return GpuProbe(False, f"CuPy failed to import: {type(exc).__name__}: {exc}")
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return GpuProbe(False, f"CuPy cannot reach a CUDA driver: {type(exc).__name__}: {exc}")
    if n_devices < 1:
        return GpuProbe(False, "no CUDA device visible to CuPy")

    if simulator_enabled():
        return GpuProbe(False, "NUMBA_ENABLE_CUDASIM=1 turns numba.cuda into a CPU simulator")
    problem = numba_cuda_problem()
    if problem:
        return GpuProbe(False, problem)
    return GpuProbe(True, device_name=_cupy_device_name(cupy), cupy=cupy)


def _cupy_device_name(cupy) -> str:
    try:
        dev = cupy.cuda.Device()
        props = cupy.cuda.runtime.getDeviceProperties(dev.id)
        name = props["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
        return f"{name} ({props['totalGlobalMem'] / 2**30:.0f} GiB)"
    except Exception:
        return "CUDA device"


def _cpu_description() -> str:
    import numba
    return f"CPU (Numba, {numba.get_num_threads()} threads)"


def host_free_memory_bytes() -> int:
    """Return the host memory available to new allocations, in bytes.

    Reads ``MemAvailable`` from ``/proc/meminfo`` (Linux; counts reclaimable
    cache), else free physical pages from ``os.sysconf``, else half the
    physical memory, else 2 GiB.
    """
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return 2 * 2**30


@dataclass(frozen=True)
class Backend:
    """Where the numbers are crunched: CPU or GPU, chosen once per run.

    Build it with :meth:`from_device`.

    Attributes
    ----------
    name : {"cpu", "gpu"}
    xp : module
        The array module: ``numpy`` on the CPU (and in the CUDA simulator),
        ``cupy`` on the GPU.
    reason : str
        One sentence saying what was picked and why, for the user and summary.json.
    device_name : str
        E.g. ``"CPU (Numba, 2 threads)"`` or ``"NVIDIA H100 80GB HBM3 (79 GiB)"``.
    simulator : bool
        True for a GPU backend running numba.cuda in the CUDA simulator (tests only).
    """

    name: str
    xp: ModuleType = field(repr=False)
    reason: str
    device_name: str
    simulator: bool = False

    @classmethod
    def from_device(cls, device: str = "auto", verbose: bool = False, *,
                    allow_simulator: bool = False) -> Backend:
        """Choose the backend for ``--device auto|cpu|gpu``.

        Parameters
        ----------
        device : {"auto", "cpu", "gpu"}
            ``auto`` uses a usable GPU if there is one, else the CPU; ``gpu``
            requires one.
        verbose : bool
            Print :attr:`reason` to stderr.
        allow_simulator : bool
            With ``device="gpu"`` and ``NUMBA_ENABLE_CUDASIM=1`` in effect, return
            a GPU backend that runs the numba.cuda kernels in the simulator with
            NumPy arrays. For tests; ``auto`` never picks the simulator.

        Raises
        ------
        ParameterError
            ``device`` is not one of auto, cpu, gpu.
        DeviceError
            ``device="gpu"`` and no usable GPU; the message says which check failed.
        """
        backend = cls._choose(device, allow_simulator)
        if verbose:
            print(backend.reason, file=sys.stderr)
        return backend

    @classmethod
    def _choose(cls, device, allow_simulator: bool) -> Backend:
        key = device.strip().lower() if isinstance(device, str) else device
        if key not in DEVICES:
            raise ParameterError(f"unknown device {device!r}.", field="device",
                                 fix="use --device auto, cpu or gpu.")
        if key == "cpu":
            return cls._cpu("cpu: requested")
        if key == "gpu" and allow_simulator:
            if simulator_enabled():
                return cls("gpu", np, "gpu: NUMBA_ENABLE_CUDASIM=1, using the numba.cuda "
                           "simulator on the CPU with NumPy arrays (slow; for tests)",
                           "numba.cuda simulator", simulator=True)
        probe = probe_gpu()
        if probe.usable:
            return cls("gpu", probe.cupy, f"{key}: using GPU {probe.device_name}",
                       probe.device_name)
        if key == "auto":
            return cls._cpu(f"auto: no usable GPU ({probe.why})")
        raise DeviceError(f"--device gpu needs a usable GPU: {probe.why}.",
                          field="device", fix=GPU_FIX)

    @classmethod
    def _cpu(cls, prefix: str) -> Backend:
        warm_kernels()
        desc = _cpu_description()
        return cls("cpu", np, f"{prefix}, using {desc}", desc)

    @property
    def is_gpu(self) -> bool:
        """True for the GPU backend (including the CUDA simulator)."""
        return self.name == "gpu"

    def sliding_mean(self, x, width: int, step: int):
        """Sliding-window mean over frames on this backend.

        Parameters
        ----------
        x : array, shape (n_trials, n_cells, n_frames)
            Trials x cells x frames: NumPy, or on the GPU backend also CuPy.
        width, step : int
            Frames per window and frames between window starts.

        Returns
        -------
        float32 array, shape (n_trials, n_cells, n_windows)
            On the CPU a NumPy array; on the GPU the same kind of array as ``x``
            (pass ``backend.asarray(x)`` to keep the result on the device).
        """
        if not self.is_gpu:
            return _sliding_mean_cpu(self.to_host(x), width, step)
        return sliding_mean_cuda(x, width, step)

    def asarray(self, a, dtype=None):
        """Return ``a`` as an array of this backend's module (copied to the GPU if needed)."""
        return self.xp.asarray(a, dtype=dtype)

    @staticmethod
    def to_host(a) -> np.ndarray:
        """Return ``a`` as a NumPy array (copied from the GPU if needed)."""
        return to_host(a)

    def free_memory_bytes(self) -> int:
        """Return the memory free for new arrays on this backend's device, in bytes.

        GPU: free device memory plus blocks cached by CuPy's memory pool. CPU and
        the simulator: available host memory.
        """
        if self.is_gpu and not self.simulator:
            free, _total = self.xp.cuda.Device().mem_info
            try:
                free += self.xp.get_default_memory_pool().free_bytes()
            except Exception:
                pass
            return int(free)
        return host_free_memory_bytes()

    def as_dict(self) -> dict:
        """Return name, device_name, reason and simulator, for summary.json."""
        return {"name": self.name, "device_name": self.device_name,
                "reason": self.reason, "simulator": self.simulator}

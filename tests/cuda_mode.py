"""Where the tests marked ``cudasim`` run their numba.cuda kernels: simulator or real GPU.

::

    NUMBA_ENABLE_CUDASIM=1 pytest -m cudasim    # numba's CUDA simulator, on any machine
    GPUDECODE_REAL_CUDA=1 pytest -m cudasim     # the real GPU (bench/gpu_check.sh runs this)

Either variable makes ``conftest.py`` keep only the tests marked ``cudasim`` (numba reads
``NUMBA_ENABLE_CUDASIM`` when first imported, so each mode needs its own process); with
neither they are skipped. With ``GPUDECODE_REAL_CUDA=1`` on a machine where numba.cuda
finds no GPU they are skipped with numba's reason, so the run says why instead of failing.
``NUMBA_ENABLE_CUDASIM=1`` wins when both are set.

A test module marks itself with ``pytestmark = CUDA_MARKS``.
"""

import os

import pytest

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
REAL_CUDA = os.environ.get("GPUDECODE_REAL_CUDA") == "1" and not SIMULATOR
CUDA_RUN = SIMULATOR or REAL_CUDA


def cuda_skip_reason() -> str:
    """Why the ``cudasim`` tests cannot run in this process, or ``""`` when they can."""
    if SIMULATOR:
        return ""
    if not REAL_CUDA:
        return ("run with NUMBA_ENABLE_CUDASIM=1 (simulator) or GPUDECODE_REAL_CUDA=1 (a GPU), "
                "in a separate pytest run")
    from gpudecode.kernels._gpu import numba_cuda_problem
    problem = numba_cuda_problem()
    return f"GPUDECODE_REAL_CUDA=1 but {problem}" if problem else ""


SKIP_REASON = cuda_skip_reason()
CUDA_MARKS = [pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON or "CUDA usable"),
              pytest.mark.cudasim]


def gpu_backend():
    """The GPU backend of this mode: the simulator's (NumPy arrays) or the real GPU's (CuPy)."""
    from gpudecode.backend import Backend
    return Backend.from_device("gpu", allow_simulator=SIMULATOR)


def assert_requested_cuda():
    """numba.cuda runs where the variables asked: the simulator, or a real GPU."""
    from gpudecode.kernels._gpu import simulator_enabled
    if SIMULATOR:
        assert simulator_enabled(), "NUMBA_ENABLE_CUDASIM=1 was set after numba was imported"
        return
    from numba import cuda
    assert not simulator_enabled() and cuda.is_available(), \
        "GPUDECODE_REAL_CUDA=1 but numba.cuda does not run on a real GPU"

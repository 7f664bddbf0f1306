"""numba.cuda sliding-window mean against its CPU twin, in numba's CUDA simulator.

Run separately, with the variable set before numba is imported::

    NUMBA_ENABLE_CUDASIM=1 pytest tests/test_cudasim_windowing.py

The simulator runs every GPU thread as a Python thread, so inputs stay tiny.
"""

import numpy as np
import pytest

from cuda_mode import CUDA_MARKS, SIMULATOR, assert_requested_cuda, gpu_backend

pytestmark = CUDA_MARKS

from gpudecode.backend import Backend  # noqa: E402
from gpudecode.errors import ParameterError, ShapeError  # noqa: E402
from gpudecode.kernels import sliding_mean, sliding_mean_cuda  # noqa: E402


def tiny(shape=(2, 3, 11), seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_cuda_runs_where_requested():
    assert_requested_cuda()


@pytest.mark.parametrize("width, step", [(1, 1), (4, 1), (3, 2), (2, 5), (11, 1), (11, 4)])
def test_equals_cpu_kernel(width, step):
    x = tiny(seed=width * 10 + step)
    gpu = sliding_mean_cuda(x, width, step)
    assert isinstance(gpu, np.ndarray) and gpu.dtype == np.float32
    cpu = sliding_mean(x, width, step)
    assert gpu.shape == cpu.shape == (2, 3, (11 - width) // step + 1)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-6)


def test_float64_and_strided_host_input():
    x = tiny((3, 4, 12), seed=5, dtype=np.float64)[:, ::2, 1:]
    np.testing.assert_allclose(sliding_mean_cuda(x, 3, 2), sliding_mean(x, 3, 2), rtol=1e-6)


def test_sums_in_float64_like_the_cpu_kernel():
    x = np.array([[[2.0**24, 1.0, 1.0, 1.0]]], dtype=np.float32)
    assert sliding_mean_cuda(x, 4, 1)[0, 0, 0] == np.float32((2.0**24 + 3) / 4)


def test_device_array_in_device_array_out():
    from numba import cuda
    x = tiny(seed=7)
    out = sliding_mean_cuda(cuda.to_device(x), 4, 2)
    assert not isinstance(out, np.ndarray)
    np.testing.assert_allclose(out.copy_to_host(), sliding_mean(x, 4, 2), rtol=1e-6)


def test_grid_stride_covers_rows_beyond_the_grid(monkeypatch):
    from gpudecode.kernels import windowing_cuda
    monkeypatch.setattr(windowing_cuda, "MAX_GRID_Y", 1)
    monkeypatch.setattr(windowing_cuda, "THREADS_PER_BLOCK", 4)
    x = tiny((3, 5, 6), seed=9)
    np.testing.assert_allclose(sliding_mean_cuda(x, 2, 1), sliding_mean(x, 2, 1), rtol=1e-6)


def test_bad_parameters_raise_before_launch():
    x = tiny()
    with pytest.raises(ParameterError, match=r"\[window\]"):
        sliding_mean_cuda(x, 12, 1)
    with pytest.raises(ParameterError, match=r"\[step\]"):
        sliding_mean_cuda(x, 2, 0)
    with pytest.raises(ShapeError):
        sliding_mean_cuda(x[0], 2, 1)


def test_gpu_backend_matches_cpu_backend():
    gpu = gpu_backend()
    assert (gpu.name, gpu.simulator) == ("gpu", SIMULATOR)
    if SIMULATOR:
        assert gpu.xp is np and "NUMBA_ENABLE_CUDASIM=1" in gpu.reason
    else:
        assert gpu.xp.__name__ == "cupy" and "using GPU" in gpu.reason
    x = tiny(seed=3)
    np.testing.assert_allclose(gpu.sliding_mean(x, 4, 1),
                               Backend.from_device("cpu").sliding_mean(x, 4, 1), rtol=1e-6)
    assert gpu.free_memory_bytes() > 0

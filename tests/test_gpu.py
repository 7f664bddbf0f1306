"""GPU plumbing (kernels/_gpu.py) that runs without a GPU: array kinds, availability, sizing.

The kernels themselves run under the CUDA simulator (tests/test_cudasim_*.py,
tests/test_scratch_layout.py); here the host-side decisions: which kind of array came in,
what happens when numba.cuda cannot run, and how many threads / pairs the scratch budget
allows.
"""

import types

import numpy as np
import pytest

from gpudecode.errors import DeviceError, ParameterError
from gpudecode.kernels import _gpu

pytestmark = pytest.mark.skipif(_gpu.simulator_enabled(),
                                reason="host-side checks; the simulator run has its own")


class _CudaArrayLike:
    __cuda_array_interface__ = {"shape": (2,), "typestr": "<f4", "data": (0, False),
                                "version": 3}


def test_array_kind_tells_numpy_cupy_and_device_arrays_apart():
    fake_cupy = type("ndarray", (), {"__module__": "cupy._core.core"})()
    assert _gpu.array_kind(np.zeros(2)) == "numpy"
    assert _gpu.array_kind(fake_cupy) == "cupy"
    assert _gpu.array_kind(_CudaArrayLike()) == "numba"
    assert _gpu.array_kind([1.0, 2.0]) == "numpy"  # anything else is treated as host data


def test_to_host_copies_device_arrays_and_keeps_numpy_arrays():
    host = np.arange(3.0)
    fake_cupy = type("ndarray", (), {"__module__": "cupy._core.core", "get": lambda self: host})()
    fake_numba = type("DeviceNDArray", (), {"__cuda_array_interface__": {},
                                            "copy_to_host": lambda self: host * 2})()
    assert _gpu.to_host(host) is host
    assert _gpu.to_host(fake_cupy) is host
    np.testing.assert_array_equal(_gpu.to_host(fake_numba), host * 2)
    np.testing.assert_array_equal(_gpu.to_host([1.0, 2.0]), [1.0, 2.0])


def test_numba_cuda_without_a_gpu_is_a_device_error_naming_the_fix(monkeypatch):
    from numba import cuda
    monkeypatch.setattr(cuda, "is_available", lambda: False)
    monkeypatch.setattr(_gpu, "_cuda", None)
    assert "numba.cuda cannot use the GPU" in _gpu.numba_cuda_problem()
    with pytest.raises(DeviceError) as err:
        _gpu.usable_cuda()
    assert err.value.field == "device" and "gpudecode[gpu]" in str(err.value)
    assert "numba" not in _gpu.gpu_methods()


def test_usable_cuda_is_checked_once_per_process(monkeypatch):
    from numba import cuda
    calls = []
    monkeypatch.setattr(cuda, "is_available", lambda: calls.append(1) or True)
    monkeypatch.setattr(_gpu, "_cuda", None)
    assert _gpu.usable_cuda() is cuda and _gpu.usable_cuda() is cuda
    assert len(calls) == 1


@pytest.mark.parametrize("n, blocks", [(0, 1), (1, 1), (64, 1), (65, 2), (640, 10)])
def test_grid_1d_covers_every_thread(n, blocks):
    got_blocks, threads = _gpu.grid_1d(n)
    assert (got_blocks, threads) == (blocks, _gpu.THREADS_PER_BLOCK)
    assert got_blocks * threads >= n


def test_grid_2d_covers_the_square():
    (bx, by), (tx, ty) = _gpu.grid_2d(17)
    assert (bx, by, tx, ty) == (2, 2, 16, 16)


def test_scratch_threads_are_capped_by_free_memory(monkeypatch):
    monkeypatch.setattr(_gpu, "_free_device_bytes", lambda: 1000)
    # half of 1000 bytes at 100 bytes a thread: 5 threads, never more than problems
    assert _gpu.scratch_threads(10, 100) == 5
    assert _gpu.scratch_threads(3, 100) == 3
    with pytest.raises(DeviceError, match="does not fit"):
        _gpu.scratch_threads(10, 10_000)
    monkeypatch.setattr(_gpu, "_free_device_bytes", lambda: None)  # not reported
    assert _gpu.scratch_threads(10**9, 8) == _gpu.MAX_THREADS


def test_scratch_budget_takes_a_positive_whole_number_or_the_free_memory(monkeypatch):
    assert _gpu.scratch_budget(4096) == 4096
    for bad in (0, -1, 1.5, True, "1"):
        with pytest.raises(ParameterError) as err:
            _gpu.scratch_budget(bad)
        assert err.value.field == "max_scratch_bytes"
    monkeypatch.setattr(_gpu, "_free_device_bytes", lambda: 8 << 30)
    assert _gpu.scratch_budget() == _gpu.DEFAULT_MAX_SCRATCH  # a quarter, at most 1 GiB
    monkeypatch.setattr(_gpu, "_free_device_bytes", lambda: 16 << 20)
    assert _gpu.scratch_budget() == 4 << 20
    monkeypatch.setattr(_gpu, "_free_device_bytes", lambda: None)
    assert _gpu.scratch_budget() == _gpu.DEFAULT_MAX_SCRATCH


def test_pairs_per_chunk_fills_the_budget_and_stays_in_range():
    # a pair and its 2 problems take 10 + 2 * 5 = 20 bytes
    assert _gpu.pairs_per_chunk(65, 10, 5, 2, 100) == 3
    assert _gpu.pairs_per_chunk(1, 10, 5, 2, 100) == 1      # at least one pair
    assert _gpu.pairs_per_chunk(10**9, 10, 5, 2, 7) == 7    # never more than there are


def test_scratch_arrays_put_the_thread_axis_first_or_last(monkeypatch):
    made = []
    monkeypatch.setattr(_gpu, "device_array", lambda shape, dtype: made.append(
        (shape, np.dtype(dtype))) or types.SimpleNamespace(shape=shape))
    _gpu.scratch_arrays(((2, 3), (4,)), (np.float64, np.int8), 5)
    _gpu.scratch_arrays(((2, 3), (4,)), (np.float64, np.int8), 5, lead=False)
    assert made == [((5, 2, 3), np.dtype("f8")), ((5, 4), np.dtype("i1")),
                    ((2, 3, 5), np.dtype("f8")), ((4, 5), np.dtype("i1"))]
    with pytest.raises(ValueError):
        _gpu.scratch_arrays(((2, 3),), (np.float64, np.int8), 5)

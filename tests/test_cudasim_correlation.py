"""numba.cuda correlation kernels against their CPU twin, in numba's CUDA simulator.

Run separately, with the variable set before numba is imported::

    NUMBA_ENABLE_CUDASIM=1 pytest tests/test_cudasim_correlation.py

The simulator runs every GPU thread as a Python thread, so inputs stay tiny.
"""

import warnings

import numpy as np
import pytest

from cuda_mode import CUDA_MARKS, SIMULATOR, assert_requested_cuda, gpu_backend

pytestmark = CUDA_MARKS

from gpudecode.backend import Backend  # noqa: E402
from gpudecode.correlations import (ConstantCellsWarning, compute_correlations,  # noqa: E402
                                    pair_index)
from gpudecode.errors import NonFiniteError  # noqa: E402
from gpudecode.kernels import correlation_cuda  # noqa: E402
from gpudecode.kernels.correlation import correlate_chunk, n_pairs  # noqa: E402
from gpudecode.kernels.correlation_cuda import correlate_chunk_cuda  # noqa: E402


def tiny(shape=(2, 4, 6), seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def cpu_twin(x, ledoit_wolf=False):
    out = np.empty((x.shape[0], n_pairs(x.shape[1])), np.float32)
    n_constant = correlate_chunk(np.asarray(x), out, ledoit_wolf=ledoit_wolf)
    return out, n_constant


def test_cuda_runs_where_requested():
    assert_requested_cuda()


def test_numba_kernel_equals_cpu_twin():
    x = tiny()
    got, n_const = correlate_chunk_cuda(x, method="numba")
    assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == (2, 6)
    want, _ = cpu_twin(x)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    assert n_const == 0
    i, j = pair_index(4)
    np.testing.assert_allclose(got[1], np.corrcoef(x[1].astype(float))[i, j], atol=1e-5)


def test_several_tiles_and_frame_steps(monkeypatch):
    # tiles of 2 cells: 3 x 3 tiles (lower ones skipped), frames read in 3 steps of 2
    monkeypatch.setattr(correlation_cuda, "TILE", 2)
    x = tiny((2, 5, 6), seed=1, dtype=np.float64)
    got, _ = correlate_chunk_cuda(x, method="numba")
    np.testing.assert_allclose(got, cpu_twin(x)[0], atol=1e-6, rtol=0)


def test_trials_beyond_the_grid(monkeypatch):
    monkeypatch.setattr(correlation_cuda, "MAX_GRID_Z", 1)
    monkeypatch.setattr(correlation_cuda, "TILE", 4)
    x = tiny((3, 4, 5), seed=2)
    np.testing.assert_allclose(correlate_chunk_cuda(x, method="numba")[0], cpu_twin(x)[0],
                               atol=1e-6, rtol=0)


def test_constant_cell_is_zero_and_counted():
    x = tiny(seed=3)
    x[1, 2] = 0.5
    got, n_const = correlate_chunk_cuda(x, method="numba")
    want, want_const = cpu_twin(x)
    assert n_const == want_const == 1
    i, j = pair_index(4)
    assert np.all(got[1, (i == 2) | (j == 2)] == 0)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_ledoit_wolf_equals_cpu_twin():
    x = tiny(seed=4)
    got, _ = correlate_chunk_cuda(x, method="numba", ledoit_wolf=True)
    np.testing.assert_allclose(got, cpu_twin(x, ledoit_wolf=True)[0], atol=1e-6, rtol=0)


def test_non_finite_raises():
    x = tiny(seed=5)
    x[1, 3, 2] = np.inf
    with pytest.raises(NonFiniteError, match=r"trial 1, cell 3"):
        correlate_chunk_cuda(x, method="numba")


def test_device_array_in_device_array_out():
    from numba import cuda
    x = tiny(seed=6)
    out, _ = correlate_chunk_cuda(cuda.to_device(x), method="numba")
    assert not isinstance(out, np.ndarray)
    np.testing.assert_allclose(out.copy_to_host(), cpu_twin(x)[0], atol=1e-6, rtol=0)


def test_gpu_backend_matches_cpu_backend_with_chunks():
    gpu = gpu_backend()
    assert gpu.is_gpu and gpu.simulator == SIMULATOR
    x = tiny((3, 4, 6), seed=7)
    x[2, 0] = 1.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = gpu.to_host(compute_correlations(x, gpu, chunk_trials=2))
        want = compute_correlations(x, Backend.from_device("cpu"))
    msgs = [str(w.message) for w in caught if issubclass(w.category, ConstantCellsWarning)]
    assert msgs == ["1 cell-trials were constant; their correlations are set to 0"] * 2
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)

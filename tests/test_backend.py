"""Backend choice (--device auto|cpu|gpu) and dispatch to the kernels."""

import importlib.abc
import sys
import types

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from gpudecode.backend import Backend, probe_gpu
from gpudecode.errors import DeviceError, ParameterError
from gpudecode.kernels import sliding_mean

FIX = "pip install 'gpudecode[gpu]'"
REAL_PROBE = probe_gpu()


def fake_cupy(n_devices=1, count_error=None):
    """A stand-in for the cupy module, enough for the backend's probe."""
    def get_device_count():
        if count_error:
            raise count_error
        return n_devices

    runtime = types.SimpleNamespace(
        getDeviceCount=get_device_count,
        getDeviceProperties=lambda i: {"name": b"Fake GPU", "totalGlobalMem": 80 * 2**30})
    device = types.SimpleNamespace(id=0, mem_info=(5 * 2**30, 80 * 2**30))
    pool = types.SimpleNamespace(free_bytes=lambda: 2**30)
    mod = types.ModuleType("cupy")
    mod.cuda = types.SimpleNamespace(runtime=runtime, Device=lambda: device)
    mod.get_default_memory_pool = lambda: pool
    return mod


@pytest.fixture
def no_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # "import cupy" -> ModuleNotFoundError


@pytest.fixture
def numba_cuda_ok(monkeypatch):
    from numba import cuda
    monkeypatch.setattr(cuda, "is_available", lambda: True)


def test_auto_on_this_machine_says_what_it_picked():
    backend = Backend.from_device("auto")
    if REAL_PROBE.usable:
        assert backend.name == "gpu" and REAL_PROBE.device_name in backend.reason
    else:
        assert backend.name == "cpu"
        assert backend.xp is np
        assert backend.reason.startswith("auto: no usable GPU (")
        assert REAL_PROBE.why in backend.reason
        assert "using CPU (Numba," in backend.reason


def test_auto_without_cupy_uses_cpu(no_cupy):
    backend = Backend.from_device()
    assert backend.name == "cpu"
    assert backend.reason.startswith("auto: no usable GPU (CuPy not installed), using CPU")
    assert "threads" in backend.device_name


def test_gpu_without_cupy_is_a_device_error_with_fix(no_cupy):
    with pytest.raises(DeviceError) as err:
        Backend.from_device("gpu")
    text = str(err.value)
    assert err.value.field == "device"
    assert "CuPy not installed" in text
    assert FIX in text and "--device cpu" in text


@pytest.mark.skipif(REAL_PROBE.usable, reason="a usable GPU is present")
def test_gpu_on_this_machine_is_a_device_error():
    with pytest.raises(DeviceError) as err:
        Backend.from_device("gpu")
    assert REAL_PROBE.why in str(err.value)
    assert FIX in str(err.value)


class _BrokenCupyFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "cupy":
            raise RuntimeError("CUDA driver version is insufficient")
        return None


def test_cupy_that_fails_oddly_on_import_is_caught(monkeypatch):
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_BrokenCupyFinder(), *sys.meta_path])
    backend = Backend.from_device("auto")
    assert backend.name == "cpu"
    assert "CuPy failed to import: RuntimeError: CUDA driver version" in backend.reason
    with pytest.raises(DeviceError, match="CuPy failed to import"):
        Backend.from_device("gpu")


@pytest.mark.parametrize("cupy, why", [
    (fake_cupy(n_devices=0), "no CUDA device visible to CuPy"),
    (fake_cupy(count_error=RuntimeError("cudaErrorNoDevice")),
     "CuPy cannot reach a CUDA driver: RuntimeError: cudaErrorNoDevice"),
])
def test_cupy_without_device(monkeypatch, cupy, why):
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    assert why in Backend.from_device("auto").reason
    with pytest.raises(DeviceError) as err:
        Backend.from_device("gpu")
    assert why in str(err.value) and FIX in str(err.value)


def test_numba_cuda_unusable(monkeypatch):
    from numba import cuda
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy())
    monkeypatch.setattr(cuda, "is_available", lambda: False)
    backend = Backend.from_device("auto")
    assert backend.name == "cpu"
    assert "numba.cuda cannot use the GPU" in backend.reason
    with pytest.raises(DeviceError, match="numba.cuda cannot use the GPU"):
        Backend.from_device("gpu")


def test_usable_gpu_is_picked_and_named(monkeypatch, numba_cuda_ok):
    cupy = fake_cupy()
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    auto = Backend.from_device("auto")
    assert (auto.name, auto.xp, auto.simulator) == ("gpu", cupy, False)
    assert auto.reason == "auto: using GPU Fake GPU (80 GiB)"
    assert auto.device_name == "Fake GPU (80 GiB)"
    assert auto.free_memory_bytes() == 6 * 2**30   # device free + CuPy pool cache
    assert Backend.from_device("gpu").reason == "gpu: using GPU Fake GPU (80 GiB)"


def test_cpu_requested():
    backend = Backend.from_device(" CPU ")
    assert (backend.name, backend.xp, backend.is_gpu) == ("cpu", np, False)
    assert backend.reason.startswith("cpu: requested, using CPU (Numba, ")


@pytest.mark.parametrize("device", ["tpu", "cuda", "", None, 1])
def test_unknown_device_is_a_parameter_error(device):
    with pytest.raises(ParameterError) as err:
        Backend.from_device(device)
    assert err.value.field == "device"
    assert "auto, cpu or gpu" in str(err.value)


def test_simulator_needs_the_env_var_set_before_numba(no_cupy):
    # without NUMBA_ENABLE_CUDASIM=1 in effect, allow_simulator changes nothing
    from gpudecode.kernels._gpu import simulator_enabled
    if simulator_enabled():
        pytest.skip("this process runs the CUDA simulator")
    with pytest.raises(DeviceError):
        Backend.from_device("gpu", allow_simulator=True)


def test_verbose_prints_the_reason(capsys):
    backend = Backend.from_device("cpu", verbose=True)
    # the last line: a first run on the machine says before it that it compiles the kernels
    assert capsys.readouterr().err.strip().splitlines()[-1] == backend.reason


def test_cpu_sliding_mean_equals_kernel():
    backend = Backend.from_device("cpu")
    x = np.random.default_rng(1).standard_normal((6, 9, 30)).astype(np.float32)
    out = backend.sliding_mean(x, 4, 2)
    np.testing.assert_array_equal(out, sliding_mean(x, 4, 2))
    expected = sliding_window_view(x.astype(np.float64), 4, axis=-1).mean(-1)[..., ::2]
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    assert isinstance(out, np.ndarray)


def test_cpu_arrays_and_memory():
    backend = Backend.from_device("cpu")
    a = backend.asarray([[1, 2], [3, 4]], dtype=np.float32)
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    assert backend.to_host(a) is a
    free = backend.free_memory_bytes()
    assert isinstance(free, int) and 0 < free
    import os
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        assert free <= os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert backend.as_dict()["name"] == "cpu"


@pytest.mark.skipif(not REAL_PROBE.usable, reason="needs a usable GPU (CuPy + numba.cuda)")
def test_gpu_sliding_mean_equals_cpu_kernel():
    backend = Backend.from_device("gpu")
    x = np.random.default_rng(2).standard_normal((36, 109, 64)).astype(np.float32)
    expected = sliding_mean(x, 4, 1)
    host_out = backend.sliding_mean(x, 4, 1)
    assert isinstance(host_out, np.ndarray)
    np.testing.assert_array_equal(host_out, expected)
    dev_out = backend.sliding_mean(backend.asarray(x), 4, 1)
    assert isinstance(dev_out, backend.xp.ndarray)
    np.testing.assert_array_equal(backend.to_host(dev_out), expected)
    assert backend.free_memory_bytes() > 0

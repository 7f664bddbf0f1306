"""Per-trial cell-cell correlation features against nilearn, plus edge cases and chunking."""

import warnings

import numba
import numpy as np
import pytest
from nilearn.connectome import ConnectivityMeasure, sym_matrix_to_vec
from sklearn.covariance import EmpiricalCovariance

from gpudecode import correlations as corr_mod
from gpudecode.backend import Backend
from gpudecode.correlations import (ConstantCellsWarning, compute_correlations, n_pairs,
                                    nilearn_columns, pair_columns, pair_index,
                                    plan_chunk_trials)
from gpudecode.errors import DeviceError, NonFiniteError, ParameterError, ShapeError
from gpudecode.kernels import correlation as kernel_mod
from gpudecode.kernels.correlation import (MIN_WORK_PER_THREAD, correlate_chunk,
                                           correlation_bytes_per_trial, threads_for)
from gpudecode.kernels.correlation_cuda import (correlate_chunk_cuda, correlate_chunk_xp,
                                                gpu_methods)
from gpudecode.simulate import simulate_session
from gpudecode.trials import TrialSpec, make_epochs

CPU = Backend.from_device("cpu")
TOL = 1e-5


def nilearn_pearson(x):
    """nilearn's vectorised correlations of each trial (frames x cells), plain Pearson."""
    cm = ConnectivityMeasure(kind="correlation", vectorize=True, discard_diagonal=True,
                             cov_estimator=EmpiricalCovariance())
    return cm.fit_transform([trial.T for trial in x])


def nilearn_default(x):
    """nilearn's default ConnectivityMeasure(kind="correlation"): LedoitWolf covariance."""
    cm = ConnectivityMeasure(kind="correlation", vectorize=True, discard_diagonal=True)
    return cm.fit_transform([trial.T for trial in x])


def ours(x, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return compute_correlations(x, CPU, **kw)


def rand(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.fixture(scope="module")
def sim_epochs():
    session, _ = simulate_session(n_cells=24, n_trials=18, seed=3)
    spec = TrialSpec(("Correct", "Incorrect"), pre=1.0, post=1.0,
                     exclude_events=("Start Correction Trial",), exclude_within=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_epochs(session, spec)


# ------------------------------------------------------------------------ nilearn oracle

def test_equals_nilearn_on_simulated_epochs(sim_epochs):
    assert sim_epochs.n_trials >= 10 and sim_epochs.n_frames >= 50
    got = ours(sim_epochs)
    assert got.dtype == np.float32 and got.shape == (sim_epochs.n_trials, n_pairs(24))
    ref = nilearn_pearson(sim_epochs.data)
    np.testing.assert_allclose(got[:, nilearn_columns(24)], ref, atol=TOL, rtol=0)
    assert np.abs(ref).max() > 0.3  # calcium transients make real correlations


def test_equals_nilearn_on_windowed_simulated_epochs(sim_epochs):
    n_win = sim_epochs.n_frames // 4  # non-overlapping 4-frame means, like --window 4 --step 4
    windowed = sim_epochs.data[:, :, :4 * n_win].reshape(sim_epochs.data.shape[:2] + (n_win, 4))
    windowed = windowed.mean(axis=3)
    np.testing.assert_allclose(ours(windowed)[:, nilearn_columns(24)],
                               nilearn_pearson(windowed), atol=TOL, rtol=0)


@pytest.mark.parametrize("shape, dtype", [((7, 5, 9), np.float32), ((4, 37, 61), np.float32),
                                          ((3, 13, 300), np.float32), ((5, 8, 20), np.float64),
                                          ((2, 3, 2), np.float32)])
def test_equals_nilearn_on_random_input(shape, dtype):
    x = rand(shape, seed=shape[1], dtype=dtype) * 40 + 1000  # offset and scale must not matter
    np.testing.assert_allclose(ours(x)[:, nilearn_columns(shape[1])], nilearn_pearson(x),
                               atol=TOL, rtol=0)


def test_ledoit_wolf_equals_nilearn_default(sim_epochs):
    x = np.concatenate([sim_epochs.data[:6], rand((3, 24, sim_epochs.n_frames), 5)])
    got = ours(x, estimator="ledoit-wolf")
    ref = nilearn_default(x)
    np.testing.assert_allclose(got[:, nilearn_columns(24)], ref, atol=TOL, rtol=0)
    pearson = ours(x)
    assert not np.allclose(got, pearson, atol=1e-3)  # the shrinkage is really applied


def test_ledoit_wolf_with_a_constant_cell_equals_nilearn_default():
    # nilearn's shrunk covariance keeps a positive diagonal, so a constant cell gives 0 there
    x = rand((3, 6, 15), seed=11)
    x[1, 2] = 4.0
    with pytest.warns(ConstantCellsWarning, match="^1 cell-trials were constant"):
        got = compute_correlations(x, CPU, estimator="Ledoit_Wolf")
    np.testing.assert_allclose(got[:, nilearn_columns(6)], nilearn_default(x), atol=TOL, rtol=0)


def test_columns_are_the_upper_triangle_row_major():
    x = rand((3, 6, 25), seed=2)
    got = ours(x)
    i, j = pair_index(6)
    assert list(zip(i[:6], j[:6])) == [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (1, 2)]
    for t in range(3):
        full = np.corrcoef(x[t].astype(np.float64))
        np.testing.assert_allclose(got[t], full[i, j], atol=TOL, rtol=0)
        np.testing.assert_allclose(got[t], full[np.triu_indices(6, k=1)], atol=TOL, rtol=0)


def test_nilearn_columns_follow_sym_matrix_to_vec():
    n = 7
    labels = np.zeros((n, n))
    i, j = pair_index(n)
    labels[i, j] = labels[j, i] = np.arange(i.size)  # each pair holds its own column number
    np.testing.assert_array_equal(sym_matrix_to_vec(labels, discard_diagonal=True),
                                  nilearn_columns(n))


def test_pair_index_and_pair_columns_are_inverse():
    for n in (0, 1, 2, 3, 10, 109):
        i, j = pair_index(n)
        assert i.dtype == j.dtype == np.int64 and i.size == n_pairs(n) == n * (n - 1) // 2
        assert np.all(i < j)
        np.testing.assert_array_equal(pair_columns(i, j, n), np.arange(i.size))
        np.testing.assert_array_equal(pair_columns(j, i, n), np.arange(i.size))
    assert n_pairs(109) == 5886
    with pytest.raises(ParameterError, match=r"\[pairs\]"):
        pair_columns([1], [1], 4)
    with pytest.raises(ParameterError, match=r"\[n_cells\]"):
        pair_index(-1)


# ------------------------------------------------------------------------ constant cells

def test_constant_cells_give_zero_and_one_counted_warning():
    x = rand((4, 5, 12), seed=4)
    x[1, 2] = 3.25
    x[3, 0] = 0.0
    x[3, 4] = -7.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = compute_correlations(x, CPU)
    msgs = [str(w.message) for w in caught if issubclass(w.category, ConstantCellsWarning)]
    assert msgs == ["3 cell-trials were constant; their correlations are set to 0"]
    assert np.isfinite(got).all()
    i, j = pair_index(5)
    touches = {1: [2], 3: [0, 4]}
    for t in range(4):
        dead = np.isin(i, touches.get(t, [])) | np.isin(j, touches.get(t, []))
        assert np.all(got[t, dead] == 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            full = np.corrcoef(x[t].astype(np.float64))
        np.testing.assert_allclose(got[t, ~dead], full[i, j][~dead], atol=TOL, rtol=0)


def test_constant_float64_value_that_does_not_average_exactly_is_still_constant():
    x = rand((2, 3, 97), seed=6, dtype=np.float64)
    x[0, 1] = 0.1  # 97 * 0.1 / 97 != 0.1 in floating point
    with pytest.warns(ConstantCellsWarning, match="^1 cell-trials"):
        got = compute_correlations(x, CPU)
    assert got[0, 0] == 0 and got[0, 2] == 0 and got[0, 1] != 0


def test_no_warning_without_constant_cells():
    ours(rand((3, 4, 10)))  # ours() turns warnings into errors


# ------------------------------------------------------------------------ chunking

@pytest.mark.parametrize("chunk", [1, 2, 5, 100])
def test_chunked_equals_unchunked(chunk):
    x = rand((9, 11, 17), seed=8)
    x[4, 3] = 1.0
    with pytest.warns(ConstantCellsWarning, match="^1 cell-trials"):
        whole = compute_correlations(x, CPU)
    with pytest.warns(ConstantCellsWarning, match="^1 cell-trials"):
        parts = compute_correlations(x, CPU, chunk_trials=chunk)
    np.testing.assert_array_equal(parts, whole)


def test_chunks_follow_free_memory(monkeypatch):
    x = rand((10, 30, 40), seed=9)
    whole = ours(x)
    seen = []
    real = corr_mod.correlate_chunk

    def spy(chunk, out, **kw):
        seen.append(chunk.shape[0])
        return real(chunk, out, **kw)

    per_trial = correlation_bytes_per_trial(30, 40)
    monkeypatch.setattr(corr_mod, "correlate_chunk", spy)
    monkeypatch.setattr(corr_mod, "host_free_memory_bytes", lambda: 12 * per_trial + 3)
    got = compute_correlations(x, CPU, memory_fraction=0.25)
    assert seen == [3, 3, 3, 1]
    np.testing.assert_array_equal(got, whole)


def test_plan_chunk_trials_bounds_the_scratch():
    per_trial = correlation_bytes_per_trial(2000, 61, blas=True)
    assert per_trial >= 4 * 2000 * 2000
    chunk = plan_chunk_trials(300, per_trial, 8 * 2**30, 0.25)
    assert 1 <= chunk < 300 and chunk * per_trial <= 0.25 * 8 * 2**30
    assert plan_chunk_trials(300, per_trial, 0, 0.25) == 1
    assert plan_chunk_trials(5, 10, 2**40, 1.0) == 5
    assert plan_chunk_trials(0, 10, 2**40, 1.0) == 1


def test_output_too_large_for_memory_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(corr_mod, "host_free_memory_bytes", lambda: 1000)
    with pytest.raises(ParameterError, match=r"\[cells\].*GiB.*select fewer cells"):
        compute_correlations(rand((5, 40, 6)), CPU)


# ------------------------------------------------------------------------ the two CPU paths

@pytest.mark.parametrize("n_cells", [2, 3, 4, 5, 9, 33])
def test_blas_and_numba_pair_products_agree(n_cells):
    x = rand((3, n_cells, 45), seed=n_cells)
    a = np.empty((3, n_pairs(n_cells)), np.float32)
    b = np.empty_like(a)
    assert correlate_chunk(x, a, blas=True) == correlate_chunk(x, b, blas=False) == 0
    np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
    np.testing.assert_allclose(a[:, nilearn_columns(n_cells)], nilearn_pearson(x), atol=TOL)


def test_array_module_path_matches_cpu_kernel():
    # the CuPy path's code, run with NumPy
    x = rand((4, 10, 33), seed=12)
    x[2, 7] = 5.0
    with pytest.warns(ConstantCellsWarning):
        cpu = compute_correlations(x, CPU)
        cpu_lw = compute_correlations(x, CPU, estimator="ledoit-wolf")
    got, n_const = correlate_chunk_xp(np, x)
    assert n_const == 1
    np.testing.assert_allclose(got, cpu, atol=1e-6, rtol=0)
    got_lw, _ = correlate_chunk_xp(np, x, ledoit_wolf=True)
    np.testing.assert_allclose(got_lw, cpu_lw, atol=1e-6, rtol=0)
    with pytest.raises(NonFiniteError, match="trial 3, cell 1"):
        bad = x.copy()
        bad[3, 1, 4] = np.inf
        correlate_chunk_xp(np, bad)


def test_small_inputs_run_on_one_thread_and_the_setting_is_restored(monkeypatch):
    assert threads_for(0, 2) == 1
    assert threads_for(MIN_WORK_PER_THREAD - 1, 2) == 1
    assert threads_for(3 * MIN_WORK_PER_THREAD, 8) == 3
    assert threads_for(10**12, 2) == 2
    before = numba.get_num_threads()
    used = []
    real = kernel_mod._correlate_chunk

    def spy(*args):
        used.append(numba.get_num_threads())
        return real(*args)

    monkeypatch.setattr(kernel_mod, "_correlate_chunk", spy)
    ours(rand((3, 5, 10)))
    x = rand((3, 5, 10))
    x[1, 1, 1] = np.nan
    with pytest.raises(NonFiniteError):
        compute_correlations(x, CPU)
    assert used == [1, 1] and numba.get_num_threads() == before


@pytest.mark.skipif(bool(gpu_methods()), reason="a GPU is usable here")
def test_gpu_paths_without_a_gpu_raise_device_error():
    x = rand((2, 3, 4))
    with pytest.raises(DeviceError, match=r"\[gpu_method\] .*CuPy.*Fix: install the gpu extra"):
        correlate_chunk_cuda(x, method="cupy")
    with pytest.raises(DeviceError, match=r"\[device\]"):
        correlate_chunk_cuda(x, method="numba")
    with pytest.raises(ParameterError, match=r"\[method\]"):
        correlate_chunk_cuda(x, method="opencl")


# ------------------------------------------------------------------------ edge cases

def test_one_cell_gives_no_features():
    got = ours(rand((4, 1, 10)))
    assert got.shape == (4, 0) and got.dtype == np.float32


def test_two_cells_give_one_feature():
    x = rand((5, 2, 30), seed=13)
    x[0, 1] = -2 * x[0, 0] + 1  # perfectly anti-correlated
    got = ours(x)
    assert got.shape == (5, 1)
    np.testing.assert_allclose(got[:, 0], [np.corrcoef(t)[0, 1] for t in x], atol=TOL)
    assert got[0, 0] == pytest.approx(-1.0, abs=1e-6)


def test_zero_trials_and_zero_cells():
    assert ours(np.zeros((0, 5, 8), np.float32)).shape == (0, 10)
    assert ours(np.zeros((3, 0, 8), np.float32)).shape == (3, 0)


def test_integer_input_and_default_backend():
    x = np.random.default_rng(14).integers(0, 50, size=(3, 4, 20))
    got = compute_correlations(x)
    np.testing.assert_allclose(got[:, nilearn_columns(4)], nilearn_pearson(x.astype(float)),
                               atol=TOL)


@pytest.mark.parametrize("bad", [np.zeros((4, 5)), np.zeros((2, 3, 4, 5)), np.zeros(7)])
def test_wrong_dimensions_raise_shape_error(bad):
    with pytest.raises(ShapeError, match=r"\[epochs\] .*3-D array \(trials x cells x frames\)"):
        compute_correlations(bad, CPU)


def test_one_frame_raises_shape_error():
    with pytest.raises(ShapeError, match=r"\[epochs\] .*at least 2 frames"):
        compute_correlations(np.zeros((3, 4, 1), np.float32), CPU)


def test_non_finite_raises_naming_trial_and_cell():
    x = rand((6, 4, 10))
    x[5, 2, 3] = np.nan
    with pytest.raises(NonFiniteError, match=r"\[epochs\] trial 5, cell 2 has NaN"):
        compute_correlations(x, CPU)
    with pytest.raises(NonFiniteError, match=r"trial 5, cell 2"):  # offset of a later chunk
        compute_correlations(x, CPU, chunk_trials=4)


def test_non_numeric_dtype_is_a_parameter_error():
    with pytest.raises(ParameterError, match=r"\[epochs\] .*real numbers"):
        compute_correlations(np.zeros((2, 3, 4), dtype=complex), CPU)


@pytest.mark.parametrize("kw, field", [({"chunk_trials": 0}, "chunk_trials"),
                                       ({"chunk_trials": 2.5}, "chunk_trials"),
                                       ({"chunk_trials": True}, "chunk_trials"),
                                       ({"memory_fraction": 0}, "memory_fraction"),
                                       ({"memory_fraction": 1.5}, "memory_fraction"),
                                       ({"memory_fraction": "x"}, "memory_fraction"),
                                       ({"estimator": "spearman"}, "estimator"),
                                       ({"gpu_method": "opencl"}, "gpu_method")])
def test_bad_options_raise_parameter_error(kw, field):
    with pytest.raises(ParameterError, match=rf"\[{field}\]"):
        compute_correlations(rand((2, 3, 4)), CPU, **kw)

"""Sliding-window mean (Numba CPU kernel) against a NumPy reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from gpudecode.errors import ParameterError, ShapeError
from gpudecode.kernels import check_window, sliding_mean


def reference(x, width, step):
    x = np.asarray(x, dtype=np.float64)
    return sliding_window_view(x, width, axis=-1).mean(-1)[..., ::step]


def random_epochs(shape, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 3 + 1).astype(dtype)


@pytest.mark.parametrize("shape, width, step", [
    ((36, 109, 64), 4, 1),      # the study's scale
    ((36, 109, 64), 4, 4),
    ((3, 5, 17), 1, 1),         # width 1: the traces themselves
    ((3, 5, 17), 17, 1),        # width = n_frames: one window
    ((3, 5, 17), 17, 3),
    ((2, 7, 23), 3, 5),         # step > width: gaps between windows
    ((1, 1, 1), 1, 1),
    ((4, 3, 10), 4, 3),         # last frames not covered by a whole window
])
def test_equals_numpy_reference(shape, width, step):
    x = random_epochs(shape, seed=sum(shape) + width + step)
    out = sliding_mean(x, width, step)
    expected = reference(x, width, step)
    assert out.dtype == np.float32
    assert out.shape == shape[:2] + ((shape[2] - width) // step + 1,)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


def test_window_values_by_hand():
    x = np.arange(10, dtype=np.float32).reshape(1, 1, 10)
    # windows [0,1,2], [4,5,6]; frames 8-9 do not fill a window
    np.testing.assert_array_equal(sliding_mean(x, 3, 4), [[[1.0, 5.0]]])


def test_float64_input_and_other_dtypes():
    x64 = random_epochs((4, 6, 31), seed=3, dtype=np.float64)
    out = sliding_mean(x64, 5, 2)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, reference(x64, 5, 2), rtol=1e-6, atol=1e-6)
    xi = np.arange(2 * 3 * 9, dtype=np.int16).reshape(2, 3, 9)
    np.testing.assert_allclose(sliding_mean(xi, 2, 2), reference(xi, 2, 2), rtol=1e-6)


def test_sums_in_float64():
    # in float32, 2**24 + 1 == 2**24: a float32 sum would drop the three ones
    x = np.array([[[2.0**24, 1.0, 1.0, 1.0]]], dtype=np.float32)
    out = sliding_mean(x, 4, 1)
    assert out[0, 0, 0] == np.float32((2.0**24 + 3) / 4)
    assert out[0, 0, 0] != np.float32(2.0**24 / 4)


def test_non_contiguous_input():
    x = random_epochs((5, 8, 40), seed=11)
    view = x[::2, ::3, ::2]           # strided in every axis
    assert not view.flags.c_contiguous
    np.testing.assert_allclose(sliding_mean(view, 3, 2), reference(view, 3, 2),
                               rtol=1e-6, atol=1e-6)


def test_nan_stays_in_its_windows():
    x = np.ones((1, 2, 8), dtype=np.float32)
    x[0, 0, 5] = np.nan
    out = sliding_mean(x, 2, 2)
    np.testing.assert_array_equal(np.isnan(out[0, 0]), [False, False, True, False])
    assert not np.isnan(out[0, 1]).any()


def test_empty_trials_or_cells():
    assert sliding_mean(np.zeros((0, 4, 10), np.float32), 3, 1).shape == (0, 4, 8)
    assert sliding_mean(np.zeros((2, 0, 10), np.float32), 3, 1).shape == (2, 0, 8)


@settings(max_examples=60, deadline=None)
@given(n_trials=st.integers(1, 5), n_cells=st.integers(1, 6), n_frames=st.integers(1, 40),
       data=st.data())
def test_property_matches_reference(n_trials, n_cells, n_frames, data):
    width = data.draw(st.integers(1, n_frames), label="width")
    step = data.draw(st.integers(1, n_frames + 3), label="step")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    x = random_epochs((n_trials, n_cells, n_frames), seed=seed)
    out = sliding_mean(x, width, step)
    np.testing.assert_allclose(out, reference(x, width, step), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("width, step, field, words", [
    (0, 1, "window", "at least 1"),
    (-2, 1, "window", "at least 1"),
    (4, 0, "step", "at least 1"),
    (2.5, 1, "window", "whole number"),
    (2, "2", "step", "whole number"),
    (True, 1, "window", "whole number"),
    (11, 1, "window", "longer than the 10 frames"),
])
def test_bad_width_or_step(width, step, field, words):
    x = np.zeros((2, 3, 10), dtype=np.float32)
    with pytest.raises(ParameterError) as err:
        sliding_mean(x, width, step)
    assert err.value.field == field
    assert f"[{field}]" in str(err.value)
    assert words in str(err.value)
    assert f"--{field}" in err.value.fix


def test_width_too_long_says_how_to_fix():
    with pytest.raises(ParameterError, match=r"--window 10 or less"):
        check_window(12, 1, 10)


def test_numpy_integer_width_and_step_accepted():
    assert check_window(np.int64(4), np.int32(2), 10) == (4, 2, 4)


@pytest.mark.parametrize("shape", [(10,), (3, 10), (2, 3, 4, 10)])
def test_not_3d_is_a_shape_error(shape):
    with pytest.raises(ShapeError) as err:
        sliding_mean(np.zeros(shape, np.float32), 2, 1)
    assert "trials x cells x frames" in str(err.value)
    assert "x[None]" in str(err.value)


def test_complex_dtype_rejected():
    with pytest.raises(ParameterError, match="real numbers"):
        sliding_mean(np.zeros((1, 1, 4), np.complex64), 2, 1)

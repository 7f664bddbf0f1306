import numpy as np
import pytest

from gpudecode import (Events, FrameTimesError, NonFiniteError, Session, ShapeError,
                       interpolate_nonfinite)


def _times(n, fs=30.0):
    return np.arange(n) / fs


def test_session_stores_float32_cells_by_frames_and_default_ids():
    tr = np.random.default_rng(0).normal(size=(3, 50))
    s = Session(tr, _times(50))
    assert s.traces.dtype == np.float32 and s.traces.shape == (3, 50)
    np.testing.assert_array_equal(s.traces, tr.astype(np.float32))
    assert list(s.cell_ids) == ["0", "1", "2"]
    assert s.frame_rate == pytest.approx(30.0)
    assert "3 cells x 50 frames" in repr(s) and "30.00 Hz" in repr(s)


def test_frames_by_cells_matrix_is_named_as_transposed():
    with pytest.raises(ShapeError, match="transpose"):
        Session(np.zeros((50, 3)), _times(50), source={"traces": "rec.csv"})


def test_frame_count_mismatch_names_the_field():
    with pytest.raises(ShapeError) as exc:
        Session(np.zeros((3, 50)), _times(49), source={"traces": "rec.csv"})
    assert "rec.csv" in str(exc.value) and "frame_times" in str(exc.value)


@pytest.mark.parametrize("bad, what", [(lambda t: np.r_[t[:10], t[9], t[11:]], "1 duplicated"),
                                        (lambda t: t[::-1], "decreasing")])
def test_non_monotonic_or_duplicated_frame_times(bad, what):
    t = _times(30)
    with pytest.raises(FrameTimesError) as exc:
        Session(np.zeros((2, 30)), bad(t), source={"traces": "x.h5"})
    assert what in str(exc.value) and "x.h5" in str(exc.value) and "frame_times" in str(exc.value)


def test_gaps_are_allowed_and_reported():
    t = np.r_[_times(20), 10 + _times(20)]
    s = Session(np.zeros((1, 40)), t)
    np.testing.assert_array_equal(s.gaps(), [19])


def test_nonfinite_traces_are_counted():
    tr = np.zeros((4, 20))
    tr[1, 3] = np.nan
    tr[2, 5:7] = np.inf
    with pytest.raises(NonFiniteError) as exc:
        Session(tr, _times(20), source={"traces": "t.csv"})
    assert "3 trace values in 2 cells" in str(exc.value) and "--interpolate-gaps" in str(exc.value)


def test_interpolate_nonfinite_fills_short_gaps_only():
    t = np.r_[0.0, 0.1, 0.2, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]
    row = np.arange(10, dtype=float) * 2.0
    tr = np.vstack([row, row])
    tr[0, 2:4] = np.nan          # 2-frame gap: filled, in time (non-uniform)
    tr[1, 4:8] = np.nan          # 4-frame gap: left
    out = interpolate_nonfinite(tr, t, max_gap=2)
    expected = np.interp(t[2:4], t[[0, 1, 4, 5, 6, 7, 8, 9]], row[[0, 1, 4, 5, 6, 7, 8, 9]])
    np.testing.assert_allclose(out[0, 2:4], expected, rtol=1e-6)
    assert np.isnan(out[1, 4:8]).all()


def test_events_sorted_and_typed_attributes():
    ev = Events([2.0, 1.0, 3.0], ["b", "a", "c"],
                {"pos": ["3", "1", ""], "obj": ["x", "y", "z"], "n": [1, 2, 3]})
    np.testing.assert_array_equal(ev.times, [1.0, 2.0, 3.0])
    assert list(ev.names) == ["a", "b", "c"]
    assert ev.attrs["pos"].dtype == np.float64
    np.testing.assert_array_equal(ev.attrs["pos"][:2], [1.0, 3.0])
    assert np.isnan(ev.attrs["pos"][2])
    assert ev.attrs["obj"].dtype == object and list(ev.attrs["obj"]) == ["y", "x", "z"]
    assert ev.counts() == {"a": 1, "b": 1, "c": 1}
    sh = ev.shifted(offset=10.0, scale=2.0)
    np.testing.assert_allclose(sh.times, [12.0, 14.0, 16.0])


def test_events_concat_fills_missing_columns():
    a = Events([1.0], ["x"], {"k": ["u"]})
    b = Events([0.5], ["y"], {"m": [2.0]})
    c = a.concat(b)
    assert list(c.names) == ["y", "x"]
    assert list(c.attrs["k"]) == ["", "u"]
    assert c.attrs["m"][0] == 2.0 and np.isnan(c.attrs["m"][1])

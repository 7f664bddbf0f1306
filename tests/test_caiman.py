"""CaImAn HDF5 reader, on files written with h5py following FORMATS.md (CaImAn's cnm.save)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import scipy.sparse

from gpudecode.errors import FormatError, InputFileError, ParameterError, ShapeError
from gpudecode.io import load_session, sniff_traces_format
from gpudecode.io.caiman import read_caiman

N_COMP, T, FR = 6, 41, 15.0
ACCEPTED = np.array([0, 2, 3, 5])


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(3)
    return {"C": rng.standard_normal((N_COMP, T)), "S": rng.random((N_COMP, T)),
            "YrA": 0.1 * rng.standard_normal((N_COMP, T)),
            "F_dff": rng.standard_normal((N_COMP, T)),
            "A": scipy.sparse.random(100, N_COMP, density=0.1, format="csc", random_state=1)}


def write_caiman(path, a, *, idx=ACCEPTED, fr=FR, f_dff=False):
    """What CaImAn's save_dict_to_hdf5 writes: None as the string 'NoneType' (0-d)."""
    with h5py.File(path, "w") as f:
        est = f.create_group("estimates")
        for key in ("C", "S", "YrA"):
            est[key] = a[key]
        est["F_dff"] = a["F_dff"] if f_dff else "NoneType"
        if idx is None:
            est["idx_components"] = "NoneType"
            est["idx_components_bad"] = "NoneType"
        else:
            est["idx_components"] = np.asarray(idx, dtype=np.int64)
            est["idx_components_bad"] = np.setdiff1d(np.arange(N_COMP), idx).astype(np.int64)
        csc = a["A"].tocsc()
        est["A/data"], est["A/indices"], est["A/indptr"] = csc.data, csc.indices, csc.indptr
        est["A/shape"] = np.array(csc.shape)
        est["b"] = np.ones((100, 1))
        est["f"] = np.ones((1, T))
        f["params/data/fr"] = fr
        f["params/data/dims"] = np.array([10, 10])
        f["params/data/fnames"] = "NoneType"
        f["dims"] = np.array([10, 10])
    return path


def test_oracle_layout(tmp_path, arrays):
    """The hand-written file stores None exactly as CaImAn does: a 0-d string dataset."""
    path = write_caiman(tmp_path / "cnm.hdf5", arrays, idx=None)
    with h5py.File(path, "r") as f:
        ds = f["estimates/idx_components"]
        assert ds.shape == () and ds[()] == b"NoneType"
        assert f["params/data/fr"].shape == ()


def test_accepted_components_c(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays)
    data = read_caiman(path)
    assert data.traces.dtype == np.float32
    np.testing.assert_array_equal(data.traces, arrays["C"][ACCEPTED].astype(np.float32))
    assert data.cell_ids == ["0", "2", "3", "5"]
    assert data.frame_rate == FR and data.frame_times is None
    assert data.meta["signal"] == "C"
    assert data.meta["n_rejected"] == 2 and data.meta["n_components"] == N_COMP


def test_keep_rejected(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays)
    data = read_caiman(path, keep_rejected=True)
    np.testing.assert_array_equal(data.traces, arrays["C"].astype(np.float32))
    assert data.cell_ids == [str(i) for i in range(N_COMP)]
    assert data.meta["n_rejected"] == 2 and data.meta["kept_rejected"] is True


def test_signal_s(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays)
    data = read_caiman(path, signal="S")
    np.testing.assert_array_equal(data.traces, arrays["S"][ACCEPTED].astype(np.float32))
    assert data.meta["signal"] == "S"


def test_signal_c_plus_yra(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays)
    data = read_caiman(path, signal="C+YrA")
    expected = (arrays["C"].astype(np.float32) + arrays["YrA"].astype(np.float32))[ACCEPTED]
    np.testing.assert_allclose(data.traces, expected, rtol=1e-6)


def test_signal_f_dff(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays, f_dff=True)
    data = read_caiman(path, signal="F_dff")
    np.testing.assert_array_equal(data.traces, arrays["F_dff"][ACCEPTED].astype(np.float32))


def test_none_idx_components_keeps_all(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays, idx=None)
    data = read_caiman(path)
    np.testing.assert_array_equal(data.traces, arrays["C"].astype(np.float32))
    assert data.meta["n_rejected"] == 0


def test_unsorted_idx_components_keep_component_order(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays, idx=[5, 0, 3])
    data = read_caiman(path)
    assert data.cell_ids == ["0", "3", "5"]
    np.testing.assert_array_equal(data.traces, arrays["C"][[0, 3, 5]].astype(np.float32))


def test_load_session_sniffs_caiman(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays)
    assert sniff_traces_format(path) == "caiman"
    sess = load_session(path, signal="S")
    assert sess.source["format"] == "caiman"
    np.testing.assert_array_equal(sess.traces, arrays["S"][ACCEPTED].astype(np.float32))
    np.testing.assert_allclose(sess.frame_times, np.arange(T) / FR)
    assert list(sess.cell_ids) == ["0", "2", "3", "5"]


def test_load_session_keep_rejected_and_rate_override(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays)
    sess = load_session(path, keep_rejected=True, frame_rate=30.0)
    assert sess.n_cells == N_COMP
    np.testing.assert_allclose(sess.frame_times, np.arange(T) / 30.0)


# --- bad input ---------------------------------------------------------------------------


def test_f_dff_none_is_explained(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays)
    with pytest.raises(FormatError) as err:
        read_caiman(path, signal="F_dff")
    msg = str(err.value)
    assert "cnm.hdf5" in msg and "[estimates/F_dff]" in msg and "None" in msg
    assert "detrend_df_f" in msg


def test_missing_signal_lists_estimates(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays)
    with h5py.File(path, "a") as f:
        del f["estimates/S"]
    with pytest.raises(FormatError) as err:
        read_caiman(path, signal="S")
    msg = str(err.value)
    assert "[estimates/S]" in msg and "missing" in msg and "C, F_dff" in msg


def test_unknown_signal(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays)
    with pytest.raises(ParameterError) as err:
        read_caiman(path, signal="spikes")
    assert "[signal]" in str(err.value) and "C+YrA" in str(err.value)


def test_not_2d(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays)
    with h5py.File(path, "a") as f:
        del f["estimates/C"]
        f["estimates/C"] = np.zeros(T)
    with pytest.raises(ShapeError) as err:
        read_caiman(path)
    assert "cnm.hdf5" in str(err.value) and "[estimates/C]" in str(err.value)
    assert "2-D" in str(err.value)


def test_yra_shape_mismatch(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays)
    with h5py.File(path, "a") as f:
        del f["estimates/YrA"]
        f["estimates/YrA"] = np.zeros((N_COMP, T - 1))
    with pytest.raises(ShapeError) as err:
        read_caiman(path, signal="C+YrA")
    assert "[estimates/YrA]" in str(err.value)


def test_idx_out_of_range(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays, idx=[0, N_COMP])
    with pytest.raises(FormatError) as err:
        read_caiman(path)
    assert "[estimates/idx_components]" in str(err.value)
    assert read_caiman(path, keep_rejected=True).traces.shape == (N_COMP, T)


def test_all_rejected(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays, idx=np.array([], dtype=np.int64))
    with pytest.raises(ShapeError) as err:
        read_caiman(path)
    assert "[estimates/idx_components]" in str(err.value) and "keep" in str(err.value)


def test_no_estimates_group(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.zeros((2, 3))
    with pytest.raises(FormatError) as err:
        read_caiman(path)
    assert "other.h5" in str(err.value) and "[estimates]" in str(err.value)
    assert "data" in str(err.value)


def test_bad_frame_rate_is_ignored_with_warning(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays, fr=0.0)
    with pytest.warns(UserWarning, match="params/data/fr"):
        data = read_caiman(path)
    assert data.frame_rate is None
    with pytest.warns(UserWarning), pytest.raises(ParameterError) as err:
        load_session(path)
    assert "[--frame-rate]" in str(err.value) and "cnm.hdf5" in str(err.value)


def test_not_hdf5(tmp_path):
    path = tmp_path / "cnm.hdf5"
    path.write_text("nope")
    with pytest.raises(FormatError) as err:
        read_caiman(path)
    assert "cnm.hdf5" in str(err.value) and "[format]" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError) as err:
        read_caiman(tmp_path / "absent.hdf5")
    assert "absent.hdf5" in str(err.value)


# --- axis order -------------------------------------------------------------------------


def _transpose_estimates(path, keys=("C", "S", "YrA")):
    with h5py.File(path, "a") as f:
        for key in keys:
            data = f[f"estimates/{key}"][()]
            del f[f"estimates/{key}"]
            f[f"estimates/{key}"] = data.T


def test_frames_x_cells_detected_from_a(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays)
    _transpose_estimates(path)
    with pytest.warns(UserWarning, match=r"\[estimates/C\] is stored frames x cells \(41 x 6; "
                                         r"estimates/A has 6 components\): read as 6 cells x 41"):
        data = read_caiman(path)
    np.testing.assert_array_equal(data.traces, arrays["C"][ACCEPTED].astype(np.float32))
    assert data.meta["orientation"] == "frames x cells"
    with pytest.warns(UserWarning):
        plus = read_caiman(path, signal="C+YrA")
    expected = (arrays["C"].astype(np.float32) + arrays["YrA"].astype(np.float32))[ACCEPTED]
    np.testing.assert_allclose(plus.traces, expected, rtol=1e-6)


def test_frames_x_cells_detected_from_long_axis_without_a_or_f(tmp_path, arrays):
    path = write_caiman(tmp_path / "cnm.hdf5", arrays)
    _transpose_estimates(path)
    with h5py.File(path, "a") as f:
        del f["estimates/A"], f["estimates/f"]
    with pytest.warns(UserWarning, match="the frame axis is the long one"):
        data = read_caiman(path, keep_rejected=True)
    np.testing.assert_array_equal(data.traces, arrays["C"].astype(np.float32))


def test_more_cells_than_frames_kept_as_written_when_a_says_so(tmp_path):
    """A short recording (30 frames, 50 components): A's component count beats the long axis."""
    rng = np.random.default_rng(5)
    big = {"C": rng.normal(size=(50, 30)), "S": rng.random((50, 30)),
           "YrA": rng.normal(size=(50, 30)), "F_dff": rng.normal(size=(50, 30)),
           "A": scipy.sparse.random(100, 50, density=0.1, format="csc", random_state=2)}
    path = write_caiman(tmp_path / "cnm.hdf5", big, idx=None)
    with h5py.File(path, "a") as f:
        del f["estimates/f"]
        f["estimates/f"] = np.ones((1, 30))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = read_caiman(path)
    assert data.traces.shape == (50, 30) and data.meta["orientation"] == "cells x frames"


def test_cli_reads_frames_x_cells_as_cells(tmp_path, arrays, capsys):
    """The probe's case: a frames x cells matrix was read as thousands of 'cells' x 8 frames."""
    from cli_checks import cli_ok
    rng = np.random.default_rng(6)
    long = {"C": rng.normal(size=(N_COMP, 3000)), "S": rng.random((N_COMP, 3000)),
            "YrA": rng.normal(size=(N_COMP, 3000)), "F_dff": rng.normal(size=(N_COMP, 3000)),
            "A": arrays["A"]}
    path = write_caiman(tmp_path / "cnm.hdf5", long)
    _transpose_estimates(path)
    with h5py.File(path, "a") as f:
        del f["estimates/f"]
    out, err = cli_ok(["info", path], capsys)
    assert "4 cells x 3000 frames" in out and "frames x cells" in out
    assert "stored frames x cells (3,000 x 6" in err

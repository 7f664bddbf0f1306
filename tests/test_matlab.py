"""MATLAB reader: v7.3 files written by hdf5storage, v5 files written by scipy.io.savemat."""

from __future__ import annotations

import struct

import h5py
import hdf5storage
import numpy as np
import pytest
import scipy.io
import scipy.sparse

from gpudecode.errors import FormatError, InputFileError, ParameterError, ShapeError
from gpudecode.io import load_session, sniff_traces_format
from gpudecode.io.matlab import read_matlab

K, T = 4, 37  # K != T so a missed or extra transpose cannot pass


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(7)
    return {
        "C": rng.standard_normal((K, T)),
        "C_raw": rng.standard_normal((K, T)),
        "S": rng.random((K, T)),
        "A": rng.random((64, K)),
        "dff": rng.standard_normal((K, T)),
    }


def save73(path, mdict):
    hdf5storage.savemat(str(path), mdict, fmt="7.3", matlab_compatible=True)
    return path


def save5(path, mdict):
    scipy.io.savemat(str(path), mdict)
    return path


def cnmfe_dict(a, fs=15.0):
    return {"neuron_results": {"C": a["C"], "C_raw": a["C_raw"], "S": a["S"], "A": a["A"],
                               "Fs": fs}}


def min1pipe_dict(a, fs=20.0):
    return {"sigfn": a["C"], "spkfn": a["S"], "dff": a["dff"], "roifn": a["A"],
            "Params": {"Fsi_new": fs, "Fsi": 2 * fs, "neuron_size": 5.0}}


SAVERS = {"v7.3": save73, "v5": save5}


@pytest.mark.parametrize("version", ["v7.3", "v5"])
@pytest.mark.parametrize("signal,key", [("C", "C"), ("C_raw", "C_raw"), ("S", "S")])
def test_cnmfe_signals(tmp_path, arrays, version, signal, key):
    path = SAVERS[version](tmp_path / "results.mat", cnmfe_dict(arrays))
    data = read_matlab(path, signal=signal)
    assert data.traces.dtype == np.float32
    assert data.traces.shape == (K, T)
    np.testing.assert_array_equal(data.traces, arrays[key].astype(np.float32))
    assert data.frame_rate == 15.0
    assert data.cell_ids == [str(i) for i in range(K)]
    assert data.meta["layout"] == "cnmfe"
    assert data.meta["variable"] == f"neuron_results.{key}"
    assert data.meta["mat_version"] == ("7.3" if version == "v7.3" else "5")


@pytest.mark.parametrize("version", ["v7.3", "v5"])
@pytest.mark.parametrize("signal,key", [("C", "C"), ("sigfn", "C"), ("S", "S"),
                                        ("spkfn", "S"), ("dff", "dff")])
def test_min1pipe_signals(tmp_path, arrays, version, signal, key):
    path = SAVERS[version](tmp_path / "rec_data_processed.mat", min1pipe_dict(arrays))
    data = read_matlab(path, signal=signal)
    assert data.traces.shape == (K, T)
    np.testing.assert_array_equal(data.traces, arrays[key].astype(np.float32))
    assert data.frame_rate == 20.0
    assert data.meta["layout"] == "min1pipe"


@pytest.mark.parametrize("version", ["v7.3", "v5"])
def test_load_session_sniffs_matlab_and_builds_times(tmp_path, arrays, version):
    path = SAVERS[version](tmp_path / "results.mat", cnmfe_dict(arrays, fs=12.5))
    assert sniff_traces_format(path) == "matlab"
    sess = load_session(path)
    assert sess.source["format"] == "matlab"
    np.testing.assert_array_equal(sess.traces, arrays["C"].astype(np.float32))
    np.testing.assert_allclose(sess.frame_times, np.arange(T) / 12.5)


@pytest.mark.parametrize("version", ["v7.3", "v5"])
def test_min1pipe_load_session_frame_times(tmp_path, arrays, version):
    path = SAVERS[version](tmp_path / "rec_data_processed.mat", min1pipe_dict(arrays, fs=10.0))
    sess = load_session(path, signal="S")
    np.testing.assert_array_equal(sess.traces, arrays["S"].astype(np.float32))
    np.testing.assert_allclose(sess.frame_times, np.arange(T) / 10.0)


@pytest.mark.parametrize("version", ["v7.3", "v5"])
def test_user_frame_rate_overrides_file(tmp_path, arrays, version):
    path = SAVERS[version](tmp_path / "results.mat", cnmfe_dict(arrays, fs=15.0))
    assert read_matlab(path, frame_rate=30.0).frame_rate == 30.0
    sess = load_session(path, frame_rate=30.0)
    np.testing.assert_allclose(sess.frame_times, np.arange(T) / 30.0)


@pytest.mark.parametrize("version", ["v7.3", "v5"])
@pytest.mark.parametrize("one_d", [False, True])
def test_single_cell_file(tmp_path, arrays, version, one_d):
    trace = arrays["C"][0] if one_d else arrays["C"][:1]
    path = SAVERS[version](tmp_path / "one.mat",
                           {"neuron_results": {"C": trace, "S": trace, "Fs": 15.0}})
    data = read_matlab(path)
    assert data.traces.shape == (1, T)
    np.testing.assert_array_equal(data.traces[0], arrays["C"][0].astype(np.float32))


@pytest.mark.parametrize("version", ["v7.3", "v5"])
def test_plain_top_level_variables(tmp_path, arrays, version):
    path = SAVERS[version](tmp_path / "plain.mat", {"C": arrays["C"], "S": arrays["S"],
                                                    "Fs": 8.0})
    data = read_matlab(path, signal="S")
    np.testing.assert_array_equal(data.traces, arrays["S"].astype(np.float32))
    assert data.frame_rate == 8.0
    assert data.meta["layout"] == "plain"


def test_plain_without_rate_needs_user_rate(tmp_path, arrays):
    path = save73(tmp_path / "plain.mat", {"C": arrays["C"]})
    assert read_matlab(path).frame_rate is None
    with pytest.raises(ParameterError) as err:
        load_session(path)
    assert "[--frame-rate]" in str(err.value) and "plain.mat" in str(err.value)
    sess = load_session(path, frame_rate=5.0)
    np.testing.assert_allclose(sess.frame_times, np.arange(T) / 5.0)


def test_v5_sparse_spikes(tmp_path, arrays):
    spikes = np.where(arrays["S"] > 0.8, arrays["S"], 0.0)
    path = save5(tmp_path / "results.mat",
                 {"neuron_results": {"C": arrays["C"], "S": scipy.sparse.csc_matrix(spikes),
                                     "Fs": 15.0}})
    np.testing.assert_array_equal(read_matlab(path, signal="S").traces,
                                  spikes.astype(np.float32))


def test_v73_sparse_spikes(tmp_path, arrays):
    """MATLAB stores a sparse K x T matrix as a group: data, ir (rows), jc (column starts)."""
    spikes = np.where(arrays["S"] > 0.8, arrays["S"], 0.0)
    path = save73(tmp_path / "results.mat", {"neuron_results": {"C": arrays["C"], "Fs": 15.0}})
    csc = scipy.sparse.csc_matrix(spikes)
    with h5py.File(path, "a") as f:
        g = f["neuron_results"].create_group("S")
        g.attrs["MATLAB_class"] = np.bytes_("double")
        g.attrs["MATLAB_sparse"] = np.uint64(K)
        g["data"] = csc.data
        g["ir"] = csc.indices.astype(np.uint64)
        g["jc"] = csc.indptr.astype(np.uint64)
    np.testing.assert_array_equal(read_matlab(path, signal="S").traces,
                                  spikes.astype(np.float32))


def test_v73_has_user_block_and_reversed_shapes(tmp_path, arrays):
    """Guard on the oracle itself: the v7.3 file is HDF5 after 512 bytes, shapes reversed."""
    path = save73(tmp_path / "results.mat", cnmfe_dict(arrays))
    with open(path, "rb") as fh:
        assert fh.read(520)[512:] == b"\x89HDF\r\n\x1a\n"
    with h5py.File(path, "r") as f:
        assert f["neuron_results/C"].shape == (T, K)


# --- bad input ---------------------------------------------------------------------------


def test_classdef_v73(tmp_path, arrays):
    """A saved CNMF-E ``neuron`` object: a uint32 reference dataset of class Sources2D."""
    path = save73(tmp_path / "neuron.mat", {"opts": {"Fs": 15.0}})
    with h5py.File(path, "a") as f:
        ds = f.create_dataset("neuron", data=np.array([[3707764736, 2, 1, 1, 1, 1]],
                                                      dtype=np.uint32))
        ds.attrs["MATLAB_class"] = np.bytes_("Sources2D")
        ds.attrs["MATLAB_object_decode"] = np.int32(3)
    with pytest.raises(FormatError) as err:
        read_matlab(path)
    msg = str(err.value)
    assert "neuron.mat" in msg and "[neuron]" in msg
    assert "classdef" in msg and "Sources2D" in msg and "save_results" in msg


def _v5_element(mtype: int, data: bytes) -> bytes:
    return struct.pack("<II", mtype, len(data)) + data + b"\0" * (-len(data) % 8)


def write_v5_classdef(path, var="neuron", cls="Sources2D"):
    """A v5 MAT-file whose only variable is an MCOS (classdef) object, as MATLAB writes it.

    miMATRIX of class mxOPAQUE (17): array flags, variable name, type system ``MCOS``,
    class name, then a uint32 reference matrix into the (here absent) subsystem.
    """
    mi_int8, mi_int32, mi_uint32, mi_matrix = 1, 5, 6, 14
    ref = np.array([0xDD000000, 2, 1, 1, 1, 1], dtype="<u4")
    inner = (_v5_element(mi_uint32, struct.pack("<II", 13, 0))
             + _v5_element(mi_int32, struct.pack("<ii", 6, 1))
             + _v5_element(mi_int8, b"")
             + _v5_element(mi_uint32, ref.tobytes()))
    body = (_v5_element(mi_uint32, struct.pack("<II", 17, 0))
            + _v5_element(mi_int8, var.encode()) + _v5_element(mi_int8, b"MCOS")
            + _v5_element(mi_int8, cls.encode()) + _v5_element(mi_matrix, inner))
    header = (b"MATLAB 5.0 MAT-file, Platform: GLNXA64".ljust(116, b" ") + b"\0" * 8
              + struct.pack("<H", 0x0100) + b"IM")
    path.write_bytes(header + _v5_element(mi_matrix, body))
    return path


def test_classdef_v5(tmp_path):
    path = write_v5_classdef(tmp_path / "neuron.mat")
    assert isinstance(scipy.io.loadmat(str(path))["None"], scipy.io.matlab.MatlabOpaque)
    with pytest.raises(FormatError) as err:
        read_matlab(path)
    msg = str(err.value)
    assert "neuron.mat" in msg and "[neuron]" in msg
    assert "classdef" in msg and "Sources2D" in msg and "save_results" in msg


@pytest.mark.parametrize("version", ["v7.3", "v5"])
def test_missing_field_lists_fields(tmp_path, arrays, version):
    path = SAVERS[version](tmp_path / "results.mat",
                           {"neuron_results": {"C": arrays["C"], "Fs": 15.0}})
    with pytest.raises(FormatError) as err:
        read_matlab(path, signal="S")
    msg = str(err.value)
    assert "results.mat" in msg and "[neuron_results.S]" in msg
    assert "C, Fs" in msg


@pytest.mark.parametrize("version", ["v7.3", "v5"])
def test_missing_min1pipe_variable(tmp_path, arrays, version):
    path = SAVERS[version](tmp_path / "rec.mat", {"sigfn": arrays["C"],
                                                  "Params": {"Fsi_new": 20.0}})
    with pytest.raises(FormatError) as err:
        read_matlab(path, signal="S")
    msg = str(err.value)
    assert "[spkfn]" in msg and "Params, sigfn" in msg


@pytest.mark.parametrize("version", ["v7.3", "v5"])
def test_unknown_layout_lists_variables(tmp_path, arrays, version):
    path = SAVERS[version](tmp_path / "other.mat", {"traces": arrays["C"], "fps": 30.0})
    with pytest.raises(FormatError) as err:
        read_matlab(path)
    msg = str(err.value)
    assert "other.mat" in msg and "[C]" in msg and "fps, traces" in msg


def test_unknown_signal(tmp_path, arrays):
    path = save73(tmp_path / "results.mat", cnmfe_dict(arrays))
    with pytest.raises(ParameterError) as err:
        read_matlab(path, signal="spikes")
    assert "[signal]" in str(err.value) and "C, C_raw, S" in str(err.value)


@pytest.mark.parametrize("version", ["v7.3", "v5"])
def test_three_d_traces(tmp_path, version):
    path = SAVERS[version](tmp_path / "cube.mat",
                           {"neuron_results": {"C": np.zeros((2, 3, 4)), "Fs": 15.0}})
    with pytest.raises(ShapeError) as err:
        read_matlab(path)
    assert "[neuron_results.C]" in str(err.value) and "2-D" in str(err.value)


@pytest.mark.parametrize("version", ["v7.3", "v5"])
def test_bad_stored_frame_rate(tmp_path, arrays, version):
    path = SAVERS[version](tmp_path / "results.mat", cnmfe_dict(arrays, fs=0.0))
    with pytest.raises(FormatError) as err:
        read_matlab(path)
    assert "[neuron_results.Fs]" in str(err.value) and "--frame-rate" in str(err.value)
    assert read_matlab(path, frame_rate=15.0).frame_rate == 15.0


def test_text_field_is_not_traces(tmp_path):
    path = save73(tmp_path / "results.mat", {"neuron_results": {"C": "not numbers"}})
    with pytest.raises(FormatError) as err:
        read_matlab(path)
    assert "[neuron_results.C]" in str(err.value) and "numeric" in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError) as err:
        read_matlab(tmp_path / "nope.mat")
    assert "nope.mat" in str(err.value)


def test_not_a_mat_file(tmp_path):
    path = tmp_path / "junk.mat"
    path.write_text("this is not a MATLAB file\n" * 20)
    with pytest.raises(FormatError) as err:
        read_matlab(path)
    assert "junk.mat" in str(err.value) and "[format]" in str(err.value)

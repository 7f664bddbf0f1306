"""suite2p reader, on plane folders written with np.save as suite2p does."""

from __future__ import annotations

import numpy as np
import pytest

from gpudecode.errors import FormatError, InputFileError, ParameterError, ShapeError
from gpudecode.io import load_session, sniff_traces_format
from gpudecode.io.suite2p import read_suite2p

N_ROIS, T, FS = 5, 43, 9.5
ISCELL = np.array([[1.0, 0.93], [0.0, 0.12], [1.0, 0.81], [0.0, 0.40], [1.0, 0.99]])
CELLS = np.flatnonzero(ISCELL[:, 0] == 1)


class _Exploding:
    """Pickles to a call that raises when unpickled: int('never unpickle me')."""

    def __reduce__(self):
        return (int, ("never unpickle me",))


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(11)
    return {"F": rng.random((N_ROIS, T), dtype=np.float32) * 100,
            "Fneu": rng.random((N_ROIS, T), dtype=np.float32) * 50,
            "spks": rng.random((N_ROIS, T), dtype=np.float32)}


def write_plane(folder, a, *, ops=None, iscell=ISCELL):
    """A plane folder as suite2p writes it; ``ops.npy`` is np.save of a dict (a pickle)."""
    folder.mkdir(parents=True, exist_ok=True)
    for key in ("F", "Fneu", "spks"):
        np.save(folder / f"{key}.npy", a[key])
    if iscell is not None:
        np.save(folder / "iscell.npy", iscell)
    np.save(folder / "ops.npy", ops if ops is not None else {"fs": FS, "nframes": T})
    np.save(folder / "stat.npy", np.array([{"ypix": np.arange(3), "xpix": np.arange(3)}] * N_ROIS,
                                          dtype=object))
    return folder


@pytest.fixture
def plane(tmp_path, arrays):
    return write_plane(tmp_path / "rec" / "suite2p" / "plane0", arrays)


def test_oracle_ops_is_a_pickle(plane):
    with pytest.raises(ValueError, match="allow_pickle"):
        np.load(plane / "ops.npy", allow_pickle=False)
    assert np.load(plane / "ops.npy", allow_pickle=True).item()["fs"] == FS


def test_frame_rate_required_without_trust(plane):
    with pytest.raises(ParameterError) as err:
        read_suite2p(plane)
    msg = str(err.value)
    assert str(plane) in msg and "[frame_rate]" in msg
    assert "--frame-rate HZ" in msg and "--trust-pickle" in msg


@pytest.mark.parametrize("signal", ["F", "Fneu", "spks"])
def test_signals_with_frame_rate(plane, arrays, signal):
    data = read_suite2p(plane, signal=signal, frame_rate=20.0)
    assert data.traces.dtype == np.float32
    np.testing.assert_array_equal(data.traces, arrays[signal][CELLS])
    assert data.cell_ids == [str(i) for i in CELLS]
    assert data.frame_rate == 20.0 and data.frame_times is None
    assert data.meta["signal"] == signal and data.meta["n_rejected"] == 2


@pytest.mark.parametrize("signal", ["Fcorr", "F-0.7*Fneu"])
def test_neuropil_corrected(plane, arrays, signal):
    data = read_suite2p(plane, signal=signal, frame_rate=20.0)
    expected = arrays["F"][CELLS] - np.float32(0.7) * arrays["Fneu"][CELLS]
    np.testing.assert_allclose(data.traces, expected, rtol=1e-6)
    assert data.meta["signal"] == "Fcorr"


def test_keep_rejected(plane, arrays):
    data = read_suite2p(plane, frame_rate=20.0, keep_rejected=True)
    np.testing.assert_array_equal(data.traces, arrays["F"])
    assert data.cell_ids == [str(i) for i in range(N_ROIS)]
    assert data.meta["n_rejected"] == 2 and data.meta["kept_rejected"] is True


def test_without_iscell_keeps_all(tmp_path, arrays):
    folder = write_plane(tmp_path / "plane0", arrays, iscell=None)
    data = read_suite2p(folder, frame_rate=20.0)
    assert data.traces.shape == (N_ROIS, T) and data.meta["n_rejected"] == 0


def test_trust_pickle_reads_fs(plane, arrays):
    data = read_suite2p(plane, trust_pickle=True)
    assert data.frame_rate == FS
    np.testing.assert_array_equal(data.traces, arrays["F"][CELLS])


def test_user_rate_wins_over_ops(plane):
    assert read_suite2p(plane, frame_rate=20.0, trust_pickle=True).frame_rate == 20.0


@pytest.mark.parametrize("where", ["plane0", "parent", "rec"])
def test_folder_forms(plane, arrays, where):
    path = {"plane0": plane, "parent": plane.parent, "rec": plane.parent.parent}[where]
    data = read_suite2p(path, frame_rate=20.0)
    assert data.meta["plane"] == str(plane)
    np.testing.assert_array_equal(data.traces, arrays["F"][CELLS])


def test_never_unpickles_without_trust(tmp_path, arrays, monkeypatch):
    """ops.npy holds a pickle that raises if unpickled; np.load never sees allow_pickle=True."""
    folder = write_plane(tmp_path / "plane0", arrays, ops=np.array(_Exploding(), dtype=object))
    calls = []
    real_load = np.load

    def spy(file, *args, **kwargs):
        calls.append((str(file), kwargs.get("allow_pickle", False)))
        return real_load(file, *args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    data = read_suite2p(folder, frame_rate=20.0)
    assert data.traces.shape == (3, T)
    with pytest.raises(ParameterError):
        read_suite2p(folder)
    assert calls, "the spy must see the numeric loads"
    assert not any(allow for _, allow in calls)
    assert not any(name.endswith(("ops.npy", "stat.npy")) for name, _ in calls)
    sess = load_session(folder, frame_rate=20.0)
    assert sess.n_cells == 3
    assert not any(allow for _, allow in calls)


def test_trust_pickle_with_bad_ops(tmp_path, arrays):
    folder = write_plane(tmp_path / "plane0", arrays, ops=np.array(_Exploding(), dtype=object))
    with pytest.raises(FormatError) as err:
        read_suite2p(folder, trust_pickle=True)
    assert "ops.npy" in str(err.value) and "[fs]" in str(err.value)


def test_trust_pickle_ops_without_fs(tmp_path, arrays):
    folder = write_plane(tmp_path / "plane0", arrays, ops={"nframes": T})
    with pytest.raises(FormatError) as err:
        read_suite2p(folder, trust_pickle=True)
    assert "ops.npy" in str(err.value) and "[fs]" in str(err.value)


def test_trust_pickle_missing_ops(tmp_path, arrays):
    folder = write_plane(tmp_path / "plane0", arrays)
    (folder / "ops.npy").unlink()
    with pytest.raises(InputFileError) as err:
        read_suite2p(folder, trust_pickle=True)
    assert "ops.npy" in str(err.value) and "--frame-rate" in str(err.value)


def test_load_session_sniffs_suite2p(plane, arrays):
    root = plane.parent.parent
    assert sniff_traces_format(root) == "suite2p"
    sess = load_session(root, frame_rate=FS, signal="spks")
    assert sess.source["format"] == "suite2p"
    np.testing.assert_array_equal(sess.traces, arrays["spks"][CELLS])
    np.testing.assert_allclose(sess.frame_times, np.arange(T) / FS)
    assert list(sess.cell_ids) == [str(i) for i in CELLS]


def test_load_session_trust_pickle(plane):
    sess = load_session(plane, trust_pickle=True)
    np.testing.assert_allclose(sess.frame_times, np.arange(T) / FS)


# --- bad input ---------------------------------------------------------------------------


def test_pickled_f_is_format_error(tmp_path, arrays):
    folder = write_plane(tmp_path / "plane0", arrays)
    np.save(folder / "F.npy", np.array([np.zeros(T), np.zeros(T - 1)], dtype=object))
    with pytest.raises(FormatError) as err:
        read_suite2p(folder, frame_rate=20.0)
    msg = str(err.value)
    assert "F.npy" in msg and "[F]" in msg and "pickled" in msg


def test_f_not_2d(tmp_path, arrays):
    folder = write_plane(tmp_path / "plane0", arrays)
    np.save(folder / "F.npy", np.zeros(T, dtype=np.float32))
    with pytest.raises(ShapeError) as err:
        read_suite2p(folder, frame_rate=20.0)
    assert "F.npy" in str(err.value) and "2-D" in str(err.value)


def test_iscell_wrong_length(tmp_path, arrays):
    folder = write_plane(tmp_path / "plane0", arrays, iscell=ISCELL[:3])
    with pytest.raises(ShapeError) as err:
        read_suite2p(folder, frame_rate=20.0)
    assert "iscell.npy" in str(err.value) and "[iscell]" in str(err.value)


def test_fneu_shape_mismatch(tmp_path, arrays):
    folder = write_plane(tmp_path / "plane0", arrays)
    np.save(folder / "Fneu.npy", arrays["Fneu"][:, :-1])
    with pytest.raises(ShapeError) as err:
        read_suite2p(folder, signal="Fcorr", frame_rate=20.0)
    assert "Fneu.npy" in str(err.value)


def test_missing_signal_file(tmp_path, arrays):
    folder = write_plane(tmp_path / "plane0", arrays)
    (folder / "spks.npy").unlink()
    with pytest.raises(InputFileError) as err:
        read_suite2p(folder, signal="spks", frame_rate=20.0)
    assert "spks.npy" in str(err.value) and "[spks]" in str(err.value)


def test_unknown_signal(plane):
    with pytest.raises(ParameterError) as err:
        read_suite2p(plane, signal="dff", frame_rate=20.0)
    assert "[signal]" in str(err.value) and "Fcorr" in str(err.value)


@pytest.mark.parametrize("rate", [0.0, -3.0, float("nan")])
def test_bad_user_rate(plane, rate):
    with pytest.raises(ParameterError) as err:
        read_suite2p(plane, frame_rate=rate)
    assert "[frame_rate]" in str(err.value)


def test_all_rejected(tmp_path, arrays):
    iscell = ISCELL.copy()
    iscell[:, 0] = 0
    folder = write_plane(tmp_path / "plane0", arrays, iscell=iscell)
    with pytest.raises(ShapeError) as err:
        read_suite2p(folder, frame_rate=20.0)
    assert "iscell.npy" in str(err.value) and "--keep-rejected" in str(err.value)


def test_not_a_suite2p_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError) as err:
        read_suite2p(tmp_path / "empty", frame_rate=20.0)
    assert "empty" in str(err.value) and "plane0" in str(err.value)


def test_missing_folder(tmp_path):
    with pytest.raises(InputFileError) as err:
        read_suite2p(tmp_path / "nowhere", frame_rate=20.0)
    assert "nowhere" in str(err.value)


def test_warns_about_other_planes(tmp_path, arrays):
    root = tmp_path / "suite2p"
    write_plane(root / "plane0", arrays)
    write_plane(root / "plane1", arrays)
    with pytest.warns(UserWarning, match="plane1"):
        read_suite2p(root.parent, frame_rate=20.0)

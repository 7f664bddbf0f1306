import h5py
import numpy as np
import pytest

from gpudecode import Events, FormatError, InputFileError, Session, load_session
from gpudecode.io import sniff_traces_format
from gpudecode.io.native import read_ground_truth, read_session, save_session


def _session():
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(0.03, 0.04, size=200))
    ev = Events([1.0, 2.5, 4.0], ["Correct", "Incorrect", "Correct"],
                {"position": [1, 3, 2], "object": ["flower", "spider", "airplane"]})
    return Session(rng.normal(size=(5, 200)), t, ["c0", "c1", "c2", "c3", "c4"], ev,
                   animal="m1", session="s3", day=3)


def test_round_trip_to_float32(tmp_path):
    s = _session()
    gt = {"roles": np.array(["outcome", "none", "none", "location", "none"]),
          "outcome_cells": np.array([0]), "nested": {"p_correct": np.array(0.7)}, "kind": "pal"}
    save_session(s, tmp_path / "s.h5", ground_truth=gt)
    r = read_session(tmp_path / "s.h5")
    np.testing.assert_array_equal(r.traces, s.traces)
    np.testing.assert_array_equal(r.frame_times, s.frame_times)
    assert list(r.cell_ids) == list(s.cell_ids)
    assert (r.animal, r.session, r.day) == ("m1", "s3", 3)
    np.testing.assert_array_equal(r.events.times, s.events.times)
    assert list(r.events.names) == list(s.events.names)
    np.testing.assert_array_equal(r.events.attrs["position"], [1.0, 3.0, 2.0])
    assert list(r.events.attrs["object"]) == ["flower", "spider", "airplane"]
    g = read_ground_truth(tmp_path / "s.h5")
    assert list(g["roles"]) == list(gt["roles"]) and g["kind"] == "pal"
    assert float(g["nested"]["p_correct"]) == 0.7


def test_load_session_sniffs_own_layout(tmp_path):
    save_session(_session(), tmp_path / "s.h5")
    assert sniff_traces_format(tmp_path / "s.h5") == "gpudecode"
    s = load_session(tmp_path / "s.h5")
    assert s.n_cells == 5 and len(s.events) == 3 and s.animal == "m1"


def test_foreign_hdf5_is_a_format_error(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(FormatError) as exc:
        read_session(tmp_path / "x.h5")
    assert "x.h5" in str(exc.value) and "[format]" in str(exc.value)
    with pytest.raises(FormatError):
        load_session(tmp_path / "x.h5")


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        load_session(tmp_path / "nope.h5")


def test_crash_while_writing_leaves_nothing(tmp_path, monkeypatch):
    s = _session()
    target = tmp_path / "s.h5"

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr("gpudecode.io.native._write_tree", boom)
    with pytest.raises(RuntimeError):
        save_session(s, target, ground_truth={"x": np.zeros(2)})
    assert list(tmp_path.iterdir()) == []

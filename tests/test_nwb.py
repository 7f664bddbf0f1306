"""NWB reader: files written by pynwb (the oracle), plus hand-written event layouts."""

import datetime
import warnings

import h5py
import numpy as np
import pytest

pynwb = pytest.importorskip("pynwb")
from pynwb import NWBHDF5IO, NWBFile, TimeSeries  # noqa: E402
from pynwb.file import Subject  # noqa: E402
from pynwb.ophys import (DfOverF, Fluorescence, ImageSegmentation,  # noqa: E402
                         OpticalChannel, RoiResponseSeries)

from gpudecode.errors import FormatError, InputFileError, ParameterError  # noqa: E402
from gpudecode.io import load_session, load_traces, sniff_traces_format  # noqa: E402
from gpudecode.io.nwb import read_nwb, read_nwb_events  # noqa: E402

T0 = datetime.datetime(2024, 3, 1, 9, 0, tzinfo=datetime.timezone.utc)


@pytest.fixture(autouse=True)
def _quiet_pynwb():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"(pynwb|hdmf)")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(pynwb|hdmf)")
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"(pynwb|hdmf)")
        yield


def _nwbfile():
    return NWBFile(session_description="pal task", identifier="ident-42", session_start_time=T0,
                   session_id="day07", subject=Subject(subject_id="mouse3", species="Mus musculus"))


def _segmentation(nwb, n_rois, ids=None, accepted=None):
    dev = nwb.create_device(name="miniscope")
    ch = OpticalChannel(name="green", description="gcamp", emission_lambda=510.0)
    plane = nwb.create_imaging_plane(name="plane", optical_channel=ch, description="CA1",
                                     device=dev, excitation_lambda=470.0, imaging_rate=20.0,
                                     indicator="GCaMP6f", location="CA1")
    ophys = nwb.create_processing_module(name="ophys", description="ophys")
    seg = ImageSegmentation()
    ophys.add(seg)
    ps = seg.create_plane_segmentation(description="rois", imaging_plane=plane,
                                       name="PlaneSegmentation")
    if accepted is not None:
        ps.add_column(name="accepted", description="passed curation")
    ids = list(range(n_rois)) if ids is None else ids
    for i in range(n_rois):
        row = {"image_mask": np.zeros((3, 3)), "id": ids[i]}
        if accepted is not None:
            row["accepted"] = bool(accepted[i])
        ps.add_roi(**row)
    return ophys, ps


def _add_series(ophys, ps, data, container=Fluorescence, name="RoiResponseSeries", **kw):
    region = ps.create_roi_table_region(description="all", region=list(range(len(ps))))
    rrs = RoiResponseSeries(name=name, data=data, rois=region, unit="a.u.", **kw)
    ophys.add(container(roi_response_series=rrs))
    return rrs


def _write(nwb, path):
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def _timestamps(n):
    t = 0.5 + np.cumsum(np.linspace(0.045, 0.055, n))
    t[n // 2:] += 10.0  # a gap between trial-locked recordings
    return t


# ---------------------------------------------------------------- traces


def test_timestamps_series_round_trip_with_conversion_and_offset(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(40, 4)).astype(np.float32)  # time x rois, as NWB stores it
    nwb = _nwbfile()
    ophys, ps = _segmentation(nwb, 4, ids=[10, 11, 12, 13])
    times = _timestamps(40)
    _add_series(ophys, ps, data, timestamps=times, conversion=2.5, offset=-0.75)
    path = _write(nwb, tmp_path / "ts.nwb")

    with NWBHDF5IO(str(path), "r") as io:
        oracle = io.read().processing["ophys"]["Fluorescence"]["RoiResponseSeries"]
        expected = np.asarray(oracle.get_data_in_units()).T

    td = read_nwb(path)
    assert td.traces.shape == (4, 40) and td.traces.dtype == np.float32
    np.testing.assert_allclose(td.traces, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(td.traces, data.T * 2.5 - 0.75, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(td.frame_times, times)
    assert td.frame_rate is None
    assert td.cell_ids == ["10", "11", "12", "13"]
    assert td.meta["series"] == "/processing/ophys/Fluorescence/RoiResponseSeries"
    assert td.meta["animal"] == "mouse3" and td.meta["session"] == "day07"
    assert "series_alternatives" not in td.meta


def test_rate_based_series_and_single_roi(tmp_path):
    nwb = _nwbfile()
    ophys, ps = _segmentation(nwb, 1, ids=[7])
    data = np.arange(25, dtype=np.float32)  # 1-D: one ROI
    _add_series(ophys, ps, data, starting_time=2.0, rate=20.0)
    path = _write(nwb, tmp_path / "rate.nwb")

    td = read_nwb(path)
    assert td.traces.shape == (1, 25)
    np.testing.assert_array_equal(td.traces[0], data)
    np.testing.assert_allclose(td.frame_times, 2.0 + np.arange(25) / 20.0, rtol=0, atol=1e-12)
    assert td.frame_rate == 20.0
    assert td.cell_ids == ["7"]


def test_several_series_preference_and_linked_timestamps(tmp_path):
    nwb = _nwbfile()
    ophys, ps = _segmentation(nwb, 3)
    times = _timestamps(12)
    raw = np.ones((12, 3), dtype=np.float32)
    dff = np.full((12, 3), 0.25, dtype=np.float32)
    # DfOverF added first, so "first found" alone would not pick Fluorescence
    dff_series = _add_series(ophys, ps, dff, container=DfOverF, name="dff", timestamps=times)
    _add_series(ophys, ps, raw, name="raw", timestamps=dff_series)  # timestamps: a link
    path = _write(nwb, tmp_path / "two.nwb")
    with h5py.File(path, "r") as f:
        link = f["processing/ophys/Fluorescence/raw"].get("timestamps", getlink=True)
        assert isinstance(link, h5py.SoftLink)

    td = read_nwb(path)
    assert td.meta["series"] == "/processing/ophys/Fluorescence/raw"
    assert td.meta["series_alternatives"] == ["/processing/ophys/DfOverF/dff"]
    np.testing.assert_array_equal(td.traces, raw.T)
    np.testing.assert_array_equal(td.frame_times, times)

    for pick in ("dff", "/processing/ophys/DfOverF/dff", "DfOverF"):
        td = read_nwb(path, series=pick)
        assert td.meta["series"] == "/processing/ophys/DfOverF/dff"
        np.testing.assert_array_equal(td.traces, dff.T)
    with pytest.raises(ParameterError) as err:
        read_nwb(path, series="nope")
    assert "nope" in str(err.value) and "/processing/ophys/DfOverF/dff" in str(err.value)


def test_rejected_rois_dropped_unless_kept(tmp_path):
    nwb = _nwbfile()
    ophys, ps = _segmentation(nwb, 5, ids=[100, 101, 102, 103, 104],
                              accepted=[True, False, True, True, False])
    data = np.arange(50, dtype=np.float32).reshape(10, 5)
    _add_series(ophys, ps, data, timestamps=np.arange(10) * 0.05)
    path = _write(nwb, tmp_path / "acc.nwb")

    td = read_nwb(path)
    assert td.cell_ids == ["100", "102", "103"]
    np.testing.assert_array_equal(td.traces, data[:, [0, 2, 3]].T)
    assert td.meta["n_rejected"] == 2

    kept = read_nwb(path, keep_rejected=True)
    assert kept.cell_ids == ["100", "101", "102", "103", "104"]
    np.testing.assert_array_equal(kept.traces, data.T)


# ---------------------------------------------------------------- events


def _file_with_traces(n_frames=200, rate=20.0):
    nwb = _nwbfile()
    ophys, ps = _segmentation(nwb, 3)
    data = np.random.default_rng(1).normal(size=(n_frames, 3)).astype(np.float32)
    _add_series(ophys, ps, data, starting_time=0.0, rate=rate)
    return nwb


def test_trials_table_becomes_trial_events(tmp_path):
    nwb = _file_with_traces()
    nwb.add_trial_column(name="outcome", description="correct or incorrect")
    nwb.add_trial_column(name="rt", description="reaction time (s)")
    nwb.add_trial_column(name="licks", description="lick times", index=True)
    rows = [(1.0, 2.0, "correct", 0.41, [1.1, 1.2]), (3.0, 4.5, "incorrect", 0.73, []),
            (5.0, 6.0, "correct", 0.38, [5.5])]
    for start, stop, outcome, rt, licks in rows:
        nwb.add_trial(start_time=start, stop_time=stop, outcome=outcome, rt=rt, licks=licks)
    path = _write(nwb, tmp_path / "trials.nwb")

    ev = read_nwb_events(path)
    assert list(ev.names) == ["trial"] * 3
    np.testing.assert_array_equal(ev.times, [1.0, 3.0, 5.0])
    np.testing.assert_array_equal(ev.attrs["stop_time"], [2.0, 4.5, 6.0])
    assert list(ev.attrs["outcome"]) == ["correct", "incorrect", "correct"]
    np.testing.assert_array_equal(ev.attrs["rt"], [0.41, 0.73, 0.38])
    assert list(ev.attrs["licks"]) == ["1.1;1.2", "", "5.5"]  # ragged: joined with ';'
    assert "start_time" not in ev.attrs and "id" not in ev.attrs


def test_annotation_and_behavioral_events(tmp_path):
    from pynwb.behavior import BehavioralEvents
    from pynwb.misc import AnnotationSeries

    nwb = _file_with_traces()
    nwb.add_acquisition(AnnotationSeries(name="notes", data=["Correct", "Incorrect"],
                                         timestamps=[2.5, 7.25]))
    beh = nwb.create_processing_module(name="behavior", description="behaviour")
    be = BehavioralEvents(name="BehavioralEvents")
    beh.add(be)
    be.add_timeseries(TimeSeries(name="reward", data=np.array([1.0, 3.0]), unit="drops",
                                 timestamps=[3.0, 8.0]))
    path = _write(nwb, tmp_path / "beh.nwb")

    ev = read_nwb_events(path)
    assert list(ev.names) == ["Correct", "reward", "Incorrect", "reward"]
    np.testing.assert_array_equal(ev.times, [2.5, 3.0, 7.25, 8.0])
    assert list(ev.attrs["series"]) == ["notes", "", "notes", ""]
    r = ev.select(["reward"])
    np.testing.assert_array_equal(ev.attrs["value"][r], [1.0, 3.0])


def test_events_table_written_by_pynwb(tmp_path):
    event_mod = pytest.importorskip("pynwb.event")
    nwb = _file_with_traces()
    table = event_mod.EventsTable(name="lick", description="lick onsets")
    table.add_column(name="spout", description="which spout")
    table.add_event(timestamp=1.5, duration=0.05, spout="left")
    table.add_event(timestamp=2.5, duration=0.04, spout="right")
    nwb.add_events_table(table)
    path = _write(nwb, tmp_path / "et.nwb")

    ev = read_nwb_events(path)
    assert list(ev.names) == ["lick", "lick"]
    np.testing.assert_array_equal(ev.times, [1.5, 2.5])
    np.testing.assert_array_equal(ev.attrs["duration"], [0.05, 0.04])
    assert list(ev.attrs["spout"]) == ["left", "right"]


def test_hand_written_events_tables(tmp_path):
    """EventsTable (FORMATS.md) and ndx-events 0.2 layouts, written with h5py into a pynwb file."""
    path = _write(_file_with_traces(), tmp_path / "hand.nwb")
    text = h5py.string_dtype("utf-8")
    with h5py.File(path, "a") as f:
        root = f.require_group("events")
        g = root.create_group("touch")
        g.attrs.update(neurodata_type="EventsTable", namespace="core", description="touches",
                       colnames=np.array(["timestamp", "duration", "position", "object"],
                                         dtype=object))
        g.create_dataset("timestamp", data=np.array([4.0, 1.0]), dtype="f8")
        g.create_dataset("duration", data=np.array([0.1, np.nan]))
        g.create_dataset("position", data=np.array([3, 1], dtype=np.int64))
        g.create_dataset("object", data=["spider", "flower"], dtype=text)
        g.create_dataset("id", data=np.arange(2))

        acq = f["acquisition"]
        ttl = acq.create_group("ttl")
        ttl.attrs.update(neurodata_type="TTLs", namespace="ndx-events", description="pulses")
        ttl.create_dataset("timestamps", data=np.array([0.5, 6.0], dtype=np.float32))
        d = ttl.create_dataset("data", data=np.array([2, 1], dtype=np.uint8))
        d.attrs.create("labels", data=["", "camera", "reward"], dtype=text)
        simple = acq.create_group("sync")
        simple.attrs.update(neurodata_type="Events", namespace="ndx-events", description="s")
        simple.create_dataset("timestamps", data=np.array([9.0], dtype=np.float32))
        odd = acq.create_group("weird")  # an unknown layout: skipped, no crash
        odd.attrs.update(neurodata_type="LabeledEvents", namespace="ndx-events")
        odd.create_dataset("timestamps", data=np.array([1.0, 2.0]))
        odd.create_dataset("data", data=np.array([0], dtype=np.uint8))

    ev = read_nwb_events(path)
    assert list(ev.names) == ["reward", "touch", "touch", "camera", "sync"]
    np.testing.assert_array_equal(ev.times, [0.5, 1.0, 4.0, 6.0, 9.0])
    t = ev.select(["touch"])
    assert list(ev.attrs["object"][t]) == ["flower", "spider"]
    np.testing.assert_array_equal(ev.attrs["position"][t], [1.0, 3.0])
    assert np.isnan(ev.attrs["duration"][t][0]) and ev.attrs["duration"][t][1] == 0.1
    np.testing.assert_array_equal(ev.attrs["value"][ev.select(["reward", "camera"])], [2, 1])


def test_load_session_end_to_end(tmp_path):
    nwb = _file_with_traces(n_frames=200, rate=20.0)
    nwb.add_trial_column(name="outcome", description="correct or incorrect")
    nwb.add_trial(start_time=2.0, stop_time=3.0, outcome="correct")
    nwb.add_trial(start_time=6.0, stop_time=7.0, outcome="incorrect")
    path = _write(nwb, tmp_path / "session.nwb")

    assert sniff_traces_format(path) == "nwb"
    s = load_session(path)
    assert s.source["format"] == "nwb"
    assert s.traces.shape == (3, 200)
    np.testing.assert_allclose(s.frame_times, np.arange(200) / 20.0, atol=1e-12)
    assert s.animal == "mouse3" and s.session == "day07"
    assert list(s.events.names) == ["trial", "trial"]
    assert list(s.events.attrs["outcome"]) == ["correct", "incorrect"]
    assert len(read_nwb(path).events) == 2


# ---------------------------------------------------------------- bad input


def test_hdf5_without_nwb_marker(tmp_path):
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as f:
        f["data"] = np.zeros((5, 3))
    with pytest.raises(FormatError) as err:
        load_session(path, format="nwb")
    assert str(path) in str(err.value) and "nwb_version" in str(err.value)
    with pytest.raises(FormatError):
        read_nwb_events(path)


def test_nwb_without_ophys(tmp_path):
    nwb = _nwbfile()
    nwb.add_trial(start_time=1.0, stop_time=2.0)
    path = _write(nwb, tmp_path / "noophys.nwb")
    with pytest.raises(FormatError) as err:
        load_traces(path)
    msg = str(err.value)
    assert str(path) in msg and "RoiResponseSeries" in msg and "Fix:" in msg
    assert len(read_nwb_events(path)) == 1  # the events are still readable


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError) as err:
        read_nwb(tmp_path / "gone.nwb")
    assert "gone.nwb" in str(err.value)


def test_unavailable_compression_filter_names_hdf5plugin(tmp_path):
    """A filter HDF5 cannot load (here: LZF, unregistered for the test) -> install hint."""
    if not hasattr(h5py.h5z, "_register_lzf"):
        pytest.skip("h5py without a way to re-register LZF")
    from hdmf.backends.hdf5 import H5DataIO

    nwb = _nwbfile()
    ophys, ps = _segmentation(nwb, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "lzf may not be available": that is the point
        data = H5DataIO(np.ones((30, 2), dtype=np.float32), compression="lzf")
    _add_series(ophys, ps, data, starting_time=0.0, rate=10.0)
    path = _write(nwb, tmp_path / "lzf.nwb")
    h5py.h5z.unregister_filter(h5py.h5z.FILTER_LZF)
    try:
        with pytest.raises(FormatError) as err:
            read_nwb(path)
    finally:
        h5py.h5z._register_lzf()
    msg = str(err.value)
    assert "pip install hdf5plugin" in msg and "/RoiResponseSeries/data" in msg
    assert str(path) in msg
    np.testing.assert_array_equal(read_nwb(path).traces, np.ones((2, 30)))


# ---------------------------------------------------------------- damaged files


def test_truncated_nwb_is_one_typed_error(tmp_path, capsys):
    """An interrupted copy: h5py's OSError becomes a FormatError naming the file."""
    from cli_checks import cli_error
    nwb = _nwbfile()
    ophys, ps = _segmentation(nwb, 3)
    _add_series(ophys, ps, np.random.default_rng(0).normal(size=(4000, 3)), starting_time=0.0,
                rate=20.0)
    full = _write(nwb, tmp_path / "full.nwb").read_bytes()
    cut = tmp_path / "cut.nwb"
    cut.write_bytes(full[:len(full) // 3])
    (tmp_path / "full.nwb").unlink()
    for call in (sniff_traces_format, load_session, read_nwb, read_nwb_events):
        with pytest.raises(FormatError) as exc:
            call(cut)
        assert "cut.nwb" in str(exc.value) and "truncated" in str(exc.value), call
    cli_error(["info", cut], capsys, tmp_path, "cut.nwb", "[file]", "truncated",
              "copy the file again")
    cli_error(["info", cut, "--format", "nwb"], capsys, tmp_path, "cut.nwb", "truncated")

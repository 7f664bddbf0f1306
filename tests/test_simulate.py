"""The PAL simulator: task structure, learning, planted cell roles, and its writers."""

from __future__ import annotations

import csv
import importlib
import sys
from collections import Counter

import numpy as np
import pytest

from gpudecode.errors import ParameterError
from gpudecode.simulate import (HOME_LOCATION, TRIAL_TYPES, learning_curve, simulate_cohort,
                                simulate_session, write_simulation)


def _need(module: str, name: str):
    """The named writer/reader, or skip while the module that provides it is not written yet."""
    try:
        mod = importlib.import_module(module)
    except ImportError:
        pytest.skip(f"{module} not available yet")
    if not hasattr(mod, name):
        pytest.skip(f"{module}.{name} not available yet")
    return getattr(mod, name)


def _window_means(session, names, a, b):
    """Mean activity (anchors x cells) in [t + a, t + b) around each event named in ``names``."""
    idx = session.events.select(names)
    ft = session.frame_times
    out = np.empty((idx.size, session.n_cells))
    for k, i in enumerate(idx):
        t = session.events.times[i]
        i0, i1 = np.searchsorted(ft, t + a), np.searchsorted(ft, t + b)
        out[k] = session.traces[:, i0:i1].mean(axis=1)
    return idx, out


def _outcome_difference(session, a=0.0, b=1.5):
    """Per cell: mean baseline-subtracted activity in [a, b] s after Correct minus Incorrect."""
    idx, post = _window_means(session, ["Correct", "Incorrect"], a, b)
    _, pre = _window_means(session, ["Correct", "Incorrect"], -1.0, 0.0)
    resp = post - pre
    correct = session.events.names[idx] == "Correct"
    assert correct.sum() >= 5 and (~correct).sum() >= 5
    return resp[correct].mean(axis=0) - resp[~correct].mean(axis=0)


@pytest.fixture(scope="module")
def planted():
    return simulate_session(n_cells=40, seed=11, session_index=2,
                            roles={"outcome": 0.2, "location": 0.1, "object": 0.1,
                                   "ensemble": 0.15})


def test_same_seed_same_session_other_seed_differs():
    a, ta = simulate_session(n_cells=6, n_trials=12, seed=5)
    b, tb = simulate_session(n_cells=6, n_trials=12, seed=5)
    c, _ = simulate_session(n_cells=6, n_trials=12, seed=6)
    np.testing.assert_array_equal(a.traces, b.traces)
    np.testing.assert_array_equal(a.frame_times, b.frame_times)
    np.testing.assert_array_equal(a.events.times, b.events.times)
    np.testing.assert_array_equal(a.events.names, b.events.names)
    for key in ta:
        np.testing.assert_array_equal(np.asarray(ta[key]), np.asarray(tb[key]), err_msg=key)
    assert a.events.times.size != c.events.times.size or \
        not np.array_equal(a.events.times, c.events.times)


def test_shapes_dtypes_and_frame_times():
    s, truth = simulate_session(n_cells=7, n_trials=12, fs=20.0, seed=2, session_index=4,
                                animal="m7")
    assert s.traces.dtype == np.float32 and s.traces.shape == (7, s.frame_times.size)
    assert s.frame_times.dtype == np.float64
    assert np.all(np.diff(s.frame_times) > 0)
    assert abs(np.median(np.diff(s.frame_times)) - 1 / 20.0) < 1e-3
    assert abs(s.frame_rate - 20.0) < 0.2
    assert (s.animal, s.session, s.day) == ("m7", "s05", 5)
    assert list(s.cell_ids) == [f"C{i:03d}" for i in range(7)]
    assert np.all(np.isfinite(s.traces))
    # every event lies inside the recording, on the imaging clock
    assert s.frame_times[0] < s.events.times[0] and s.events.times[-1] < s.frame_times[-1]
    assert truth["role"].shape == (7,) and truth["role"].dtype.kind == "U"


def test_scheduled_trials_cover_six_types_six_times():
    s, truth = simulate_session(n_cells=3, seed=4)
    ev = s.events
    disp = ev.select(["Display Image"])
    scheduled = disp[ev.attrs["correction"][disp] == 0]
    assert scheduled.size == 36
    assert Counter(ev.attrs["trial_type"][scheduled].astype(int).tolist()) == \
        {t: 6 for t in range(1, 7)}
    np.testing.assert_array_equal(ev.attrs["trial"][scheduled], np.arange(36))
    np.testing.assert_array_equal(truth["trial_type"], ev.attrs["trial_type"][scheduled])
    for i in disp:
        target, t_loc, distractor, d_loc = TRIAL_TYPES[int(ev.attrs["trial_type"][i])]
        assert ev.attrs["object"][i] == target and ev.attrs["location"][i] == t_loc
        assert ev.attrs["distractor_object"][i] == distractor
        assert ev.attrs["distractor_location"][i] == d_loc


def test_trial_types_are_the_six_pal_displays():
    displays = set()
    for target, t_loc, distractor, d_loc in TRIAL_TYPES.values():
        assert HOME_LOCATION[target] == t_loc            # target in its own place
        assert distractor != target and d_loc != t_loc
        assert HOME_LOCATION[distractor] != d_loc        # distractor in a wrong place
        displays.add((target, t_loc, distractor, d_loc))
    assert len(displays) == 6


def test_correction_trials_repeat_until_correct():
    s, truth = simulate_session(n_cells=3, seed=8, session_index=0)
    ev = s.events
    disp = ev.select(["Display Image"])
    outcome = ev.select(["Correct", "Incorrect"])
    assert outcome.size == disp.size
    correct = ev.names[outcome] == "Correct"
    trial = ev.attrs["trial"][outcome]
    corr = ev.attrs["correction"][outcome]
    for t in range(36):
        mine = trial == t
        # attempts of one trial: incorrect ones, then exactly one correct, which ends it
        assert correct[mine][-1] and correct[mine].sum() == 1
        np.testing.assert_array_equal(corr[mine], (np.arange(mine.sum()) > 0).astype(float))
        same = ev.attrs["trial_type"][outcome][mine]
        assert np.all(same == same[0])
    n_corr = int((corr == 1).sum())
    assert n_corr == truth["n_correction_trials"] > 0
    starts = ev.times[ev.select(["Start Correction Trial"])]
    assert starts.size == n_corr
    np.testing.assert_array_equal(truth["trial_correct"], correct[corr == 0].astype(np.int8))
    # "exclude within 12 s of Start Correction Trial" drops exactly the correction attempts
    dist = np.abs(ev.times[outcome][:, None] - starts[None, :]).min(axis=1)
    assert np.all(dist[corr == 1] <= 12.0) and np.all(dist[corr == 0] > 12.0)


def test_abet_events_timing_and_attributes():
    s, truth = simulate_session(n_cells=3, seed=9, session_index=5)
    ev = s.events
    assert ev.names[0] == "Schedule Startup Event"
    touch = ev.select(["Touch Down Event"])
    assert set(ev.attrs["Evnt_Name"][touch]) == {"Touch Down Event"}
    np.testing.assert_array_equal(ev.attrs["Arg1_Value"][touch], ev.attrs["location"][touch])
    assert set(ev.attrs["Arg1_Value"][touch].astype(int)) <= {1, 2, 3}
    for i in touch:
        obj, loc = ev.attrs["object"][i], int(ev.attrs["location"][i])
        assert HOME_LOCATION[obj] == loc or ev.names[i + 1] == "Incorrect"
    assert set(ev.attrs["Evnt_Name"][ev.select(["Correct", "Incorrect", "Display Image"])]) == \
        {"Condition Event"}
    correct_t = ev.times[ev.select(["Correct"])]
    reward_t = ev.times[ev.select(["Reward Collected Start ITI"])]
    assert correct_t.size == reward_t.size
    assert np.all((reward_t - correct_t >= 1.0 - 1e-6) & (reward_t - correct_t <= 4.0 + 1e-3))
    init = ev.times[(ev.names == "Tray #1") & (ev.attrs["Evnt_Name"] != "")]
    assert init.size == ev.select(["Display Image"]).size + reward_t.size
    # the next trial begins 10-20 s (+ initiation latency) after reward collection
    disp_t = ev.times[ev.select(["Display Image"])]
    nxt = disp_t[np.searchsorted(disp_t, reward_t[:-1])]
    assert np.all(nxt - reward_t[:-1] > 10.0)
    ttl = ev.times[ev.select(["TTL #1"])]
    np.testing.assert_allclose(ttl, disp_t)
    np.testing.assert_allclose(truth["sync_pulses"], ttl)
    startup = ev.times[0]
    assert abs(startup - (truth["clock_offset"] + truth["clock_scale"] * 0.05)) < 1e-9


def test_learning_curve_and_cohort_performance_rise():
    p = learning_curve(np.arange(14), 14)
    assert abs(p[0] - 0.5) < 1e-12 and abs(p[-1] - 0.85) < 1e-12
    assert np.all(np.diff(p) > 0)
    sims = simulate_cohort(n_animals=2, n_sessions=14, seed=1, n_cells=2)
    assert [s.animal for s, _ in sims] == ["sim01"] * 14 + ["sim02"] * 14
    assert [s.day for s, _ in sims[:14]] == list(range(1, 15))
    pc = np.array([t["p_correct"] for _, t in sims]).reshape(2, 14)
    obs = np.array([t["fraction_correct"] for _, t in sims]).reshape(2, 14)
    assert np.all(pc[:, 0] < 0.62) and np.all(pc[:, -1] > 0.74)
    assert np.all(pc[:, -4:].mean(axis=1) > pc[:, :4].mean(axis=1) + 0.2)
    assert obs[:, -4:].mean() > obs[:, :4].mean() + 0.15
    assert not np.allclose(pc[0], pc[1])                 # animals learn differently
    # fewer errors late -> fewer correction trials
    n_corr = np.array([t["n_correction_trials"] for _, t in sims]).reshape(2, 14)
    assert n_corr[:, -4:].sum() < n_corr[:, :4].sum()


def test_outcome_cells_differ_after_correct_and_incorrect(planted):
    s, truth = planted
    diff = _outcome_difference(s)
    out, untuned = truth["outcome_cells"], truth["untuned_cells"]
    assert out.size == 8
    assert diff[out].mean() > 0.1
    assert diff[out].mean() > diff[untuned].mean() + 5 * diff[untuned].std()
    assert np.median(diff[out]) > np.percentile(diff[untuned], 95)


def test_outcome_signal_starts_at_the_onset():
    s, truth = simulate_session(n_cells=20, seed=12, session_index=1, signal_onset=1.0,
                                roles={"outcome": 0.4, "location": 0, "object": 0,
                                       "ensemble": 0})
    out = truth["outcome_cells"]
    early = _outcome_difference(s, 0.0, 0.8)[out].mean()
    late = _outcome_difference(s, 1.2, 2.2)[out].mean()
    assert truth["signal_onset"] == 1.0
    assert late > 0.1 and late > 4 * abs(early)


def _preference(session, anchor, column, a, b, cells, preferred):
    """Per cell: baseline-subtracted response when ``column`` == preferred minus otherwise."""
    idx, resp = _window_means(session, [anchor], a, b)
    _, pre = _window_means(session, [anchor], -1.0, -0.1)
    resp = resp - pre
    value = session.events.attrs[column][idx]
    return np.array([resp[value == p, c].mean() - resp[value != p, c].mean()
                     for c, p in zip(cells, preferred)])


def test_location_and_object_cells_prefer_their_stimulus(planted):
    s, truth = planted
    untuned = truth["untuned_cells"]
    tuned = _preference(s, "Touch Down Event", "location", 0.0, 0.6,
                        truth["location_cells"], truth["preferred_location"])
    control = _preference(s, "Touch Down Event", "location", 0.0, 0.6,
                          untuned, np.resize([1, 2, 3], untuned.size))
    assert tuned.size == 4 and np.all(tuned > 0)
    assert np.median(tuned) > np.percentile(control, 90) and tuned.mean() > 0.05
    tuned = _preference(s, "Display Image", "object", 0.1, 0.8,
                        truth["object_cells"], truth["preferred_object"])
    control = _preference(s, "Display Image", "object", 0.1, 0.8,
                          untuned, np.resize(["flower", "airplane", "spider"], untuned.size))
    assert tuned.size == 4 and np.all(tuned > 0)
    assert np.median(tuned) > np.percentile(control, 90) and tuned.mean() > 0.05


def _ensemble_stats(s, cells, onset=0.2, duration=1.0):
    ev = s.events
    idx = ev.select(["Correct", "Incorrect"])
    ft = s.frame_times
    corr, mean = [], []
    for i in idx:
        t = ev.times[i]
        i0, i1 = np.searchsorted(ft, [t + onset, t + onset + duration + 0.5])
        x = s.traces[cells, i0:i1]
        c = np.corrcoef(x)
        corr.append(np.nanmean(c[np.triu_indices(len(cells), 1)]))
        mean.append(x.mean())
    correct = ev.names[idx] == "Correct"
    corr, mean = np.array(corr), np.array(mean)
    return (np.nanmean(corr[correct]), np.nanmean(corr[~correct]),
            mean[correct].mean(), mean[~correct].mean())


def test_ensemble_fires_together_after_correct_at_the_same_rate(planted):
    s, truth = planted
    ens = truth["ensemble_cells"]
    assert ens.size == 6
    r_c, r_i, m_c, m_i = _ensemble_stats(s, ens)
    assert r_c > r_i + 0.15
    assert abs(m_c - m_i) < 0.25 * max(m_c, m_i)
    # the ensemble is not an outcome signal: its correct-incorrect difference is small
    diff = _outcome_difference(s)
    assert abs(diff[ens].mean()) < 0.3 * diff[truth["outcome_cells"]].mean()


def test_null_session_plants_nothing(planted):
    s0, truth0 = planted
    s, truth = simulate_session(n_cells=40, seed=11, session_index=2, null=True)
    assert set(truth["role"]) == {"untuned"}
    assert truth["outcome_cells"].size == truth["ensemble_cells"].size == 0
    assert truth["untuned_cells"].size == 40
    # same behaviour, same cells: the former outcome cells now show no difference
    np.testing.assert_array_equal(s.events.times, s0.events.times)
    diff, diff0 = _outcome_difference(s), _outcome_difference(s0)
    out0 = truth0["outcome_cells"]
    assert diff0[out0].mean() > 0.1
    assert abs(diff[out0].mean()) < 0.25 * diff0[out0].mean()
    assert abs(diff.mean()) < 3 * diff.std() / np.sqrt(diff.size) + 0.02
    r_c, r_i, _, _ = _ensemble_stats(s, truth0["ensemble_cells"])
    assert r_c < r_i + 0.1
    # zero fractions are the same as null for the roles
    _, t2 = simulate_session(n_cells=10, n_trials=6, seed=3,
                             roles={"outcome": 0, "location": 0, "object": 0, "ensemble": 0})
    assert set(t2["role"]) == {"untuned"}


def test_roles_default_fractions_and_persist_across_sessions():
    _, t0 = simulate_session(seed=21, session_index=0, n_trials=6)
    assert t0["role"].size == 109
    frac = Counter(t0["role"].tolist())
    assert 0.65 <= frac["untuned"] / 109 <= 0.75
    assert frac["outcome"] == 11 and frac["ensemble"] == 5
    _, t9 = simulate_session(seed=21, session_index=9, n_trials=6)
    for key in ("role", "outcome_cells", "location_cells", "preferred_location",
                "object_cells", "preferred_object", "ensemble_cells"):
        np.testing.assert_array_equal(t0[key], t9[key], err_msg=key)
    assert t9["p_correct"] > t0["p_correct"]
    sims = simulate_cohort(n_animals=2, n_sessions=2, seed=0, n_cells=30, n_trials=6)
    np.testing.assert_array_equal(sims[0][1]["role"], sims[1][1]["role"])
    assert not np.array_equal(sims[0][1]["role"], sims[2][1]["role"])


@pytest.mark.parametrize("kwargs, field, words", [
    (dict(roles={"reward": 0.1}), "roles", "unknown cell role"),
    (dict(roles={"outcome": 0.6, "location": 0.6}), "roles", "planted cells"),
    (dict(roles={"outcome": -0.1}), "roles.outcome", "[0, 1]"),
    (dict(session_index=14), "session_index", "n_sessions"),
    (dict(fs=0), "fs", "> 0"),
    (dict(n_trials=0), "n_trials", "> 0"),
    (dict(n_cells=2.5), "n_cells", "integer"),
    (dict(p_correct=1.5), "p_correct", "[0, 1]"),
    (dict(gains={"outcome": -1}), "gains.outcome", ">= 0"),
])
def test_bad_parameters_raise_parameter_error(kwargs, field, words):
    with pytest.raises(ParameterError) as err:
        simulate_session(**kwargs)
    assert err.value.field == field and words in str(err.value)


def test_cohort_refuses_session_level_arguments():
    with pytest.raises(ParameterError, match="animal"):
        simulate_cohort(n_animals=1, n_sessions=1, animal="x")


# ----------------------------------------------------------------------------- writers

@pytest.fixture(scope="module")
def small_sims():
    return simulate_cohort(n_animals=1, n_sessions=2, seed=4, n_cells=5, n_trials=6)


def _manifest(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_write_simulation_rejects_unknown_format_and_writes_nothing(tmp_path, small_sims):
    out = tmp_path / "out"
    with pytest.raises(ParameterError) as err:
        write_simulation(out, small_sims, formats=("h5", "mat"))
    assert err.value.field == "formats" and "mat" in str(err.value)
    assert not out.exists()


def test_nwb_output_without_pynwb_is_a_clear_error(tmp_path, small_sims, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynwb", None)
    out = tmp_path / "out"
    with pytest.raises(ParameterError, match="NWB output needs pynwb: pip install pynwb"):
        write_simulation(out, small_sims, formats=("nwb",))
    assert not out.exists()


def test_write_nwb_is_readable_by_pynwb(tmp_path, small_sims):
    pynwb = pytest.importorskip("pynwb")
    paths = write_simulation(tmp_path, small_sims, formats=("nwb",))
    names = sorted(p.name for p in paths)
    assert names == sorted(["sim01_s01.nwb", "sim01_s02.nwb", "sim01_s01_truth.json",
                            "sim01_s02_truth.json", "manifest.csv"])
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    rows = _manifest(tmp_path / "manifest.csv")
    assert [(r["animal"], r["session"], r["day"], r["format"], r["traces"], r["events"])
            for r in rows] == [("sim01", "s01", "1", "nwb", "sim01_s01.nwb", ""),
                               ("sim01", "s02", "2", "nwb", "sim01_s02.nwb", "")]
    s, truth = small_sims[0]
    with pynwb.NWBHDF5IO(str(tmp_path / "sim01_s01.nwb"), "r") as io:
        nwb = io.read()
        rrs = nwb.processing["ophys"]["Fluorescence"]["RoiResponseSeries"]
        np.testing.assert_array_equal(np.asarray(rrs.data[:]), s.traces.T)
        np.testing.assert_array_equal(np.asarray(rrs.timestamps[:]), s.frame_times)
        assert len(rrs.rois.table) == s.n_cells
        trials = nwb.trials.to_dataframe()
        disp = s.events.select(["Display Image"])
        assert len(trials) == disp.size
        np.testing.assert_allclose(trials["start_time"], s.events.times[disp])
        assert np.all(trials["stop_time"] > trials["start_time"])
        assert list(trials["trial_type"]) == s.events.attrs["trial_type"][disp].astype(int).tolist()
        assert list(trials["object"]) == list(s.events.attrs["object"][disp])
        n_correct = int((s.events.names == "Correct").sum())
        assert (trials["outcome"] == "Correct").sum() == n_correct
        assert trials["correction"].sum() == truth["n_correction_trials"]
        ann = nwb.acquisition["events"]
        assert list(ann.data[:]) == list(s.events.names)
        np.testing.assert_allclose(ann.timestamps[:], s.events.times)


def test_write_nwb_reads_back_through_gpudecode(tmp_path, small_sims):
    read_nwb = _need("gpudecode.io.nwb", "read_nwb")  # noqa: F841
    from gpudecode import load_session
    write_simulation(tmp_path, small_sims[:1], formats=("nwb",))
    s0 = small_sims[0][0]
    s = load_session(tmp_path / "sim01_s01.nwb")
    np.testing.assert_allclose(s.traces, s0.traces, rtol=1e-6)
    np.testing.assert_allclose(s.frame_times, s0.frame_times)
    assert int((s.events.names == "trial").sum()) == s0.events.select(["Display Image"]).size


def test_write_h5_round_trip_with_ground_truth(tmp_path, small_sims):
    read_session = _need("gpudecode.io.native", "read_session")
    read_ground_truth = _need("gpudecode.io.native", "read_ground_truth")
    paths = write_simulation(tmp_path, small_sims, formats=("h5",))
    assert [p.name for p in paths] == ["sim01_s01.h5", "sim01_s02.h5", "manifest.csv"]
    s0, t0 = small_sims[1]
    s = read_session(tmp_path / "sim01_s02.h5")
    np.testing.assert_array_equal(s.traces, s0.traces)
    np.testing.assert_array_equal(s.frame_times, s0.frame_times)
    np.testing.assert_array_equal(s.events.names, s0.events.names)
    assert (s.animal, s.session, s.day) == ("sim01", "s02", 2)
    gt = read_ground_truth(tmp_path / "sim01_s02.h5")
    assert list(gt["role"]) == list(t0["role"])
    np.testing.assert_allclose(gt["sync_pulses"], t0["sync_pulses"])
    assert float(gt["p_correct"]) == t0["p_correct"]
    rows = _manifest(tmp_path / "manifest.csv")
    assert [r["traces"] for r in rows] == ["sim01_s01.h5", "sim01_s02.h5"]


def test_write_csv_traces_and_events(tmp_path, small_sims):
    _need("gpudecode.io.traces_csv", "write_traces_csv")
    paths = write_simulation(tmp_path, small_sims[:1], formats=("csv",))
    assert {p.name for p in paths} == {"sim01_s01_traces.csv", "sim01_s01_events.csv",
                                       "sim01_s01_truth.json", "manifest.csv"}
    s0 = small_sims[0][0]
    with open(tmp_path / "sim01_s01_events.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["event"] for r in rows] == list(s0.events.names)
    np.testing.assert_allclose([float(r["time"]) for r in rows], s0.events.times, atol=1e-6)
    touch = [r for r in rows if r["event"] == "Touch Down Event"]
    assert all(r["Arg1_Value"] in ("1", "2", "3") and r["object"] for r in touch)
    _need("gpudecode.io.events_csv", "read_events_csv")
    from gpudecode import load_session
    s = load_session(tmp_path / "sim01_s01_traces.csv", tmp_path / "sim01_s01_events.csv")
    np.testing.assert_allclose(s.traces, s0.traces, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(s.events.names, s0.events.names)


def test_write_abet_aligns_back_to_the_imaging_clock(tmp_path, small_sims):
    _need("gpudecode.io.abet", "write_abet_csv")
    _need("gpudecode.io.traces_csv", "write_traces_csv")
    paths = write_simulation(tmp_path, small_sims[:1], formats=("abet",))
    assert {p.name for p in paths} >= {"sim01_s01_abet.csv", "sim01_s01_sync.txt",
                                       "sim01_s01_traces.csv", "manifest.csv"}
    (row,) = _manifest(tmp_path / "manifest.csv")
    assert (row["format"], row["events"], row["sync_event"]) == \
        ("abet", "sim01_s01_abet.csv", "TTL #1")
    s0, truth = small_sims[0]
    assert abs(float(row["event_offset"]) - truth["clock_offset"]) < 1e-5
    _need("gpudecode.io.align", "fit_clock")
    from gpudecode import load_session
    s = load_session(tmp_path / row["traces"], tmp_path / row["events"],
                     sync_event="TTL #1", sync_pulses=tmp_path / row["sync_pulses"])
    np.testing.assert_array_equal(s.events.names, s0.events.names)
    np.testing.assert_allclose(s.events.times, s0.events.times, atol=2e-3)
    # a touch's Arg1 is its Position, as in ABET; the convenience columns come back by name
    touch = s.events.select(["Touch Down Event"])
    touch0 = s0.events.select(["Touch Down Event"])
    np.testing.assert_array_equal(s.events.attrs["Arg1_Value"][touch],
                                  s0.events.attrs["Arg1_Value"][touch0])
    np.testing.assert_array_equal(s.events.attrs["Position"][touch],
                                  s0.events.attrs["Position"][touch0])
    for key in ("trial", "trial_type", "correction", "location", "object", "Evnt_Name"):
        np.testing.assert_array_equal(s.events.attrs[key], s0.events.attrs[key], err_msg=key)


# ----------------------------------------------------------------------------- manifests

def test_manifest_lists_each_session_once_preferring_h5(tmp_path, small_sims):
    paths = write_simulation(tmp_path, small_sims, formats=("csv", "abet", "h5"))
    names = [p.name for p in paths]
    assert names[-4:] == ["manifest-h5.csv", "manifest-csv.csv", "manifest-abet.csv",
                          "manifest.csv"]
    rows = _manifest(tmp_path / "manifest.csv")
    assert [(r["animal"], r["session"], r["format"], r["traces"]) for r in rows] == \
        [("sim01", "s01", "h5", "sim01_s01.h5"), ("sim01", "s02", "h5", "sim01_s02.h5")]
    assert _manifest(tmp_path / "manifest-h5.csv") == rows
    for fmt in ("csv", "abet"):
        per_format = _manifest(tmp_path / f"manifest-{fmt}.csv")
        assert [(r["animal"], r["session"]) for r in per_format] == \
            [("sim01", "s01"), ("sim01", "s02")]
        assert {r["format"] for r in per_format} == {fmt}
    # Without h5 the first written format of nwb, csv, abet is the one listed.
    write_simulation(tmp_path / "no_h5", small_sims, formats=("abet", "csv"))
    assert {r["format"] for r in _manifest(tmp_path / "no_h5" / "manifest.csv")} == {"csv"}


def test_simulate_then_cohort_runs_as_the_readme_says(tmp_path, capsys):
    """``gpudecode simulate --animals 2 --sessions 3 DIR && gpudecode cohort
    DIR/manifest.csv --out ...`` (small and synchronous here; the README's runs on Dask)."""
    from gpudecode.cli import main
    data = tmp_path / "sim"
    assert main(["simulate", str(data), "--animals", "2", "--sessions", "3", "--cells", "12",
                 "--formats", "h5,csv,abet"]) == 0
    out = tmp_path / "cohort"
    code = main(["cohort", str(data / "manifest.csv"), "--out", str(out), "--target",
                 "object", "--analysis", "summed", "--population-classifier",
                 "random-forest", "--shuffles", "3", "--folds", "2", "--permutations", "0",
                 "--scheduler", "synchronous", "--device", "cpu"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    with open(out / "cohort.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert _manifest(out / "failures.csv") == []
    assert sorted((r["animal"], r["session"], r["target"]) for r in rows) == \
        [(a, s, "object") for a in ("sim01", "sim02") for s in ("s01", "s02", "s03")]
    assert "6 computed, 0 already done, 0 failed" in captured.out

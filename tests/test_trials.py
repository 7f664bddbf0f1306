"""Trial epoching: frame indices checked against hand-computed values.

Traces are built so that every value names its cell and frame (``1000 * cell + frame``),
so a data slice that is off by one frame or one cell cannot pass.
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpudecode.errors import (AnchorError, EventsError, NoTrialsError, ParameterError,
                              TooFewTrialsError)
from gpudecode.session import Events, Session
from gpudecode.trials import DroppedTrialsWarning, Epochs, TrialSpec, make_epochs

TRACES_PATH = "rec/traces.csv"
EVENTS_PATH = "rec/events.csv"


def _traces(n_cells, n_frames):
    return (1000.0 * np.arange(n_cells)[:, None] + np.arange(n_frames)[None, :]).astype(np.float32)


def _session(frame_times, times, names, attrs=None, n_cells=3):
    frame_times = np.asarray(frame_times, dtype=float)
    return Session(_traces(n_cells, frame_times.size), frame_times,
                   events=Events(times, names, attrs),
                   source={"traces": TRACES_PATH, "events": EVENTS_PATH})


def _no_warnings(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args)


# ---------------------------------------------------------------- frame selection


def test_uniform_frames_exact_indices_and_slices():
    # 8 Hz (dt = 0.125 s is exact in binary), 80 frames = 0 .. 9.875 s
    ft = np.arange(80) * 0.125
    s = _session(ft, [1.0, 2.0, 3.0, 5.3],
                 ["Display Image", "Correct", "Incorrect", "Correct"])
    ep = _no_warnings(make_epochs, s, TrialSpec(("Correct", "Incorrect"), pre=0.5, post=0.5))
    # n = round(1.0 / 0.125) = 8 frames
    # t=2.0: t-pre=1.5 is exactly frame 12 (side="left" takes it); t=3.0: 2.5 -> frame 20;
    # t=5.3: 4.8 s lies between frame 38 (4.75) and 39 (4.875) -> 39
    assert ep.data.shape == (3, 3, 8) and ep.data.dtype == np.float32
    assert ep.trials["first_frame"].tolist() == [12, 20, 39]
    tr = s.traces
    np.testing.assert_array_equal(ep.data[0], tr[:, 12:20])
    np.testing.assert_array_equal(ep.data[1], tr[:, 20:28])
    np.testing.assert_array_equal(ep.data[2], tr[:, 39:47])
    assert ep.data[2, 1, 0] == 1039.0  # cell 1, frame 39
    assert ep.labels.tolist() == ["Correct", "Incorrect", "Correct"]
    assert ep.classes.tolist() == ["Correct", "Incorrect"]
    assert ep.y.tolist() == [0, 1, 0]
    assert ep.trials["event_index"].tolist() == [1, 2, 3]
    assert ep.trials["anchor_name"].tolist() == ["Correct", "Incorrect", "Correct"]
    np.testing.assert_allclose(ep.trials["anchor_time"], [2.0, 3.0, 5.3])
    np.testing.assert_allclose(ep.trials["window_start"], [-0.5, -0.5, 4.875 - 5.3])
    np.testing.assert_allclose(ep.times, [-0.5, -0.375, -0.25, -0.125, 0, 0.125, 0.25, 0.375])
    assert ep.frame_interval == 0.125
    assert ep.dropped == {}
    assert ep.counts() == {"Correct": 2, "Incorrect": 1}
    assert list(ep.cell_ids) == ["0", "1", "2"]


def test_jittered_frame_times_pick_frames_by_time_not_by_index():
    # intervals cycle 0.09, 0.10, 0.11 s: median 0.10 s, frames at
    # 0, .09, .19, .30, .39, .49, .60, .69, .79, .90, .99, 1.09, 1.20, 1.29, 1.39,
    # 1.50, 1.59, 1.69, 1.80, ...
    ft = np.concatenate([[0.0], np.cumsum([0.09, 0.10, 0.11] * 10)])
    s = _session(ft, [1.0, 1.045, 2.0], ["Go", "Go", "Go"])
    ep = _no_warnings(make_epochs, s, TrialSpec("Go", pre=0.25, post=0.35))
    # n = round(0.6 / 0.10) = 6
    # t=1.0:   start .75  -> first frame >= .75 is frame 8 (.79)
    # t=1.045: start .795 -> frame 8 (.79) is too early, frame 9 (.90); a uniform-rate
    #          index (ceil(7.95) = 8) would be wrong here
    # t=2.0:   start 1.75 -> frame 18 (1.80)
    assert ep.data.shape == (3, 3, 6)
    assert ep.trials["first_frame"].tolist() == [8, 9, 18]
    for i, f in enumerate([8, 9, 18]):
        np.testing.assert_array_equal(ep.data[i], s.traces[:, f:f + 6])
    np.testing.assert_allclose(ep.trials["window_start"], [0.79 - 1.0, 0.90 - 1.045, 1.80 - 2.0])
    np.testing.assert_allclose(ep.times, -0.25 + np.arange(6) * 0.10)


def _blocks():
    # trial-locked recording: three blocks of 16 frames at 8 Hz starting at 0, 7 and 14 s
    # (5.125 s gaps); frame indices 0-15, 16-31, 32-47
    return np.concatenate([start + np.arange(16) * 0.125 for start in (0.0, 7.0, 14.0)])


def test_gaps_and_edges_drop_trials_with_reasons_and_one_warning():
    ft = _blocks()
    anchors = [0.2, 0.45, 1.0, 1.75, 4.0, 7.2, 7.3, 8.0, 14.5, 15.5, 15.8, 20.0]
    s = _session(ft, anchors, ["A"] * len(anchors))
    with pytest.warns(DroppedTrialsWarning) as rec:
        ep = make_epochs(s, TrialSpec("A", pre=0.5, post=0.5))
    assert len(rec) == 1
    msg = str(rec[0].message)
    assert "dropped 6 of 12 trials" in msg
    assert "3 window outside recording" in msg
    assert "3 window crosses a gap in frame times" in msg
    assert ep.dropped == {"window outside recording": 3,
                          "window crosses a gap in frame times": 3}
    # kept, n = 8:
    #   0.45: start -0.05, within half a frame before frame 0 -> frame 0
    #   1.0 : start 0.5  -> frame 4
    #   7.3 : start 6.8  -> frame 16 (7.0), 0.2 s <= 2 intervals after the window start
    #   8.0 : start 7.5  -> frame 20
    #   14.5: start 14.0 -> frame 32
    #   15.5: start 15.0 -> frame 40; frames 40..47 end exactly at the last frame
    # dropped:
    #   0.2 (start -0.3 before the recording), 15.8 (frame 43 + 8 > 48), 20.0 (after the end)
    #   1.75 (frames 10..17 jump from 1.875 to 7.0 s), 4.0 (window starts 3.5 s before the
    #   next frame), 7.2 (start 6.7, first frame 7.0 is 0.3 s > 0.25 s later)
    assert ep.trials["first_frame"].tolist() == [0, 4, 16, 20, 32, 40]
    np.testing.assert_allclose(ep.trials["anchor_time"], [0.45, 1.0, 7.3, 8.0, 14.5, 15.5])
    for i, f in enumerate([0, 4, 16, 20, 32, 40]):
        np.testing.assert_array_equal(ep.data[i], s.traces[:, f:f + 8])
    assert ep.trials["event_index"].tolist() == [1, 2, 6, 7, 8, 9]


def test_all_trials_dropped_is_a_no_trials_error_with_reasons():
    s = _session(np.arange(40) * 0.125, [0.1, 4.9], ["Correct", "Correct"])
    with pytest.raises(NoTrialsError) as exc:
        make_epochs(s, TrialSpec("Correct", pre=1.0, post=1.0))
    msg = str(exc.value)
    assert "all 2 anchor events" in msg and "2 window outside recording" in msg
    assert EVENTS_PATH in msg and "clock" in msg


def test_most_anchors_outside_the_recording_is_a_clock_error():
    """Events 200-490 s against a recording of 0-299.9 s: 19 of 29 anchors outside."""
    ft = np.arange(3000) * 0.1
    times = np.arange(200, 490, 10.0)
    names = ["CS+", "CS-"] * 14 + ["CS+"]
    s = _session(ft, times, names)
    with pytest.raises(EventsError) as exc:
        make_epochs(s, TrialSpec(("CS+", "CS-"), pre=1.0, post=2.0))
    msg = str(exc.value)
    assert exc.value.field == "time" and EVENTS_PATH in msg
    assert "19 of 29 anchor events" in msg and "66%" in msg
    assert "imaging 0.000 .. 299.900 s" in msg and "events 200.000 .. 480.000 s" in msg
    assert "--event-offset" in msg and "--sync-event" in msg and "--sync-pulses" in msg
    # shifted onto the imaging clock, every trial is kept without a warning
    shifted = _session(ft, times - 195.0, names)
    ep = _no_warnings(make_epochs, shifted, TrialSpec(("CS+", "CS-"), pre=1.0, post=2.0))
    assert ep.n_trials == 29


def test_half_the_anchors_outside_only_warns():
    """The threshold is 'more than half': exactly half outside drops them with a warning."""
    ft = np.arange(1000) * 0.1                         # 0 .. 99.9 s
    s = _session(ft, [10.0, 20.0, 150.0, 160.0], ["A", "B", "A", "B"])
    with pytest.warns(DroppedTrialsWarning, match="2 window outside recording"):
        ep = make_epochs(s, TrialSpec(("A", "B"), pre=1.0, post=1.0))
    assert ep.n_trials == 2


def test_anchors_inside_with_windows_over_the_edge_are_not_a_clock_error():
    """Anchors inside a short recording whose windows run over both ends: edge trials."""
    s = _session(np.arange(40) * 0.125, [0.2, 0.4, 4.7, 4.8], ["A"] * 4)
    with pytest.raises(NoTrialsError, match="4 window outside recording"):
        make_epochs(s, TrialSpec("A", pre=1.0, post=1.0))


def test_window_shorter_than_a_frame():
    s = _session(np.arange(40) * 0.125, [2.0], ["Correct"])
    with pytest.raises(ParameterError) as exc:
        make_epochs(s, TrialSpec("Correct", pre=0.02, post=0.02))
    assert "shorter than one frame" in str(exc.value)


# ---------------------------------------------------------------- label rules


def test_label_from_first_event_in_window():
    ft = np.arange(160) * 0.125
    events = [(2.0, "Touch"), (2.5, "Correct"),
              (4.0, "Touch"), (4.875, "Incorrect"), (5.0, "Correct"),
              (5.75, "Correct"), (6.0, "Touch"), (7.5, "Correct"),
              (8.0, "Touch"), (9.0, "Correct"),
              (10.0, "Touch"), (10.0, "Incorrect")]
    s = _session(ft, [t for t, _ in events], [n for _, n in events])
    spec = TrialSpec("Touch", pre=0.5, post=0.5, label="events",
                     label_events=("Correct", "Incorrect"), label_window=(0.0, 1.0))
    with pytest.warns(DroppedTrialsWarning, match="dropped 1 of 5 trials.*1 no label event"):
        ep = make_epochs(s, spec)
    # 2.0 -> Correct at +0.5; 4.0 -> Incorrect at +0.875 comes before Correct at +1.0;
    # 6.0 -> Correct at +1.5 is outside (0, 1) (the one at -0.25 precedes the anchor);
    # 8.0 -> Correct at exactly +1.0 (inclusive); 10.0 -> Incorrect at +0 (inclusive)
    assert ep.labels.tolist() == ["Correct", "Incorrect", "Correct", "Incorrect"]
    np.testing.assert_allclose(ep.trials["anchor_time"], [2.0, 4.0, 8.0, 10.0])
    assert ep.dropped == {"no label event within window": 1}
    assert ep.y.tolist() == [0, 1, 0, 1]


def test_label_from_numeric_and_text_attribute():
    ft = np.arange(160) * 0.125
    times = [2.0, 2.5, 4.0, 6.0, 8.0, 10.0]
    names = ["Touch", "Correct", "Touch", "Touch", "Touch", "Touch"]
    position = [1.0, np.nan, 3.0, 2.5, np.nan, 1.0]
    obj = ["flower", "", "spider", "", "airplane", "flower"]
    s = _session(ft, times, names, {"position": position, "object": obj})
    with pytest.warns(DroppedTrialsWarning, match="1 no value in attribute 'position'"):
        ep = make_epochs(s, TrialSpec("Touch", 0.5, 0.5, label="attr", label_attr="position"))
    assert ep.labels.tolist() == ["1", "3", "2.5", "1"]
    assert ep.classes.tolist() == ["1", "2.5", "3"]
    assert ep.y.tolist() == [0, 2, 1, 0]
    np.testing.assert_allclose(ep.trials["anchor_time"], [2.0, 4.0, 6.0, 10.0])

    with pytest.warns(DroppedTrialsWarning, match="1 no value in attribute 'object'"):
        ep = make_epochs(s, TrialSpec("Touch", 0.5, 0.5, label="attr", label_attr="object"))
    assert ep.labels.tolist() == ["flower", "spider", "airplane", "flower"]
    assert ep.trials["event_index"].tolist() == [0, 2, 4, 5]


# ---------------------------------------------------------------- exclusions


def test_exclusion_around_anchor_is_inclusive():
    ft = np.arange(160) * 0.125
    times = [2.0, 4.5, 5.0, 8.0, 11.0, 12.0]
    names = ["Correct", "Start Correction Trial", "Correct", "Correct", "Correct",
             "Start Correction Trial"]
    s = _session(ft, times, names)
    spec = TrialSpec("Correct", 0.5, 0.5, exclude_events=("Start Correction Trial",),
                     exclude_within=1.0)
    with pytest.warns(DroppedTrialsWarning,
                      match="dropped 2 of 4 trials.*2 within 1 s of 'Start Correction Trial'"):
        ep = make_epochs(s, spec)
    # 5.0 is 0.5 s after one; 11.0 is exactly 1.0 s before the next
    np.testing.assert_allclose(ep.trials["anchor_time"], [2.0, 8.0])
    assert ep.dropped == {"within 1 s of 'Start Correction Trial'": 2}


def test_anchor_does_not_exclude_itself():
    ft = np.arange(160) * 0.125
    s = _session(ft, [2.0, 2.5, 6.0], ["trial"] * 3)
    with pytest.warns(DroppedTrialsWarning, match="2 within 1 s of 'trial'"):
        ep = make_epochs(s, TrialSpec("trial", 0.5, 0.5, exclude_events=("trial",),
                                      exclude_within=1.0))
    np.testing.assert_allclose(ep.trials["anchor_time"], [6.0])


# ---------------------------------------------------------------- bad input


def test_unknown_anchor_lists_existing_names_with_counts():
    s = _session(np.arange(80) * 0.125, [1.0, 2.0, 3.0, 4.0],
                 ["Correct", "Correct", "Incorrect", "Display Image"])
    with pytest.raises(AnchorError) as exc:
        make_epochs(s, TrialSpec(("correct", "Incorrect"), 0.5, 0.5))
    msg = str(exc.value)
    assert exc.value.path == EVENTS_PATH and exc.value.field == "anchor"
    assert "'correct' not found in this session" in msg
    assert "'Correct' (2), 'Display Image' (1), 'Incorrect' (1)" in msg
    assert "did you mean 'correct' -> 'Correct'?" in msg


def test_anchor_absent_from_session_is_an_error_without_misleading_hint():
    # e.g. a late session with no incorrect trials; "Corect" is a misspelling
    s = _session(np.arange(80) * 0.125, [1.0, 2.0], ["Correct", "Correct"])
    with pytest.raises(AnchorError) as exc:
        make_epochs(s, TrialSpec(("Correct", "Incorrect"), 0.5, 0.5))
    msg = str(exc.value)
    assert "'Incorrect' not found in this session" in msg and "'Correct' (2)" in msg
    assert "did you mean" not in msg and "leave out names" in msg
    with pytest.raises(AnchorError, match="did you mean 'Corect' -> 'Correct'?"):
        make_epochs(s, TrialSpec("Corect", 0.5, 0.5))


def test_unknown_anchor_list_is_truncated():
    names = [f"ev{i:02d}" for i in range(25)]
    s = _session(np.arange(80) * 0.125, np.linspace(1, 9, 25), names)
    with pytest.raises(AnchorError) as exc:
        make_epochs(s, TrialSpec("Reward", 0.5, 0.5))
    msg = str(exc.value)
    assert "'ev00' (1)" in msg and "'ev19' (1)" in msg and "'ev20'" not in msg
    assert "and 5 more" in msg


def test_unknown_label_event_and_attribute():
    s = _session(np.arange(80) * 0.125, [1.0, 2.0], ["Touch", "Correct"],
                 {"position": [1, 2], "object": ["a", "b"]})
    with pytest.raises(AnchorError) as exc:
        make_epochs(s, TrialSpec("Touch", 0.5, 0.5, label="events",
                                 label_events=("Correct", "Wrong")))
    assert exc.value.field == "label_events"
    assert "'Wrong' not found" in str(exc.value) and "'Correct' (1), 'Touch' (1)" in str(exc.value)
    with pytest.raises(AnchorError) as exc:
        make_epochs(s, TrialSpec("Touch", 0.5, 0.5, label="attr", label_attr="Position"))
    assert exc.value.field == "label_attr" and exc.value.path == EVENTS_PATH
    assert "'Position' not found" in str(exc.value)
    assert "'position', 'object'" in str(exc.value)


def test_session_without_events():
    s = Session(_traces(2, 40), np.arange(40) * 0.125, source={"traces": TRACES_PATH})
    with pytest.raises(EventsError) as exc:
        make_epochs(s, TrialSpec("Correct", 0.5, 0.5))
    assert TRACES_PATH in str(exc.value) and "--events FILE" in str(exc.value)


@pytest.mark.parametrize("kwargs, field, words", [
    (dict(anchors=()), "anchors", "no anchor"),
    (dict(anchors=("Correct", " ")), "anchors", "empty event name"),
    (dict(pre=0.5, post=-0.5), "post", "must be >= 0"),
    (dict(pre=-0.5, post=2.0), "pre", "seconds before the anchor"),
    (dict(pre=-2.0, post=1.0), "pre", "is empty"),
    (dict(pre=0.0, post=0.0), "pre", "is empty"),
    (dict(pre=float("nan")), "pre", "finite"),
    (dict(post="soon"), "post", "number of seconds"),
    (dict(label="outcome"), "label", "unknown label rule"),
    (dict(label="events"), "label_events", "needs label events"),
    (dict(label_events=("Correct",)), "label_events", "label rule is 'anchor'"),
    (dict(label="attr"), "label_attr", "needs an attribute column"),
    (dict(label_attr="position"), "label_attr", "label rule is 'anchor'"),
    (dict(label="events", label_events=("C",), label_window=(2.0, 1.0)), "label_window",
     "ends before it starts"),
    (dict(exclude_events=("X",), exclude_within=-1.0), "exclude_within", ">= 0"),
    (dict(exclude_within=3.0), "exclude_events", "no exclusion events"),
])
def test_trial_spec_validation(kwargs, field, words):
    args = dict(anchors=("Correct",), pre=1.0, post=1.0)
    args.update(kwargs)
    with pytest.raises(ParameterError) as exc:
        TrialSpec(**args)
    assert exc.value.field == field
    assert words in str(exc.value) and "Fix:" in str(exc.value)


def test_trial_spec_normalises_and_is_frozen():
    spec = TrialSpec("Correct", pre=1, post=2)
    assert spec.anchors == ("Correct",) and spec.pre == 1.0 and isinstance(spec.pre, float)
    with pytest.raises(AttributeError):
        spec.pre = 3.0


# ---------------------------------------------------------------- Epochs methods


def _epochs_with_counts(n_correct, n_incorrect):
    n = n_correct + n_incorrect
    times = 1.0 + np.arange(n)
    names = ["Correct"] * n_correct + ["Incorrect"] * n_incorrect
    s = _session(np.arange(8 * (n + 2)) * 0.125, times, names)
    return make_epochs(s, TrialSpec(tuple(dict.fromkeys(names)), 0.5, 0.5))


def test_check_min_trials_names_class_count_and_need():
    ep = _epochs_with_counts(6, 3)
    ep.check_min_trials(3)
    with pytest.raises(TooFewTrialsError) as exc:
        ep.check_min_trials(5)
    msg = str(exc.value)
    assert ("class 'Incorrect' has 3 trials; 5-fold cross-validation needs at least 5 per class"
            in msg)
    assert "--folds 3" in msg and "more sessions" in msg and "different target" in msg
    assert EVENTS_PATH in msg
    with pytest.raises(TooFewTrialsError) as exc:
        ep.check_min_trials(5, path="cohort/m1.h5")
    assert exc.value.path == "cohort/m1.h5"
    for bad in (1, 2.5, None, "five"):
        with pytest.raises(ParameterError, match="integer >= 2"):
            ep.check_min_trials(bad)


def test_check_min_trials_single_class():
    ep = _epochs_with_counts(4, 0)
    with pytest.raises(TooFewTrialsError, match="only one class, 'Correct' \\(4 trials\\)"):
        ep.check_min_trials(2)


def test_subset_and_repr():
    ep = _epochs_with_counts(3, 2)
    assert isinstance(ep, Epochs)
    text = repr(ep)
    assert "5 trials x 3 cells x 8 frames" in text
    assert "'Correct': 3, 'Incorrect': 2" in text and "dropped {}" in text
    sub = ep.subset(ep.labels == "Incorrect")
    assert sub.n_trials == 2 and sub.classes.tolist() == ["Incorrect"]
    assert sub.y.tolist() == [0, 0]
    np.testing.assert_array_equal(sub.data, ep.data[3:])
    assert sub.trials["first_frame"].tolist() == ep.trials["first_frame"][3:].tolist()
    sub = ep.subset([4, 0])
    assert sub.labels.tolist() == ["Incorrect", "Correct"] and sub.y.tolist() == [1, 0]


def test_repr_shows_dropped():
    s = _session(np.arange(40) * 0.125, [2.0, 4.9], ["Correct", "Correct"])
    with pytest.warns(DroppedTrialsWarning):
        ep = make_epochs(s, TrialSpec("Correct", 0.5, 0.5))
    assert "'window outside recording': 1" in repr(ep)


# ---------------------------------------------------------------- property


@settings(max_examples=60, deadline=None)
@given(start=st.floats(-5, 5), dt=st.floats(0.01, 0.2), n_total=st.integers(20, 120),
       pre_frames=st.floats(2, 8), post_frames=st.floats(2, 8),
       rel=st.lists(st.floats(-0.2, 1.2), min_size=1, max_size=8))
def test_uniform_times_slices_match_definition(start, dt, n_total, pre_frames, post_frames, rel):
    ft = start + np.arange(n_total) * dt
    pre, post = pre_frames * dt, post_frames * dt
    anchors = sorted(start + r * n_total * dt for r in rel)
    s = _session(ft, anchors, ["A"] * len(anchors), n_cells=2)
    med = float(np.median(np.diff(ft)))
    n = int(round((pre + post) / med))
    expected = []
    for t in anchors:
        first = next((j for j in range(n_total) if ft[j] >= t - pre), n_total)
        if t - pre >= ft[0] - med / 2 and first + n <= n_total:
            expected.append(first)
    spec = TrialSpec("A", pre, post)
    n_outside = sum(1 for t in anchors if t < ft[0] or t > ft[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedTrialsWarning)
        if n_outside > len(anchors) / 2:
            with pytest.raises(EventsError, match="clocks do not match"):
                make_epochs(s, spec)
            return
        if not expected:
            with pytest.raises(NoTrialsError):
                make_epochs(s, spec)
            return
        ep = make_epochs(s, spec)
    assert ep.trials["first_frame"].tolist() == expected
    assert ep.data.shape == (len(expected), 2, n)
    assert ep.dropped.get("window outside recording", 0) == len(anchors) - len(expected)
    for i, (f, t) in enumerate(zip(expected, ep.trials["anchor_time"])):
        np.testing.assert_array_equal(ep.data[i], s.traces[:, f:f + n])
        assert ft[f] <= t <= ft[f + n - 1]

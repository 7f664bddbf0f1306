"""Time-resolved decoding: chance before a planted outcome signal starts, significant after it;
nothing found in a null session; the timecourse.csv contract; temporal generalisation whose
diagonal reproduces the batched accuracy; typed errors."""

import warnings

import numpy as np
import pytest

from gpudecode import Backend, SplitPlan, TrialSpec, make_epochs, simulate_session
from gpudecode.errors import ParameterError
from gpudecode.time_resolved import TIMECOURSE_COLUMNS, decode_timecourse
from gpudecode.trials import Epochs

ONSET = 0.6
SPEC = TrialSpec(anchors=("Correct", "Incorrect"), pre=1.0, post=2.0)
# 0.25 s = 8 frames at 30 Hz, non-overlapping: window starts at -1 + k * 0.267 s.
RUN = {"time_window": 0.25, "time_step": 0.25, "time_unit": "s", "metric": "balanced",
       "class_weight": "balanced"}


def _epochs(null=False, seed=3, n_cells=40, n_trials=96):
    roles = {"outcome": 0.25, "location": 0.0, "object": 0.0, "ensemble": 0.0}
    sess, truth = simulate_session(seed=seed, session_index=10, n_cells=n_cells,
                                   n_trials=n_trials, roles=None if null else roles,
                                   signal_onset=ONSET, null=null)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_epochs(sess, SPEC), truth


@pytest.fixture(scope="module")
def backend():
    return Backend.from_device("cpu")


@pytest.fixture(scope="module")
def planted(backend):
    ep, truth = _epochs()
    plan = SplitPlan(n_shuffles=4, n_folds=2, n_permutations=100, seed=1).fit(ep.labels)
    res = decode_timecourse(ep, plan, "linear-svm", backend=backend, generalization=True, **RUN)
    return ep, truth, res


@pytest.fixture(scope="module")
def null_run(backend):
    ep, _ = _epochs(null=True, seed=13, n_cells=30, n_trials=60)
    plan = SplitPlan(n_shuffles=4, n_folds=0, n_permutations=100, seed=2).fit(ep.labels)
    return decode_timecourse(ep, plan, "linear-svm", backend=backend, **RUN)


def _window_edges(ep, res):
    w, s = res.params["window_frames"], res.params["step_frames"]
    starts = np.arange(0, ep.n_frames - w + 1, s)
    return ep.times[starts], ep.times[starts + w - 1]


def test_chance_before_the_onset_and_significant_after_it(planted):
    ep, truth, res = planted
    assert truth["signal_onset"] == ONSET and len(truth["outcome_cells"]) >= 5
    _start, end = _window_edges(ep, res)
    # Frame j covers [times[j], times[j] + dt): these windows hold no frame after the onset.
    before = end + ep.frame_interval <= ONSET + 1e-6
    assert before.sum() >= 5
    assert not res.significant[0, before].any()
    assert (res.q_value[0, before] >= 0.05).all()
    bal = res.test_balanced[0].mean(-1)
    null_mean = res.null_balanced[0].mean(-1)
    assert abs(bal[before].mean() - null_mean[before].mean()) < 0.06
    after = (res.times >= ONSET + 0.3) & (res.times <= ONSET + 1.0)
    assert after.sum() >= 2
    assert res.significant[0, after].all()
    assert (bal[after] > 0.75).all()
    onset = res.onset("linear-svm")
    assert onset is not None and abs(onset - ONSET) <= 0.3
    # The first significant window holds signal frames: it ends after the planted onset.
    assert end[np.argmin(np.abs(res.times - onset))] >= ONSET


def test_rows_follow_the_timecourse_contract(planted):
    ep, _, res = planted
    C, W, S, k, P = 1, res.times.size, 4, 2, 100
    assert res.test_accuracy.shape == res.test_balanced.shape == (C, W, S)
    assert res.cv_accuracy.shape == (C, W, S, k)
    assert res.null_accuracy.shape == res.null_balanced.shape == (C, W, P)
    assert res.p_value.shape == res.q_value.shape == res.significant.shape == (C, W)
    assert W == (ep.n_frames - res.params["window_frames"]) // res.params["step_frames"] + 1
    rows = res.rows()
    assert len(rows) == C * W
    assert all(tuple(r) == TIMECOURSE_COLUMNS for r in rows)
    times = np.array([r["time"] for r in rows])
    np.testing.assert_allclose(times, res.times)
    assert np.all(np.diff(times) > 0)
    acc = np.array([r["accuracy"] for r in rows])
    np.testing.assert_allclose(acc, res.test_accuracy[0].mean(-1))
    q = np.array([r["q_value"] for r in rows])
    assert [r["significant"] for r in rows] == list(q < 0.05)
    assert all(r["null_p95"] >= r["null_mean"] for r in rows)
    assert all(0 < r["p_value"] <= 1 and r["q_value"] >= r["p_value"] for r in rows)
    assert res.params["window_frames"] == 8 and res.params["metric"] == "balanced"


def test_generalization_diagonal_matches_batched_accuracy(planted):
    _ep, _, res = planted
    gen = res.generalization["linear-svm"]
    W = res.times.size
    assert gen.shape == (W, W)
    # The matrix holds the tested metric (balanced here): its diagonal is the batched
    # kernels' balanced accuracy, computed by scikit-learn pipelines fit independently.
    np.testing.assert_allclose(np.diag(gen), res.test_balanced[0].mean(-1), atol=0.02)
    late = np.flatnonzero((res.times >= ONSET + 0.3) & (res.times <= ONSET + 1.0))
    # The outcome code persists: a decoder trained in one signal window works in the next.
    assert gen[late[0], late[1]] > 0.7 and gen[late[1], late[0]] > 0.7


def test_null_session_finds_nothing(null_run):
    res = null_run
    p = res.p_value[0]
    assert res.significant.sum() <= 1
    assert res.onset() is None
    assert np.median(p) > 0.2
    assert (p < 0.05).mean() <= 0.2
    assert abs(res.test_balanced[0].mean() - res.null_balanced[0].mean()) < 0.08


@pytest.mark.parametrize("kwargs, match", [
    ({"time_window": 4.0, "time_unit": "s"}, "longer than the epoch"),
    ({"time_window": 200}, "longer than the epoch"),
    ({"classifiers": "svm-deluxe"}, "not a known classifier"),
    ({"time_unit": "ms"}, "time unit"),
    ({"time_window": 2.5}, "whole number"),
    ({"time_step": 0}, "positive"),
])
def test_typed_errors(kwargs, match):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(20, 3, 30)).astype(np.float32)
    labels = np.array(["a", "b"] * 10)
    ep = Epochs(data, labels, -0.5 + np.arange(30) / 30.0, {}, np.array(["c0", "c1", "c2"]),
                {}, SPEC, 1 / 30.0)
    with pytest.raises(ParameterError, match=match) as info:
        decode_timecourse(ep, None, **{"classifiers": "linear-svm", **kwargs})
    assert info.value.fix


def test_null_columns_describe_the_tested_metric(null_run):
    """timecourse.csv's null_mean/null_p95 are the null of the tested statistic (balanced
    accuracy here), which sits at chance on a session where nothing was planted."""
    res = null_run
    rows = res.rows()
    assert {r["metric"] for r in rows} == {"balanced"}
    null_mean = np.array([r["null_mean"] for r in rows])
    np.testing.assert_allclose(null_mean, res.null_balanced[0].mean(-1))
    np.testing.assert_allclose([r["null_p95"] for r in rows],
                               np.percentile(res.null_balanced[0], 95, axis=-1))
    assert np.abs(null_mean - 0.5).max() < 0.03
    # The plain-accuracy null of the same permutations sits elsewhere (the classes are
    # imbalanced), so a band drawn from it would not be the chance level of the curve.
    assert abs(res.null_accuracy[0].mean() - 0.5) > 0.05

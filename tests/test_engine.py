"""The engine: chunking changes nothing, an out-of-memory error halves the chunk, permuted
labels run on test slots only, and p-values of both metrics equal those computed by hand
from scikit-learn's scores of the same predictions."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from gpudecode import Backend, SplitPlan
from gpudecode.classifiers import BATCHED_CLASSIFIERS, CLASSIFIERS, get_classifier
from gpudecode.engine import (KeptPredictions, Scores, choose_engine, label_jobs, plan_chunks,
                              predict_batched, solve_batched)
from gpudecode.stats import permutation_pvalues

CPU = Backend.from_device("cpu")
# A GPU backend in name only: NumPy arrays, host memory; the kernels are the CPU ones below.
FAKE_GPU = Backend("gpu", np, "test: a GPU backend running CPU kernels", "fake", simulator=True)


def _data(seed=0, n_units=6, n_trials=40, n_features=3, n_classes=2, signal=1.0):
    """Units x trials x features of noise; unit 0 carries the label."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n_trials) % n_classes
    X = rng.standard_normal((n_units, n_trials, n_features)).astype(np.float32)
    X[0, :, 0] += signal * labels
    return X, labels


class _Recording:
    """A batched classifier whose kernel is a real CPU kernel, recording every call and
    failing like a GPU out of memory above ``max_problems`` problems per call."""

    def __init__(self, name="logistic", max_problems=None, error="CUDA_ERROR_OUT_OF_MEMORY"):
        self._real = get_classifier(name, batched=True)
        self.name, self.params = self._real.name, self._real.params
        self.max_problems, self.error = max_problems, error
        self.calls = []

    def kernel(self, gpu=False):
        real = self._real.kernel(gpu=False)

        def fit(X, Y, train_idx, n_train, test_idx, n_test, n_classes, **kw):
            n = X.shape[0] * Y.shape[0] * train_idx.shape[0]
            self.calls.append({"units": X.shape[0], "Y": Y.copy(), "train_idx": train_idx.copy(),
                               "problems": n})
            if self.max_problems is not None and n > self.max_problems:
                raise RuntimeError(f"{self.error}: failed to allocate")
            return real(X, Y, train_idx, n_train, test_idx, n_test, n_classes, **kw)
        return fit


def test_chunked_equals_unchunked():
    X, y = _data()
    plan = SplitPlan(n_shuffles=3, n_folds=3, n_permutations=9, seed=1).fit(y)
    clfs = [BATCHED_CLASSIFIERS["logistic"], BATCHED_CLASSIFIERS["tree"]]
    whole = solve_batched(X, plan, clfs, backend=CPU)
    calls = []
    tiny = solve_batched(X, plan, clfs, backend=CPU, max_chunk_bytes=1,
                         progress=lambda d, t: calls.append((d, t)))
    # one problem's worth of memory: every (unit, label set) is its own kernel call
    assert len(calls) == 2 * 6 * (1 + 9)
    assert calls[-1][0] == calls[-1][1] == 2 * 6 * (plan.n_slots + 9 * 3)
    for key, value in whole.arrays().items():
        assert np.isfinite(value).all(), key
        np.testing.assert_array_equal(value, getattr(tiny, key), err_msg=key)


def test_plan_chunks_fits_budget():
    units, labels = plan_chunks(2000, 1001, 50, per_problem=10_000, budget_bytes=10**9)
    assert units * labels * 50 * 10_000 <= 10**9 and units == 2000
    units, labels = plan_chunks(2000, 1001, 50, per_problem=10_000, budget_bytes=10**8)
    assert labels == 1 and units * 50 * 10_000 <= 10**8
    assert plan_chunks(5, 3, 10, per_problem=10**9, budget_bytes=1) == (1, 1)


def test_out_of_memory_halves_the_chunk_and_changes_nothing():
    X, y = _data(n_units=8)
    plan = SplitPlan(n_shuffles=2, n_folds=2, n_permutations=7, seed=2).fit(y)
    # 6 slots: more than 12 problems per call "runs out of memory"
    flaky = _Recording(max_problems=12)
    got = solve_batched(X, plan, [flaky], backend=FAKE_GPU)
    want = solve_batched(X, plan, [BATCHED_CLASSIFIERS["logistic"]], backend=CPU)
    for key, value in want.arrays().items():
        np.testing.assert_array_equal(getattr(got, key), value, err_msg=key)
    failed = [(c["units"], c["Y"].shape[0]) for c in flaky.calls if c["problems"] > 12]
    solved = [c for c in flaky.calls if c["problems"] <= 12]
    # observed labels (one label set, 6 slots): units halved 8 -> 4 -> 2; permuted labels
    # (7 label sets, 2 test slots): label sets halved 7 -> 3 -> 1 first, then units 8 -> 4
    assert failed == [(8, 1), (4, 1), (8, 7), (8, 3), (8, 1)]
    assert {(c["units"], c["Y"].shape[0]) for c in solved} == {(2, 1), (4, 1)}
    assert sum(c["problems"] for c in solved) == 8 * (plan.n_slots + 7 * plan.n_shuffles)


def test_other_errors_and_cpu_out_of_memory_are_not_retried():
    X, y = _data()
    plan = SplitPlan(n_shuffles=2, n_folds=2, seed=0).fit(y)
    with pytest.raises(RuntimeError, match="bad input"):
        solve_batched(X, plan, [_Recording(max_problems=0, error="bad input")], backend=FAKE_GPU)
    flaky = _Recording(max_problems=0)
    with pytest.raises(RuntimeError, match="OUT_OF_MEMORY"):
        solve_batched(X, plan, [flaky], backend=CPU)
    assert len(flaky.calls) == 1
    one = _Recording(max_problems=0)         # even a single problem fails: give up
    with pytest.raises(RuntimeError, match="OUT_OF_MEMORY"):
        solve_batched(X[:1], plan, [one], backend=FAKE_GPU, max_chunk_bytes=1)


def test_permuted_labels_run_on_test_slots_only():
    X, y = _data()
    plan = SplitPlan(n_shuffles=3, n_folds=4, n_permutations=5, seed=3).fit(y)
    jobs = label_jobs(plan)
    assert [(j.label_sets.start, j.label_sets.stop) for j in jobs] == [(0, 1), (1, 6)]
    np.testing.assert_array_equal(jobs[0].slots, np.arange(plan.n_slots))
    np.testing.assert_array_equal(jobs[1].slots, np.flatnonzero(plan.fold_of_slot_ < 0))
    every = label_jobs(plan, null_slots="all")
    np.testing.assert_array_equal(every[1].slots, np.arange(plan.n_slots))
    assert len(label_jobs(SplitPlan(n_shuffles=3, n_folds=4, seed=3).fit(y))) == 1

    rec = _Recording()
    solve_batched(X, plan, [rec], backend=CPU)
    for call in rec.calls:
        observed = (call["Y"] == plan.Y_[0]).all(-1)
        if observed.all():
            np.testing.assert_array_equal(call["train_idx"], plan.train_idx_)
        else:
            assert not observed.any()
            np.testing.assert_array_equal(call["train_idx"],
                                          plan.train_idx_[plan.fold_of_slot_ < 0])
    solved = np.concatenate([c["Y"] for c in rec.calls])
    np.testing.assert_array_equal(solved, plan.Y_)


@pytest.mark.parametrize("metric, sklearn_score", [("balanced", balanced_accuracy_score),
                                                   ("accuracy", accuracy_score)])
def test_p_values_equal_sklearn_scores_by_hand(metric, sklearn_score):
    X, y = _data(seed=4, n_classes=3, n_trials=45, signal=2.0)
    plan = SplitPlan(n_shuffles=4, n_folds=2, n_permutations=19, seed=4).fit(y)
    clf = BATCHED_CLASSIFIERS["lda"]
    scores = solve_batched(X, plan, [clf], backend=CPU)
    n_units = X.shape[0]
    by_hand = np.zeros((n_units, plan.Y_.shape[0], plan.n_shuffles))
    for job in label_jobs(plan):
        for units, labels, pred in predict_batched(X, plan, clf, job, backend=CPU):
            for u in range(units.start, units.stop):
                for li, lab in enumerate(range(labels.start, labels.stop)):
                    for si, slot in enumerate(job.slots):
                        if plan.fold_of_slot_[slot] >= 0:
                            continue
                        test = plan.slot_trials(slot)[1]
                        by_hand[u, lab, plan.shuffle_of_slot_[slot]] = sklearn_score(
                            plan.Y_[lab, test], pred[u - units.start, li, si, :test.size])
    per_shuffle, null = scores.tested(metric)
    np.testing.assert_allclose(per_shuffle[0], by_hand[:, 0], rtol=1e-12)
    np.testing.assert_allclose(null[0], by_hand[:, 1:].mean(-1), rtol=1e-12)
    p = permutation_pvalues(by_hand[:, 0].mean(-1), by_hand[:, 1:].mean(-1))
    np.testing.assert_allclose(scores.p_values(metric)[0], p, rtol=1e-12)
    assert p[0] <= 0.05 < np.median(p[1:])       # the planted unit, and the noise


def test_record_leaves_unsolved_cv_folds_nan():
    y = np.arange(24) % 2
    plan = SplitPlan(n_shuffles=2, n_folds=2, n_permutations=3, seed=0).fit(y)
    scores = Scores.empty(1, 1, plan)
    test = plan.test_slots
    acc = np.full((1, 1, test.size), 0.75)
    scores.record(plan, 0, slice(0, 1), slice(0, 1), test, acc, acc / 3)
    assert (scores.test_accuracy == 0.75).all() and (scores.test_balanced == 0.25).all()
    assert np.isnan(scores.cv_accuracy).all() and np.isnan(scores.null_accuracy).all()
    scores.record(plan, 0, slice(0, 1), slice(1, 4), test, np.full((1, 3, test.size), 0.5),
                  np.full((1, 3, test.size), 0.5))
    assert (scores.null_accuracy == 0.5).all()
    np.testing.assert_array_equal(scores.p_values("accuracy"), [[1 / 4]])


def test_engine_choice_follows_the_registry():
    for name, clf in CLASSIFIERS.items():
        assert choose_engine(name, 10, None, standardize=True) == (
            "batched" if clf.batched else "pipeline")
        assert choose_engine(clf, 10, None, standardize=False) == (
            "batched-gram" if clf.gram_function else "batched" if clf.batched else "pipeline")
        assert choose_engine(name, 10, 5, standardize=True) == (
            "batched-select" if clf.batched else "pipeline")
        limit = clf.max_batched_features
        if clf.batched and limit is not None:
            assert choose_engine(name, limit, None, standardize=True) == "batched"
            assert choose_engine(name, limit + 1, None, standardize=True) == "pipeline"


@pytest.mark.parametrize("n_classes", [2, 130])
def test_kept_predictions_size_is_what_empty_allocates(n_classes):
    """The memory check before keeping single-cell's votes (pipeline) asks nbytes_for;
    it must count what empty() allocates, int32 codes included past 127 classes."""
    y = np.arange(10 * n_classes) % n_classes
    plan = SplitPlan(n_shuffles=2, test_size=0.25, n_folds=2, n_permutations=3,
                     seed=0).fit(y)
    kept = KeptPredictions.empty("linear-svm", {}, None, True, 5, plan)
    assert KeptPredictions.nbytes_for(5, plan) == kept.observed.nbytes + kept.null.nbytes


def test_plan_chunks_keeps_the_label_sets_a_kernel_solves_together():
    """Democracy's CV-fold job at the real shape (49 cells x 100 slots, 1000 permuted label
    sets, at most 16,384 problems a call): a kernel that wants 16 label sets of a pair in one
    call gets them, cells are cut instead; others keep all cells."""
    assert plan_chunks(49, 1000, 100, 1, 10**12, 1 << 14) == (49, 3)
    assert plan_chunks(49, 1000, 100, 1, 10**12, 1 << 14, min_label_sets=16) == (10, 16)
    assert plan_chunks(49, 3, 100, 1, 10**12, 1 << 14, min_label_sets=16) == (49, 3)
    assert plan_chunks(2, 1000, 100, 1, 10**12, 1 << 14, min_label_sets=16) == (2, 81)
    units, label_sets = plan_chunks(49, 1000, 100, 1, 10**12, 1 << 14, min_label_sets=16)
    assert units * label_sets * 100 <= 1 << 14

"""Democracy (per-cell votes -> stacker): leak-free on pure noise where a leaky stacker is not,
planted signal found, votes equal to scikit-learn's per-cell SVC(kernel="linear") on the same
inner folds."""

import os
import warnings

import numpy as np
import pytest
from batched_oracle import oracle
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from gpudecode import Backend, SplitPlan
from gpudecode.classifiers import get_classifier
from gpudecode.democracy import (
    decode_democracy,
    encode_votes,
    predict_cells,
    predict_stackers,
    stacker_engine,
    stacker_rows,
)
from gpudecode.errors import ParameterError
from gpudecode.features import window_features
from gpudecode.single_cell import decode_cells
from gpudecode.trials import Epochs

CPU = Backend.from_device("cpu")
N_CELLS, N_TRIALS, N_FRAMES = 12, 80, 20
FOREST = {"random-forest": {"n_estimators": 10}}


def _epochs(seed, n_classes=2, planted=0.0, n_tuned=5):
    """Trials x cells x frames of white noise; in the first ``n_tuned`` cells, class ``k``
    trials get a bump of height ``planted`` in a class-specific stretch of frames."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(N_TRIALS) % n_classes)
    data = rng.standard_normal((N_TRIALS, N_CELLS, N_FRAMES)).astype(np.float32)
    for k in range(1, n_classes):
        start = 4 + 6 * (k - 1)
        data[np.ix_(y == k, np.arange(n_tuned), np.arange(start, start + 8))] += planted
    labels = np.array(["a", "b", "c"])[y]
    return Epochs(data, labels, np.arange(N_FRAMES) / 30.0, {"anchor_time": np.arange(N_TRIALS)},
                  [f"cell{i}" for i in range(N_CELLS)], {}, None, 1 / 30.0)


def _svc():
    return make_pipeline(StandardScaler(), SVC(kernel="linear", C=1.0))


@pytest.fixture(scope="module")
def noise():
    ep = _epochs(seed=2)
    plan = SplitPlan(n_shuffles=6, n_folds=4, n_permutations=19, seed=2).fit(ep.labels)
    res = decode_democracy(ep, plan, "random-forest", backend=CPU, params=FOREST)
    return ep, plan, res


def test_pure_noise_gives_chance_level_democracy(noise):
    res = noise[2]
    assert res.analysis == "democracy" and res.engines == ["stacked-batched"]
    assert res.test_accuracy.shape == (1, 6) and res.null_accuracy.shape == (1, 19)
    assert np.isnan(res.cv_accuracy).all() and res.cv_accuracy.shape == (1, 6, 4)
    assert abs(res.test_accuracy.mean() - 0.5) <= 0.1
    assert abs(res.test_balanced.mean() - 0.5) <= 0.1
    assert res.p_value[0] >= 0.1
    assert res.params["base"] == "linear-svm" and res.params["window"] == 4


def test_a_leaky_stacker_scores_far_above_chance_on_the_same_noise(noise):
    """The same stacker on in-sample per-cell votes: what the nesting prevents."""
    ep, plan, res = noise
    X = window_features(ep, 4, 1, CPU)
    y = plan.Y_[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        votes = np.stack([_svc().fit(X[c], y).predict(X[c]) for c in range(N_CELLS)], 1)
    accs = []
    for slot in plan.test_slots:
        tr = plan.train_idx_[slot, :plan.n_train_[slot]]
        te = plan.test_idx_[slot, :plan.n_test_[slot]]
        forest = RandomForestClassifier(10, random_state=0, n_jobs=1).fit(votes[tr], y[tr])
        accs.append((forest.predict(votes[te]) == y[te]).mean())
    assert np.mean(accs) > 0.7
    assert np.mean(accs) > res.test_accuracy.mean() + 0.2


def test_planted_cells_are_found_by_every_stacker():
    ep = _epochs(seed=5, planted=0.8)
    plan = SplitPlan(n_shuffles=4, n_folds=4, n_permutations=19, seed=1).fit(ep.labels)
    whole = []
    res = decode_democracy(ep, plan, "logistic,tree", backend=CPU, metric="balanced",
                           progress=lambda *a: whole.append(a))
    assert res.classifiers == ["logistic", "tree"]
    # progress once per chunk of label sets (its base votes are solved first, all at once:
    # per label set, the first report would come after the whole chunk's work)
    assert whole[-1] == (20, 20) and len(whole) < 20
    assert (res.test_balanced.mean(-1) > 0.75).all()
    assert (res.p_value <= 2 / 20).all()
    # a tiny memory budget splits label sets and cells into many kernel calls: same results
    calls = []
    small = decode_democracy(ep, plan, "logistic,tree", backend=CPU, metric="balanced",
                             memory_fraction=1e-12, progress=lambda *a: calls.append(a))
    assert calls == [(i, 20) for i in range(1, 21)]
    assert small.params["chunking"] == {"cells": 1, "label_sets": 1}
    np.testing.assert_array_equal(small.test_accuracy, res.test_accuracy)
    np.testing.assert_array_equal(small.null_accuracy, res.null_accuracy)


def test_votes_match_scikit_learn_per_cell_models_on_the_same_inner_folds():
    """Rebuild shuffle 0's stacker features (three classes: one-hot votes) by hand."""
    ep = _epochs(seed=7, n_classes=3, planted=0.8)
    plan = SplitPlan(n_shuffles=2, n_folds=4, seed=3).fit(ep.labels)
    X = window_features(ep, 4, 1, CPU)
    y = plan.Y_[0]
    ours = predict_cells(X, plan, "linear-svm", label_sets=slice(0, 1), backend=CPU)[:, 0]
    theirs = oracle(X, y, plan, lambda: SVC(kernel="linear", C=1.0))

    def by_hand(pred, s):
        slot = plan.test_slots[s]
        tr = plan.train_idx_[slot, :plan.n_train_[slot]]
        te = plan.test_idx_[slot, :plan.n_test_[slot]]
        per_trial = {}
        for cv in plan.cv_slots[s]:
            for j, trial in enumerate(plan.test_idx_[cv, :plan.n_test_[cv]]):
                assert trial not in plan.train_idx_[cv], "out-of-fold vote"
                per_trial[trial] = pred[:, cv, j]
        assert sorted(per_trial) == sorted(tr)
        A = np.eye(3)[np.array([per_trial[t] for t in tr])].reshape(tr.size, -1)
        B = np.eye(3)[pred[:, slot, :te.size].T].reshape(te.size, -1)
        return A, B, tr, te

    A_sk, B_sk, tr, te = by_hand(theirs, 0)
    votes_tr, votes_te, tr2, te2 = stacker_rows(ours, plan, 0)
    A, B = encode_votes(votes_tr, 3), encode_votes(votes_te, 3)
    np.testing.assert_array_equal(tr, tr2)
    np.testing.assert_array_equal(te, te2)
    A_hand, B_hand = by_hand(ours, 0)[:2]
    np.testing.assert_array_equal(A, A_hand)
    np.testing.assert_array_equal(B, B_hand)
    assert A.shape == (tr.size, 3 * N_CELLS)
    assert (A == A_sk).mean() >= 0.95 and (B == B_sk).mean() >= 0.95

    # The stacker (logistic: one-vs-rest as its kernel) on those votes, fit by scikit-learn.
    res = decode_democracy(ep, plan, "logistic", backend=CPU, seed=0)
    stacker = OneVsRestClassifier(LogisticRegression(C=1.0, max_iter=1000))
    pred_sk = stacker.fit(A_sk, y[tr]).predict(B_sk)
    pred = stacker.fit(A, y[tr]).predict(B)
    assert (pred == pred_sk).mean() >= 0.95
    assert res.test_accuracy[0, 0] == pytest.approx((pred == y[te]).mean())
    assert abs(res.test_accuracy[0, 0] - (pred_sk == y[te]).mean()) <= 0.05
    assert res.test_accuracy.mean() > 0.6   # planted signal, three classes: chance is 1/3


def test_typed_errors_for_folds_and_names():
    ep = _epochs(seed=9)
    no_cv = SplitPlan(n_shuffles=2, n_folds=0, seed=0).fit(ep.labels)
    with pytest.raises(ParameterError) as err:
        decode_democracy(ep, no_cv, backend=CPU)
    assert err.value.field == "--folds" and err.value.fix
    plan = SplitPlan(n_shuffles=2, n_folds=3, seed=0).fit(ep.labels)
    for kwargs in ({"base": "svm-of-dreams"}, {"stackers": "oracle-forest"},
                   {"metric": "f1"}, {"window_frames": 0}):
        with pytest.raises(ParameterError):
            decode_democracy(ep, plan, backend=CPU, **kwargs)


@pytest.mark.cudasim
@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
                    reason="run with NUMBA_ENABLE_CUDASIM=1 (separate pytest run)")
def test_gpu_backend_equals_cpu_in_the_cuda_simulator():
    rng = np.random.default_rng(0)
    labels = np.array(["a", "b"] * 8)
    data = rng.normal(size=(16, 3, 8)).astype(np.float32)
    data[labels == "a", :2] += 1.0
    ep = Epochs(data, labels, np.arange(8) / 30.0, {"anchor_time": np.arange(16.0)},
                np.array(["c0", "c1", "c2"]), {}, None, 1 / 30.0)
    plan = SplitPlan(n_shuffles=2, n_folds=2, n_permutations=2, seed=0).fit(labels)
    gpu = Backend.from_device("gpu", allow_simulator=True)
    a = decode_democracy(ep, plan, "logistic", window_frames=2, step_frames=2, backend=gpu)
    b = decode_democracy(ep, plan, "logistic", window_frames=2, step_frames=2, backend=CPU)
    assert gpu.is_gpu
    for key in ("test_accuracy", "test_balanced", "null_accuracy", "p_value"):
        np.testing.assert_allclose(getattr(a, key), getattr(b, key))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_batched_stackers_predict_like_one_scikit_learn_stacker_per_problem(n_classes):
    """predict_stackers (each stacker's kernel, every label set x shuffle in one batch) vs
    the per-problem stacker it replaces (make_pipeline's estimator on the same encoded
    votes, one-vs-rest where the kernel is): >= 99% of the predictions agree."""
    ep = _epochs(seed=9, n_classes=n_classes, planted=0.6)
    plan = SplitPlan(n_shuffles=4, n_folds=4, n_permutations=9, seed=4).fit(ep.labels)
    X = window_features(ep, 4, 1, CPU)
    votes = predict_cells(X, plan, "linear-svm", backend=CPU)
    names = ["logistic", "lda", "tree", "linear-svm", "rbf-svm"]
    ours = predict_stackers(votes, plan, slice(0, plan.Y_.shape[0]), names, backend=CPU)
    n_feat = N_CELLS * (1 if n_classes == 2 else n_classes)
    for j, name in enumerate(names):
        assert stacker_engine(name, n_feat) == "stacked-batched"
        clf = get_classifier(name)
        got, want = [], []
        for lab, y in enumerate(plan.Y_):
            for s in range(plan.n_shuffles):
                votes_tr, votes_te, tr, te = stacker_rows(votes[:, lab], plan, s)
                est = clf.make_estimator(seed=0)
                if clf.one_vs_rest and n_classes > 2:
                    est = OneVsRestClassifier(est)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    est.fit(encode_votes(votes_tr, n_classes), y[tr])
                    want.append(est.predict(encode_votes(votes_te, n_classes)))
                got.append(ours[j, lab, s, :te.size])
                assert (ours[j, lab, s, te.size:] == -1).all()
        agree = np.mean(np.concatenate(got) == np.concatenate(want))
        assert agree >= 0.99, (name, agree)


def test_random_forest_stacker_accuracy_like_scikit_learn_over_seeds():
    """The forest stacker cannot match fit for fit: its accuracy over seeds vs
    RandomForestClassifier's on the same votes."""
    ep = _epochs(seed=5, planted=0.6)
    plan = SplitPlan(n_shuffles=6, n_folds=4, seed=1).fit(ep.labels)
    X = window_features(ep, 4, 1, CPU)
    votes = predict_cells(X, plan, "linear-svm", label_sets=slice(0, 1), backend=CPU)
    y = plan.Y_[0]
    ours, theirs = [], []
    for seed in range(8):
        pred = predict_stackers(votes, plan, slice(0, 1), ["random-forest"], backend=CPU,
                                seed=seed, params=FOREST)[0, 0]
        for s in range(plan.n_shuffles):
            votes_tr, votes_te, tr, te = stacker_rows(votes[:, 0], plan, s)
            ours.append(np.mean(pred[s, :te.size] == y[te]))
            forest = RandomForestClassifier(10, random_state=seed, n_jobs=1)
            forest.fit(encode_votes(votes_tr, 2), y[tr])
            theirs.append(np.mean(forest.predict(encode_votes(votes_te, 2)) == y[te]))
    assert abs(np.mean(ours) - np.mean(theirs)) <= 0.05, (np.mean(ours), np.mean(theirs))


@pytest.mark.parametrize("n_classes,class_weight", [(2, None), (3, "balanced")])
def test_votes_kept_by_single_cell_decoding_give_the_same_results(n_classes, class_weight):
    """Single-cell decoding keeps its linear-svm predictions; democracy then solves only the
    permuted labels' CV slots and takes the rest from them. Same votes, same results."""
    ep = _epochs(seed=11, n_classes=n_classes, planted=0.6)
    plan = SplitPlan(n_shuffles=3, n_folds=3, n_permutations=9, seed=4).fit(ep.labels)
    keep = {"linear-svm": None}
    decode_cells(ep, plan, classifiers="logistic,linear-svm", backend=CPU,
                 class_weight=class_weight, keep=keep)
    kept = keep["linear-svm"]
    assert kept.observed.shape == (N_CELLS, plan.n_slots, plan.test_idx_.shape[1])
    assert kept.null.shape == (N_CELLS, 9, 3, plan.test_idx_.shape[1])
    alone = decode_democracy(ep, plan, "logistic,random-forest", backend=CPU,
                             class_weight=class_weight, params=FOREST)
    reused = decode_democracy(ep, plan, "logistic,random-forest", backend=CPU,
                              class_weight=class_weight, params=FOREST, votes=kept,
                              memory_fraction=1e-12)
    for key in ("test_accuracy", "test_balanced", "null_accuracy", "null_balanced", "p_value"):
        np.testing.assert_array_equal(getattr(reused, key), getattr(alone, key))
    assert reused.params["base_votes_reused"] and not alone.params["base_votes_reused"]
    # solved: the permuted labels' CV slots only
    assert reused.timing["n_base_problems_solved"] == N_CELLS * 9 * 3 * 3
    assert alone.timing["n_base_problems_solved"] == N_CELLS * 10 * plan.n_slots


def test_kept_votes_of_other_problems_are_refused():
    ep = _epochs(seed=12)
    plan = SplitPlan(n_shuffles=2, n_folds=3, n_permutations=3, seed=0).fit(ep.labels)
    keep = {"logistic": None, "linear-svm": None}
    decode_cells(ep, plan, classifiers="logistic,linear-svm", backend=CPU, keep=keep,
                 params={"linear-svm": {"C": 0.5}})
    other_plan = SplitPlan(n_shuffles=2, n_folds=3, n_permutations=3, seed=1).fit(ep.labels)
    for votes, kwargs in ((keep["logistic"], {}),                        # another classifier
                          (keep["linear-svm"], {}),                      # another C
                          (keep["linear-svm"], {"class_weight": "balanced",
                                                "params": {"linear-svm": {"C": 0.5}}}),
                          (keep["linear-svm"], {"plan": other_plan,        # same shapes
                                                "params": {"linear-svm": {"C": 0.5}}}),
                          (keep["linear-svm"], {"window_frames": 3,           # other features
                                                "params": {"linear-svm": {"C": 0.5}}})):
        kwargs = {"plan": plan, **kwargs}
        with pytest.raises(ParameterError) as err:
            decode_democracy(ep, stackers="logistic", backend=CPU, votes=votes, **kwargs)
        assert err.value.field == "votes"
    assert decode_democracy(ep, plan, "logistic", backend=CPU, votes=keep["linear-svm"],
                            params={"linear-svm": {"C": 0.5}}).params["base_votes_reused"]

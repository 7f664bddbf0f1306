"""In-fold selection, batched: F scores and selected features of every slot x label set, and
the batched kernels on the selected features (the engine's ``batched-select``).

Oracles: scikit-learn's f_classif, SelectKBest and the per-problem pipeline
``[StandardScaler] -> SelectKBest(f_classif) -> estimator`` on the plan's own splits; a
planted signal in a few features among many, and labels that carry none.
"""

import warnings

import numpy as np
import pytest
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline as sk_pipeline
from sklearn.preprocessing import StandardScaler

from gpudecode import Backend, SplitPlan
from gpudecode.classifiers import get_classifier
from gpudecode.engine import choose_engine, predict_blocks
from gpudecode.population import decode_correlations, decode_features, decode_summed
from gpudecode.selection import anova_f, selected_features, top_k

CPU = Backend.from_device("cpu")
KERNELS = ("logistic", "lda", "linear-svm", "rbf-svm", "tree")


def make_pipeline(name, *, standardize, select_k, n_classes=2, seed=0):
    """``[StandardScaler] -> SelectKBest(f_classif) -> estimator``, the estimator one-vs-rest
    for more than two classes where the kernel is (as tests/test_classifiers.py)."""
    clf = get_classifier(name)
    est = clf.make_estimator(seed=seed)
    if clf.one_vs_rest and n_classes > 2:
        est = OneVsRestClassifier(est)
    steps = [StandardScaler()] if standardize else []
    return sk_pipeline(*steps, SelectKBest(f_classif, k=select_k), est)


def _data(n_classes=3, n_trials=60, n_features=30, seed=0, signal=0.8):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_trials // n_classes)
    X = rng.normal(size=(n_trials, n_features))
    X[:, :3] += signal * y[:, None]
    return X, y


@pytest.mark.parametrize("n_classes", [2, 3])
def test_f_scores_and_selection_equal_sklearn_on_every_slot_and_label_set(n_classes):
    X, y = _data(n_classes)
    X[:, 5] = 1.0                          # constant features: f_classif scores them NaN
    X[:, 6] = 0.0
    X[:, 9] = X[:, 8]                      # tied scores: SelectKBest keeps the later one
    plan = SplitPlan(n_shuffles=4, n_folds=3, n_permutations=6, seed=2).fit(y)
    slots = np.arange(plan.n_slots)
    F = anova_f(X, plan.Y_, plan.train_idx_, plan.n_train_, n_classes=n_classes)
    assert F.shape == (plan.n_slots, plan.Y_.shape[0], X.shape[1])
    for k in (1, 9, 28):
        sel = selected_features(X, plan, k, slots, slice(None))
        for s in slots:
            train = plan.train_idx_[s, :plan.n_train_[s]]
            for lab, labels in enumerate(plan.Y_):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ref = f_classif(X[train], labels[train])[0]
                    scaled = StandardScaler().fit_transform(X[train])
                    support = SelectKBest(f_classif, k=k).fit(scaled, labels[train]).get_support()
                np.testing.assert_allclose(F[s, lab], ref, rtol=1e-7, atol=1e-9, equal_nan=True)
                np.testing.assert_array_equal(sel[s, lab], np.flatnonzero(support))
    assert np.isnan(F[..., [5, 6]]).all()


def test_top_k_keeps_the_later_of_ties_and_nan_last():
    F = np.array([[1.0, 3.0, 3.0, np.nan, 2.0, np.nan]])
    np.testing.assert_array_equal(top_k(F, 1), [[2]])
    np.testing.assert_array_equal(top_k(F, 3), [[1, 2, 4]])
    np.testing.assert_array_equal(top_k(F, 5), [[0, 1, 2, 4, 5]])
    mask = SelectKBest(lambda X, y: (F[0], F[0]), k=5).fit(np.zeros((2, 6)), [0, 1]).get_support()
    np.testing.assert_array_equal(top_k(F, 5)[0], np.flatnonzero(mask))


def test_engine_choice_with_selection():
    for name in KERNELS:
        assert choose_engine(name, 100, 20, standardize=True) == "batched-select"
        assert choose_engine(name, 100, 20, standardize=False) == "batched-select"
        assert choose_engine(name, 20, 20, standardize=True) != "batched-select"
    forest = get_classifier("random-forest")
    assert choose_engine(forest, 100, 20, standardize=True) == (
        "batched-select" if forest.batched else "pipeline")


@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_kernels_on_selected_features_predict_like_the_sklearn_pipeline(standardize, n_classes):
    """Every problem (slot x label set) of a plan: batched F + top-k + kernel vs a fresh
    scikit-learn pipeline fit on the same rows; >= 99% of the predictions agree."""
    X, y = _data(n_classes, n_trials=72, n_features=40, seed=3)
    X = X.astype(np.float32)
    plan = SplitPlan(n_shuffles=4, n_folds=3, n_permutations=8, seed=5).fit(y)
    k = 8
    slots = np.arange(plan.n_slots)
    sel = selected_features(X, plan, k, slots, slice(None))      # (slots, label sets, k)
    for name in KERNELS:
        rows, labels, ntr, nte, want = [], [], [], [], []
        for s in slots:
            train = plan.train_idx_[s, :plan.n_train_[s]]
            test = plan.test_idx_[s, :plan.n_test_[s]]
            trials = np.concatenate([train, test])
            for lab, yl in enumerate(plan.Y_):
                rows.append(X[trials][:, sel[s, lab]])
                labels.append(yl[trials])
                ntr.append(train.size)
                nte.append(test.size)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pipe = make_pipeline(name, standardize=standardize, select_k=k,
                                         n_classes=n_classes)
                    want.append(pipe.fit(X[train], yl[train]).predict(X[test]))
        n_rows = max(r.shape[0] for r in rows)
        R = np.zeros((len(rows), n_rows, k), np.float32)
        L = np.zeros((len(rows), n_rows), np.int32)
        for p, (r, lab) in enumerate(zip(rows, labels)):
            R[p, :len(r)], L[p, :len(r)] = r, lab
        pred = predict_blocks(R, L, np.array(ntr), np.array(nte), n_classes,
                              get_classifier(name), backend=CPU, standardize=standardize)
        got = np.concatenate([pred[p, :nte[p]] for p in range(len(rows))])
        agree = np.mean(got == np.concatenate(want))
        assert agree >= 0.99, (name, agree)
        assert (pred[np.arange(pred.shape[1])[None] >= np.array(nte)[:, None]] == -1).all()


def _pipeline_scores(X, plan, name, k, standardize):
    """Observed test accuracy per shuffle and the null (mean over shuffles per permutation)
    with a fresh scikit-learn pipeline per (label set, test slot), seeded with the plan's
    seed as decode_features seeds its models."""
    acc = np.empty((plan.Y_.shape[0], plan.n_shuffles))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lab, yl in enumerate(plan.Y_):
            for i, s in enumerate(plan.test_slots):
                train = plan.train_idx_[s, :plan.n_train_[s]]
                test = plan.test_idx_[s, :plan.n_test_[s]]
                pipe = make_pipeline(name, standardize=standardize, select_k=k, seed=plan.seed)
                acc[lab, i] = np.mean(pipe.fit(X[train], yl[train]).predict(X[test]) == yl[test])
    return acc[0], acc[1:].mean(1)


@pytest.mark.parametrize("name", ["logistic", "tree"])
def test_decode_with_select_k_matches_the_pipeline_and_finds_planted_signal(name):
    rng = np.random.default_rng(11)
    y = np.repeat([0, 1], 40)
    X = rng.normal(size=(80, 200)).astype(np.float32)
    X[:, [10, 50, 120]] += 1.5 * y[:, None]                # signal in 3 of 200 features
    plan = SplitPlan(n_shuffles=5, n_folds=3, n_permutations=30, seed=4).fit(y)
    res = decode_features(X, plan, name, select_k=10, standardize=True, backend=CPU)
    assert res.engines == ["batched-select"]
    test, null = _pipeline_scores(X, plan, name, 10, standardize=True)
    step = 1.0 / plan.n_test_.min()
    assert np.abs(res.test_accuracy[0] - test).max() <= step + 1e-12
    assert np.abs(res.null_accuracy[0] - null).max() <= step + 1e-12
    assert np.mean(np.isclose(res.null_accuracy[0], null)) >= 0.9
    assert res.test_accuracy.mean() > 0.7 and res.p_value[0] < 0.05
    # Labels that carry nothing: chance accuracy, no significance.
    plan0 = SplitPlan(n_shuffles=5, n_folds=3, n_permutations=30, seed=4).fit(
        rng.permutation(y))
    res0 = decode_features(X, plan0, name, select_k=10, standardize=True, backend=CPU)
    assert abs(res0.test_accuracy.mean() - 0.5) < 0.15 and res0.p_value[0] > 0.05


def test_decode_summed_and_correlations_with_select_k_use_the_batched_kernels():
    from gpudecode import TrialSpec, make_epochs, simulate_session
    s, _ = simulate_session(seed=3, session_index=2, n_cells=24, n_trials=48)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = make_epochs(s, TrialSpec(anchors=("Correct", "Incorrect"), pre=0.0, post=1.0))
    plan = SplitPlan(n_shuffles=4, n_folds=3, n_permutations=20, seed=0).fit(ep.labels)
    summed = decode_summed(ep, plan, "logistic,random-forest", select_k=6, backend=CPU)
    assert summed.engines[0] == "batched-select"
    corr = decode_correlations(ep, plan, "rbf-svm,lda", select_k=20, backend=CPU)
    assert corr.engines == ["batched-select", "batched-select"]
    from gpudecode.features import correlation_features, summed_features
    for res, X, names, std in ((summed, summed_features(ep), ["logistic"], True),
                               (corr, correlation_features(ep, 1, 1, CPU), ["rbf-svm", "lda"],
                                False)):
        k = res.params["select_k"]
        for row, name in enumerate(names):
            test, null = _pipeline_scores(X, plan, name, k, std)
            step = 1.0 / plan.n_test_.min()
            assert np.abs(res.test_accuracy[row] - test).max() <= step + 1e-12, name
            assert np.mean(np.isclose(res.null_accuracy[row], null)) >= 0.9, name
            p_pipe = (1 + np.sum(null >= test.mean())) / (1 + null.size)
            assert abs(res.p_value[row] - p_pipe) <= 0.1, (name, res.p_value[row], p_pipe)

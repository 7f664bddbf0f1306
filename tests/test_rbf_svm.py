"""Batched RBF SVM against scikit-learn's SVC (libsvm) on identical splits.

Oracle: for every problem, ``StandardScaler`` fit on the training rows, then
``SVC(kernel="rbf", gamma="scale")`` (``OneVsRestClassifier`` of it for 3 classes) fit
on the same rows; predictions on the test rows are compared with the batched kernel's.
The fixed-feature path (one Gram matrix, sub-blocks per slot) is compared with ``SVC``
refit on each slot's raw training rows.
"""

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from gpudecode.errors import NonFiniteError, ParameterError, ShapeError
from gpudecode.kernels.rbf_svm import (
    _pooled_scale_gamma,
    fit_predict_rbf_svm,
    fit_predict_rbf_svm_fixed,
    fixed_distances,
)
from gpudecode.splits import SplitPlan


def simulate(n_trials, n_features, n_classes=2, n_cells=4, weights=None, seed=0):
    """Cells x trials x features: cells 0 and 1 carry the class (a shift on a few features
    plus a time-course bump), the others are noise. Returns X float32 and labels."""
    rng = np.random.default_rng(seed)
    p = np.full(n_classes, 1.0 / n_classes) if weights is None else np.asarray(weights)
    y = rng.choice(n_classes, size=n_trials, p=p).astype(np.int32)
    while np.bincount(y, minlength=n_classes).min() < 6:
        y = rng.choice(n_classes, size=n_trials, p=p).astype(np.int32)
    t = np.linspace(0, 1, n_features)
    X = rng.normal(size=(n_cells, n_trials, n_features)) * rng.uniform(0.5, 2, (n_cells, 1, 1))
    for cell, gain in ((0, 2.0), (1, 0.8)):
        for k in range(1, n_classes):
            bump = np.exp(-((t - 0.3 * k) ** 2) / 0.02)
            X[cell, y == k] += gain * k * bump + 0.3 * gain
    return (X + 5.0).astype(np.float32), y


def split_batch(y, n_shuffles=4, folds=3, seed=0):
    """Slots = each shuffle's test split followed by its CV folds (on the training part)."""
    trains, tests = [], []
    sss = StratifiedShuffleSplit(n_shuffles, test_size=0.25, random_state=seed)
    for tr, te in sss.split(np.zeros(len(y)), y):
        trains.append(tr)
        tests.append(te)
        skf = StratifiedKFold(folds, shuffle=True, random_state=seed)
        for ftr, fte in skf.split(np.zeros(len(tr)), y[tr]):
            trains.append(tr[ftr])
            tests.append(tr[fte])
    return pad(trains), pad(tests)


def pad(rows):
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), -1, dtype=np.int32)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out, np.array([len(r) for r in rows], dtype=np.int32)


def labelsets(y, n_perm, seed=0):
    rng = np.random.default_rng(seed + 1)
    return np.stack([y] + [rng.permutation(y) for _ in range(n_perm)]).astype(np.int32)


def sklearn_predictions(X, Y, tr, ntr, te, nte, n_classes, balanced=False, **svc):
    pred = np.full((X.shape[0], Y.shape[0], tr.shape[0], te.shape[1]), -1, dtype=np.int32)
    for c in range(X.shape[0]):
        for lab in range(Y.shape[0]):
            for s in range(tr.shape[0]):
                rows, test = tr[s, :ntr[s]], te[s, :nte[s]]
                y = Y[lab, rows]
                if np.unique(y).size == 1:
                    pred[c, lab, s, :nte[s]] = y[0]
                    continue
                xtr = X[c, rows].astype(np.float64)
                scaler = StandardScaler().fit(xtr)
                est = SVC(kernel="rbf", class_weight="balanced" if balanced else None, **svc)
                if n_classes > 2:
                    est = OneVsRestClassifier(est)
                est.fit(scaler.transform(xtr), y)
                pred[c, lab, s, :nte[s]] = est.predict(
                    scaler.transform(X[c, test].astype(np.float64)))
    return pred


def assert_agrees(pred, ref, Y, te, nte, min_agree=0.99):
    """>= 99% of test predictions equal; per cell and label set, mean accuracy within 0.01."""
    used = np.arange(te.shape[1])[None, :] < nte[:, None]
    assert np.all(pred[..., ~used] == -1)
    agree = (pred == ref)[..., used].mean()
    assert agree >= min_agree, agree
    truth = Y[:, np.clip(te, 0, None)]  # label sets x slots x test rows
    acc = (pred == truth)[..., used].mean(axis=-1)
    acc_ref = (ref == truth)[..., used].mean(axis=-1)
    assert np.abs(acc - acc_ref).max() <= 0.01
    return agree


@pytest.mark.parametrize("n_trials,n_features", [(36, 20), (120, 8), (60, 50)])
def test_binary_matches_sklearn(n_trials, n_features):
    X, y = simulate(n_trials, n_features, seed=n_trials)
    Y = labelsets(y, 1)
    (tr, ntr), (te, nte) = split_batch(y)
    pred = fit_predict_rbf_svm(X, Y, tr, ntr, te, nte, 2)
    ref = sklearn_predictions(X, Y, tr, ntr, te, nte, 2)
    assert pred.shape == (4, 2, tr.shape[0], te.shape[1]) and pred.dtype == np.int32
    assert_agrees(pred, ref, Y, te, nte)
    # the planted cell decodes its observed labels, not permuted ones; a noise cell does not
    used = np.arange(te.shape[1])[None, :] < nte[:, None]
    acc = (pred == Y[:, np.clip(te, 0, None)])[..., used].mean(axis=-1)
    assert acc[0, 0] > 0.8 and acc[0, 1] < 0.7 and acc[3, 0] < 0.7


def test_three_classes_one_vs_rest_matches_sklearn():
    X, y = simulate(90, 12, n_classes=3, seed=3)
    Y = labelsets(y, 1)
    (tr, ntr), (te, nte) = split_batch(y)
    pred = fit_predict_rbf_svm(X, Y, tr, ntr, te, nte, 3)
    ref = sklearn_predictions(X, Y, tr, ntr, te, nte, 3)
    assert_agrees(pred, ref, Y, te, nte)
    assert set(np.unique(pred[0, 0])) == {-1, 0, 1, 2}


@pytest.mark.parametrize("n_classes", [2, 3])
def test_balanced_class_weight_matches_sklearn(n_classes):
    weights = [0.7, 0.3] if n_classes == 2 else [0.55, 0.3, 0.15]
    X, y = simulate(80, 10, n_classes=n_classes, weights=weights, seed=7)
    Y = labelsets(y, 1)
    (tr, ntr), (te, nte) = split_batch(y)
    pred = fit_predict_rbf_svm(X, Y, tr, ntr, te, nte, n_classes, class_weight_balanced=True)
    ref = sklearn_predictions(X, Y, tr, ntr, te, nte, n_classes, balanced=True)
    assert_agrees(pred, ref, Y, te, nte)
    plain = fit_predict_rbf_svm(X, Y, tr, ntr, te, nte, n_classes)
    assert (plain != pred).any()  # the weights change the fits


def test_hyperparameters_and_raw_features_match_sklearn():
    X, y = simulate(50, 9, seed=11)
    Y = labelsets(y, 0)
    (tr, ntr), (te, nte) = split_batch(y, n_shuffles=3)
    pred = fit_predict_rbf_svm(X, Y, tr, ntr, te, nte, 2, C=3.0, gamma=0.05, tol=1e-4)
    ref = sklearn_predictions(X, Y, tr, ntr, te, nte, 2, C=3.0, gamma=0.05, tol=1e-4)
    assert_agrees(pred, ref, Y, te, nte)

    raw = fit_predict_rbf_svm(X, Y, tr, ntr, te, nte, 2, standardize=False, C=0.5)
    ref = np.full_like(raw, -1)
    for c in range(X.shape[0]):
        for s in range(tr.shape[0]):
            rows, test = tr[s, :ntr[s]], te[s, :nte[s]]
            est = SVC(kernel="rbf", C=0.5).fit(X[c, rows].astype(np.float64), Y[0, rows])
            ref[c, 0, s, :nte[s]] = est.predict(X[c, test].astype(np.float64))
    assert_agrees(raw, ref, Y, te, nte)


def test_single_class_training_set_predicts_that_class():
    X, y = simulate(30, 8, seed=2)
    Y = np.stack([y, np.full_like(y, 1), np.full_like(y, 2)])  # 3 classes coded, one present
    tr, te = np.arange(20, dtype=np.int32)[None], np.arange(20, 30, dtype=np.int32)[None]
    pred = fit_predict_rbf_svm(X, Y, tr, [20], te, [10], 3)
    assert np.all(pred[:, 1] == 1) and np.all(pred[:, 2] == 2)
    # two of three classes present: a binary fit between them, the third never predicted
    Y2 = np.where(y == 0, 0, 2).astype(np.int32)[None]
    pred2 = fit_predict_rbf_svm(X, Y2, tr, [20], te, [10], 3)
    assert set(np.unique(pred2)) <= {0, 2}
    ref = sklearn_predictions(X, Y2, tr, np.array([20]), te, np.array([10]), 2)
    assert np.array_equal(pred2, ref)


def test_constant_feature_and_constant_cell_do_not_break():
    X, y = simulate(30, 6, seed=4)
    X[0, :, 2] = 1.5            # one constant feature
    X[1] = 3.0                  # a constant cell: gamma falls back to 1, all kernels 1
    Y = labelsets(y, 0)
    (tr, ntr), (te, nte) = split_batch(y, n_shuffles=2)
    pred = fit_predict_rbf_svm(X, Y, tr, ntr, te, nte, 2)
    ref = sklearn_predictions(X, Y, tr, ntr, te, nte, 2)
    used = np.arange(te.shape[1])[None, :] < nte[:, None]
    assert np.array_equal(pred[..., used], ref[..., used])


def test_bad_input_raises_clear_errors():
    X, y = simulate(30, 6, seed=5)
    tr, te = np.arange(20, dtype=np.int32)[None], np.arange(20, 30, dtype=np.int32)[None]
    Xn = X.copy()
    Xn[1, 3, 2] = np.nan
    with pytest.raises(NonFiniteError, match=r"\[X\].*cell 1, trial 3, feature 2"):
        fit_predict_rbf_svm(Xn, y[None], tr, [20], te, [10], 2)
    with pytest.raises(ParameterError, match=r"\[C\]"):
        fit_predict_rbf_svm(X, y[None], tr, [20], te, [10], 2, C=0)
    with pytest.raises(ParameterError, match=r"\[gamma\]"):
        fit_predict_rbf_svm(X, y[None], tr, [20], te, [10], 2, gamma="auto")
    with pytest.raises(ParameterError, match=r"\[Y\]"):
        fit_predict_rbf_svm(X, (y + 5)[None], tr, [20], te, [10], 2)
    with pytest.raises(ShapeError, match=r"\[Y\]"):
        fit_predict_rbf_svm(X, y[None, :20], tr, [20], te, [10], 2)
    with pytest.raises(ParameterError, match=r"\[train_idx\]"):
        fit_predict_rbf_svm(X, y[None], tr + 15, [20], te, [10], 2)


# ----------------------------------------------------------------------------- fixed features

def correlation_features(n_classes, seed, n_trials=36, n_cells=25, n_frames=40):
    """Trials x 300 cell-pair correlations (values in [-1, 1]). In class k > 0, cells
    5(k-1)..5k-1 share a common signal, so their pairs correlate more in that class."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n_trials) % n_classes).astype(np.int32)
    rng.shuffle(y)
    upper = np.triu_indices(n_cells, 1)
    X = np.empty((n_trials, upper[0].size))
    for t in range(n_trials):
        traces = rng.normal(size=(n_cells, n_frames))
        if y[t] > 0:
            traces[5 * (y[t] - 1):5 * y[t]] += 0.8 * rng.normal(size=n_frames)
        X[t] = np.corrcoef(traces)[upper]
    return X.astype(np.float32), y


def random_features(n_classes, seed, n_trials=36, n_features=300):
    rng = np.random.default_rng(seed)
    y = (np.arange(n_trials) % n_classes).astype(np.int32)
    return rng.uniform(-1, 1, (n_trials, n_features)).astype(np.float32), y


def sklearn_refit_per_slot(X, Y, tr, ntr, te, nte, n_classes, balanced=False, **svc):
    """SVC(kernel="rbf") refit on each slot's raw training rows (OvR beyond two classes)."""
    pred = np.full((Y.shape[0], tr.shape[0], te.shape[1]), -1, dtype=np.int32)
    X = X.astype(np.float64)
    for lab in range(Y.shape[0]):
        for s in range(tr.shape[0]):
            rows, test = tr[s, :ntr[s]], te[s, :nte[s]]
            est = SVC(kernel="rbf", class_weight="balanced" if balanced else None, **svc)
            if n_classes > 2:
                est = OneVsRestClassifier(est)
            pred[lab, s, :nte[s]] = est.fit(X[rows], Y[lab, rows]).predict(X[test])
    return pred


@pytest.fixture(scope="module", params=[("correlation", 2), ("correlation", 3),
                                        ("random", 2), ("random", 3)],
                ids=lambda p: f"{p[0]}-{p[1]}class")
def fixed_case(request):
    kind, n_classes = request.param
    make = correlation_features if kind == "correlation" else random_features
    X, y = make(n_classes, seed=n_classes)
    plan = SplitPlan(n_shuffles=5, n_folds=3, n_permutations=3).fit(y)
    split = (plan.train_idx_, plan.n_train_, plan.test_idx_, plan.n_test_)
    return kind, n_classes, X, plan.Y_, split


def test_fixed_gram_matches_sklearn_refit_per_split(fixed_case):
    kind, n_classes, X, Y, (tr, ntr, te, nte) = fixed_case
    pred = fit_predict_rbf_svm_fixed(X, Y, tr, ntr, te, nte, n_classes)
    assert pred.shape == (Y.shape[0], tr.shape[0], te.shape[1]) and pred.dtype == np.int32
    ref = sklearn_refit_per_slot(X, Y, tr, ntr, te, nte, n_classes, gamma="scale", C=1.0)
    assert_agrees(pred, ref, Y, te, nte)
    # the per-(cell, slot) kernel on the same raw features gives the same predictions
    per_slot = fit_predict_rbf_svm(X[None], Y, tr, ntr, te, nte, n_classes, standardize=False)
    assert (pred == per_slot[0]).mean() >= 0.999
    # the comparison is not between constant predictors; the planted signal is found
    used = np.arange(te.shape[1])[None, :] < nte[:, None]
    assert set(np.unique(pred[0][used])) == set(range(n_classes))
    acc = (pred == Y[:, np.clip(te, 0, None)])[:, used].mean(axis=-1)
    chance = 1.0 / n_classes
    assert acc[1:].mean() < chance + 0.15
    if kind == "correlation":
        assert acc[0] > 0.85
    else:
        assert acc[0] < chance + 0.15


def test_fixed_options_match_per_slot_kernel_and_sklearn():
    X, y = correlation_features(3, seed=8)
    X[:, 7] = 0.25  # a constant feature
    plan = SplitPlan(n_shuffles=3, n_folds=3, n_permutations=1, seed=2).fit(y)
    Y, split = plan.Y_, (plan.train_idx_, plan.n_train_, plan.test_idx_, plan.n_test_)
    opts = {"C": 2.0, "gamma": 0.01, "tol": 1e-4}
    pred = fit_predict_rbf_svm_fixed(X, Y, *split, 3, class_weight_balanced=True, **opts,
                                     shrinking=False)
    ref = sklearn_refit_per_slot(X, Y, *split, 3, balanced=True, **opts)
    assert_agrees(pred, ref, Y, split[2], split[3])
    per_slot = fit_predict_rbf_svm(X[None], Y, *split, 3, standardize=False,
                                   class_weight_balanced=True, **opts, shrinking=False)
    assert (pred == per_slot[0]).mean() >= 0.999


def test_fixed_distances_and_scale_gamma_match_numpy():
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(0)
    X = (rng.normal(size=(20, 50)) * 3 + 40).astype(np.float32)  # a large mean
    D, mu, css = fixed_distances(np, X, feature_chunk=16)
    X64 = X.astype(np.float64)
    assert np.array_equal(D, D.T) and np.all(np.diag(D) == 0)
    np.testing.assert_allclose(D, cdist(X64, X64, "sqeuclidean"), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(mu, X64.mean(axis=1), rtol=1e-13)
    np.testing.assert_allclose(css, ((X64 - X64.mean(1, keepdims=True)) ** 2).sum(1),
                               rtol=1e-11)
    tr = rng.permutation(20)[:13]
    gamma = _pooled_scale_gamma(mu, css, tr, tr.size, X.shape[1])
    np.testing.assert_allclose(gamma, 1.0 / (X.shape[1] * X64[tr].var()), rtol=1e-12)
    const = np.full((4, 3), 2.0)
    D, mu, css = fixed_distances(np, const)
    assert _pooled_scale_gamma(mu, css, np.arange(4), 4, 3) == 1.0  # sklearn: var 0 -> 1


def test_fixed_bad_input_raises_clear_errors():
    X, y = random_features(2, seed=1, n_trials=30, n_features=6)
    tr, te = np.arange(20, dtype=np.int32)[None], np.arange(20, 30, dtype=np.int32)[None]
    with pytest.raises(ShapeError, match=r"\[X\].*2-D"):
        fit_predict_rbf_svm_fixed(X[None], y[None], tr, [20], te, [10], 2)
    Xn = X.copy()
    Xn[3, 2] = np.inf
    with pytest.raises(NonFiniteError, match=r"\[X\].*trial 3, feature 2"):
        fit_predict_rbf_svm_fixed(Xn, y[None], tr, [20], te, [10], 2)
    with pytest.raises(ParameterError, match=r"\[gamma\]"):
        fit_predict_rbf_svm_fixed(X, y[None], tr, [20], te, [10], 2, gamma="auto")
    with pytest.raises(ShapeError, match=r"\[Y\]"):
        fit_predict_rbf_svm_fixed(X, y[None, :20], tr, [20], te, [10], 2)
    with pytest.raises(ParameterError, match=r"\[test_idx\]"):
        fit_predict_rbf_svm_fixed(X, y[None], tr, [20], te + 5, [10], 2)

"""Batched decision trees against scikit-learn's DecisionTreeClassifier on identical splits.

Oracle: for every problem, ``DecisionTreeClassifier(max_depth=..., random_state=...)`` fit
on the problem's raw training rows; predictions on the test rows are compared.
"""

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit
from sklearn.tree import DecisionTreeClassifier

from gpudecode.errors import NonFiniteError, ParameterError
from gpudecode.kernels.tree import fit_predict_tree, max_tree_nodes, sklearn_tree_seed


def simulate(n_trials, n_features, n_classes=2, n_cells=4, weights=None, seed=0,
             discrete=False):
    """Cells x trials x features: cells 0 and 1 carry the class, the others are noise.

    ``discrete`` rounds the features to a few levels, so that many splits tie."""
    rng = np.random.default_rng(seed)
    p = np.full(n_classes, 1.0 / n_classes) if weights is None else np.asarray(weights)
    y = rng.choice(n_classes, size=n_trials, p=p).astype(np.int32)
    while np.bincount(y, minlength=n_classes).min() < 6:
        y = rng.choice(n_classes, size=n_trials, p=p).astype(np.int32)
    t = np.linspace(0, 1, n_features)
    X = rng.normal(size=(n_cells, n_trials, n_features)) * rng.uniform(0.5, 2, (n_cells, 1, 1))
    for cell, gain in ((0, 2.0), (1, 0.8)):
        for k in range(1, n_classes):
            X[cell, y == k] += gain * k * np.exp(-((t - 0.3 * k) ** 2) / 0.02) + 0.3 * gain
    if discrete:
        X = np.round(X)
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


def sklearn_predictions(X, Y, tr, ntr, te, nte, balanced=False, **tree):
    pred = np.full((X.shape[0], Y.shape[0], tr.shape[0], te.shape[1]), -1, dtype=np.int32)
    for c in range(X.shape[0]):
        for lab in range(Y.shape[0]):
            for s in range(tr.shape[0]):
                rows, test = tr[s, :ntr[s]], te[s, :nte[s]]
                est = DecisionTreeClassifier(class_weight="balanced" if balanced else None,
                                             **tree)
                est.fit(X[c, rows], Y[lab, rows])
                pred[c, lab, s, :nte[s]] = est.predict(X[c, test])
    return pred


def assert_agrees(pred, ref, Y, te, nte, min_agree=0.99):
    """>= 99% of test predictions equal; per cell and label set, mean accuracy within 0.01."""
    used = np.arange(te.shape[1])[None, :] < nte[:, None]
    assert np.all(pred[..., ~used] == -1)
    agree = (pred == ref)[..., used].mean()
    assert agree >= min_agree, agree
    truth = Y[:, np.clip(te, 0, None)]
    acc = (pred == truth)[..., used].mean(axis=-1)
    acc_ref = (ref == truth)[..., used].mean(axis=-1)
    assert np.abs(acc - acc_ref).max() <= 0.01
    return agree


@pytest.mark.parametrize("n_trials,n_features,max_depth", [(36, 40, 3), (120, 8, 3),
                                                           (80, 20, None)])
def test_binary_matches_sklearn(n_trials, n_features, max_depth):
    X, y = simulate(n_trials, n_features, seed=n_trials)
    Y = labelsets(y, 1)
    (tr, ntr), (te, nte) = split_batch(y)
    pred = fit_predict_tree(X, Y, tr, ntr, te, nte, 2, max_depth=max_depth, random_state=0)
    ref = sklearn_predictions(X, Y, tr, ntr, te, nte, max_depth=max_depth, random_state=0)
    assert pred.shape == (4, 2, tr.shape[0], te.shape[1]) and pred.dtype == np.int32
    assert_agrees(pred, ref, Y, te, nte)
    used = np.arange(te.shape[1])[None, :] < nte[:, None]
    acc = (pred == Y[:, np.clip(te, 0, None)])[..., used].mean(axis=-1)
    assert acc[0, 0] > 0.7 and acc[0, 1] < 0.62 and acc[3, 0] < 0.62


def test_three_classes_and_leaf_options_match_sklearn():
    X, y = simulate(90, 12, n_classes=3, seed=3)
    Y = labelsets(y, 1)
    (tr, ntr), (te, nte) = split_batch(y)
    pred = fit_predict_tree(X, Y, tr, ntr, te, nte, 3, max_depth=4, min_samples_split=6,
                            min_samples_leaf=3, random_state=1)
    ref = sklearn_predictions(X, Y, tr, ntr, te, nte, max_depth=4, min_samples_split=6,
                              min_samples_leaf=3, random_state=1)
    assert_agrees(pred, ref, Y, te, nte)
    assert set(np.unique(pred[0, 0])) == {-1, 0, 1, 2}


@pytest.mark.parametrize("n_classes", [2, 3])
def test_balanced_class_weight_matches_sklearn(n_classes):
    weights = [0.7, 0.3] if n_classes == 2 else [0.55, 0.3, 0.15]
    X, y = simulate(80, 10, n_classes=n_classes, weights=weights, seed=7)
    Y = labelsets(y, 1)
    (tr, ntr), (te, nte) = split_batch(y)
    pred = fit_predict_tree(X, Y, tr, ntr, te, nte, n_classes, class_weight_balanced=True,
                            max_depth=4)
    ref = sklearn_predictions(X, Y, tr, ntr, te, nte, balanced=True, max_depth=4,
                              random_state=0)
    assert_agrees(pred, ref, Y, te, nte)
    plain = fit_predict_tree(X, Y, tr, ntr, te, nte, n_classes, max_depth=4)
    assert (plain != pred).any()  # the weights change the trees


@pytest.mark.parametrize("random_state", [0, 5, 123])
def test_ties_are_broken_like_sklearn_random_state(random_state):
    """Rounded features make many splits tie; scikit-learn's feature order decides them."""
    X, y = simulate(40, 30, seed=9, discrete=True)
    Y = labelsets(y, 2)
    (tr, ntr), (te, nte) = split_batch(y, n_shuffles=3)
    pred = fit_predict_tree(X, Y, tr, ntr, te, nte, 2, max_depth=None,
                            random_state=random_state)
    ref = sklearn_predictions(X, Y, tr, ntr, te, nte, max_depth=None,
                              random_state=random_state)
    used = np.arange(te.shape[1])[None, :] < nte[:, None]
    assert np.array_equal(pred[..., used], ref[..., used])
    other = sklearn_predictions(X, Y, tr, ntr, te, nte, max_depth=None,
                                random_state=random_state + 1)
    assert not np.array_equal(other[..., used], ref[..., used])  # ties did matter here


def test_random_state_none_prefers_lowest_feature_index():
    # features 1 and 2 separate the classes equally well; 0 is noise; test rows disagree
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=np.int32)
    good = np.array([0, 1, 2, 3, 10, 11, 12, 13], dtype=np.float32)
    X = np.stack([np.array([5, 1, 4, 2, 3, 6, 8, 7], np.float32), good, good], axis=1)
    X = np.concatenate([X, [[0, 0, 20], [0, 20, 0]]]).astype(np.float32)[None]
    tr, te = np.arange(8, dtype=np.int32)[None], np.array([[8, 9]], dtype=np.int32)
    Y = np.concatenate([y, [0, 0]]).astype(np.int32)[None]
    pred = fit_predict_tree(X, Y, tr, [8], te, [2], 2, random_state=None)
    assert pred[0, 0, 0].tolist() == [0, 1]  # split on feature 1, the lower index
    X2 = X[:, :, [0, 2, 1]]  # swap the tied features: now feature 1 is the other one
    pred2 = fit_predict_tree(X2, Y, tr, [8], te, [2], 2, random_state=None)
    assert pred2[0, 0, 0].tolist() == [1, 0]


def test_large_nodes_use_the_float_scan_and_still_match_sklearn():
    """Nodes above 1000 samples take scikit-learn's float scan instead of the integer one."""
    X, y = simulate(1400, 4, n_cells=2, seed=13)
    Y = labelsets(y, 1)
    (tr, ntr), (te, nte) = split_batch(y, n_shuffles=1, folds=2)
    assert ntr.max() > 1000
    pred = fit_predict_tree(X, Y, tr, ntr, te, nte, 2, max_depth=4)
    ref = sklearn_predictions(X, Y, tr, ntr, te, nte, max_depth=4, random_state=0)
    used = np.arange(te.shape[1])[None, :] < nte[:, None]
    assert np.array_equal(pred[..., used], ref[..., used])


def test_single_class_training_set_predicts_that_class():
    X, y = simulate(30, 8, seed=2)
    Y = np.stack([y, np.full_like(y, 1), np.full_like(y, 2)])
    tr, te = np.arange(20, dtype=np.int32)[None], np.arange(20, 30, dtype=np.int32)[None]
    pred = fit_predict_tree(X, Y, tr, [20], te, [10], 3)
    assert np.all(pred[:, 1] == 1) and np.all(pred[:, 2] == 2)
    ref = sklearn_predictions(X, Y[:1], tr, np.array([20]), te, np.array([10]),
                              max_depth=3, random_state=0)
    assert np.array_equal(pred[:, :1], ref)


def test_constant_cell_and_float64_input():
    X, y = simulate(30, 6, seed=4)
    X[1] = 3.0  # a constant cell: no split, the majority class everywhere
    Y = labelsets(y, 0)
    (tr, ntr), (te, nte) = split_batch(y, n_shuffles=2)
    pred = fit_predict_tree(X.astype(np.float64), Y, tr, ntr, te, nte, 2)
    ref = sklearn_predictions(X, Y, tr, ntr, te, nte, max_depth=3, random_state=0)
    used = np.arange(te.shape[1])[None, :] < nte[:, None]
    assert np.array_equal(pred[..., used], ref[..., used])
    for s in range(tr.shape[0]):
        counts = np.bincount(y[tr[s, :ntr[s]]], minlength=2)
        assert np.all(pred[1, 0, s, :nte[s]] == np.argmax(counts))


def test_node_capacity_bound():
    assert max_tree_nodes(3, 100) == 15
    assert max_tree_nodes(30, 10) == 19
    assert max_tree_nodes(2 ** 30, 1) == 1
    assert sklearn_tree_seed(None) == -1
    assert 0 <= sklearn_tree_seed(0) < 2 ** 31 - 1


def test_bad_input_raises_clear_errors():
    X, y = simulate(30, 6, seed=5)
    tr, te = np.arange(20, dtype=np.int32)[None], np.arange(20, 30, dtype=np.int32)[None]
    Xn = X.copy()
    Xn[0, 4, 1] = np.inf
    with pytest.raises(NonFiniteError, match=r"\[X\].*cell 0, trial 4, feature 1"):
        fit_predict_tree(Xn, y[None], tr, [20], te, [10], 2)
    with pytest.raises(ParameterError, match=r"\[max_depth\]"):
        fit_predict_tree(X, y[None], tr, [20], te, [10], 2, max_depth=0)
    with pytest.raises(ParameterError, match=r"\[min_samples_split\]"):
        fit_predict_tree(X, y[None], tr, [20], te, [10], 2, min_samples_split=1)
    with pytest.raises(ParameterError, match=r"\[min_samples_leaf\]"):
        fit_predict_tree(X, y[None], tr, [20], te, [10], 2, min_samples_leaf=0.5)
    with pytest.raises(ParameterError, match=r"\[random_state\]"):
        fit_predict_tree(X, y[None], tr, [20], te, [10], 2, random_state="seed")
    with pytest.raises(ParameterError, match=r"\[n_train\]"):
        fit_predict_tree(X, y[None], tr, [21], te, [10], 2)
    dup = tr.copy()
    dup[0, 5] = dup[0, 6]
    with pytest.raises(ParameterError, match=r"\[train_idx\] train_idx slot 0 lists a trial"):
        fit_predict_tree(X, y[None], dup, [20], te, [10], 2)

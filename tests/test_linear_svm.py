"""Batched linear SVM (Numba CPU) against scikit-learn's LinearSVC(loss="hinge"), same splits.

Oracle: for every cell x split slot, StandardScaler fit on the training rows, then
LinearSVC(loss="hinge") run to convergence (tol 1e-5, max_iter 1e5), so both sides aim at
the same (unique) optimum.
"""

import warnings

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from sklearn.svm import LinearSVC

from gpudecode.errors import NonFiniteError, ParameterError, ShapeError
from gpudecode.kernels.linear_svm import fit_predict_linear_svm, uses_gram
from gpudecode.splits import SplitPlan


def simulate(n_cells, n_trials, n_features, n_classes, seed, strengths, minority=None):
    """Cells x trials x features like sliding-mean calcium traces around an event.

    Smoothed noise (neighbouring features correlated), and in cell ``c`` a bump of height
    ``strengths[c]`` whose latency depends on the class (class 0 has none); cells past
    ``len(strengths)`` are pure noise. ``minority``: fraction of trials in class 0.
    """
    rng = np.random.default_rng(seed)
    if minority is None:
        y = rng.permutation(np.arange(n_trials) % n_classes)
    else:
        n0 = int(round(minority * n_trials))
        rest = 1 + np.arange(n_trials - n0) % (n_classes - 1)
        y = rng.permutation(np.r_[np.zeros(n0, int), rest])
    raw = rng.standard_normal((n_cells, n_trials, n_features + 3))
    X = (raw[..., :-3] + raw[..., 1:-2] + raw[..., 2:-1] + raw[..., 3:]) / 2
    t = np.arange(n_features)
    for c, a in enumerate(strengths):
        for k in range(1, n_classes):
            centre = n_features * k / n_classes
            X[c, y == k] += a * np.exp(-0.5 * ((t - centre) / (0.1 * n_features + 1)) ** 2)
    return X.astype(np.float32), y


def plan_for(y, n_permutations=0, n_shuffles=2, seed=0):
    return SplitPlan(n_shuffles=n_shuffles, test_size=0.25, n_folds=5,
                     n_permutations=n_permutations, seed=seed).fit(y)


def batch_args(X, plan, n_classes):
    return (X, plan.Y_, plan.train_idx_, plan.n_train_, plan.test_idx_, plan.n_test_, n_classes)


def oracle(X, y, plan, make, standardize=True):
    """scikit-learn predictions, (n_cells, n_slots, max_test), -1 padded."""
    with threadpool_limits(1):  # multi-threaded BLAS only slows these tiny fits down
        return _oracle(X, y, plan, make, standardize)


def _oracle(X, y, plan, make, standardize):
    out = np.full((X.shape[0], plan.n_slots, plan.test_idx_.shape[1]), -1)
    for c in range(X.shape[0]):
        Xc = X[c].astype(np.float64)
        for s in range(plan.n_slots):
            tr = plan.train_idx_[s, :plan.n_train_[s]]
            te = plan.test_idx_[s, :plan.n_test_[s]]
            A, B = Xc[tr], Xc[te]
            if standardize:
                scaler = StandardScaler().fit(A)
                A, B = scaler.transform(A), scaler.transform(B)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[c, s, :te.size] = make().fit(A, y[tr]).predict(B)
    return out


def assert_agrees(ours, theirs, y, plan, min_agree=0.99, acc_tol=0.01):
    """>= 99 % of test predictions equal, per-cell mean accuracies within 0.01."""
    valid = plan.test_idx_ >= 0
    assert ((ours == -1) == ~valid[None]).all(), "padding must be -1, real rows a class"
    agree = (ours == theirs)[:, valid].mean()
    truth = y[np.where(valid, plan.test_idx_, 0)]
    def cell_acc(pred):
        return np.array([((p == truth) & valid).sum(1) / valid.sum(1) for p in pred]).mean(1)
    gap = np.abs(cell_acc(ours) - cell_acc(theirs)).max()
    assert agree >= min_agree, f"only {agree:.4f} of test predictions agree"
    assert gap <= acc_tol, f"per-cell mean accuracies differ by {gap:.4f}"
    return agree


def svc(**kw):
    return lambda: LinearSVC(loss="hinge", dual=True, tol=1e-5, max_iter=100_000, **kw)


@pytest.mark.parametrize("n_trials, n_features", [
    (36, 61),    # the study's shape: fewer trials than features (Gram form)
    (150, 12),   # many trials, few features (primal form)
])
def test_binary_matches_linearsvc(n_trials, n_features):
    X, y = simulate(4, n_trials, n_features, 2, seed=n_trials, strengths=[1.5, 0.8, 0.4])
    plan = plan_for(y)
    ours = fit_predict_linear_svm(*batch_args(X, plan, 2))[:, 0]
    assert_agrees(ours, oracle(X, y, plan, svc()), y, plan)


def test_both_solver_forms_are_exercised():
    assert uses_gram(27, 61) and uses_gram(30, 29) and not uses_gram(112, 12)


def test_three_classes_one_vs_rest():
    # every cell carries some class information: on pure noise each one-vs-rest hinge
    # problem has w = 0 exactly, all decision values tie at -1 and both libraries then
    # pick a class by round-off.
    X, y = simulate(5, 90, 20, 3, seed=3, strengths=[1.5, 1.0, 0.7, 0.5, 0.35])
    plan = plan_for(y)
    ours = fit_predict_linear_svm(*batch_args(X, plan, 3))[:, 0]
    assert_agrees(ours, oracle(X, y, plan, svc()), y, plan)


@pytest.mark.parametrize("n_classes, n_trials, n_features, C", [
    (2, 60, 61, 0.02),   # separable: weights only matter once some alpha reaches its bound
    (2, 120, 10, 1.0),
    (3, 90, 12, 1.0),
])
def test_balanced_class_weights(n_classes, n_trials, n_features, C):
    X, y = simulate(4, n_trials, n_features, n_classes, seed=11, strengths=[1.2, 0.8, 0.5],
                    minority=0.25)
    if n_classes == 3:  # keep every cell informative (see the three-class test)
        X, y = simulate(4, n_trials, n_features, 3, seed=11, strengths=[1.2, 0.9, 0.7, 0.5],
                        minority=0.25)
    plan = plan_for(y)
    ours = fit_predict_linear_svm(*batch_args(X, plan, n_classes), C=C,
                                  class_weight_balanced=True)[:, 0]
    assert_agrees(ours, oracle(X, y, plan, svc(C=C, class_weight="balanced")), y, plan)
    plain = fit_predict_linear_svm(*batch_args(X, plan, n_classes), C=C)[:, 0]
    assert (plain != ours).any(), "balanced weights must change some predictions"


def test_other_C_and_no_standardisation():
    X, y = simulate(4, 48, 20, 2, seed=5, strengths=[1.0, 0.5])
    plan = plan_for(y)
    ours = fit_predict_linear_svm(*batch_args(X, plan, 2), C=0.05, standardize=False)[:, 0]
    assert_agrees(ours, oracle(X, y, plan, svc(C=0.05), standardize=False), y, plan)


def test_permuted_label_sets_equal_separate_runs():
    X, y = simulate(3, 40, 30, 2, seed=8, strengths=[1.0])
    plan = plan_for(y, n_permutations=3)
    args = batch_args(X, plan, 2)
    both = fit_predict_linear_svm(*args)
    for lab in range(plan.Y_.shape[0]):
        alone = fit_predict_linear_svm(X, plan.Y_[lab:lab + 1], *args[2:])
        np.testing.assert_array_equal(both[:, lab], alone[:, 0])


def test_single_class_training_set_predicts_that_class():
    X, y = simulate(2, 20, 5, 2, seed=1, strengths=[1.0])
    Y = np.stack([y, np.ones_like(y), np.zeros_like(y)]).astype(np.int32)
    train = np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]], np.int32)
    test = np.array([[15, 16, 17, 18, 19]], np.int32)
    pred = fit_predict_linear_svm(X, Y, train, np.array([15]), test, np.array([5]), 2)
    assert (pred[:, 1] == 1).all() and (pred[:, 2] == 0).all()


def test_class_missing_from_training_set_fits_the_classes_present():
    X, y = simulate(2, 45, 8, 3, seed=4, strengths=[1.5, 1.0])
    tr = np.flatnonzero(y != 2)[:25].astype(np.int32)
    te = np.arange(45, dtype=np.int32)[~np.isin(np.arange(45), tr)]
    pred = fit_predict_linear_svm(X, y[None], tr[None], np.array([tr.size]), te[None],
                                  np.array([te.size]), 3)
    for c in range(2):
        scaler = StandardScaler().fit(X[c, tr].astype(np.float64))
        ref = svc()().fit(scaler.transform(X[c, tr].astype(np.float64)), y[tr])
        np.testing.assert_array_equal(pred[c, 0, 0], ref.predict(scaler.transform(
            X[c, te].astype(np.float64))))
    assert not (pred == 2).any()


def test_padding_and_empty_test_slot():
    X, y = simulate(1, 12, 4, 2, seed=2, strengths=[1.0])
    train = np.array([[0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3, 4, 5, -1, -1]], np.int32)
    test = np.array([[8, 9, 10, 11], [-1, -1, -1, -1]], np.int32)
    pred = fit_predict_linear_svm(X, y[None], train, np.array([8, 6]), test, np.array([4, 0]), 2)
    assert pred.shape == (1, 1, 2, 4) and pred.dtype == np.int32
    assert set(np.unique(pred[0, 0, 0])) <= {0, 1} and (pred[0, 0, 1] == -1).all()


def test_bad_input_is_a_clear_error():
    X, y = simulate(2, 20, 5, 2, seed=0, strengths=[1.0])
    plan = plan_for(y, n_shuffles=1)
    args = list(batch_args(X, plan, 2))
    bad = X.copy()
    bad[1, 3, 2] = np.nan
    with pytest.raises(NonFiniteError) as err:
        fit_predict_linear_svm(bad, *args[1:])
    assert err.value.field == "X" and "cell 1, trial 3, feature 2" in str(err.value)
    with pytest.raises(ShapeError) as err:
        fit_predict_linear_svm(X[0], *args[1:])
    assert err.value.field == "X"
    with pytest.raises(ShapeError) as err:
        fit_predict_linear_svm(X, plan.Y_[:, :-1], *args[2:])
    assert err.value.field == "Y"
    with pytest.raises(ParameterError) as err:
        fit_predict_linear_svm(X, plan.Y_ + 1, *args[2:])
    assert err.value.field == "Y"
    wrong = plan.train_idx_.copy()
    wrong[0, 0] = 99
    with pytest.raises(ParameterError) as err:
        fit_predict_linear_svm(X, plan.Y_, wrong, *args[3:])
    assert err.value.field == "train_idx"
    with pytest.raises(ParameterError) as err:
        fit_predict_linear_svm(*args, C=0.0)
    assert err.value.field == "C"
    with pytest.raises(ParameterError) as err:
        fit_predict_linear_svm(*args, max_iter=0)
    assert err.value.field == "max_iter"

"""Batched linear SVM (Numba CPU) against scikit-learn's SVC(kernel="linear"), same splits.

Oracle: for every cell x split slot, StandardScaler fit on the training rows, then
scikit-learn's ``SVC(kernel="linear")`` (libsvm, tol 1e-3, one-vs-one beyond two classes)
fit on the same rows; predictions on the test rows are compared with the kernel's. The
fixed-feature path (one Gram matrix, sub-blocks per slot) is compared with the per-cell
kernel and with SVC on the raw rows.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

from gpudecode.errors import NonFiniteError, ParameterError, ShapeError
from gpudecode.kernels.linear_svm import fit_predict_linear_svm, fit_predict_linear_svm_fixed

from batched_oracle import assert_agrees, batch_args, oracle, plan_for, simulate


def svc(**kw):
    return lambda: SVC(kernel="linear", **kw)


@pytest.mark.parametrize("n_classes, n_trials, n_features", [
    (2, 36, 61),   # the study's shape: fewer trials than features
    (2, 150, 12),  # many trials, few features
    (3, 90, 12),
    (4, 96, 8),
])
def test_matches_svc_linear(n_classes, n_trials, n_features):
    X, y = simulate(4, n_trials, n_features, n_classes, seed=n_trials,
                    strengths=[2.0, 1.0, 0.6])
    plan = plan_for(y)
    ours = fit_predict_linear_svm(*batch_args(X, plan, n_classes))[:, 0]
    assert_agrees(ours, oracle(X, y, plan, svc()), y, plan)


@pytest.mark.parametrize("n_classes, C", [(2, 1.0), (3, 0.3)])
def test_balanced_class_weight_matches_svc(n_classes, C):
    X, y = simulate(4, 90, 10, n_classes, seed=7, strengths=[1.2, 0.8, 0.5], minority=0.2)
    plan = plan_for(y)
    ours = fit_predict_linear_svm(*batch_args(X, plan, n_classes), C=C,
                                  class_weight_balanced=True)[:, 0]
    assert_agrees(ours, oracle(X, y, plan, svc(C=C, class_weight="balanced")), y, plan)
    plain = fit_predict_linear_svm(*batch_args(X, plan, n_classes), C=C)[:, 0]
    assert (plain != ours).any(), "balanced weights must change some predictions"


def real_session_like(n_cells=3, n_trials=120, n_features=53, flip=0.3, seed=0):
    """Window features of a two-photon session: smoothed noise over 53 windows, a weak
    class bump in cell 0, and ``flip`` of the labels drawn at random (not separable)."""
    X, y = simulate(n_cells, n_trials, n_features, 2, seed=seed, strengths=[0.8])
    rng = np.random.default_rng(seed + 1)
    noisy = y.copy()
    flipped = rng.random(n_trials) < flip
    noisy[flipped] = rng.integers(0, 2, flipped.sum())
    return X, noisy


def test_non_separable_real_session_shape_converges_and_matches_svc():
    X, y = real_session_like()
    plan = plan_for(y, n_permutations=1)
    assert plan.n_train_.max() == 90 and X.shape[2] == 53
    # the case liblinear's dual coordinate descent (LinearSVC) does not finish in max_iter.
    # Its coordinate order is random: 199 of seeds 0-199 stop at max_iter, one converges in
    # 990 epochs. Unseeded, about one run in 200 would not warn (one CI run did not), so the
    # seed is fixed.
    tr = plan.train_idx_[0, :plan.n_train_[0]]
    A = StandardScaler().fit_transform(X[0, tr].astype(np.float64))
    with pytest.warns(ConvergenceWarning):
        LinearSVC(loss="hinge", max_iter=1000, random_state=0).fit(A, plan.Y_[1, tr])
    ours = fit_predict_linear_svm(*batch_args(X, plan, 2))
    for lab in (0, 1):  # observed and permuted labels
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)  # SVC converges too
            theirs = oracle(X, plan.Y_[lab], plan, svc())
        assert_agrees(ours[:, lab], theirs, plan.Y_[lab], plan)
    # a converged solver runs far fewer than max_iter SMO steps: a cap of 10000 changes
    # nothing
    np.testing.assert_array_equal(
        fit_predict_linear_svm(*batch_args(X, plan, 2), max_iter=10_000), ours)


def test_other_C_and_no_standardisation():
    X, y = simulate(4, 48, 20, 2, seed=5, strengths=[1.0, 0.5])
    plan = plan_for(y)
    ours = fit_predict_linear_svm(*batch_args(X, plan, 2), C=0.05, standardize=False)[:, 0]
    assert_agrees(ours, oracle(X, y, plan, svc(C=0.05), standardize=False), y, plan)


@pytest.mark.parametrize("n_classes, balanced", [(2, False), (3, True)])
def test_fixed_features_equal_the_per_cell_kernel_and_svc(n_classes, balanced):
    X, y = simulate(1, 60, 15, n_classes, seed=3 + n_classes, strengths=[1.5])
    X = X * 2.0 + 0.5  # raw features, not standardised
    plan = plan_for(y, n_permutations=2)
    args = batch_args(X, plan, n_classes)
    fixed = fit_predict_linear_svm_fixed(X[0], *args[1:], class_weight_balanced=balanced)
    per_cell = fit_predict_linear_svm(*args, standardize=False,
                                      class_weight_balanced=balanced)[0]
    assert fixed.shape == per_cell.shape
    assert (fixed == per_cell).mean() >= 0.99
    kw = {"class_weight": "balanced"} if balanced else {}
    assert_agrees(fixed[None, 0], oracle(X, y, plan, svc(**kw), standardize=False), y, plan)


@pytest.mark.parametrize("n_classes, balanced", [(3, False), (2, False), (2, True), (3, True)])
def test_permuted_label_sets_equal_separate_runs(n_classes, balanced):
    """Label sets of one pair run side by side in SIMD lanes (kernels/lanes.py), taking the
    next label set as one converges; a label set alone runs by itself. Same predictions.
    Twelve label sets: full lanes, refills, a draining tail below MIN_BUSY_LANES."""
    X, y = simulate(3, 40, 30, n_classes, seed=8, strengths=[1.0])
    plan = plan_for(y, n_permutations=11)
    args = batch_args(X, plan, n_classes)
    together = fit_predict_linear_svm(*args, class_weight_balanced=balanced)
    for lab in range(plan.Y_.shape[0]):
        alone = fit_predict_linear_svm(X, plan.Y_[lab:lab + 1], *args[2:],
                                       class_weight_balanced=balanced)
        np.testing.assert_array_equal(together[:, lab], alone[:, 0])


def test_single_class_training_set_predicts_that_class():
    X, y = simulate(2, 20, 5, 2, seed=1, strengths=[1.0])
    Y = np.stack([y, np.ones_like(y), np.zeros_like(y)]).astype(np.int32)
    train = np.array([np.arange(15)], np.int32)
    test = np.array([np.arange(15, 20)], np.int32)
    pred = fit_predict_linear_svm(X, Y, train, np.array([15]), test, np.array([5]), 2)
    assert (pred[:, 1] == 1).all() and (pred[:, 2] == 0).all()


def test_class_missing_from_training_set_fits_the_classes_present():
    X, y = simulate(2, 60, 8, 4, seed=4, strengths=[1.5, 1.0])
    tr = np.flatnonzero(y != 2)[:30].astype(np.int32)
    te = np.arange(60, dtype=np.int32)[~np.isin(np.arange(60), tr)]
    pred = fit_predict_linear_svm(X, y[None], tr[None], np.array([tr.size]), te[None],
                                  np.array([te.size]), 4)
    for c in range(2):
        scaler = StandardScaler().fit(X[c, tr].astype(np.float64))
        ref = SVC(kernel="linear").fit(scaler.transform(X[c, tr].astype(np.float64)), y[tr])
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
        fit_predict_linear_svm_fixed(X, *args[1:])
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
    for key, value in (("C", 0.0), ("tol", -1.0), ("max_iter", 0), ("shrinking", "yes")):
        with pytest.raises(ParameterError) as err:
            fit_predict_linear_svm(*args, **{key: value})
        assert err.value.field == key

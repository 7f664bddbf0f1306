"""Batched linear SVM (Numba CPU) against scikit-learn's LinearSVC(loss="hinge"), same splits.

Oracle: for every cell x split slot, StandardScaler fit on the training rows, then
LinearSVC(loss="hinge") run to convergence (tol 1e-5, max_iter 1e5), so both sides aim at
the same (unique) optimum.
"""

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from gpudecode.errors import NonFiniteError, ParameterError, ShapeError
from gpudecode.kernels.linear_svm import fit_predict_linear_svm, uses_gram

from batched_oracle import assert_agrees, batch_args, oracle, plan_for, simulate


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

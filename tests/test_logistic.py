"""Batched logistic regression (Numba CPU) against scikit-learn's LogisticRegression, same splits.

Oracle: for every cell x split slot, StandardScaler fit on the training rows, then
LogisticRegression(C) (lbfgs, intercept not penalised) run to tol 1e-6; for three
classes OneVsRestClassifier(LogisticRegression(C)).
"""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from gpudecode.errors import NonFiniteError, ParameterError, ShapeError
from gpudecode.kernels.logistic import fit_predict_logistic, uses_gram

from batched_oracle import assert_agrees, batch_args, oracle, plan_for, simulate


def logreg(n_classes=2, **kw):
    def make():
        est = LogisticRegression(tol=1e-6, max_iter=10_000, **kw)
        return OneVsRestClassifier(est) if n_classes > 2 else est
    return make


@pytest.mark.parametrize("n_trials, n_features", [
    (36, 61),    # the study's shape: Newton steps in the span of the trials
    (200, 12),   # (d+1) x (d+1) Hessian
])
def test_binary_matches_logistic_regression(n_trials, n_features):
    X, y = simulate(4, n_trials, n_features, 2, seed=n_trials, strengths=[1.5, 0.8, 0.4])
    plan = plan_for(y)
    ours = fit_predict_logistic(*batch_args(X, plan, 2))[:, 0]
    assert_agrees(ours, oracle(X, y, plan, logreg()), y, plan)


def test_both_newton_forms_are_exercised():
    assert uses_gram(27, 61) and uses_gram(30, 29) and not uses_gram(150, 12)


def test_scikit_learn_defaults_agree_too():
    # LogisticRegression() as the study ran it (tol 1e-4) stops near the same optimum
    X, y = simulate(4, 36, 61, 2, seed=9, strengths=[1.2, 0.6])
    plan = plan_for(y)
    ours = fit_predict_logistic(*batch_args(X, plan, 2))[:, 0]
    assert_agrees(ours, oracle(X, y, plan, LogisticRegression), y, plan)


@pytest.mark.parametrize("n_trials, n_features", [(36, 61), (90, 12)])
def test_three_classes_one_vs_rest(n_trials, n_features):
    X, y = simulate(4, n_trials, n_features, 3, seed=3, strengths=[1.5, 0.8, 0.4])
    plan = plan_for(y)
    ours = fit_predict_logistic(*batch_args(X, plan, 3))[:, 0]
    assert_agrees(ours, oracle(X, y, plan, logreg(3)), y, plan)


@pytest.mark.parametrize("n_classes, n_trials, n_features", [(2, 60, 61), (2, 120, 10),
                                                             (3, 90, 12)])
def test_balanced_class_weights(n_classes, n_trials, n_features):
    X, y = simulate(4, n_trials, n_features, n_classes, seed=11, strengths=[1.2, 0.8, 0.5],
                    minority=0.25)
    plan = plan_for(y)
    ours = fit_predict_logistic(*batch_args(X, plan, n_classes),
                                class_weight_balanced=True)[:, 0]
    assert_agrees(ours, oracle(X, y, plan, logreg(n_classes, class_weight="balanced")), y, plan)
    plain = fit_predict_logistic(*batch_args(X, plan, n_classes))[:, 0]
    assert (plain != ours).any(), "balanced weights must change some predictions"


@pytest.mark.parametrize("C", [0.01, 100.0])
def test_other_C(C):
    # C = 100 with fewer trials than features: nearly separable, large weights
    X, y = simulate(4, 40, 45, 2, seed=5, strengths=[1.0, 0.5])
    plan = plan_for(y)
    ours = fit_predict_logistic(*batch_args(X, plan, 2), C=C)[:, 0]
    assert_agrees(ours, oracle(X, y, plan, logreg(C=C)), y, plan)


def test_no_standardisation():
    X, y = simulate(3, 80, 10, 2, seed=6, strengths=[1.0])
    X = X * 3 + 1
    plan = plan_for(y)
    ours = fit_predict_logistic(*batch_args(X, plan, 2), standardize=False)[:, 0]
    assert_agrees(ours, oracle(X, y, plan, logreg(), standardize=False), y, plan)


def test_permuted_label_sets_equal_separate_runs():
    X, y = simulate(3, 40, 30, 2, seed=8, strengths=[1.0])
    plan = plan_for(y, n_permutations=3)
    args = batch_args(X, plan, 2)
    both = fit_predict_logistic(*args)
    for lab in range(plan.Y_.shape[0]):
        alone = fit_predict_logistic(X, plan.Y_[lab:lab + 1], *args[2:])
        np.testing.assert_array_equal(both[:, lab], alone[:, 0])


def test_single_class_training_set_predicts_that_class():
    X, y = simulate(2, 20, 5, 2, seed=1, strengths=[1.0])
    Y = np.stack([y, np.ones_like(y), np.zeros_like(y)]).astype(np.int32)
    train = np.arange(15, dtype=np.int32)[None]
    test = np.arange(15, 20, dtype=np.int32)[None]
    pred = fit_predict_logistic(X, Y, train, np.array([15]), test, np.array([5]), 2)
    assert (pred[:, 1] == 1).all() and (pred[:, 2] == 0).all()


def test_constant_feature_and_separable_data_stay_finite():
    X, y = simulate(1, 30, 6, 2, seed=2, strengths=[])
    X[0, :, 0] = 2.5                      # constant: scale 1, contributes nothing
    X[0, :, 1] = np.where(y == 1, 4, -4)  # perfectly separating feature
    plan = plan_for(y)
    ours = fit_predict_logistic(*batch_args(X, plan, 2))[:, 0]
    assert_agrees(ours, oracle(X, y, plan, logreg()), y, plan)


def test_bad_input_is_a_clear_error():
    X, y = simulate(2, 20, 5, 2, seed=0, strengths=[1.0])
    plan = plan_for(y, n_shuffles=1)
    args = list(batch_args(X, plan, 2))
    bad = X.copy()
    bad[0, 1, 1] = np.inf
    with pytest.raises(NonFiniteError) as err:
        fit_predict_logistic(bad, *args[1:])
    assert err.value.field == "X"
    with pytest.raises(ShapeError) as err:
        fit_predict_logistic(X, *args[1:3], plan.n_train_[:-1], *args[4:])
    assert err.value.field == "n_train"
    with pytest.raises(ParameterError) as err:
        fit_predict_logistic(*args, tol=-1.0)
    assert err.value.field == "tol"
    with pytest.raises(ParameterError) as err:
        fit_predict_logistic(*args[:-1], 0)
    assert err.value.field == "n_classes"

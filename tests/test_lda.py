"""Batched LDA (Numba CPU) against scikit-learn's LinearDiscriminantAnalysis(solver="lsqr").

Oracle: for every cell x split slot, StandardScaler fit on the training rows, then
LinearDiscriminantAnalysis(solver="lsqr", shrinkage=...) (Ledoit-Wolf for "auto").
"""

import numpy as np
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.preprocessing import StandardScaler

from gpudecode.errors import NonFiniteError, ParameterError
from gpudecode.kernels.lda import fit_predict_lda

from batched_oracle import assert_agrees, batch_args, oracle, plan_for, simulate


def lda(shrinkage, priors=None):
    return lambda: LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage, priors=priors)


@pytest.mark.parametrize("n_classes, n_trials, n_features, shrinkage", [
    (2, 36, 61, "auto"),   # the study's shape: more features than trials
    (3, 36, 61, "auto"),
    (2, 150, 12, "auto"),
    (3, 90, 20, 0.3),
    (2, 60, 40, 0.05),
    (2, 120, 10, None),    # full-rank pooled covariance
    (3, 150, 16, None),
])
def test_matches_lda(n_classes, n_trials, n_features, shrinkage):
    X, y = simulate(5, n_trials, n_features, n_classes, seed=n_trials + n_features,
                    strengths=[1.5, 0.8, 0.4])
    plan = plan_for(y)
    ours = fit_predict_lda(*batch_args(X, plan, n_classes), shrinkage=shrinkage)[:, 0]
    assert_agrees(ours, oracle(X, y, plan, lda(shrinkage)), y, plan)


def test_default_is_ledoit_wolf():
    X, y = simulate(2, 30, 40, 2, seed=1, strengths=[1.0])
    plan = plan_for(y)
    np.testing.assert_array_equal(fit_predict_lda(*batch_args(X, plan, 2)),
                                  fit_predict_lda(*batch_args(X, plan, 2), shrinkage="auto"))


@pytest.mark.parametrize("n_classes, shrinkage", [(2, "auto"), (3, None)])
def test_balanced_means_equal_priors(n_classes, shrinkage):
    X, y = simulate(4, 120, 10, n_classes, seed=11, strengths=[1.0, 0.6, 0.3], minority=0.2)
    plan = plan_for(y)
    ours = fit_predict_lda(*batch_args(X, plan, n_classes), shrinkage=shrinkage,
                           class_weight_balanced=True)[:, 0]
    uniform = np.full(n_classes, 1.0 / n_classes)
    assert_agrees(ours, oracle(X, y, plan, lda(shrinkage, uniform)), y, plan)
    plain = fit_predict_lda(*batch_args(X, plan, n_classes), shrinkage=shrinkage)[:, 0]
    assert (plain != ours).any(), "equal priors must change some predictions"


def test_constant_feature():
    # a constant feature keeps scale 1 (Ledoit-Wolf too) and gives a singular unshrunk
    # covariance, which scikit-learn's lstsq and our pseudo-inverse both handle exactly
    X, y = simulate(3, 90, 8, 2, seed=4, strengths=[1.0, 0.5])
    X[:, :, 3] = 1.5
    plan = plan_for(y)
    for shrinkage in ("auto", None):
        ours = fit_predict_lda(*batch_args(X, plan, 2), shrinkage=shrinkage)[:, 0]
        assert_agrees(ours, oracle(X, y, plan, lda(shrinkage)), y, plan)


def test_unshrunk_with_fewer_trials_than_features_is_the_minimum_norm_solution():
    # The pooled covariance is singular: scikit-learn's lstsq answer is then dominated by
    # round-off, so the oracle is the pseudo-inverse of scikit-learn's own covariance_.
    X, y = simulate(3, 36, 61, 2, seed=7, strengths=[1.2, 0.6])
    plan = plan_for(y)
    ours = fit_predict_lda(*batch_args(X, plan, 2), shrinkage=None)[:, 0]
    ref = np.full_like(ours, -1)
    for c in range(X.shape[0]):
        Xc = X[c].astype(np.float64)
        for s in range(plan.n_slots):
            tr = plan.train_idx_[s, :plan.n_train_[s]]
            te = plan.test_idx_[s, :plan.n_test_[s]]
            scaler = StandardScaler().fit(Xc[tr])
            fit = LinearDiscriminantAnalysis(solver="lsqr").fit(scaler.transform(Xc[tr]), y[tr])
            coef = fit.means_ @ np.linalg.pinv(fit.covariance_, rcond=1e-10, hermitian=True)
            icpt = -0.5 * np.sum(fit.means_ * coef, 1) + np.log(fit.priors_)
            ref[c, s, :te.size] = np.argmax(scaler.transform(Xc[te]) @ coef.T + icpt, 1)
    assert_agrees(ours, ref, y, plan)


def test_permuted_label_sets_equal_separate_runs():
    X, y = simulate(2, 40, 30, 3, seed=8, strengths=[1.0])
    plan = plan_for(y, n_permutations=3)
    args = batch_args(X, plan, 3)
    both = fit_predict_lda(*args)
    for lab in range(plan.Y_.shape[0]):
        alone = fit_predict_lda(X, plan.Y_[lab:lab + 1], *args[2:])
        np.testing.assert_array_equal(both[:, lab], alone[:, 0])


def test_single_class_training_set_predicts_that_class():
    X, y = simulate(2, 20, 5, 2, seed=1, strengths=[1.0])
    Y = np.stack([y, np.ones_like(y), np.zeros_like(y)]).astype(np.int32)
    train = np.arange(15, dtype=np.int32)[None]
    test = np.arange(15, 20, dtype=np.int32)[None]
    pred = fit_predict_lda(X, Y, train, np.array([15]), test, np.array([5]), 2)
    assert (pred[:, 1] == 1).all() and (pred[:, 2] == 0).all()


def test_bad_input_is_a_clear_error():
    X, y = simulate(2, 20, 5, 2, seed=0, strengths=[1.0])
    plan = plan_for(y, n_shuffles=1)
    args = batch_args(X, plan, 2)
    for bad in ("ledoit", 1.5, -0.1, True):
        with pytest.raises(ParameterError) as err:
            fit_predict_lda(*args, shrinkage=bad)
        assert err.value.field == "shrinkage"
    nan = X.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(NonFiniteError):
        fit_predict_lda(nan, *args[1:])
    short = plan.n_test_.copy()
    short[0] = plan.test_idx_.shape[1] + 1
    with pytest.raises(ParameterError) as err:
        fit_predict_lda(*args[:5], short, 2)
    assert err.value.field == "n_test"

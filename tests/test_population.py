"""Population decoding: summed activity and correlation features on one split plan.

Oracles: scikit-learn estimators refit on the plan's own splits; planted co-active ensembles
(gpudecode.simulate) that summed activity cannot see and correlations can; sessions with
nothing planted.
"""

import warnings

import numpy as np
import pytest
from scipy.stats import kstest
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.pipeline import make_pipeline as sk_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from gpudecode import Backend, SplitPlan, TrialSpec, make_epochs, simulate_session
from gpudecode.errors import ParameterError, ShapeError
from gpudecode.features import correlation_features, summed_features
from gpudecode.pairs import discriminative_pairs
from gpudecode.engine import choose_engine
from gpudecode.population import decode_correlations, decode_features, decode_summed

CPU = Backend.from_device("cpu")
ONLY_ENSEMBLE = {"outcome": 0.0, "location": 0.0, "object": 0.0, "ensemble": 0.2}


def _sklearn_test_accuracy(X, plan, make):
    """Mean test accuracy per shuffle with a fresh scikit-learn model per split."""
    acc = []
    for s in plan.test_slots:
        tr = plan.train_idx_[s, :plan.n_train_[s]]
        te = plan.test_idx_[s, :plan.n_test_[s]]
        y = plan.Y_[0]
        acc.append(np.mean(make().fit(X[tr], y[tr]).predict(X[te]) == y[te]))
    return np.array(acc)


@pytest.fixture(scope="module")
def ensemble_session():
    """Only a co-active ensemble separates Correct from Incorrect (same mean rates)."""
    s, truth = simulate_session(seed=1, session_index=6, n_cells=40, n_trials=72,
                                roles=ONLY_ENSEMBLE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = make_epochs(s, TrialSpec(anchors=("Correct", "Incorrect"), pre=0.0, post=1.5))
    plan = SplitPlan(n_shuffles=10, n_folds=3, n_permutations=100, seed=0).fit(ep.labels)
    C = correlation_features(ep, 1, 1, CPU)
    return ep, plan, C, truth


def test_engine_choice():
    assert choose_engine("rbf-svm", 5000, None, standardize=False) == "batched-gram"
    assert choose_engine("rbf-svm", 50, None, standardize=True) == "batched"
    assert choose_engine("logistic", 5000, None, standardize=True) == "pipeline"
    assert choose_engine("logistic", 100, None, standardize=True) == "batched"
    assert choose_engine("linear-svm", 5000, 20, standardize=False) == "batched-select"
    assert choose_engine("random-forest", 10, None, standardize=True) == "batched"
    assert choose_engine("random-forest", 10, 5, standardize=True) == "batched-select"


def test_gram_rbf_svm_equals_svc_refit_per_split(ensemble_session):
    ep, plan, C, _ = ensemble_session
    res = decode_features(C, plan, "rbf-svm", standardize=False, backend=CPU)
    assert res.engines == ["batched-gram"]
    oracle = _sklearn_test_accuracy(C, plan, lambda: SVC(kernel="rbf", gamma="scale"))
    # Same predictions fit for fit: per-shuffle accuracies equal up to one trial in rare ties.
    assert np.abs(res.test_accuracy[0] - oracle).max() <= 1.0 / plan.n_test_.min() + 1e-12
    assert np.mean(np.isclose(res.test_accuracy[0], oracle)) >= 0.9


def test_batched_and_pipeline_engines_match_sklearn(ensemble_session):
    ep, plan, C, _ = ensemble_session
    X = summed_features(ep)
    res = decode_features(X, plan, "linear-svm", standardize=True, backend=CPU)
    assert res.engines == ["batched"]
    oracle = _sklearn_test_accuracy(
        X, plan, lambda: sk_pipeline(StandardScaler(), SVC(kernel="linear")))
    assert np.abs(res.test_accuracy[0] - oracle).max() <= 1.0 / plan.n_test_.min() + 1e-12
    res = decode_features(C, plan, "rbf-svm", select_k=30, standardize=False, backend=CPU)
    assert res.engines == ["batched-select"]
    oracle = _sklearn_test_accuracy(
        C, plan, lambda: sk_pipeline(SelectKBest(f_classif, k=30), SVC(kernel="rbf")))
    assert np.abs(res.test_accuracy[0] - oracle).max() <= 1.0 / plan.n_test_.min() + 1e-12
    assert np.mean(np.isclose(res.test_accuracy[0], oracle)) >= 0.9


def test_ensemble_summed_at_chance_correlations_decode(ensemble_session):
    ep, plan, C, truth = ensemble_session
    summed = decode_summed(ep, plan, "linear-svm,rbf-svm", backend=CPU, metric="balanced")
    assert (summed.p_value > 0.05).all(), summed.p_value
    assert (summed.test_balanced.mean(-1) < 0.62).all()
    corr = decode_correlations(ep, plan, "rbf-svm,linear-svm", features=C, select_k=20,
                               backend=CPU, metric="balanced")
    assert (corr.p_value < 0.01).all(), corr.p_value
    assert (corr.test_balanced.mean(-1) > 0.65).all()
    pairs = discriminative_pairs(C, plan, ep.cell_ids, k=20, top=10)
    members = set(truth["ensemble_cells"].tolist())
    within = [r["cell_i"] in members and r["cell_j"] in members for r in pairs]
    assert np.mean(within) >= 0.8, pairs
    assert pairs[0]["class_high"] == "Correct"    # members fire together after Correct
    assert pairs[0]["selection_frequency"] == 1.0


def test_in_fold_selection_does_not_leak():
    """Selecting pairs on all trials finds noise that 'decodes'; selecting in-fold does not."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2000)).astype(np.float32)
    y = np.repeat(["a", "b"], 20)
    plan = SplitPlan(n_shuffles=10, n_folds=0, n_permutations=0, seed=1).fit(y)
    honest = decode_features(X, plan, "linear-svm", select_k=10, standardize=True, backend=CPU)
    assert abs(honest.test_accuracy.mean() - 0.5) < 0.15
    leaky_cols = SelectKBest(f_classif, k=10).fit(X, plan.Y_[0]).get_support()
    leaky = decode_features(X[:, leaky_cols], plan, "linear-svm", standardize=True, backend=CPU)
    assert leaky.test_accuracy.mean() > 0.75


def test_null_sessions_give_uniform_p_values():
    """Nothing planted: p-values of every model are uniform (discrete, so checked as valid too)."""
    p_summed, p_corr = [], []
    for seed in range(20):
        s, _ = simulate_session(seed=100 + seed, session_index=8, n_cells=16, n_trials=48,
                                null=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ep = make_epochs(s, TrialSpec(anchors=("Correct", "Incorrect"), pre=0.0, post=1.5))
        plan = SplitPlan(n_shuffles=8, n_folds=0, n_permutations=40, seed=seed).fit(ep.labels)
        p_summed.append(decode_summed(ep, plan, "linear-svm", backend=CPU,
                                      metric="balanced").p_value[0])
        C = correlation_features(ep, 1, 1, CPU)
        p_corr.append(decode_correlations(ep, plan, "rbf-svm", features=C, backend=CPU,
                                          class_weight="balanced", metric="balanced").p_value[0])
    for ps in (np.array(p_summed), np.array(p_corr)):
        assert kstest(ps, "uniform").pvalue > 0.01, ps
        for alpha in (0.05, 0.1, 0.25):
            assert np.mean(ps <= alpha) <= alpha + 0.15, ps


def test_bad_inputs(ensemble_session):
    ep, plan, C, _ = ensemble_session
    with pytest.raises(ShapeError, match="features"):
        decode_features(C[:-1], plan, "linear-svm", backend=CPU)
    bad = C.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        decode_features(bad, plan, "linear-svm", backend=CPU)
    with pytest.raises(ParameterError, match="--select-k"):
        decode_features(C, plan, "linear-svm", select_k=0, backend=CPU)
    with pytest.raises(ParameterError, match="--summed-window"):
        summed_features(ep, (5.0, 6.0))


def test_the_seed_reaches_the_batched_forest(ensemble_session):
    """The batched engine gives a randomised kernel the seed the other engines give it."""
    ep, plan, _, _ = ensemble_session
    X = summed_features(ep)
    small = SplitPlan(n_shuffles=4, n_folds=0, n_permutations=5, seed=0).fit(ep.labels)
    params = {"random-forest": {"n_estimators": 5}}
    runs = [decode_features(X, small, "random-forest", backend=CPU, seed=seed, params=params)
            for seed in (1, 1, 2)]
    assert runs[0].engines == ["batched"]
    same = [np.array_equal(runs[0].null_accuracy, r.null_accuracy) and
            np.array_equal(runs[0].test_accuracy, r.test_accuracy) for r in runs[1:]]
    assert same == [True, False]        # same seed: same forests; another seed: other draws

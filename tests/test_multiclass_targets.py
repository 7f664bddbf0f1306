"""Multiclass named targets on a simulated session: the planted location and object cells are
the ones found, untuned cells are not, and chance comes out of the permutation nulls."""

import warnings

import numpy as np
import pytest

from gpudecode.pipeline import DecodeConfig, decode_epochs
from gpudecode.simulate import simulate_session
from gpudecode.targets import resolve_targets
from gpudecode.trials import make_epochs

N_PERMUTATIONS = 499
# The balanced metric is tested against the null: the permuted labels reuse the splits
# stratified for the observed labels, which pulls the plain-accuracy null a little below
# chance (about -0.02 here) but leaves balanced accuracy's null at chance.
CONFIG = DecodeConfig(analyses="single-cell,summed", classifiers="lda",
                      population_classifiers="lda", window_frames=4, step_frames=4, shuffles=5,
                      folds=0,
                      permutations=N_PERMUTATIONS, metric="balanced", seed=0, device="cpu")
ROLE_OF_TARGET = {"location": "location", "object": "object"}


@pytest.fixture(scope="module")
def decoded():
    """Location and object cells planted (6 of 30 each), the rest untuned; 72 trials."""
    session, truth = simulate_session(
        n_cells=30, n_trials=72, session_index=10, seed=0, effect=2.0, reliability=0.9,
        roles={"outcome": 0.0, "location": 0.2, "object": 0.2, "ensemble": 0.0})
    out = {}
    for target in resolve_targets("location,object,trial-type"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ep = make_epochs(session, target.spec)
        out[target.name] = decode_epochs(ep, CONFIG)
    return np.asarray(truth["role"]), out


@pytest.mark.parametrize("target", ["location", "object"])
def test_planted_cells_of_the_target_are_found(decoded, target):
    role, out = decoded
    res = out[target].single_cell
    assert len(res.classes) == 3
    want = role == ROLE_OF_TARGET[target]
    untuned = role == "untuned"
    assert want.sum() == 6 and untuned.sum() == 18
    found = res.significant[0]
    assert found[want].sum() >= 4                       # most planted cells found
    assert found[untuned].sum() <= 1                    # FDR 5%: untuned cells not
    assert found[want].sum() > found[~want].sum()       # most discoveries are the right role
    score = res.test_balanced[0].mean(-1)
    top = np.argsort(-score, kind="stable")[:6]
    assert (role[top] == ROLE_OF_TARGET[target]).sum() >= 4
    assert score[want].mean() > score[untuned].mean() + 0.1
    assert np.median(res.p_value[0, untuned]) > 0.2


def test_trial_type_decodes_above_its_null_from_the_population(decoded):
    _, out = decoded
    outcome = out["trial-type"]
    assert len(outcome.plan.classes_) == 6
    summed = outcome.population[0]
    assert summed.analysis == "summed"
    observed = summed.test_balanced[0].mean()
    null = summed.null_balanced[0]
    assert observed > null.max()
    assert summed.p_value[0] == pytest.approx(1 / (1 + N_PERMUTATIONS))
    for target in ("location", "object"):
        assert out[target].population[0].p_value[0] == pytest.approx(1 / (1 + N_PERMUTATIONS))


@pytest.mark.parametrize("target", ["location", "object", "trial-type"])
def test_chance_comes_out_of_the_permutation_null(decoded, target):
    _, out = decoded
    outcome = out[target]
    plan = outcome.plan
    counts = np.bincount(plan.Y_[0], minlength=plan.n_classes)
    share = counts / counts.sum()
    # A label-blind predictor drawing classes in proportion scores sum(p^2) accuracy and,
    # whatever it does, 1 / n_classes balanced accuracy.
    chance_accuracy = float(np.sum(share ** 2))
    chance_balanced = 1.0 / np.count_nonzero(counts)
    for null_acc, null_bal in ((outcome.single_cell.null_accuracy[0],
                                outcome.single_cell.null_balanced[0]),
                               (outcome.population[0].null_accuracy[0],
                                outcome.population[0].null_balanced[0])):
        assert null_bal.mean() == pytest.approx(chance_balanced, abs=0.012)
        assert null_acc.mean() == pytest.approx(chance_accuracy, abs=0.03)
        assert null_acc.mean() <= share.max() + 0.01

import numpy as np
import pytest

from gpudecode.stats import fdr_bh, permutation_pvalues


def test_pvalue_formula_counts_ties_as_null_wins():
    obs = np.array([0.9, 0.5, 0.7])
    null = np.array([[0.5, 0.6, 0.7, 0.8], [0.5, 0.5, 0.5, 0.5], [0.1, 0.2, 0.3, 0.9]])
    np.testing.assert_allclose(permutation_pvalues(obs, null), [1 / 5, 5 / 5, 2 / 5])


def test_pvalues_uniform_under_the_null():
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(4000, 200))
    p = permutation_pvalues(draws[:, 0], draws[:, 1:])
    hist = np.histogram(p, bins=5, range=(0, 1))[0] / p.size
    np.testing.assert_allclose(hist, 0.2, atol=0.03)


def test_no_permutations_gives_nan():
    assert np.isnan(permutation_pvalues(np.zeros(3), np.zeros((3, 0)))).all()


def test_bh_matches_hand_computation():
    p = np.array([0.01, 0.04, 0.03, 0.20])
    # sorted 0.01, 0.03, 0.04, 0.2 -> 0.04, 0.0533, 0.0533, 0.2
    np.testing.assert_allclose(fdr_bh(p), [0.04, 0.16 / 3, 0.16 / 3, 0.20])
    q = fdr_bh(np.array([[0.01, np.nan, 0.02]]))
    assert np.isnan(q[0, 1]) and q[0, 0] == pytest.approx(0.02)

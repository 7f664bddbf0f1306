"""The model ranking: numbers, max-statistic nulls, q-values and ranks."""

from types import SimpleNamespace

import numpy as np
from scipy.stats import false_discovery_control

from gpudecode.ranking import (MODELS_COLUMNS, model_entry, population_entries, rank_models,
                               single_cell_entries)


def test_model_entry_numbers():
    test = np.array([0.6, 0.8, 0.7, 0.9])
    bal = np.array([0.55, 0.75, 0.65, 0.85])
    cv = np.array([[0.5, 0.7], [0.6, 0.8], [0.7, 0.7], [0.9, 0.7]])
    null = np.linspace(0.4, 0.8, 99)
    row = model_entry("summed", "rbf-svm", test, bal, cv, null, "accuracy")
    assert np.isclose(row["test_accuracy"], 0.75)
    assert np.isclose(row["test_std"], np.std(test, ddof=1))
    assert np.isclose(row["balanced_accuracy"], 0.7)
    assert np.isclose(row["cv_accuracy"], cv.mean())
    assert np.isclose(row["cv_std"], np.std(cv.mean(1), ddof=1))
    assert np.isclose(row["p_value"], (1 + np.sum(null >= 0.75)) / 100)
    assert np.isclose(row["null_p95"], np.percentile(null, 95))
    balanced = model_entry("summed", "rbf-svm", test, bal, cv, null, "balanced")
    assert np.isclose(balanced["p_value"], (1 + np.sum(null >= 0.7)) / 100)


def test_best_cell_is_tested_against_the_best_cell_of_each_permutation():
    rng = np.random.default_rng(0)
    n_cells, S, P = 50, 10, 200
    null = rng.normal(0.5, 0.05, size=(1, n_cells, P))
    test = np.full((1, n_cells, S), 0.5)
    test[0, 7] = 0.62                      # far above one cell's null, not above the max null
    res = SimpleNamespace(classifiers=["tree"], cell_ids=np.array([f"C{i}" for i in range(n_cells)]),
                          test_accuracy=test, test_balanced=test,
                          cv_accuracy=np.full((1, n_cells, S, 2), 0.5), null_accuracy=null,
                          null_balanced=null)
    (row,) = single_cell_entries(res)
    assert row["unit"] == "cell C7"          # named by its id, not its index
    naive = (1 + np.sum(null[0, 7] >= 0.62)) / (1 + P)
    corrected = (1 + np.sum(null[0].max(0) >= 0.62)) / (1 + P)
    assert naive < 0.05 < corrected
    assert np.isclose(row["p_value"], corrected)


def test_rank_models_orders_by_score_and_adds_q():
    res = SimpleNamespace(analysis="correlation", classifiers=["a", "b", "c"],
                          test_accuracy=np.array([[0.6] * 4, [0.9] * 4, [0.7] * 4]),
                          test_balanced=np.array([[0.6] * 4, [0.9] * 4, [0.7] * 4]),
                          cv_accuracy=np.full((3, 4, 2), np.nan),
                          null_accuracy=np.tile(np.linspace(0.3, 0.75, 19), (3, 1)),
                          null_balanced=np.tile(np.linspace(0.3, 0.75, 19), (3, 1)))
    rows = rank_models(population_entries(res), alpha=0.05)
    assert [r["classifier"] for r in rows] == ["b", "c", "a"]
    assert [r["rank"] for r in rows] == [1, 2, 3]
    p = np.array([r["p_value"] for r in rows])
    np.testing.assert_allclose([r["q_value"] for r in rows], false_discovery_control(p))
    assert [r["significant"] for r in rows] == [bool(q < 0.05) for q in
                                                false_discovery_control(p)]
    assert np.isnan(rows[0]["cv_accuracy"])
    assert set(MODELS_COLUMNS) <= set(rows[0])

"""The model ranking: one row per analysis x classifier, all on the same splits.

Every model was scored on the same shuffles, so the comparison is paired. A model's p-value
comes from its own permutation null; where an analysis reports the best of many units (the best
single cell, the best time window), the null is the best unit of each permuted label set (a
max-statistic null), so picking the best does not inflate its significance. q-values are
Benjamini-Hochberg across all rows; ``significant`` marks ``q < alpha``.
"""

from __future__ import annotations

import numpy as np

from .engine import tested
from .stats import fdr_bh, permutation_pvalues

__all__ = ["MODELS_COLUMNS", "model_entry", "single_cell_entries", "population_entries",
           "timecourse_entries", "rank_models"]

MODELS_COLUMNS = ("rank", "analysis", "classifier", "test_accuracy", "test_std",
                  "balanced_accuracy", "cv_accuracy", "cv_std", "p_value", "q_value",
                  "significant", "null_mean", "null_p95", "unit", "balanced_std", "metric")


def _nanmean(a) -> float:
    a = np.asarray(a, dtype=np.float64)
    return float(np.nanmean(a)) if a.size and np.isfinite(a).any() else float("nan")


def model_entry(analysis: str, classifier: str, test_accuracy, test_balanced, cv_accuracy,
                null, metric: str, unit: str = "") -> dict:
    """One models.csv row (without rank and q) from per-shuffle scores.

    Parameters
    ----------
    test_accuracy, test_balanced : ndarray, shape (n_shuffles,)
    cv_accuracy : ndarray, shape (n_shuffles, n_folds)
    null : ndarray, shape (n_permutations,)
        Null distribution of the chosen metric's mean over shuffles (``null_mean`` and
        ``null_p95`` describe it, so they compare with ``balanced_accuracy`` when
        ``metric="balanced"`` and with ``test_accuracy`` otherwise).
    metric : {"accuracy", "balanced"}
    """
    test_accuracy = np.asarray(test_accuracy, dtype=np.float64)
    test_balanced = np.asarray(test_balanced, dtype=np.float64)
    cv = np.asarray(cv_accuracy, dtype=np.float64)
    null = np.asarray(null, dtype=np.float64)
    observed = (test_balanced if metric == "balanced" else test_accuracy).mean()
    cv_per_shuffle = np.nanmean(cv, axis=-1) if cv.size and np.isfinite(cv).any() else cv[:, :0]
    return {
        "analysis": analysis, "classifier": classifier,
        "test_accuracy": float(test_accuracy.mean()),
        "test_std": float(test_accuracy.std(ddof=1)) if test_accuracy.size > 1 else 0.0,
        "balanced_accuracy": float(test_balanced.mean()),
        "balanced_std": float(test_balanced.std(ddof=1)) if test_balanced.size > 1 else 0.0,
        "metric": metric,
        "cv_accuracy": _nanmean(cv),
        "cv_std": float(np.std(cv_per_shuffle, ddof=1)) if cv_per_shuffle.size > 1 else float("nan"),
        "p_value": float(permutation_pvalues(np.array(observed), null)),
        "null_mean": float(null.mean()) if null.size else float("nan"),
        "null_p95": float(np.percentile(null, 95)) if null.size else float("nan"),
        "unit": unit, "_score": float(observed),
    }


def _best_unit_entries(analysis: str, results, metric: str, unit_name) -> list[dict]:
    """Per classifier, the best unit (cell, window) by the metric's mean over shuffles, tested
    against the best unit of each permuted label set (a max-statistic null).

    ``results`` has test_accuracy / test_balanced (classifiers, units, shuffles), cv_accuracy
    (classifiers, units, shuffles, folds) and null_accuracy / null_balanced (classifiers,
    units, permutations); ``unit_name(index)`` labels the chosen unit.
    """
    observed, null_all = tested(results, metric)
    rows = []
    for k, clf in enumerate(results.classifiers):
        best = int(np.argmax(observed[k].mean(-1)))
        null = null_all[k].max(axis=0) if null_all.shape[-1] else np.empty(0)
        rows.append(model_entry(analysis, clf, results.test_accuracy[k, best],
                                results.test_balanced[k, best], results.cv_accuracy[k, best],
                                null, metric, unit=unit_name(best)))
    return rows


def single_cell_entries(results, metric: str = "accuracy") -> list[dict]:
    """The best single cell per classifier, tested against the best cell of each permutation.

    ``unit`` names the cell by its id (``cell C007``), as cells.csv's ``cell_id`` does.
    """
    return _best_unit_entries("single-cell", results, metric,
                              lambda c: f"cell {results.cell_ids[c]}")


def population_entries(results, metric: str = "accuracy") -> list[dict]:
    """One row per classifier of a :class:`gpudecode.population.PopulationResults`."""
    null_all = tested(results, metric)[1]
    return [model_entry(results.analysis, clf, results.test_accuracy[k], results.test_balanced[k],
                        results.cv_accuracy[k], null_all[k], metric)
            for k, clf in enumerate(results.classifiers)]


def timecourse_entries(results, metric: str = "accuracy") -> list[dict]:
    """The best time window per classifier, tested against the best window of each permutation."""
    return _best_unit_entries("time-resolved", results, metric,
                              lambda w: f"window at {results.times[w]:+.3f} s")


def rank_models(entries: list[dict], alpha: float = 0.05) -> list[dict]:
    """Add ``q_value``, ``significant`` and ``rank`` (1 = best by the metric; ties: lower p).

    Returns
    -------
    list of dict
        The rows sorted by rank, with the :data:`MODELS_COLUMNS` keys.
    """
    if not entries:
        return []
    p = np.array([e["p_value"] for e in entries], dtype=np.float64)
    q = fdr_bh(p)
    order = sorted(range(len(entries)), key=lambda i: (
        -entries[i]["_score"], p[i] if np.isfinite(p[i]) else 2.0))
    rows = []
    for rank, i in enumerate(order, start=1):
        row = {key: value for key, value in entries[i].items() if not key.startswith("_")}
        row.update(rank=rank, q_value=float(q[i]),
                   significant=bool(np.isfinite(q[i]) and q[i] < alpha))
        rows.append(row)
    return rows

"""Which cell pairs carry the decision: the "connectome" of the correlation features.

A pair's evidence is measured inside the split plan, on training trials only: for every
shuffle, the ANOVA F score of each pair's per-trial correlation is computed on that shuffle's
training trials and the top ``k`` pairs are marked as selected (exactly what ``--select-k``
does inside the decoders). A pair that carries the decision is selected in most shuffles; a
pair that looked good in one split by chance is not. Pairs are ranked by how often they were
selected, then by their mean F score.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.feature_selection import f_classif

from .correlations import pair_index
from .errors import ShapeError
from .sklearn_warnings import summarize_constant_features
from .splits import SplitPlan

__all__ = ["PAIRS_COLUMNS", "discriminative_pairs", "mean_correlation_by_class",
           "correlation_order"]

PAIRS_COLUMNS = ("rank", "cell_i", "cell_j", "cell_id_i", "cell_id_j", "selection_frequency",
                 "mean_f_score", "corr_difference", "class_high")


def _n_cells_of(n_p: int) -> int:
    n = int(round((1 + np.sqrt(1 + 8 * n_p)) / 2))
    if n * (n - 1) // 2 != n_p:
        raise ShapeError(f"{n_p} columns is not the number of pairs of any cell count",
                         field="features", fix="pass the output of correlation_features")
    return n


def discriminative_pairs(features: np.ndarray, plan: SplitPlan, cell_ids=None, *,
                         k: int | None = None, top: int = 100) -> list[dict]:
    """Rank cell pairs by how consistently they separate the classes across splits.

    Parameters
    ----------
    features : ndarray, shape (n_trials, n_pairs)
        Per-trial correlations (:func:`gpudecode.features.correlation_features`).
    plan : SplitPlan
        Fitted plan; its observed labels and its shuffles' training parts are used.
    cell_ids : array_like of str, shape (n_cells,), optional
    k : int, optional
        Pairs selected per shuffle (default ``min(100, n_pairs)``; pass the decoders'
        ``--select-k`` to describe exactly what they used).
    top : int
        Rows returned.

    Returns
    -------
    list of dict
        :data:`PAIRS_COLUMNS`, best first. ``corr_difference`` is the largest minus the
        smallest class mean of the pair's correlation over all trials, ``class_high`` the
        class whose trials correlate that pair most.
    """
    X = np.asarray(features, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != plan.Y_.shape[1]:
        raise ShapeError(f"features of shape {X.shape} do not match the plan's "
                         f"{plan.Y_.shape[1]} trials", field="features",
                         fix="pass trials x pairs features of the trials the plan was fit on")
    n_p = X.shape[1]
    n_cells = _n_cells_of(n_p)
    ids = np.asarray(cell_ids if cell_ids is not None else np.arange(n_cells)).astype(str)
    k = int(min(k or 100, n_p))
    y = plan.Y_[0]
    chosen = np.zeros(n_p)
    f_sum = np.zeros(n_p)
    with warnings.catch_warnings(), \
            summarize_constant_features("cell pairs", "the pair F-test (f_classif)", n_p):
        warnings.simplefilter("ignore", RuntimeWarning)  # constant pairs give F = nan
        for s in plan.test_slots:
            tr = plan.train_idx_[s, :plan.n_train_[s]]
            f = np.nan_to_num(f_classif(X[tr], y[tr])[0], nan=0.0, posinf=0.0)
            chosen[np.argpartition(-f, k - 1)[:k]] += 1
            f_sum += f
    S = len(plan.test_slots)
    freq, mean_f = chosen / S, f_sum / S
    means = np.stack([X[y == c].mean(0) for c in range(plan.n_classes)])
    order = np.lexsort((-mean_f, -freq))[:top]
    ii, jj = pair_index(n_cells)
    rows = []
    for rank, p in enumerate(order, start=1):
        rows.append({"rank": rank, "cell_i": int(ii[p]), "cell_j": int(jj[p]),
                     "cell_id_i": ids[ii[p]], "cell_id_j": ids[jj[p]],
                     "selection_frequency": float(freq[p]), "mean_f_score": float(mean_f[p]),
                     "corr_difference": float(means[:, p].max() - means[:, p].min()),
                     "class_high": str(plan.classes_[int(means[:, p].argmax())])})
    return rows


def mean_correlation_by_class(features: np.ndarray, codes: np.ndarray,
                              n_classes: int) -> np.ndarray:
    """Mean per-trial correlation matrix of each class.

    Parameters
    ----------
    features : ndarray, shape (n_trials, n_pairs)
    codes : ndarray of int, shape (n_trials,)
        Class code of each trial.

    Returns
    -------
    ndarray of float32, shape (n_classes, n_cells, n_cells)
        Symmetric, ones on the diagonal.
    """
    n_cells = _n_cells_of(features.shape[1])
    ii, jj = pair_index(n_cells)
    out = np.zeros((n_classes, n_cells, n_cells), dtype=np.float32)
    for c in range(n_classes):
        m = features[codes == c].mean(0) if (codes == c).any() else 0.0
        out[c, ii, jj] = m
        out[c, jj, ii] = m
        out[c, np.arange(n_cells), np.arange(n_cells)] = 1.0
    return out


def correlation_order(matrix: np.ndarray) -> np.ndarray:
    """Leaf order of an average-linkage clustering on ``1 - correlation`` (cells x cells)."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform
    n = matrix.shape[0]
    if n < 3:
        return np.arange(n)
    d = np.clip(1.0 - np.asarray(matrix, dtype=np.float64), 0.0, 2.0)
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0.0)
    return leaves_list(linkage(squareform(d, checks=False), method="average")).astype(np.int64)

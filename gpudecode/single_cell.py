"""Single-cell decoding: every cell x split x fold x permutation, solved in batches.

Each cell is one unit of :func:`gpudecode.engine.solve_batched`; its features are the
sliding-window means of its trace (:func:`gpudecode.features.window_features`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .backend import Backend
from .classifiers import Classifier, parse_classifiers
from .engine import solve_batched
from .features import window_features
from .results import DecodingResults
from .splits import SplitPlan, check_scoring, fitted_plan
from .stats import fdr_bh
from .trials import Epochs

__all__ = ["SingleCellResults", "decode_cells"]


@dataclass(kw_only=True)
class SingleCellResults(DecodingResults):
    """Per-cell decoding results for every classifier (fields of
    :class:`gpudecode.results.DecodingResults`, with a cell axis).

    Attributes
    ----------
    cell_ids : ndarray of str, shape (n_cells,)
    test_accuracy, test_balanced : ndarray, shape (n_classifiers, n_cells, n_shuffles)
        Observed-label accuracy on each shuffle's test part.
    cv_accuracy : ndarray, shape (n_classifiers, n_cells, n_shuffles, n_folds)
        Accuracy of each inner CV fold.
    null_accuracy, null_balanced : ndarray, shape (n_classifiers, n_cells, n_permutations)
        Mean test accuracy over shuffles for each permuted label set.
    p_value, q_value : ndarray, shape (n_classifiers, n_cells)
        Permutation p-value of the chosen metric; Benjamini-Hochberg q across cells.
    n_above_threshold : ndarray of int, shape (n_classifiers, n_cells)
        Shuffles whose test accuracy exceeded ``threshold`` (the study's table).
    """

    cell_ids: np.ndarray
    q_value: np.ndarray
    n_above_threshold: np.ndarray

    @property
    def significant(self) -> np.ndarray:
        """q < alpha, shape (n_classifiers, n_cells); all False without permutations."""
        q = self.q_value
        return np.where(np.isfinite(q), q, 1.0) < self.params.get("alpha", 0.05)

    def rows(self) -> list[dict]:
        """One row per cell x classifier, the ``cells.csv`` contract."""
        test = self.test_accuracy.mean(-1)
        balanced = self.test_balanced.mean(-1)
        if self.cv_accuracy.shape[-1]:
            cv = np.nanmean(self.cv_accuracy, axis=(2, 3))
        else:
            cv = np.full(test.shape, np.nan)
        significant = self.significant
        return [{"cell": c, "cell_id": cid, "classifier": clf,
                 "test_accuracy": float(test[k, c]),
                 "balanced_accuracy": float(balanced[k, c]),
                 "cv_accuracy": float(cv[k, c]),
                 "n_above_threshold": int(self.n_above_threshold[k, c]),
                 "p_value": float(self.p_value[k, c]),
                 "q_value": float(self.q_value[k, c]),
                 "significant": bool(significant[k, c])}
                for k, clf in enumerate(self.classifiers)
                for c, cid in enumerate(self.cell_ids)]

    def top_cells(self, classifier: str, n: int = 10) -> list[dict]:
        """The ``n`` best cells of one classifier by mean test accuracy (ties: lower p)."""
        rows = [r for r in self.rows() if r["classifier"] == classifier]
        return sorted(rows, key=lambda r: (-r["test_accuracy"],
                                           r["p_value"] if np.isfinite(r["p_value"]) else 2))[:n]


def decode_cells(epochs: Epochs, plan: SplitPlan | None = None, *,
                 classifiers="linear-svm,logistic,tree", window_frames: int = 4,
                 step_frames: int = 1, backend: Backend | None = None,
                 class_weight: str | None = None,
                 standardize: bool = True, metric: str = "accuracy", threshold: float = 0.8,
                 alpha: float = 0.05, params: dict | None = None,
                 memory_fraction: float = 0.25, max_chunk_bytes: int | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 keep: dict | None = None) -> SingleCellResults:
    """Decode the trial label from every single cell, with a permutation null per cell.

    Each cell's features are its sliding-window means (``window_frames`` wide, every
    ``step_frames``) over the trial; for each classifier, every cell x label set x slot of
    ``plan`` is one small problem, solved in batches sized to the available memory.

    Parameters
    ----------
    epochs : Epochs
        Trials x cells x frames with labels.
    plan : SplitPlan, optional
        Shuffles, folds and permutations; fit on ``epochs.labels`` here when not yet fit.
        Defaults to ``SplitPlan()`` (50 shuffles, 0.25 test, 5 folds, no permutations).
    classifiers : str or list of str
        Names from :data:`gpudecode.classifiers.BATCHED_CLASSIFIERS`.
    window_frames, step_frames : int
        Sliding-window width and step, in frames.
    backend : Backend, optional
        CPU or GPU; ``Backend.from_device("auto")`` when omitted.
    class_weight : {None, "balanced"}
    standardize : bool
        Standardise features with training-trial statistics of each problem.
    metric : {"accuracy", "balanced"}
        The statistic tested against the permutation null (its mean over shuffles).
    threshold : float
        Accuracy a shuffle must exceed to count in ``n_above_threshold``.
    alpha : float
        FDR level for the ``significant`` flag.
    params : dict, optional
        Hyper-parameters per classifier name, e.g. ``{"tree": {"max_depth": 5}}``.
    memory_fraction : float
        Fraction of free memory (host RAM, or device memory on GPU) one chunk may use.
    max_chunk_bytes : int, optional
        Hard cap on a chunk's memory (tests use it to force many chunks).
    progress : callable(done, total), optional
        Called after every chunk with the problems solved so far and in all.
    keep : dict, optional
        Classifier names whose predictions another analysis reuses; each is set to its
        :class:`~gpudecode.engine.KeptPredictions` (see :func:`gpudecode.engine.solve_batched`).

    Returns
    -------
    SingleCellResults
    """
    check_scoring(metric, class_weight)
    clfs: list[Classifier] = parse_classifiers(classifiers)
    backend = backend or Backend.from_device("auto")
    plan = fitted_plan(plan, epochs.labels)
    t0 = time.perf_counter()
    X = window_features(epochs, window_frames, step_frames, backend)
    n_cells, _, n_feat = X.shape
    L, S, k = plan.Y_.shape[0], plan.n_shuffles, plan.n_folds
    timing = {"features_s": time.perf_counter() - t0}
    extra = params or {}
    scores = solve_batched(X, plan, clfs, backend=backend, class_weight=class_weight,
                           standardize=standardize, params=extra,
                           memory_fraction=memory_fraction, max_chunk_bytes=max_chunk_bytes,
                           progress=progress, timing=timing, keep=keep)
    for kept in (keep or {}).values():
        if kept is not None:
            kept.features = {"window_frames": window_frames, "step_frames": step_frames}
    p = scores.p_values(metric)
    run_params = {
        "classifiers": [c.name for c in clfs],
        "classifier_params": {c.name: {**c.params, **extra.get(c.name, {})} for c in clfs},
        "window": window_frames, "step": step_frames, "n_shuffles": S,
        "test_size": plan.test_size, "n_folds": k, "n_permutations": L - 1, "seed": plan.seed,
        "class_weight": class_weight, "standardize": standardize, "metric": metric,
        "threshold": threshold, "alpha": alpha, "n_features": int(n_feat),
    }
    timing["total_s"] = time.perf_counter() - t0
    timing["n_problems"] = int(len(clfs) * n_cells * (plan.n_slots + (L - 1) * S))
    return SingleCellResults(
        **scores.arrays(), classifiers=[c.name for c in clfs],
        cell_ids=np.asarray(epochs.cell_ids), classes=plan.classes_, p_value=p,
        q_value=fdr_bh(p), n_above_threshold=(scores.test_accuracy > threshold).sum(-1),
        params=run_params, timing=timing)

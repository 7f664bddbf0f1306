"""Single-cell decoding: every cell x split x fold x permutation, solved in batches."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .backend import Backend
from .classifiers import BatchedClassifier, parse_classifiers
from .splits import SplitPlan, check_scoring, fitted_plan, score_predictions
from .stats import fdr_bh, permutation_pvalues
from .trials import Epochs

__all__ = ["SingleCellResults", "decode_cells", "run_batched", "window_features", "plan_chunks",
           "max_chunk_problems"]

# Problems per kernel call: a chunk takes well under a second on a laptop CPU (tens of
# thousands of tiny fits per second), so progress is reported, and Ctrl-C honoured, that often.
MAX_CHUNK_PROBLEMS_CPU = 1 << 14
MAX_CHUNK_PROBLEMS_GPU = 1 << 21


def max_chunk_problems(backend: Backend) -> int:
    """Most problems one kernel call solves on ``backend`` (bounds a chunk's duration)."""
    return MAX_CHUNK_PROBLEMS_GPU if backend.is_gpu else MAX_CHUNK_PROBLEMS_CPU


def window_features(epochs: Epochs, window: int, step: int, backend: Backend) -> np.ndarray:
    """Per-cell features: the sliding-window mean of each trial's time series.

    Returns
    -------
    ndarray of float32, shape (n_cells, n_trials, n_windows)
        Cells x trials x windows, the layout the batched kernels take.
    """
    windowed = backend.to_host(backend.sliding_mean(epochs.data, window, step))
    return np.ascontiguousarray(windowed.transpose(1, 0, 2), dtype=np.float32)


def _bytes_per_problem(max_train: int, max_test: int, n_features: int) -> int:
    """Generous estimate of one problem's memory: predictions, gathered rows, a Gram block."""
    rows = max_train + max_test
    return 4 * (2 * max_test + rows * (n_features + 4) + max_train * max_train) + 256


def plan_chunks(n_cells: int, n_labelsets: int, n_slots: int, per_problem: int,
                budget_bytes: int, max_problems: int | None = None) -> tuple[int, int]:
    """Chunk sizes (cells, label sets) so one chunk's problems fit in ``budget_bytes``
    (and number at most ``max_problems``).

    Label sets are chunked first (all cells of a label set together share the most
    structure); cells are cut only when one label set for all cells is too large.
    """
    max_problems = max(1, min(budget_bytes // max(1, per_problem),
                              max_problems if max_problems is not None else np.inf))
    per_labelset = n_cells * n_slots
    if per_labelset <= max_problems:
        return n_cells, int(max(1, min(n_labelsets, max_problems // per_labelset)))
    return int(max(1, max_problems // n_slots)), 1


def _is_out_of_memory(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "outofmemory" in text or "out_of_memory" in text or "out of memory" in text


@dataclass
class SingleCellResults:
    """Per-cell decoding results for every classifier.

    Attributes
    ----------
    classifiers : list of str
    cell_ids : ndarray of str, shape (n_cells,)
    classes : ndarray, shape (n_classes,)
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
    params : dict
        Everything needed to rerun.
    """

    classifiers: list[str]
    cell_ids: np.ndarray
    classes: np.ndarray
    test_accuracy: np.ndarray
    test_balanced: np.ndarray
    cv_accuracy: np.ndarray
    null_accuracy: np.ndarray
    null_balanced: np.ndarray
    p_value: np.ndarray
    q_value: np.ndarray
    n_above_threshold: np.ndarray
    params: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)

    @property
    def significant(self) -> np.ndarray:
        """q < alpha, shape (n_classifiers, n_cells); all False without permutations."""
        q = self.q_value
        return np.where(np.isfinite(q), q, 1.0) < self.params.get("alpha", 0.05)

    def rows(self) -> list[dict]:
        """One row per cell x classifier, the ``cells.csv`` contract."""
        rows = []
        for k, clf in enumerate(self.classifiers):
            for c, cid in enumerate(self.cell_ids):
                rows.append({
                    "cell": c, "cell_id": cid, "classifier": clf,
                    "test_accuracy": float(self.test_accuracy[k, c].mean()),
                    "balanced_accuracy": float(self.test_balanced[k, c].mean()),
                    "cv_accuracy": float(np.nanmean(self.cv_accuracy[k, c]))
                    if self.cv_accuracy.shape[-1] else float("nan"),
                    "n_above_threshold": int(self.n_above_threshold[k, c]),
                    "p_value": float(self.p_value[k, c]),
                    "q_value": float(self.q_value[k, c]),
                    "significant": bool(self.significant[k, c]),
                })
        return rows

    def top_cells(self, classifier: str, n: int = 10) -> list[dict]:
        """The ``n`` best cells of one classifier by mean test accuracy (ties: lower p)."""
        rows = [r for r in self.rows() if r["classifier"] == classifier]
        return sorted(rows, key=lambda r: (-r["test_accuracy"],
                                           r["p_value"] if np.isfinite(r["p_value"]) else 2))[:n]


def run_batched(X: np.ndarray, plan: SplitPlan, clfs: list[BatchedClassifier], *,
                backend: Backend, class_weight: str | None = None, standardize: bool = True,
                params: dict | None = None, memory_fraction: float = 0.25,
                max_chunk_bytes: int | None = None,
                progress: Callable[[int, int], None] | None = None,
                timing: dict | None = None) -> dict[str, np.ndarray]:
    """Solve every unit x label set x slot problem of ``plan`` with the batched kernels.

    The observed labels run on every slot (test splits and CV folds); the null statistic is
    the mean test accuracy over shuffles, so permuted labels run on test slots only.
    Problems are solved in chunks that fit ``memory_fraction`` of the free memory and number
    at most :func:`max_chunk_problems`; ``progress(done, total)`` counts solved problems.

    Parameters
    ----------
    X : ndarray of float32, shape (n_units, n_trials, n_features)
        One independent feature matrix per unit (a cell; a time window; a population).
    plan : SplitPlan
        Fitted on the trial labels.
    clfs : list of BatchedClassifier

    Returns
    -------
    dict of ndarray
        ``test_accuracy``, ``test_balanced`` (n_classifiers, n_units, n_shuffles);
        ``cv_accuracy`` (n_classifiers, n_units, n_shuffles, n_folds);
        ``null_accuracy``, ``null_balanced`` (n_classifiers, n_units, n_permutations):
        mean test accuracy over shuffles for each permuted label set.
    """
    timing = timing if timing is not None else {}
    n_cells, _, n_feat = X.shape
    L, S, k = plan.Y_.shape[0], plan.n_shuffles, plan.n_folds
    test_slots, cv_slots = plan.test_slots, plan.cv_slots if k else np.zeros((S, 0), int)
    per_problem = _bytes_per_problem(plan.train_idx_.shape[1], plan.test_idx_.shape[1], n_feat)
    budget = int(memory_fraction * backend.free_memory_bytes())
    if max_chunk_bytes is not None:
        budget = min(budget, int(max_chunk_bytes))
    n_clf = len(clfs)
    test_acc = np.empty((n_clf, n_cells, S))
    test_bal = np.empty((n_clf, n_cells, S))
    cv_acc = np.empty((n_clf, n_cells, S, k))
    null_acc = np.empty((n_clf, n_cells, L - 1))
    null_bal = np.empty((n_clf, n_cells, L - 1))
    extra = params or {}
    jobs = [(0, 1, np.arange(plan.n_slots))]
    if L > 1:
        jobs.append((1, L, test_slots))
    chunking = {}
    for l0, l1, slots in jobs:
        chunking[l0] = list(plan_chunks(n_cells, l1 - l0, len(slots), per_problem, budget,
                                        max_chunk_problems(backend)))
    total = n_clf * n_cells * sum((l1 - l0) * len(slots) for l0, l1, slots in jobs)
    done = 0
    for ki, clf in enumerate(clfs):
        t1 = time.perf_counter()
        kernel = clf.kernel(gpu=backend.is_gpu)
        kw = {**clf.params, **extra.get(clf.name, {})}
        for j0, j1, slots in jobs:
            tr, ntr = plan.train_idx_[slots], plan.n_train_[slots]
            te, nte = plan.test_idx_[slots], plan.n_test_[slots]
            la = j0
            while la < j1:
                cell_chunk, label_chunk = chunking[j0]
                lb = min(j1, la + label_chunk)
                c0 = 0
                while c0 < n_cells:
                    c1 = min(n_cells, c0 + cell_chunk)
                    try:
                        pred = kernel(X[c0:c1], plan.Y_[la:lb], tr, ntr, te, nte, plan.n_classes,
                                      standardize=standardize,
                                      class_weight_balanced=class_weight == "balanced", **kw)
                    except Exception as exc:
                        if not (backend.is_gpu and _is_out_of_memory(exc)) or \
                                (cell_chunk == 1 and label_chunk == 1):
                            raise
                        # Out of device memory: halve the chunk and retry it.
                        if label_chunk > 1:
                            label_chunk = max(1, label_chunk // 2)
                            lb = min(j1, la + label_chunk)
                        else:
                            cell_chunk = max(1, cell_chunk // 2)
                        chunking[j0] = [cell_chunk, label_chunk]
                        continue
                    acc, bal = score_predictions(backend.to_host(pred), plan.Y_[la:lb], te,
                                                 plan.n_classes)
                    if j0 == 0:
                        test_acc[ki, c0:c1] = acc[:, 0, test_slots]
                        test_bal[ki, c0:c1] = bal[:, 0, test_slots]
                        cv_acc[ki, c0:c1] = acc[:, 0, cv_slots]
                    else:
                        null_acc[ki, c0:c1, la - 1:lb - 1] = acc.mean(-1)
                        null_bal[ki, c0:c1, la - 1:lb - 1] = bal.mean(-1)
                    done += (c1 - c0) * (lb - la) * len(slots)
                    if progress is not None:
                        progress(done, total)
                    c0 = c1
                la = lb
        timing[f"{clf.name}_s"] = time.perf_counter() - t1
    return {"test_accuracy": test_acc, "test_balanced": test_bal, "cv_accuracy": cv_acc,
            "null_accuracy": null_acc, "null_balanced": null_bal}


def decode_cells(epochs: Epochs, plan: SplitPlan | None = None, *,
                 classifiers="linear-svm,logistic,tree", window: int = 4, step: int = 1,
                 backend: Backend | None = None, class_weight: str | None = None,
                 standardize: bool = True, metric: str = "accuracy", threshold: float = 0.8,
                 alpha: float = 0.05, params: dict | None = None,
                 memory_fraction: float = 0.25, max_chunk_bytes: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> SingleCellResults:
    """Decode the trial label from every single cell, with a permutation null per cell.

    Each cell's features are its sliding-window means (``window`` frames, every ``step``
    frames) over the trial; for each classifier, every cell x label set x slot of ``plan``
    is one small problem, solved in batches sized to the available memory.

    Parameters
    ----------
    epochs : Epochs
        Trials x cells x frames with labels.
    plan : SplitPlan, optional
        Shuffles, folds and permutations; fit on ``epochs.labels`` here when not yet fit.
        Defaults to ``SplitPlan()`` (50 shuffles, 0.25 test, 5 folds, no permutations).
    classifiers : str or list of str
        Names from :data:`gpudecode.classifiers.BATCHED_CLASSIFIERS`.
    window, step : int
        Sliding-window width and step in frames.
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

    Returns
    -------
    SingleCellResults
    """
    check_scoring(metric, class_weight)
    clfs: list[BatchedClassifier] = parse_classifiers(classifiers)
    backend = backend or Backend.from_device("auto")
    plan = fitted_plan(plan, epochs.labels)
    t0 = time.perf_counter()
    X = window_features(epochs, window, step, backend)
    n_cells, _, n_feat = X.shape
    L, S, k = plan.Y_.shape[0], plan.n_shuffles, plan.n_folds
    timing = {"features_s": time.perf_counter() - t0}
    extra = params or {}
    out = run_batched(X, plan, clfs, backend=backend, class_weight=class_weight,
                      standardize=standardize, params=extra, memory_fraction=memory_fraction,
                      max_chunk_bytes=max_chunk_bytes, progress=progress, timing=timing)
    test_acc, test_bal, cv_acc = out["test_accuracy"], out["test_balanced"], out["cv_accuracy"]
    null_acc, null_bal = out["null_accuracy"], out["null_balanced"]
    observed = test_bal.mean(-1) if metric == "balanced" else test_acc.mean(-1)
    null = null_bal if metric == "balanced" else null_acc
    p = permutation_pvalues(observed, null)
    run_params = {
        "classifiers": [c.name for c in clfs],
        "classifier_params": {c.name: {**c.params, **extra.get(c.name, {})} for c in clfs},
        "window": window, "step": step, "n_shuffles": S, "test_size": plan.test_size,
        "n_folds": k, "n_permutations": L - 1, "seed": plan.seed, "class_weight": class_weight,
        "standardize": standardize, "metric": metric, "threshold": threshold, "alpha": alpha,
        "n_features": int(n_feat),
    }
    timing["total_s"] = time.perf_counter() - t0
    timing["n_problems"] = int(len(clfs) * n_cells * (plan.n_slots + (L - 1) * S))
    return SingleCellResults(
        classifiers=[c.name for c in clfs], cell_ids=np.asarray(epochs.cell_ids),
        classes=plan.classes_, test_accuracy=test_acc, test_balanced=test_bal,
        cv_accuracy=cv_acc, null_accuracy=null_acc, null_balanced=null_bal, p_value=p,
        q_value=fdr_bh(p), n_above_threshold=(test_acc > threshold).sum(-1),
        params=run_params, timing=timing)

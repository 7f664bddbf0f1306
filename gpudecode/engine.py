"""The solving engine: units x split plan x classifiers -> scores.

Every analysis builds features and hands them here. A *unit* is one independent feature
matrix (trials x features): a cell, a time window, a population. For each classifier the
engine solves every unit x label set x slot problem of a :class:`~gpudecode.splits.SplitPlan`
with one of three engines (:func:`choose_engine`):

- ``batched``: the classifier's batched kernel (CPU or GPU twin), many problems per call, in
  chunks sized to free memory; on the GPU an out-of-memory error halves the chunk and retries.
- ``batched-gram``: one distance matrix over all trials of a fixed feature matrix, sub-blocks
  per slot and label set (the RBF SVM on unscaled features).
- ``batched-select``: in-fold ``SelectKBest(f_classif, k)``: F scores of every slot x label
  set at once (:mod:`gpudecode.selection`), then the batched kernel on each problem's
  selected features (:func:`predict_blocks`), one fit per problem.
- ``pipeline``: one scikit-learn ``Pipeline`` (``[scaler] -> [SelectKBest] -> estimator``;
  cuML on the GPU) per slot and label set.

Which labels run on which slots is :func:`label_jobs`; predictions become accuracies in
:meth:`Scores.record`; the tested metric and its permutation p-value in :meth:`Scores.tested`
and :meth:`Scores.p_values`. :class:`KeptPredictions` holds one classifier's predictions for
another analysis that solves the same problems (democracy's test-slot votes).
"""

from __future__ import annotations

import inspect
import math
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .backend import Backend
from .classifiers import Classifier, get_classifier
from .estimators import make_pipeline
from .selection import selected_features
from .splits import SplitPlan, score_predictions
from .stats import permutation_pvalues

__all__ = ["ENGINES", "KeptPredictions", "LabelJob", "Scores", "bytes_per_problem",
           "choose_engine", "chunk_budget_bytes", "job_chunk", "label_jobs",
           "max_chunk_problems", "plan_chunks", "predict_batched", "predict_blocks",
           "solve_batched", "solve_matrix", "tested"]

ENGINES = ("batched", "batched-gram", "batched-select", "pipeline")

# Problems per kernel call: a chunk takes well under a second on a laptop CPU (tens of
# thousands of tiny fits per second), so progress is reported, and Ctrl-C honoured, that often.
MAX_CHUNK_PROBLEMS_CPU = 1 << 14
MAX_CHUNK_PROBLEMS_GPU = 1 << 21

# Trials of the one unit a :func:`predict_blocks` kernel call stacks its problems into. Some
# kernels scan all of a unit's trials for each of its problems (the tree's presort), so a
# call's cost grows with problems x trials: many small calls, each still one fit per problem.
MAX_BLOCK_TRIALS_CPU = 1 << 12
MAX_BLOCK_TRIALS_GPU = 1 << 16


# ----------------------------------------------------------------------------- label jobs
@dataclass(frozen=True)
class LabelJob:
    """Rows of ``plan.Y_`` (label sets) and the slots solved for them.

    Attributes
    ----------
    label_sets : slice
        Rows of ``plan.Y_``; row 0 holds the observed labels.
    slots : ndarray of int, shape (n_job_slots,)
        Slot indices of the plan (test splits and CV folds) solved for every one of them.
    """

    label_sets: slice
    slots: np.ndarray

    @property
    def n_label_sets(self) -> int:
        return self.label_sets.stop - self.label_sets.start


def label_jobs(plan: SplitPlan, *, null_slots: str = "test") -> list[LabelJob]:
    """Which labels run on which slots, the rule written once.

    Observed labels run on every slot (test splits and CV folds). The null statistic is the
    mean test accuracy over shuffles, so permuted labels run on the test slots only
    (``null_slots="test"``); ``null_slots="all"`` runs them on every slot too, for analyses
    whose null reruns what the CV folds feed (democracy's out-of-fold votes).
    """
    every = np.arange(plan.n_slots)
    jobs = [LabelJob(slice(0, 1), every)]
    n_labelsets = plan.Y_.shape[0]
    if n_labelsets > 1:
        jobs.append(LabelJob(slice(1, n_labelsets),
                             every if null_slots == "all" else plan.test_slots))
    return jobs


@dataclass
class KeptPredictions:
    """One batched classifier's predictions on the slots :func:`label_jobs` names, kept for
    another analysis that needs the same problems (democracy's test-slot votes).

    Attributes
    ----------
    classifier : str
    params : dict
        The kernel's hyper-parameters, defaults included.
    class_weight : {None, "balanced"}
    standardize : bool
    observed : ndarray of int8 (int32 past 127 classes), shape (n_units, n_slots, max_test)
        Predicted class codes of the observed labels on every slot, -1 at padding.
    null : ndarray of the same dtype, shape (n_units, n_permutations, n_shuffles, max_test)
        Of each permuted label set on the test slots (``plan.test_slots`` order).
    plan : SplitPlan
        The plan they were solved on.
    features : dict
        What the units' features were, as the analysis that kept them records it (e.g.
        ``{"window_frames": 4, "step_frames": 1}``).
    """

    classifier: str
    params: dict
    class_weight: str | None
    standardize: bool
    observed: np.ndarray
    null: np.ndarray
    plan: SplitPlan
    features: dict = field(default_factory=dict)

    @staticmethod
    def _layout(n_units: int, plan: SplitPlan) -> tuple[tuple, tuple, type]:
        """Shapes of ``observed`` and ``null``, and their dtype, for ``n_units`` units."""
        width = plan.test_idx_.shape[1]
        codes = np.int8 if plan.n_classes <= np.iinfo(np.int8).max else np.int32
        return ((n_units, plan.n_slots, width),
                (n_units, plan.Y_.shape[0] - 1, plan.n_shuffles, width), codes)

    @classmethod
    def empty(cls, classifier: str, params: dict, class_weight: str | None,
              standardize: bool, n_units: int, plan: SplitPlan) -> KeptPredictions:
        """Room for the predictions of ``n_units`` units on ``plan`` (all -1)."""
        observed, null, codes = cls._layout(n_units, plan)
        return cls(classifier, dict(params), class_weight, standardize,
                   np.full(observed, -1, codes), np.full(null, -1, codes), plan)

    def solved_on(self, plan: SplitPlan) -> bool:
        """Whether ``plan`` has the same splits and label sets as the one they were solved on."""
        mine = self.plan
        return plan is mine or all(np.array_equal(getattr(plan, a), getattr(mine, a))
                                   for a in ("Y_", "train_idx_", "n_train_", "test_idx_",
                                             "n_test_", "fold_of_slot_"))

    @classmethod
    def nbytes_for(cls, n_units: int, plan: SplitPlan) -> int:
        """Bytes the predictions of ``n_units`` units on ``plan`` take (one byte each, below
        128 classes)."""
        observed, null, codes = cls._layout(n_units, plan)
        return (math.prod(observed) + math.prod(null)) * np.dtype(codes).itemsize

    def record(self, units: slice, label_sets: slice, slots: np.ndarray,
               pred: np.ndarray) -> None:
        """Keep one chunk of :func:`predict_batched` (its ``pred``: (n_units_chunk,
        n_labelsets_chunk, n_job_slots, max_test))."""
        plan = self.plan
        first = label_sets.start
        if first == 0:
            self.observed[units][:, slots] = pred[:, 0]
            pred, first = pred[:, 1:], 1
        if pred.shape[1]:
            where = np.full(plan.n_slots, -1)
            where[slots] = np.arange(len(slots))
            self.null[units, first - 1:label_sets.stop - 1] = pred[:, :, where[plan.test_slots]]

    def known_slots(self, labelset: int) -> np.ndarray:
        """The slots whose predictions are kept for label set ``labelset``."""
        return np.arange(self.plan.n_slots) if labelset == 0 else self.plan.test_slots

    def fill(self, units: slice, label_sets: slice, out: np.ndarray) -> None:
        """Write the kept predictions of ``units`` and ``label_sets`` into ``out``
        (n_units_chunk, n_labelsets_chunk, n_slots, max_test); other slots are left as
        they are."""
        for i, lab in enumerate(range(label_sets.start, label_sets.stop)):
            if lab == 0:
                out[:, i] = self.observed[units]
            else:
                out[:, i][:, self.plan.test_slots] = self.null[units, lab - 1]


# ----------------------------------------------------------------------------- scores
@dataclass(kw_only=True)
class Scores:
    """Accuracies of classifiers x units on one split plan, and the tested metric.

    Attributes
    ----------
    test_accuracy, test_balanced : ndarray, shape (n_classifiers, [n_units,] n_shuffles)
        Observed-label accuracy on each shuffle's test part.
    cv_accuracy : ndarray, shape (n_classifiers, [n_units,] n_shuffles, n_folds)
        Accuracy of each inner CV fold (NaN where none was solved).
    null_accuracy, null_balanced : ndarray, shape (n_classifiers, [n_units,] n_permutations)
        Mean test accuracy over shuffles of each permuted label set.
    """

    test_accuracy: np.ndarray
    test_balanced: np.ndarray
    cv_accuracy: np.ndarray
    null_accuracy: np.ndarray
    null_balanced: np.ndarray

    @classmethod
    def empty(cls, n_classifiers: int, n_units: int, plan: SplitPlan) -> Scores:
        """All-NaN scores of shape (n_classifiers, n_units, ...) for ``plan``."""
        shape = (n_classifiers, n_units)
        n_perm = plan.Y_.shape[0] - 1
        return cls(test_accuracy=np.full((*shape, plan.n_shuffles), np.nan),
                   test_balanced=np.full((*shape, plan.n_shuffles), np.nan),
                   cv_accuracy=np.full((*shape, plan.n_shuffles, plan.n_folds), np.nan),
                   null_accuracy=np.full((*shape, n_perm), np.nan),
                   null_balanced=np.full((*shape, n_perm), np.nan))

    def record(self, plan: SplitPlan, classifier: int, units: slice, label_sets: slice,
               slots: np.ndarray, accuracy: np.ndarray, balanced: np.ndarray) -> None:
        """Store the accuracies of one chunk of problems.

        Parameters
        ----------
        plan : SplitPlan
        classifier : int
            Row of the classifier axis.
        units : slice
            The chunk's units.
        label_sets : slice
            The chunk's rows of ``plan.Y_`` (0 = observed labels).
        slots : ndarray of int, shape (n_job_slots,)
            The slots the chunk solved, in the order of the last axis of ``accuracy``.
        accuracy, balanced : ndarray, shape (n_units_chunk, n_labelsets_chunk, n_job_slots)
            From :func:`gpudecode.splits.score_predictions`.
        """
        where = np.full(plan.n_slots, -1)
        where[slots] = np.arange(len(slots))
        test = where[plan.test_slots]
        first = label_sets.start
        if first == 0:
            self.test_accuracy[classifier, units] = accuracy[:, 0, test]
            self.test_balanced[classifier, units] = balanced[:, 0, test]
            cv = where[plan.cv_slots] if plan.n_folds else None
            if cv is not None and (cv >= 0).all():
                self.cv_accuracy[classifier, units] = accuracy[:, 0, cv]
            accuracy, balanced, first = accuracy[:, 1:], balanced[:, 1:], 1
        if accuracy.shape[1]:
            nulls = slice(first - 1, label_sets.stop - 1)
            self.null_accuracy[classifier, units, nulls] = accuracy[..., test].mean(-1)
            self.null_balanced[classifier, units, nulls] = balanced[..., test].mean(-1)

    def arrays(self) -> dict[str, np.ndarray]:
        """The five score arrays by field name."""
        return {f.name: getattr(self, f.name) for f in fields(Scores)}

    def unit(self, index: int) -> Scores:
        """The scores of one unit (the unit axis dropped)."""
        return Scores(**{key: value[:, index] for key, value in self.arrays().items()})

    def tested(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """The tested statistic per shuffle and its permutation null (:func:`tested`)."""
        return tested(self, metric)

    def p_values(self, metric: str) -> np.ndarray:
        """Permutation p-value of the metric's mean over shuffles (NaN without permutations),
        shape (...) (the score arrays without their last axis)."""
        per_shuffle, null = self.tested(metric)
        return permutation_pvalues(per_shuffle.mean(-1), null)


def tested(scores, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The tested statistic per shuffle and its permutation null.

    Parameters
    ----------
    scores : Scores, or any object with its five arrays
    metric : {"accuracy", "balanced"}

    Returns
    -------
    per_shuffle : ndarray, shape (..., n_shuffles)
        ``test_balanced`` for "balanced", ``test_accuracy`` otherwise.
    null : ndarray, shape (..., n_permutations)
        The same metric's mean over shuffles for each permuted label set.
    """
    if metric == "balanced":
        return scores.test_balanced, scores.null_balanced
    return scores.test_accuracy, scores.null_accuracy


# ----------------------------------------------------------------------------- chunking
def max_chunk_problems(backend: Backend) -> int:
    """Most problems one kernel call solves on ``backend`` (bounds a chunk's duration)."""
    return MAX_CHUNK_PROBLEMS_GPU if backend.is_gpu else MAX_CHUNK_PROBLEMS_CPU


def bytes_per_problem(max_train: int, max_test: int, n_features: int) -> int:
    """Generous estimate of one problem's memory: predictions, gathered rows, a Gram block."""
    rows = max_train + max_test
    return 4 * (2 * max_test + rows * (n_features + 4) + max_train * max_train) + 256


def chunk_budget_bytes(backend: Backend, memory_fraction: float = 0.25,
                       max_chunk_bytes: int | None = None) -> int:
    """Bytes one chunk may use: ``memory_fraction`` of the backend's free memory, at most
    ``max_chunk_bytes``."""
    budget = int(memory_fraction * backend.free_memory_bytes())
    return budget if max_chunk_bytes is None else min(budget, int(max_chunk_bytes))


def plan_chunks(n_units: int, n_labelsets: int, n_slots: int, per_problem: int,
                budget_bytes: int, max_problems: int | None = None,
                min_label_sets: int = 1) -> tuple[int, int]:
    """Chunk sizes (units, label sets) so one chunk's problems fit in ``budget_bytes``
    (and number at most ``max_problems``).

    Label sets are chunked first (all units of a label set together share the most
    structure); units are cut only when ``min_label_sets`` label sets (the kernel's
    :attr:`~gpudecode.classifiers.Classifier.label_sets_together`, at most all of them) for
    all units are too large.
    """
    max_problems = max(1, min(budget_bytes // max(1, per_problem),
                              max_problems if max_problems is not None else np.inf))
    want = int(max(1, min(n_labelsets, min_label_sets)))
    per_labelset = n_units * n_slots
    if per_labelset * want <= max_problems:
        return n_units, int(min(n_labelsets, max(want, max_problems // per_labelset)))
    units = max_problems // (n_slots * want)
    if units >= 1:
        return int(units), want
    return 1, int(max(1, min(want, max_problems // n_slots)))


def job_chunk(X_shape: tuple[int, int, int], plan: SplitPlan, job: LabelJob, backend: Backend,
              budget_bytes: int, min_label_sets: int = 1) -> list[int]:
    """``[units, label sets]`` per chunk of ``job`` for features of shape ``X_shape``
    (n_units, n_trials, n_features), within ``budget_bytes`` (:func:`plan_chunks`)."""
    per_problem = bytes_per_problem(plan.train_idx_.shape[1], plan.test_idx_.shape[1],
                                    X_shape[2])
    return list(plan_chunks(X_shape[0], job.n_label_sets, len(job.slots), per_problem,
                            budget_bytes, max_chunk_problems(backend), min_label_sets))


def _is_out_of_memory(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "outofmemory" in text or "out_of_memory" in text or "out of memory" in text


# ----------------------------------------------------------------------------- batched
def predict_batched(X: np.ndarray, plan: SplitPlan, classifier: Classifier,
                    job: LabelJob, *, backend: Backend, class_weight: str | None = None,
                    standardize: bool = True, params: dict | None = None,
                    budget_bytes: int | None = None, chunk: list[int] | None = None
                    ) -> Iterator[tuple[slice, slice, np.ndarray]]:
    """Batched-kernel predictions of one label job, chunk by chunk.

    Chunks cover, for each run of label sets, every unit in order (units cut only when one
    label set for all units does not fit). On the GPU an out-of-memory error halves the chunk
    (label sets first, then units) and retries it.

    Parameters
    ----------
    X : ndarray of float32, shape (n_units, n_trials, n_features)
    plan : SplitPlan
    classifier : Classifier
    job : LabelJob
    backend : Backend
    class_weight : {None, "balanced"}
    standardize : bool
    params : dict, optional
        Hyper-parameters over the classifier's defaults.
    budget_bytes : int, optional
        Memory one chunk may use (default :func:`chunk_budget_bytes`).
    chunk : list of two int, optional
        ``[units, label sets]`` per chunk, updated in place when an OOM halves it (so later
        calls start from the smaller size); sized from ``budget_bytes`` when omitted.

    Yields
    ------
    units, label_sets : slice
        The chunk's units and rows of ``plan.Y_``.
    pred : ndarray of int32, shape (n_units_chunk, n_labelsets_chunk, n_job_slots, max_test)
        Predicted class codes on the host, -1 at padding.
    """
    n_units = X.shape[0]
    slots = job.slots
    if chunk is None:
        budget = chunk_budget_bytes(backend) if budget_bytes is None else budget_bytes
        chunk = job_chunk(X.shape, plan, job, backend, budget,
                          getattr(classifier, "label_sets_together", 1))
    kernel = classifier.kernel(gpu=backend.is_gpu)
    kw = {**classifier.params, **(params or {})}
    tr, ntr = plan.train_idx_[slots], plan.n_train_[slots]
    te, nte = plan.test_idx_[slots], plan.n_test_[slots]
    la, stop = job.label_sets.start, job.label_sets.stop
    while la < stop:
        lb = min(stop, la + chunk[1])
        c0 = 0
        while c0 < n_units:
            c1 = min(n_units, c0 + chunk[0])
            try:
                pred = kernel(X[c0:c1], plan.Y_[la:lb], tr, ntr, te, nte, plan.n_classes,
                              standardize=standardize,
                              class_weight_balanced=class_weight == "balanced", **kw)
            except Exception as exc:
                if not (backend.is_gpu and _is_out_of_memory(exc)) or chunk == [1, 1]:
                    raise
                if chunk[1] > 1:            # fewer label sets, from the first unit again
                    chunk[1] = max(1, chunk[1] // 2)
                    lb = min(stop, la + chunk[1])
                    c0 = 0
                else:
                    chunk[0] = max(1, chunk[0] // 2)
                continue
            yield slice(c0, c1), slice(la, lb), backend.to_host(pred)
            c0 = c1
        la = lb


def solve_batched(X: np.ndarray, plan: SplitPlan, classifiers: list[Classifier], *,
                  backend: Backend, class_weight: str | None = None, standardize: bool = True,
                  params: dict | None = None, memory_fraction: float = 0.25,
                  max_chunk_bytes: int | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  timing: dict | None = None, keep: dict | None = None) -> Scores:
    """Solve every unit x label set x slot problem of ``plan`` with the batched kernels.

    Labels run on the slots :func:`label_jobs` names. Problems are solved in chunks that fit
    ``memory_fraction`` of the free memory (at most ``max_chunk_bytes``) and number at most
    :func:`max_chunk_problems`; ``progress(done, total)`` counts solved problems.

    Parameters
    ----------
    X : ndarray of float32, shape (n_units, n_trials, n_features)
        One independent feature matrix per unit (a cell; a time window; a population).
    plan : SplitPlan
        Fitted on the trial labels.
    classifiers : list of Classifier
    params : dict, optional
        Hyper-parameters per classifier name, over its defaults.
    timing : dict, optional
        Receives ``<name>_s``, the seconds each classifier took.
    keep : dict, optional
        Classifier names whose predictions another analysis reuses: the value of each name
        that is among ``classifiers`` is set to its :class:`KeptPredictions`.

    Returns
    -------
    Scores
        Arrays of shape (n_classifiers, n_units, ...).
    """
    timing = timing if timing is not None else {}
    extra = params or {}
    n_units = X.shape[0]
    jobs = label_jobs(plan)
    budget = chunk_budget_bytes(backend, memory_fraction, max_chunk_bytes)
    # One chunk size per job, kept across classifiers (an OOM-halved size stays halved).
    together = max([getattr(c, "label_sets_together", 1) for c in classifiers], default=1)
    chunks = [job_chunk(X.shape, plan, job, backend, budget, together) for job in jobs]
    scores = Scores.empty(len(classifiers), n_units, plan)
    total = len(classifiers) * n_units * sum(j.n_label_sets * len(j.slots) for j in jobs)
    done = 0
    for row, clf in enumerate(classifiers):
        t1 = time.perf_counter()
        kept = None
        if keep is not None and clf.name in keep:
            kept = keep[clf.name] = KeptPredictions.empty(
                clf.name, {**clf.params, **extra.get(clf.name, {})}, class_weight,
                standardize, n_units, plan)
        for job, chunk in zip(jobs, chunks):
            te = plan.test_idx_[job.slots]
            for units, labels, pred in predict_batched(
                    X, plan, clf, job, backend=backend, class_weight=class_weight,
                    standardize=standardize, params=extra.get(clf.name), chunk=chunk):
                acc, bal = score_predictions(pred, plan.Y_[labels], te, plan.n_classes)
                scores.record(plan, row, units, labels, job.slots, acc, bal)
                if kept is not None:
                    kept.record(units, labels, job.slots, pred)
                done += pred.shape[0] * pred.shape[1] * len(job.slots)
                if progress is not None:
                    progress(done, total)
        timing[f"{clf.name}_s"] = time.perf_counter() - t1
    return scores


# ----------------------------------------------------------------------------- problem list
def predict_blocks(rows: np.ndarray, labels: np.ndarray, n_train: np.ndarray,
                   n_test: np.ndarray, n_classes: int, classifier: Classifier, *,
                   backend: Backend, class_weight: str | None = None, standardize: bool = True,
                   params: dict | None = None, test_width: int | None = None,
                   first_problem: int = 0) -> np.ndarray:
    """Batched-kernel predictions of a list of problems, each with its own features and labels.

    Problem ``p`` trains on ``rows[p, :n_train[p]]`` with ``labels[p, :n_train[p]]`` and
    predicts the next ``n_test[p]`` rows. The kernels solve every unit x label set x slot
    of shared features; here each kernel call stacks a group of problems as the blocks of
    the trials of one unit with one label set, one slot per block, so every problem is
    fit once, with the kernel's own standardisation and algorithm.

    Parameters
    ----------
    rows : ndarray of float32, shape (n_problems, n_rows, n_features)
        Each problem's training rows, then its test rows, then padding.
    labels : ndarray of int, shape (n_problems, n_rows)
        Class codes of those rows (padding: any valid code).
    n_train, n_test : ndarray of int, shape (n_problems,)
    n_classes : int
    classifier : Classifier
        With a batched kernel.
    backend : Backend
    class_weight : {None, "balanced"}
    standardize : bool
        Scale each problem's features with its training rows' statistics.
    params : dict, optional
        Hyper-parameters over the classifier's defaults.
    test_width : int, optional
        Width of the result (default ``max(n_test)``).
    first_problem : int
        Index of ``rows[0]`` among all problems of the caller. A randomised kernel (one
        taking ``random_state``, passed on from ``params`` as every scikit-learn fit of the
        pipeline gets the same seed) draws for each problem by its index there, not by how
        the caller chunks the problems.

    Returns
    -------
    ndarray of int32, shape (n_problems, test_width)
        Predicted class codes; -1 at padding.
    """
    n_problems, n_rows, _ = rows.shape
    n_train = np.asarray(n_train, dtype=np.int32)
    n_test = np.asarray(n_test, dtype=np.int32)
    width = int(n_test.max(initial=0)) if test_width is None else int(test_width)
    out = np.full((n_problems, width), -1, dtype=np.int32)
    if not n_problems:
        return out
    kernel = classifier.kernel(gpu=backend.is_gpu)
    kw = {**classifier.params, **(params or {})}
    seeded = "random_state" in inspect.signature(kernel).parameters
    if not seeded:
        kw.pop("random_state", None)
    limit = MAX_BLOCK_TRIALS_GPU if backend.is_gpu else MAX_BLOCK_TRIALS_CPU
    group = max(1, limit // max(1, n_rows))
    max_train = int(n_train.max())
    max_test = max(1, int(n_test.max()))
    col_tr, col_te = np.arange(max_train), np.arange(max_test)
    # A randomised kernel draws per (unit, slot, label set): problem q of the caller runs at
    # block (slot) q % group whatever the chunking, so its draws do not depend on it; a call
    # starting mid-group first repeats its first problem in the blocks before it (dropped).
    lead = first_problem % group if seeded else 0
    order = np.concatenate([np.zeros(lead, dtype=np.intp), np.arange(n_problems)])
    for g0 in range(0, order.size, group):
        members = order[g0:g0 + group]
        ntr, nte = n_train[members], n_test[members]
        first = (np.arange(members.size) * n_rows)[:, None]
        tr = np.where(col_tr < ntr[:, None], first + col_tr, -1).astype(np.int32)
        te = np.where(col_te < nte[:, None], first + ntr[:, None] + col_te, -1).astype(np.int32)
        X = np.ascontiguousarray(rows[members], dtype=np.float32).reshape(1, -1, rows.shape[2])
        Y = np.ascontiguousarray(labels[members], dtype=np.int32).reshape(1, -1)
        pred = kernel(X, Y, tr, ntr, te, nte, n_classes, standardize=standardize,
                      class_weight_balanced=class_weight == "balanced", **kw)
        pred = backend.to_host(pred)[0, 0]
        k = min(width, pred.shape[1])
        skip = lead if g0 == 0 else 0
        out[members[skip:], :k] = pred[skip:, :k]
    return out


def _solve_selected(scores: Scores, row: int, X: np.ndarray, plan: SplitPlan,
                    classifier: Classifier, k: int, *, backend: Backend, standardize: bool,
                    class_weight, params: dict, progress=None) -> None:
    """In-fold ``SelectKBest(f_classif, k)`` then the batched kernel, every slot x label set:
    F scores of a job's slots x label sets at once, then one fit per problem on its own
    selected features (:func:`predict_blocks`); ``progress(done, total)`` in label sets."""
    n_labelsets = plan.Y_.shape[0]
    width = plan.test_idx_.shape[1]
    budget = chunk_budget_bytes(backend)
    for job in label_jobs(plan):
        slots = job.slots
        ntr, nte = plan.n_train_[slots], plan.n_test_[slots]
        # Each slot's trials: training rows then test rows (the plan's order), padded.
        n_rows = int((ntr + nte).max())
        trials = np.zeros((len(slots), n_rows), dtype=np.intp)
        for i, slot in enumerate(slots):
            train, test = plan.slot_trials(slot)
            trials[i, :train.size + test.size] = np.concatenate([train, test])
        Xs = X[trials]                                          # (n_slots, n_rows, d)
        per_problem = bytes_per_problem(plan.train_idx_.shape[1], width, k)
        _, per_chunk = plan_chunks(1, job.n_label_sets, len(slots), per_problem, budget,
                                   max_chunk_problems(backend))
        te = plan.test_idx_[slots]
        for la in range(job.label_sets.start, job.label_sets.stop, per_chunk):
            labels = slice(la, min(job.label_sets.stop, la + per_chunk))
            sel = selected_features(X, plan, k, slots, labels, backend=backend)
            sel = sel.transpose(1, 0, 2)                        # (n_labelsets, n_slots, k)
            n_sets = sel.shape[0]
            rows = Xs[np.arange(len(slots))[None, :, None, None],
                      np.arange(n_rows)[None, None, :, None], sel[:, :, None, :]]
            y = plan.Y_[labels][:, trials]                      # (n_labelsets, n_slots, n_rows)
            pred = predict_blocks(
                rows.reshape(n_sets * len(slots), n_rows, k), y.reshape(n_sets * len(slots), -1),
                np.tile(ntr, n_sets), np.tile(nte, n_sets), plan.n_classes, classifier,
                backend=backend, class_weight=class_weight, standardize=standardize,
                params=params, test_width=width, first_problem=la * plan.n_slots)
            pred = pred.reshape(1, n_sets, len(slots), width)
            acc, bal = score_predictions(pred, plan.Y_[labels], te, plan.n_classes)
            scores.record(plan, row, slice(0, 1), labels, slots, acc, bal)
            if progress is not None:
                progress(labels.stop, n_labelsets)


# ----------------------------------------------------------------------------- one matrix
def choose_engine(classifier: Classifier | str, n_features: int, select_k: int | None,
                  standardize: bool) -> str:
    """Which engine (:data:`ENGINES`) solves ``classifier`` on one feature matrix.

    With in-fold feature selection (``select_k < n_features``; the selected features differ
    per slot and label set) ``batched-select`` where the classifier has a batched kernel
    taking ``select_k`` features. Otherwise ``pipeline`` for classifiers without a batched
    kernel and above the classifier's ``max_batched_features``; ``batched-gram`` for
    unscaled features where the classifier has a fixed-features Gram kernel; ``batched``
    otherwise.
    """
    clf = classifier if isinstance(classifier, Classifier) else get_classifier(classifier)
    if select_k is not None and select_k < n_features:
        fits = clf.max_batched_features is None or select_k <= clf.max_batched_features
        return "batched-select" if clf.batched and fits else "pipeline"
    if not clf.batched:
        return "pipeline"
    if not standardize and clf.gram_function is not None:
        return "batched-gram"
    if clf.max_batched_features is not None and n_features > clf.max_batched_features:
        return "pipeline"
    return "batched"


def _solve_gram(scores: Scores, row: int, X: np.ndarray, plan: SplitPlan,
                classifier: Classifier, *, gpu: bool, class_weight, params: dict) -> None:
    """One distance matrix over all trials, sub-blocks per slot and label set."""
    fit = classifier.gram_kernel(gpu=gpu)
    for job in label_jobs(plan):
        Y = plan.Y_[job.label_sets]
        te = plan.test_idx_[job.slots]
        pred = fit(X, Y, plan.train_idx_[job.slots], plan.n_train_[job.slots], te,
                   plan.n_test_[job.slots], plan.n_classes,
                   class_weight_balanced=class_weight == "balanced", **params)
        acc, bal = score_predictions(Backend.to_host(pred)[None], Y, te, plan.n_classes)
        scores.record(plan, row, slice(0, 1), job.label_sets, job.slots, acc, bal)


def _solve_pipeline(scores: Scores, row: int, X: np.ndarray, plan: SplitPlan, name: str, *,
                    select_k, standardize, gpu, seed, class_weight, params,
                    progress=None) -> None:
    """One scikit-learn pipeline per (label set, slot); ``progress(done, total)`` in label
    sets."""
    k = None if select_k is None else int(min(select_k, X.shape[1]))
    n_labelsets = plan.Y_.shape[0]
    with warnings.catch_warnings():
        # Constant features (f_classif) and slow convergence on tiny folds are expected here.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        for job in label_jobs(plan):
            te = plan.test_idx_[job.slots]
            for lab in range(job.label_sets.start, job.label_sets.stop):
                y = plan.Y_[lab]
                pred = np.full(te.shape, -1, dtype=np.int32)
                for i, slot in enumerate(job.slots):
                    train, test = plan.slot_trials(slot)
                    model = make_pipeline(name, standardize=standardize, select_k=k, gpu=gpu,
                                          seed=seed, class_weight=class_weight, params=params)
                    model.fit(X[train], y[train])
                    pred[i, :test.size] = np.asarray(model.predict(X[test])).astype(np.int32)
                labels = slice(lab, lab + 1)
                acc, bal = score_predictions(pred[None, None], plan.Y_[labels], te,
                                             plan.n_classes)
                scores.record(plan, row, slice(0, 1), labels, job.slots, acc, bal)
                if progress is not None:
                    progress(lab + 1, n_labelsets)


def solve_matrix(X: np.ndarray, plan: SplitPlan, names: list[str], *, backend: Backend,
                 select_k: int | None = None, standardize: bool = True,
                 class_weight: str | None = None, params: dict | None = None, seed: int = 0,
                 progress: Callable[[int, int], None] | None = None,
                 timing: dict | None = None) -> tuple[Scores, list[str]]:
    """Solve one feature matrix with every classifier, each by the engine
    :func:`choose_engine` picks.

    Parameters
    ----------
    X : ndarray of float32, shape (n_trials, n_features)
    plan : SplitPlan
    names : list of str
        Classifier names (:data:`gpudecode.classifiers.CLASSIFIERS`).
    select_k : int, optional
        Keep the ``k`` features of largest ANOVA F on each problem's training trials.
    standardize : bool
    params : dict, optional
        Hyper-parameters per classifier name.
    seed : int
        Seed of randomised scikit-learn models.
    progress : callable(done, total), optional
        Label sets solved, counted over all classifiers.
    timing : dict, optional
        Receives ``<name>_s`` per classifier.

    Returns
    -------
    scores : Scores
        Arrays of shape (n_classifiers, ...) (no unit axis).
    engines : list of str
        The engine of each classifier.
    """
    timing = timing if timing is not None else {}
    extra = params or {}
    n_labelsets = plan.Y_.shape[0]
    scores = Scores.empty(len(names), 1, plan)
    engines = []
    for row, name in enumerate(names):
        step = None if progress is None else (
            lambda d, t, row=row: progress(row * n_labelsets + d * n_labelsets // t,
                                           len(names) * n_labelsets))
        t1 = time.perf_counter()
        clf = get_classifier(name)
        engine = choose_engine(clf, X.shape[1], select_k, standardize)
        if engine == "batched-gram":
            _solve_gram(scores, row, X, plan, clf, gpu=backend.is_gpu,
                        class_weight=class_weight, params={**clf.params, **extra.get(name, {})})
        elif engine == "batched-select":
            # random_state: the seed every scikit-learn fit of the pipeline got.
            _solve_selected(scores, row, X, plan, clf, int(select_k), backend=backend,
                            standardize=standardize, class_weight=class_weight,
                            params={"random_state": seed, **extra.get(name, {})},
                            progress=step)
        elif engine == "batched":
            kernel_params = extra.get(name, {})
            if "random_state" in inspect.signature(clf.kernel()).parameters:
                # the seed the other engines give a randomised model (forest, tree ties)
                kernel_params = {"random_state": seed, **kernel_params}
            one = solve_batched(X[None], plan, [clf], backend=backend,
                                class_weight=class_weight, standardize=standardize,
                                params={name: kernel_params}, progress=step)
            for key, value in one.arrays().items():
                getattr(scores, key)[row] = value[0]
        else:
            _solve_pipeline(scores, row, X, plan, name, select_k=select_k,
                            standardize=standardize, gpu=backend.is_gpu, seed=seed,
                            class_weight=class_weight, params=extra.get(name, {}),
                            progress=step)
        if step is not None:
            step(1, 1)
        engines.append(engine)
        timing[f"{name}_s"] = time.perf_counter() - t1
    return scores.unit(0), engines

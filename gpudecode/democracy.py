"""Democracy: per-cell classifiers vote, a stacker learns how to weigh their votes.

Nested and leak-free. For every label set (observed labels and each permutation) and every
shuffle ``s`` of the split plan:

- the stacker's *training rows* are the shuffle's training trials; their features are the
  per-cell predictions from the shuffle's CV slots, so each training trial is predicted by
  per-cell models fit on the other folds (out-of-fold: no trial's label reaches its own
  features);
- the stacker's *test rows* are the shuffle's test trials; their features are the
  per-cell predictions of the test slot (per-cell models fit on the whole training part).

The per-cell models of every cell x label set x slot (test and CV) are solved by the engine's
batched kernels (:func:`gpudecode.engine.predict_batched`, chunked to memory). The stackers of
every (label set, shuffle) are batched likewise (:func:`predict_stackers`): each problem's
encoded votes are its own feature matrix, solved by the stacker's batched kernel on unscaled
features, one fit per problem (:func:`gpudecode.engine.predict_blocks`); a stacker without a
kernel is one estimator from :func:`gpudecode.estimators.make_pipeline` per problem.
Permuted label sets rerun the whole two-level procedure, so the null includes the per-cell
fits.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Callable

import numpy as np
from sklearn.exceptions import ConvergenceWarning

try:  # installed with scikit-learn, but not a declared dependency: optional
    from threadpoolctl import threadpool_limits
except Exception:
    threadpool_limits = None

from .backend import Backend
from .classifiers import get_classifier, parse_classifiers
from .engine import (
    KeptPredictions,
    LabelJob,
    Scores,
    choose_engine,
    chunk_budget_bytes,
    job_chunk,
    label_jobs,
    predict_batched,
    predict_blocks,
)
from .errors import ParameterError
from .estimators import make_pipeline
from .features import window_features
from .population import PopulationResults
from .splits import SplitPlan, check_scoring, fitted_plan, score_predictions
from .trials import Epochs

__all__ = ["decode_democracy", "encode_votes", "predict_cells", "predict_stackers",
           "stacker_engine", "stacker_rows"]


def predict_cells(X: np.ndarray, plan: SplitPlan, base: str = "linear-svm", *,
                  label_sets: slice = slice(None), backend: Backend | None = None,
                  class_weight: str | None = None, standardize: bool = True,
                  params: dict | None = None, cell_chunk: int | None = None) -> np.ndarray:
    """Per-cell predictions of every slot (test and CV) of ``plan`` for some label sets.

    Parameters
    ----------
    X : ndarray of float32, shape (n_cells, n_trials, n_features)
        Cells x trials x features (e.g. :func:`gpudecode.features.window_features`).
    plan : SplitPlan
        Fitted split plan.
    base : str
        Batched classifier name (:data:`gpudecode.classifiers.BATCHED_CLASSIFIERS`).
    label_sets : slice
        Rows of ``plan.Y_`` to solve (0 = observed labels).
    backend : Backend, optional
    class_weight : {None, "balanced"}
    standardize : bool
        Scale each cell's features with its training trials' statistics.
    params : dict, optional
        Kernel hyper-parameters, over the classifier's defaults.
    cell_chunk : int, optional
        Cells per kernel call (all at once when omitted).

    Returns
    -------
    ndarray of int32, shape (n_cells, n_labelsets, n_slots, max_test)
        Predicted class codes; -1 at padding.
    """
    clf = get_classifier(base, batched=True, field="--democracy-base")
    backend = backend or Backend.from_device("auto")
    start, stop, _ = label_sets.indices(plan.Y_.shape[0])
    job = LabelJob(slice(start, stop), np.arange(plan.n_slots))
    n_cells = X.shape[0]
    chunk = [n_cells if cell_chunk is None else max(1, int(cell_chunk)), job.n_label_sets]
    out = np.empty((n_cells, job.n_label_sets, plan.n_slots, plan.test_idx_.shape[1]), np.int32)
    for units, labels, pred in predict_batched(X, plan, clf, job, backend=backend,
                                               class_weight=class_weight,
                                               standardize=standardize, params=params,
                                               chunk=chunk):
        out[units, labels.start - start:labels.stop - start] = pred
    return out


def stacker_rows(pred: np.ndarray, plan: SplitPlan, shuffle: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The stacker's training and test votes for one shuffle of one label set.

    Parameters
    ----------
    pred : ndarray of int, shape (n_cells, n_slots, max_test)
        Per-cell predictions of one label set on every slot (from :func:`predict_cells`).
    plan : SplitPlan
    shuffle : int

    Returns
    -------
    train_votes : ndarray of int32, shape (n_train, n_cells)
        Out-of-fold per-cell predictions of the shuffle's training trials (from its CV slots).
    test_votes : ndarray of int32, shape (n_test, n_cells)
        Per-cell predictions of the test trials by models fit on the whole training part.
    train_trials, test_trials : ndarray of int
        The trials of those rows, in the plan's order.
    """
    n_cells = pred.shape[0]
    slot = plan.test_slots[shuffle]
    train_trials, test_trials = plan.slot_trials(slot)
    by_trial = np.full((plan.Y_.shape[1], n_cells), -1, dtype=np.int32)
    for cv in plan.cv_slots[shuffle]:
        held_out = plan.slot_trials(cv)[1]
        by_trial[held_out] = pred[:, cv, :held_out.size].T
    train_votes = by_trial[train_trials]
    if (train_votes < 0).any():
        raise ParameterError(f"the CV folds of shuffle {shuffle} do not cover its training "
                             "trials, so some have no out-of-fold prediction", field="plan",
                             fix="build the plan with SplitPlan(...).fit(labels)")
    test_votes = np.ascontiguousarray(pred[:, slot, :test_trials.size].T)
    return train_votes, test_votes, train_trials, test_trials


def encode_votes(votes: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-cell class codes -> stacker features.

    Parameters
    ----------
    votes : ndarray of int, shape (n_trials, n_cells)
    n_classes : int

    Returns
    -------
    ndarray of float32
        Binary: shape (n_trials, n_cells), the 0/1 code of each cell's vote. Multiclass:
        shape (n_trials, n_cells * n_classes), one-hot per cell (cell-major: the columns
        of cell ``c`` are ``c * n_classes .. c * n_classes + n_classes - 1``).
    """
    votes = np.asarray(votes)
    if n_classes == 2:
        return votes.astype(np.float32)
    onehot = votes[..., None] == np.arange(n_classes)
    return onehot.reshape(votes.shape[0], -1).astype(np.float32)


def _check(plan: SplitPlan | None, epochs: Epochs, metric: str, class_weight, window_frames,
           step_frames) -> SplitPlan:
    check_scoring(metric, class_weight)
    for name, value in (("--window", window_frames), ("--step", step_frames)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ParameterError(f"{name} must be a whole number of frames >= 1, got {value!r}",
                                 field=name, fix=f"pass e.g. {name} 4" if name == "--window"
                                 else f"pass e.g. {name} 1")
    plan = fitted_plan(plan, epochs.labels)
    if plan.n_folds < 2:
        raise ParameterError(f"democracy needs inner CV folds for out-of-fold per-cell "
                             f"predictions, but the plan has {plan.n_folds}", field="--folds",
                             fix="pass --folds 5 (any k >= 2)")
    return plan


def decode_democracy(epochs: Epochs, plan: SplitPlan, stackers="random-forest", *,
                     base: str = "linear-svm", window_frames: int = 4, step_frames: int = 1,
                     backend: Backend | None = None, class_weight: str | None = None,
                     metric: str = "accuracy", params: dict | None = None,
                     seed: int | None = None, memory_fraction: float = 0.25,
                     progress: Callable[[int, int], None] | None = None,
                     votes: KeptPredictions | None = None) -> PopulationResults:
    """Decode the trial label from the votes of per-cell classifiers, combined by a stacker.

    See the module docstring for the nesting. Each cell's features are its sliding-window
    means (``window_frames`` wide, every ``step_frames``), scaled inside each problem as in single-cell
    decoding; its vote is a class code, fed to the stacker as a 0/1 column (binary) or
    one-hot columns (multiclass).

    Parameters
    ----------
    epochs : Epochs
        Trials x cells x frames with labels.
    plan : SplitPlan
        Needs ``n_folds >= 2`` (the CV slots give the out-of-fold votes). Fit on
        ``epochs.labels`` here when not yet fit.
    stackers : str or list of str
        Population classifier names (:data:`gpudecode.classifiers.CLASSIFIERS`).
    base : str
        Per-cell batched classifier (:data:`gpudecode.classifiers.BATCHED_CLASSIFIERS`).
    window_frames, step_frames : int
        Sliding-window width and step, in frames.
    backend : Backend, optional
    class_weight : {None, "balanced"}
        Used by the per-cell models and the stackers.
    metric : {"accuracy", "balanced"}
        Statistic tested against the permutation null (mean over shuffles).
    params : dict, optional
        Hyper-parameters by classifier name: ``params[base]`` (or ``params["base"]``) for the
        per-cell kernel, ``params[stacker]`` for each stacker.
    seed : int, optional
        Seed of randomised stackers (default: the plan's seed).
    memory_fraction : float
        Fraction of the backend's free memory one batch of per-cell problems may use; label
        sets (then cells) are chunked to stay under it.
    progress : callable(done, total), optional
        Called after each label set.
    votes : KeptPredictions, optional
        Per-cell predictions already solved on this plan by ``base`` with the same
        hyper-parameters, class weight, standardisation and features (single-cell decoding's,
        kept by :func:`gpudecode.single_cell.decode_cells`): the observed labels' votes and
        the permuted labels' test-slot votes are taken from it, and only the permuted labels'
        CV slots are solved. The same votes either way.

    Returns
    -------
    PopulationResults
        ``analysis="democracy"``, one row per stacker. ``cv_accuracy`` is all NaN, shape
        (n_stackers, n_shuffles, n_folds): the CV folds are spent on the out-of-fold votes,
        and an honest inner CV score of the stacker would need a third level of nesting.
    """
    plan = _check(plan, epochs, metric, class_weight, window_frames, step_frames)
    names = [c.name for c in parse_classifiers(stackers, batched=False)]
    clf = get_classifier(base, batched=True, field="--democracy-base")
    backend = backend or Backend.from_device("auto")
    seed = plan.seed if seed is None else seed
    extra = params or {}
    base_params = {**clf.params, **extra.get("base", extra.get(base, {}))}
    t0 = time.perf_counter()
    X = window_features(epochs, window_frames, step_frames, backend)
    timing = {"features_s": time.perf_counter() - t0, "base_s": 0.0, "stack_s": 0.0}
    n_cells, _, n_feat = X.shape
    L, S, k = plan.Y_.shape[0], plan.n_shuffles, plan.n_folds
    _check_votes(votes, base, base_params, class_weight, plan,
                 {"window_frames": window_frames, "step_frames": step_frames})
    budget = chunk_budget_bytes(backend, memory_fraction)
    scores = Scores.empty(len(names), 1, plan)
    solved = 0
    # The null reruns both levels, so permuted labels need the CV slots' votes too.
    for job in label_jobs(plan, null_slots="all"):
        if votes is not None:
            job = LabelJob(job.label_sets, np.setdiff1d(
                job.slots, votes.known_slots(job.label_sets.start)))
        chunk = (job_chunk(X.shape, plan, job, backend, budget, clf.label_sets_together)
                 if len(job.slots) else [n_cells, 1])
        t1 = time.perf_counter()
        for labels, cell_votes in _all_votes(X, plan, clf, job, chunk, votes, backend=backend,
                                             class_weight=class_weight, params=base_params):
            timing["base_s"] += time.perf_counter() - t1
            t1 = time.perf_counter()
            stacked = predict_stackers(cell_votes, plan, labels, names, backend=backend,
                                       seed=seed, class_weight=class_weight, params=extra)
            for i, lab in enumerate(range(labels.start, labels.stop)):
                _record_stackers(scores, plan, lab, stacked[:, i])
            if progress is not None:  # per chunk: its base votes come first, all at once
                progress(labels.stop, L)
            timing["stack_s"] += time.perf_counter() - t1
            t1 = time.perf_counter()
        solved += n_cells * job.n_label_sets * len(job.slots)
    scores = scores.unit(0)
    n_stack_features = int(n_cells * (1 if plan.n_classes == 2 else plan.n_classes))
    engines = [stacker_engine(name, n_stack_features) for name in names]
    timing["total_s"] = time.perf_counter() - t0
    timing["n_base_problems"] = int(n_cells * L * plan.n_slots)
    timing["n_base_problems_solved"] = int(solved)
    timing["n_stacker_fits"] = int(len(names) * L * S)
    return PopulationResults(
        **scores.arrays(), analysis="democracy", classifiers=names, classes=plan.classes_,
        p_value=scores.p_values(metric), engines=engines, timing=timing,
        params={"classifiers": names, "stackers": names, "base": base,
                "base_params": base_params, "window": window_frames, "step": step_frames,
                "standardize_base": True, "class_weight": class_weight, "metric": metric,
                "seed": seed, "n_cells": int(n_cells), "n_features_per_cell": int(n_feat),
                "n_stacker_features": n_stack_features,
                "n_shuffles": S, "n_folds": k, "n_permutations": L - 1,
                "test_size": plan.test_size, "plan_seed": plan.seed,
                "engines": dict(zip(names, engines)),
                "base_votes_reused": votes is not None,
                "classifier_params": {n: extra.get(n, {}) for n in names},
                "chunking": {"cells": int(chunk[0]), "label_sets": int(chunk[1])}})


def _check_votes(votes: KeptPredictions | None, base: str, base_params: dict, class_weight,
                 plan: SplitPlan, features: dict) -> None:
    """Kept votes must be of the same per-cell problems, or reusing them would be wrong."""
    if votes is None:
        return
    same = (votes.classifier == base and votes.params == base_params
            and votes.class_weight == class_weight and votes.standardize
            and votes.features == features and votes.solved_on(plan))
    if not same:
        raise ParameterError(f"the kept votes ({votes.classifier}, {votes.params}, "
                             f"class_weight={votes.class_weight}, {votes.features}) are not "
                             f"of democracy's per-cell problems ({base}, {base_params}, "
                             f"class_weight={class_weight}, {features}) on this plan",
                             field="votes", fix="pass votes kept by decode_cells with the same "
                             "base classifier, parameters, features and plan, or none")


def _all_votes(X: np.ndarray, plan: SplitPlan, clf, job: LabelJob, chunk: list[int],
               kept: KeptPredictions | None, **kw):
    """Every cell's votes on every slot, chunk of label sets by chunk.

    Solves ``job`` (its slots; none when ``kept`` holds them all) and fills the slots
    ``kept`` holds. Yields ``(label_sets, votes)``, ``votes`` of shape (n_cells,
    n_labelsets_chunk, n_slots, max_test), int32, -1 at padding.
    """
    n_cells, width = X.shape[0], plan.test_idx_.shape[1]

    def empty(labels):
        out = np.full((n_cells, labels.stop - labels.start, plan.n_slots, width), -1, np.int32)
        if kept is not None:
            kept.fill(slice(0, n_cells), labels, out)
        return out

    start, stop = job.label_sets.start, job.label_sets.stop
    if len(job.slots) == 0:
        for la in range(start, stop, chunk[1]):
            labels = slice(la, min(stop, la + chunk[1]))
            yield labels, empty(labels)
        return
    for units, labels, pred in predict_batched(X, plan, clf, job, chunk=chunk, **kw):
        if units.start == 0:
            votes = empty(labels)
        votes[units, :, job.slots] = pred
        if units.stop == n_cells:       # every cell's votes on these label sets
            yield labels, votes


def _record_stackers(scores: Scores, plan: SplitPlan, labelset: int, stacked: np.ndarray):
    """Score the stackers' test predictions (n_stackers, n_shuffles, max_test) of one label
    set; each stacker is a classifier row of ``scores``."""
    acc, bal = score_predictions(stacked[:, None], plan.Y_[labelset:labelset + 1],
                                 plan.test_idx_[plan.test_slots], plan.n_classes)
    for row in range(stacked.shape[0]):
        scores.record(plan, row, slice(0, 1), slice(labelset, labelset + 1), plan.test_slots,
                      acc[row:row + 1], bal[row:row + 1])


def stacker_engine(name: str, n_features: int) -> str:
    """How a stacker is fit: ``stacked-batched`` (its batched kernel on unscaled votes, one
    fit per problem) where :func:`gpudecode.engine.choose_engine` gives it a kernel for
    ``n_features`` vote columns, ``stacked`` (one scikit-learn or cuML fit per problem)
    otherwise."""
    engine = choose_engine(name, n_features, None, standardize=False)
    return "stacked" if engine == "pipeline" else "stacked-batched"


def predict_stackers(votes: np.ndarray, plan: SplitPlan, label_sets: slice, names: list[str],
                     *, backend: Backend, seed: int = 0, class_weight: str | None = None,
                     params: dict | None = None) -> np.ndarray:
    """Fit every stacker on every (label set, shuffle) and predict its test trials.

    Parameters
    ----------
    votes : ndarray of int, shape (n_cells, n_labelsets, n_slots, max_test)
        Per-cell predictions of the label sets ``label_sets`` on every slot
        (:func:`predict_cells`).
    plan : SplitPlan
    label_sets : slice
        Rows of ``plan.Y_`` the votes are for (explicit start and stop).
    names : list of str
        Stacker classifier names.
    backend : Backend
    seed : int
        Seed of randomised stackers.
    class_weight : {None, "balanced"}
    params : dict, optional
        Hyper-parameters by stacker name.

    Returns
    -------
    ndarray of int32, shape (n_stackers, n_labelsets, n_shuffles, max_test)
        The stackers' test predictions; -1 at padding.
    """
    params = params or {}
    n_sets = votes.shape[1]
    S, width = plan.n_shuffles, plan.test_idx_.shape[1]
    out = np.full((len(names), n_sets, S, width), -1, dtype=np.int32)
    A, B, train, test = [], [], [], []
    for i in range(n_sets):
        for s in range(S):
            votes_tr, votes_te, tr, ts = stacker_rows(votes[:, i], plan, s)
            A.append(encode_votes(votes_tr, plan.n_classes))
            B.append(encode_votes(votes_te, plan.n_classes))
            train.append(tr)
            test.append(ts)
    n_train = np.array([t.size for t in train])
    n_test = np.array([t.size for t in test])
    n_rows = int((n_train + n_test).max())
    n_feat = A[0].shape[1]
    rows = np.zeros((n_sets * S, n_rows, n_feat), dtype=np.float32)
    labels = np.zeros((n_sets * S, n_rows), dtype=np.int32)
    for p in range(n_sets * S):
        y = plan.Y_[label_sets.start + p // S]
        rows[p, :n_train[p]] = A[p]
        rows[p, n_train[p]:n_train[p] + n_test[p]] = B[p]
        labels[p, :n_train[p] + n_test[p]] = y[np.concatenate([train[p], test[p]])]
    for j, name in enumerate(names):
        if stacker_engine(name, n_feat) == "stacked-batched":
            # predict_blocks passes random_state on only to kernels that take one.
            pred = predict_blocks(rows, labels, n_train, n_test, plan.n_classes,
                                  get_classifier(name), backend=backend,
                                  class_weight=class_weight, standardize=False,
                                  params={"random_state": seed, **params.get(name, {})},
                                  test_width=width, first_problem=label_sets.start * S)
            out[j] = pred.reshape(n_sets, S, width)
        else:
            for i in range(n_sets):
                y = plan.Y_[label_sets.start + i]
                out[j, i] = _stack_labelset(votes[:, i], y, plan, [name], gpu=backend.is_gpu,
                                            seed=seed, class_weight=class_weight,
                                            params=params)[0]
    return out


def _stack_labelset(pred: np.ndarray, y: np.ndarray, plan: SplitPlan, names: list[str], *,
                    gpu: bool, seed: int, class_weight, params: dict) -> np.ndarray:
    """Fit every stacker on every shuffle of one label set.

    ``pred`` (n_cells, n_slots, max_test) are the per-cell votes of that label set, ``y``
    its class codes (n_trials,). Returns the stackers' test predictions, shape
    (n_stackers, n_shuffles, max_test), -1 padded.
    """
    out = np.full((len(names), plan.n_shuffles, plan.test_idx_.shape[1]), -1, dtype=np.int32)
    # Each stacker fit is tiny: multi-threaded BLAS / OpenMP only adds overhead to it.
    limits = threadpool_limits(1) if threadpool_limits is not None else contextlib.nullcontext()
    with limits, warnings.catch_warnings():
        # Constant vote columns and slow convergence on tiny folds are expected here.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        for s in range(plan.n_shuffles):
            votes_tr, votes_te, tr, ts = stacker_rows(pred, plan, s)
            A = encode_votes(votes_tr, plan.n_classes)
            B = encode_votes(votes_te, plan.n_classes)
            for i, name in enumerate(names):
                model = make_pipeline(name, standardize=False, gpu=gpu, seed=seed,
                                      class_weight=class_weight, params=params.get(name, {}))
                model.fit(A, y[tr])
                out[i, s, :ts.size] = Backend.to_host(model.predict(B)).astype(np.int32)
    return out

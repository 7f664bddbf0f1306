"""Time-resolved population decoding: one decoder per window across the epoch.

Each window's mean activity of every cell (trials x cells) is one feature matrix; the
windows are independent units of :func:`gpudecode.engine.solve_batched`, so every
window x label set x slot of the split plan is solved in one batched call per classifier.
Optionally, temporal generalisation fits at window t and tests at every window t'.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .backend import Backend
from .classifiers import Classifier, parse_classifiers
from .engine import solve_batched
from .errors import ParameterError
from .estimators import make_pipeline
from .features import timecourse_features
from .results import DecodingResults
from .sklearn_warnings import summarize_constant_features
from .splits import SplitPlan, check_scoring, fitted_plan, score_predictions
from .stats import fdr_bh
from .trials import Epochs

__all__ = ["TIMECOURSE_COLUMNS", "TIME_UNITS", "TimecourseResults", "decode_timecourse",
           "to_frames"]

TIMECOURSE_COLUMNS = ("time", "classifier", "accuracy", "balanced_accuracy", "p_value",
                      "q_value", "significant", "null_mean", "null_p95", "metric")
TIME_UNITS = ("frames", "s")


@dataclass(kw_only=True)
class TimecourseResults(DecodingResults):
    """Per-window decoding results for every classifier (fields of
    :class:`gpudecode.results.DecodingResults`, with a window axis).

    Attributes
    ----------
    times : ndarray of float64, shape (n_windows,)
        Window centres in s relative to the anchor.
    test_accuracy, test_balanced : ndarray, shape (n_classifiers, n_windows, n_shuffles)
    cv_accuracy : ndarray, shape (n_classifiers, n_windows, n_shuffles, n_folds)
    null_accuracy, null_balanced : ndarray, shape (n_classifiers, n_windows, n_permutations)
        Mean test accuracy over shuffles for each permuted label set.
    p_value : ndarray, shape (n_classifiers, n_windows)
        Permutation p-value of the chosen metric (NaN without permutations).
    q_value : ndarray, shape (n_classifiers, n_windows)
        Benjamini-Hochberg q across the windows of each classifier.
    significant : ndarray of bool, shape (n_classifiers, n_windows)
        ``q < alpha``.
    generalization : dict of str -> ndarray, shape (n_windows, n_windows), or None
        Mean test score over shuffles of the tested metric (``params["metric"]``), trained at
        the row's window and tested at the column's window (observed labels only).
    """

    times: np.ndarray
    q_value: np.ndarray
    significant: np.ndarray
    generalization: dict | None = None

    def rows(self) -> list[dict]:
        """One row per window x classifier, the ``timecourse.csv`` contract.

        ``null_mean`` and ``null_p95`` describe the permutation null of the tested statistic,
        the one ``metric`` names: ``balanced_accuracy`` for "balanced", ``accuracy`` for
        "accuracy" (NaN without permutations).
        """
        metric = self.metric
        nulls = self.tested(metric)[1]
        rows = []
        for k, clf in enumerate(self.classifiers):
            for w, t in enumerate(self.times):
                null = nulls[k, w]
                rows.append({
                    "time": float(t), "classifier": clf,
                    "accuracy": float(self.test_accuracy[k, w].mean()),
                    "balanced_accuracy": float(self.test_balanced[k, w].mean()),
                    "p_value": float(self.p_value[k, w]),
                    "q_value": float(self.q_value[k, w]),
                    "significant": bool(self.significant[k, w]),
                    "null_mean": float(null.mean()) if null.size else float("nan"),
                    "null_p95": float(np.percentile(null, 95)) if null.size else float("nan"),
                    "metric": metric,
                })
        return rows

    def onset(self, classifier: str | None = None, run: int = 2) -> float | None:
        """Centre time of the first window of the first ``run`` consecutive significant windows.

        Parameters
        ----------
        classifier : str, optional
            Default: the first classifier.
        run : int
            Consecutive significant windows required.

        Returns
        -------
        float or None
            None when no such stretch exists.
        """
        name = self.classifiers[0] if classifier is None else classifier
        if name not in self.classifiers:
            raise ParameterError(f"no time-resolved results for classifier {name!r}",
                                 field="classifier",
                                 fix=f"use one of: {', '.join(self.classifiers)}")
        sig = self.significant[self.classifiers.index(name)]
        count = 0
        for w, s in enumerate(sig):
            count = count + 1 if s else 0
            if count >= run:
                return float(self.times[w - run + 1])
        return None


def _parse_batched(classifiers) -> list[Classifier]:
    return parse_classifiers(classifiers, batched=True, reason=(
        "time-resolved decoding fits one model per window, split and permutation with the "
        "batched classifiers only"))


def to_frames(value, unit: str, frame_interval: float, name: str) -> int:
    """A window width or step in frames (``unit`` "s" is rounded to whole frames, at least 1).

    ``name`` is the option, ``time-window`` or ``time-step``.
    """
    flag = f"--{name}"
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if isinstance(value, bool) or not np.isfinite(v) or v <= 0:
        raise ParameterError(f"{name} must be a positive number, got {value!r}", field=flag,
                             fix=f"pass e.g. {flag} 8 (frames) or {flag} 0.25 with --time-unit s")
    if unit == "s":
        return max(1, round(v / frame_interval))
    if v != int(v):
        raise ParameterError(f"{name} {value!r} is not a whole number of frames", field=flag,
                             fix="give whole frames, or seconds with --time-unit s")
    return int(v)


def _window_frames(epochs: Epochs, time_window, time_step, time_unit: str) -> tuple[int, int]:
    """Window width and step in whole frames; ParameterError for a bad unit or a window
    longer than the epoch."""
    if time_unit not in TIME_UNITS:
        raise ParameterError(f"unknown time unit {time_unit!r}", field="--time-unit",
                             fix="use 'frames' or 's'")
    width = to_frames(time_window, time_unit, epochs.frame_interval, "time-window")
    stride = to_frames(time_step, time_unit, epochs.frame_interval, "time-step")
    if width > epochs.n_frames:
        dur = epochs.n_frames * epochs.frame_interval
        raise ParameterError(
            f"window of {width} frames ({width * epochs.frame_interval:.3g} s) is longer than "
            f"the epoch ({epochs.n_frames} frames, {dur:.3g} s)", field="--time-window",
            fix="use a shorter --time-window or a longer trial window (--pre/--post)")
    return width, stride


def _generalization(X: np.ndarray, plan: SplitPlan, name: str, *, standardize: bool,
                    class_weight, params: dict, seed: int, metric: str) -> np.ndarray:
    """Mean test score over shuffles, trained at window t (rows), tested at t' (columns).

    Parameters
    ----------
    X : ndarray, shape (n_windows, n_trials, n_cells)
    metric : {"accuracy", "balanced"}

    Returns
    -------
    ndarray of float64, shape (n_windows, n_windows)
    """
    n_win = X.shape[0]
    observed = plan.Y_[:1]
    y = observed[0]
    acc = np.zeros((n_win, n_win))
    with warnings.catch_warnings(), \
            summarize_constant_features("cells", f"the temporal generalisation {name} fits",
                                        X.shape[2]):
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        for slot in plan.test_slots:
            tr, te = plan.slot_trials(slot)
            for t in range(n_win):
                model = make_pipeline(name, standardize=standardize, seed=seed,
                                      class_weight=class_weight, params=params)
                model.fit(X[t][tr], y[tr])
                pred = np.asarray(model.predict(X[:, te].reshape(-1, X.shape[2])))
                plain, balanced = score_predictions(pred.reshape(n_win, 1, 1, te.size),
                                                    observed, te[None], plan.n_classes)
                acc[t] += (balanced if metric == "balanced" else plain)[:, 0, 0]
    return acc / plan.test_slots.size


def decode_timecourse(epochs: Epochs, plan: SplitPlan | None = None, classifiers="linear-svm", *,
                      time_window: float = 8, time_step: float = 4, time_unit: str = "frames",
                      backend: Backend | None = None, class_weight: str | None = None,
                      standardize: bool = True, metric: str = "accuracy", alpha: float = 0.05,
                      generalization: bool = False, params: dict | None = None,
                      progress: Callable[[int, int], None] | None = None) -> TimecourseResults:
    """Decode the trial label from the population in successive windows across the epoch.

    Parameters
    ----------
    epochs : Epochs
        Trials x cells x frames with labels.
    plan : SplitPlan, optional
        Shuffles, folds and permutations; fit on ``epochs.labels`` here when not yet fit
        (``SplitPlan()`` when omitted). Shared by every window, so windows are paired.
    classifiers : str or list of str
        Names from :data:`gpudecode.classifiers.BATCHED_CLASSIFIERS`.
    time_window, time_step : float
        Window width and step between window starts, in ``time_unit``.
    time_unit : {"frames", "s"}
        Seconds are converted with ``epochs.frame_interval`` and rounded to whole frames.
    backend : Backend, optional
    class_weight : {None, "balanced"}
    standardize : bool
        Standardise features with training-trial statistics of each problem.
    metric : {"accuracy", "balanced"}
        Statistic tested against the permutation null (mean over shuffles).
    alpha : float
        FDR level (Benjamini-Hochberg across windows) for ``significant``.
    generalization : bool
        Also compute the temporal generalisation matrix of ``metric`` for every classifier
        (scikit-learn pipelines of the same name, one fit per window and test split).
    params : dict, optional
        Hyper-parameters per classifier name, e.g. ``{"linear-svm": {"C": 0.1}}``.
    progress : callable(done, total), optional

    Returns
    -------
    TimecourseResults
    """
    check_scoring(metric, class_weight)
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha must lie in (0, 1), got {alpha!r}", field="--alpha",
                             fix="pass e.g. --alpha 0.05")
    clfs = _parse_batched(classifiers)
    width, stride = _window_frames(epochs, time_window, time_step, time_unit)
    backend = backend or Backend.from_device("auto")
    plan = fitted_plan(plan, epochs.labels)
    extra = params or {}
    t0 = time.perf_counter()
    X, times = timecourse_features(epochs, width, stride, backend)
    timing = {"features_s": time.perf_counter() - t0}
    scores = solve_batched(X, plan, clfs, backend=backend, class_weight=class_weight,
                           standardize=standardize, params=extra, progress=progress,
                           timing=timing)
    p = scores.p_values(metric)
    q = fdr_bh(p)
    gen = None
    if generalization:
        t1 = time.perf_counter()
        gen = {c.name: _generalization(X, plan, c.name, standardize=standardize,
                                       class_weight=class_weight,
                                       params=extra.get(c.name, {}), seed=plan.seed,
                                       metric=metric)
               for c in clfs}
        timing["generalization_s"] = time.perf_counter() - t1
    L, S, k = plan.Y_.shape[0], plan.n_shuffles, plan.n_folds
    timing["total_s"] = time.perf_counter() - t0
    run_params = {
        "classifiers": [c.name for c in clfs],
        "classifier_params": {c.name: {**c.params, **extra.get(c.name, {})} for c in clfs},
        "window": time_window, "step": time_step, "window_unit": time_unit,
        "window_frames": width, "step_frames": stride, "n_windows": int(times.size),
        "n_shuffles": S, "test_size": plan.test_size, "n_folds": k, "n_permutations": L - 1,
        "seed": plan.seed, "class_weight": class_weight, "standardize": standardize,
        "metric": metric, "alpha": alpha, "generalization": bool(generalization),
        "n_features": int(X.shape[2]),
    }
    return TimecourseResults(
        **scores.arrays(), classifiers=[c.name for c in clfs], classes=plan.classes_,
        times=times, p_value=p, q_value=q,
        significant=np.where(np.isfinite(q), q, 1.0) < alpha, generalization=gen,
        params=run_params, timing=timing)

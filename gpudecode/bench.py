"""Benchmarks: gpudecode against the study's scikit-learn loop, on one simulated session.

Timings are reported as ratios measured in the same run; nothing here is asserted in tests.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from .backend import Backend
from .simulate import simulate_session
from .single_cell import decode_cells, window_features
from .splits import SplitPlan
from .trials import Epochs, TrialSpec, make_epochs

__all__ = ["study_session", "sklearn_study_loop", "bench_single_cell", "SKLEARN_EQUIVALENTS"]


def _sklearn_estimator(name: str, params: dict):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, LinearSVC
    from sklearn.tree import DecisionTreeClassifier
    est = {
        "linear-svm": lambda: LinearSVC(loss="hinge", C=params.get("C", 1.0), max_iter=10000),
        "logistic": lambda: LogisticRegression(C=params.get("C", 1.0)),
        "lda": lambda: LinearDiscriminantAnalysis(solver="lsqr",
                                                  shrinkage=params.get("shrinkage", "auto")),
        "rbf-svm": lambda: SVC(kernel="rbf", C=params.get("C", 1.0)),
        "tree": lambda: DecisionTreeClassifier(max_depth=params.get("max_depth"), random_state=0),
    }[name]()
    return make_pipeline(StandardScaler(), est)


SKLEARN_EQUIVALENTS = ("linear-svm", "logistic", "lda", "rbf-svm", "tree")


def study_session(n_cells: int = 109, n_trials: int = 36, n_frames: int = 64, seed: int = 0):
    """A simulated session cut to the study's shape: trials x cells x ``n_frames`` frames.

    Returns
    -------
    Epochs
        ``n_trials`` trials (Correct vs Incorrect, correction trials excluded).
    """
    sess, _ = simulate_session(n_cells=n_cells, n_trials=n_trials, session_index=4, seed=seed)
    half = n_frames / 2 / sess.frame_rate
    spec = TrialSpec(anchors=("Correct", "Incorrect"), pre=half, post=half,
                     exclude_events=("Start Correction Trial",), exclude_within=12.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = make_epochs(sess, spec)
    if ep.n_frames != n_frames:
        ep = Epochs(ep.data[:, :, :n_frames], ep.labels, ep.times[:n_frames], ep.trials,
                    ep.cell_ids, ep.dropped, ep.spec, ep.frame_interval)
    return ep


def sklearn_study_loop(X: np.ndarray, plan: SplitPlan, classifiers, params: dict | None = None,
                       n_cells: int | None = None):
    """The study's loop: per cell and shuffle, fit + score, and ``cross_val_score`` on 5 folds.

    The loop is the study's (one scikit-learn fit per cell x split x classifier, test score
    plus cross_val_score on the training part) but it takes its splits from ``plan`` so the
    accuracies can be compared problem by problem, and it standardises inside a pipeline as
    gpudecode does.

    Parameters
    ----------
    X : ndarray, shape (n_cells, n_trials, n_features)
    plan : SplitPlan (fitted)
    classifiers : list of str
    n_cells : int, optional
        Only the first ``n_cells`` cells (to time a subset).

    Returns
    -------
    test_acc : ndarray, shape (n_classifiers, n_cells, n_shuffles)
    cv_acc : ndarray, shape (n_classifiers, n_cells, n_shuffles)
        Mean CV accuracy per shuffle.
    n_fits : int
    """
    from sklearn.model_selection import cross_val_score

    from .classifiers import get_classifier
    params = {name: {**get_classifier(name).params, **(params or {}).get(name, {})}
              for name in classifiers}
    y = plan.Y_[0]
    n_cells = X.shape[0] if n_cells is None else n_cells
    S = plan.n_shuffles
    test_acc = np.empty((len(classifiers), n_cells, S))
    cv_acc = np.empty((len(classifiers), n_cells, S))
    n_fits = 0
    cv_slots = plan.cv_slots
    for ki, name in enumerate(classifiers):
        for c in range(n_cells):
            for s, slot in enumerate(plan.test_slots):
                tr = plan.train_idx_[slot, :plan.n_train_[slot]]
                te = plan.test_idx_[slot, :plan.n_test_[slot]]
                clf = _sklearn_estimator(name, params.get(name, {}))
                clf.fit(X[c, tr], y[tr])
                test_acc[ki, c, s] = clf.score(X[c, te], y[te])
                pos = {t: i for i, t in enumerate(tr)}
                folds = [(np.array([pos[t] for t in plan.train_idx_[f, :plan.n_train_[f]]]),
                          np.array([pos[t] for t in plan.test_idx_[f, :plan.n_test_[f]]]))
                         for f in cv_slots[s]]
                cv_acc[ki, c, s] = cross_val_score(_sklearn_estimator(name, params.get(name, {})),
                                                   X[c, tr], y[tr], cv=folds).mean()
                n_fits += 1 + len(folds)
    return test_acc, cv_acc, n_fits


def bench_single_cell(*, n_cells: int = 109, n_trials: int = 36, n_frames: int = 64,
                      window: int = 4, shuffles: int = 50, folds: int = 5,
                      classifiers=("linear-svm", "logistic", "tree"), permutations: int = 1000,
                      baseline_cells: int | None = None, device: str = "auto", seed: int = 0,
                      params: dict | None = None) -> dict:
    """Time gpudecode and the study's loop on the same session and the same splits.

    Returns a dict with seconds, fits per second, the ratio, the largest per-cell accuracy
    difference, and the permutation workload's time.
    """
    backend = Backend.from_device(device)
    ep = study_session(n_cells, n_trials, n_frames, seed)
    plan = SplitPlan(n_shuffles=shuffles, n_folds=folds, seed=seed).fit(ep.labels)
    classifiers = list(classifiers)
    # Warm-up compiles the kernels, so compile time is not counted as throughput.
    two_cells = Epochs(ep.data[:, :2], ep.labels, ep.times, ep.trials, ep.cell_ids[:2],
                       ep.dropped, ep.spec, ep.frame_interval)
    decode_cells(two_cells, plan, classifiers=classifiers, window=window, backend=backend,
                 params=params)
    t = time.perf_counter()
    res = decode_cells(ep, plan, classifiers=classifiers, window=window, backend=backend,
                       params=params)
    ours_s = time.perf_counter() - t
    X = window_features(ep, window, 1, backend)
    n_base = X.shape[0] if baseline_cells is None else min(baseline_cells, X.shape[0])
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk_test, sk_cv, n_fits_base = sklearn_study_loop(X, plan, classifiers, params, n_base)
    base_s = (time.perf_counter() - t) * (X.shape[0] / n_base)
    n_fits = len(classifiers) * X.shape[0] * plan.n_slots
    ours_cv = res.cv_accuracy.mean(-1)
    out = {
        "device": backend.reason, "n_cells": int(X.shape[0]), "n_trials": int(ep.n_trials),
        "n_features": int(X.shape[2]), "shuffles": shuffles, "folds": folds,
        "classifiers": classifiers, "n_fits": int(n_fits),
        "gpudecode_s": ours_s, "sklearn_s": base_s,
        "sklearn_extrapolated_from_cells": None if n_base == X.shape[0] else n_base,
        "gpudecode_fits_per_s": n_fits / ours_s, "sklearn_fits_per_s": n_fits / base_s,
        "speedup": base_s / ours_s,
        "max_abs_diff_cell_test_accuracy": float(np.abs(
            res.test_accuracy[:, :n_base].mean(-1) - sk_test.mean(-1)).max()),
        "max_abs_diff_cell_cv_accuracy": float(np.abs(
            ours_cv[:, :n_base].mean(-1) - sk_cv.mean(-1)).max()),
        "per_classifier_s": {k: v for k, v in res.timing.items() if k.endswith("_s")},
    }
    if permutations:
        pplan = SplitPlan(n_shuffles=shuffles, n_folds=folds, n_permutations=permutations,
                          seed=seed).fit(ep.labels)
        t = time.perf_counter()
        pres = decode_cells(ep, pplan, classifiers=classifiers, window=window, backend=backend,
                            params=params)
        out["permutations"] = permutations
        out["permutation_s"] = time.perf_counter() - t
        out["permutation_fits"] = pres.timing["n_problems"]
        out["permutation_fits_per_s"] = pres.timing["n_problems"] / out["permutation_s"]
    return out

"""Population decoding from one fixed feature matrix per trial (summed activity, correlations).

Every classifier sees the same split plan as single-cell decoding, so all models are paired.
Two engines solve the plan's problems:

- ``batched``: the batched kernels of :mod:`gpudecode.classifiers` (one "unit", every label
  set x slot at once). The RBF SVM on unscaled features computes one distance matrix over all
  trials and takes sub-blocks per split and permutation
  (:func:`gpudecode.kernels.rbf_svm.fit_predict_rbf_svm_fixed`).
- ``pipeline``: a scikit-learn ``Pipeline`` (``[scaler] -> [SelectKBest] -> estimator``,
  cuML estimators on the GPU) fit on each slot's training trials. Used for in-fold feature
  selection (the selected features differ per split and per permutation), for the random
  forest, and for logistic / LDA with many features (their batched kernels solve a
  features x features system per problem).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .backend import Backend
from .classifiers import MAX_BATCHED_LINEAR_FEATURES, get_classifier, parse_classifiers
from .errors import ParameterError, ShapeError
from .estimators import make_pipeline
from .features import correlation_features, summed_features
from .single_cell import run_batched
from .splits import SplitPlan, check_scoring, score_predictions
from .stats import permutation_pvalues
from .trials import Epochs

__all__ = ["PopulationResults", "decode_features", "decode_summed", "decode_correlations",
           "choose_engine", "MAX_BATCHED_LINEAR_FEATURES"]


@dataclass
class PopulationResults:
    """Population decoding results of one analysis for every classifier.

    Attributes
    ----------
    analysis : str
        ``summed``, ``correlation``, ``democracy``...
    classifiers : list of str
    classes : ndarray, shape (n_classes,)
    test_accuracy, test_balanced : ndarray, shape (n_classifiers, n_shuffles)
    cv_accuracy : ndarray, shape (n_classifiers, n_shuffles, n_folds)
        NaN where the analysis defines no inner CV score (democracy).
    null_accuracy, null_balanced : ndarray, shape (n_classifiers, n_permutations)
        Mean test accuracy over shuffles for each permuted label set.
    p_value : ndarray, shape (n_classifiers,)
        Permutation p-value of the chosen metric (NaN without permutations).
    engines : list of str
        Which engine solved each classifier (``batched``, ``batched-gram``, ``pipeline``).
    params : dict
    timing : dict
    """

    analysis: str
    classifiers: list[str]
    classes: np.ndarray
    test_accuracy: np.ndarray
    test_balanced: np.ndarray
    cv_accuracy: np.ndarray
    null_accuracy: np.ndarray
    null_balanced: np.ndarray
    p_value: np.ndarray
    engines: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)


def choose_engine(name: str, n_features: int, select_k: int | None, standardize: bool) -> str:
    """Which engine solves classifier ``name`` (see the module docstring)."""
    if select_k is not None and select_k < n_features:
        return "pipeline"
    clf = get_classifier(name)
    if not clf.batched:
        return "pipeline"
    if clf.gram_function is not None and not standardize:
        return "batched-gram"
    if clf.max_batched_features is not None and n_features > clf.max_batched_features:
        return "pipeline"
    return "batched"


def _check_features(X, plan: SplitPlan) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ShapeError(f"population features must be trials x features, got shape {X.shape}",
                         field="features", fix="pass a 2-D array, one row per trial")
    if X.shape[0] != plan.Y_.shape[1]:
        raise ShapeError(f"{X.shape[0]} feature rows but the split plan has "
                         f"{plan.Y_.shape[1]} trials", field="features",
                         fix="fit the plan on the labels of the same trials")
    if not np.isfinite(X).all():
        raise ParameterError("population features contain NaN or infinite values",
                             field="features", fix="interpolate gaps (--interpolate-gaps) or "
                                                   "drop the cells with missing frames")
    return np.ascontiguousarray(X, dtype=np.float32)


def _label_jobs(plan: SplitPlan):
    """(label set, slots) pairs: observed labels on every slot, permutations on test slots."""
    yield 0, np.arange(plan.n_slots)
    for lab in range(1, plan.Y_.shape[0]):
        yield lab, plan.test_slots


def _pipeline_scores(X, plan: SplitPlan, name: str, *, select_k, standardize, gpu, seed,
                     class_weight, params, progress=None):
    """Fit one pipeline per (label set, slot); accuracies as :func:`run_batched` returns them."""
    L, S, k = plan.Y_.shape[0], plan.n_shuffles, plan.n_folds
    kk = None if select_k is None else int(min(select_k, X.shape[1]))
    out = {"test_accuracy": np.empty(S), "test_balanced": np.empty(S),
           "cv_accuracy": np.empty((S, k)), "null_accuracy": np.empty(L - 1),
           "null_balanced": np.empty(L - 1)}
    with warnings.catch_warnings():
        # Constant features (f_classif) and slow convergence on tiny folds are expected here.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        from sklearn.exceptions import ConvergenceWarning
        warnings.simplefilter("ignore", ConvergenceWarning)
        for lab, slots in _label_jobs(plan):
            y = plan.Y_[lab]
            te = plan.test_idx_[slots]
            pred = np.full(te.shape, -1, dtype=np.int32)
            for row, s in enumerate(slots):
                tr = plan.train_idx_[s, :plan.n_train_[s]]
                ts = te[row, :plan.n_test_[s]]
                model = make_pipeline(name, standardize=standardize, select_k=kk, gpu=gpu,
                                      seed=seed, class_weight=class_weight, params=params)
                model.fit(X[tr], y[tr])
                pred[row, :ts.size] = np.asarray(model.predict(X[ts])).astype(np.int32)
            acc, bal = score_predictions(pred[None], plan.Y_[lab:lab + 1], te, plan.n_classes)
            if lab == 0:
                pos = {s: i for i, s in enumerate(slots)}
                out["test_accuracy"][:] = acc[0, [pos[s] for s in plan.test_slots]]
                out["test_balanced"][:] = bal[0, [pos[s] for s in plan.test_slots]]
                if k:
                    out["cv_accuracy"][:] = acc[0, [[pos[s] for s in row] for row in plan.cv_slots]]
            else:
                out["null_accuracy"][lab - 1] = acc[0].mean()
                out["null_balanced"][lab - 1] = bal[0].mean()
            if progress is not None:
                progress(lab + 1, L)
    return out


def _gram_scores(X, plan: SplitPlan, name: str, *, gpu: bool, class_weight, params):
    """One distance matrix over all trials (RBF SVM), sub-blocks per slot and label set."""
    fit = get_classifier(name).gram_kernel(gpu)
    L, k = plan.Y_.shape[0], plan.n_folds
    out = {}
    for lab, slots in ((0, np.arange(plan.n_slots)), (1, plan.test_slots)):
        if lab == 1 and L == 1:
            out["null_accuracy"] = np.empty(0)
            out["null_balanced"] = np.empty(0)
            break
        Y = plan.Y_[:1] if lab == 0 else plan.Y_[1:]
        te = plan.test_idx_[slots]
        pred = fit(X, Y, plan.train_idx_[slots], plan.n_train_[slots], te, plan.n_test_[slots],
                   plan.n_classes, class_weight_balanced=class_weight == "balanced", **params)
        pred = Backend.to_host(pred)
        acc, bal = score_predictions(pred, Y, te, plan.n_classes)
        if lab == 0:
            out["test_accuracy"] = acc[0, plan.test_slots]
            out["test_balanced"] = bal[0, plan.test_slots]
            out["cv_accuracy"] = acc[0, plan.cv_slots] if k else np.empty((plan.n_shuffles, 0))
        else:
            out["null_accuracy"] = acc.mean(-1)
            out["null_balanced"] = bal.mean(-1)
    return out


def decode_features(X, plan: SplitPlan, classifiers="rbf-svm,linear-svm,random-forest", *,
                    analysis: str = "population", select_k: int | None = None,
                    standardize: bool = True, backend: Backend | None = None,
                    class_weight: str | None = None, metric: str = "accuracy",
                    params: dict | None = None, seed: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> PopulationResults:
    """Decode the trial label from one population feature matrix with every classifier.

    Parameters
    ----------
    X : array_like, shape (n_trials, n_features)
        One row per trial, in the order of the labels ``plan`` was fit on.
    plan : SplitPlan
        Fitted split plan (shuffles, CV folds, permutations) shared with every other model.
    classifiers : str or list of str
        Names from :data:`gpudecode.classifiers.CLASSIFIERS`.
    analysis : str
        Name recorded in the results (``summed``, ``correlation``...).
    select_k : int, optional
        Keep the ``k`` features with the largest ANOVA F score on each split's training
        trials (refit for every split, fold and permuted label set).
    standardize : bool
        Scale features with each split's training-trial mean and standard deviation.
    backend : Backend, optional
    class_weight : {None, "balanced"}
    metric : {"accuracy", "balanced"}
        Statistic tested against the permutation null (mean over shuffles).
    params : dict, optional
        Hyper-parameters per classifier name.
    seed : int, optional
        Seed of randomised models (default: the plan's seed).
    progress : callable(done, total), optional
        Called as label sets are solved, counted over all classifiers.

    Returns
    -------
    PopulationResults
    """
    check_scoring(metric, class_weight)
    if select_k is not None and (isinstance(select_k, bool) or int(select_k) < 1):
        raise ParameterError(f"--select-k must be a whole number >= 1, got {select_k!r}",
                             field="--select-k", fix="pass e.g. --select-k 50, or leave it out")
    names = [c.name for c in parse_classifiers(classifiers, batched=False)]
    X = _check_features(X, plan)
    backend = backend or Backend.from_device("auto")
    seed = plan.seed if seed is None else seed
    extra = params or {}
    n_feat = X.shape[1]
    t0 = time.perf_counter()
    parts, engines, timing = [], [], {}
    for i, name in enumerate(names):
        # progress(done, total) in label sets over all classifiers
        step = None if progress is None else (
            lambda d, t, i=i, L=plan.Y_.shape[0]: progress(i * L + d * L // t, len(names) * L))
        t1 = time.perf_counter()
        engine = choose_engine(name, n_feat, select_k, standardize)
        kw = {**(get_classifier(name).params if engine != "pipeline" else {}),
              **extra.get(name, {})}
        if engine == "batched-gram":
            res = _gram_scores(X, plan, name, gpu=backend.is_gpu, class_weight=class_weight,
                               params=kw)
        elif engine == "batched":
            res = run_batched(X[None], plan, [get_classifier(name)], backend=backend,
                              class_weight=class_weight, standardize=standardize,
                              params={name: kw}, progress=step)
            res = {key: value[0, 0] for key, value in res.items()}
        else:
            res = _pipeline_scores(X, plan, name, select_k=select_k, standardize=standardize,
                                   gpu=backend.is_gpu, seed=seed, class_weight=class_weight,
                                   params=extra.get(name, {}), progress=step)
        if step is not None:
            step(1, 1)
        parts.append(res)
        engines.append(engine)
        timing[f"{name}_s"] = time.perf_counter() - t1
    stack = {key: np.stack([p[key] for p in parts]) for key in parts[0]}
    observed = (stack["test_balanced"] if metric == "balanced" else stack["test_accuracy"]).mean(-1)
    null = stack["null_balanced"] if metric == "balanced" else stack["null_accuracy"]
    timing["total_s"] = time.perf_counter() - t0
    return PopulationResults(
        analysis=analysis, classifiers=names, classes=plan.classes_,
        test_accuracy=stack["test_accuracy"], test_balanced=stack["test_balanced"],
        cv_accuracy=stack["cv_accuracy"], null_accuracy=stack["null_accuracy"],
        null_balanced=stack["null_balanced"], p_value=permutation_pvalues(observed, null),
        engines=engines, timing=timing,
        params={"classifiers": names, "select_k": select_k, "standardize": standardize,
                "class_weight": class_weight, "metric": metric, "seed": seed,
                "n_features": int(n_feat), "engines": dict(zip(names, engines)),
                "classifier_params": {n: extra.get(n, {}) for n in names}})


def decode_summed(epochs: Epochs, plan: SplitPlan,
                  classifiers="rbf-svm,linear-svm,random-forest", *,
                  window: tuple[float, float] | None = None, select_k: int | None = None,
                  **kwargs) -> PopulationResults:
    """Decode from each cell's mean activity over ``window`` (s; default the whole epoch).

    Features are scaled inside each split; ``select_k`` keeps the top-k cells by ANOVA F on
    the training trials. Other keywords go to :func:`decode_features`.
    """
    res = decode_features(summed_features(epochs, window), plan, classifiers, analysis="summed",
                          select_k=select_k, standardize=True, **kwargs)
    res.params["summed_window"] = list(window) if window is not None else None
    return res


def decode_correlations(epochs: Epochs, plan: SplitPlan,
                        classifiers="rbf-svm,linear-svm,random-forest", *, window: int = 1,
                        step: int = 1, select_k: int | None = None, estimator: str = "pearson",
                        features: np.ndarray | None = None, **kwargs) -> PopulationResults:
    """Decode from per-trial cell-cell correlations (``n_cells * (n_cells - 1) / 2`` features).

    Correlations lie in [-1, 1] and are used unscaled, so the RBF SVM shares one distance
    matrix across all splits and permutations. ``select_k`` keeps the k pairs with the
    largest ANOVA F on each split's training trials. Pass precomputed ``features`` (from
    :func:`gpudecode.features.correlation_features`) to avoid computing them twice.
    """
    if features is None:
        features = correlation_features(epochs, window, step, kwargs.get("backend"),
                                        estimator=estimator)
    res = decode_features(features, plan, classifiers, analysis="correlation",
                          select_k=select_k, standardize=False, **kwargs)
    res.params.update({"window": window, "step": step, "estimator": estimator})
    return res

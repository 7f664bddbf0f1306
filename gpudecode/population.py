"""Population decoding from one fixed feature matrix per trial (summed activity, correlations).

Every classifier sees the same split plan as single-cell decoding, so all models are paired.
The whole matrix is one unit of the engine, which picks per classifier the batched kernel,
the fixed-features Gram kernel, or one scikit-learn pipeline per problem
(:func:`gpudecode.engine.choose_engine`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .backend import Backend
from .classifiers import parse_classifiers
from .engine import solve_matrix
from .errors import ParameterError, ShapeError
from .features import correlation_features, summed_features
from .results import DecodingResults
from .splits import SplitPlan, check_scoring
from .trials import Epochs

__all__ = ["PopulationResults", "decode_features", "decode_summed", "decode_correlations"]


@dataclass(kw_only=True)
class PopulationResults(DecodingResults):
    """Population decoding results of one analysis for every classifier (fields of
    :class:`gpudecode.results.DecodingResults`, no unit axis).

    Attributes
    ----------
    analysis : str
        ``summed``, ``correlation``, ``democracy``...
    test_accuracy, test_balanced : ndarray, shape (n_classifiers, n_shuffles)
    cv_accuracy : ndarray, shape (n_classifiers, n_shuffles, n_folds)
        NaN where the analysis defines no inner CV score (democracy).
    null_accuracy, null_balanced : ndarray, shape (n_classifiers, n_permutations)
        Mean test accuracy over shuffles for each permuted label set.
    p_value : ndarray, shape (n_classifiers,)
    engines : list of str
        Which engine solved each classifier (``batched``, ``batched-gram``,
        ``batched-select``, ``pipeline``; democracy: ``stacked-batched``, ``stacked``).
    """

    analysis: str
    engines: list[str] = field(default_factory=list)


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
    t0 = time.perf_counter()
    timing = {}
    scores, engines = solve_matrix(X, plan, names, backend=backend, select_k=select_k,
                                   standardize=standardize, class_weight=class_weight,
                                   params=extra, seed=seed, progress=progress, timing=timing)
    timing["total_s"] = time.perf_counter() - t0
    return PopulationResults(
        **scores.arrays(), analysis=analysis, classifiers=names, classes=plan.classes_,
        p_value=scores.p_values(metric), engines=engines, timing=timing,
        params={"classifiers": names, "select_k": select_k, "standardize": standardize,
                "class_weight": class_weight, "metric": metric, "seed": seed,
                "n_features": int(X.shape[1]), "engines": dict(zip(names, engines)),
                "classifier_params": {n: extra.get(n, {}) for n in names}})


def decode_summed(epochs: Epochs, plan: SplitPlan,
                  classifiers="rbf-svm,linear-svm,random-forest", *,
                  summed_window_s: tuple[float, float] | None = None,
                  select_k: int | None = None, **kwargs) -> PopulationResults:
    """Decode from each cell's mean activity over ``summed_window_s`` (A, B seconds around
    the anchor; default the whole epoch).

    Features are scaled inside each split; ``select_k`` keeps the top-k cells by ANOVA F on
    the training trials. Other keywords go to :func:`decode_features`.
    """
    res = decode_features(summed_features(epochs, summed_window_s), plan, classifiers,
                          analysis="summed", select_k=select_k, standardize=True, **kwargs)
    res.params["summed_window"] = list(summed_window_s) if summed_window_s is not None else None
    return res


def decode_correlations(epochs: Epochs, plan: SplitPlan,
                        classifiers="rbf-svm,linear-svm,random-forest", *,
                        window_frames: int = 1, step_frames: int = 1,
                        select_k: int | None = None, estimator: str = "pearson",
                        features: np.ndarray | None = None, **kwargs) -> PopulationResults:
    """Decode from per-trial cell-cell correlations (``n_cells * (n_cells - 1) / 2`` features)
    over the frames after a sliding mean of ``window_frames`` every ``step_frames``.

    Correlations lie in [-1, 1] and are used unscaled, so the RBF SVM shares one distance
    matrix across all splits and permutations. ``select_k`` keeps the k pairs with the
    largest ANOVA F on each split's training trials. Pass precomputed ``features`` (from
    :func:`gpudecode.features.correlation_features`) to avoid computing them twice.
    """
    if features is None:
        features = correlation_features(epochs, window_frames, step_frames,
                                        kwargs.get("backend"), estimator=estimator)
    res = decode_features(features, plan, classifiers, analysis="correlation",
                          select_k=select_k, standardize=False, **kwargs)
    res.params.update({"window": window_frames, "step": step_frames, "estimator": estimator})
    return res

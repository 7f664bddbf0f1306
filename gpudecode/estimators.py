"""One scikit-learn pipeline per problem: ``[StandardScaler] -> [SelectKBest] -> estimator``.

The estimator is the registry's (:mod:`gpudecode.classifiers`): cuML on the GPU where it is
importable and has the model, scikit-learn otherwise, with the hyper-parameters of the
batched kernel of the same name.
"""

from __future__ import annotations

from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from .classifiers import get_classifier

__all__ = ["make_pipeline"]


def make_pipeline(name: str, *, standardize: bool = False, select_k: int | None = None,
                  gpu: bool = False, seed: int = 0, class_weight: str | None = None,
                  params: dict | None = None) -> Pipeline:
    """``[StandardScaler] -> [SelectKBest(f_classif, k)] -> estimator``, all fit on training trials.

    The scaler and the univariate selection are steps of one scikit-learn ``Pipeline``, so
    whatever fits the pipeline on a split's training trials learns nothing from its test trials.

    Parameters
    ----------
    name : str
        A name of :data:`gpudecode.classifiers.CLASSIFIERS`.
    standardize : bool
        Scale each feature with the training trials' mean and standard deviation.
    select_k : int, optional
        Keep the ``k`` features with the largest ANOVA F on the training trials.
    gpu, seed, class_weight, params
        As in :meth:`gpudecode.classifiers.Classifier.make_estimator`.

    Returns
    -------
    sklearn.pipeline.Pipeline
        ``fit(X, y)`` / ``predict(X)`` with X trials x features.
    """
    clf = get_classifier(name).make_estimator(gpu=gpu, seed=seed, class_weight=class_weight,
                                              params=params)
    steps = []
    if standardize:
        steps.append(("scale", StandardScaler()))
    if select_k:
        steps.append(("select", SelectKBest(f_classif, k=int(select_k))))
    steps.append(("clf", clf))
    return Pipeline(steps)

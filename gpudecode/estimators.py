"""Population classifiers behind one factory: cuML on the GPU when importable, scikit-learn otherwise.

The same name means the same model on both backends (and the same hyper-parameters as the
batched kernel of that name in :mod:`gpudecode.classifiers`):

===============  =====================================================  ==========================
name             scikit-learn                                           cuML
===============  =====================================================  ==========================
rbf-svm          ``SVC(kernel="rbf", gamma="scale", C=1)``              ``cuml.svm.SVC``
linear-svm       ``LinearSVC(loss="hinge", C=1)``                       ``cuml.svm.LinearSVC``
logistic         ``LogisticRegression(C=1)``                            ``cuml.linear_model.LogisticRegression``
lda              ``LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")``  (scikit-learn)
tree             ``DecisionTreeClassifier(max_depth=3)``                (scikit-learn)
random-forest    ``RandomForestClassifier(n_estimators=100)``           ``cuml.ensemble.RandomForestClassifier``
===============  =====================================================  ==========================
"""

from __future__ import annotations

from .errors import ParameterError

__all__ = ["POPULATION_CLASSIFIERS", "make_estimator", "make_pipeline", "cuml_available",
           "parse_population_classifiers"]

POPULATION_CLASSIFIERS = ("rbf-svm", "linear-svm", "logistic", "lda", "tree", "random-forest")

_CUML_CHECKED: list = []


def cuml_available() -> bool:
    """True when cuML imports (it can fail in odd ways without a driver, hence the broad guard)."""
    if not _CUML_CHECKED:
        try:
            import cuml  # noqa: F401
            _CUML_CHECKED.append(True)
        except Exception:
            _CUML_CHECKED.append(False)
    return _CUML_CHECKED[0]


def parse_population_classifiers(text) -> list[str]:
    """``"rbf-svm,random-forest"`` (or a list) -> names, duplicates removed, each checked."""
    names = text.split(",") if isinstance(text, str) else list(text)
    names = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not names:
        raise ParameterError("no population classifier given", field="--classifier",
                             fix=f"use one or more of: {', '.join(POPULATION_CLASSIFIERS)}")
    for n in names:
        if n not in POPULATION_CLASSIFIERS:
            raise ParameterError(f"unknown population classifier {n!r}", field="--classifier",
                                 fix=f"use one or more of: {', '.join(POPULATION_CLASSIFIERS)}")
    return names


def _sklearn(name: str, seed: int, balanced: bool, params: dict):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import SVC, LinearSVC
    from sklearn.tree import DecisionTreeClassifier
    cw = "balanced" if balanced else None
    if name == "rbf-svm":
        return SVC(kernel="rbf", **{"C": 1.0, "gamma": "scale", **params}, class_weight=cw)
    if name == "linear-svm":
        return LinearSVC(**{"loss": "hinge", "C": 1.0, "max_iter": 10000, **params},
                         class_weight=cw, random_state=seed)
    if name == "logistic":
        return LogisticRegression(**{"C": 1.0, "max_iter": 1000, **params}, class_weight=cw)
    if name == "lda":
        return LinearDiscriminantAnalysis(**{"solver": "lsqr", "shrinkage": "auto", **params})
    if name == "tree":
        return DecisionTreeClassifier(**{"max_depth": 3, **params}, class_weight=cw,
                                      random_state=seed)
    return RandomForestClassifier(**{"n_estimators": 100, **params}, class_weight=cw,
                                  random_state=seed, n_jobs=1)


def _cuml(name: str, seed: int, balanced: bool, params: dict):
    """The cuML twin, or None where cuML has none (lda, tree, class weights on forests)."""
    cw = "balanced" if balanced else None
    if name == "rbf-svm":
        from cuml.svm import SVC
        return SVC(kernel="rbf", **{"C": 1.0, "gamma": "scale", **params}, class_weight=cw)
    if name == "linear-svm":
        from cuml.svm import LinearSVC
        return LinearSVC(**{"loss": "hinge", "C": 1.0, **params}, class_weight=cw)
    if name == "logistic":
        from cuml.linear_model import LogisticRegression
        return LogisticRegression(**{"C": 1.0, "max_iter": 1000, **params}, class_weight=cw)
    if name == "random-forest" and not balanced:
        from cuml.ensemble import RandomForestClassifier
        return RandomForestClassifier(**{"n_estimators": 100, **params}, random_state=seed)
    return None


def make_estimator(name: str, *, gpu: bool = False, seed: int = 0, class_weight: str | None = None,
                   params: dict | None = None):
    """A fresh, unfitted classifier called ``name``.

    Parameters
    ----------
    name : str
        One of :data:`POPULATION_CLASSIFIERS`.
    gpu : bool
        Use cuML where it is importable and has the model; scikit-learn otherwise.
    seed : int
        ``random_state`` of the models that draw random numbers.
    class_weight : {None, "balanced"}
    params : dict, optional
        Hyper-parameters overriding the defaults above.

    Returns
    -------
    estimator
        Implements ``fit(X, y)`` / ``predict(X)`` with X trials x features.
    """
    if name not in POPULATION_CLASSIFIERS:
        raise ParameterError(f"unknown population classifier {name!r}", field="--classifier",
                             fix=f"use one of: {', '.join(POPULATION_CLASSIFIERS)}")
    params = dict(params or {})
    balanced = class_weight == "balanced"
    if gpu and cuml_available():
        try:
            est = _cuml(name, seed, balanced, params)
        except Exception:
            est = None
        if est is not None:
            return est
    return _sklearn(name, seed, balanced, params)


def make_pipeline(name: str, *, standardize: bool = False, select_k: int | None = None,
                  gpu: bool = False, seed: int = 0, class_weight: str | None = None,
                  params: dict | None = None):
    """``[StandardScaler] -> [SelectKBest(f_classif, k)] -> estimator``, all fit on training trials.

    The scaler and the univariate selection are steps of one scikit-learn ``Pipeline``, so
    whatever fits the pipeline on a split's training trials learns nothing from its test trials.
    """
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    steps = []
    if standardize:
        steps.append(("scale", StandardScaler()))
    if select_k:
        steps.append(("select", SelectKBest(f_classif, k=int(select_k))))
    steps.append(("clf", make_estimator(name, gpu=gpu, seed=seed, class_weight=class_weight,
                                        params=params)))
    return Pipeline(steps)

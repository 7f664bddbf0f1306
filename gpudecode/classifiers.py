"""The batched classifiers by name, with their CPU kernel and GPU twin.

Every kernel has the signature ``fit(X, Y, train_idx, n_train, test_idx, n_test, n_classes,
*, standardize, class_weight_balanced, **params) -> pred`` (see ``gpudecode.kernels``):
``X`` cells x trials x features, ``pred`` cells x label sets x slots x test trials.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

from .errors import ParameterError

__all__ = ["BatchedClassifier", "BATCHED_CLASSIFIERS", "get_classifier", "parse_classifiers"]


@dataclass(frozen=True)
class BatchedClassifier:
    """One batched classifier: where its kernels live and its default hyper-parameters.

    Attributes
    ----------
    name : str
        The CLI name (``linear-svm``, ``logistic``, ``lda``, ``rbf-svm``, ``tree``).
    module : str
        Kernel module under ``gpudecode.kernels``; the GPU twin is ``<module>_cuda``.
    function : str
        CPU kernel function; the GPU twin is ``<function>_cuda`` in ``<module>_cuda``.
    sklearn : str
        The scikit-learn estimator it reproduces (for summaries and docs).
    params : dict
        Default hyper-parameters passed to the kernel.
    """

    name: str
    module: str
    function: str
    sklearn: str
    params: dict = field(default_factory=dict)

    def kernel(self, gpu: bool = False) -> Callable:
        suffix = "_cuda" if gpu else ""
        mod = importlib.import_module(f"gpudecode.kernels.{self.module}{suffix}")
        return getattr(mod, f"{self.function}{suffix}")


BATCHED_CLASSIFIERS: dict[str, BatchedClassifier] = {
    c.name: c for c in (
        BatchedClassifier("linear-svm", "linear_svm", "fit_predict_linear_svm",
                          'LinearSVC(loss="hinge")', {"C": 1.0}),
        BatchedClassifier("logistic", "logistic", "fit_predict_logistic",
                          "LogisticRegression()", {"C": 1.0}),
        BatchedClassifier("lda", "lda", "fit_predict_lda",
                          'LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")',
                          {"shrinkage": "auto"}),
        BatchedClassifier("rbf-svm", "rbf_svm", "fit_predict_rbf_svm",
                          'SVC(kernel="rbf", gamma="scale")', {"C": 1.0}),
        BatchedClassifier("tree", "tree", "fit_predict_tree",
                          "DecisionTreeClassifier(max_depth=3)", {"max_depth": 3}),
    )
}


def get_classifier(name: str) -> BatchedClassifier:
    """The batched classifier called ``name``; ParameterError listing the names otherwise."""
    try:
        return BATCHED_CLASSIFIERS[name]
    except KeyError:
        raise ParameterError(f"unknown classifier {name!r}", field="--classifier",
                             fix=f"use one or more of: {', '.join(BATCHED_CLASSIFIERS)}") from None


def parse_classifiers(text: str | list[str] | tuple[str, ...]) -> list[BatchedClassifier]:
    """``"linear-svm,logistic"`` (or a list of names) -> classifiers, duplicates removed."""
    names = text.split(",") if isinstance(text, str) else list(text)
    names = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not names:
        raise ParameterError("no classifier given", field="--classifier",
                             fix=f"use one or more of: {', '.join(BATCHED_CLASSIFIERS)}")
    return [get_classifier(n) for n in names]

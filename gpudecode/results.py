"""The fields every analysis's results share (classifiers, scores, p-values, params, timing)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .engine import Scores

__all__ = ["DecodingResults"]


@dataclass(kw_only=True)
class DecodingResults(Scores):
    """Scores of every classifier on one split plan, with what was tested and how.

    Attributes
    ----------
    classifiers : list of str
    classes : ndarray, shape (n_classes,)
    test_accuracy, test_balanced, cv_accuracy, null_accuracy, null_balanced : ndarray
        See :class:`gpudecode.engine.Scores`; the first axis is the classifier.
    p_value : ndarray, shape (n_classifiers, ...)
        Permutation p-value of ``metric`` (its mean over shuffles; NaN without permutations).
    params : dict
        Everything needed to rerun, including ``metric``.
    timing : dict
        Seconds per stage.
    """

    classifiers: list[str]
    classes: np.ndarray
    p_value: np.ndarray
    params: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)

    @property
    def metric(self) -> str:
        """The tested statistic: "balanced" or "accuracy"."""
        return str(self.params.get("metric", "accuracy"))

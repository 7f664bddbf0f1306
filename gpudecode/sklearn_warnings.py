"""One summary line for scikit-learn's per-fit warnings about constant features.

A constant cell (or a cell pair whose correlation is constant) makes scikit-learn's
``f_classif`` (the ANOVA F of ``SelectKBest`` and of the pair ranking) warn on every fit:
``Features [ 2  3 12 ...] are constant.``, once per split, fold, permutation and classifier. :func:`summarize_constant_features` collects those warnings
while a block of fits runs and issues one :class:`ConstantFeaturesWarning` instead; every
other warning passes through unchanged.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ConstantFeatures", "ConstantFeaturesWarning", "summarize_constant_features"]

_CONSTANT = re.compile(r"Features? \[(?P<index>[^\]]*)\] (?:are|is) constant")


class ConstantFeaturesWarning(UserWarning):
    """Some features were constant on some training sets; the fits ignored them."""


class ConstantFeatures:
    """What :func:`summarize_constant_features` saw.

    Attributes
    ----------
    features : set of int
        Indices of the features reported constant (union over fits).
    truncated : bool
        Some index lists were abbreviated by NumPy (``...``): ``features`` is a lower bound.
    n_warnings : int
        Constant-feature warnings collected.
    """

    def __init__(self):
        self.features: set[int] = set()
        self.truncated = False
        self.n_warnings = 0

    def add(self, message: str) -> bool:
        """Record ``message`` if it is one of the warnings summarised; say whether it was."""
        m = _CONSTANT.search(message)
        if m:
            self.features.update(int(v) for v in re.findall(r"\d+", m.group("index")))
            self.truncated |= "..." in m.group("index")
            self.n_warnings += 1
            return True
        return False

    def summary(self, what: str, by: str, n_features: int | None = None) -> str:
        """One line: how many ``what`` were constant and that ``by`` ignored them."""
        n = f"{'at least ' if self.truncated else ''}{len(self.features)}"
        of = f" of {n_features}" if n_features else ""
        return (f"{n}{of} {what} were constant on some training sets and were ignored by {by} "
                f"({self.n_warnings} scikit-learn warnings summarised)")


@contextmanager
def summarize_constant_features(what: str, by: str,
                                n_features: int | None = None) -> Iterator[ConstantFeatures]:
    """Collect scikit-learn's constant-feature warnings inside the block; warn once after it.

    Parameters
    ----------
    what : str
        What the features are, e.g. ``"cell pairs"``.
    by : str
        What ignored them, e.g. ``"the pair F-test (f_classif)"``.
    n_features : int, optional
        Total number of features, for "k of n".

    Yields
    ------
    ConstantFeatures
        Filled in as the block runs.
    """
    seen = ConstantFeatures()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield seen
    for w in caught:
        if issubclass(w.category, UserWarning) and seen.add(str(w.message)):
            continue
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if seen.n_warnings:
        warnings.warn(seen.summary(what, by, n_features), ConstantFeaturesWarning, stacklevel=3)

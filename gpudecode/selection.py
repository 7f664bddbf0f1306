"""In-fold univariate feature selection for every slot x label set at once.

The model is scikit-learn's ``SelectKBest(f_classif, k)`` refit on each problem's training
trials: :func:`anova_f` computes the ANOVA F of every feature for every (slot, label set)
of a split plan in one pass per slot (class sums from one-hot label matrices, vectorised
over label sets; CuPy on the GPU), :func:`top_k` keeps the ``k`` largest with
``SelectKBest``'s rule, and :func:`selected_features` does both for a plan. The F score is
invariant to scaling a feature, so selecting before or after ``StandardScaler`` selects the
same features.
"""

from __future__ import annotations

import numpy as np

__all__ = ["anova_f", "selected_features", "top_k"]


def anova_f(X: np.ndarray, Y: np.ndarray, train_idx: np.ndarray, n_train: np.ndarray, *,
            n_classes: int | None = None, backend=None) -> np.ndarray:
    """ANOVA F of every feature on each slot's training trials, for every label set.

    Equal to ``sklearn.feature_selection.f_classif(X[train], y[train])[0]`` for each slot and
    label set (the classes are those present in the training labels). A feature constant on
    the training trials scores NaN, as ``f_classif`` scores it after ``StandardScaler`` (on
    unscaled float data its round-off can give it any finite score instead).

    Parameters
    ----------
    X : ndarray, shape (n_trials, n_features)
    Y : ndarray of int, shape (n_labelsets, n_trials)
        Class codes ``0..n_classes-1``.
    train_idx : ndarray of int, shape (n_slots, max_train)
        Training trials of each slot, padded with -1 after ``n_train[s]`` entries.
    n_train : ndarray of int, shape (n_slots,)
    n_classes : int, optional
        Default ``Y.max() + 1``.
    backend : Backend, optional
        On a GPU backend the sums run in CuPy.

    Returns
    -------
    ndarray of float64, shape (n_slots, n_labelsets, n_features)
        On the host.
    """
    xp = np if backend is None else backend.xp      # CuPy on a GPU backend
    Y = np.asarray(Y)
    n_classes = int(Y.max()) + 1 if n_classes is None else int(n_classes)
    Xd = xp.asarray(np.asarray(X, dtype=np.float64))
    Yd = xp.asarray(Y.astype(np.int64))
    classes = xp.arange(n_classes)
    out = xp.empty((len(n_train), Y.shape[0], X.shape[1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        for s, ntr in enumerate(np.asarray(n_train)):
            rows = xp.asarray(np.asarray(train_idx[s, :ntr], dtype=np.int64))
            x = Xd[rows]
            # Centred on the training mean (label-independent): exact zeros for a constant
            # feature, and no cancellation between sum(x^2) and sum(x)^2 / n.
            x = x - x.mean(0)
            onehot = (Yd[:, rows][..., None] == classes).astype(np.float64)  # (L, n, C)
            n_c = onehot.sum(1)                                             # (L, C)
            sums = xp.matmul(onehot.transpose(0, 2, 1), x)                   # (L, C, d)
            total = x.sum(0)
            sstot = (x * x).sum(0) - total * total / ntr
            ssbn = (sums * sums / xp.maximum(n_c, 1)[..., None]).sum(1) - total * total / ntr
            sswn = sstot - ssbn
            present = (n_c > 0).sum(1)[:, None]
            f = (ssbn / (present - 1)) / (sswn / (ntr - present))
            constant = x.max(0) == x.min(0)
            out[s] = xp.where(constant, xp.nan, f)
    return out if backend is None else backend.to_host(out)


def top_k(F: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` features of largest F per row, with ``SelectKBest``'s rule.

    ``SelectKBest`` turns NaN scores into the smallest float and keeps the last ``k`` of a
    stable ascending sort, so among equal scores the later features are kept.

    Parameters
    ----------
    F : ndarray, shape (..., n_features)
    k : int
        ``1 <= k <= n_features``.

    Returns
    -------
    ndarray of int64, shape (..., k)
        Selected feature indices of each row, ascending (the order ``transform`` keeps).
    """
    scores = np.where(np.isnan(F), -np.inf, F)
    keep = np.argsort(scores, axis=-1, kind="stable")[..., scores.shape[-1] - int(k):]
    return np.sort(keep, axis=-1)


def selected_features(X: np.ndarray, plan, k: int, slots: np.ndarray,
                      label_sets: slice, *, backend=None) -> np.ndarray:
    """In-fold ``SelectKBest(f_classif, k)`` of every slot x label set of a plan.

    Parameters
    ----------
    X : ndarray, shape (n_trials, n_features)
    plan : SplitPlan
        Fitted.
    k : int
    slots : ndarray of int, shape (n_job_slots,)
    label_sets : slice
        Rows of ``plan.Y_``.
    backend : Backend, optional

    Returns
    -------
    ndarray of int64, shape (n_job_slots, n_labelsets, k)
    """
    F = anova_f(X, plan.Y_[label_sets], plan.train_idx_[slots], plan.n_train_[slots],
                n_classes=plan.n_classes, backend=backend)
    return top_k(F, k)

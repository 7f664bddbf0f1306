"""The split plan: every train/test shuffle, CV fold and label permutation, made once.

All cells and classifiers share one plan, so their accuracies are paired.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

from .errors import ParameterError, TooFewTrialsError

__all__ = ["METRICS", "SplitPlan", "check_scoring", "fitted_plan", "score_predictions"]

METRICS = ("accuracy", "balanced")


def _pad(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), -1, dtype=np.int32)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out, np.array([len(r) for r in rows], dtype=np.int32)


class SplitPlan:
    """Stratified shuffles, inner CV folds and label permutations as index tensors.

    Each shuffle gives one *test slot* (fit on its training part, score on its test part)
    followed by ``n_folds`` *CV slots* (stratified folds inside that training part).

    Parameters
    ----------
    n_shuffles : int
        Number of stratified train/test shuffles S.
    test_size : float
        Fraction of trials in each test part.
    n_folds : int
        Stratified CV folds k inside each training part (0 for none).
    n_permutations : int
        Label permutations P for the null; they reuse the observed run's splits.
    seed : int
        Seed for shuffles, folds and permutations.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
    Y_ : ndarray of int32, shape (1 + n_permutations, n_trials)
        Class codes; row 0 is observed, rows 1.. are permutations.
    train_idx_, test_idx_ : ndarray of int32, shape (n_slots, max_train | max_test)
        Trial indices per slot, padded with -1; ``n_slots = S * (1 + k)``.
    n_train_, n_test_ : ndarray of int32, shape (n_slots,)
    shuffle_of_slot_ : ndarray of int32, shape (n_slots,)
    fold_of_slot_ : ndarray of int32, shape (n_slots,)
        -1 for a test slot, 0..k-1 for a CV slot.
    """

    def __init__(self, n_shuffles: int = 50, test_size: float = 0.25, n_folds: int = 5,
                 n_permutations: int = 0, seed: int = 0):
        self.n_shuffles = n_shuffles
        self.test_size = test_size
        self.n_folds = n_folds
        self.n_permutations = n_permutations
        self.seed = seed

    def _validate(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.n_shuffles < 1:
            raise ParameterError(f"need at least 1 shuffle, got {self.n_shuffles}",
                                 field="--shuffles", fix="pass --shuffles 50")
        if not 0 < self.test_size < 1:
            raise ParameterError(f"test size must lie in (0, 1), got {self.test_size}",
                                 field="--test-size", fix="pass e.g. --test-size 0.25")
        if self.n_folds == 1 or self.n_folds < 0:
            raise ParameterError(f"folds must be 0 (no CV) or >= 2, got {self.n_folds}",
                                 field="--folds", fix="pass --folds 5")
        if self.n_permutations < 0:
            raise ParameterError("permutations must be >= 0", field="--permutations",
                                 fix="pass --permutations 1000 or 0")
        classes, codes = np.unique(np.asarray(y), return_inverse=True)
        if classes.size < 2:
            raise TooFewTrialsError(f"only one class ({classes[0] if classes.size else 'none'!r})"
                                    " among the trials: nothing to decode", field="label",
                                    fix="choose anchors or a label rule that give two or more classes")
        counts = np.bincount(codes)
        n = codes.size
        n_test = int(np.ceil(self.test_size * n))
        train_counts = np.floor(counts * (1 - self.test_size))
        need = max(2, self.n_folds)
        small = [(str(c), int(k)) for c, k, tk in zip(classes, counts, train_counts)
                 if k < 2 or tk < need]
        if small or n_test < classes.size or n - n_test < classes.size:
            what = ", ".join(f"{c!r}: {k}" for c, k in small) or f"{n} trials in all"
            raise TooFewTrialsError(
                f"too few trials per class for a {self.test_size:g} test split and "
                f"{self.n_folds}-fold CV in the training part ({what}); each class needs about "
                f"{int(np.ceil(need / (1 - self.test_size)))} trials",
                field="label", fix="use fewer --folds, a smaller --test-size, more sessions, "
                                   "or a target with larger classes")
        return classes, codes.astype(np.int32)

    def fit(self, y) -> "SplitPlan":
        """Build the plan for trial labels ``y`` (shape (n_trials,))."""
        classes, codes = self._validate(y)
        outer = StratifiedShuffleSplit(n_splits=self.n_shuffles, test_size=self.test_size,
                                       random_state=self.seed)
        trains, tests, shuffles, folds = [], [], [], []
        dummy = np.zeros((codes.size, 1))
        for s, (tr, te) in enumerate(outer.split(dummy, codes)):
            tr, te = np.sort(tr), np.sort(te)
            trains.append(tr)
            tests.append(te)
            shuffles.append(s)
            folds.append(-1)
            if self.n_folds:
                inner = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.seed + s)
                for f, (itr, ite) in enumerate(inner.split(dummy[tr], codes[tr])):
                    trains.append(tr[itr])
                    tests.append(tr[ite])
                    shuffles.append(s)
                    folds.append(f)
        self.classes_ = classes
        self.train_idx_, self.n_train_ = _pad(trains)
        self.test_idx_, self.n_test_ = _pad(tests)
        self.shuffle_of_slot_ = np.array(shuffles, dtype=np.int32)
        self.fold_of_slot_ = np.array(folds, dtype=np.int32)
        rng = np.random.default_rng(self.seed)
        Y = np.empty((1 + self.n_permutations, codes.size), dtype=np.int32)
        Y[0] = codes
        for p in range(self.n_permutations):
            Y[p + 1] = rng.permutation(codes)
        self.Y_ = Y
        return self

    @property
    def n_slots(self) -> int:
        return self.train_idx_.shape[0]

    @property
    def n_classes(self) -> int:
        return self.classes_.size

    @property
    def test_slots(self) -> np.ndarray:
        """Slot indices of the S train/test splits."""
        return np.flatnonzero(self.fold_of_slot_ < 0)

    @property
    def cv_slots(self) -> np.ndarray:
        """Slot indices of the CV folds, shape (S, k)."""
        return np.flatnonzero(self.fold_of_slot_ >= 0).reshape(self.n_shuffles, self.n_folds)

    def slot_trials(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """Training and test trial indices of one slot (padding removed)."""
        return (self.train_idx_[slot, :self.n_train_[slot]],
                self.test_idx_[slot, :self.n_test_[slot]])


def score_predictions(pred: np.ndarray, Y: np.ndarray, test_idx: np.ndarray,
                      n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and balanced accuracy of every problem.

    Parameters
    ----------
    pred : ndarray of int, shape (..., n_labelsets, n_slots, max_test)
        Predicted class codes, -1 at padding (as the batched kernels return them).
    Y : ndarray of int, shape (n_labelsets, n_trials)
    test_idx : ndarray of int, shape (n_slots, max_test), -1 padded
    n_classes : int

    Returns
    -------
    accuracy, balanced_accuracy : ndarray of float64, shape (..., n_labelsets, n_slots)
        Balanced accuracy averages recall over the classes present in the test part
        (as scikit-learn's ``balanced_accuracy_score``).
    """
    valid = test_idx >= 0
    truth = Y[:, np.where(valid, test_idx, 0)]                  # (L, slots, max_test)
    hit = (pred == truth) & valid
    n_valid = valid.sum(-1)
    acc = hit.sum(-1) / n_valid
    recall_sum = np.zeros(acc.shape)
    n_present = np.zeros(acc.shape)
    for c in range(n_classes):
        is_c = (truth == c) & valid
        n_c = is_c.sum(-1)
        present = n_c > 0
        recall_sum += np.where(present, (hit & is_c).sum(-1) / np.maximum(n_c, 1), 0.0)
        n_present += present
    return acc, recall_sum / np.maximum(n_present, 1)


def check_scoring(metric: str, class_weight: str | None = None) -> None:
    """ParameterError unless ``metric`` is in :data:`METRICS` and ``class_weight`` is
    None or ``"balanced"``."""
    if class_weight not in (None, "balanced"):
        raise ParameterError(f"unknown class weight {class_weight!r}", field="--class-weight",
                             fix="use 'balanced' or leave it out")
    if metric not in METRICS:
        raise ParameterError(f"unknown metric {metric!r}", field="--metric",
                             fix=f"use one of: {', '.join(METRICS)}")


def fitted_plan(plan: SplitPlan | None, labels) -> SplitPlan:
    """``plan`` fitted on ``labels`` (``SplitPlan()`` when None; fit here when not yet fit).

    Raises ParameterError when the plan was fit on a different number of trials.
    """
    plan = plan if plan is not None else SplitPlan()
    if not hasattr(plan, "Y_"):
        plan.fit(labels)
    n_trials = len(labels)
    if plan.Y_.shape[1] != n_trials:
        raise ParameterError(f"the split plan was fit on {plan.Y_.shape[1]} trials, the epochs "
                             f"have {n_trials}", field="plan",
                             fix="fit the plan on these epochs' labels")
    return plan

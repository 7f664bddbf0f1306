"""Shared oracle helpers for the batched linear-classifier tests (linear SVM, logistic, LDA):
simulated cells, the split plan, and scikit-learn's predictions on the same rows."""

import warnings

import numpy as np
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from gpudecode.splits import SplitPlan


def simulate(n_cells, n_trials, n_features, n_classes, seed, strengths, minority=None):
    """Cells x trials x features like sliding-mean calcium traces around an event.

    Smoothed noise (neighbouring features correlated), and in cell ``c`` a bump of height
    ``strengths[c]`` whose latency depends on the class (class 0 has none); cells past
    ``len(strengths)`` are pure noise. ``minority``: fraction of trials in class 0.
    """
    rng = np.random.default_rng(seed)
    if minority is None:
        y = rng.permutation(np.arange(n_trials) % n_classes)
    else:
        n0 = int(round(minority * n_trials))
        rest = 1 + np.arange(n_trials - n0) % (n_classes - 1)
        y = rng.permutation(np.r_[np.zeros(n0, int), rest])
    raw = rng.standard_normal((n_cells, n_trials, n_features + 3))
    X = (raw[..., :-3] + raw[..., 1:-2] + raw[..., 2:-1] + raw[..., 3:]) / 2
    t = np.arange(n_features)
    for c, a in enumerate(strengths):
        for k in range(1, n_classes):
            centre = n_features * k / n_classes
            X[c, y == k] += a * np.exp(-0.5 * ((t - centre) / (0.1 * n_features + 1)) ** 2)
    return X.astype(np.float32), y


def plan_for(y, n_permutations=0, n_shuffles=2, seed=0):
    return SplitPlan(n_shuffles=n_shuffles, test_size=0.25, n_folds=5,
                     n_permutations=n_permutations, seed=seed).fit(y)


def batch_args(X, plan, n_classes):
    return (X, plan.Y_, plan.train_idx_, plan.n_train_, plan.test_idx_, plan.n_test_, n_classes)


def oracle(X, y, plan, make, standardize=True):
    """scikit-learn predictions, (n_cells, n_slots, max_test), -1 padded."""
    with threadpool_limits(1):  # multi-threaded BLAS only slows these tiny fits down
        return _oracle(X, y, plan, make, standardize)


def _oracle(X, y, plan, make, standardize):
    out = np.full((X.shape[0], plan.n_slots, plan.test_idx_.shape[1]), -1)
    for c in range(X.shape[0]):
        Xc = X[c].astype(np.float64)
        for s in range(plan.n_slots):
            tr = plan.train_idx_[s, :plan.n_train_[s]]
            te = plan.test_idx_[s, :plan.n_test_[s]]
            A, B = Xc[tr], Xc[te]
            if standardize:
                scaler = StandardScaler().fit(A)
                A, B = scaler.transform(A), scaler.transform(B)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[c, s, :te.size] = make().fit(A, y[tr]).predict(B)
    return out


def assert_agrees(ours, theirs, y, plan, min_agree=0.99, acc_tol=0.01):
    """>= 99 % of test predictions equal, per-cell mean accuracies within 0.01."""
    valid = plan.test_idx_ >= 0
    assert ((ours == -1) == ~valid[None]).all(), "padding must be -1, real rows a class"
    agree = (ours == theirs)[:, valid].mean()
    truth = y[np.where(valid, plan.test_idx_, 0)]
    def cell_acc(pred):
        return np.array([((p == truth) & valid).sum(1) / valid.sum(1) for p in pred]).mean(1)
    gap = np.abs(cell_acc(ours) - cell_acc(theirs)).max()
    assert agree >= min_agree, f"only {agree:.4f} of test predictions agree"
    assert gap <= acc_tol, f"per-cell mean accuracies differ by {gap:.4f}"
    return agree


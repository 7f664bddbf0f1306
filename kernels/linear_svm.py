"""Batched linear SVM: libsvm's C-SVC with a linear kernel, as scikit-learn's
``SVC(kernel="linear")``, on the CPU.

The problem is libsvm's dual on the linear kernel ``K(x, y) = x . y`` (the training Gram
matrix rounded to float32 as libsvm caches it, the train x test kernel float64, libsvm's
row order, penalties and rho), solved by the primal-dual interior-point method of
:mod:`gpudecode.kernels.linear_qp` (Mehrotra's predictor-corrector, about a dozen Newton
steps, relative tolerance ``QP_TOL`` = 1e-8) instead of libsvm's SMO, which takes thousands
of steps on non-separable data. The optimum ``w`` is unique, so the predictions agree with
scikit-learn's up to the two solvers' tolerances: 99.99 % of the test predictions of
10,780 real-session fits (90 training rows, 53 features, observed and permuted labels),
not fit for fit; the tests require 99 %. liblinear's dual coordinate descent
(``LinearSVC``) is no substitute: it stalls at ``max_iter`` on these problems.

``tol`` and ``shrinking`` are SMO's and do not change the interior-point solver;
``max_iter`` caps its Newton steps (at most ``QP_MAX_ITER``).

Reuse: per (cell, slot) pair the standardisation, the training Gram matrix and the train x
test kernel are computed once and shared by every label set (observed and permuted);
:func:`fit_predict_linear_svm_fixed` computes one Gram matrix of all trials for a fixed
feature matrix and takes each slot's sub-blocks.

Multiclass is libsvm's, as ``SVC`` does it: one SVM per pair of classes present in the
training rows, majority vote, lowest class on ties; ``class_weight_balanced`` gives class
``k`` the penalty ``C * n / (n_present * n_k)`` in every pair it is part of.
"""

from __future__ import annotations

from ._prep import check_batch, run_pairs
from .rbf_svm import svm_batch, check_rbf_params, solve_fixed

__all__ = ["fit_predict_linear_svm", "fit_predict_linear_svm_fixed", "check_linear_params"]


def check_linear_params(C, tol, max_iter, shrinking) -> tuple[float, float, int, bool]:
    """Check the linear-SVM hyper-parameters; returns ``(C, tol, max_iter, shrinking)``.

    Raises
    ------
    ParameterError
    """
    C, _, tol, max_iter, shrinking = check_rbf_params(C, 1.0, tol, max_iter, shrinking)
    return C, tol, max_iter, shrinking


def fit_predict_linear_svm(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *,
                           standardize=True, class_weight_balanced=False, C=1.0, tol=1e-3,
                           max_iter=100000, shrinking=True):
    """Fit and predict a batch of linear SVMs on the CPU (Numba, parallel over problems).

    Each problem (cell ``c``, label set ``l``, split slot ``s``) is scikit-learn's
    ``SVC(kernel="linear", C=C)`` fit on the problem's training rows (after
    ``StandardScaler`` fit on those rows when ``standardize``), one-vs-one beyond two
    classes as ``SVC`` is, solved to the interior-point tolerance (predictions agree with
    ``SVC``'s up to the two solvers' tolerances, see the module docstring).

    Parameters
    ----------
    X : ndarray, shape (n_cells, n_trials, n_features)
        Cells x trials x features, float32 (float64 accepted), finite.
    Y : ndarray of int, shape (n_labelsets, n_trials)
        Class codes ``0..n_classes-1``; row 0 the observed labels, rows 1.. permutations.
    train_idx : ndarray of int, shape (n_slots, max_train)
        Training trials of each slot, padded with -1.
    n_train : ndarray of int, shape (n_slots,)
    test_idx : ndarray of int, shape (n_slots, max_test)
        Test trials of each slot, padded with -1.
    n_test : ndarray of int, shape (n_slots,)
    n_classes : int
    standardize : bool
        Scale features by the training rows' mean and population std (std 0 -> 1).
    class_weight_balanced : bool
        scikit-learn's ``class_weight="balanced"`` (per-class C, ``n / (n_present * n_k)``).
    C : float
        Penalty, > 0.
    tol : float
        scikit-learn's parameter, checked (> 0) but unused: the interior-point solver stops
        at its own ``QP_TOL``.
    max_iter : int
        Newton steps per binary problem before stopping early (at most ``QP_MAX_ITER``).
    shrinking : bool
        libsvm's shrinking heuristic, checked but unused (the optimum does not depend
        on it).

    Returns
    -------
    pred : ndarray of int32, shape (n_cells, n_labelsets, n_slots, max_test)
        Predicted class per test row; -1 on the padding. A training set holding a single
        class predicts that class.

    Raises
    ------
    ShapeError, ParameterError, NonFiniteError
        Inconsistent shapes, out-of-range labels or indices, bad hyper-parameters,
        NaN or infinite features.
    """
    X, Y, train_idx, n_train, test_idx, n_test, n_classes = check_batch(
        X, Y, train_idx, n_train, test_idx, n_test, n_classes)
    C, tol, max_iter, shrinking = check_linear_params(C, tol, max_iter, shrinking)
    return run_pairs(svm_batch, X, Y, train_idx, n_train, test_idx, n_test, n_classes,
                     bool(standardize), bool(class_weight_balanced), True, True, C, 1.0,
                     tol, max_iter, shrinking, chunked=True)


def fit_predict_linear_svm_fixed(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *,
                                 class_weight_balanced=False, C=1.0, tol=1e-3,
                                 max_iter=100000, shrinking=True):
    """Linear SVMs on one fixed feature matrix, every slot a sub-block of one Gram matrix.

    Same problems and results as ``fit_predict_linear_svm(X[None], ...,
    standardize=False)[0]``, but the features are read once: the Gram matrix ``X @ X.T``
    of all trials (float64, BLAS), then per slot its (train, train) and (train, test)
    sub-blocks. Use it where the features do not depend on the split.

    Parameters
    ----------
    X : ndarray, shape (n_trials, n_features)
        Trials x features, float32 (float64 accepted), finite, used as given (not
        standardised).
    Y, train_idx, n_train, test_idx, n_test, n_classes
        As for :func:`fit_predict_linear_svm`.
    class_weight_balanced, C, tol, max_iter, shrinking
        As for :func:`fit_predict_linear_svm`.

    Returns
    -------
    pred : ndarray of int32, shape (n_labelsets, n_slots, max_test)
        Predicted class per test row; -1 on the padding.

    Raises
    ------
    ShapeError, ParameterError, NonFiniteError
        X not 2-D, inconsistent shapes, out-of-range labels or indices, bad
        hyper-parameters, NaN or infinite features.
    """
    C, tol, max_iter, shrinking = check_linear_params(C, tol, max_iter, shrinking)
    return solve_fixed(X, Y, train_idx, n_train, test_idx, n_test, n_classes,
                       bool(class_weight_balanced), True, True, C, 1.0, tol, max_iter,
                       shrinking)

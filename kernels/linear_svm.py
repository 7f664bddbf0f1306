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

Eight at once: :func:`fit_predict_linear_svm` runs the binary problems of a pair's label
sets side by side, eight in the SIMD lanes of one core (:mod:`gpudecode.kernels.lanes`
factors their Newton matrices and solves with them together), the same operations per
problem as one at a time, so the same predictions bit for bit; 1.7x faster per fit at the
real-session shape (bench/RESULTS.md).

Multiclass is libsvm's, as ``SVC`` does it: one SVM per pair of classes present in the
training rows, majority vote, lowest class on ties; ``class_weight_balanced`` gives class
``k`` the penalty ``C * n / (n_present * n_k)`` in every pair it is part of.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._prep import argmax_predict, check_batch, count_classes, cpu_jit, run_pairs
from .lanes import (LANES, back_solve_lanes, cholesky_lanes, forward_solve_lanes,
                    gradient_lanes, lanes_scratch_shape, signed_rows_lanes)
from .linear_qp import (QP_MAX_ITER, QP_ROWS, QP_TOL, cholesky_bordered, direction_end,
                        direction_offset, qp_begin, qp_corrector_target, qp_fallback_rhs,
                        qp_finish, qp_move, qp_newton_diagonal, qp_predictor,
                        qp_residuals_at, qp_step, qp_step_length)
from .rbf_svm import (allocate_feature_scratch, allocate_kernel_scratch,
                      allocate_solver_scratch, binary_labels, check_rbf_params, decision,
                      fit_predict_labelset, pair_order, prepare_pair, slot_matrix,
                      solve_fixed)

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
    return run_pairs(linear_svm_batch, X, Y, train_idx, n_train, test_idx, n_test,
                     n_classes, bool(standardize), bool(class_weight_balanced), C, tol,
                     max_iter, shrinking, chunked=True)


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


# ----------------------------------------------------------------------------- CPU batch
# The label sets of one (cell, slot) pair share its kernel matrices. Their binary problems
# (two classes in the training rows: every row, the same n) run side by side in LANES
# lanes: each lane goes through the interior point's phases on its own problem; the lanes'
# gradients and Newton matrices are formed from their Q matrices, interleaved entry by entry
# (Ql[i, t, lane]), and factored, and solved with, together (kernels/lanes.py). A lane whose
# problem converges writes its predictions and takes the next label set; a label set with
# one class or more than two takes libsvm's full path (fit_predict_labelset) on the spot.
# Each problem gets the same operations as interior_point gives it alone: the same bits.


MIN_BUSY_LANES = 4
"""Below this many lanes at work, each factors its own matrix: the eight-lane
factorisation costs about as much as three single ones."""


@cpu_jit()
def allocate_lane_scratch(max_train, n_classes):
    """Per-lane copies of a binary problem's scratch, in this order: ``counts`` (LANES,
    n_classes) int64, ``order`` (LANES, max_train) int64, ``yv``, ``Cv``, ``coef`` (LANES,
    max_train); the lanes' ``Q`` interleaved, ``Ql`` (max_train, max_train, LANES) float32;
    ``QDs`` (LANES, max_train), ``V`` (LANES, QP_ROWS, max_train); the interleaved Newton
    matrices ``H`` (:func:`gpudecode.kernels.lanes.lanes_scratch_shape`); ``state`` (LANES,
    5) int64: label set (-1: idle), class pair ``ki``, ``kj``, Newton steps, direction pass;
    ``fstate`` (LANES, 7): ``reg``, offset ``b``, ``rp``, ``gap``, ``yy``, ``db``, step; each
    lane's own Newton matrix ``Hl`` (LANES, max_train, max_train + 2); the interleaved
    right-hand sides ``B`` (max_train, LANES); ``Yl`` (max_train + 1, LANES): the labels
    interleaved, last row ``reg``; ``AG`` (2, max_train, LANES): ``a`` and ``G``
    interleaved. Zeros: a lane never given a problem holds finite values."""
    n = max_train
    return (np.zeros((LANES, n_classes), dtype=np.int64), np.zeros((LANES, n), dtype=np.int64),
            np.zeros((LANES, n)), np.zeros((LANES, n)), np.zeros((LANES, n)),
            np.zeros((n, n, LANES), dtype=np.float32), np.zeros((LANES, n)),
            np.zeros((LANES, QP_ROWS, n)), np.zeros(lanes_scratch_shape(n)),
            np.full((LANES, 5), -1, dtype=np.int64), np.zeros((LANES, 7)),
            np.zeros((LANES, n, n + 2)), np.zeros((n, LANES)), np.zeros((n + 1, LANES)),
            np.zeros((2, n, LANES)))


@cpu_jit()
def solve_alone(y, tr, ntr, nte, n_classes, balanced, C, cap, eps, shrinking, Kq, QD, Kt,
                scalar, out_row):
    """One label set by itself (libsvm's full path, :func:`fit_predict_labelset`) on the
    one-problem scratch ``scalar`` (:func:`allocate_solver_scratch`)."""
    (counts, order, alpha, G, G_bar, status, active, yv, Cv, coef, scores, Qs, QDs, obj, V,
     H) = scalar
    fit_predict_labelset(y, tr, ntr, nte, n_classes, balanced, True, True, C, eps, cap,
                         shrinking, Kq, QD, Kt, counts, order, alpha, G, G_bar, status,
                         active, yv, Cv, coef, scores, Qs, QDs, obj, V, H, out_row)


@cpu_jit()
def lane_take(lane, next_lab, Y, tr, ntr, nte, n_classes, balanced, C, cap, eps, shrinking,
              Kq, QD, Kt, scalar, lanes, out):
    """Give ``lane`` the next label set from ``next_lab`` that is a binary problem, solving
    the others on the spot; returns the next label set not taken. ``state[lane, 0]`` is left
    at -1 when none is left. The problem's ``Q`` is built in the one-problem scratch
    (``scalar``), which starts the interior point (its gradient in ``V[lane, 4]``), and
    copied into the lane."""
    counts, order, yv, Cv, coef, Ql, QDs, V, H, state, fstate, Hl, B, Yl, AG = lanes
    Qt = scalar[11]
    n_sets = Y.shape[0]
    state[lane, 0] = -1
    while next_lab < n_sets:
        lab = next_lab
        next_lab += 1
        y = Y[lab]
        n_present = count_classes(y, tr, ntr, n_classes, counts[lane])
        if n_present != 2:
            solve_alone(y, tr, ntr, nte, n_classes, balanced, C, cap, eps, shrinking, Kq, QD,
                        Kt, scalar, out[lab])
            continue
        ki = -1
        kj = -1
        for k in range(n_classes):
            if counts[lane, k] > 0:
                if ki < 0:
                    ki = k
                else:
                    kj = k
        n = pair_order(y, tr, ntr, ki, kj, order[lane])
        Cp = C
        Cn = C
        if balanced:
            Cp = C * (ntr / (n_present * 1.0 * counts[lane, ki]))
            Cn = C * (ntr / (n_present * 1.0 * counts[lane, kj]))
        slot_matrix(Kq, QD, order[lane], n, counts[lane, ki], Qt, QDs[lane])
        binary_labels(n, counts[lane, ki], Cp, Cn, yv[lane], Cv[lane])
        fstate[lane, 0] = qp_begin(Qt, n, Cv[lane], V[lane])
        fstate[lane, 1] = 0.0
        _to_lanes(yv[lane], n, Yl, lane)
        for i in range(n):
            _to_lanes(Qt[i], n, Ql[i], lane)
        state[lane, 0] = lab
        state[lane, 1] = ki
        state[lane, 2] = kj
        state[lane, 3] = 0
        break
    return next_lab


@cpu_jit()
def lane_finish(lane, ntr, nte, n_classes, Kt, scores, lanes, out):
    """Predictions of ``lane``'s converged problem into its label set's row of ``out``."""
    counts, order, yv, Cv, coef, Ql, QDs, V, H, state, fstate, Hl, B, Yl, AG = lanes
    lab = state[lane, 0]
    ki = state[lane, 1]
    kj = state[lane, 2]
    rho = qp_finish(ntr, yv[lane], V[lane], coef[lane])
    row = out[lab]
    for t in range(row.shape[0]):
        row[t] = -1
    for t in range(nte):
        for k in range(n_classes):
            scores[t, k] = 0.0
    for t in range(nte):
        if decision(coef[lane], order[lane], ntr, Kt, t, rho) > 0.0:
            scores[t, ki] += 1.0
        else:
            scores[t, kj] += 1.0
    argmax_predict(scores, nte, counts[lane], n_classes, row)


@cpu_jit()
def newton_lanes(n, lanes):
    """Every lane's ``linear_qp.qp_newton_matrix`` at its iterate, into ``H``: ``Q + reg y
    y'`` in all lanes at once, then each lane's diagonal and right-hand columns (idle lanes
    too, from their last iterate, so that their factorisation takes no slow branch)."""
    counts, order, yv, Cv, coef, Ql, QDs, V, H, state, fstate, Hl, B, Yl, AG = lanes
    reg_row = Yl.shape[0] - 1
    for lane in range(LANES):
        Yl[reg_row, lane] = fstate[lane, 0]
    signed_rows_lanes(Ql, Yl, reg_row, n, H)
    for lane in range(LANES):
        qp_newton_diagonal(n, yv[lane], V[lane], H[:, :, lane])


@cpu_jit()
def gradients_lanes(n, lanes):
    """The gradient ``G = Q a - 1`` of every busy lane into ``V[lane, 4]``
    (``linear_qp.qp_gradient``, all lanes at once)."""
    counts, order, yv, Cv, coef, Ql, QDs, V, H, state, fstate, Hl, B, Yl, AG = lanes
    for lane in range(LANES):
        if state[lane, 0] >= 0:
            _to_lanes(V[lane, 0], n, AG[0], lane)
    gradient_lanes(Ql, AG[0], n, AG[1])
    for lane in range(LANES):
        if state[lane, 0] >= 0:
            _from_lanes(AG[1], n, lane, V[lane, 4])


@cpu_jit()
def _lane_matrix(H, n, w, lane, M):
    """``M[i, k] = H[i, k, lane]`` on the upper triangle and bordered columns."""
    for i in range(n):
        for k in range(i, w):
            M[i, k] = H[i, k, lane]


@cpu_jit()
def solve_pair_lanes(Y, tr, ntr, nte, n_classes, balanced, C, cap, eps, shrinking, Kq, QD,
                     Kt, scalar, lanes, out):
    """Every label set of one prepared (cell, slot) pair; ``out`` (n_labelsets, max_test).
    Fewer label sets than ``MIN_BUSY_LANES`` are solved one by one."""
    counts, order, yv, Cv, coef, Ql, QDs, V, H, state, fstate, Hl, B, Yl, AG = lanes
    scores = scalar[10]
    if Y.shape[0] < MIN_BUSY_LANES:
        for lab in range(Y.shape[0]):
            solve_alone(Y[lab], tr, ntr, nte, n_classes, balanced, C, cap, eps, shrinking, Kq,
                        QD, Kt, scalar, out[lab])
        return
    next_lab = 0
    for lane in range(LANES):
        next_lab = lane_take(lane, next_lab, Y, tr, ntr, nte, n_classes, balanced, C, cap,
                             eps, shrinking, Kq, QD, Kt, scalar, lanes, out)
    while True:
        # every busy lane's gradient is current: from qp_begin or gradients_lanes
        busy = 0
        for lane in range(LANES):
            while state[lane, 0] >= 0:
                converged, rp, gap = qp_residuals_at(ntr, yv[lane], fstate[lane, 1], QP_TOL,
                                                     V[lane])
                if not converged and state[lane, 3] < cap:
                    state[lane, 3] += 1
                    fstate[lane, 2] = rp
                    fstate[lane, 3] = gap
                    busy += 1
                    break
                lane_finish(lane, ntr, nte, n_classes, Kt, scores, lanes, out)
                next_lab = lane_take(lane, next_lab, Y, tr, ntr, nte, n_classes, balanced,
                                     C, cap, eps, shrinking, Kq, QD, Kt, scalar, lanes, out)
        if busy == 0:
            return
        newton_lanes(ntr, lanes)
        if busy < MIN_BUSY_LANES:
            for lane in range(LANES):
                if state[lane, 0] >= 0:
                    _lane_matrix(H, ntr, ntr + 2, lane, Hl[lane])
                    cholesky_bordered(Hl[lane], ntr, ntr + 2)
                    fstate[lane, 1] += qp_step(Hl[lane], ntr, yv[lane], fstate[lane, 0],
                                               fstate[lane, 2], fstate[lane, 3], V[lane])
        else:
            cholesky_lanes(H, ntr, ntr + 2)
            step_lanes(ntr, lanes)
        gradients_lanes(ntr, lanes)


@cpu_jit()
def _to_lanes(v, n, B, lane):
    for i in range(n):
        B[i, lane] = v[i]


@cpu_jit()
def _from_lanes(B, n, lane, v):
    for i in range(n):
        v[i] = B[i, lane]


@cpu_jit()
def _direction_lanes(n, lanes, which):
    """The forward solve, offset and back solve of a direction in every lane with
    ``state[lane, 4] >= which`` (its right-hand side in ``V[lane, 6]``), the solves in all
    lanes at once."""
    counts, order, yv, Cv, coef, Ql, QDs, V, H, state, fstate, Hl, B, Yl, AG = lanes
    for lane in range(LANES):
        if state[lane, 4] >= which:
            _to_lanes(V[lane, 6], n, B, lane)
    forward_solve_lanes(H, n, B)
    for lane in range(LANES):
        if state[lane, 4] >= which:
            _from_lanes(B, n, lane, V[lane, 6])
            fstate[lane, 5] = direction_offset(H[:, :, lane], n, fstate[lane, 2],
                                               fstate[lane, 4], V[lane, 6], V[lane, 7])
            _to_lanes(V[lane, 7], n, B, lane)
    back_solve_lanes(H, n, B)
    for lane in range(LANES):
        if state[lane, 4] >= which:
            _from_lanes(B, n, lane, V[lane, 7])
            direction_end(n, V[lane, 0], V[lane, 1], V[lane, 2], V[lane, 3], V[lane, 7],
                          V[lane, 8], V[lane, 9])
            step, fall_back = qp_step_length(n, fstate[lane, 3], V[lane])
            fstate[lane, 6] = step
            state[lane, 4] = 2 if fall_back else 1


@cpu_jit()
def step_lanes(n, lanes):
    """``qp_step`` in every busy lane (``state[lane, 0] >= 0``), from the factors in
    ``H``: the same phases per lane, each triangular solve done in all lanes at once."""
    counts, order, yv, Cv, coef, Ql, QDs, V, H, state, fstate, Hl, B, Yl, AG = lanes
    for lane in range(LANES):
        state[lane, 4] = 1 if state[lane, 0] >= 0 else 0
        if state[lane, 4]:
            fstate[lane, 4] = qp_predictor(H[:, :, lane], n, fstate[lane, 2], V[lane])
            _to_lanes(V[lane, 7], n, B, lane)
    back_solve_lanes(H, n, B)
    for lane in range(LANES):
        if state[lane, 4]:
            _from_lanes(B, n, lane, V[lane, 7])
            qp_corrector_target(n, fstate[lane, 3], V[lane])
    _direction_lanes(n, lanes, 1)
    n_fall_back = 0
    for lane in range(LANES):
        if state[lane, 4] == 2:
            n_fall_back += 1
            qp_fallback_rhs(n, fstate[lane, 3], V[lane])
    if n_fall_back:
        _direction_lanes(n, lanes, 2)
    for lane in range(LANES):
        if state[lane, 0] >= 0:
            step = fstate[lane, 6]
            qp_move(n, step, V[lane])
            fstate[lane, 1] += step * (fstate[lane, 5] - fstate[lane, 0] * fstate[lane, 2])


@cpu_jit(parallel=True)
def linear_svm_batch(X, Y, train_idx, n_train, test_idx, n_test, n_classes, standardize,
                     balanced, C, eps, max_iter, shrinking, n_chunks, pred):
    d = X.shape[2]
    n_slots = train_idx.shape[0]
    nmax = train_idx.shape[1]
    mmax = max(test_idx.shape[1], 1)
    n_pairs = X.shape[0] * n_slots
    cap = max_iter if max_iter < QP_MAX_ITER else QP_MAX_ITER
    for ch in prange(n_chunks):
        # one set of scratch per chunk of (cell, slot) pairs
        xtr, xte, xsq, stats = allocate_feature_scratch(nmax, mmax, d)
        Kq, QD, Kt = allocate_kernel_scratch(nmax, mmax)
        scalar = allocate_solver_scratch(nmax, mmax, n_classes, True)
        lanes = allocate_lane_scratch(nmax, n_classes)
        for pair in range(ch * n_pairs // n_chunks, (ch + 1) * n_pairs // n_chunks):
            c = pair // n_slots
            s = pair - c * n_slots
            ntr = np.int64(n_train[s])
            nte = np.int64(n_test[s])
            prepare_pair(X, c, train_idx[s], ntr, test_idx[s], nte, standardize, True, 1.0,
                         xtr, xte, xsq, stats, Kq, QD, Kt)
            solve_pair_lanes(Y, train_idx[s], ntr, nte, n_classes, balanced, C, cap, eps,
                             shrinking, Kq, QD, Kt, scalar, lanes, pred[c, :, s])

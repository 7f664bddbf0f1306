"""Batched linear SVM (hinge loss, L2, bias): liblinear's dual coordinate descent, Numba CPU.

Solves, for every cell x label set x split slot, the problem of scikit-learn's
``LinearSVC(loss="hinge", C=C, dual=True)``: liblinear's L1-loss SVC dual

    min_a  0.5 a^T Q a - sum(a),   0 <= a_i <= C_i,   Q_ij = y_i y_j (x_i . x_j + 1),

where the bias is an extra feature of value 1 (``intercept_scaling=1``) and is
regularised like the weights. The primal ``w`` (bias included) is unique, so the same
predictions follow from any path to the optimum. The coordinate order is liblinear's (a
shuffle of the active set every epoch, with its shrinking and its stopping rule
``max PG - min PG <= tol``) but drawn from a fixed-seed LCG, so runs are deterministic and
the CPU and GPU kernels take identical steps.

Coordinate descent crawls once it is near the optimum, so every ``POLISH_EVERY`` epochs and
at the end the dual is minimised exactly over the free coordinates (those strictly inside
``(0, C_i)``, at most ``d + 1`` of them at the optimum), holding the others at their bounds:
one small Cholesky solve, stepping only as far as the box allows. When the active set is
right this lands on the optimum to round-off, and the run stops as soon as the full
projected-gradient spread is within ``tol``. In degenerate problems with more free points
than dimensions (typically ``w = 0`` exactly, e.g. one-vs-rest on pure noise) the points on
the margin fix ``w`` by least squares instead, kept only if the primal objective drops.

Two representations, chosen once per call: with at most ``n_features + 1`` training rows
the gradient of coordinate ``i`` is ``sum_j a_j y_j Kb_ij`` on the bias-augmented Gram
matrix ``Kb`` of the standardised training rows (computed once per cell x slot and shared
by all label sets and one-vs-rest classes); otherwise liblinear's primal ``w`` is kept.

Multiclass: liblinear's one-vs-rest (class ``k`` against the rest, ``argmax`` of the
decision values, first class on ties). ``class_weight_balanced`` follows liblinear as
scikit-learn calls it: weight ``w_k = n / (n_present * n_k)``; binary problems use
``C * w_k`` for each class, one-vs-rest problem ``k`` uses ``C * w_k`` for class ``k`` and
plain ``C`` for the rest.

Classes absent from a training set are left out, as scikit-learn (which only sees the
classes present) does; a training set with one class predicts it. On the CPU the
(cell x slot) pairs are spread over Numba's threads (``_prep.run_blocks``); each pair is
gathered and standardised once and then solved for every label set.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from ._prep import (RCOND, argmax_predict, check_batch, check_max_iter, check_positive,
                    cholesky, cholesky_solve, count_classes, cpu_jit, device, device_namespace,
                    dot_rows, dot_vr, gather_rows, gram, predict_single, run_pairs)

__all__ = ["fit_predict_linear_svm", "uses_gram", "scratch_shapes", "SCRATCH_DTYPES"]

LCG_SEED = 12345
POLISH_EVERY = 10


def uses_gram(max_train: int, n_features: int) -> bool:
    """Whether the solver works on the Gram matrix (few rows) rather than on ``w``."""
    return max_train <= n_features + 1


SCRATCH_DTYPES = (np.float64, np.float64, np.float64, np.float64, np.float64, np.float64,
                  np.int64, np.int64, np.float64)
"""dtypes of the scratch arrays :func:`scratch_shapes` sizes, in its order."""


@cpu_jit()
def scratch_shapes(max_train, max_test, n_features, n_classes, use_gram):
    """Shapes of one problem's scratch arrays, the one declaration both twins allocate from.

    In order: ``xtr`` (max_train, d), ``xte`` (max(max_test, 1), d), ``ms`` (2, d) feature
    means and scales, ``Kb`` the bias-augmented Gram matrix (max_train square with
    ``use_gram``, else 1 x 1), ``Qf`` the polishing system (cap x cap, cap = ``min(max_train,
    d + 1)`` free coordinates at most), ``fs`` float vector (ys, ub, alpha, beta, qd:
    max_train each; w, u: d + 1 each; rhs: cap, as :func:`solve_labelset` slices it),
    ``iscr`` integer vector (index: max_train; fidx: cap), ``counts`` (n_classes,) and
    ``dec`` (max(max_test, 1), n_classes). dtypes: :data:`SCRATCH_DTYPES`.
    """
    m = max_train
    d = n_features
    mt = max(max_test, 1)
    mg = m if use_gram else 1
    cap = min(m, d + 1)
    return ((m, d), (mt, d), (2, d), (mg, mg), (cap, cap), (5 * m + 2 * (d + 1) + cap,),
            (m + cap,), (n_classes,), (mt, n_classes))


@cpu_jit()
def allocate_scratch(max_train, max_test, n_features, n_classes, use_gram):
    """The CPU kernel's scratch arrays, allocated as :func:`scratch_shapes` declares."""
    sh = scratch_shapes(max_train, max_test, n_features, n_classes, use_gram)
    return (np.empty(sh[0]), np.empty(sh[1]), np.empty(sh[2]), np.empty(sh[3]),
            np.empty(sh[4]), np.empty(sh[5]), np.empty(sh[6], dtype=np.int64),
            np.empty(sh[7], dtype=np.int64), np.empty(sh[8]))


@device
def kkt_spread(xtr, Kb, n, d, use_gram, ys, ub, alpha, beta, w):
    pg_max = -math.inf
    pg_min = math.inf
    for i in range(n):
        if use_gram:
            g = dot_vr(beta, Kb, i, n)
        else:
            g = w[d] + dot_vr(w, xtr, i, d)
        g = g * ys[i] - 1.0
        pg = g
        if alpha[i] == 0.0:
            pg = min(g, 0.0)
        elif alpha[i] == ub[i]:
            pg = max(g, 0.0)
        pg_max = max(pg_max, pg)
        pg_min = min(pg_min, pg)
    return pg_max - pg_min


@device
def polish(xtr, Kb, n, d, use_gram, ys, ub, alpha, beta, w, u, rhs, fidx, Qf):
    # Minimise the dual exactly over the free coordinates (the others held at their
    # bounds), then move toward that point as far as the box allows.
    cap = fidx.shape[0]
    nf = 0
    for i in range(n):
        if alpha[i] > 0.0 and alpha[i] < ub[i]:
            if nf == cap:
                return
            fidx[nf] = i
            nf += 1
    if nf == 0:
        return
    if use_gram:
        for a in range(nf):
            i = fidx[a]
            acc = 0.0
            for j in range(n):
                if not (alpha[j] > 0.0 and alpha[j] < ub[j]):
                    acc += beta[j] * Kb[i, j]
            rhs[a] = 1.0 - ys[i] * acc
            for b in range(a + 1):
                k = fidx[b]
                Qf[a, b] = ys[i] * ys[k] * Kb[i, k]
    else:
        for j in range(d + 1):
            u[j] = w[j]
        for a in range(nf):
            i = fidx[a]
            for j in range(d):
                u[j] -= beta[i] * xtr[i, j]
            u[d] -= beta[i]
        for a in range(nf):
            i = fidx[a]
            rhs[a] = 1.0 - ys[i] * (u[d] + dot_vr(u, xtr, i, d))
            for b in range(a + 1):
                k = fidx[b]
                Qf[a, b] = ys[i] * ys[k] * (1.0 + dot_rows(xtr, i, xtr, k, d))
    if not cholesky(Qf, nf, RCOND):
        return
    cholesky_solve(Qf, nf, rhs)
    t = 1.0
    block = -1
    for a in range(nf):
        i = fidx[a]
        cur = alpha[i]
        if rhs[a] < 0.0:
            r = cur / (cur - rhs[a])
            if r < t:
                t = r
                block = a
        elif rhs[a] > ub[i]:
            r = (ub[i] - cur) / (rhs[a] - cur)
            if r < t:
                t = r
                block = a
    for a in range(nf):
        i = fidx[a]
        v = alpha[i] + t * (rhs[a] - alpha[i])
        if a == block:
            v = 0.0 if rhs[a] < 0.0 else ub[i]
        v = min(max(v, 0.0), ub[i])
        alpha[i] = v
        beta[i] = v * ys[i]
    if not use_gram:
        for j in range(d + 1):
            w[j] = 0.0
        for i in range(n):
            if beta[i] != 0.0:
                for j in range(d):
                    w[j] += beta[i] * xtr[i, j]
                w[d] += beta[i]


@device
def primal_objective(xtr, n, d, ys, ub, w):
    acc = 0.0
    for j in range(d + 1):
        acc += w[j] * w[j]
    acc *= 0.5
    for i in range(n):
        f = w[d] + dot_vr(w, xtr, i, d)
        slack = 1.0 - ys[i] * f
        if slack > 0.0:
            acc += ub[i] * slack
    return acc


@device
def margin_polish(xtr, n, d, ys, ub, alpha, w, u, rhs, Qf):
    # More free points than dimensions (degenerate problems, e.g. w ~ 0): the points on
    # the margin then pin w down alone, w = argmin ||Z_M w - 1||. Kept if the primal
    # objective drops.
    p = d + 1
    if Qf.shape[0] < p:
        return
    nf = 0
    for j in range(p):
        rhs[j] = 0.0
        for k in range(p):
            Qf[j, k] = 0.0
    for i in range(n):
        if alpha[i] > 0.0 and alpha[i] < ub[i]:
            nf += 1
            for j in range(p):
                xj = xtr[i, j] if j < d else 1.0
                rhs[j] += ys[i] * xj
                for k in range(j + 1):
                    xk = xtr[i, k] if k < d else 1.0
                    Qf[j, k] += xj * xk
    if nf <= p:
        return
    if not cholesky(Qf, p, RCOND):
        return
    cholesky_solve(Qf, p, rhs)
    for j in range(p):
        u[j] = rhs[j]
    if primal_objective(xtr, n, d, ys, ub, u) < primal_objective(xtr, n, d, ys, ub, w):
        for j in range(p):
            w[j] = u[j]


@device
def dcd(xtr, Kb, n, d, use_gram, ys, ub, alpha, beta, qd, index, w, u, rhs, fidx, Qf,
        tol, max_iter):
    for i in range(n):
        alpha[i] = 0.0
        beta[i] = 0.0
        index[i] = i
        if use_gram:
            qd[i] = Kb[i, i]
        else:
            acc = 1.0
            for j in range(d):
                acc += xtr[i, j] * xtr[i, j]
            qd[i] = acc
    for j in range(d + 1):
        w[j] = 0.0
    state = LCG_SEED
    active = n
    pg_max_old = math.inf
    pg_min_old = -math.inf
    it = 0
    while it < max_iter:
        pg_max_new = -math.inf
        pg_min_new = math.inf
        for i in range(active):
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            j = i + state % (active - i)
            tmp = index[i]
            index[i] = index[j]
            index[j] = tmp
        s = 0
        while s < active:
            i = index[s]
            if use_gram:
                g = dot_vr(beta, Kb, i, n)
            else:
                g = w[d] + dot_vr(w, xtr, i, d)
            g = g * ys[i] - 1.0
            cap = ub[i]
            pg = 0.0
            if alpha[i] == 0.0:
                if g > pg_max_old:
                    active -= 1
                    tmp = index[s]
                    index[s] = index[active]
                    index[active] = tmp
                    continue
                elif g < 0.0:
                    pg = g
            elif alpha[i] == cap:
                if g < pg_min_old:
                    active -= 1
                    tmp = index[s]
                    index[s] = index[active]
                    index[active] = tmp
                    continue
                elif g > 0.0:
                    pg = g
            else:
                pg = g
            if pg > pg_max_new:
                pg_max_new = pg
            if pg < pg_min_new:
                pg_min_new = pg
            if abs(pg) > 1e-12:
                old = alpha[i]
                new = min(max(old - g / qd[i], 0.0), cap)
                alpha[i] = new
                step = (new - old) * ys[i]
                beta[i] = new * ys[i]
                if not use_gram:
                    for j in range(d):
                        w[j] += step * xtr[i, j]
                    w[d] += step
            s += 1
        it += 1
        converged = pg_max_new - pg_min_new <= tol
        if converged and active < n:
            active = n
            pg_max_old = math.inf
            pg_min_old = -math.inf
            continue
        if converged or it % POLISH_EVERY == 0:
            polish(xtr, Kb, n, d, use_gram, ys, ub, alpha, beta, w, u, rhs, fidx, Qf)
            if converged or kkt_spread(xtr, Kb, n, d, use_gram, ys, ub, alpha, beta,
                                       w) <= tol:
                break
            active = n
            pg_max_old = math.inf
            pg_min_old = -math.inf
            continue
        pg_max_old = pg_max_new
        pg_min_old = pg_min_new
        if pg_max_old <= 0.0:
            pg_max_old = math.inf
        if pg_min_old >= 0.0:
            pg_min_old = -math.inf
    if use_gram:
        for j in range(d + 1):
            w[j] = 0.0
        for i in range(n):
            for j in range(d):
                w[j] += beta[i] * xtr[i, j]
            w[d] += beta[i]
    elif Qf.shape[0] == d + 1:
        margin_polish(xtr, n, d, ys, ub, alpha, w, u, rhs, Qf)
    return it


@device
def decide(xte, nte, d, w, dec, col):
    for t in range(nte):
        dec[t, col] = w[d] + dot_vr(w, xte, t, d)


@device
def solve_labelset(xtr, xte, Kb, ntr, nte, d, use_gram, y, tr, n_classes, balanced, C,
                   tol, max_iter, counts, fs, iscr, Qf, dec, out_row):
    present = count_classes(y, tr, ntr, n_classes, counts)
    m = xtr.shape[0]
    cap = Qf.shape[0]
    ys = fs[0:m]
    ub = fs[m:2 * m]
    alpha = fs[2 * m:3 * m]
    beta = fs[3 * m:4 * m]
    qd = fs[4 * m:5 * m]
    w = fs[5 * m:5 * m + d + 1]
    u = fs[5 * m + d + 1:5 * m + 2 * d + 2]
    rhs = fs[5 * m + 2 * d + 2:5 * m + 2 * d + 2 + cap]
    index = iscr[0:m]
    fidx = iscr[m:m + cap]
    lo = -1
    hi = -1
    for k in range(n_classes):
        if counts[k] > 0:
            if lo < 0:
                lo = k
            hi = k
    if present == 1:
        predict_single(out_row, nte, lo)
        return
    for k in range(n_classes):
        if counts[k] == 0 or (present == 2 and k == lo):
            continue
        # binary: one problem, the higher class positive; else class k against the rest
        c_pos = C
        c_neg = C
        if balanced:
            c_pos = C * ntr / (present * 1.0 * counts[k])
            if present == 2:
                c_neg = C * ntr / (2.0 * counts[lo])
        for i in range(ntr):
            if y[tr[i]] == k:
                ys[i] = 1.0
                ub[i] = c_pos
            else:
                ys[i] = -1.0
                ub[i] = c_neg
        dcd(xtr, Kb, ntr, d, use_gram, ys, ub, alpha, beta, qd, index, w, u, rhs, fidx, Qf,
            tol, max_iter)
        decide(xte, nte, d, w, dec, k)
    if present == 2:
        for t in range(out_row.shape[0]):
            if t >= nte:
                out_row[t] = -1
            elif dec[t, hi] > 0.0:
                out_row[t] = hi
            else:
                out_row[t] = lo
        return
    argmax_predict(dec, nte, counts, n_classes, out_row)

def build(target: str) -> SimpleNamespace:
    """The per-problem solver compiled for ``"cpu"`` or ``"cuda"`` (device functions)."""
    return device_namespace(__name__, target)


@device
def solve_pair(X, Y, train_idx, n_train, test_idx, n_test, c, s, lab_lo, lab_hi, n_classes,
               standardize, balanced, C, tol, max_iter, use_gram, out, xtr, xte, ms, Kb, Qf,
               fs, iscr, counts, dec):
    """Label sets ``lab_lo..lab_hi-1`` of the (cell ``c``, slot ``s``) pair: gather and
    standardise the rows (and their Gram matrix) once, then solve each label set.

    The step both batch drivers repeat: the CPU one per pair for every label set, the GPU
    one per problem (``_gpu.per_thread_kernel``). Scratch as :func:`scratch_shapes`.
    """
    d = X.shape[2]
    ntr = n_train[s]
    nte = n_test[s]
    gather_rows(X, c, train_idx[s], ntr, test_idx[s], nte, standardize, xtr, xte, ms[0], ms[1])
    if use_gram:
        gram(xtr, ntr, d, 1.0, Kb)
    for lab in range(lab_lo, lab_hi):
        solve_labelset(xtr, xte, Kb, ntr, nte, d, use_gram, Y[lab], train_idx[s], n_classes,
                       balanced, C, tol, max_iter, counts, fs, iscr, Qf, dec, out[c, lab, s])


@cpu_jit()
def _batch(start, stop, X, Y, train_idx, n_train, test_idx, n_test, n_classes, standardize,
           balanced, C, tol, max_iter, use_gram, out):
    """Solve the (cell x slot) pairs start..stop-1 for every label set (one scratch set)."""
    xtr, xte, ms, Kb, Qf, fs, iscr, counts, dec = allocate_scratch(
        train_idx.shape[1], test_idx.shape[1], X.shape[2], n_classes, use_gram)
    n_slots = train_idx.shape[0]
    for pair in range(start, stop):
        c = pair // n_slots
        solve_pair(X, Y, train_idx, n_train, test_idx, n_test, c, pair - c * n_slots, 0,
                   Y.shape[0], n_classes, standardize, balanced, C, tol, max_iter, use_gram,
                   out, xtr, xte, ms, Kb, Qf, fs, iscr, counts, dec)


def check_params(C, max_iter, tol):
    """Validate the hyper-parameters; returns ``(C, max_iter, tol)`` as float, int, float."""
    return (check_positive(C, "C", "1.0"), check_max_iter(max_iter),
            check_positive(tol, "tol", "1e-4"))


def fit_predict_linear_svm(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *,
                           standardize=True, class_weight_balanced=False, C=1.0,
                           max_iter=1000, tol=1e-4):
    """Fit and apply a linear SVM (hinge loss) for every cell x label set x split slot, on the CPU.

    Same solution as scikit-learn's ``LinearSVC(loss="hinge", C=C, dual=True)`` fit on the
    (standardised) training rows; see the module docstring for the solver, multiclass and
    class weights.

    Parameters
    ----------
    X : ndarray, shape (n_cells, n_trials, n_features)
        Cells x trials x features (float32; float64 also accepted). All finite.
    Y : ndarray of int32, shape (n_labelsets, n_trials)
        Class codes ``0..n_classes-1``; row 0 observed labels, further rows permutations.
    train_idx : ndarray of int32, shape (n_slots, max_train)
        Training trials of each split slot, padded with -1.
    n_train : ndarray of int32, shape (n_slots,)
    test_idx : ndarray of int32, shape (n_slots, max_test)
        Test trials of each slot, padded with -1.
    n_test : ndarray of int32, shape (n_slots,)
    n_classes : int
    standardize : bool
        Centre and scale each feature by the training rows' mean and population std.
    class_weight_balanced : bool
        scikit-learn's ``class_weight="balanced"`` (liblinear's per-class C).
    C : float
        Inverse regularisation strength, > 0.
    max_iter : int
        Most epochs of coordinate descent (liblinear's ``max_iter``).
    tol : float
        Stop when the projected-gradient spread ``max PG - min PG`` is at most ``tol``
        (liblinear's ``eps``).

    Returns
    -------
    pred : ndarray of int32, shape (n_cells, n_labelsets, n_slots, max_test)
        Predicted class codes; -1 at padding. A training set with one class predicts it.

    Raises
    ------
    ShapeError, ParameterError, NonFiniteError
        Bad shapes, indices, labels or hyper-parameters; NaN or infinite features.
    """
    X, Y, train_idx, n_train, test_idx, n_test, n_classes = check_batch(
        X, Y, train_idx, n_train, test_idx, n_test, n_classes)
    C, max_iter, tol = check_params(C, max_iter, tol)
    return run_pairs(_batch, X, Y, train_idx, n_train, test_idx, n_test, n_classes,
                     bool(standardize), bool(class_weight_balanced), C, tol, max_iter,
                     uses_gram(train_idx.shape[1], X.shape[2]))

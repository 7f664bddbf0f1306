"""Batched linear discriminant analysis (closed form, optional shrinkage), Numba CPU.

For every cell x label set x split slot, the model of scikit-learn's
``LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage)`` fit on the
(standardised) training rows, natively multiclass:

- priors ``pi_k`` = class frequencies among the training rows (``class_weight_balanced``:
  equal priors, as ``priors=np.full(K, 1/K)``), means ``m_k``;
- pooled covariance ``S = sum_k pi_k S_k`` (scikit-learn's ``_class_cov``) where ``S_k`` is
  the class's biased empirical covariance, shrunk per class:
  ``shrinkage=None``: ``S_k`` as is; a float ``s``: ``(1 - s) S_k + s tr(S_k)/d I``;
  ``"auto"``: Ledoit-Wolf on the class rows standardised by their own mean and std
  (constant features keep scale 1), rescaled back, exactly as ``sklearn.covariance.ledoit_wolf``
  after ``StandardScaler`` does it;
- ``coef_k = S^-1 m_k`` (Cholesky), ``intercept_k = -m_k . coef_k / 2 + log(pi_k)``; the
  prediction is the class with the largest score, the first on ties (for two classes this is
  scikit-learn's sign of the score difference, ties to the first class).

A numerically singular ``S`` (no shrinkage with fewer training rows than features + classes)
has no unique solution: there scikit-learn's ``lstsq`` answer is dominated by round-off, and
this kernel uses the minimum-norm (pseudo-inverse) solution instead, from a Jacobi
eigendecomposition with eigenvalues below ``1e-10`` of the largest treated as zero. Use
``shrinkage="auto"`` there.

Classes absent from a training set are left out, as scikit-learn (which only sees the
classes present) does; a training set with one class predicts it. On the CPU the
(cell x slot) pairs are spread over Numba's threads (``_prep.run_blocks``); each pair is
gathered and standardised once and then solved for every label set.
"""

from __future__ import annotations

import math
import numbers
from types import SimpleNamespace

import numpy as np

from ..errors import ParameterError
from ._prep import (EPS, RCOND, argmax_predict, check_batch, cholesky, cholesky_solve,
                    count_classes, cpu_jit, device, device_namespace, dot_rows, gather_rows,
                    predict_single, run_pairs)

__all__ = ["fit_predict_lda", "shrinkage_mode", "scratch_shapes", "SCRATCH_DTYPES"]

MAX_SWEEPS = 60


def shrinkage_mode(shrinkage) -> tuple[int, float]:
    """Encode ``shrinkage`` (None, "auto" or a float in [0, 1]) as ``(mode, value)`` for kernels.

    Mode 0: none, 1: fixed value, 2: Ledoit-Wolf ("auto").

    Raises
    ------
    ParameterError
        Any other value.
    """
    if shrinkage is None:
        return 0, 0.0
    if isinstance(shrinkage, str):
        if shrinkage == "auto":
            return 2, 0.0
    elif isinstance(shrinkage, numbers.Real) and not isinstance(shrinkage, bool) \
            and 0.0 <= shrinkage <= 1.0:
        return 1, float(shrinkage)
    raise ParameterError(f"shrinkage must be None, 'auto' or a number in [0, 1], got "
                         f"{shrinkage!r}.", field="shrinkage",
                         fix="pass shrinkage='auto' (Ledoit-Wolf), a float such as 0.1, or None.")


@cpu_jit()
def work_side(max_train, n_features, n_classes):
    """Side of the square work matrices: d, or the rows of the minimum-norm path if larger."""
    return max(n_features, min(max_train, n_features + n_classes - 1))


SCRATCH_DTYPES = (np.float64,) * 9 + (np.int64, np.float64)
"""dtypes of the scratch arrays :func:`scratch_shapes` sizes, in its order."""


@cpu_jit()
def scratch_shapes(max_train, max_test, n_features, n_classes):
    """Shapes of one problem's scratch arrays, the one declaration both twins allocate from.

    In order: ``xtr`` (max_train, d), ``xte`` (max(max_test, 1), d), ``ms`` (2, d) feature
    means and scales, ``cov`` (d, d), the work matrices ``W1`` (q, q) and ``W2`` (q, d)
    (q = :func:`work_side`), ``means`` and ``coef`` (n_classes, d), ``fs`` float vector
    (prior: n_classes, scale and z: d each, u: max_train, as :func:`solve_labelset` slices
    it), ``counts`` (n_classes,) and ``dec`` (max(max_test, 1), n_classes). dtypes:
    :data:`SCRATCH_DTYPES`.
    """
    m = max_train
    d = n_features
    mt = max(max_test, 1)
    q = work_side(m, d, n_classes)
    return ((m, d), (mt, d), (2, d), (d, d), (q, q), (q, d), (n_classes, d), (n_classes, d),
            (n_classes + 2 * d + m,), (n_classes,), (mt, n_classes))


@cpu_jit()
def allocate_scratch(max_train, max_test, n_features, n_classes):
    """The CPU kernel's scratch arrays, allocated as :func:`scratch_shapes` declares."""
    sh = scratch_shapes(max_train, max_test, n_features, n_classes)
    return (np.empty(sh[0]), np.empty(sh[1]), np.empty(sh[2]), np.empty(sh[3]),
            np.empty(sh[4]), np.empty(sh[5]), np.empty(sh[6]), np.empty(sh[7]),
            np.empty(sh[8]), np.empty(sh[9], dtype=np.int64), np.empty(sh[10]))


@device
def class_cov(xtr, ntr, d, y, tr, k, n_k, mean, mode, value, S, scale, z):
    """Shrunk covariance of class k into the lower triangle of S (z: d scratch)."""
    for j in range(d):
        for l in range(j + 1):
            S[j, l] = 0.0
    for i in range(ntr):
        if y[tr[i]] != k:
            continue
        for j in range(d):
            z[j] = xtr[i, j] - mean[j]
        for j in range(d):
            zj = z[j]
            for l in range(j + 1):
                S[j, l] += zj * z[l]
    inv_n = 1.0 / n_k
    for j in range(d):
        for l in range(j + 1):
            S[j, l] *= inv_n
    if mode == 1:
        tr_s = 0.0
        for j in range(d):
            tr_s += S[j, j]
        for j in range(d):
            for l in range(j + 1):
                S[j, l] *= 1.0 - value
            S[j, j] += value * tr_s / d
    elif mode == 2 and d > 1:
        # Ledoit-Wolf on the class rows standardised by the class mean and std
        for j in range(d):
            var = S[j, j]
            bound = n_k * EPS * var + (n_k * mean[j] * EPS) * (n_k * mean[j] * EPS)
            scale[j] = math.sqrt(var) if var > bound else 1.0
            z[j] = 1.0 / scale[j]
        beta_ = 0.0
        for i in range(ntr):
            if y[tr[i]] != k:
                continue
            row = 0.0
            for j in range(d):
                zij = (xtr[i, j] - mean[j]) * z[j]
                row += zij * zij
            beta_ += row * row
        delta_ = 0.0
        tr_r = 0.0
        for j in range(d):
            off = 0.0
            for l in range(j):
                r = S[j, l] * z[l]
                off += r * r
            r = S[j, j] * z[j] * z[j]
            delta_ += 2.0 * off * z[j] * z[j] + r * r
            tr_r += r
        mu = tr_r / d
        beta = (beta_ / n_k - delta_) / (d * n_k)
        delta = (delta_ - 2.0 * mu * tr_r + d * mu * mu) / d
        if beta > delta:
            beta = delta
        shrink = 0.0
        if beta != 0.0 and delta > 0.0:
            shrink = beta / delta
        for j in range(d):
            for l in range(j + 1):
                S[j, l] *= 1.0 - shrink
            S[j, j] += shrink * mu * scale[j] * scale[j]


@device
def min_norm_rows(xtr, ntr, d, y, tr, n_classes, counts, prior, means, coef, A, G, u):
    """Minimum-norm coef_k = pinv(S) m_k for the unshrunk S = A^T A of rank ntr - K.

    Rows of A are sqrt(pi_k / n_k) (x_i - m_k), so the class indicators span the null
    space of G = A A^T and pinv(G) = (G + P)^-1 - P with P = sum_k 1_k 1_k^T / n_k;
    then pinv(A^T A) m = A^T pinv(G)^2 A m. False if G + P is singular (rank lower
    than ntr - K, e.g. constant features).
    """
    for i in range(ntr):
        k = y[tr[i]]
        f = math.sqrt(prior[k] / counts[k])
        for j in range(d):
            A[i, j] = f * (xtr[i, j] - means[k, j])
    for i in range(ntr):
        ki = y[tr[i]]
        for l in range(i + 1):
            acc = 1.0 / counts[ki] if y[tr[l]] == ki else 0.0
            G[i, l] = acc + dot_rows(A, i, A, l, d)
    if not cholesky(G, ntr, RCOND):
        return False
    for k in range(n_classes):
        if counts[k] == 0:
            continue
        for i in range(ntr):
            u[i] = dot_rows(A, i, means, k, d)
        cholesky_solve(G, ntr, u)
        cholesky_solve(G, ntr, u)
        for j in range(d):
            coef[k, j] = 0.0
        for i in range(ntr):
            for j in range(d):
                coef[k, j] += A[i, j] * u[i]
    return True


@device
def jacobi_eigen(A, d, V):
    """Eigen-decompose the symmetric A[:d, :d] (lower triangle given) in place.

    Eigenvalues end on A's diagonal, eigenvectors in V's columns.
    """
    for i in range(d):
        for j in range(i):
            A[j, i] = A[i, j]
        for j in range(d):
            V[i, j] = 1.0 if i == j else 0.0
    for _ in range(MAX_SWEEPS):
        off = 0.0
        on = 0.0
        for p in range(d):
            on += A[p, p] * A[p, p]
            for q in range(p + 1, d):
                off += A[p, q] * A[p, q]
        if not off > 1e-32 * on:
            break
        for p in range(d - 1):
            for q in range(p + 1, d):
                apq = A[p, q]
                if apq == 0.0:
                    continue
                theta = (A[q, q] - A[p, p]) / (2.0 * apq)
                t = 1.0 / (abs(theta) + math.sqrt(theta * theta + 1.0))
                if theta < 0.0:
                    t = -t
                c = 1.0 / math.sqrt(t * t + 1.0)
                s = t * c
                for r in range(d):
                    arp = A[r, p]
                    arq = A[r, q]
                    A[r, p] = c * arp - s * arq
                    A[r, q] = s * arp + c * arq
                for r in range(d):
                    apr = A[p, r]
                    aqr = A[q, r]
                    A[p, r] = c * apr - s * aqr
                    A[q, r] = s * apr + c * aqr
                for r in range(d):
                    vrp = V[r, p]
                    vrq = V[r, q]
                    V[r, p] = c * vrp - s * vrq
                    V[r, q] = s * vrp + c * vrq


@device
def pinv_coef(cov, d, n_classes, counts, means, coef, A, V):
    """coef_k = pinv(cov) m_k by a Jacobi eigendecomposition (A, V: d x d scratch)."""
    for j in range(d):
        for l in range(j + 1):
            A[j, l] = cov[j, l]
    jacobi_eigen(A, d, V)
    top = 0.0
    for e in range(d):
        if A[e, e] > top:
            top = A[e, e]
    for k in range(n_classes):
        if counts[k] == 0:
            continue
        for j in range(d):
            coef[k, j] = 0.0
        for e in range(d):
            lam = A[e, e]
            if lam > RCOND * top:
                proj = 0.0
                for j in range(d):
                    proj += V[j, e] * means[k, j]
                proj /= lam
                for j in range(d):
                    coef[k, j] += proj * V[j, e]


@device
def solve_labelset(xtr, xte, ntr, nte, d, y, tr, n_classes, balanced, mode, value, counts,
                   cov, W1, W2, means, coef, fs, dec, out_row):
    present = count_classes(y, tr, ntr, n_classes, counts)
    if present == 1:
        for k in range(n_classes):
            if counts[k] > 0:
                predict_single(out_row, nte, k)
        return
    prior = fs[0:n_classes]
    scale = fs[n_classes:n_classes + d]
    for k in range(n_classes):
        prior[k] = 0.0
        if counts[k] > 0:
            prior[k] = 1.0 / present if balanced else counts[k] / (1.0 * ntr)
        for j in range(d):
            means[k, j] = 0.0
    for i in range(ntr):
        k = y[tr[i]]
        for j in range(d):
            means[k, j] += xtr[i, j]
    for k in range(n_classes):
        if counts[k] > 0:
            for j in range(d):
                means[k, j] /= counts[k]
    m = xtr.shape[0]
    z = fs[n_classes + d:n_classes + 2 * d]
    u = fs[n_classes + 2 * d:n_classes + 2 * d + m]
    solved = False
    if mode == 0 and ntr - present < d:
        solved = min_norm_rows(xtr, ntr, d, y, tr, n_classes, counts, prior, means, coef,
                               W2, W1, u)
    if not solved:
        for j in range(d):
            for l in range(j + 1):
                cov[j, l] = 0.0
        for k in range(n_classes):
            if counts[k] == 0:
                continue
            class_cov(xtr, ntr, d, y, tr, k, counts[k], means[k], mode, value, W1, scale, z)
            for j in range(d):
                for l in range(j + 1):
                    cov[j, l] += prior[k] * W1[j, l]
        for j in range(d):
            for l in range(j + 1):
                W1[j, l] = cov[j, l]
        if cholesky(W1, d, RCOND):
            for k in range(n_classes):
                if counts[k] > 0:
                    for j in range(d):
                        coef[k, j] = means[k, j]
                    cholesky_solve(W1, d, coef[k])
        else:
            pinv_coef(cov, d, n_classes, counts, means, coef, W1, W2)
    for k in range(n_classes):
        if counts[k] == 0:
            continue
        icpt = -0.5 * dot_rows(means, k, coef, k, d) + math.log(prior[k])
        for t in range(nte):
            dec[t, k] = icpt + dot_rows(xte, t, coef, k, d)
    argmax_predict(dec, nte, counts, n_classes, out_row)

def build(target: str) -> SimpleNamespace:
    """The per-problem solver compiled for ``"cpu"`` or ``"cuda"`` (device functions)."""
    return device_namespace(__name__, target)


@device
def solve_pair(X, Y, train_idx, n_train, test_idx, n_test, c, s, lab_lo, lab_hi, n_classes,
               standardize, balanced, mode, value, out, xtr, xte, ms, cov, W1, W2, means, coef,
               fs, counts, dec):
    """Label sets ``lab_lo..lab_hi-1`` of the (cell ``c``, slot ``s``) pair: gather and
    standardise the rows once, then solve each label set.

    The step both batch drivers repeat: the CPU one per pair for every label set, the GPU
    one per problem (``_gpu.per_thread_kernel``). Scratch as :func:`scratch_shapes`.
    """
    ntr = n_train[s]
    nte = n_test[s]
    gather_rows(X, c, train_idx[s], ntr, test_idx[s], nte, standardize, xtr, xte, ms[0], ms[1])
    for lab in range(lab_lo, lab_hi):
        solve_labelset(xtr, xte, ntr, nte, X.shape[2], Y[lab], train_idx[s], n_classes,
                       balanced, mode, value, counts, cov, W1, W2, means, coef, fs, dec,
                       out[c, lab, s])


@cpu_jit()
def _batch(start, stop, X, Y, train_idx, n_train, test_idx, n_test, n_classes, standardize,
           balanced, mode, value, out):
    """Solve the (cell x slot) pairs start..stop-1 for every label set (one scratch set)."""
    xtr, xte, ms, cov, W1, W2, means, coef, fs, counts, dec = allocate_scratch(
        train_idx.shape[1], test_idx.shape[1], X.shape[2], n_classes)
    n_slots = train_idx.shape[0]
    for pair in range(start, stop):
        c = pair // n_slots
        solve_pair(X, Y, train_idx, n_train, test_idx, n_test, c, pair - c * n_slots, 0,
                   Y.shape[0], n_classes, standardize, balanced, mode, value, out, xtr, xte,
                   ms, cov, W1, W2, means, coef, fs, counts, dec)


def fit_predict_lda(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *, standardize=True,
                    class_weight_balanced=False, shrinkage="auto"):
    """Fit and apply LDA for every cell x label set x split slot, on the CPU.

    Same model as scikit-learn's ``LinearDiscriminantAnalysis(solver="lsqr",
    shrinkage=shrinkage)`` fit on the (standardised) training rows; see the module docstring.

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
        Equal class priors instead of the class frequencies.
    shrinkage : "auto", None or float in [0, 1]
        Covariance shrinkage, as scikit-learn's. The default is Ledoit-Wolf ("auto"), since
        single-cell problems usually have fewer trials than features (scikit-learn's own
        default is None).

    Returns
    -------
    pred : ndarray of int32, shape (n_cells, n_labelsets, n_slots, max_test)
        Predicted class codes; -1 at padding. A training set with one class predicts it.

    Raises
    ------
    ShapeError, ParameterError, NonFiniteError
        Bad shapes, indices, labels or shrinkage; NaN or infinite features.
    """
    X, Y, train_idx, n_train, test_idx, n_test, n_classes = check_batch(
        X, Y, train_idx, n_train, test_idx, n_test, n_classes)
    mode, value = shrinkage_mode(shrinkage)
    return run_pairs(_batch, X, Y, train_idx, n_train, test_idx, n_test, n_classes,
                     bool(standardize), bool(class_weight_balanced), mode, value)

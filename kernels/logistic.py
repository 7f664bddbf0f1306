"""Batched L2 logistic regression by Newton's method, Numba CPU.

Solves, for every cell x label set x split slot, the problem of scikit-learn's
``LogisticRegression(C=C)`` (lbfgs; L2 penalty on the weights only, the intercept is not
penalised):

    min_{w, b}  0.5 ||w||^2 + C sum_i s_i log(1 + exp(-y_i (x_i . w + b)))

with ``y_i = +-1`` and sample weights ``s_i`` (1, or the balanced class weights). The
objective is strictly convex, so Newton's method with Armijo step halving reaches the same
optimum as lbfgs, only tighter: it stops once half the Newton decrement
``-grad . step / 2`` (an estimate of the objective's distance to its minimum) is at most
``tol``, after taking that last step.

Two exact forms of the Newton step, chosen once per call:

- ``n_features + 1 < max_train``: the (d+1) x (d+1) Hessian, solved by Cholesky (a small
  ridge is added if it is numerically singular);
- otherwise (few trials, many features, as in single-cell decoding) the step is taken in
  the n-dimensional span of the training rows: with ``w = X^T a`` and the intercept
  eliminated by its Schur complement, ``(I + M K) da = r`` where ``K = X X^T`` (computed
  once per cell x slot, shared by all label sets and classes) and
  ``M = diag(h) - h h^T / sum(h)``; solved by LU with partial pivoting.

Multiclass: one-vs-rest, as scikit-learn's ``OneVsRestClassifier(LogisticRegression())``
(argmax of the decision values; ties go to the lowest class, where scikit-learn takes the
last). ``class_weight_balanced`` weights each binary problem as
``LogisticRegression(class_weight="balanced")`` would: ``n / (2 n_pos)`` and
``n / (2 n_neg)``.

Classes absent from a training set are left out, as scikit-learn (which only sees the
classes present) does; a training set with one class predicts it. On the CPU the
(cell x slot) pairs are spread over Numba's threads (``_prep.run_blocks``); each pair is
gathered and standardised once and then solved for every label set.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from ._prep import (argmax_predict, check_batch, check_max_iter, check_positive, cholesky,
                    cholesky_solve, count_classes, cpu_jit, device, device_namespace, dot_rows,
                    dot_rows4, dot_vr, gather_rows, predict_single, run_pairs)

__all__ = ["fit_predict_logistic", "uses_gram", "scratch_shapes", "SCRATCH_DTYPES"]

ARMIJO = 1e-4
MAX_HALVINGS = 60
CHOL_RCOND = 1e-13


def uses_gram(max_train: int, n_features: int) -> bool:
    """Whether Newton steps are taken in the span of the training rows (few rows)."""
    return max_train <= n_features + 1


def system_size(max_train: int, n_features: int) -> int:
    """Side of the per-problem Newton system: ``max_train`` (Gram form) or ``d + 1``."""
    return max_train if uses_gram(max_train, n_features) else n_features + 1


SCRATCH_DTYPES = (np.float64, np.float64, np.float64, np.float64, np.float64, np.float64,
                  np.int64, np.float64)
"""dtypes of the scratch arrays :func:`scratch_shapes` sizes, in its order."""


@cpu_jit()
def scratch_shapes(max_train, max_test, n_features, n_classes, use_gram):
    """Shapes of one problem's scratch arrays, the one declaration both twins allocate from.

    In order: ``xtr`` (max_train, d), ``xte`` (max(max_test, 1), d), ``ms`` (2, d) feature
    means and scales, ``K`` the Gram matrix (max_train square with ``use_gram``, else
    1 x 1), ``M`` the Newton system (``system_size`` square), ``fs`` float vector of
    10 max_train + 3 (d + 1) (:func:`fit_binary`'s 8 vectors of max_train, or 4 and step,
    grad of d + 1; then :func:`solve_labelset`'s ys, sw of max_train and w of d + 1),
    ``counts`` (n_classes,) and ``dec`` (max(max_test, 1), n_classes). dtypes:
    :data:`SCRATCH_DTYPES`.
    """
    m = max_train
    d = n_features
    mt = max(max_test, 1)
    mg = m if use_gram else 1
    q = m if use_gram else d + 1
    return ((m, d), (mt, d), (2, d), (mg, mg), (q, q), (10 * m + 3 * (d + 1),),
            (n_classes,), (mt, n_classes))


@cpu_jit()
def allocate_scratch(max_train, max_test, n_features, n_classes, use_gram):
    """The CPU kernel's scratch arrays, allocated as :func:`scratch_shapes` declares."""
    sh = scratch_shapes(max_train, max_test, n_features, n_classes, use_gram)
    return (np.empty(sh[0]), np.empty(sh[1]), np.empty(sh[2]), np.empty(sh[3]),
            np.empty(sh[4]), np.empty(sh[5]), np.empty(sh[6], dtype=np.int64),
            np.empty(sh[7]))


@device
def log_loss(z):
    # log(1 + exp(-z)) without overflow
    if z > 0.0:
        return math.log1p(math.exp(-z))
    return -z + math.log1p(math.exp(z))


@device
def loss_terms(n, ys, sw, C, f, g, h):
    """The weighted log-loss at margins ``f``; its derivatives in ``f`` go to g and h."""
    total = 0.0
    for i in range(n):  # log_loss(z) and q = 1 / (1 + exp(z)), sharing one exp
        z = ys[i] * f[i]
        if z >= 0.0:
            e = math.exp(-z)
            q = e / (1.0 + e)
            loss = math.log1p(e) if z > 0.0 else -z + math.log1p(e)
        else:
            e = math.exp(z)
            q = 1.0 / (1.0 + e)
            loss = -z + math.log1p(e)
        cw = C * sw[i]
        total += cw * loss
        g[i] = -cw * ys[i] * q
        h[i] = cw * q * (1.0 - q)
    return total


@device
def line_search(n, ys, sw, C, f, df, J0, slope, quad0, quad1, quad2):
    """Armijo step halving; the penalty along the step is quad0 + 2 t quad1 + t^2 quad2."""
    t = 1.0
    for _ in range(MAX_HALVINGS):
        total = 0.5 * (quad0 + 2.0 * t * quad1 + t * t * quad2)
        for i in range(n):
            total += C * sw[i] * log_loss(ys[i] * (f[i] + t * df[i]))
        if total <= J0 + ARMIJO * t * slope:
            return t
        t *= 0.5
    return 0.0


@device
def lu_solve(A, m, rhs):
    """Solve A[:m, :m] x = rhs in place (LU with partial pivoting); False if singular.

    The multipliers overwrite the eliminated column (which back substitution never reads).
    """
    for k in range(m):
        p = k
        big = abs(A[k, k])
        for i in range(k + 1, m):
            if abs(A[i, k]) > big:
                big = abs(A[i, k])
                p = i
        if not big > 0.0:
            return False
        if p != k:
            for j in range(m):
                tmp = A[k, j]
                A[k, j] = A[p, j]
                A[p, j] = tmp
            tmp = rhs[k]
            rhs[k] = rhs[p]
            rhs[p] = tmp
        piv = A[k, k]
        for i in range(k + 1, m):  # the multipliers first: independent divisions
            A[i, k] = A[i, k] / piv
        for i in range(k + 1, m):
            fac = A[i, k]
            if fac != 0.0:
                for j in range(k + 1, m):
                    A[i, j] -= fac * A[k, j]
                rhs[i] -= fac * rhs[k]
    for i in range(m - 1, -1, -1):
        acc = rhs[i]
        for j in range(i + 1, m):
            acc -= A[i, j] * rhs[j]
        rhs[i] = acc / A[i, i]
    return True


@device
def k_times(v, K, n, out):
    """``out[i] = dot_vr(v, K, i, n)`` for ``i < n``, bit for bit, four rows at a time
    (sixteen independent partial sums instead of one dependent chain per row)."""
    n4 = n - n % 4
    i = 0
    while i + 4 <= n:
        a00 = 0.0
        a01 = 0.0
        a02 = 0.0
        a03 = 0.0
        a10 = 0.0
        a11 = 0.0
        a12 = 0.0
        a13 = 0.0
        a20 = 0.0
        a21 = 0.0
        a22 = 0.0
        a23 = 0.0
        a30 = 0.0
        a31 = 0.0
        a32 = 0.0
        a33 = 0.0
        for j in range(0, n4, 4):
            v0 = v[j]
            v1 = v[j + 1]
            v2 = v[j + 2]
            v3 = v[j + 3]
            a00 += v0 * K[i, j]
            a01 += v1 * K[i, j + 1]
            a02 += v2 * K[i, j + 2]
            a03 += v3 * K[i, j + 3]
            a10 += v0 * K[i + 1, j]
            a11 += v1 * K[i + 1, j + 1]
            a12 += v2 * K[i + 1, j + 2]
            a13 += v3 * K[i + 1, j + 3]
            a20 += v0 * K[i + 2, j]
            a21 += v1 * K[i + 2, j + 1]
            a22 += v2 * K[i + 2, j + 2]
            a23 += v3 * K[i + 2, j + 3]
            a30 += v0 * K[i + 3, j]
            a31 += v1 * K[i + 3, j + 1]
            a32 += v2 * K[i + 3, j + 2]
            a33 += v3 * K[i + 3, j + 3]
        for j in range(n4, n):
            v0 = v[j]
            a00 += v0 * K[i, j]
            a10 += v0 * K[i + 1, j]
            a20 += v0 * K[i + 2, j]
            a30 += v0 * K[i + 3, j]
        out[i] = (a00 + a01) + (a02 + a03)
        out[i + 1] = (a10 + a11) + (a12 + a13)
        out[i + 2] = (a20 + a21) + (a22 + a23)
        out[i + 3] = (a30 + a31) + (a32 + a33)
        i += 4
    for r in range(i, n):
        out[r] = dot_vr(v, K, r, n)


@device
def newton_gram(K, n, ys, sw, C, tol, max_iter, A, a, da, f, df, g, h, v, kda):
    """Newton in the span of the rows; returns the intercept (weights: X^T a)."""
    for i in range(n):
        a[i] = 0.0
    b = 0.0
    for _ in range(max_iter):
        k_times(a, K, n, f)
        for i in range(n):
            f[i] = b + f[i]
        quad0 = 0.0
        for i in range(n):
            quad0 += a[i] * (f[i] - b)
        J0 = 0.5 * quad0 + loss_terms(n, ys, sw, C, f, g, h)
        gb = 0.0
        hs = 0.0
        for i in range(n):
            gb += g[i]
            hs += h[i]
        if not hs > 1e-300:
            hs = 1e-300
        k_times(h, K, n, v)  # K is symmetric: (K h)_j
        for j in range(n):
            v[j] = v[j] / hs
        for i in range(n):
            da[i] = -a[i] - g[i] + h[i] * gb / hs
            for j in range(n):
                A[i, j] = h[i] * (K[i, j] - v[j])
            A[i, i] += 1.0
        if not lu_solve(A, n, da):
            break
        k_times(da, K, n, kda)
        hk = 0.0
        for i in range(n):
            hk += h[i] * kda[i]
        db = (-gb - hk) / hs
        slope = gb * db
        quad1 = 0.0
        quad2 = 0.0
        for i in range(n):
            df[i] = kda[i] + db
            slope += (a[i] + g[i]) * kda[i]
            quad1 += a[i] * kda[i]
            quad2 += da[i] * kda[i]
        if not slope < 0.0:
            break
        t = line_search(n, ys, sw, C, f, df, J0, slope, quad0, quad1, quad2)
        if t == 0.0:
            break
        for i in range(n):
            a[i] += t * da[i]
        b += t * db
        if -0.5 * slope <= tol:
            break
    return b


@device
def add_hessian(xtr, n, d, h, H):
    """Add ``sum_i h_i [x_i, 1] [x_i, 1]^T`` to the lower triangle of ``H[:d+1, :d+1]``,
    row ``i`` after row ``i - 1`` into every entry as a loop over ``i`` would, but four rows
    per pass over ``H`` (a quarter of the loads and stores of ``H``)."""
    i = 0
    while i + 4 <= n:
        h0 = h[i]
        h1 = h[i + 1]
        h2 = h[i + 2]
        h3 = h[i + 3]
        for j in range(d):
            hx0 = h0 * xtr[i, j]
            hx1 = h1 * xtr[i + 1, j]
            hx2 = h2 * xtr[i + 2, j]
            hx3 = h3 * xtr[i + 3, j]
            for k in range(j + 1):
                H[j, k] = (((H[j, k] + hx0 * xtr[i, k]) + hx1 * xtr[i + 1, k])
                           + hx2 * xtr[i + 2, k]) + hx3 * xtr[i + 3, k]
            H[d, j] = (((H[d, j] + hx0) + hx1) + hx2) + hx3
        H[d, d] = (((H[d, d] + h0) + h1) + h2) + h3
        i += 4
    for r in range(i, n):
        for j in range(d):
            hx = h[r] * xtr[r, j]
            for k in range(j + 1):
                H[j, k] += hx * xtr[r, k]
            H[d, j] += hx
        H[d, d] += h[r]


@device
def newton_primal(xtr, n, d, ys, sw, C, tol, max_iter, H, theta, step, grad, f, df, g, h):
    """Newton on (w, b) = theta[:d], theta[d] with the (d+1) x (d+1) Hessian."""
    p = d + 1
    for j in range(p):
        theta[j] = 0.0
    for _ in range(max_iter):
        quad0 = 0.0
        for j in range(d):
            quad0 += theta[j] * theta[j]
        for i in range(n):
            f[i] = theta[d] + dot_vr(theta, xtr, i, d)
        J0 = 0.5 * quad0 + loss_terms(n, ys, sw, C, f, g, h)
        ridge = 0.0
        ok = False
        for _attempt in range(12):
            for j in range(p):
                for k in range(j + 1):
                    H[j, k] = 0.0
            add_hessian(xtr, n, d, h, H)
            for j in range(p):
                H[j, j] += ridge
            for j in range(d):
                H[j, j] += 1.0
            if cholesky(H, p, CHOL_RCOND):
                ok = True
                break
            ridge = 1e-10 if ridge == 0.0 else ridge * 100.0
        if not ok:
            break
        for j in range(d):
            grad[j] = theta[j]
        grad[d] = 0.0
        for i in range(n):
            for j in range(d):
                grad[j] += g[i] * xtr[i, j]
            grad[d] += g[i]
        for j in range(p):
            step[j] = -grad[j]
        cholesky_solve(H, p, step)
        slope = 0.0
        for j in range(p):
            slope += grad[j] * step[j]
        if not slope < 0.0:
            break
        quad1 = 0.0
        quad2 = 0.0
        for j in range(d):
            quad1 += theta[j] * step[j]
            quad2 += step[j] * step[j]
        for i in range(n):
            df[i] = step[d] + dot_vr(step, xtr, i, d)
        t = line_search(n, ys, sw, C, f, df, J0, slope, quad0, quad1, quad2)
        if t == 0.0:
            break
        for j in range(p):
            theta[j] += t * step[j]
        if -0.5 * slope <= tol:
            break


@device
def fit_binary(xtr, K, n, d, use_gram, ys, sw, C, tol, max_iter, M, fs, w):
    """Fit one binary problem; its weights go to w[:d], its intercept to w[d]."""
    m = xtr.shape[0]
    f = fs[0:m]
    df = fs[m:2 * m]
    g = fs[2 * m:3 * m]
    h = fs[3 * m:4 * m]
    if use_gram:
        a = fs[4 * m:5 * m]
        da = fs[5 * m:6 * m]
        v = fs[6 * m:7 * m]
        kda = fs[7 * m:8 * m]
        b = newton_gram(K, n, ys, sw, C, tol, max_iter, M, a, da, f, df, g, h, v, kda)
        for j in range(d):
            w[j] = 0.0
        for i in range(n):
            for j in range(d):
                w[j] += a[i] * xtr[i, j]
        w[d] = b
    else:
        step = fs[4 * m:4 * m + d + 1]
        grad = fs[4 * m + d + 1:4 * m + 2 * d + 2]
        newton_primal(xtr, n, d, ys, sw, C, tol, max_iter, M, w, step, grad, f, df, g, h)


@device
def set_binary_labels(y, tr, ntr, pos, n_pos, balanced, ys, sw):
    """Class ``pos`` against the rest: signs and (balanced) sample weights."""
    w_pos = 1.0
    w_neg = 1.0
    if balanced:
        w_pos = ntr / (2.0 * n_pos)
        w_neg = ntr / (2.0 * (ntr - n_pos))
    for i in range(ntr):
        if y[tr[i]] == pos:
            ys[i] = 1.0
            sw[i] = w_pos
        else:
            ys[i] = -1.0
            sw[i] = w_neg


@device
def decide(xte, nte, d, w, dec, col):
    for t in range(nte):
        dec[t, col] = w[d] + dot_vr(w, xte, t, d)


@device
def solve_labelset(xtr, xte, K, ntr, nte, d, use_gram, y, tr, n_classes, balanced, C, tol,
                   max_iter, counts, fs, M, dec, out_row):
    present = count_classes(y, tr, ntr, n_classes, counts)
    m = xtr.shape[0]
    ys = fs[8 * m:9 * m]
    sw = fs[9 * m:10 * m]
    w = fs[10 * m:10 * m + d + 1]
    if present == 1:
        for k in range(n_classes):
            if counts[k] > 0:
                predict_single(out_row, nte, k)
        return
    if present == 2:
        lo = -1
        hi = -1
        for k in range(n_classes):
            if counts[k] > 0:
                if lo < 0:
                    lo = k
                else:
                    hi = k
        set_binary_labels(y, tr, ntr, hi, counts[hi], balanced, ys, sw)
        fit_binary(xtr, K, ntr, d, use_gram, ys, sw, C, tol, max_iter, M, fs, w)
        decide(xte, nte, d, w, dec, 0)
        for t in range(out_row.shape[0]):
            if t >= nte:
                out_row[t] = -1
            elif dec[t, 0] > 0.0:
                out_row[t] = hi
            else:
                out_row[t] = lo
        return
    for k in range(n_classes):
        if counts[k] > 0:
            set_binary_labels(y, tr, ntr, k, counts[k], balanced, ys, sw)
            fit_binary(xtr, K, ntr, d, use_gram, ys, sw, C, tol, max_iter, M, fs, w)
            decide(xte, nte, d, w, dec, k)
    argmax_predict(dec, nte, counts, n_classes, out_row)

def build(target: str) -> SimpleNamespace:
    """The per-problem solver compiled for ``"cpu"`` or ``"cuda"`` (device functions)."""
    return device_namespace(__name__, target)


@device
def gram_rows(xtr, n, d, K):
    """``K[:n, :n] = xtr[:n] @ xtr[:n].T``, bit for bit as ``_prep.gram(xtr, n, d, 0.0, K)``
    computes it (each entry ``dot_rows``' four partial sums over ``j mod 4``, the rest into
    the first, added in the same order), but four entries of a row at a time
    (:func:`~gpudecode.kernels._prep.dot_rows4`): sixteen independent sums instead of one
    dependent chain of additions per entry.
    """
    for i in range(n):
        k = 0
        while k + 4 <= i + 1:
            v0, v1, v2, v3 = dot_rows4(xtr, i, xtr, k, d)
            K[i, k] = 0.0 + v0
            K[k, i] = K[i, k]
            K[i, k + 1] = 0.0 + v1
            K[k + 1, i] = K[i, k + 1]
            K[i, k + 2] = 0.0 + v2
            K[k + 2, i] = K[i, k + 2]
            K[i, k + 3] = 0.0 + v3
            K[k + 3, i] = K[i, k + 3]
            k += 4
        for kk in range(k, i + 1):
            K[i, kk] = 0.0 + dot_rows(xtr, i, xtr, kk, d)
            K[kk, i] = K[i, kk]


@device
def solve_pair(X, Y, train_idx, n_train, test_idx, n_test, c, s, lab_lo, lab_hi, n_classes,
               standardize, balanced, C, tol, max_iter, use_gram, out, xtr, xte, ms, K, M, fs,
               counts, dec):
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
        gram_rows(xtr, ntr, d, K)
    for lab in range(lab_lo, lab_hi):
        solve_labelset(xtr, xte, K, ntr, nte, d, use_gram, Y[lab], train_idx[s], n_classes,
                       balanced, C, tol, max_iter, counts, fs, M, dec, out[c, lab, s])


@cpu_jit()
def _batch(start, stop, X, Y, train_idx, n_train, test_idx, n_test, n_classes, standardize,
           balanced, C, tol, max_iter, use_gram, out):
    """Solve the (cell x slot) pairs start..stop-1 for every label set (one scratch set)."""
    xtr, xte, ms, K, M, fs, counts, dec = allocate_scratch(
        train_idx.shape[1], test_idx.shape[1], X.shape[2], n_classes, use_gram)
    n_slots = train_idx.shape[0]
    for pair in range(start, stop):
        c = pair // n_slots
        solve_pair(X, Y, train_idx, n_train, test_idx, n_test, c, pair - c * n_slots, 0,
                   Y.shape[0], n_classes, standardize, balanced, C, tol, max_iter, use_gram,
                   out, xtr, xte, ms, K, M, fs, counts, dec)


def check_params(C, max_iter, tol):
    """Validate the hyper-parameters; returns ``(C, max_iter, tol)`` as float, int, float."""
    return (check_positive(C, "C", "1.0"), check_max_iter(max_iter),
            check_positive(tol, "tol", "1e-6"))


def fit_predict_logistic(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *,
                         standardize=True, class_weight_balanced=False, C=1.0, max_iter=100,
                         tol=1e-6):
    """Fit and apply L2 logistic regression for every cell x label set x split slot, on the CPU.

    Same solution as scikit-learn's ``LogisticRegression(C=C)`` fit on the (standardised)
    training rows (``OneVsRestClassifier`` of it for more than two classes); see the module
    docstring for the solver, multiclass and class weights.

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
        scikit-learn's ``class_weight="balanced"`` for each binary problem.
    C : float
        Inverse regularisation strength, > 0.
    max_iter : int
        Most Newton iterations per binary problem.
    tol : float
        Stop after the step whose half Newton decrement is at most ``tol``.

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

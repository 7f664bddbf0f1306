"""Batched kernel SVMs (libsvm's C-SVC, as scikit-learn's ``SVC``) on the CPU: the RBF
kernel here (``SVC(kernel="rbf")``), the linear kernel for
:mod:`gpudecode.kernels.linear_svm` (``SVC(kernel="linear")``), one batch driver for both.

RBF kernel: every problem (cell x label set x split slot) is solved with libsvm's SMO:
second-order working-set selection (WSS3, Fan, Chen & Lin 2005), the same clipping of the
two-variable update, shrinking with gradient reconstruction, and the same rho. The
training rows are ordered as libsvm orders them (rows of the lower class label first, each
group in training order), the kernel matrix is rounded to float32 as libsvm caches it
(``Qfloat``; its diagonal ``QD`` and the prediction's kernel values stay float64), and the
stopping tolerance is ``tol`` on the maximal KKT violation, so the solver takes the same
path as scikit-learn's and the predictions agree fit for fit. Each binary problem copies
its ``Q = y_a y_b K`` into solver-slot order once (kept in that order through shrinking's
swaps), so the iterations read contiguous rows. Kernels: RBF ``exp(-gamma |x - y|^2)``
(``|x|^2 + |y|^2 - 2 x.y`` for training, as libsvm), linear ``x . y``.

Linear kernel: the same dual problem (same ``Q``, rows, penalties and rho rule) solved by
the interior-point method of :mod:`gpudecode.kernels.linear_qp` instead of SMO (SMO takes
thousands of steps on the linear kernel's non-separable problems, the interior point a
dozen Newton steps). The solution is the same up to the solvers' tolerances, not the same
iterates: on real-session shapes over 99.9 % of test predictions equal
``SVC(kernel="linear")``'s (tests require 99 %).

Reuse: for a given cell and slot the standardisation, ``gamma="scale"``, the training
Gram matrix and the train x test kernel do not depend on the labels, so they are computed
once per (cell, slot) pair and shared by every label set (observed and permuted).
Where one feature matrix serves every split (population features, not standardised),
:func:`solve_fixed` goes further: one squared-distance (RBF) or Gram (linear) matrix over
all trials, and per slot only sub-blocks of it.

Multiclass, two ways (:func:`fit_predict_labelset`): one-vs-rest over the classes present
in the training rows for the RBF kernel (scikit-learn's ``OneVsRestClassifier(SVC(...))``,
each binary problem with scikit-learn's balanced weights of its own two labels,
``n / (2 * count)``, as per-class C), or one-vs-one for the linear kernel (libsvm's own
multiclass, i.e. ``SVC`` itself: one SVM per pair of classes, majority vote, balanced
weights ``n / (n_classes * count)``).

The per-problem code is plain Python over preallocated scratch, compiled here with
``numba.njit`` and in :mod:`gpudecode.kernels.rbf_svm_cuda` with
``numba.cuda.jit(device=True)``, so the CPU kernel and its GPU twin run the same code.
"""

from __future__ import annotations

import math
import numbers
from types import SimpleNamespace

import numpy as np
from numba import prange

from ..errors import ParameterError, ShapeError
from .linear_qp import QP_MAX_ITER, QP_TOL, interior_point, qp_scratch_shapes
from ._prep import (
    argmax_predict,
    check_batch,
    check_max_iter,
    check_positive,
    count_classes,
    cpu_jit,
    device,
    device_namespace,
    dot_rows4,
    gather_standardize,
    run_blocks,
    run_pairs,
)

__all__ = [
    "check_fixed_batch",
    "check_fixed_shape",
    "check_rbf_params",
    "fit_predict_rbf_svm",
    "fit_predict_rbf_svm_fixed",
    "fixed_distances",
    "fixed_gram",
    "solve_fixed",
    "rbf_core",
    "feature_scratch_shapes",
    "kernel_scratch_shapes",
    "solver_scratch_shapes",
    "FEATURE_SCRATCH_DTYPES",
    "KERNEL_SCRATCH_DTYPES",
    "SOLVER_SCRATCH_DTYPES",
]

TAU = 1e-12
INF = math.inf
LOWER, UPPER, FREE = 0, 1, 2
KEY_MAGNITUDE = 0x7FFFFFFFFFFFFFFF
KEY_LOW = -(1 << 63)
KEY_HIGH = (1 << 63) - 1


# ----------------------------------------------------------------------------- per problem
# Device functions: compiled for the CPU here and for the GPU in rbf_svm_cuda (see _prep.py).


@device
def scale_gamma(xtr, n, d):
    """scikit-learn's ``gamma="scale"``: ``1 / (n_features * X.var())`` of the training rows."""
    acc = 0.0
    for i in range(n):
        for j in range(d):
            acc += xtr[i, j]
    mean = acc / (n * d)
    acc = 0.0
    for i in range(n):
        for j in range(d):
            t = xtr[i, j] - mean
            acc += t * t
    var = acc / (n * d)
    if var == 0.0:
        return 1.0
    return 1.0 / (d * var)


@device
def pooled_scale_gamma(mu, css, tr, ntr, d):
    """``gamma="scale"`` of the training rows ``tr[:ntr]`` from per-trial row statistics.

    ``mu[t]`` is trial ``t``'s mean over its ``d`` features and ``css[t]`` its centred sum
    of squares; the variance of all ``ntr * d`` values is pooled from them (Chan, Golub &
    LeVeque): ``(sum css + d * sum (mu - mean mu)**2) / (ntr * d)``.
    """
    acc = 0.0
    for i in range(ntr):
        acc += mu[tr[i]]
    mean = acc / ntr
    within = 0.0
    between = 0.0
    for i in range(ntr):
        within += css[tr[i]]
        t = mu[tr[i]] - mean
        between += t * t
    var = (within + d * between) / (ntr * d)
    if var == 0.0:
        return 1.0
    return 1.0 / (d * var)


@device
def fixed_kernels(D, tr, ntr, te, nte, gamma, Kq, QD, Kt):
    """Kernel matrices of one slot as sub-blocks of the squared distances ``D``.

    ``Kq[:ntr, :ntr] = float32(exp(-gamma D[tr, tr]))``, ``QD[:ntr]`` its diagonal in
    float64, ``Kt[:ntr, :nte] = exp(-gamma D[tr, te])``.
    """
    for i in range(ntr):
        a = tr[i]
        for k in range(i, ntr):
            v = math.exp(-gamma * D[a, tr[k]])
            Kq[i, k] = v
            Kq[k, i] = v
            if k == i:
                QD[i] = v
        for t in range(nte):
            Kt[i, t] = math.exp(-gamma * D[a, te[t]])


@device
def dot(a, i, b, k, d):
    """Row dot product ``a[i] . b[k]`` with four partial sums (lets the CPU vectorise)."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    j = 0
    while j + 4 <= d:
        s0 += a[i, j] * b[k, j]
        s1 += a[i, j + 1] * b[k, j + 1]
        s2 += a[i, j + 2] * b[k, j + 2]
        s3 += a[i, j + 3] * b[k, j + 3]
        j += 4
    while j < d:
        s0 += a[i, j] * b[k, j]
        j += 1
    return (s0 + s1) + (s2 + s3)


@device
def sqdist(a, i, b, k, d):
    """Squared distance ``|a[i] - b[k]|**2`` with four partial sums."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    j = 0
    while j + 4 <= d:
        t0 = a[i, j] - b[k, j]
        t1 = a[i, j + 1] - b[k, j + 1]
        t2 = a[i, j + 2] - b[k, j + 2]
        t3 = a[i, j + 3] - b[k, j + 3]
        s0 += t0 * t0
        s1 += t1 * t1
        s2 += t2 * t2
        s3 += t3 * t3
        j += 4
    while j < d:
        t0 = a[i, j] - b[k, j]
        s0 += t0 * t0
        j += 1
    return (s0 + s1) + (s2 + s3)


@device
def rbf_kernels(xtr, n, xte, m, d, gamma, xsq, Kq, QD, Kt):
    """Kernel matrices of one (cell, slot) pair.

    ``Kq[:n, :n]`` training Gram matrix rounded to float32 (libsvm's cached ``Qfloat``,
    from ``|x|^2 + |y|^2 - 2 x.y`` like libsvm), ``QD[:n]`` its diagonal in float64,
    ``Kt[:n, :m]`` train x test kernel for prediction (from ``|x - y|^2``).
    """
    for i in range(n):
        xsq[i] = dot(xtr, i, xtr, i, d)
    for i in range(n):
        for k in range(i, n):
            v = math.exp(-gamma * (xsq[i] + xsq[k] - 2.0 * dot(xtr, i, xtr, k, d)))
            Kq[i, k] = v
            Kq[k, i] = v
            if k == i:
                QD[i] = v
    for i in range(n):
        for t in range(m):
            Kt[i, t] = math.exp(-gamma * sqdist(xtr, i, xte, t, d))


@device
def linear_kernels(xtr, n, xte, m, d, Kq, QD, Kt):
    """Linear-kernel matrices of one (cell, slot) pair: ``K(x, y) = x . y``.

    ``Kq[:n, :n]`` training Gram matrix rounded to float32 (libsvm's cached ``Qfloat``),
    ``QD[:n]`` its diagonal in float64 (libsvm's ``QD``), ``Kt[:n, :m]`` train x test
    kernel in float64 (libsvm's prediction). Products four at a time
    (:func:`gpudecode.kernels._prep.dot_rows4`, in :func:`dot`'s order); a
    row's last block starts at ``n - 4`` (``m - 4``), so it may recompute products
    already written, with the same value (``a . b`` and ``b . a`` round alike).
    """
    for i in range(n):
        k = i
        while k < n:
            if n < 4:
                v = dot(xtr, i, xtr, k, d)
                Kq[i, k] = v
                Kq[k, i] = v
                if k == i:
                    QD[i] = v
                k += 1
                continue
            k = k if k + 4 <= n else n - 4
            v0, v1, v2, v3 = dot_rows4(xtr, i, xtr, k, d)
            if k >= i - 3 and k <= i:  # the block holds the diagonal
                QD[i] = v0 if k == i else (v1 if k == i - 1 else (v2 if k == i - 2 else v3))
            Kq[i, k] = v0
            Kq[k, i] = v0
            Kq[i, k + 1] = v1
            Kq[k + 1, i] = v1
            Kq[i, k + 2] = v2
            Kq[k + 2, i] = v2
            Kq[i, k + 3] = v3
            Kq[k + 3, i] = v3
            k += 4
        t = 0
        while t < m:
            if m < 4:
                Kt[i, t] = dot(xtr, i, xte, t, d)
                t += 1
                continue
            t = t if t + 4 <= m else m - 4
            v0, v1, v2, v3 = dot_rows4(xtr, i, xte, t, d)
            Kt[i, t] = v0
            Kt[i, t + 1] = v1
            Kt[i, t + 2] = v2
            Kt[i, t + 3] = v3
            t += 4


@device
def fixed_linear_kernels(G, tr, ntr, te, nte, Kq, QD, Kt):
    """Linear-kernel matrices of one slot as sub-blocks of the Gram matrix ``G`` of all
    trials: ``Kq = float32(G[tr, tr])``, ``QD`` its diagonal in float64, ``Kt = G[tr, te]``."""
    for i in range(ntr):
        a = tr[i]
        for k in range(i, ntr):
            v = G[a, tr[k]]
            Kq[i, k] = v
            Kq[k, i] = v
            if k == i:
                QD[i] = v
        for t in range(nte):
            Kt[i, t] = G[a, te[t]]


@device
def slot_matrix(Kq, QD, order, n, n_pos, Qs, QDs):
    """One binary problem's ``Q`` in solver-slot order, before any swap.

    ``Qs[a, b] = y_a y_b Kq[order[a], order[b]]`` (float32, exact: ``y = +-1``, the first
    ``n_pos`` slots +1) and ``QDs[a] = QD[order[a]]``, for ``a, b < n``; :func:`swap_index`
    keeps them in slot order, so the solver reads contiguous rows.
    """
    for a in range(n):
        pa = order[a]
        QDs[a] = QD[pa]
        for b in range(n):
            v = float(Kq[pa, order[b]])
            if (a < n_pos) != (b < n_pos):
                v = -v
            Qs[a, b] = v


@device
def status_of(alpha_v, C_v):
    if alpha_v >= C_v:
        return UPPER
    if alpha_v <= 0.0:
        return LOWER
    return FREE


@device
def swap_index(a, b, n, yv, G, status, alpha, active, G_bar, Cv, Qs, QDs):
    """libsvm's ``Solver::swap_index``: exchange solver slots ``a`` and ``b`` (with rows and
    columns ``a``, ``b`` of ``Qs[:n, :n]``)."""
    yv[a], yv[b] = yv[b], yv[a]
    G[a], G[b] = G[b], G[a]
    status[a], status[b] = status[b], status[a]
    alpha[a], alpha[b] = alpha[b], alpha[a]
    active[a], active[b] = active[b], active[a]
    G_bar[a], G_bar[b] = G_bar[b], G_bar[a]
    Cv[a], Cv[b] = Cv[b], Cv[a]
    QDs[a], QDs[b] = QDs[b], QDs[a]
    for k in range(n):
        Qs[a, k], Qs[b, k] = Qs[b, k], Qs[a, k]
    for k in range(n):
        Qs[k, a], Qs[k, b] = Qs[k, b], Qs[k, a]


@device
def reconstruct(n, active_size, Qs, G, G_bar, status, alpha):
    if active_size == n:
        return
    for j in range(active_size, n):
        G[j] = G_bar[j] - 1.0
    nr_free = 0
    for j in range(active_size):
        if status[j] == FREE:
            nr_free += 1
    if nr_free * n > 2 * active_size * (n - active_size):
        for i in range(active_size, n):
            for j in range(active_size):
                if status[j] == FREE:
                    G[i] += alpha[j] * float(Qs[i, j])
    else:
        for i in range(active_size):
            if status[i] == FREE:
                ai = alpha[i]
                for j in range(active_size, n):
                    G[j] += ai * float(Qs[i, j])


@device
def be_shrunk(i, gmax1, gmax2, yv, G, status):
    if status[i] == UPPER:
        if yv[i] > 0:
            return -G[i] > gmax1
        return -G[i] > gmax2
    if status[i] == LOWER:
        if yv[i] > 0:
            return G[i] > gmax2
        return G[i] > gmax1
    return False


@device
def update_g_bar(n, Qs, i, c, G_bar):
    """``G_bar[:n] += c Q[i, :n]`` (``c = +-C_i`` when slot ``i`` enters or leaves its
    upper bound)."""
    for k in range(n):
        G_bar[k] += c * float(Qs[i, k])


@device
def order_key(x):
    """int64 ordered as the float64 ``x`` is, with -0.0 and 0.0 alike (``x`` not NaN).

    The bits of ``x``, negatives' magnitude bits flipped; integer max / min reductions
    vectorise where float ones (ordered comparisons, no fast-math) do not.
    """
    b = np.float64(x).view(np.int64)
    k = b ^ ((b >> 63) & KEY_MAGNITUDE)
    return k + (k == -1)


@device
def violation_keys(y, grad, st):
    """:func:`order_key` of a slot's ``-y G`` where it may be WSS3's ``i`` and of ``y G``
    where it may be its ``j`` (libsvm's ``I_up`` / ``I_low``), ``KEY_LOW`` where not."""
    g = y * grad
    ki = order_key(-g) if st != (UPPER if y > 0 else LOWER) else KEY_LOW
    kj = order_key(g) if st != (LOWER if y > 0 else UPPER) else KEY_LOW
    return ki, kj


@device
def select(active_size, Qs, QDs, yv, G, status, eps, obj):
    """libsvm's WSS3; returns ``(i, j)`` or ``(-1, -1)`` when optimal within ``eps``.

    libsvm's loops, regrouped with the same arithmetic (``y = +-1``, so ``y G`` and
    ``y (2 y_i Q_ij)`` are exact) and the same choices (the last slot attaining each
    maximum / minimum; ``G`` holds no NaN): the maximal violations of the ``i`` and ``j``
    sides are reduced over :func:`order_key` (ineligible slots keyed below every float),
    then their last slots found; each slot's objective goes to ``obj`` (NaN where ``j``
    is not eligible) while its key is reduced, then the last slot attaining it is found.
    All loops are branch-free.
    """
    ki_max = KEY_LOW
    kj_max = KEY_LOW
    for t in range(active_size):
        ki, kj = violation_keys(yv[t], G[t], status[t])
        ki_max = ki if ki > ki_max else ki_max
        kj_max = kj if kj > kj_max else kj_max
    gi = -1
    gj2 = -1
    for t in range(active_size):
        ki, kj = violation_keys(yv[t], G[t], status[t])
        gi = t if ki == ki_max else gi
        gj2 = t if kj == kj_max else gj2
    gmax = -INF
    gmax2 = -INF
    yi = 0.0
    qdi = 0.0
    ri = 0
    if ki_max == KEY_LOW:
        gi = -1
    else:
        ri = gi
        yi = yv[gi]
        qdi = QDs[gi]
        gmax = -(yi * G[gi])
    if kj_max != KEY_LOW:
        gmax2 = yv[gj2] * G[gj2]
    two_yi = 2.0 * yi
    k_min = KEY_HIGH
    for j in range(active_size):
        yj = yv[j]
        g = yj * G[j]
        grad_diff = gmax + g
        quad = (qdi + QDs[j]) - yj * (two_yi * float(Qs[ri, j]))
        if not quad > 0.0:
            quad = TAU
        v = -(grad_diff * grad_diff) / quad
        bound = LOWER if yj > 0 else UPPER
        k = order_key(v)
        if status[j] == bound or not grad_diff > 0.0:
            v = math.nan
            k = KEY_HIGH
        obj[j] = v
        k_min = k if k < k_min else k_min
    gj = -1
    for j in range(active_size):
        gj = j if order_key(obj[j]) == k_min else gj
    if gmax + gmax2 < eps or k_min == KEY_HIGH:
        return -1, -1
    return gi, gj


@device
def do_shrinking(n, active_size, unshrink, eps, Qs, QDs, active, yv, G, G_bar,
                 status, alpha, Cv):
    gmax1 = -INF
    gmax2 = -INF
    for i in range(active_size):
        if yv[i] > 0:
            if status[i] != UPPER and -G[i] >= gmax1:
                gmax1 = -G[i]
            if status[i] != LOWER and G[i] >= gmax2:
                gmax2 = G[i]
        else:
            if status[i] != UPPER and -G[i] >= gmax2:
                gmax2 = -G[i]
            if status[i] != LOWER and G[i] >= gmax1:
                gmax1 = G[i]
    if (not unshrink) and gmax1 + gmax2 <= eps * 10.0:
        unshrink = True
        reconstruct(n, active_size, Qs, G, G_bar, status, alpha)
        active_size = n
    i = 0
    while i < active_size:
        if be_shrunk(i, gmax1, gmax2, yv, G, status):
            active_size -= 1
            while active_size > i:
                if not be_shrunk(active_size, gmax1, gmax2, yv, G, status):
                    swap_index(i, active_size, n, yv, G, status, alpha, active, G_bar, Cv, Qs,
                               QDs)
                    break
                active_size -= 1
        i += 1
    return active_size, unshrink


@device
def binary_labels(n, n_pos, Cp, Cn, yv, Cv):
    """``yv[:n]`` = +1 on the first ``n_pos`` slots, -1 after; ``Cv`` their penalties."""
    for i in range(n):
        if i < n_pos:
            yv[i] = 1.0
            Cv[i] = Cp
        else:
            yv[i] = -1.0
            Cv[i] = Cn


@device
def solve(Kq, QD, order, n, n_pos, Cp, Cn, eps, max_iter, shrinking,
          alpha, G, G_bar, status, active, yv, Cv, coef, Qs, QDs, obj):
    """libsvm ``Solver::Solve`` for C-SVC on ``order[:n]`` (first ``n_pos`` rows y=+1).

    Writes ``coef[g] = y_g alpha_g`` for the rows in ``order`` and returns
    ``(rho, n_iter)``; the decision function is ``sum_g coef[g] K(x_order[g], x) - rho``.
    The iterations read ``Q`` from ``Qs``, ``QDs`` (filled here, see :func:`slot_matrix`);
    ``obj`` is :func:`select`'s work vector.
    """
    for i in range(n):
        active[i] = i
        alpha[i] = 0.0
        G[i] = -1.0
        G_bar[i] = 0.0
        status[i] = LOWER
    binary_labels(n, n_pos, Cp, Cn, yv, Cv)
    slot_matrix(Kq, QD, order, n, n_pos, Qs, QDs)
    active_size = n
    unshrink = False
    it = 0
    period = n if n < 1000 else 1000  # no min(): numba.cuda's overload fails here
    counter = period + 1
    while True:
        if it >= max_iter:
            break
        counter -= 1
        if counter == 0:
            counter = period
            if shrinking:
                active_size, unshrink = do_shrinking(n, active_size, unshrink, eps, Qs,
                                                     QDs, active, yv, G, G_bar,
                                                     status, alpha, Cv)
        i, j = select(active_size, Qs, QDs, yv, G, status, eps, obj)
        if i < 0:
            reconstruct(n, active_size, Qs, G, G_bar, status, alpha)
            active_size = n
            i, j = select(active_size, Qs, QDs, yv, G, status, eps, obj)
            if i < 0:
                break
            counter = 1
        it += 1

        Ci = Cv[i]
        Cj = Cv[j]
        qij = float(Qs[i, j])
        old_ai = alpha[i]
        old_aj = alpha[j]
        if yv[i] != yv[j]:
            quad = QDs[i] + QDs[j] + 2.0 * qij
            if quad <= 0.0:
                quad = TAU
            delta = (-G[i] - G[j]) / quad
            diff = alpha[i] - alpha[j]
            alpha[i] += delta
            alpha[j] += delta
            if diff > 0.0:
                if alpha[j] < 0.0:
                    alpha[j] = 0.0
                    alpha[i] = diff
            else:
                if alpha[i] < 0.0:
                    alpha[i] = 0.0
                    alpha[j] = -diff
            if diff > Ci - Cj:
                if alpha[i] > Ci:
                    alpha[i] = Ci
                    alpha[j] = Ci - diff
            else:
                if alpha[j] > Cj:
                    alpha[j] = Cj
                    alpha[i] = Cj + diff
        else:
            quad = QDs[i] + QDs[j] - 2.0 * qij
            if quad <= 0.0:
                quad = TAU
            delta = (G[i] - G[j]) / quad
            total = alpha[i] + alpha[j]
            alpha[i] -= delta
            alpha[j] += delta
            if total > Ci:
                if alpha[i] > Ci:
                    alpha[i] = Ci
                    alpha[j] = total - Ci
            else:
                if alpha[j] < 0.0:
                    alpha[j] = 0.0
                    alpha[i] = total
            if total > Cj:
                if alpha[j] > Cj:
                    alpha[j] = Cj
                    alpha[i] = total - Cj
            else:
                if alpha[i] < 0.0:
                    alpha[i] = 0.0
                    alpha[j] = total

        dai = alpha[i] - old_ai
        daj = alpha[j] - old_aj
        for k in range(active_size):
            G[k] += float(Qs[i, k]) * dai + float(Qs[j, k]) * daj

        ui = status[i] == UPPER
        uj = status[j] == UPPER
        status[i] = status_of(alpha[i], Ci)
        status[j] = status_of(alpha[j], Cj)
        if ui != (status[i] == UPPER):
            update_g_bar(n, Qs, i, -Ci if ui else Ci, G_bar)
        if uj != (status[j] == UPPER):
            update_g_bar(n, Qs, j, -Cj if uj else Cj, G_bar)

    # libsvm's calculate_rho over the active set
    nr_free = 0
    ub = INF
    lb = -INF
    sum_free = 0.0
    for i in range(active_size):
        yg = yv[i] * G[i]
        if status[i] == UPPER:
            if yv[i] < 0:
                ub = ub if ub < yg else yg
            else:
                lb = lb if lb > yg else yg
        elif status[i] == LOWER:
            if yv[i] > 0:
                ub = ub if ub < yg else yg
            else:
                lb = lb if lb > yg else yg
        else:
            nr_free += 1
            sum_free += yg
    if nr_free > 0:
        rho = sum_free / nr_free
    else:
        rho = (ub + lb) / 2.0
    for i in range(n):
        coef[active[i]] = alpha[i] * yv[i]
    return rho, it


@device
def prepare_pair(X, c, tr, ntr, te, nte, standardize, linear, gamma_fixed, xtr, xte, xsq,
                 stats, Kq, QD, Kt):
    """Standardise and fill the kernel matrices of one (cell, slot) pair: the linear
    kernel with ``linear``, else the RBF kernel (gamma picked here when ``gamma_fixed <= 0``).
    """
    d = X.shape[2]
    gather_standardize(X, c, tr, ntr, te, nte, standardize, xtr, xte, stats)
    if linear:
        linear_kernels(xtr, ntr, xte, nte, d, Kq, QD, Kt)
        return
    gamma = gamma_fixed
    if gamma <= 0.0:
        gamma = scale_gamma(xtr, ntr, d)
    rbf_kernels(xtr, ntr, xte, nte, d, gamma, xsq, Kq, QD, Kt)


@device
def prepare_fixed(D, mu, css, d, tr, ntr, te, nte, linear, gamma_fixed, Kq, QD, Kt):
    """As ``prepare_pair`` for fixed features: with ``linear`` the kernels are sub-blocks
    of the Gram matrix ``D``; else ``D`` holds squared distances and gamma comes from
    ``mu``, ``css``."""
    if linear:
        fixed_linear_kernels(D, tr, ntr, te, nte, Kq, QD, Kt)
        return
    gamma = gamma_fixed
    if gamma <= 0.0:
        gamma = pooled_scale_gamma(mu, css, tr, ntr, d)
    fixed_kernels(D, tr, ntr, te, nte, gamma, Kq, QD, Kt)


@device
def binary_order(y, tr, ntr, k_neg, n_pos, order):
    """libsvm's row order for "not k_neg" (+1) vs "k_neg" (-1): +1 rows first."""
    a = 0
    b = n_pos
    for r in range(ntr):
        if y[tr[r]] == k_neg:
            order[b] = r
            b += 1
        else:
            order[a] = r
            a += 1


@device
def pair_order(y, tr, ntr, k_pos, k_neg, order):
    """libsvm's rows of the one-vs-one problem "k_pos" (+1) vs "k_neg" (-1): the rows of
    ``k_pos`` then those of ``k_neg``, each in training order; returns their number."""
    n = 0
    for r in range(ntr):
        if y[tr[r]] == k_pos:
            order[n] = r
            n += 1
    for r in range(ntr):
        if y[tr[r]] == k_neg:
            order[n] = r
            n += 1
    return n


@device
def decision(coef, order, n, Kt, t, rho):
    acc = 0.0
    for g in range(n):
        if coef[g] != 0.0:
            acc += coef[g] * Kt[order[g], t]
    return acc - rho


@device
def fit_binary(Kq, QD, order, n, n_pos, Cp, Cn, linear, eps, max_iter, shrinking, alpha, G,
               G_bar, status, active, yv, Cv, coef, Qs, QDs, obj, V, H):
    """One binary problem on ``order[:n]`` (first ``n_pos`` rows +1): writes ``coef`` (in
    ``order``) and returns ``rho``. RBF kernel: libsvm's SMO (:func:`solve`); with
    ``linear``: the interior-point solver of :mod:`gpudecode.kernels.linear_qp` on the same
    ``Q`` (at most ``min(max_iter, QP_MAX_ITER)`` Newton steps; ``eps`` and ``shrinking``
    are SMO's)."""
    if not linear:
        rho, _ = solve(Kq, QD, order, n, n_pos, Cp, Cn, eps, max_iter, shrinking, alpha, G,
                       G_bar, status, active, yv, Cv, coef, Qs, QDs, obj)
        return rho
    slot_matrix(Kq, QD, order, n, n_pos, Qs, QDs)
    binary_labels(n, n_pos, Cp, Cn, yv, Cv)
    cap = max_iter if max_iter < QP_MAX_ITER else QP_MAX_ITER
    rho, _ = interior_point(Qs, n, yv, Cv, QP_TOL, cap, V, H, coef)
    return rho


@device
def fit_predict_labelset(y, tr, ntr, nte, n_classes, balanced, one_vs_one, linear, C, eps,
                         max_iter, shrinking, Kq, QD, Kt, counts, order, alpha, G, G_bar,
                         status, active, yv, Cv, coef, scores, Qs, QDs, obj, V, H, out):
    """Fit one label set on a prepared pair and write its predictions to ``out``.

    Each binary problem goes through :func:`fit_binary` (SMO, or with ``linear`` the
    interior-point solver on ``V``, ``H``). Two classes present: one binary SVM, the lower
    class is libsvm's +1. More, with
    ``one_vs_one``: libsvm's multiclass (scikit-learn's ``SVC``), one SVM per pair of
    present classes ``i < j`` on their rows, each test row votes ``i`` when the decision
    is > 0 else ``j``, most votes wins (lowest class on ties); balanced weights are
    scikit-learn's ``n / (n_present * n_k)`` per class. Otherwise one SVM "k vs rest" per
    present class k (rest is +1, balanced weights of its own two labels), class score =
    -decision, largest score wins (lowest class on ties). ``scores`` (max_test,
    n_classes) holds the votes or scores.
    """
    n_present = count_classes(y, tr, ntr, n_classes, counts)
    first = -1
    second = -1
    for k in range(n_classes):
        if counts[k] > 0:
            if first < 0:
                first = k
            elif second < 0:
                second = k
    for t in range(out.shape[0]):
        out[t] = -1
    if n_present == 1:
        for t in range(nte):
            out[t] = first
        return
    for t in range(nte):
        for k in range(n_classes):
            scores[t, k] = 0.0
    if one_vs_one or n_present == 2:
        for ki in range(n_classes):
            if counts[ki] == 0:
                continue
            for kj in range(ki + 1, n_classes):
                if counts[kj] == 0:
                    continue
                n = pair_order(y, tr, ntr, ki, kj, order)
                Cp = C
                Cn = C
                if balanced:
                    Cp = C * (ntr / (n_present * 1.0 * counts[ki]))
                    Cn = C * (ntr / (n_present * 1.0 * counts[kj]))
                rho = fit_binary(Kq, QD, order, n, counts[ki], Cp, Cn, linear, eps,
                                 max_iter, shrinking, alpha, G, G_bar, status, active, yv,
                                 Cv, coef, Qs, QDs, obj, V, H)
                for t in range(nte):
                    if decision(coef, order, n, Kt, t, rho) > 0.0:
                        scores[t, ki] += 1.0
                    else:
                        scores[t, kj] += 1.0
    else:
        for k in range(n_classes):
            if counts[k] == 0:
                continue
            n_pos = ntr - counts[k]
            binary_order(y, tr, ntr, k, n_pos, order)
            Cp = C
            Cn = C
            if balanced:
                Cp = C * (ntr / (2.0 * n_pos))
                Cn = C * (ntr / (2.0 * counts[k]))
            rho = fit_binary(Kq, QD, order, ntr, n_pos, Cp, Cn, linear, eps, max_iter,
                             shrinking, alpha, G, G_bar, status, active, yv, Cv, coef, Qs,
                             QDs, obj, V, H)
            for t in range(nte):
                scores[t, k] = -decision(coef, order, ntr, Kt, t, rho)
    argmax_predict(scores, nte, counts, n_classes, out)

_pooled_scale_gamma = pooled_scale_gamma.py_func  # the plain source, callable from Python


def rbf_core(target: str) -> SimpleNamespace:
    """The per-problem RBF-SVM functions compiled for ``"cpu"`` or ``"cuda"`` (device)."""
    return device_namespace(__name__, target)


# ----------------------------------------------------------------------------- scratch
# Declared once: the CPU kernels allocate their scratch from these shapes, the GPU twins
# their per-pair and per-problem buffers (one row per pair or problem).

FEATURE_SCRATCH_DTYPES = (np.float64, np.float64, np.float64, np.float64)
"""dtypes of the arrays :func:`feature_scratch_shapes` sizes, in its order."""

KERNEL_SCRATCH_DTYPES = (np.float32, np.float64, np.float64)
"""dtypes of the arrays :func:`kernel_scratch_shapes` sizes, in its order."""

SOLVER_SCRATCH_DTYPES = (np.int64, np.int64, np.float64, np.float64, np.float64, np.int8,
                         np.int64, np.float64, np.float64, np.float64, np.float64, np.float32,
                         np.float64, np.float64, np.float64, np.float64)
"""dtypes of the arrays :func:`solver_scratch_shapes` sizes, in its order."""


@cpu_jit()
def feature_scratch_shapes(max_train, max_test, n_features):
    """One (cell, slot) pair's gathered rows, as :func:`prepare_pair` takes them: ``xtr``
    (max_train, d), ``xte`` (max(max_test, 1), d), ``xsq`` (max_train,) and the
    standardisation's per-feature sums ``stats`` (3, d)."""
    return ((max_train, n_features), (max(max_test, 1), n_features), (max_train,),
            (3, n_features))


@cpu_jit()
def kernel_scratch_shapes(max_train, max_test):
    """One pair's (or fixed-feature slot's) kernel matrices: ``Kq`` (max_train square,
    float32), ``QD`` (max_train,) and ``Kt`` (max_train, max(max_test, 1))."""
    return ((max_train, max_train), (max_train,), (max_train, max(max_test, 1)))


@cpu_jit()
def solver_scratch_shapes(max_train, max_test, n_classes, linear):
    """One problem's solver scratch, as :func:`fit_predict_labelset` takes it: ``counts``
    (n_classes,), then ``order``, ``alpha``, ``G``, ``G_bar``, ``status``, ``active``,
    ``yv``, ``Cv``, ``coef`` (max_train each), ``scores`` (max(max_test, 1),
    n_classes), then a binary problem's ``Q`` in solver-slot order, ``Qs`` (max_train
    square, float32), its diagonal ``QDs`` and :func:`select`'s objectives ``obj``
    (max_train each), see :func:`slot_matrix`; last the interior-point solver's ``V``
    and ``H`` (:func:`gpudecode.kernels.linear_qp.qp_scratch_shapes`) with ``linear``,
    else empty (0 x 0: the RBF kernel runs SMO only)."""
    n = (max_train,)
    if linear:
        qp = qp_scratch_shapes(max_train)
    else:
        qp = ((0, 0), (0, 0))
    return ((n_classes,), n, n, n, n, n, n, n, n, n, (max(max_test, 1), n_classes),
            (max_train, max_train), n, n, qp[0], qp[1])


@cpu_jit()
def allocate_feature_scratch(max_train, max_test, n_features):
    """The CPU kernel's feature scratch, as :func:`feature_scratch_shapes` declares it."""
    sh = feature_scratch_shapes(max_train, max_test, n_features)
    return np.empty(sh[0]), np.empty(sh[1]), np.empty(sh[2]), np.empty(sh[3])


@cpu_jit()
def allocate_kernel_scratch(max_train, max_test):
    """The CPU kernels' kernel matrices, as :func:`kernel_scratch_shapes` declares them."""
    sh = kernel_scratch_shapes(max_train, max_test)
    return np.empty(sh[0], dtype=np.float32), np.empty(sh[1]), np.empty(sh[2])


@cpu_jit()
def allocate_solver_scratch(max_train, max_test, n_classes, linear):
    """The CPU kernels' solver scratch, as :func:`solver_scratch_shapes` declares it."""
    sh = solver_scratch_shapes(max_train, max_test, n_classes, linear)
    return (np.empty(sh[0], dtype=np.int64), np.empty(sh[1], dtype=np.int64),
            np.empty(sh[2]), np.empty(sh[3]), np.empty(sh[4]),
            np.empty(sh[5], dtype=np.int8), np.empty(sh[6], dtype=np.int64),
            np.empty(sh[7]), np.empty(sh[8]), np.empty(sh[9]), np.empty(sh[10]),
            np.empty(sh[11], dtype=np.float32), np.empty(sh[12]), np.empty(sh[13]),
            np.empty(sh[14]), np.empty(sh[15]))


# ----------------------------------------------------------------------------- CPU batch

@cpu_jit(parallel=True)
def svm_batch(X, Y, train_idx, n_train, test_idx, n_test, n_classes, standardize, balanced,
               linear, one_vs_one, C, gamma_fixed, eps, max_iter, shrinking, n_chunks, pred):
    d = X.shape[2]
    n_sets = Y.shape[0]
    n_slots = train_idx.shape[0]
    nmax = train_idx.shape[1]
    mmax = max(test_idx.shape[1], 1)
    n_pairs = X.shape[0] * n_slots
    for ch in prange(n_chunks):
        # one set of scratch per chunk of (cell, slot) pairs
        xtr, xte, xsq, stats = allocate_feature_scratch(nmax, mmax, d)
        Kq, QD, Kt = allocate_kernel_scratch(nmax, mmax)
        (counts, order, alpha, G, G_bar, status, active, yv, Cv, coef, scores, Qs, QDs,
         obj, V, H) = allocate_solver_scratch(nmax, mmax, n_classes, linear)
        for pair in range(ch * n_pairs // n_chunks, (ch + 1) * n_pairs // n_chunks):
            c = pair // n_slots
            s = pair - c * n_slots
            ntr = np.int64(n_train[s])
            nte = np.int64(n_test[s])
            prepare_pair(X, c, train_idx[s], ntr, test_idx[s], nte, standardize, linear,
                         gamma_fixed, xtr, xte, xsq, stats, Kq, QD, Kt)
            for lab in range(n_sets):
                fit_predict_labelset(Y[lab], train_idx[s], ntr, nte, n_classes, balanced,
                                     one_vs_one, linear, C, eps, max_iter, shrinking, Kq, QD,
                                     Kt, counts, order, alpha, G, G_bar, status, active, yv,
                                     Cv, coef, scores, Qs, QDs, obj, V, H, pred[c, lab, s])


def check_rbf_params(C, gamma, tol, max_iter, shrinking) -> tuple[float, float, float, int, bool]:
    """Check the RBF-SVM hyper-parameters.

    Returns
    -------
    C, gamma, tol, max_iter, shrinking
        ``gamma`` is ``-1.0`` for ``"scale"`` (computed per problem), else the positive float.

    Raises
    ------
    ParameterError
    """
    C = check_positive(C, "C", "1.0")
    if isinstance(gamma, str):
        if gamma != "scale":
            raise ParameterError(f"gamma must be 'scale' or a number > 0, got {gamma!r}.",
                                 field="gamma", fix="pass gamma='scale' (scikit-learn's "
                                                    "default) or e.g. gamma=0.1.")
        gamma = -1.0
    else:
        gamma = check_positive(gamma, "gamma", "'scale'")
    tol = check_positive(tol, "tol", "1e-3")
    max_iter = check_max_iter(max_iter)
    if not isinstance(shrinking, (bool, np.bool_, numbers.Integral)):
        raise ParameterError(f"shrinking must be True or False, got {shrinking!r}.",
                             field="shrinking", fix="pass shrinking=True (libsvm's default).")
    return C, gamma, tol, max_iter, bool(shrinking)


def fit_predict_rbf_svm(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *,
                        standardize=True, class_weight_balanced=False, C=1.0, gamma="scale",
                        tol=1e-3, max_iter=100000, shrinking=True):
    """Fit and predict a batch of RBF-kernel SVMs on the CPU (Numba, parallel over problems).

    Each problem (cell ``c``, label set ``l``, split slot ``s``) matches scikit-learn's
    ``SVC(kernel="rbf", C=C, gamma=gamma, tol=tol)`` fit on the problem's training rows
    (after ``StandardScaler`` fit on those rows when ``standardize``); with more than two
    classes, ``OneVsRestClassifier`` of that SVC.

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
        scikit-learn's ``class_weight="balanced"`` (per binary problem, per-class C).
    C : float
        Penalty, > 0.
    gamma : "scale" or float
        ``"scale"`` = ``1 / (n_features * X_train.var())`` on the (standardised) training
        rows of each problem, 1 when that variance is 0.
    tol : float
        libsvm's stopping tolerance on the maximal KKT violation.
    max_iter : int
        SMO iterations per binary problem before stopping early (scikit-learn: unlimited).
    shrinking : bool
        libsvm's shrinking heuristic (changes the path, not the optimum); scikit-learn's
        default is True.

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
    C, gamma, tol, max_iter, shrinking = check_rbf_params(C, gamma, tol, max_iter, shrinking)
    return run_pairs(svm_batch, X, Y, train_idx, n_train, test_idx, n_test, n_classes,
                     bool(standardize), bool(class_weight_balanced), False, False, C, gamma,
                     tol, max_iter, shrinking, chunked=True)


# ----------------------------------------------------------------------------- fixed features

FEATURE_CHUNK = 1 << 14


def fixed_gram(xp, X, feature_chunk: int = FEATURE_CHUNK):
    """Gram matrix ``X @ X.T`` of one fixed feature matrix, float64, exactly symmetric.

    Parameters
    ----------
    xp : module
        ``numpy`` (BLAS) or ``cupy`` (cuBLAS).
    X : array, shape (n_trials, n_features)
        Trials x features, any float dtype (read in float64, ``feature_chunk`` columns at
        a time).
    feature_chunk : int

    Returns
    -------
    G : array of float64, shape (n_trials, n_trials)
    """
    n, d = X.shape
    G = xp.zeros((n, n), dtype=xp.float64)
    for lo in range(0, d, feature_chunk):
        part = X[:, lo:lo + feature_chunk].astype(xp.float64)
        G += part @ part.T
    return xp.ascontiguousarray(xp.triu(G) + xp.triu(G, 1).T)


def fixed_distances(xp, X, feature_chunk: int = FEATURE_CHUNK):
    """Squared distances and row statistics of one fixed feature matrix.

    Parameters
    ----------
    xp : module
        ``numpy`` (BLAS) or ``cupy`` (cuBLAS).
    X : array, shape (n_trials, n_features)
        Trials x features, any float dtype (read in float64, ``feature_chunk`` columns at
        a time, so no float64 copy of the whole matrix is made).
    feature_chunk : int

    Returns
    -------
    D : array of float64, shape (n_trials, n_trials)
        ``|x_i|^2 + |x_k|^2 - 2 x_i . x_k`` (libsvm's form), exactly symmetric, 0 on the
        diagonal.
    mu : array of float64, shape (n_trials,)
        Mean of each trial's features.
    css : array of float64, shape (n_trials,)
        Centred sum of squares of each trial's features, ``sum_j (x_ij - mu_i)**2``.
    """
    n, d = X.shape
    G = fixed_gram(xp, X, feature_chunk)
    total = xp.zeros(n, dtype=xp.float64)
    for lo in range(0, d, feature_chunk):
        total += X[:, lo:lo + feature_chunk].astype(xp.float64).sum(axis=1)
    mu = total / d
    css = xp.zeros(n, dtype=xp.float64)
    for lo in range(0, d, feature_chunk):
        part = X[:, lo:lo + feature_chunk].astype(xp.float64) - mu[:, None]
        css += (part * part).sum(axis=1)
    sq = xp.diagonal(G).copy()
    D = (sq[:, None] + sq[None, :]) - 2.0 * G
    return xp.ascontiguousarray(D), mu, css


@cpu_jit()
def _svm_fixed_block(start, stop, D, mu, css, d, Y, train_idx, n_train, test_idx, n_test,
                     n_classes, balanced, linear, one_vs_one, C, gamma_fixed, eps, max_iter,
                     shrinking, pred):
    """Slots ``start..stop-1``: one sub-block kernel per slot, then every label set."""
    n_sets = Y.shape[0]
    nmax = train_idx.shape[1]
    mmax = max(test_idx.shape[1], 1)
    Kq, QD, Kt = allocate_kernel_scratch(nmax, mmax)
    (counts, order, alpha, G, G_bar, status, active, yv, Cv, coef, scores, Qs, QDs,
     obj, V, H) = allocate_solver_scratch(nmax, mmax, n_classes, linear)
    for s in range(start, stop):
        ntr = np.int64(n_train[s])
        nte = np.int64(n_test[s])
        prepare_fixed(D, mu, css, d, train_idx[s], ntr, test_idx[s], nte, linear, gamma_fixed,
                      Kq, QD, Kt)
        for lab in range(n_sets):
            fit_predict_labelset(Y[lab], train_idx[s], ntr, nte, n_classes, balanced,
                                 one_vs_one, linear, C, eps, max_iter, shrinking, Kq, QD, Kt,
                                 counts, order, alpha, G, G_bar, status, active, yv, Cv, coef,
                                 scores, Qs, QDs, obj, V, H, pred[lab, s])


def check_fixed_shape(shape) -> None:
    """Raise :class:`ShapeError` unless ``shape`` is 2-D (trials x features)."""
    if len(shape) != 2:
        raise ShapeError(f"X must be 2-D (trials x features) for a fixed-feature SVM, "
                         f"got shape {tuple(shape)}.", field="X",
                         fix="pass one population feature matrix (trials x features); for "
                             "per-cell features use fit_predict_rbf_svm or "
                             "fit_predict_linear_svm.")


def check_fixed_batch(X, Y, train_idx, n_train, test_idx, n_test, n_classes):
    """:func:`gpudecode.kernels._prep.check_batch` for one trials x features matrix.

    Returns
    -------
    X, Y, train_idx, n_train, test_idx, n_test, n_classes
        X 2-D (float32/float64), the rest as ``check_batch`` returns them.

    Raises
    ------
    ShapeError, ParameterError, NonFiniteError
    """
    check_fixed_shape(np.shape(X))
    X, Y, train_idx, n_train, test_idx, n_test, n_classes = check_batch(
        np.asarray(X)[None], Y, train_idx, n_train, test_idx, n_test, n_classes)
    return X[0], Y, train_idx, n_train, test_idx, n_test, n_classes


def fit_predict_rbf_svm_fixed(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *,
                              class_weight_balanced=False, C=1.0, gamma="scale", tol=1e-3,
                              max_iter=100000, shrinking=True):
    """RBF-kernel SVMs on one fixed feature matrix, every slot a sub-block of one Gram matrix.

    Same problems and results as ``fit_predict_rbf_svm(X[None], ..., standardize=False)[0]``
    (scikit-learn's ``SVC(kernel="rbf")`` fit on each slot's training rows, one-vs-rest
    beyond two classes), but the features are read once: one squared-distance matrix
    ``D`` over all trials (float64, BLAS) and per-trial row statistics; each slot's
    ``gamma="scale"`` comes from the statistics of its training rows and its kernel
    matrices are ``exp(-gamma D)`` on the (train, train) and (train, test) sub-blocks. Use
    it where the features do not depend on the split (no in-fold scaling or selection).

    Parameters
    ----------
    X : ndarray, shape (n_trials, n_features)
        Trials x features, float32 (float64 accepted), finite, used as given (not
        standardised).
    Y : ndarray of int, shape (n_labelsets, n_trials)
        Class codes ``0..n_classes-1``; row 0 the observed labels, rows 1.. permutations.
    train_idx : ndarray of int, shape (n_slots, max_train)
        Training trials of each slot, padded with -1 (``SplitPlan.train_idx_``).
    n_train : ndarray of int, shape (n_slots,)
    test_idx : ndarray of int, shape (n_slots, max_test)
        Test trials of each slot, padded with -1.
    n_test : ndarray of int, shape (n_slots,)
    n_classes : int
    class_weight_balanced, C, gamma, tol, max_iter, shrinking
        As for :func:`fit_predict_rbf_svm`.

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
    C, gamma, tol, max_iter, shrinking = check_rbf_params(C, gamma, tol, max_iter, shrinking)
    return solve_fixed(X, Y, train_idx, n_train, test_idx, n_test, n_classes,
                       bool(class_weight_balanced), False, False, C, gamma, tol, max_iter,
                       shrinking)


def solve_fixed(X, Y, train_idx, n_train, test_idx, n_test, n_classes, balanced, linear,
                one_vs_one, C, gamma, tol, max_iter, shrinking):
    """SMO on one fixed feature matrix (checked parameters): the RBF kernel from one
    squared-distance matrix, or with ``linear`` the linear kernel from one Gram matrix;
    every slot takes its sub-blocks. Arguments as :func:`fit_predict_rbf_svm_fixed`.

    Returns
    -------
    pred : ndarray of int32, shape (n_labelsets, n_slots, max_test)
    """
    X, Y, train_idx, n_train, test_idx, n_test, n_classes = check_fixed_batch(
        X, Y, train_idx, n_train, test_idx, n_test, n_classes)
    n_slots = train_idx.shape[0]
    pred = np.full((Y.shape[0], n_slots, test_idx.shape[1]), -1, dtype=np.int32)
    if pred.size == 0:
        return pred
    if linear:
        D = fixed_gram(np, X)
        mu = css = np.zeros(X.shape[0])
    else:
        D, mu, css = fixed_distances(np, X)
    run_blocks(_svm_fixed_block, n_slots, D, mu, css, X.shape[1], Y, train_idx, n_train,
               test_idx, n_test, n_classes, balanced, linear, one_vs_one, C, gamma, tol,
               max_iter, shrinking, pred)
    return pred

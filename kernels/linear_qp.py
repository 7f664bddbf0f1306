"""Interior-point solver of the binary C-SVC dual, for the linear-kernel SVM.

The problem is libsvm's (scikit-learn's ``SVC``) dual,

    min 1/2 a' Q a - e' a   subject to   y' a = 0,  0 <= a_i <= C_i,

with ``Q = (y y') o K`` (``y = +-1``, ``K`` the training Gram matrix) and ``C_i`` the
penalty of row ``i``'s class. libsvm's SMO takes thousands of two-variable steps on the
linear kernel's non-separable problems (7,400 on average at 90 training rows, 53 features,
permuted labels); a primal-dual interior-point method takes about a dozen Newton steps,
each one Cholesky factorisation of an ``n x n`` matrix.

Method: Mehrotra's predictor-corrector on the variables ``a``, ``s = C - a``, the duals
``z >= 0`` of ``a >= 0`` and ``w >= 0`` of ``s >= 0``, and the multiplier ``b`` of
``y' a = 0``. Each step factors ``H = Q + diag(z / a + w / s) + reg y y'`` (the ``reg y
y'`` term leaves the step unchanged on ``y' da = -r_p`` and makes ``H`` positive definite
where ``K`` is singular along ``y``, as standardised rows make it: ``K 1 = 0``), with the
columns ``[y, r]`` carried through the factorisation, so ``db`` comes from dot products of
the forward-solved columns and each direction costs one back substitution. The corrector
falls back to a centred Newton step (sigma = 1/2, no second-order term) when its step is
short or would raise the duality gap. Stopping: the dual residual and ``|y' a|`` below
``tol``, and the duality gap below ``tol (1 + |objective|)``.

The decision function's offset is libsvm's ``rho`` from the final gradient ``G = Q a - e``:
the mean of ``y_i G_i`` over the free rows (``z_i < a_i`` and ``w_i < s_i``), else the
midpoint of libsvm's bounds. The solution ``w = sum_i a_i y_i x_i`` is unique, so the
predictions agree with ``SVC(kernel="linear")`` wherever neither solver's inexactness
moves a test row across the boundary (libsvm stops at a KKT violation of 1e-3).

Written, like the other per-problem code, as plain loops over preallocated scratch so
that :func:`gpudecode.kernels._prep.device` compiles it for the CPU and the GPU twin.
Column loops run over unsigned indices: no wrap-around test, so the CPU vectorises them.
"""

from __future__ import annotations

import math

import numpy as np

from ._prep import cpu_jit, device

__all__ = ["interior_point", "qp_scratch_shapes", "QP_TOL", "QP_MAX_ITER", "QP_ROWS"]

QP_TOL = 1e-8
"""Stopping tolerance of :func:`interior_point` (residuals and relative duality gap)."""

QP_MAX_ITER = 100
"""Cap on interior-point iterations (a dozen is typical, the most seen 16)."""

QP_ROWS = 10
"""Rows of the vector scratch ``V``: a, s, z, w, G, rd, r, da, dz, dw."""

ETA = 0.999
"""Fraction of the step to the boundary of the positive orthant."""

PIVOT_TINY = 1e-13
"""Relative Cholesky pivot below which the pivot's direction is dropped (set to 0)."""

STEP_MIN = 0.1
SIGMA_SAFE = 0.5
START_SHIFT = 1.0


@cpu_jit()
def qp_scratch_shapes(max_train):
    """:func:`interior_point`'s scratch: ``V`` (QP_ROWS, max_train) and ``H`` (max_train,
    max_train + 2), float64."""
    return ((QP_ROWS, max_train), (max_train, max_train + 2))


@device
def qp_gradient(Qs, a, n, G):
    """``G[:n] = Q a - 1`` (``Q`` symmetric, float32: column axpys in float64)."""
    un = np.uint64(n)
    for t in range(un):
        G[t] = -1.0
    for k in range(n):
        c = a[k]
        if c != 0.0:
            for t in range(un):
                G[t] += c * float(Qs[k, t])


@device
def newton_matrix(Qs, n, yv, reg, a, s, z, w, rd, H):
    """Upper triangle of ``H[:n, :n] = Q + diag(z / a + w / s) + reg y y'``, and the
    right-hand columns ``H[:, n] = y``, ``H[:, n + 1] = -rd - z + w`` (the predictor's)."""
    un = np.uint64(n)
    for i in range(n):
        ri = reg * yv[i]
        for t in range(np.uint64(i), un):
            H[i, t] = float(Qs[i, t]) + ri * yv[t]
    newton_diagonal(n, yv, a, s, z, w, rd, H)


@device
def newton_diagonal(n, yv, a, s, z, w, rd, H):
    """The rest of :func:`newton_matrix` after ``Q + reg y y'``: ``diag(z / a + w / s)``
    added, the right-hand columns written."""
    for i in range(n):
        H[i, i] += z[i] / a[i] + w[i] / s[i]
        H[i, n] = yv[i]
        H[i, n + 1] = -rd[i] - z[i] + w[i]


@device
def pivot_row(H, j, w):
    """Row ``j`` of the factor: ``sqrt`` of the updated pivot, the rest of the row scaled
    by it; a pivot below ``PIVOT_TINY`` (relative) drops its direction."""
    p = H[j, j]
    uw = np.uint64(w)
    if not p > PIVOT_TINY * (1.0 + abs(p)):
        H[j, j] = 1e64
        for k in range(np.uint64(j + 1), uw):
            H[j, k] = 0.0
        return
    p = math.sqrt(p)
    H[j, j] = p
    inv = 1.0 / p
    for k in range(np.uint64(j + 1), uw):
        H[j, k] *= inv


@device
def rank4_rows(H, j0, i, w):
    """Subtract pivot rows ``j0..j0+3`` from rows ``i..i+3`` (columns ``i..w-1``; the
    entries left of a row's diagonal are scratch)."""
    a0 = H[j0, i]
    a1 = H[j0 + 1, i]
    a2 = H[j0 + 2, i]
    a3 = H[j0 + 3, i]
    b0 = H[j0, i + 1]
    b1 = H[j0 + 1, i + 1]
    b2 = H[j0 + 2, i + 1]
    b3 = H[j0 + 3, i + 1]
    c0 = H[j0, i + 2]
    c1 = H[j0 + 1, i + 2]
    c2 = H[j0 + 2, i + 2]
    c3 = H[j0 + 3, i + 2]
    d0 = H[j0, i + 3]
    d1 = H[j0 + 1, i + 3]
    d2 = H[j0 + 2, i + 3]
    d3 = H[j0 + 3, i + 3]
    for k in range(np.uint64(i), np.uint64(w)):
        p0 = H[j0, k]
        p1 = H[j0 + 1, k]
        p2 = H[j0 + 2, k]
        p3 = H[j0 + 3, k]
        H[i, k] -= (a0 * p0 + a1 * p1) + (a2 * p2 + a3 * p3)
        H[i + 1, k] -= (b0 * p0 + b1 * p1) + (b2 * p2 + b3 * p3)
        H[i + 2, k] -= (c0 * p0 + c1 * p1) + (c2 * p2 + c3 * p3)
        H[i + 3, k] -= (d0 * p0 + d1 * p1) + (d2 * p2 + d3 * p3)


@device
def rank4_row(H, j0, i, w):
    """Subtract pivot rows ``j0..j0+3`` from row ``i`` (columns ``i..w-1``)."""
    f0 = H[j0, i]
    f1 = H[j0 + 1, i]
    f2 = H[j0 + 2, i]
    f3 = H[j0 + 3, i]
    for k in range(np.uint64(i), np.uint64(w)):
        H[i, k] -= (f0 * H[j0, k] + f1 * H[j0 + 1, k]) + (f2 * H[j0 + 2, k] + f3 * H[j0 + 3, k])


@device
def rank1_row(H, j, i, w):
    """Subtract pivot row ``j`` from row ``i`` (columns ``i..w-1``)."""
    f = H[j, i]
    for k in range(np.uint64(i), np.uint64(w)):
        H[i, k] -= f * H[j, k]


@device
def cholesky_bordered(H, n, w):
    """Upper Cholesky factor ``U`` of ``H[:n, :n]`` (upper triangle read) in place,
    applied to the columns ``n..w-1`` too: on return ``H[:n, n:w] = U^-T H[:n, n:w]``.

    Panels of four pivot rows, then rank-4 updates of the trailing rows, four at a time.
    """
    j0 = 0
    while j0 < n:
        jb = n - j0 if n - j0 < 4 else 4
        j1 = j0 + jb
        for jj in range(j0, j1):
            pivot_row(H, jj, w)
            for i in range(jj + 1, j1):
                rank1_row(H, jj, i, w)
        if jb == 4:
            i = j1
            while i + 4 <= n:
                rank4_rows(H, j0, i, w)
                i += 4
            while i < n:
                rank4_row(H, j0, i, w)
                i += 1
        else:
            for jj in range(j0, j1):
                for i in range(j1, n):
                    rank1_row(H, jj, i, w)
        j0 = j1


@device
def forward_solve(H, n, b):
    """``b[:n] := U^-T b[:n]`` (``U`` the factor in ``H``)."""
    un = np.uint64(n)
    for j in range(n):
        t = b[j] / H[j, j]
        b[j] = t
        for k in range(np.uint64(j + 1), un):
            b[k] -= t * H[j, k]


@device
def back_solve(H, n, b):
    """``b[:n] := U^-1 b[:n]``, row dot products with four partial sums."""
    un = np.uint64(n)
    four = np.uint64(4)
    for i in range(n - 1, -1, -1):
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        k = np.uint64(i + 1)
        while k + four <= un:
            s0 += H[i, k] * b[k]
            s1 += H[i, k + np.uint64(1)] * b[k + np.uint64(1)]
            s2 += H[i, k + np.uint64(2)] * b[k + np.uint64(2)]
            s3 += H[i, k + np.uint64(3)] * b[k + np.uint64(3)]
            k += four
        while k < un:
            s0 += H[i, k] * b[k]
            k += np.uint64(1)
        b[i] = (b[i] - ((s0 + s1) + (s2 + s3))) / H[i, i]


@device
def step_to_boundary(n, a, s, z, w, da, dz, dw, r):
    """Largest step in (0, 1] keeping ``a, s = C - a, z, w`` nonnegative; ``r[:n]`` is
    scratch (each row's smallest ratio).

    Every ratio is divided, whatever the signs, so that the first loop has no branch and
    vectorises; those that do not count are masked (divided by 1 where they would divide
    by 0). ``x / |d|`` is ``-x / d`` bit for bit where ``d < 0``, and the minimum does not
    depend on the order: NaN ratios are skipped either way, and the ratios carry the
    signs of ``a, s, z, w > 0`` (no tie of +0 and -0).
    """
    un = np.uint64(n)
    for i in range(un):
        d = da[i]
        x = a[i]
        y = s[i]
        t = (x if d < 0.0 else y) / (abs(d) if d != 0.0 else 1.0)
        m = t if (d != 0.0 and t < 1.0) else 1.0
        d = dz[i]
        t = z[i] / (-d if d < 0.0 else 1.0)
        m = t if (d < 0.0 and t < m) else m
        d = dw[i]
        t = w[i] / (-d if d < 0.0 else 1.0)
        r[i] = t if (d < 0.0 and t < m) else m
    amax = 1.0
    for i in range(un):
        t = r[i]
        amax = t if t < amax else amax
    return amax


@device
def gap_after(n, step, a, s, z, w, da, dz, dw):
    """Duality gap ``a' z + s' w`` after a step of ``step`` along ``(da, dz, dw)``."""
    g = 0.0
    for i in range(n):
        g += (a[i] + step * da[i]) * (z[i] + step * dz[i]) \
            + (s[i] - step * da[i]) * (w[i] + step * dw[i])
    return g


@device
def direction_rhs(n, target, c2, a, s, z, w, rd, r, da, dz, dw):
    """First part of :func:`direction`: its right-hand side in ``r``, the complementarity
    residuals in ``dz``, ``dw``."""
    for i in range(n):
        raz = target - a[i] * z[i] - c2 * da[i] * dz[i]
        rsw = target - s[i] * w[i] + c2 * da[i] * dw[i]
        r[i] = -rd[i] + raz / a[i] - rsw / s[i]
        dz[i] = raz
        dw[i] = rsw


@device
def direction_offset(H, n, rp, yy, r, da):
    """Middle of :func:`direction`, after the forward solve of ``r``: the offset's step
    ``db`` (returned) and the right-hand side of the back solve in ``da``."""
    yr = 0.0
    for i in range(n):
        yr += H[i, n] * r[i]
    db = (yr + rp) / yy
    for i in range(n):
        da[i] = r[i] - db * H[i, n]
    return db


@device
def direction_end(n, a, s, z, w, da, dz, dw):
    """Last part of :func:`direction`, after the back solve of ``da``: ``dz``, ``dw``."""
    for i in range(n):
        dz[i] = (dz[i] - z[i] * da[i]) / a[i]
        dw[i] = (dw[i] + w[i] * da[i]) / s[i]


@device
def direction(H, n, yv, reg, rp, yy, target, c2, a, s, z, w, rd, r, da, dz, dw):
    """Newton direction for the complementarity targets ``a z = s w = target`` (with
    ``c2`` times the second-order term of the direction ``(da, dz, dw)`` held on entry,
    Mehrotra's corrector); overwrites ``(da, dz, dw)`` and returns ``db``."""
    direction_rhs(n, target, c2, a, s, z, w, rd, r, da, dz, dw)
    forward_solve(H, n, r)
    db = direction_offset(H, n, rp, yy, r, da)
    back_solve(H, n, da)
    direction_end(n, a, s, z, w, da, dz, dw)
    return db - reg * rp


@device
def qp_start(Qs, n, Cv, a, s, z, w, G):
    """Start at ``a = s = C / 2``, with ``z - w = G`` (dual residual 0 at ``b = 0``) and
    both shifted by ``START_SHIFT + mean |G|``."""
    for i in range(n):
        a[i] = 0.5 * Cv[i]
        s[i] = 0.5 * Cv[i]
    qp_gradient(Qs, a, n, G)
    shift = 0.0
    for i in range(n):
        shift += abs(G[i])
    shift = START_SHIFT + shift / n
    for i in range(n):
        g = G[i]
        z[i] = (g if g > 0.0 else 0.0) + shift
        w[i] = (-g if g < 0.0 else 0.0) + shift


@device
def libsvm_rho(n, yv, a, s, z, w, G):
    """libsvm's ``rho`` from the gradient ``G``: mean ``y G`` over the free rows, else the
    midpoint of the bounds set by the rows at ``a = 0`` and at ``a = C``."""
    nf = 0
    sf = 0.0
    ub = math.inf
    lb = -math.inf
    for i in range(n):
        yg = yv[i] * G[i]
        if z[i] < a[i] and w[i] < s[i]:
            nf += 1
            sf += yg
        elif (a[i] <= z[i]) == (yv[i] > 0):
            ub = ub if ub < yg else yg
        else:
            lb = lb if lb > yg else yg
    if nf > 0:
        return sf / nf
    return (ub + lb) / 2.0


@device
def qp_begin(Qs, n, Cv, V):
    """Start :func:`interior_point` (see :func:`qp_start`) in ``V``; returns ``reg``."""
    qp_start(Qs, n, Cv, V[0], V[1], V[2], V[3], V[4])
    reg = 1.0
    for i in range(n):
        reg += float(Qs[i, i]) / n
    return reg


@device
def qp_residuals(Qs, n, yv, b, tol, V):
    """The gradient ``G`` (:func:`qp_gradient`) and the residuals
    (:func:`qp_residuals_at`) at the iterate in ``V`` (offset ``b``)."""
    qp_gradient(Qs, V[0], n, V[4])
    return qp_residuals_at(n, yv, b, tol, V)


@device
def qp_residuals_at(n, yv, b, tol, V):
    """The dual residual ``rd`` at the iterate in ``V`` (offset ``b``), its gradient ``G``
    in ``V[4]``.

    Returns
    -------
    converged : bool
        The stopping test: dual residual and ``|y' a|`` below ``tol``, duality gap below
        ``tol (1 + |objective|)``.
    rp : float
        ``y' a``.
    gap : float
        ``a' z + s' w``.
    """
    a = V[0]
    s = V[1]
    z = V[2]
    w = V[3]
    G = V[4]
    rd = V[5]
    rp = 0.0
    rdmax = 0.0
    gap = 0.0
    obj = 0.0
    for i in range(n):
        t = G[i] + b * yv[i] - z[i] + w[i]
        rd[i] = t
        rdmax = rdmax if rdmax > abs(t) else abs(t)
        rp += yv[i] * a[i]
        gap += a[i] * z[i] + s[i] * w[i]
        obj += a[i] * (0.5 * G[i] - 0.5)
    converged = rdmax < tol and abs(rp) < tol and gap < tol * (1.0 + abs(obj))
    return converged, rp, gap


@device
def qp_newton_matrix(Qs, n, yv, reg, V, H):
    """:func:`newton_matrix` at the iterate in ``V``."""
    newton_matrix(Qs, n, yv, reg, V[0], V[1], V[2], V[3], V[5], H)


@device
def qp_newton_diagonal(n, yv, V, H):
    """:func:`newton_diagonal` at the iterate in ``V``."""
    newton_diagonal(n, yv, V[0], V[1], V[2], V[3], V[5], H)


@device
def qp_predictor(H, n, rp, V):
    """Start of :func:`qp_step`, after the factorisation: the affine (predictor) direction's
    right-hand side in ``da``; returns ``y' H^-1 y`` (from the bordered column)."""
    yy = 0.0
    yr = 0.0
    for i in range(n):
        yy += H[i, n] * H[i, n]
        yr += H[i, n] * H[i, n + 1]
    db = (yr + rp) / yy
    da = V[7]
    for i in range(n):
        da[i] = H[i, n + 1] - db * H[i, n]
    return yy


@device
def qp_corrector_target(n, gap, V):
    """After the predictor's back solve: its ``dz``, ``dw`` and step, and from them
    Mehrotra's centring target ``sigma^3 mu``; then the corrector's right-hand side
    (:func:`direction_rhs`). Returns the target."""
    a = V[0]
    s = V[1]
    z = V[2]
    w = V[3]
    da = V[7]
    dz = V[8]
    dw = V[9]
    for i in range(n):
        dz[i] = -z[i] - z[i] * da[i] / a[i]
        dw[i] = -w[i] + w[i] * da[i] / s[i]
    step = step_to_boundary(n, a, s, z, w, da, dz, dw, V[6])
    sigma = gap_after(n, step, a, s, z, w, da, dz, dw) / gap
    target = sigma * sigma * sigma * (gap / (2 * n))
    direction_rhs(n, target, 1.0, a, s, z, w, V[5], V[6], da, dz, dw)
    return target


@device
def qp_step_length(n, gap, V):
    """After a direction's back solve (:func:`direction_end` done): the step, and whether
    the corrector must fall back to the centred step (short, or the gap would grow)."""
    step = ETA * step_to_boundary(n, V[0], V[1], V[2], V[3], V[7], V[8], V[9], V[6])
    fall_back = step < STEP_MIN or gap_after(n, step, V[0], V[1], V[2], V[3], V[7], V[8],
                                             V[9]) > gap
    return step, fall_back


@device
def qp_fallback_rhs(n, gap, V):
    """The centred step's right-hand side (:func:`direction_rhs`, sigma = SIGMA_SAFE)."""
    direction_rhs(n, SIGMA_SAFE * (gap / (2 * n)), 0.0, V[0], V[1], V[2], V[3], V[5], V[6],
                  V[7], V[8], V[9])


@device
def qp_move(n, step, V):
    """Move the iterate ``(a, s, z, w)`` by ``step`` along the direction."""
    a = V[0]
    s = V[1]
    z = V[2]
    w = V[3]
    da = V[7]
    dz = V[8]
    dw = V[9]
    for i in range(n):
        a[i] += step * da[i]
        s[i] -= step * da[i]
        z[i] += step * dz[i]
        w[i] += step * dw[i]


@device
def qp_step(H, n, yv, reg, rp, gap, V):
    """One predictor-corrector step from the factored Newton matrix in ``H``; moves the
    iterate in ``V`` and returns the change of the offset ``b``.

    Written as phases between the triangular solves (:func:`qp_predictor`,
    :func:`qp_corrector_target`, :func:`direction_offset`, :func:`direction_end`,
    :func:`qp_step_length`, :func:`qp_fallback_rhs`, :func:`qp_move`), so that the CPU can
    run the solves of eight problems together (``linear_svm.solve_pair_lanes``).
    """
    r = V[6]
    da = V[7]
    yy = qp_predictor(H, n, rp, V)
    back_solve(H, n, da)
    qp_corrector_target(n, gap, V)
    forward_solve(H, n, r)
    db = direction_offset(H, n, rp, yy, r, da)
    back_solve(H, n, da)
    direction_end(n, V[0], V[1], V[2], V[3], da, V[8], V[9])
    step, fall_back = qp_step_length(n, gap, V)
    if fall_back:
        qp_fallback_rhs(n, gap, V)
        forward_solve(H, n, r)
        db = direction_offset(H, n, rp, yy, r, da)
        back_solve(H, n, da)
        direction_end(n, V[0], V[1], V[2], V[3], da, V[8], V[9])
        step, _ = qp_step_length(n, gap, V)
    qp_move(n, step, V)
    return step * (db - reg * rp)


@device
def qp_finish(n, yv, V, coef):
    """``coef = y a`` from ``V``; returns libsvm's ``rho`` (:func:`libsvm_rho`)."""
    a = V[0]
    for i in range(n):
        coef[i] = yv[i] * a[i]
    return libsvm_rho(n, yv, a, V[1], V[2], V[3], V[4])


@device
def interior_point(Qs, n, yv, Cv, tol, max_iter, V, H, coef):
    """Solve one binary C-SVC dual by Mehrotra's predictor-corrector.

    Parameters
    ----------
    Qs : array of float32, shape (>= n, >= n)
        ``Q = (y y') o K`` in row order (the rows of ``yv``).
    n : int
    yv : array of float64, shape (>= n,)
        Labels ``+-1``.
    Cv : array of float64, shape (>= n,)
        Penalty of each row.
    tol : float
    max_iter : int
    V : array of float64, shape (QP_ROWS, >= n)
        Vector scratch.
    H : array of float64, shape (>= n, >= n + 2)
        The Newton matrix, factored in place.
    coef : array of float64, shape (>= n,)
        Output: ``y_i a_i``.

    Returns
    -------
    rho : float
        Decision function ``sum_i coef_i K(x_i, x) - rho``.
    n_iter : int
        Newton steps taken (``max_iter`` where not converged).

    The phases (:func:`qp_begin`, :func:`qp_residuals`, :func:`qp_newton_matrix`, the
    factorisation, :func:`qp_step`, :func:`qp_finish`) are separate so that the CPU can
    run eight problems side by side and factor their matrices together
    (:mod:`gpudecode.kernels.lanes`).
    """
    reg = qp_begin(Qs, n, Cv, V)
    b = 0.0
    it = 0
    while True:
        converged, rp, gap = qp_residuals(Qs, n, yv, b, tol, V)
        if converged or it >= max_iter:
            break
        it += 1
        qp_newton_matrix(Qs, n, yv, reg, V, H)
        cholesky_bordered(H, n, n + 2)
        b += qp_step(H, n, yv, reg, rp, gap, V)
    return qp_finish(n, yv, V, coef), it

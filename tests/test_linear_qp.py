"""The interior-point solver of the binary C-SVC dual (kernels/linear_qp.py) on its own.

Oracle: scikit-learn's ``SVC(kernel="linear", tol=1e-10)`` (libsvm's SMO run to a tight
KKT tolerance) on the same rows, labels and per-class penalties: the dual objective
``1/2 a'Qa - e'a`` of both solutions, the decision values on held-out rows, and the KKT
conditions of ours (bounds, ``y'a = 0``, margins of rows at 0, free and at C), also on
degenerate inputs (equal rows, duplicated rows, a class of two rows, rank-deficient Gram
matrices, constant features).
"""

import numpy as np
import pytest
from sklearn.svm import SVC

from gpudecode.kernels.linear_qp import QP_MAX_ITER, QP_ROWS, QP_TOL, interior_point


def solve(X, y01, Cp=1.0, Cn=1.0):
    """Ours on rows ``X`` with labels ``y01`` (0 is libsvm's +1); rows in libsvm's order.

    Returns (order, a, coef, rho, n_iter, Q) with ``a``, ``coef`` in ``order``.
    """
    order = np.r_[np.flatnonzero(y01 == 0), np.flatnonzero(y01 == 1)]
    n = order.size
    yv = np.where(y01[order] == 0, 1.0, -1.0)
    Cv = np.where(yv > 0, Cp, Cn)
    K = (X[order] @ X[order].T).astype(np.float32)  # libsvm's float32 kernel cache
    Qs = (K * np.outer(yv, yv).astype(np.float32)).astype(np.float32)
    V = np.full((QP_ROWS, n), np.nan)
    H = np.full((n, n + 2), np.nan)
    coef = np.full(n, np.nan)
    rho, n_iter = interior_point(Qs, n, yv, Cv, QP_TOL, QP_MAX_ITER, V, H, coef)
    return order, coef * yv, coef, rho, n_iter, Qs.astype(np.float64)


def dual_objective(Q, a):
    return 0.5 * a @ Q @ a - a.sum()


def sklearn_alpha(model, order, n):
    """|dual_coef_| of a binary SVC, in ``order`` (0 for non-support vectors)."""
    a = np.zeros(n)
    a[model.support_] = np.abs(model.dual_coef_[0])
    return a[order]


def check_against_svc(X, y01, Xte, Cp=1.0, Cn=1.0, kkt_tol=1e-5):
    order, a, coef, rho, n_iter, Q = solve(X, y01, Cp, Cn)
    assert np.isfinite(coef).all() and np.isfinite(rho)
    assert n_iter < QP_MAX_ITER, "interior point did not converge"
    C = np.where(y01[order] == 0, Cp, Cn)
    weights = {0: Cp, 1: Cn}
    ref = SVC(kernel="linear", tol=1e-10, class_weight=weights).fit(X, y01)
    a_ref = sklearn_alpha(ref, order, len(y01))
    # same optimum: objective values within the tolerances
    f, f_ref = dual_objective(Q, a), dual_objective(Q, a_ref)
    assert f <= f_ref + 1e-6 * (1 + abs(f_ref))
    assert abs(f - f_ref) <= 1e-6 * (1 + abs(f_ref))
    # feasibility and KKT
    yv = np.where(y01[order] == 0, 1.0, -1.0)
    assert (a >= 0).all() and (a <= C).all()
    assert abs(yv @ a) <= 1e-7 * (1 + C.sum())
    margin = yv * (X[order] @ (X[order].T @ coef) - rho)
    at0, atC = a <= 1e-6 * C, a >= C * (1 - 1e-6)
    free = ~at0 & ~atC
    assert (margin[at0] >= 1 - kkt_tol).all()
    assert (margin[atC] <= 1 + kkt_tol).all()
    assert np.abs(margin[free] - 1).max(initial=0) <= kkt_tol
    # same decision function (sklearn's is positive for its classes_[1], our -1)
    ours = Xte @ (X[order].T @ coef) - rho
    theirs = -ref.decision_function(Xte)
    scale = 1 + np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, atol=1e-4 * scale)
    return n_iter


@pytest.mark.parametrize("n, d, seed", [(90, 53, 0), (27, 60, 1), (60, 5, 2), (40, 12, 3)])
def test_random_problems_match_svc_objective_kkt_and_decision(n, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X = (X - X.mean(0)) / X.std(0)  # standardised: the Gram matrix is singular along 1
    y = rng.integers(0, 2, n)  # random labels: non-separable
    check_against_svc(X, y, rng.standard_normal((30, d)))


def test_class_penalties_match_svc_class_weight():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((50, 8))
    y = (rng.random(50) < 0.25).astype(int)
    X[y == 1] += 0.7
    Cp, Cn = 50 / (2 * (y == 0).sum()), 50 / (2 * (y == 1).sum())
    check_against_svc(X, y, rng.standard_normal((30, 8)), Cp, Cn)


def test_separable_problem_has_zero_alphas_and_matches_svc():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 6))
    y = (X[:, 0] > 0).astype(int)
    X[:, 0] += np.where(y == 1, 3.0, -3.0)
    check_against_svc(X, y, rng.standard_normal((30, 6)))
    _, a, *_ = solve(X, y)
    assert (a <= 1e-6).sum() >= 30  # most rows are not support vectors


@pytest.mark.parametrize("case", ["equal rows", "zero rows", "duplicated rows",
                                  "class of two", "two rows", "rank 3 of 40",
                                  "constant features", "binary features"])
def test_degenerate_inputs(case):
    rng = np.random.default_rng(7)
    Xte = rng.standard_normal((30, 6))
    y = rng.integers(0, 2, 30)
    if case == "equal rows":
        X = np.ones((30, 6))
    elif case == "zero rows":
        X = np.zeros((30, 6))
    elif case == "duplicated rows":
        X = np.tile(rng.standard_normal((15, 6)), (2, 1))
    elif case == "class of two":
        X = rng.standard_normal((30, 6))
        y = np.zeros(30, int)
        y[[4, 21]] = 1
    elif case == "two rows":
        X, y = rng.standard_normal((2, 6)), np.array([1, 0])
    elif case == "rank 3 of 40":
        X = rng.standard_normal((30, 3)) @ rng.standard_normal((3, 6))
        Xte = rng.standard_normal((30, 3)) @ rng.standard_normal((3, 6))
    elif case == "constant features":
        X = rng.standard_normal((30, 6))
        X[:, [1, 4]] = 0.0
    else:
        X = rng.integers(0, 2, (30, 6)).astype(float)
        Xte = rng.integers(0, 2, (30, 6)).astype(float)
    n_iter = check_against_svc(X, y, Xte)
    assert n_iter >= 1

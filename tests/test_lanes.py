"""Eight Cholesky factorisations and triangular solves in SIMD lanes (kernels/lanes.py)
against the one-problem code the interior point uses (linear_qp), bit for bit."""

import numpy as np
import pytest

from gpudecode.kernels.lanes import (LANES, back_solve_lanes, cholesky_lanes,
                                     forward_solve_lanes, gradient_lanes, lanes_scratch_shape,
                                     signed_rows_lanes)
from gpudecode.kernels.linear_qp import (back_solve, cholesky_bordered, forward_solve,
                                         newton_diagonal, newton_matrix, qp_gradient)


def _matrices(rng, n, n_max):
    """LANES bordered Newton-like matrices (n x n + 2 in an n_max x n_max + 2 array, NaN
    around), some singular with exact zeros (the tiny-pivot branch)."""
    mats = []
    for _ in range(LANES):
        A = rng.standard_normal((n, int(rng.integers(1, 60))))
        if rng.random() < 0.3:
            A = np.round(A)
        M = A @ A.T
        if rng.random() < 0.5:
            M += np.diag(rng.random(n))
        H = np.full((n_max, n_max + 2), np.nan)
        H[:n, :n] = M
        H[:n, n:n + 2] = rng.standard_normal((n, 2))
        mats.append(H)
    return mats


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 9, 40, 72, 90])
def test_each_lane_is_cholesky_bordered_bit_for_bit(n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        n_max = n + int(rng.integers(0, 3))
        mats = _matrices(rng, n, n_max)
        H = np.full(lanes_scratch_shape(n_max), np.nan)
        for lane, M in enumerate(mats):
            H[:n_max, :, lane] = M
        cholesky_lanes(H, n, n + 2)
        for lane, M in enumerate(mats):
            cholesky_bordered(M, n, n + 2)
            U = np.triu(M[:n, :n])
            assert np.array_equal(U, np.triu(H[:n, :n, lane]))
            assert np.array_equal(np.signbit(U), np.signbit(np.triu(H[:n, :n, lane])))
            assert np.array_equal(M[:n, n:n + 2], H[:n, n:n + 2, lane])


def test_tiny_pivots_occur_and_match():
    """A rank-2 matrix: every pivot after the second is below PIVOT_TINY in every lane."""
    rng = np.random.default_rng(0)
    n = 9
    H = np.zeros(lanes_scratch_shape(n))
    mats = []
    for lane in range(LANES):
        A = np.round(rng.standard_normal((n, 2)) * 3)
        M = np.zeros((n, n + 2))
        M[:, :n] = A @ A.T
        M[:, n:] = rng.standard_normal((n, 2))
        H[:n, :, lane] = M
        mats.append(M)
    cholesky_lanes(H, n, n + 2)
    for lane, M in enumerate(mats):
        cholesky_bordered(M, n, n + 2)
        assert (np.diag(M)[2:] == 1e64).any()
        assert np.array_equal(np.triu(M[:, :n]), np.triu(H[:n, :n, lane]))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 72, 90])
def test_triangular_solves_are_each_lanes_bit_for_bit(n):
    rng = np.random.default_rng(100 + n)
    mats = _matrices(rng, n, n)
    H = np.zeros(lanes_scratch_shape(n))
    for lane, M in enumerate(mats):
        cholesky_bordered(M, n, n + 2)
        H[:n, :, lane] = M
    B = rng.standard_normal((n, LANES))
    for solve_lanes, solve in ((forward_solve_lanes, forward_solve),
                               (back_solve_lanes, back_solve)):
        got = B.copy()
        solve_lanes(H, n, got)
        for lane, M in enumerate(mats):
            b = B[:, lane].copy()
            solve(M, n, b)
            assert np.array_equal(b, got[:, lane], equal_nan=True)


def _problems(rng, n, n_max):
    """LANES interior-point states: a float32 ``Q = y y' o K`` (``K`` a Gram matrix of
    standardised-like rows, as ``rbf_svm.slot_matrix`` builds it), labels +-1 and an
    iterate ``a, s, z, w > 0``, ``rd`` of both signs."""
    Q = np.zeros((n_max, n_max, LANES), np.float32)
    Y = np.zeros((n_max + 1, LANES))
    states = []
    for lane in range(LANES):
        X = rng.standard_normal((n, int(rng.integers(1, 60))))
        y = np.where(rng.random(n) < 0.4, 1.0, -1.0)
        q = (np.outer(y, y) * (X @ X.T)).astype(np.float32)
        Q[:n, :n, lane] = q
        Y[:n, lane] = y
        a, s, z, w = rng.random((4, n)) * 10.0 ** rng.integers(-6, 2, (4, n))
        states.append((q, y, 1.0 + rng.random() * 50, a, s, z, w, rng.standard_normal(n)))
    return Q, Y, states


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 40, 72, 90])
def test_each_lanes_newton_matrix_is_newton_matrix_bit_for_bit(n):
    rng = np.random.default_rng(200 + n)
    n_max = n + int(rng.integers(0, 3))
    Q, Y, states = _problems(rng, n, n_max)
    H = np.full(lanes_scratch_shape(n_max), np.nan)
    Y[n_max] = [st[2] for st in states]
    signed_rows_lanes(Q, Y, n_max, n, H)
    upper = np.triu(np.ones((n, n + 2), dtype=bool))
    for lane, (q, y, reg, a, s, z, w, rd) in enumerate(states):
        Hl = H[:, :, lane].copy()
        newton_diagonal(n, y, a, s, z, w, rd, Hl)
        M = np.full((n, n + 2), np.nan)
        newton_matrix(q, n, y, reg, a, s, z, w, rd, M)
        assert np.array_equal(Hl[:n, :n + 2][upper], M[upper])


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 72, 90])
def test_each_lanes_gradient_is_qp_gradient_bit_for_bit(n):
    rng = np.random.default_rng(300 + n)
    n_max = n + int(rng.integers(0, 3))
    Q, _, states = _problems(rng, n, n_max)
    A = np.full((n_max, LANES), np.nan)
    for lane, st in enumerate(states):
        A[:n, lane] = st[3]
    G = np.full((n_max, LANES), np.nan)
    gradient_lanes(Q, A, n, G)
    for lane, st in enumerate(states):
        g = np.full(n, np.nan)
        qp_gradient(st[0], st[3], n, g)
        assert np.array_equal(g, G[:n, lane])

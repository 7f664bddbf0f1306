"""Eight Cholesky factorisations and triangular solves in SIMD lanes (kernels/lanes.py)
against the one-problem code the interior point uses (linear_qp), bit for bit."""

import numpy as np
import pytest

from gpudecode.kernels.lanes import (LANES, back_solve_lanes, cholesky_lanes,
                                     forward_solve_lanes, lanes_scratch_shape, pack_lanes)
from gpudecode.kernels.linear_qp import back_solve, cholesky_bordered, forward_solve


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


def test_pack_moves_the_upper_triangle_and_borders():
    rng = np.random.default_rng(1)
    n = 6
    M = rng.standard_normal((LANES, n, n + 2))
    H = np.zeros(lanes_scratch_shape(n))
    pack_lanes(M, n, n + 2, H)
    upper = np.triu(np.ones((n, n + 2), dtype=bool))
    for lane in range(LANES):
        assert np.array_equal(H[:n, :, lane][upper], M[lane][upper])


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

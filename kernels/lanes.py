"""Eight Cholesky factorisations and triangular solves at once, one per SIMD lane (CPU).

The linear SVM's interior point (:mod:`gpudecode.kernels.linear_qp`) factors one ``n x n``
Newton matrix per step and solves with the factor three to five times; at the sizes this
package meets (72 and 90 training rows) that is most of a fit. One matrix at a time, the
factorisation's row updates run over rows of ``n - i`` columns and reach about 2 of the 8
float64 multiply-adds per cycle an AVX-512 core allows, and the back solve is a chain of
dot products. Here eight problems' matrices are interleaved, entry ``(i, k)`` of lane
``l`` at ``H[i, k, l]`` (right-hand sides at ``B[i, l]``), and every update is one 8-wide
vector operation: no short rows, no remainders, no reductions across lanes.

Each lane gets the same operations, in the same order, as
:func:`gpudecode.kernels.linear_qp.cholesky_bordered`, ``forward_solve`` and ``back_solve``
give one problem (the same panels of four pivot rows, the same grouping of the products and
partial sums, no fused multiply-adds), so its results are the same bit for bit.

Numba has no vector types and, with LLVM's SLP vectoriser off (Numba's default), leaves an
8-iteration lane loop scalar. The inner loops are therefore written as LLVM vector IR
through :func:`numba.extending.intrinsic`, on the arrays' flat data (C order, float64).
CPU only: the GPU twin runs one problem per thread.
"""

from __future__ import annotations

import math

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._prep import cpu_jit
from .linear_qp import PIVOT_TINY

__all__ = ["LANES", "cholesky_lanes", "forward_solve_lanes", "back_solve_lanes",
           "lanes_scratch_shape", "pack_lanes"]

LANES = 8
"""Problems solved together: the float64 lanes of one AVX-512 register (LLVM splits the
vectors on narrower CPUs; the results are the same)."""

_VEC = ir.VectorType(ir.DoubleType(), LANES)
_I64 = ir.IntType(64)


def _data(context, builder, array_type, value):
    """Pointer to the first float64 of an array argument."""
    return cgutils.create_struct_proxy(array_type)(context, builder, value=value).data


def _lane_pointer(builder, base, offset):
    """Pointer to the 8 lanes of the entry at flat ``offset`` (a multiple of ``LANES``)."""
    return builder.bitcast(builder.gep(base, [offset]), _VEC.as_pointer())


def _offset(builder, start, row_stride, row, lane_col):
    """``start + row * row_stride + lane_col * LANES`` (row and column constants)."""
    return builder.add(start, builder.add(builder.mul(row_stride, ir.Constant(_I64, row)),
                                          ir.Constant(_I64, lane_col * LANES)))


def _make_update(n_rows: int, n_pivots: int):
    """An intrinsic ``update(H, out, piv, row_stride, n_cols)``: for ``k < n_cols`` and
    ``r < n_rows``, ``H[out + r row_stride + 8 k] -= sum_q c_rq H[piv + q row_stride + 8 k]``
    with ``c_rq = H[piv + q row_stride + 8 r]``; offsets in float64 entries of ``H``'s flat
    data. Four pivots are summed as ``(c0 p0 + c1 p1) + (c2 p2 + c3 p3)``."""

    @intrinsic
    def update(typingctx, H, out, piv, row_stride, n_cols):
        sig = types.void(H, types.int64, types.int64, types.int64, types.int64)

        def codegen(context, builder, signature, args):
            arr, out, piv, row_stride, n_cols = args
            base = _data(context, builder, signature.args[0], arr)
            coef = [[builder.load(_lane_pointer(builder, base, _offset(
                builder, piv, row_stride, q, r)), align=8) for q in range(n_pivots)]
                for r in range(n_rows)]
            with cgutils.for_range(builder, n_cols) as loop:
                col = builder.mul(loop.index, ir.Constant(_I64, LANES))
                p = [builder.load(_lane_pointer(builder, base, builder.add(
                    _offset(builder, piv, row_stride, q, 0), col)), align=8)
                    for q in range(n_pivots)]
                for r in range(n_rows):
                    target = _lane_pointer(builder, base, builder.add(
                        _offset(builder, out, row_stride, r, 0), col))
                    if n_pivots == 4:
                        s = builder.fadd(
                            builder.fadd(builder.fmul(coef[r][0], p[0]),
                                         builder.fmul(coef[r][1], p[1])),
                            builder.fadd(builder.fmul(coef[r][2], p[2]),
                                         builder.fmul(coef[r][3], p[3])))
                    else:
                        s = builder.fmul(coef[r][0], p[0])
                    builder.store(builder.fsub(builder.load(target, align=8), s), target,
                                  align=8)
            return context.get_dummy_value()

        return sig, codegen

    return update


_rank4_rows = _make_update(4, 4)
_rank4_row = _make_update(1, 4)
_rank1_row = _make_update(1, 1)


@intrinsic
def _scale_row(typingctx, H, start, factor, n_cols):
    """``H[start + 8 k] *= H[factor]`` (8 lanes) for ``k < n_cols``."""
    sig = types.void(H, types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        arr, start, factor, n_cols = args
        base = _data(context, builder, signature.args[0], arr)
        f = builder.load(_lane_pointer(builder, base, factor), align=8)
        with cgutils.for_range(builder, n_cols) as loop:
            target = _lane_pointer(builder, base, builder.add(
                start, builder.mul(loop.index, ir.Constant(_I64, LANES))))
            builder.store(builder.fmul(builder.load(target, align=8), f), target, align=8)
        return context.get_dummy_value()

    return sig, codegen


@cpu_jit()
def _pivot_lanes(H, j, w, inv):
    """Row ``j`` of every lane's factor, as ``linear_qp.pivot_row``: ``sqrt`` of the pivot
    and the rest of the row scaled by its inverse (``inv``, the row of ``H`` that holds the
    eight inverses), or, below ``PIVOT_TINY``, the pivot 1e64 and the row zero."""
    for lane in range(LANES):
        p = H[j, j, lane]
        if not p > PIVOT_TINY * (1.0 + abs(p)):
            H[j, j, lane] = 1e64
            for k in range(j + 1, w):
                H[j, k, lane] = 0.0
            H[inv, 0, lane] = 1.0
        else:
            p = math.sqrt(p)
            H[j, j, lane] = p
            H[inv, 0, lane] = 1.0 / p
    width = H.shape[1] * LANES
    _scale_row(H, j * width + (j + 1) * LANES, inv * width, w - j - 1)


@cpu_jit()
def cholesky_lanes(H, n, w):
    """Eight ``cholesky_bordered(H[:, :, lane], n, w)`` at once.

    Parameters
    ----------
    H : ndarray of float64, shape (>= n + 1, >= w, LANES), C order
        Lane ``l``'s matrix in ``H[:n, :w, l]`` (upper triangle of the first ``n`` columns
        read, then the bordered columns ``n..w-1``), factored in place: on return
        ``H[:n, :n, l]`` holds the upper factor ``U`` and ``H[:n, n:w, l]`` is
        ``U^-T`` times the columns. Row ``n`` is scratch (the pivots' inverses).
    n, w : int
        Order of the matrices and width of the bordered rows (``w >= n``).
    """
    width = H.shape[1] * LANES
    j0 = 0
    while j0 < n:
        jb = n - j0 if n - j0 < 4 else 4
        j1 = j0 + jb
        for jj in range(j0, j1):
            _pivot_lanes(H, jj, w, n)
            for i in range(jj + 1, j1):
                _rank1_row(H, i * width + i * LANES, jj * width + i * LANES, width, w - i)
        if jb == 4:
            i = j1
            while i + 4 <= n:
                _rank4_rows(H, i * width + i * LANES, j0 * width + i * LANES, width, w - i)
                i += 4
            while i < n:
                _rank4_row(H, i * width + i * LANES, j0 * width + i * LANES, width, w - i)
                i += 1
        else:
            for jj in range(j0, j1):
                for i in range(j1, n):
                    _rank1_row(H, i * width + i * LANES, jj * width + i * LANES, width, w - i)
        j0 = j1


@intrinsic
def _axpy_column(typingctx, B, H, j, h_start, n_cols):
    """``B[j + 1 + k, :] -= B[j, :] * H[h_start + 8 k]`` for ``k < n_cols`` (8 lanes;
    ``B`` (rows, LANES), ``h_start`` a flat offset in ``H``)."""
    sig = types.void(B, H, types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        b_arr, h_arr, j, h_start, n_cols = args
        bb = _data(context, builder, signature.args[0], b_arr)
        hb = _data(context, builder, signature.args[1], h_arr)
        eight = ir.Constant(_I64, LANES)
        row_j = builder.mul(j, eight)
        t = builder.load(_lane_pointer(builder, bb, row_j), align=8)
        with cgutils.for_range(builder, n_cols) as loop:
            col = builder.mul(loop.index, eight)
            target = _lane_pointer(builder, bb, builder.add(builder.add(row_j, eight), col))
            h = builder.load(_lane_pointer(builder, hb, builder.add(h_start, col)), align=8)
            builder.store(builder.fsub(builder.load(target, align=8), builder.fmul(t, h)),
                          target, align=8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _back_row(typingctx, B, H, i, n, h_row):
    """Row ``i`` of ``back_solve`` in 8 lanes: ``B[i] = (B[i] - ((s0 + s1) + (s2 + s3))) /
    H[i, i]`` with ``s_m`` the sums of ``H[i, k] B[k]`` over ``k = i + 1 + m (mod 4)``, four
    at a time, the remainder into ``s0`` (``h_row``: flat offset of ``H[i, 0]``)."""
    sig = types.void(B, H, types.int64, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        b_arr, h_arr, i, n, h_row = args
        bb = _data(context, builder, signature.args[0], b_arr)
        hb = _data(context, builder, signature.args[1], h_arr)
        eight = ir.Constant(_I64, LANES)
        one = ir.Constant(_I64, 1)
        zero = ir.Constant(_VEC, [0.0] * LANES)
        first = builder.add(i, one)
        count = builder.sub(n, first)
        n_quads = builder.udiv(count, ir.Constant(_I64, 4))
        sums = [cgutils.alloca_once_value(builder, zero) for _ in range(4)]

        def add_product(acc, k):
            h = builder.load(_lane_pointer(builder, hb, builder.add(h_row,
                                                                    builder.mul(k, eight))),
                             align=8)
            b = builder.load(_lane_pointer(builder, bb, builder.mul(k, eight)), align=8)
            builder.store(builder.fadd(builder.load(acc), builder.fmul(h, b)), acc)

        with cgutils.for_range(builder, n_quads) as loop:
            k = builder.add(first, builder.mul(loop.index, ir.Constant(_I64, 4)))
            for m in range(4):
                add_product(sums[m], builder.add(k, ir.Constant(_I64, m)))
        rest = builder.add(first, builder.mul(n_quads, ir.Constant(_I64, 4)))
        with cgutils.for_range(builder, builder.sub(n, rest)) as loop:
            add_product(sums[0], builder.add(rest, loop.index))
        s = builder.fadd(builder.fadd(builder.load(sums[0]), builder.load(sums[1])),
                         builder.fadd(builder.load(sums[2]), builder.load(sums[3])))
        target = _lane_pointer(builder, bb, builder.mul(i, eight))
        diag = builder.load(_lane_pointer(builder, hb, builder.add(h_row,
                                                                   builder.mul(i, eight))),
                            align=8)
        builder.store(builder.fdiv(builder.fsub(builder.load(target, align=8), s), diag),
                      target, align=8)
        return context.get_dummy_value()

    return sig, codegen


@cpu_jit()
def forward_solve_lanes(H, n, B):
    """Eight ``linear_qp.forward_solve(H[:, :, lane], n, B[:, lane])`` at once: ``B[:n] :=
    U^-T B[:n]`` with the factors of :func:`cholesky_lanes`; ``B`` (>= n, LANES)."""
    width = H.shape[1] * LANES
    for j in range(n):
        for lane in range(LANES):
            B[j, lane] = B[j, lane] / H[j, j, lane]
        _axpy_column(B, H, j, j * width + (j + 1) * LANES, n - j - 1)


@cpu_jit()
def back_solve_lanes(H, n, B):
    """Eight ``linear_qp.back_solve(H[:, :, lane], n, B[:, lane])`` at once: ``B[:n] :=
    U^-1 B[:n]``."""
    width = H.shape[1] * LANES
    for i in range(n - 1, -1, -1):
        _back_row(B, H, i, n, i * width)


@cpu_jit()
def lanes_scratch_shape(max_train):
    """Shape of :func:`cholesky_lanes`'s ``H`` for Newton matrices of up to ``max_train``
    rows with two bordered columns."""
    return (max_train + 1, max_train + 2, LANES)


@cpu_jit()
def pack_lanes(M, n, w, H):
    """``H[i, k, lane] = M[lane, i, k]`` on the upper triangle and bordered columns
    (``i < n``, ``i <= k < w``): eight row-major matrices ``M`` (LANES, >= n, >= w)
    interleaved for :func:`cholesky_lanes`."""
    for i in range(n):
        for k in range(i, w):
            for lane in range(LANES):
                H[i, k, lane] = M[lane, i, k]


"""Eight Cholesky factorisations and triangular solves at once, one per SIMD lane (CPU), and
the interior point's Newton matrices and gradients that feed them.

The linear SVM's interior point (:mod:`gpudecode.kernels.linear_qp`) factors one ``n x n``
Newton matrix per step and solves with the factor three to five times; at the sizes this
package meets (72 and 90 training rows) that is most of a fit. One matrix at a time, the
factorisation's row updates run over rows of ``n - i`` columns and reach about 2 of the 8
float64 multiply-adds per cycle an AVX-512 core allows, and the back solve is a chain of
dot products. Here eight problems' matrices are interleaved, entry ``(i, k)`` of lane
``l`` at ``H[i, k, l]`` (right-hand sides at ``B[i, l]``), and every update is one 8-wide
vector operation: no short rows, no remainders, no reductions across lanes. The lanes'
float32 ``Q`` matrices are interleaved the same way (``Q[i, t, l]``), so their Newton
matrices (:func:`signed_rows_lanes`) and gradients ``Q a - 1`` (:func:`gradient_lanes`)
are formed in place, 8 lanes per operation, with no per-lane copy to interleave.

Each lane gets the same operations, in the same order, as
:func:`gpudecode.kernels.linear_qp.cholesky_bordered`, ``forward_solve``, ``back_solve``,
``newton_matrix`` and ``qp_gradient`` give one problem (the same panels of four pivot rows,
the same grouping of the products and partial sums, no fused multiply-adds), so its
results are the same bit for bit.

Numba has no vector types and, with LLVM's SLP vectoriser off (Numba's default), leaves an
8-iteration lane loop scalar. The inner loops are therefore written as LLVM vector IR
through :func:`numba.extending.intrinsic`, on the arrays' flat data (C order, float64;
``Q`` float32, widened exactly).
CPU only: the GPU twin runs one problem per thread.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._prep import cpu_jit
from .linear_qp import PIVOT_TINY

__all__ = ["LANES", "cholesky_lanes", "forward_solve_lanes", "back_solve_lanes",
           "lanes_scratch_shape", "signed_rows_lanes", "gradient_lanes"]

LANES = 8
"""Problems solved together: the float64 lanes of one AVX-512 register (LLVM splits the
vectors on narrower CPUs; the results are the same)."""

_VEC = ir.VectorType(ir.DoubleType(), LANES)
_VEC32 = ir.VectorType(ir.FloatType(), LANES)
_I64 = ir.IntType(64)


def _data(context, builder, array_type, value):
    """Pointer to the first float64 of an array argument."""
    return cgutils.create_struct_proxy(array_type)(context, builder, value=value).data


def _lane_pointer(builder, base, offset, vec=_VEC):
    """Pointer to the 8 lanes of the entry at flat ``offset`` (a multiple of ``LANES``)."""
    return builder.bitcast(builder.gep(base, [offset]), vec.as_pointer())


def _load32(builder, base, offset):
    """The 8 float32 lanes at flat ``offset``, widened to float64 (exact)."""
    return builder.fpext(builder.load(_lane_pointer(builder, base, offset, _VEC32), align=4),
                         _VEC)


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


@intrinsic
def _pivots(typingctx, H, diag, inv):
    """The eight pivots at flat ``diag`` of ``H``, as ``linear_qp.pivot_row`` takes them:
    ``sqrt`` where above ``PIVOT_TINY`` (relative), else 1e64; their inverses (1 for the
    latter) at flat ``inv``. Returns the lanes below, one bit each."""
    sig = types.int64(H, types.int64, types.int64)

    def codegen(context, builder, signature, args):
        arr, diag, inv = args
        base = _data(context, builder, signature.args[0], arr)
        unary = ir.FunctionType(_VEC, [_VEC])
        fabs = cgutils.get_or_insert_function(builder.module, unary, f"llvm.fabs.v{LANES}f64")
        sqrt = cgutils.get_or_insert_function(builder.module, unary, f"llvm.sqrt.v{LANES}f64")
        target = _lane_pointer(builder, base, diag)
        p = builder.load(target, align=8)
        one = ir.Constant(_VEC, [1.0] * LANES)
        limit = builder.fmul(ir.Constant(_VEC, [PIVOT_TINY] * LANES),
                             builder.fadd(one, builder.call(fabs, [p])))
        ok = builder.fcmp_ordered(">", p, limit)
        root = builder.call(sqrt, [p])
        builder.store(builder.select(ok, root, ir.Constant(_VEC, [1e64] * LANES)), target,
                      align=8)
        builder.store(builder.select(ok, builder.fdiv(one, root), one),
                      _lane_pointer(builder, base, inv), align=8)
        bits = builder.bitcast(builder.not_(ok), ir.IntType(LANES))
        return builder.zext(bits, _I64)

    return sig, codegen


@cpu_jit()
def _pivot_lanes(H, j, w, inv):
    """Row ``j`` of every lane's factor, as ``linear_qp.pivot_row``: ``sqrt`` of the pivot
    and the rest of the row scaled by its inverse (``inv``, the row of ``H`` that holds the
    eight inverses), or, below ``PIVOT_TINY``, the pivot 1e64 and the row zero."""
    width = H.shape[1] * LANES
    tiny = _pivots(H, j * width + j * LANES, inv * width)
    if tiny:
        for lane in range(LANES):
            if (tiny >> lane) & 1:
                for k in range(j + 1, w):
                    H[j, k, lane] = 0.0
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


# Newton matrix and gradient of the interior point (linear_qp.newton_matrix, qp_gradient)
# for the eight problems at once, from their float32 Q matrices interleaved as Q[i, t, l].
@intrinsic
def _signed_row(typingctx, H, Q, Y, i, n, h_row, q_row, reg):
    """``H[h_row + 8 t] = Q[q_row + 8 t] + (R Y[8 i]) Y[8 t]`` for ``i <= t < n`` (8 lanes),
    ``R`` the 8 lanes at flat ``reg`` of ``Y``."""
    sig = types.void(H, Q, Y, types.int64, types.int64, types.int64, types.int64,
                     types.int64)

    def codegen(context, builder, signature, args):
        h_arr, q_arr, y_arr, i, n, h_row, q_row, reg = args
        hb = _data(context, builder, signature.args[0], h_arr)
        qb = _data(context, builder, signature.args[1], q_arr)
        yb = _data(context, builder, signature.args[2], y_arr)
        eight = ir.Constant(_I64, LANES)
        ri = builder.fmul(builder.load(_lane_pointer(builder, yb, reg), align=8),
                          builder.load(_lane_pointer(builder, yb, builder.mul(i, eight)),
                                       align=8))
        with cgutils.for_range(builder, builder.sub(n, i)) as loop:
            col = builder.mul(builder.add(i, loop.index), eight)
            y = builder.load(_lane_pointer(builder, yb, col), align=8)
            q = _load32(builder, qb, builder.add(q_row, col))
            builder.store(builder.fadd(q, builder.fmul(ri, y)),
                          _lane_pointer(builder, hb, builder.add(h_row, col)), align=8)
        return context.get_dummy_value()

    return sig, codegen


def _make_gradient_rows(n_rows: int):
    """An intrinsic ``rows(G, Q, A, k0, n, q_stride)``: ``G[8 t] += A[8 k] Q[k q_stride +
    8 t]`` for ``t < n`` and ``k = k0 .. k0 + n_rows - 1`` in that order (8 lanes; each
    ``G`` entry loaded and stored once)."""

    @intrinsic
    def rows(typingctx, G, Q, A, k0, n, q_stride):
        sig = types.void(G, Q, A, types.int64, types.int64, types.int64)

        def codegen(context, builder, signature, args):
            g_arr, q_arr, a_arr, k0, n, q_stride = args
            gb = _data(context, builder, signature.args[0], g_arr)
            qb = _data(context, builder, signature.args[1], q_arr)
            ab = _data(context, builder, signature.args[2], a_arr)
            eight = ir.Constant(_I64, LANES)
            ks = [builder.add(k0, ir.Constant(_I64, r)) for r in range(n_rows)]
            coef = [builder.load(_lane_pointer(builder, ab, builder.mul(k, eight)), align=8)
                    for k in ks]
            starts = [builder.mul(k, q_stride) for k in ks]
            with cgutils.for_range(builder, n) as loop:
                col = builder.mul(loop.index, eight)
                target = _lane_pointer(builder, gb, col)
                g = builder.load(target, align=8)
                for c, start in zip(coef, starts):
                    g = builder.fadd(g, builder.fmul(c, _load32(builder, qb,
                                                                builder.add(start, col))))
                builder.store(g, target, align=8)
            return context.get_dummy_value()

        return sig, codegen

    return rows


_gradient_rows4 = _make_gradient_rows(4)
_gradient_rows1 = _make_gradient_rows(1)


@cpu_jit()
def signed_rows_lanes(Q, Y, reg, n, H):
    """Eight ``linear_qp.newton_matrix`` upper triangles before their diagonal terms:
    ``H[i, t, l] = Q[i, t, l] + (reg[l] Y[i, l]) Y[t, l]`` for ``i <= t < n``.

    Parameters
    ----------
    Q : ndarray of float32, shape (>= n, m, LANES), C order
    Y : ndarray of float64, shape (r, LANES), C order
        Rows ``0..n-1`` the labels (+-1); row ``reg`` the eight ``reg``.
    reg : int
    n : int
    H : ndarray of float64, shape (>= n, >= n, LANES), C order (:func:`lanes_scratch_shape`)
    """
    width = H.shape[1] * LANES
    q_width = Q.shape[1] * LANES
    for i in range(n):
        _signed_row(H, Q, Y, i, n, i * width, i * q_width, reg * LANES)


@cpu_jit()
def gradient_lanes(Q, A, n, G):
    """Eight ``linear_qp.qp_gradient``: ``G[t, l] = -1 + sum_k A[k, l] Q[k, t, l]``, the
    terms added in the order of ``k``.

    ``qp_gradient`` skips ``A[k] == 0``; the interior point keeps ``A > 0``, and adding the
    product ``+0`` could change only a ``G`` of ``-0``, which ``-1`` plus nonzero terms never
    is: the same bits.

    Parameters
    ----------
    Q : ndarray of float32, shape (>= n, m, LANES), C order
    A : ndarray of float64, shape (>= n, LANES), C order
    n : int
    G : ndarray of float64, shape (>= n, LANES), C order
    """
    for t in range(n):
        for lane in range(LANES):
            G[t, lane] = -1.0
    q_width = Q.shape[1] * LANES
    k = 0
    while k + 4 <= n:
        _gradient_rows4(G, Q, A, k, n, q_width)
        k += 4
    while k < n:
        _gradient_rows1(G, Q, A, k, n, q_width)
        k += 1

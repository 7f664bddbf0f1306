"""Shared pieces of the batched classifier kernels: checks, gather + standardise, algebra.

Every batched kernel solves, for each cell ``c``, label set ``l`` and split slot ``s``, one
small problem: fit on ``X[c, train_idx[s, :n_train[s]]]`` with labels ``Y[l, ...]``, predict
``X[c, test_idx[s, :n_test[s]]]`` (the API in ``fit_predict_<name>``).

The per-problem helpers are written once, as module-level functions over preallocated
scratch arrays in the subset of Python that both ``numba.njit`` and
``numba.cuda.jit(device=True)`` compile, so a CPU kernel and its GPU twin run the same
code. :func:`device` declares one: the module-level name is its CPU compilation
(``njit(cache=True, nogil=True, error_model="numpy")``: Numba caches it on disk, see
:mod:`gpudecode._numba_cache`), and :func:`device_namespace` compiles the same source for
the GPU, where helpers reach one another's GPU twins by the same names. CPU batch kernels
are module-level :func:`cpu_jit` functions (cached on disk, GIL released).
:func:`run_blocks` runs a serial batch kernel on Numba's thread count;
:func:`check_batch` validates a batch on the host.

Rules for code compiled for both targets: no array creation, ``float()`` around reads of
float32 data (so sums run in float64 in the CUDA simulator too), no exceptions.
"""

from __future__ import annotations

import functools
import math
import numbers
import sys
import types
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numba
import numpy as np
from numba import njit

from ..errors import NonFiniteError, ParameterError, ShapeError

__all__ = [
    "check_batch", "check_batch_shapes", "check_positive", "check_max_iter", "cpu_jit", "device",
    "device_jit", "device_namespace", "device_functions", "gather_standardize", "gather_rows",
    "dot_rows", "dot_rows4", "dot_vr", "gram", "count_classes", "cholesky", "cholesky_solve",
    "predict_single", "argmax_predict", "run_blocks", "run_pairs", "RCOND",
]

EPS = float(np.finfo(np.float64).eps)

RCOND = 1e-10
"""Relative pivot / eigenvalue cutoff below which a symmetric matrix is treated as singular."""


# ----------------------------------------------------------------------------- two targets

_SOURCES: dict[tuple[str, str], types.FunctionType] = {}


def cpu_jit(**options):
    """``njit`` for a CPU kernel: cached on disk (Numba's cache directory), GIL released,
    NumPy's error model.

    NumPy's error model divides as the GPU twins do (IEEE: ``x / 0`` is ``inf`` or ``nan``,
    never an exception; kernels guard their divisors, see the rules above). Python's,
    Numba's default, tests every divisor for zero to raise ``ZeroDivisionError``, and that
    branch keeps loops with a division from vectorising: 6% of a linear-svm or logistic fit
    at the study shape (bench/RESULTS.md). Same results bit for bit wherever no divisor is
    zero. Extra ``options`` (``parallel=True``, ``fastmath=...``, ``inline="always"``) are
    passed on.
    """
    return njit(cache=True, nogil=True, **{"error_model": "numpy", **options})


def device(fn=None, *, inline: bool = False):
    """Declare a per-problem function written for both targets; return its CPU compilation.

    The module-level name becomes ``cpu_jit()(fn)`` (``inline=True``: inlined into its CPU
    callers, for small hot helpers), so CPU kernels call it directly and Numba caches it
    on disk; the plain source is kept for the GPU twin, see :func:`device_namespace`.
    Device functions call one another by their module-level names (also across modules,
    e.g. ``from ._prep import dot_rows``).
    """
    if fn is None:
        return functools.partial(device, inline=inline)
    _SOURCES[(fn.__module__, fn.__name__)] = fn
    return (cpu_jit(inline="always") if inline else cpu_jit())(fn)


def _source_key(value):
    """``(module, name)`` of a dispatcher made by :func:`device`, else None."""
    py_func = getattr(value, "py_func", None)
    if py_func is None:
        return None
    key = (py_func.__module__, py_func.__name__)
    return key if _SOURCES.get(key) is py_func else None


def device_jit(target: str):
    """Decorator compiling a plain per-problem function for ``"cpu"`` or ``"cuda"`` (device).

    The cuda decorator is ``numba.cuda.jit(device=True)``; it is only requested by the
    ``*_cuda`` kernel modules, which import numba.cuda themselves.
    """
    if target == "cpu":
        return cpu_jit()
    if target == "cuda":
        from numba import cuda  # reached only from the *_cuda modules
        return cuda.jit(device=True)
    raise ValueError(f"unknown target {target!r}")


@functools.cache
def _target_scope(module_name: str, target: str) -> dict:
    """Globals of ``module_name`` with every :func:`device` function replaced by its twin.

    The module's own device functions are compiled for ``target`` from copies whose
    globals are this scope (so they call one another's twins by name); device functions
    imported from other modules map to the twins in those modules' scopes.
    """
    module = sys.modules[module_name]
    jit = device_jit(target)
    scope = dict(vars(module))
    own = {}
    for name, value in vars(module).items():
        key = _source_key(value)
        if key is None:
            continue
        home, fname = key
        if home != module_name:
            scope[name] = _target_scope(home, target)[fname]
            continue
        if fname not in own:
            src = _SOURCES[key]
            own[fname] = jit(types.FunctionType(src.__code__, scope, src.__name__,
                                                src.__defaults__, src.__closure__))
        scope[name] = own[fname]
    return scope


def device_namespace(module_name: str, target: str) -> SimpleNamespace:
    """The :func:`device` functions defined in ``module_name``, compiled for ``target``.

    ``"cpu"``: the module's own (disk-cached) dispatchers. ``"cuda"``:
    ``numba.cuda.jit(device=True)`` twins from the same source, made once per process.
    """
    module = sys.modules[module_name]
    own = [name for name, value in vars(module).items()
           if (key := _source_key(value)) is not None and key == (module_name, name)]
    if target == "cpu":
        return SimpleNamespace(**{name: getattr(module, name) for name in own})
    scope = _target_scope(module_name, target)
    return SimpleNamespace(**{name: scope[name] for name in own})


def device_functions(target: str) -> SimpleNamespace:
    """The shared per-problem helpers below, compiled for ``"cpu"`` or ``"cuda"``."""
    return device_namespace(__name__, target)


# ----------------------------------------------------------------------------- per problem

@device
def gather_standardize(X, c, tr, ntr, te, nte, standardize, xtr, xte, stats):
    """Copy one problem's train and test rows of cell ``c`` into float64 scratch.

    ``xtr[:ntr, :d]`` and ``xte[:nte, :d]`` receive ``X[c, tr[i]]`` and ``X[c, te[i]]``;
    with ``standardize`` both are centred and scaled by the training rows' mean and
    population std, as scikit-learn's ``StandardScaler`` (a near-constant feature, by its
    rule ``var <= n eps var + (n mean eps)**2``, keeps scale 1). ``stats`` (>= 3, >= d)
    holds the per-feature sums, so every loop runs over contiguous features.
    """
    d = X.shape[2]
    ud = np.uint64(d)
    mean = stats[0]
    sq = stats[1]
    corr = stats[2]
    for j in range(ud):
        mean[j] = 0.0
    for i in range(ntr):
        for j in range(ud):
            v = float(X[c, tr[i], j])
            xtr[i, j] = v
            mean[j] += v
    for i in range(nte):
        for j in range(ud):
            xte[i, j] = float(X[c, te[i], j])
    if not standardize:
        return
    for j in range(ud):
        mean[j] = mean[j] / ntr
        sq[j] = 0.0
        corr[j] = 0.0
    for i in range(ntr):
        for j in range(ud):
            t = xtr[i, j] - mean[j]
            sq[j] += t * t
            corr[j] += t
    scale = sq
    for j in range(ud):
        var = (sq[j] - corr[j] * corr[j] / ntr) / ntr
        bound = ntr * EPS * var + (ntr * mean[j] * EPS) * (ntr * mean[j] * EPS)
        scale[j] = math.sqrt(var) if var > bound else 1.0
    scale_rows(xtr, ntr, xte, nte, d, mean, scale)


@device
def gather_rows(X, c, tr, ntr, te, nte, standardize, xtr, xte, mean, scale):
    """As :func:`gather_standardize`, faster: features innermost (``mean``, ``scale``: d scratch).

    Reads whole trial rows of ``X`` and keeps per-feature sums in ``mean``/``scale``, so
    every inner loop runs over contiguous features. The variance is the plain two-pass
    ``sum((x - mean)^2) / n`` (scikit-learn adds a round-off correction term).
    """
    d = X.shape[2]
    for j in range(d):
        mean[j] = 0.0
        scale[j] = 0.0
    for i in range(ntr):
        for j in range(d):
            v = float(X[c, tr[i], j])
            xtr[i, j] = v
            mean[j] += v
    for i in range(nte):
        for j in range(d):
            xte[i, j] = float(X[c, te[i], j])
    if not standardize:
        return
    for j in range(d):
        mean[j] /= ntr
    for i in range(ntr):
        for j in range(d):
            t = xtr[i, j] - mean[j]
            scale[j] += t * t
    for j in range(d):
        var = scale[j] / ntr
        bound = ntr * EPS * var + (ntr * mean[j] * EPS) * (ntr * mean[j] * EPS)
        scale[j] = math.sqrt(var) if var > bound else 1.0
    scale_rows(xtr, ntr, xte, nte, d, mean, scale)


@device
def scale_rows(xtr, ntr, xte, nte, d, mean, scale):
    """``x := (x - mean) / scale`` feature by feature on ``xtr[:ntr]`` and ``xte[:nte]``."""
    for i in range(ntr):
        for j in range(d):
            xtr[i, j] = (xtr[i, j] - mean[j]) / scale[j]
    for i in range(nte):
        for j in range(d):
            xte[i, j] = (xte[i, j] - mean[j]) / scale[j]


@device(inline=True)
def dot_rows(A, i, B, k, d):
    """``A[i, :d] . B[k, :d]`` with four partial sums (a fixed order, the same on CPU and GPU)."""
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    d4 = d - d % 4
    for j in range(0, d4, 4):
        a0 += A[i, j] * B[k, j]
        a1 += A[i, j + 1] * B[k, j + 1]
        a2 += A[i, j + 2] * B[k, j + 2]
        a3 += A[i, j + 3] * B[k, j + 3]
    for j in range(d4, d):
        a0 += A[i, j] * B[k, j]
    return (a0 + a1) + (a2 + a3)


@device(inline=True)
def dot_rows4(a, i, b, k, d):
    """The four products ``a[i, :d] . b[k + r, :d]`` (r = 0..3), each :func:`dot_rows`'
    sum (four partial sums over the features, in its order): four independent chains of
    additions instead of one, which the CPU overlaps."""
    d4 = d - d % 4
    p0 = 0.0
    p1 = 0.0
    p2 = 0.0
    p3 = 0.0
    q0 = 0.0
    q1 = 0.0
    q2 = 0.0
    q3 = 0.0
    r0 = 0.0
    r1 = 0.0
    r2 = 0.0
    r3 = 0.0
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for j in range(0, d4, 4):
        x0 = a[i, j]
        x1 = a[i, j + 1]
        x2 = a[i, j + 2]
        x3 = a[i, j + 3]
        p0 += x0 * b[k, j]
        p1 += x1 * b[k, j + 1]
        p2 += x2 * b[k, j + 2]
        p3 += x3 * b[k, j + 3]
        q0 += x0 * b[k + 1, j]
        q1 += x1 * b[k + 1, j + 1]
        q2 += x2 * b[k + 1, j + 2]
        q3 += x3 * b[k + 1, j + 3]
        r0 += x0 * b[k + 2, j]
        r1 += x1 * b[k + 2, j + 1]
        r2 += x2 * b[k + 2, j + 2]
        r3 += x3 * b[k + 2, j + 3]
        s0 += x0 * b[k + 3, j]
        s1 += x1 * b[k + 3, j + 1]
        s2 += x2 * b[k + 3, j + 2]
        s3 += x3 * b[k + 3, j + 3]
    for j in range(d4, d):
        x0 = a[i, j]
        p0 += x0 * b[k, j]
        q0 += x0 * b[k + 1, j]
        r0 += x0 * b[k + 2, j]
        s0 += x0 * b[k + 3, j]
    return (p0 + p1) + (p2 + p3), (q0 + q1) + (q2 + q3), (r0 + r1) + (r2 + r3), \
        (s0 + s1) + (s2 + s3)


@device(inline=True)
def dot_vr(v, A, i, n):
    """``v[:n] . A[i, :n]`` with four partial sums (a fixed order, the same on CPU and GPU)."""
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    n4 = n - n % 4
    for j in range(0, n4, 4):
        a0 += v[j] * A[i, j]
        a1 += v[j + 1] * A[i, j + 1]
        a2 += v[j + 2] * A[i, j + 2]
        a3 += v[j + 3] * A[i, j + 3]
    for j in range(n4, n):
        a0 += v[j] * A[i, j]
    return (a0 + a1) + (a2 + a3)


@device
def gram(xtr, n, d, shift, K):
    """``K[:n, :n] = xtr[:n] @ xtr[:n].T + shift`` (symmetric; ``shift=1`` adds a bias feature)."""
    for i in range(n):
        for k in range(i + 1):
            acc = shift + dot_rows(xtr, i, xtr, k, d)
            K[i, k] = acc
            K[k, i] = acc


@device
def count_classes(y, tr, ntr, n_classes, counts):
    """``counts[k]`` = training rows of class ``k``; returns the number of classes present."""
    for k in range(n_classes):
        counts[k] = 0
    for i in range(ntr):
        counts[y[tr[i]]] += 1
    present = 0
    for k in range(n_classes):
        if counts[k] > 0:
            present += 1
    return present


@device
def cholesky(A, m, rcond):
    """In-place lower Cholesky factor of ``A[:m, :m]`` (upper triangle left untouched).

    Returns False when a pivot is not above ``rcond`` times the largest diagonal entry
    (the matrix is not numerically positive definite); ``A`` is then partly overwritten.
    """
    big = 0.0
    for i in range(m):
        if A[i, i] > big:
            big = A[i, i]
    floor = rcond * big
    if not big > 0.0:
        return False
    for j in range(m):
        acc = A[j, j] - dot_rows(A, j, A, j, j)
        if not acc > floor:
            return False
        piv = math.sqrt(acc)
        A[j, j] = piv
        for i in range(j + 1, m):
            A[i, j] = (A[i, j] - dot_rows(A, i, A, j, j)) / piv
    return True


@device
def cholesky_solve(L, m, b):
    """Solve ``(L L^T) x = b`` in place in ``b[:m]`` for the factor from :func:`cholesky`."""
    for i in range(m):
        b[i] = (b[i] - dot_vr(b, L, i, i)) / L[i, i]
    for i in range(m - 1, -1, -1):
        acc = b[i]
        for k in range(i + 1, m):
            acc -= L[k, i] * b[k]
        b[i] = acc / L[i, i]


@device
def predict_single(out_row, nte, cls):
    """Write class ``cls`` for the ``nte`` test rows and -1 on the padding."""
    for t in range(out_row.shape[0]):
        out_row[t] = cls if t < nte else -1


@device
def argmax_predict(dec, nte, counts, n_classes, out_row):
    """Predict the present class with the largest ``dec[t, k]`` (first on ties); -1 padding."""
    for t in range(out_row.shape[0]):
        if t >= nte:
            out_row[t] = -1
            continue
        best = -1
        best_val = 0.0
        for k in range(n_classes):
            if counts[k] > 0 and (best < 0 or dec[t, k] > best_val):
                best = k
                best_val = dec[t, k]
        out_row[t] = best


# ----------------------------------------------------------------------------- host checks

def _as_int_array(a, name: str, ndim: int, what: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != ndim:
        raise ShapeError(f"{name} must be {ndim}-D ({what}), got shape {a.shape}.",
                         field=name, fix=f"pass {name} as the SplitPlan builds it.")
    if a.dtype.kind not in "iu":
        if a.dtype.kind == "b" or a.size and not np.all(np.mod(a, 1) == 0):
            raise ParameterError(f"{name} must hold whole numbers, got dtype {a.dtype}.",
                                 field=name, fix=f"pass {name} as int32 indices.")
    return np.ascontiguousarray(a, dtype=np.int32)


def check_batch_shapes(X_shape, Y_shape, train_shape, ntrain_shape, test_shape, ntest_shape,
                       n_classes) -> int:
    """Check that the shapes of a batch fit together (used for host and device arrays).

    Returns
    -------
    n_classes : int

    Raises
    ------
    ShapeError, ParameterError
    """
    if len(X_shape) != 3:
        raise ShapeError(f"X must be 3-D (cells x trials x features), got shape {tuple(X_shape)}.",
                         field="X", fix="for one cell pass X[None]; features go last.")
    n_trials = X_shape[1]
    if X_shape[2] < 1:
        raise ShapeError("X has no features (its last axis is empty).", field="X",
                         fix="pass at least one feature per trial.")
    if len(Y_shape) != 2 or Y_shape[1] != n_trials:
        raise ShapeError(f"Y must be (n_labelsets, n_trials) = (L, {n_trials}) to match X, got "
                         f"shape {tuple(Y_shape)}.", field="Y",
                         fix="pass Y as SplitPlan.Y_ (row 0 observed labels); for one label "
                             "vector y pass y[None].")
    if len(train_shape) != 2 or len(test_shape) != 2:
        raise ShapeError(f"train_idx and test_idx must be 2-D (n_slots x max rows), got "
                         f"{tuple(train_shape)} and {tuple(test_shape)}.", field="train_idx",
                         fix="pass the SplitPlan's train_idx_ / test_idx_.")
    n_slots = train_shape[0]
    if tuple(ntrain_shape) != (n_slots,) or test_shape[0] != n_slots \
            or tuple(ntest_shape) != (n_slots,):
        raise ShapeError(f"train_idx {tuple(train_shape)}, n_train {tuple(ntrain_shape)}, "
                         f"test_idx {tuple(test_shape)} and n_test {tuple(ntest_shape)} must all "
                         f"have n_slots rows.", field="n_train",
                         fix="pass the four split arrays of one SplitPlan.")
    if train_shape[1] < 1:
        raise ShapeError("train_idx has no columns: every slot needs training rows.",
                         field="train_idx", fix="pass the SplitPlan's train_idx_.")
    if isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral) \
            or n_classes < 1:
        raise ParameterError(f"n_classes must be a positive whole number, got {n_classes!r}.",
                             field="n_classes", fix="pass the number of label classes, e.g. 2.")
    return int(n_classes)


def check_batch(X, Y, train_idx, n_train, test_idx, n_test, n_classes):
    """Check and normalise a batch of host (NumPy) arrays for the classifier kernels.

    Parameters
    ----------
    X : array_like, shape (n_cells, n_trials, n_features)
        Real numbers, all finite. float32 and float64 are kept, other dtypes become float64.
    Y : array_like of int, shape (n_labelsets, n_trials)
        Class codes ``0..n_classes-1``.
    train_idx, test_idx : array_like of int, shape (n_slots, max_train | max_test)
        Trial indices, padded with -1 after ``n_train[s]`` / ``n_test[s]`` entries.
    n_train, n_test : array_like of int, shape (n_slots,)
    n_classes : int

    Returns
    -------
    X, Y, train_idx, n_train, test_idx, n_test, n_classes
        C-contiguous arrays (X float32/float64, the rest int32) and ``int(n_classes)``.

    Raises
    ------
    ShapeError
        Shapes that do not fit together.
    ParameterError
        Out-of-range labels, indices or counts; a slot with no training rows.
    NonFiniteError
        NaN or infinite features.
    """
    X = np.asarray(X)
    if X.dtype.kind not in "fiub":
        raise ParameterError(f"X must hold real numbers, got dtype {X.dtype}.", field="X",
                             fix="convert the features to float32.")
    X = np.ascontiguousarray(X, dtype=X.dtype if X.dtype in (np.float32, np.float64)
                             else np.float64)
    Y = _as_int_array(Y, "Y", 2, "n_labelsets x n_trials")
    train_idx = _as_int_array(train_idx, "train_idx", 2, "n_slots x max_train")
    test_idx = _as_int_array(test_idx, "test_idx", 2, "n_slots x max_test")
    n_train = _as_int_array(n_train, "n_train", 1, "n_slots")
    n_test = _as_int_array(n_test, "n_test", 1, "n_slots")
    n_classes = check_batch_shapes(X.shape, Y.shape, train_idx.shape, n_train.shape,
                                   test_idx.shape, n_test.shape, n_classes)
    if not np.isfinite(X).all():
        bad = np.argwhere(~np.isfinite(X))[0]
        raise NonFiniteError(
            f"X holds NaN or infinite values (first at cell {bad[0]}, trial {bad[1]}, "
            f"feature {bad[2]}).", field="X",
            fix="drop or interpolate the affected frames or cells before decoding.")
    n_trials = X.shape[1]
    if Y.size and (Y.min() < 0 or Y.max() >= n_classes):
        raise ParameterError(f"Y holds class codes outside 0..{n_classes - 1} "
                             f"(min {Y.min()}, max {Y.max()}).", field="Y",
                             fix="encode labels as 0..n_classes-1 (SplitPlan.Y_ does).")
    for name, idx, cnt, low in (("train", train_idx, n_train, 1), ("test", test_idx, n_test, 0)):
        width = idx.shape[1]
        if cnt.size and (cnt.min() < low or cnt.max() > width):
            raise ParameterError(f"n_{name} must lie in {low}..{width} (the width of "
                                 f"{name}_idx), got {cnt.min()}..{cnt.max()}.",
                                 field=f"n_{name}",
                                 fix=f"pass n_{name} from the same SplitPlan as {name}_idx.")
        used = np.arange(width)[None, :] < cnt[:, None]
        if used.any():
            vals = idx[used]
            if vals.min() < 0 or vals.max() >= n_trials:
                raise ParameterError(f"{name}_idx holds trial indices outside 0..{n_trials - 1} "
                                     f"(X has {n_trials} trials).", field=f"{name}_idx",
                                     fix="build the split plan on the same trials as X.")
    return X, Y, train_idx, n_train, test_idx, n_test, n_classes


def run_blocks(kernel, n_pairs: int, *args) -> None:
    """Run ``kernel(start, stop, *args)`` over ``range(n_pairs)`` on Numba's thread count.

    ``kernel`` is a serial ``njit(nogil=True)`` function that allocates its scratch once and
    solves the (cell x slot) pairs ``start..stop-1``; blocks of pairs are handed to a pool
    of threads (a few blocks per thread, for balance), which run in parallel with the GIL
    released. This replaces ``prange``: same parallelism, but a parallel=True kernel spends
    about 5 s more in compilation (LLVM re-optimises the whole inlined solver for the
    gufunc), which every first call and every test run would pay.
    """
    n_threads = max(1, min(numba.get_num_threads(), n_pairs))
    if n_threads == 1:
        kernel(0, n_pairs, *args)
        return
    n_blocks = min(n_pairs, 4 * n_threads)
    edges = [n_pairs * b // n_blocks for b in range(n_blocks + 1)]
    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        for future in [pool.submit(kernel, edges[b], edges[b + 1], *args)
                       for b in range(n_blocks)]:
            future.result()


def run_pairs(kernel, X, Y, train_idx, n_train, test_idx, n_test, n_classes, *params,
              chunked: bool = False):
    """Predictions of a batch kernel over every (cell x slot) pair, on Numba's threads.

    Serial kernel (``chunked=False``): ``kernel(start, stop, X, Y, train_idx, n_train,
    test_idx, n_test, n_classes, *params, out)`` fills ``out`` for the pairs
    ``start..stop-1``, every label set; :func:`run_blocks` spreads the pairs over threads.
    ``prange`` kernel (``chunked=True``): ``kernel(X, Y, train_idx, n_train, test_idx,
    n_test, n_classes, *params, n_chunks, out)`` fills ``out`` chunk by chunk, one scratch
    set per chunk, a few chunks per thread (for balance). The arrays are a batch as
    :func:`check_batch` returns it.

    Returns
    -------
    out : ndarray of int32, shape (n_cells, n_labelsets, n_slots, max_test)
        Predicted class codes; -1 at padding.
    """
    n_pairs = X.shape[0] * train_idx.shape[0]
    out = np.full((X.shape[0], Y.shape[0], train_idx.shape[0], test_idx.shape[1]), -1,
                  dtype=np.int32)
    batch = (X, Y, train_idx, n_train, test_idx, n_test, n_classes, *params)
    if not out.size:
        return out
    if chunked:
        kernel(*batch, min(n_pairs, 8 * numba.get_num_threads()), out)
    else:
        run_blocks(kernel, n_pairs, *batch, out)
    return out


def check_positive(value, field: str, example: str) -> float:
    """Return ``value`` as a finite float > 0, or raise :class:`ParameterError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{field} must be a finite number > 0, got {value!r}.",
                             field=field, fix=f"pass e.g. {field}={example}.")
    return float(value)


def check_max_iter(value) -> int:
    """Return ``value`` as an int >= 1, or raise :class:`ParameterError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ParameterError(f"max_iter must be a whole number >= 1, got {value!r}.",
                             field="max_iter", fix="pass e.g. max_iter=1000.")
    return int(value)

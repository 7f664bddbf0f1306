"""numba.cuda twin of :func:`gpudecode.kernels.tree.fit_predict_tree`.

Three kernels per chunk of (cell, slot) pairs, all running the CPU kernel's per-problem
code compiled as CUDA device functions:

1. one thread per cell sorts the cell's trials by every feature;
2. one thread per (cell, slot) pair filters that order down to the pair's training rows
   (global-memory buffers indexed by the pair);
3. one thread per (pair, label set) problem grows the tree depth first with an explicit
   node stack and predicts the test rows; its scratch (per-feature sorted segments, node
   stack, node arrays, feature permutation, class sums) lives in global-memory buffers
   indexed by the problem.

Pairs are processed in chunks sized so that the buffers stay under ``max_scratch_bytes``
(default: a quarter of the free device memory, at most 1 GiB). ``numba.cuda`` is imported
only when a kernel is first needed.
"""

from __future__ import annotations

import functools

import numpy as np

from ..errors import ParameterError
from ._gpu import (device_batch, empty_result, grid_1d, layout_bytes, pairs_per_chunk,
                   scratch_arrays, scratch_budget, usable_cuda)
from .tree import (CELL_SCRATCH_DTYPES, PAIR_SCRATCH_DTYPES, PROBLEM_SCRATCH_DTYPES,
                   cell_scratch_shapes, check_distinct_rows, check_tree_params, max_tree_nodes,
                   pair_scratch_shapes, problem_scratch_shapes, tree_core)

__all__ = ["fit_predict_tree_cuda"]


# numba.cuda and the device functions, bound on first use: the kernels must see them as
# module globals (the CUDA simulator swaps ``cuda`` in a kernel's globals).
cuda = None
_presort_cell_dev = None
_presort_pair_dev = None
_fit_predict_labelset_dev = None


def _cell_kernel(X, cell_lo, n_cells, sort_i_b, sort_f_b, cell_order_b, cell_vals_b):
    tid = cuda.grid(1)
    if tid >= n_cells:
        return
    _presort_cell_dev(X, cell_lo + tid, sort_i_b[tid], sort_f_b[tid], cell_order_b[tid],
                      cell_vals_b[tid])


def _presort_kernel(train_idx, n_train, pair_lo, n_pairs, cell_lo, cell_order_b, cell_vals_b,
                    pos_of_b, order_b, vals_b):
    tid = cuda.grid(1)
    if tid >= n_pairs:
        return
    n_slots = train_idx.shape[0]
    pair = pair_lo + tid
    c = pair // n_slots
    s = pair - c * n_slots
    _presort_pair_dev(train_idx[s], n_train[s], cell_order_b[c - cell_lo],
                      cell_vals_b[c - cell_lo], pos_of_b[tid], order_b[tid], vals_b[tid])


def _grow_kernel(X, Y, train_idx, n_train, test_idx, n_test, n_classes, balanced,
                 max_depth, min_split, min_leaf, seed, pair_lo, n_pairs, order_b, vals_b,
                 counts_b, ylab_b, wcls_b, ordp_b, valsp_b, samples_b, side_b, tmp_i_b,
                 tmp_f_b, features_b, const_b, rng_b, sum_left_b, sum_total_b, cnt_left_b,
                 cnt_total_b, stack_i_b, stack_f_b, node_feat_b, node_thr_b, node_left_b,
                 node_right_b, node_cls_b, pred):
    tid = cuda.grid(1)
    n_sets = Y.shape[0]
    if tid >= n_pairs * n_sets:
        return
    lp = tid // n_sets
    lab = tid - lp * n_sets
    n_slots = train_idx.shape[0]
    pair = pair_lo + lp
    c = pair // n_slots
    s = pair - c * n_slots
    _fit_predict_labelset_dev(X, c, Y[lab], train_idx[s], n_train[s], test_idx[s],
                              n_test[s], n_classes, balanced, max_depth, min_split, min_leaf,
                              seed, order_b[lp], vals_b[lp], counts_b[tid], ylab_b[tid],
                              wcls_b[tid], ordp_b[tid], valsp_b[tid], samples_b[tid],
                              side_b[tid], tmp_i_b[tid], tmp_f_b[tid], features_b[tid],
                              const_b[tid], rng_b[tid], sum_left_b[tid], sum_total_b[tid],
                              cnt_left_b[tid], cnt_total_b[tid], stack_i_b[tid],
                              stack_f_b[tid], node_feat_b[tid], node_thr_b[tid],
                              node_left_b[tid], node_right_b[tid], node_cls_b[tid],
                              pred[c, lab, s])


@functools.cache
def _kernels():
    global cuda, _presort_cell_dev, _presort_pair_dev, _fit_predict_labelset_dev
    cuda = usable_cuda()
    core = tree_core("cuda")
    _presort_cell_dev = core.presort_cell
    _presort_pair_dev = core.presort_pair
    _fit_predict_labelset_dev = core.fit_predict_labelset
    return cuda.jit(_cell_kernel), cuda.jit(_presort_kernel), cuda.jit(_grow_kernel)


def fit_predict_tree_cuda(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *,
                          standardize=True, class_weight_balanced=False, max_depth=3,
                          min_samples_split=2, min_samples_leaf=1, random_state=0,
                          max_scratch_bytes=None):
    """Fit and predict a batch of decision trees on the GPU with numba.cuda.

    Same problems, parameters and results as :func:`gpudecode.kernels.tree.fit_predict_tree`
    (scikit-learn's ``DecisionTreeClassifier``, gini, ``random_state`` tie-breaking).

    Parameters
    ----------
    X, Y, train_idx, n_train, test_idx, n_test, n_classes
        As for the CPU kernel: X (n_cells, n_trials, n_features), Y (n_labelsets,
        n_trials) int, train_idx / test_idx (n_slots, max_train | max_test) padded with
        -1, n_train / n_test (n_slots,). All NumPy, or all device arrays (numba device
        arrays or CuPy), which are not copied back. Device X must be float32 (trees read
        float32 features, as scikit-learn's do).
    standardize, class_weight_balanced, max_depth, min_samples_split, min_samples_leaf
        As for the CPU kernel (``standardize`` is ignored).
    random_state : int or None
        As for the CPU kernel.
    max_scratch_bytes : int, optional
        Device memory for scratch buffers per chunk of (cell, slot) pairs; default a
        quarter of the free device memory, at most 1 GiB.

    Returns
    -------
    pred : int32 array, shape (n_cells, n_labelsets, n_slots, max_test)
        NumPy for NumPy input, a numba device array for device input; -1 on the padding.

    Raises
    ------
    ShapeError, ParameterError, NonFiniteError
        As for the CPU kernel (value checks only for host input).
    DeviceError
        numba.cuda cannot run (no GPU and no simulator).
    """
    max_depth, min_split, min_leaf, seed = check_tree_params(
        max_depth, min_samples_split, min_samples_leaf, random_state)
    cuda, on_host, arrays, n_classes = device_batch(X, Y, train_idx, n_train, test_idx,
                                                    n_test, n_classes)
    X, Y, train_idx, n_train, test_idx, n_test = arrays
    if on_host:
        check_distinct_rows(train_idx.copy_to_host(), n_train.copy_to_host())
    if np.dtype(X.dtype) != np.float32:
        if on_host:  # trees read float32 features, as scikit-learn's do
            X = cuda.to_device(np.ascontiguousarray(X.copy_to_host(), dtype=np.float32))
        else:
            raise ParameterError(f"device array X has dtype {X.dtype}; the tree kernel reads "
                                 "float32.", field="X",
                                 fix="convert with X.astype('float32') before the call.")
    n_cells, _, d = X.shape
    n_sets = Y.shape[0]
    n_slots, nmax = train_idx.shape
    mmax = test_idx.shape[1]
    shape = (n_cells, n_sets, n_slots, mmax)
    n_pairs = n_cells * n_slots
    if int(np.prod(shape)) == 0:
        return empty_result(shape, "numpy" if on_host else "numba")
    pred = cuda.device_array(shape, dtype=np.int32)

    n_trials = X.shape[1]
    cells = cell_scratch_shapes(n_trials, d)
    pairs = pair_scratch_shapes(n_trials, d, nmax)
    problems = problem_scratch_shapes(d, nmax, n_classes, max_tree_nodes(max_depth, nmax))
    per_pair = (layout_bytes(pairs, PAIR_SCRATCH_DTYPES)
                + 2 * layout_bytes(cells, CELL_SCRATCH_DTYPES))  # a chunk touches <= 2 cells more
    chunk = pairs_per_chunk(scratch_budget(max_scratch_bytes), per_pair,
                            layout_bytes(problems, PROBLEM_SCRATCH_DTYPES), n_sets, n_pairs)
    presort_cells, presort_pairs, grow = _kernels()
    max_cells = min(n_cells, chunk // n_slots + 2)  # cells a chunk of pairs can touch
    cell_b = scratch_arrays(cells, CELL_SCRATCH_DTYPES, max_cells)
    pos_of_b, order_b, vals_b = scratch_arrays(pairs, PAIR_SCRATCH_DTYPES, chunk)
    problem_b = scratch_arrays(problems, PROBLEM_SCRATCH_DTYPES, chunk * n_sets)
    for lo in range(0, n_pairs, chunk):
        n = min(chunk, n_pairs - lo)
        cell_lo = lo // n_slots
        n_cells_chunk = (lo + n - 1) // n_slots - cell_lo + 1
        presort_cells[grid_1d(n_cells_chunk)](X, cell_lo, n_cells_chunk, *cell_b)
        presort_pairs[grid_1d(n)](train_idx, n_train, lo, n, cell_lo, cell_b[2], cell_b[3],
                                  pos_of_b, order_b, vals_b)
        grow[grid_1d(n * n_sets)](X, Y, train_idx, n_train, test_idx, n_test, n_classes,
                                  bool(class_weight_balanced), max_depth, min_split, min_leaf,
                                  seed, lo, n, order_b, vals_b, *problem_b, pred)
    return pred.copy_to_host() if on_host else pred

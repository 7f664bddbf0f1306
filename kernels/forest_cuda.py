"""numba.cuda twin of :func:`gpudecode.kernels.forest.fit_predict_forest`.

Per chunk of (cell, slot) pairs, running the CPU kernel's per-problem code compiled as
CUDA device functions:

1. one thread per cell sorts the cell's trials by every feature;
2. one thread per (cell, slot) pair filters that order down to the pair's training rows
   (1 and 2: the tree twin's :func:`~gpudecode.kernels.tree_cuda.presort_chunk`);
3. one thread per tree (pair x label set x tree) grows its tree on its bootstrap sample and
   adds its test rows' leaf class fractions to the problem's votes with integer atomics
   (exact, so the sum does not depend on the order threads finish in: equal to the CPU's);
   trees run in sub-chunks whose scratch fits the budget;
4. one thread per problem (pair x label set) writes the argmax class and resets its votes.

Buffers stay under ``max_scratch_bytes`` (default: a quarter of the free device memory, at
most 1 GiB). ``numba.cuda`` is imported only when a kernel is first needed.
"""

from __future__ import annotations

import functools

import numpy as np

from ._gpu import (device_batch, empty_result, grid_1d, layout_bytes, scratch_arrays,
                   scratch_budget, usable_cuda)
from .forest import (PAIR_TABLE_DTYPES, TREE_SCRATCH_DTYPES, VOTE_SCRATCH_DTYPES,
                     check_forest_params, filter_nodes, forest_core, pair_table_shapes,
                     tree_scratch_shapes, vote_scratch_shapes)
from .tree import max_tree_nodes, tree_core
from .tree_cuda import float32_tree_features, presort_chunk, presort_pair_bytes, presort_scratch

__all__ = ["fit_predict_forest_cuda"]

# numba.cuda and the device functions, bound on first use (module globals of the kernels).
cuda = None
_prepare_labels_dev = None
_problem_key_dev = None
_grow_dev = None
_leaf_votes_dev = None
_vote_dev = None
_two_valued_dev = None


def _tree_kernel(X, Y, train_idx, n_train, test_idx, n_test, n_classes, balanced, max_depth,
                 max_features, n_trees, bootstrap, filtered, seed, pair_lo, task_lo, n_tasks,
                 order_b, vals_b, counts_b, ylab_b, wcls_b, ordp_b, valsp_b, samples_b, side_b,
                 tmp_i_b, tmp_f_b, features_b, const_b, rng_b, sum_left_b, sum_total_b,
                 cnt_left_b, cnt_total_b, stack_i_b, stack_f_b, node_feat_b, node_thr_b,
                 node_left_b, node_right_b, node_val_b, bcnt_b, leaf_of_b, wdraw_b, member_b,
                 low_b, two_b, acc_b):
    tid = cuda.grid(1)
    if tid >= n_tasks:
        return
    n_sets = Y.shape[0]
    task = task_lo + tid
    problem = task // n_trees           # within the chunk: lp * n_sets + lab
    tree = task - problem * n_trees
    lp = problem // n_sets
    lab = problem - lp * n_sets
    n_slots = train_idx.shape[0]
    pair = pair_lo + lp
    c = pair // n_slots
    s = pair - c * n_slots
    ntr = n_train[s]
    nte = n_test[s]
    weighted, weighted_draws = _prepare_labels_dev(Y[lab], train_idx[s], ntr, n_classes,
                                                   balanced, bootstrap, counts_b[tid],
                                                   ylab_b[tid], wcls_b[tid], wdraw_b[tid])
    key = _problem_key_dev(seed, Y[lab], train_idx[s], ntr, order_b[lp])
    node_val = node_val_b[tid]
    leaf_of = leaf_of_b[tid]
    _grow_dev(X, c, test_idx[s], nte, ntr, n_classes, weighted, weighted_draws, max_depth,
              max_features, bootstrap, filtered, key, tree, order_b[lp], vals_b[lp], counts_b[tid],
              ylab_b[tid], wcls_b[tid], wdraw_b[tid], bcnt_b[tid], member_b[tid], ordp_b[tid],
              valsp_b[tid], samples_b[tid], side_b[tid], tmp_i_b[tid], tmp_f_b[tid],
              features_b[tid], const_b[tid], rng_b[tid],
              sum_left_b[tid], sum_total_b[tid], cnt_left_b[tid], cnt_total_b[tid],
              stack_i_b[tid], stack_f_b[tid], node_feat_b[tid], node_thr_b[tid],
              node_left_b[tid], node_right_b[tid], node_val, leaf_of, low_b[lp], two_b[lp])
    for t in range(nte):
        for k in range(n_classes):
            cuda.atomic.add(acc_b, (problem, t, k), _leaf_votes_dev(node_val, leaf_of[t], k))


def _tables_kernel(n_train, n_slots, pair_lo, n_pairs, order_b, vals_b, low_b, two_b):
    tid = cuda.grid(1)
    if tid >= n_pairs:
        return
    s = (pair_lo + tid) % n_slots
    _two_valued_dev(order_b[tid], vals_b[tid], n_train[s], low_b[tid], two_b[tid])


def _vote_kernel(n_test, n_classes, pair_lo, n_problems, n_sets, acc_b, pred):
    tid = cuda.grid(1)
    if tid >= n_problems:
        return
    lp = tid // n_sets
    lab = tid - lp * n_sets
    n_slots = pred.shape[2]
    pair = pair_lo + lp
    c = pair // n_slots
    s = pair - c * n_slots
    _vote_dev(acc_b[tid], n_test[s], n_classes, pred[c, lab, s])


@functools.cache
def _kernels():
    global cuda, _prepare_labels_dev, _problem_key_dev, _grow_dev, _leaf_votes_dev, _vote_dev
    global _two_valued_dev
    cuda = usable_cuda()
    forest = forest_core("cuda")
    _two_valued_dev = tree_core("cuda").two_valued_rows
    _prepare_labels_dev = forest.prepare_labels
    _problem_key_dev = forest.problem_key
    _grow_dev = forest.grow_forest_tree
    _leaf_votes_dev = forest.leaf_votes
    _vote_dev = forest.vote
    return cuda.jit(_tree_kernel), cuda.jit(_vote_kernel), cuda.jit(_tables_kernel)


def fit_predict_forest_cuda(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *,
                            standardize=True, class_weight_balanced=False, n_estimators=100,
                            max_depth=None, max_features="sqrt", bootstrap=True,
                            random_state=0, max_scratch_bytes=None):
    """Fit and predict a batch of random forests on the GPU with numba.cuda.

    Same problems, parameters, random draws and results as
    :func:`gpudecode.kernels.forest.fit_predict_forest`.

    Parameters
    ----------
    X, Y, train_idx, n_train, test_idx, n_test, n_classes
        As for the CPU kernel: X (n_cells, n_trials, n_features), Y (n_labelsets, n_trials)
        int, train_idx / test_idx (n_slots, max_train | max_test) padded with -1,
        n_train / n_test (n_slots,). All NumPy, or all device arrays (not copied back).
        Device X must be float32.
    standardize, class_weight_balanced, n_estimators, max_depth, max_features, bootstrap,
    random_state
        As for the CPU kernel.
    max_scratch_bytes : int, optional
        Device memory for scratch buffers; default a quarter of the free device memory, at
        most 1 GiB.

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
    cuda, on_host, arrays, n_classes = device_batch(X, Y, train_idx, n_train, test_idx,
                                                    n_test, n_classes)
    X, Y, train_idx, n_train, test_idx, n_test = arrays
    n_trees, depth, n_feat, bootstrap, seed = check_forest_params(
        n_estimators, max_depth, max_features, bootstrap, random_state, X.shape[2])
    X = float32_tree_features(cuda, on_host, X, train_idx, n_train, "forest")
    n_cells, n_trials, d = X.shape
    n_sets = Y.shape[0]
    n_slots, nmax = train_idx.shape
    mmax = test_idx.shape[1]
    shape = (n_cells, n_sets, n_slots, mmax)
    n_pairs = n_cells * n_slots
    if int(np.prod(shape)) == 0:
        return empty_result(shape, "numpy" if on_host else "numba")
    pred = cuda.device_array(shape, dtype=np.int32)

    filtered = filter_nodes(d, n_feat)
    trees = tree_scratch_shapes(d, nmax, max(mmax, 1), n_classes, max_tree_nodes(depth, nmax),
                                filtered)
    votes = vote_scratch_shapes(max(mmax, 1), n_classes)
    tables = pair_table_shapes(d, nmax)
    per_pair = (presort_pair_bytes(n_trials, d, nmax) + layout_bytes(tables, PAIR_TABLE_DTYPES)
                + n_sets * layout_bytes(votes, VOTE_SCRATCH_DTYPES))
    budget = scratch_budget(max_scratch_bytes)
    chunk = int(max(1, min(n_pairs, (budget // 2) // max(per_pair, 1))))
    per_chunk_tasks = chunk * n_sets * n_trees
    task_chunk = int(max(1, min(per_chunk_tasks,
                                (budget // 2) // max(layout_bytes(trees, TREE_SCRATCH_DTYPES),
                                                     1))))
    grow, vote, fill_tables = _kernels()
    cell_b, pair_b = presort_scratch(n_trials, d, nmax, n_cells, n_slots, chunk)
    _, order_b, vals_b = pair_b
    low_b, two_b = scratch_arrays(tables, PAIR_TABLE_DTYPES, chunk)
    tree_b = scratch_arrays(trees, TREE_SCRATCH_DTYPES, task_chunk)
    acc_b = cuda.to_device(np.zeros((chunk * n_sets,) + votes[0], dtype=np.int64))
    for lo in range(0, n_pairs, chunk):
        n = min(chunk, n_pairs - lo)
        presort_chunk(X, train_idx, n_train, lo, n, cell_b, pair_b)
        if filtered:
            fill_tables[grid_1d(n)](n_train, n_slots, lo, n, order_b, vals_b, low_b, two_b)
        n_tasks = n * n_sets * n_trees
        for t0 in range(0, n_tasks, task_chunk):
            m = min(task_chunk, n_tasks - t0)
            grow[grid_1d(m)](X, Y, train_idx, n_train, test_idx, n_test, n_classes,
                             bool(class_weight_balanced), depth, n_feat, n_trees, bootstrap,
                             filtered, seed, lo, t0, m, order_b, vals_b,
                             *tree_b, low_b, two_b, acc_b)
        vote[grid_1d(n * n_sets)](n_test, n_classes, lo, n * n_sets, n_sets, acc_b, pred)
    return pred.copy_to_host() if on_host else pred

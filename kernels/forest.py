"""Batched random forests (scikit-learn's ``RandomForestClassifier``, gini) on the CPU.

Each problem (cell x label set x split slot) grows ``n_estimators`` trees as scikit-learn's
forest does, and predicts the class of largest mean per-tree class probability:

- every tree is fit on a bootstrap sample of the ``n`` training rows (``n`` draws with
  replacement; ``bootstrap=False``: every row once). scikit-learn weights each row by its
  draw count; here a row drawn ``k`` times enters the tree ``k`` times, which gives the same
  weighted gini counts and the same candidate thresholds. (scikit-learn's
  ``min_samples_split=2`` / ``min_samples_leaf=1`` count distinct rows; with those defaults,
  the only ones accepted, both ways stop at the same nodes: a node of copies of one row is
  pure, a node whose rows share every feature value has no split.)
- at every node, features are visited in a random order until ``max_features``
  non-constant ones were scanned (scikit-learn's ``node_split_best``, as the tree kernel's
  :func:`~gpudecode.kernels.tree.grow_tree` splits); ``max_depth=None`` grows until leaves
  are pure;
- ``class_weight="balanced"`` weights are computed from the training rows (not the
  bootstrap) and used as scikit-learn 1.9 uses them: with the bootstrap they set how likely
  each row is drawn (every present class equally likely) and the trees are unweighted;
  without it they weigh the trees' gini counts;
- a tree's leaf holds its weighted class fractions; the forest predicts the argmax of their
  sum over trees (lowest class on ties). Each fraction is added as an integer number of
  ``2**-32`` units, so the sum is exact and independent of the order trees finish in (the
  GPU twin adds them atomically); it differs from scikit-learn's float mean only at
  near-exact ties.

Randomness: the bootstrap draws and each tree's feature order come from a counter-based
hash of ``(random_state, the problem's training trials, their labels, the pair's feature
ranks, tree index, draw index)``. So the numbers drawn do not depend on chunking, on the
order of units or label sets, or on the device: the CPU kernel and its GPU twin draw the
same ones. They are not scikit-learn's draws, so a forest matches scikit-learn's in
distribution (accuracy over seeds), not fit for fit.

Reuse: as in the tree kernel, each cell's trials are sorted by every feature once and each
(cell, slot) pair's training rows take that order by filtering; every tree of every label
set of the pair expands it by the bootstrap counts (no sort per tree). Each tree is then
grown by the tree kernel's :func:`~gpudecode.kernels.tree.grow_tree`, with ``max_features``
features per split and its own feature-order seed. With many features per visited one
(:func:`filter_nodes`, e.g. 1176 pair features, 34 visited) the tree is not expanded and
no split reorders every feature: each visited feature's node samples are filtered from the
pair's order with the draw counts, which grows the same tree. A feature that takes two values
in the pair (the 0/1 votes democracy stacks) has one candidate split per node, so such a
tree only counts the node's samples at its lower value (:func:`~gpudecode.kernels.tree.
two_valued_rows`). Units of many more trials than a pair trains on (the one-problem blocks of
:func:`gpudecode.engine.predict_blocks`) sort each pair's rows by themselves instead of the
unit's trials (:func:`~gpudecode.kernels.tree.sort_pair_rows`). Neither changes a tree.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numba import prange

from ..errors import ParameterError
from ._prep import check_batch, count_classes, cpu_jit, device, device_namespace, run_pairs
from .tree import (PROBLEM_SCRATCH_DTYPES, allocate_cell_scratch, allocate_pair_scratch,
                   allocate_problem_arrays, check_distinct_rows, find_leaf, grow_tree,
                   max_tree_nodes, problem_scratch_shapes, sort_pair, sorts_pair_rows,
                   two_valued_rows)

__all__ = ["PAIR_TABLE_DTYPES", "PROB_SCALE", "TREE_SCRATCH_DTYPES", "VOTE_SCRATCH_DTYPES",
           "check_forest_params", "filter_nodes", "fit_predict_forest", "forest_core",
           "pair_table_shapes", "problem_keys", "resolve_max_features", "tree_scratch_shapes",
           "vote_scratch_shapes"]

MASK32 = 0xFFFFFFFF
PROB_SCALE = 4294967296.0  # 2**32 vote units per unit of class probability
NO_DEPTH_LIMIT = 2 ** 30
FILTER_RATIO = 4  # features per visited feature from which trees filter (filter_nodes)


# ----------------------------------------------------------------------------- randomness

@device(inline=True)
def hash32(x):
    """A 32-bit integer hash (``lowbias32``) of the low 32 bits of ``x``, in 0..2**32-1."""
    x = int(x) & MASK32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & MASK32
    x ^= x >> 15
    x = (x * 0x846CA68B) & MASK32
    x ^= x >> 16
    return x


@device(inline=True)
def combine(h, v):
    """Fold the value ``v`` into the hash state ``h`` (both 32-bit)."""
    return hash32(h ^ hash32(int(v) + 0x9E3779B9))


@device
def problem_key(seed, y, tr, n, order):
    """The problem's random key: ``seed``, its training trials and labels, its feature ranks."""
    h = combine(hash32(seed), seed >> 32)
    for r in range(n):
        h = combine(h, tr[r])
        h = combine(h, y[tr[r]])
    for f in range(order.shape[0]):
        for m in range(n):
            h = combine(h, order[f, m])
    return h


@cpu_jit()
def problem_keys(seed, Y, tr, n, order, keys):
    """:func:`problem_key` of every label set ``Y[lab]`` at once, into ``keys[lab]``
    (n_labelsets,) int64: the ranks' inner hashes are shared and the label sets' chains,
    independent, run side by side (one chain is latency-bound; side by side they
    vectorise)."""
    for lab in range(Y.shape[0]):
        h = combine(hash32(seed), seed >> 32)
        for r in range(n):
            h = combine(h, tr[r])
            h = combine(h, Y[lab, tr[r]])
        keys[lab] = h
    for f in range(order.shape[0]):
        for m in range(n):
            g = hash32(int(order[f, m]) + 0x9E3779B9)
            for lab in range(Y.shape[0]):
                keys[lab] = hash32(keys[lab] ^ g)


# ----------------------------------------------------------------------------- one tree

@device
def prepare_labels(y, tr, n, n_classes, balanced, bootstrap, counts, ylab, wcls, wdraw):
    """Training labels and class weights, as scikit-learn's forest uses them.

    ``"balanced"`` weights ``n / (n_present * count_k)`` come from the training rows. With
    ``bootstrap`` they set how likely each row is drawn (``wdraw[k]``: class ``k``'s share,
    ``count_k * weight_k``) and the trees are unweighted; without, they weigh the trees'
    gini counts (``wcls``). Returns ``(weighted_trees, weighted_draws)``.
    """
    n_present = count_classes(y, tr, n, n_classes, counts)
    balance = balanced and n_present > 1
    for k in range(n_classes):
        w = 1.0
        if balance and counts[k] > 0:
            w = n / (n_present * float(counts[k]))
        wcls[k] = 1.0 if bootstrap else w
        wdraw[k] = counts[k] * w
    for r in range(n):
        ylab[r] = y[tr[r]]
    return balance and not bootstrap, balance and bootstrap


@device
def draw_bootstrap(kt, n, n_classes, weighted_draws, bootstrap, counts, ylab, wdraw, bcnt,
                   tmp_i, cnt_left, cnt_total):
    """``bcnt[r]``: how often row ``r`` enters the tree of key ``kt`` (1 without bootstrap).

    ``weighted_draws``: rows are drawn with probability proportional to ``wdraw`` of their
    class (a class by its share, then a row of it uniformly), else uniformly. ``tmp_i``,
    ``cnt_left``, ``cnt_total`` are scratch."""
    for r in range(n):
        bcnt[r] = 0 if bootstrap else 1
    if bootstrap and not weighted_draws:
        for i in range(n):
            bcnt[combine(kt, i) % int(n)] += 1
    if bootstrap and weighted_draws:
        total = 0.0
        m = 0
        for k in range(n_classes):  # rows grouped by class: tmp_i[cnt_left[k]:...]
            total += wdraw[k]
            cnt_left[k] = m
            m += counts[k]
        for k in range(n_classes):
            cnt_total[k] = cnt_left[k]
        for r in range(n):
            k = ylab[r]
            tmp_i[cnt_total[k]] = r
            cnt_total[k] += 1
        for i in range(n):
            h = combine(kt, i)
            u = float(h) * (1.0 / PROB_SCALE) * total
            pick = -1
            cum = 0.0
            for k in range(n_classes):
                if counts[k] > 0:
                    cum += wdraw[k]
                    if pick < 0 and u < cum:
                        pick = k
            if pick < 0:  # u at the top end by rounding: the last present class
                for k in range(n_classes):
                    if counts[k] > 0:
                        pick = k
            j = combine(h, 0x5BD1E995) % int(counts[pick])
            bcnt[tmp_i[cnt_left[pick] + j]] += 1


@device
def grow_forest_tree(X, c, te, nte, n, n_classes, weighted, weighted_draws, max_depth,
                     max_features, bootstrap, filtered, key, tree, order, vals, counts, ylab,
                     wcls, wdraw, bcnt, member, ordp, valsp, samples, side, tmp_i, tmp_f,
                     features, const_features, rng, sum_left, sum_total, cnt_left, cnt_total,
                     stack_i, stack_f, node_feat, node_thr, node_left, node_right, node_val,
                     leaf_of, low, two):
    """Grow tree ``tree`` of a problem on its bootstrap sample with the tree kernel's
    :func:`~gpudecode.kernels.tree.grow_tree`; ``leaf_of[t]`` = the leaf of test row ``t``
    (its class fractions in ``node_val[leaf]``).

    ``filtered`` (:func:`filter_nodes`): grow_tree filters the pair's ``order``/``vals``
    with the draw counts at every visited feature into ``ordp[0]``/``valsp[0]`` (then
    (1, max_train), all it uses) and labels each row's node in ``member`` (max_train,); else
    the drawn rows are expanded into ``ordp``/``valsp`` (d, max_train) and partitioned
    (``member`` unused). Same tree. ``low``/``two``: the pair's two-valued features
    (:func:`~gpudecode.kernels.tree.two_valued_rows`), read by filtering trees only."""
    kt = combine(key, tree)
    draw_bootstrap(kt, n, n_classes, weighted_draws, bootstrap, counts, ylab, wdraw, bcnt,
                   tmp_i, cnt_left, cnt_total)
    n_expand = 1 if filtered else X.shape[2]
    for f in range(n_expand):  # the pair's sorted rows, each repeated by its draw count
        m = 0
        for i in range(n):
            r = order[f, i]
            v = vals[f, i]
            for j in range(bcnt[r]):
                ordp[f, m] = r
                valsp[f, m] = v
                m += 1
    for i in range(n):
        samples[i] = ordp[0, i]
    grow_tree(n, X.shape[2], n_classes, weighted, max_depth, 2, 1, combine(kt, -1),
              max_features, ylab, wcls, ordp, valsp, samples, side, tmp_i, tmp_f, features,
              const_features, rng, sum_left, sum_total, cnt_left, cnt_total, stack_i, stack_f,
              node_feat, node_thr, node_left, node_right, node_val, filtered, bcnt, member,
              order, vals, low, two)
    for t in range(nte):
        leaf_of[t] = find_leaf(X, c, te[t], node_feat, node_thr, node_left, node_right)


@device(inline=True)
def leaf_votes(node_val, node, k):
    """Class ``k``'s fraction in leaf ``node`` as an integer number of ``2**-32`` units."""
    return int(node_val[node, k] * PROB_SCALE + 0.5)


@device
def add_votes(node_val, leaf_of, nte, n_classes, acc):
    """Add one tree's leaf fractions of the test rows to ``acc`` (the CPU's; the GPU twin
    adds :func:`leaf_votes` atomically)."""
    for t in range(nte):
        for k in range(n_classes):
            acc[t, k] += leaf_votes(node_val, leaf_of[t], k)


@device
def vote(acc, nte, n_classes, out):
    """Write the argmax class of each test row's summed votes (lowest on ties), -1 on the
    padding, and reset ``acc`` to zero."""
    for t in range(out.shape[0]):
        if t >= nte:
            out[t] = -1
            continue
        best = 0
        for k in range(1, n_classes):
            if acc[t, k] > acc[t, best]:
                best = k
        for k in range(n_classes):
            acc[t, k] = 0
        out[t] = best


def forest_core(target: str):
    """The per-problem forest functions compiled for ``"cpu"`` or ``"cuda"`` (device)."""
    return device_namespace(__name__, target)


# ----------------------------------------------------------------------------- scratch
# One tree's growing scratch is the tree kernel's problem scratch plus the bootstrap counts,
# the test rows' leaves, the class draw weights and the filtering tree's node labels; one
# problem's votes are int64.

TREE_SCRATCH_DTYPES = PROBLEM_SCRATCH_DTYPES + (np.int32, np.int32, np.float64, np.int32)
"""dtypes of the arrays :func:`tree_scratch_shapes` sizes, in its order."""

VOTE_SCRATCH_DTYPES = (np.int64,)
"""dtypes of the arrays :func:`vote_scratch_shapes` sizes, in its order."""


@cpu_jit()
def tree_scratch_shapes(n_features, max_train, max_test, n_classes, n_nodes, filtered):
    """One tree's scratch: :func:`gpudecode.kernels.tree.problem_scratch_shapes` (its last,
    ``node_val`` (n_nodes, n_classes), the leaves' class fractions), then ``bcnt``
    (max_train,), ``leaf_of`` (max_test,) (``max_test`` at least 1), ``wdraw`` (n_classes,),
    ``member`` (max_train,) (each row's node in a filtering tree, :func:`filter_nodes`).
    A ``filtered`` tree's ``ordp``/``valsp`` are (1, max_train): it only uses row
    :data:`~gpudecode.kernels.tree.FILTER_ROW` (0)."""
    sh = problem_scratch_shapes(n_features, max_train, n_classes, n_nodes)
    lists = (1 if filtered else n_features, max_train)
    return sh[:3] + (lists, lists) + sh[5:] + (
        (max_train,), (max_test,), (n_classes,), (max_train,))


@cpu_jit()
def vote_scratch_shapes(max_test, n_classes):
    """One problem's summed votes ``acc`` (max_test, n_classes), int64 (``max_test`` at
    least 1)."""
    return ((max_test, n_classes),)


@cpu_jit()
def allocate_tree_scratch(n_features, max_train, max_test, n_classes, n_nodes, filtered):
    """The CPU kernel's per-tree scratch, as :func:`tree_scratch_shapes` declares it."""
    sh = tree_scratch_shapes(n_features, max_train, max_test, n_classes, n_nodes, filtered)
    return allocate_problem_arrays(sh[:23]) + (
        np.empty(sh[23], dtype=np.int32), np.empty(sh[24], dtype=np.int32),
        np.empty(sh[25]), np.empty(sh[26], dtype=np.int32))


PAIR_TABLE_DTYPES = (np.int32, np.int32)
"""dtypes of the arrays :func:`pair_table_shapes` sizes, in its order."""


@cpu_jit()
def pair_table_shapes(n_features, max_train):
    """One (cell, slot) pair's two-valued features, as
    :func:`~gpudecode.kernels.tree.two_valued_rows` fills them for filtering trees: ``low``
    (d, max_train), ``two`` (d,)."""
    return ((n_features, max_train), (n_features,))


@cpu_jit()
def allocate_pair_tables(n_features, max_train):
    """The CPU kernel's pair tables, as :func:`pair_table_shapes` declares them."""
    sh = pair_table_shapes(n_features, max_train)
    return (np.empty(sh[0], dtype=np.int32), np.empty(sh[1], dtype=np.int32))


@cpu_jit()
def key_scratch_shapes(n_sets):
    """The CPU kernel's random keys of a pair's label sets, :func:`problem_keys`' ``keys``
    (n_labelsets,), int64 (the GPU twin draws each tree's key in its thread)."""
    return ((n_sets,),)


@cpu_jit()
def allocate_key_scratch(n_sets):
    """The CPU kernel's keys, as :func:`key_scratch_shapes` declares them."""
    return (np.empty(key_scratch_shapes(n_sets)[0], dtype=np.int64),)


@cpu_jit()
def allocate_vote_scratch(max_test, n_classes):
    """The CPU kernel's votes, as :func:`vote_scratch_shapes` declares them (zeroed)."""
    return (np.zeros(vote_scratch_shapes(max_test, n_classes)[0], dtype=np.int64),)


# ----------------------------------------------------------------------------- CPU batch

@cpu_jit(parallel=True)
def _forest_batch(X, Y, train_idx, n_train, test_idx, n_test, n_classes, balanced, max_depth,
                  max_features, n_trees, bootstrap, filtered, seed, n_nodes_max, own_rows,
                  n_chunks, pred):
    d = X.shape[2]
    n_sets = Y.shape[0]
    n_slots = train_idx.shape[0]
    nmax = train_idx.shape[1]
    n_pairs = X.shape[0] * n_slots
    for ch in prange(n_chunks):
        sort_i, sort_f, cell_order, cell_vals = allocate_cell_scratch(X.shape[1], d)
        pos_of, order, vals = allocate_pair_scratch(X.shape[1], d, nmax)
        (counts, ylab, wcls, ordp, valsp, samples, side, tmp_i, tmp_f, features,
         const_features, rng, sum_left, sum_total, cnt_left, cnt_total, stack_i, stack_f,
         node_feat, node_thr, node_left, node_right, node_val, bcnt, leaf_of, wdraw,
         member) = allocate_tree_scratch(d, nmax, max(test_idx.shape[1], 1), n_classes,
                                         n_nodes_max, filtered)
        acc = allocate_vote_scratch(max(test_idx.shape[1], 1), n_classes)[0]
        keys = allocate_key_scratch(n_sets)[0]
        low, two = allocate_pair_tables(d, nmax)
        last_c = -1
        for pair in range(ch * n_pairs // n_chunks, (ch + 1) * n_pairs // n_chunks):
            c = pair // n_slots
            s = pair - c * n_slots
            ntr = np.int64(n_train[s])
            nte = np.int64(n_test[s])
            last_c = sort_pair(X, c, train_idx[s], ntr, last_c, own_rows, sort_i, sort_f,
                               cell_order, cell_vals, pos_of, order, vals)
            if filtered:  # only filtering trees read them
                two_valued_rows(order, vals, ntr, low, two)
            problem_keys(seed, Y, train_idx[s], ntr, order, keys)
            for lab in range(n_sets):
                weighted, weighted_draws = prepare_labels(
                    Y[lab], train_idx[s], ntr, n_classes, balanced, bootstrap, counts, ylab,
                    wcls, wdraw)
                key = keys[lab]
                for t in range(n_trees):
                    grow_forest_tree(X, c, test_idx[s], nte, ntr, n_classes, weighted,
                                     weighted_draws, max_depth, max_features, bootstrap,
                                     filtered, key, t, order, vals, counts, ylab, wcls,
                                     wdraw, bcnt, member, ordp, valsp, samples, side, tmp_i,
                                     tmp_f, features, const_features, rng, sum_left,
                                     sum_total, cnt_left, cnt_total, stack_i, stack_f,
                                     node_feat, node_thr, node_left, node_right, node_val,
                                     leaf_of, low, two)
                    add_votes(node_val, leaf_of, nte, n_classes, acc)
                vote(acc, nte, n_classes, pred[c, lab, s])


# ----------------------------------------------------------------------------- host API

def resolve_max_features(max_features, n_features: int) -> int:
    """scikit-learn's number of features drawn per split for ``max_features``.

    ``"sqrt"`` -> ``max(1, int(sqrt(d)))``, ``"log2"`` -> ``max(1, int(log2(d)))``, None -> d,
    an int as is (1..d), a float in (0, 1] -> ``max(1, int(f * d))``.
    """
    d = int(n_features)
    if max_features == "sqrt":
        return max(1, int(math.sqrt(d)))
    if max_features == "log2":
        return max(1, int(math.log2(d)))
    if max_features is None:
        return d
    if isinstance(max_features, numbers.Integral) and not isinstance(max_features, bool):
        if 1 <= max_features <= d:
            return int(max_features)
    elif isinstance(max_features, numbers.Real) and not isinstance(max_features, bool) \
            and 0.0 < max_features <= 1.0:
        return max(1, int(max_features * d))
    raise ParameterError(f"max_features must be 'sqrt', 'log2', None, a whole number in "
                         f"1..{d} or a fraction in (0, 1], got {max_features!r}.",
                         field="max_features", fix='pass e.g. max_features="sqrt".')


def filter_nodes(n_features: int, max_features: int) -> bool:
    """Whether trees filter each visited feature's node samples from the root lists
    (O(n) per visited feature) instead of partitioning every feature at every split
    (O(d n_node)): when ``n_features >= FILTER_RATIO * max_features``."""
    return n_features >= FILTER_RATIO * max_features


def check_forest_params(n_estimators, max_depth, max_features, bootstrap, random_state,
                        n_features: int) -> tuple[int, int, int, bool, int]:
    """Check the forest hyper-parameters.

    Returns
    -------
    n_trees, max_depth, max_features, bootstrap, seed
        ``max_depth=None`` becomes a depth no tree reaches; ``max_features`` a count;
        ``seed`` the random key's seed (``random_state``, 0 for None).

    Raises
    ------
    ParameterError
    """
    def count(value, field, example):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ParameterError(f"{field} must be a whole number >= 1, got {value!r}.",
                                 field=field, fix=f"pass e.g. {field}={example}.")
        return int(value)

    n_trees = count(n_estimators, "n_estimators", "100")
    depth = NO_DEPTH_LIMIT if max_depth is None else min(count(max_depth, "max_depth", "None"),
                                                         NO_DEPTH_LIMIT)
    if not isinstance(bootstrap, (bool, np.bool_)):
        raise ParameterError(f"bootstrap must be True or False, got {bootstrap!r}.",
                             field="bootstrap", fix="pass bootstrap=True (scikit-learn's).")
    if random_state is not None and (isinstance(random_state, bool)
                                     or not isinstance(random_state, numbers.Integral)
                                     or not 0 <= random_state < 2 ** 32):
        raise ParameterError(f"random_state must be None or a whole number in 0..2**32-1, "
                             f"got {random_state!r}.", field="random_state",
                             fix="pass e.g. random_state=0.")
    seed = 0 if random_state is None else int(random_state)
    return (n_trees, depth, resolve_max_features(max_features, n_features), bool(bootstrap),
            seed)


def fit_predict_forest(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *,
                       standardize=True, class_weight_balanced=False, n_estimators=100,
                       max_depth=None, max_features="sqrt", bootstrap=True, random_state=0):
    """Fit and predict a batch of random forests on the CPU (Numba, parallel over pairs).

    Each problem (cell ``c``, label set ``l``, split slot ``s``) is a
    ``RandomForestClassifier(n_estimators=..., max_depth=..., max_features=...,
    bootstrap=...)`` fit on the problem's training rows (gini, best splitter), with its own
    random draws (see the module docstring): equal to scikit-learn's in distribution.

    Parameters
    ----------
    X : ndarray, shape (n_cells, n_trials, n_features)
        Cells x trials x features, float32 (float64 is rounded to float32), finite.
    Y : ndarray of int, shape (n_labelsets, n_trials)
        Class codes ``0..n_classes-1``; row 0 the observed labels, rows 1.. permutations.
    train_idx : ndarray of int, shape (n_slots, max_train)
        Training trials of each slot (distinct), padded with -1.
    n_train : ndarray of int, shape (n_slots,)
    test_idx : ndarray of int, shape (n_slots, max_test)
        Test trials of each slot, padded with -1.
    n_test : ndarray of int, shape (n_slots,)
    n_classes : int
    standardize : bool
        Ignored: trees are invariant to per-feature scaling.
    class_weight_balanced : bool
        scikit-learn's ``class_weight="balanced"`` (from the training rows).
    n_estimators : int
        Trees per forest.
    max_depth : int or None
        Maximal tree depth; None grows until leaves are pure (scikit-learn's default).
    max_features : {"sqrt", "log2", None} or int or float
        Features drawn per split, as scikit-learn's.
    bootstrap : bool
        Fit each tree on a bootstrap sample (True) or on every training row.
    random_state : int or None
        Seed of the random key (None: 0).

    Returns
    -------
    pred : ndarray of int32, shape (n_cells, n_labelsets, n_slots, max_test)
        Predicted class per test row; -1 on the padding.

    Raises
    ------
    ShapeError, ParameterError, NonFiniteError
        Inconsistent shapes, out-of-range labels or indices, bad hyper-parameters,
        NaN or infinite features.
    """
    X, Y, train_idx, n_train, test_idx, n_test, n_classes = check_batch(
        X, Y, train_idx, n_train, test_idx, n_test, n_classes)
    n_trees, depth, n_feat, bootstrap, seed = check_forest_params(
        n_estimators, max_depth, max_features, bootstrap, random_state, X.shape[2])
    check_distinct_rows(train_idx, n_train)
    X = np.ascontiguousarray(X, dtype=np.float32)
    return run_pairs(_forest_batch, X, Y, train_idx, n_train, test_idx, n_test, n_classes,
                     bool(class_weight_balanced), depth, n_feat, n_trees, bootstrap,
                     filter_nodes(X.shape[2], n_feat), seed,
                     max_tree_nodes(depth, train_idx.shape[1]),
                     sorts_pair_rows(X.shape[1], train_idx.shape[1]), chunked=True)

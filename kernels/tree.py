"""Batched decision trees (scikit-learn's ``DecisionTreeClassifier``, gini) on the CPU.

Each problem (cell x label set x split slot) grows a depth-limited CART tree exactly as
scikit-learn's depth-first builder does:

- a node is a leaf at ``max_depth``, below ``min_samples_split`` or ``2 * min_samples_leaf``
  samples, or when pure (gini ``<= eps``); otherwise it is split by the best split found,
  even one that does not lower the impurity (``min_impurity_decrease=0``);
- candidate thresholds lie midway (``a/2 + b/2`` in float64) between consecutive sorted
  float32 values that differ by more than 1e-7 (scikit-learn's ``FEATURE_THRESHOLD``), and
  each side must keep ``min_samples_leaf`` samples; the best split maximises scikit-learn's
  gini proxy ``-(w_r gini_r + w_l gini_l)`` with weighted class counts
  (``class_weight="balanced"``: ``n / (n_present_classes * count)``);
- a leaf predicts the class with the largest weighted count (ties -> lowest class).

Ties between equally good splits: scikit-learn visits features in a random order drawn
from ``random_state`` and keeps the first best. With ``random_state`` an int this module
replays that draw (scikit-learn's xorshift ``rand_r`` seeded with
``RandomState(random_state).randint(0, 2**31 - 1)``, the Fisher-Yates visiting with known
constant features), so it reproduces ``DecisionTreeClassifier(random_state=random_state)``
tie for tie; with ``random_state=None`` features are visited in index order, i.e. the
lowest feature index (then the lowest threshold) wins a tie. Sample-weighted sums can
still differ from scikit-learn's in the last bit (its sample order inside a node follows
its introsort), which matters only for exact ties under ``class_weight_balanced``.

``standardize`` is accepted for API symmetry and ignored: a per-feature affine scaling
with positive scale does not change which samples a split separates, and scikit-learn
trees read float32 features, so the raw features are used (float64 input is rounded to
float32 like scikit-learn does).

Reuse and speed: each cell's trials are sorted by every feature once; a (cell, slot)
pair's training rows take that order by filtering, and every label set of the pair starts
from it. A node keeps, for every feature, its samples sorted in one segment; a split
partitions the segments stably. (When few of many features are visited per node, as in a
random forest, :func:`grow_tree` can instead filter a visited feature's node samples from
the root order: the same segments, without the all-feature partition.) Without class
weights the split scan compares the gini gain exactly (in integers; for two classes in
float64 products of integers below 2**53, in a vectorised pass) and evaluates
scikit-learn's float proxy only where a split can tie or beat the best, so the choice is
the one scikit-learn makes, bit for bit.

The per-problem code is plain Python over preallocated scratch, compiled here with
``numba.njit`` and in :mod:`gpudecode.kernels.tree_cuda` with
``numba.cuda.jit(device=True)``, so the CPU kernel and its GPU twin run the same code.
"""

from __future__ import annotations

import numbers
from types import SimpleNamespace

import numpy as np
from numba import prange

from ..errors import ParameterError
from ._prep import check_batch, count_classes, cpu_jit, device, device_namespace, run_pairs

__all__ = ["fit_predict_tree", "check_tree_params", "check_distinct_rows", "tree_core",
           "sklearn_tree_seed", "max_tree_nodes", "grow_tree", "find_leaf",
           "cell_scratch_shapes", "pair_scratch_shapes", "problem_scratch_shapes",
           "CELL_SCRATCH_DTYPES", "PAIR_SCRATCH_DTYPES", "PROBLEM_SCRATCH_DTYPES",
           "sort_pair", "sort_pair_rows", "sorts_pair_rows", "stable_sort",
           "two_valued_rows"]

EPS = float(np.finfo(np.float64).eps)
INF = float("inf")
RAND_R_MAX = 2147483647
FEATURE_THRESHOLD = np.float32(1e-7)
NO_DEPTH_LIMIT = 2 ** 30
OWN_SORT_RATIO = 4  # trials per training row beyond which pairs sort their own rows
FILTER_ROW = 0  # row of the working lists a filtering tree scans
EXACT_SCAN_MAX = 1000  # node size up to which the integer gini comparison is float-safe
COUNT_BITS = 16  # filter_distinct packs a node's sample count (<= EXACT_SCAN_MAX) below
COUNT_MASK = (1 << COUNT_BITS) - 1  # its count of ones


def sklearn_tree_seed(random_state) -> int:
    """The ``rand_r`` seed scikit-learn's splitter draws for an integer ``random_state``.

    ``-1`` stands for ``random_state=None`` (deterministic feature order, no draws).
    """
    if random_state is None:
        return -1
    return int(np.random.RandomState(random_state).randint(0, RAND_R_MAX))


def max_tree_nodes(max_depth: int, max_train: int) -> int:
    """Node slots one tree may need: ``max_depth`` levels, at most ``max_train`` leaves."""
    by_samples = 2 * max(max_train, 1) - 1
    if max_depth >= 30:
        return by_samples
    return min(2 ** (max_depth + 1) - 1, by_samples)


# Device functions: compiled for the CPU here and for the GPU in tree_cuda (see _prep.py);
# small hot helpers are inlined into their callers on the CPU (saves call overhead).

@device
def stable_sort(idx, v, n, tmp_i, tmp_f):
    """Sort ``v[:n]`` ascending and ``idx[:n]`` with it, ties kept in their present order.
    Insertion sort up to 64 entries, bottom-up merge sort beyond (``tmp_i``, ``tmp_f`` (n,)
    scratch)."""
    if n <= 64:
        for i in range(1, n):
            x = v[i]
            t = idx[i]
            j = i
            while j > 0 and v[j - 1] > x:
                v[j] = v[j - 1]
                idx[j] = idx[j - 1]
                j -= 1
            v[j] = x
            idx[j] = t
        return
    width = 1
    while width < n:
        lo = 0
        while lo < n:
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            a = lo
            b = mid
            k = lo
            while a < mid or b < hi:
                if a < mid and (b >= hi or not v[b] < v[a]):
                    tmp_i[k] = idx[a]
                    tmp_f[k] = v[a]
                    a += 1
                else:
                    tmp_i[k] = idx[b]
                    tmp_f[k] = v[b]
                    b += 1
                k += 1
            lo += 2 * width
        for i in range(n):
            idx[i] = tmp_i[i]
            v[i] = tmp_f[i]
        width *= 2


@device
def presort_cell(X, c, tmp_i, tmp_f, cell_order, cell_vals):
    """Sort all trials of cell ``c`` by every feature (stable: ties in trial order).

    ``cell_order[f]`` = trials by ascending ``X[c, ., f]`` (float32), ``cell_vals[f]``
    the values in that order (:func:`stable_sort`).
    """
    n = X.shape[1]
    for f in range(X.shape[2]):
        for i in range(n):
            cell_order[f, i] = i
            cell_vals[f, i] = X[c, i, f]
        stable_sort(cell_order[f], cell_vals[f], n, tmp_i, tmp_f)


@device
def presort_pair(tr, n, cell_order, cell_vals, pos_of, order, vals):
    """A (cell, slot) pair's training rows sorted by every feature, from the cell's sort.

    ``order[f, :n]`` = row positions (indices into ``tr``) by ascending value,
    ``vals[f, :n]`` the values. Training trials must be distinct.
    """
    n_trials = cell_order.shape[1]
    for t in range(n_trials):
        pos_of[t] = -1
    for r in range(n):
        pos_of[tr[r]] = r
    for f in range(cell_order.shape[0]):
        m = 0
        for i in range(n_trials):  # branchless: write, advance only for training rows
            r = pos_of[cell_order[f, i]]
            if m < n:
                order[f, m] = r
                vals[f, m] = cell_vals[f, i]
            m += r >= 0


@device
def sort_pair_rows(X, c, tr, n, by_trial, tmp_i, tmp_f, order, vals):
    """:func:`presort_pair`'s result sorted from the pair's own rows: ``order[f, :n]`` = row
    positions (indices into ``tr``) by ascending ``X[c, tr[r], f]``, ties in trial order,
    ``vals[f, :n]`` the values; without sorting the cell's other trials.

    For units of many more trials than a pair trains on (the blocks of
    :func:`gpudecode.engine.predict_blocks`, one problem per block), where sorting the cell
    and filtering every pair from it costs O(n_trials) per pair. The positions are put in
    trial order once (``by_trial`` (n,), insertion sort: the blocks' trials come in order),
    then each feature is sorted stably (:func:`stable_sort`; ``tmp_i``, ``tmp_f`` (n,)
    scratch).
    """
    for i in range(n):
        t = tr[i]
        j = i
        while j > 0 and tr[by_trial[j - 1]] > t:
            by_trial[j] = by_trial[j - 1]
            j -= 1
        by_trial[j] = i
    for f in range(X.shape[2]):
        for j in range(n):
            r = by_trial[j]
            order[f, j] = r
            vals[f, j] = X[c, tr[r], f]
        stable_sort(order[f], vals[f], n, tmp_i, tmp_f)


@device
def sort_pair(X, c, tr, n, last_c, own_rows, tmp_i, tmp_f, cell_order, cell_vals, pos_of,
              order, vals):
    """A pair's training rows sorted by every feature (:func:`presort_pair`'s ``order``,
    ``vals``), from the cell's sort (done here when the cell ``c`` is not ``last_c``, the
    cell sorted last) or, ``own_rows``, by themselves (:func:`sort_pair_rows`). Returns the
    cell now sorted in ``cell_order``/``cell_vals``."""
    if own_rows:
        sort_pair_rows(X, c, tr, n, pos_of, tmp_i, tmp_f, order, vals)
        return last_c
    if c != last_c:  # pairs run cell by cell: sort each cell's trials once
        presort_cell(X, c, tmp_i, tmp_f, cell_order, cell_vals)
    presort_pair(tr, n, cell_order, cell_vals, pos_of, order, vals)
    return c


def sorts_pair_rows(n_trials: int, max_train: int) -> bool:
    """Whether pairs sort their own rows (:func:`sort_pair_rows`): when a unit has over
    :data:`OWN_SORT_RATIO` times as many trials as a pair trains on."""
    return n_trials > OWN_SORT_RATIO * max_train


@device(inline=True)
def rand_int(low, high, s):
    """scikit-learn's ``rand_int``: xorshift ``our_rand_r`` on the state ``s``, in
    [low, high); returns the draw and the next state (scalars: an inlined array argument
    costs the CPU two atomic reference-count updates per call)."""
    if s == 0:
        s = 1
    s ^= (s << 13) & 0xFFFFFFFF
    s ^= s >> 17
    s ^= (s << 5) & 0xFFFFFFFF
    return low + (s % (RAND_R_MAX + 1)) % (high - low), s


@device(inline=True)
def crit_update(pos, new_pos, end, S, base, ylab, wcls, n_classes, sum_left, sum_total,
                wn_node, wn_left):
    """scikit-learn's ``ClassificationCriterion.update`` from ``pos`` to ``new_pos``.

    Moves samples ``S[base+pos:base+new_pos]`` to the left child, adding forward or
    (when closer to the end) restarting from the full node and subtracting backward.
    Returns the new left weight; ``sum_left`` is updated in place.
    """
    if (new_pos - pos) <= (end - new_pos):
        for p in range(pos, new_pos):
            k = ylab[S[base + p]]
            w = wcls[k]
            sum_left[k] += w
            wn_left += w
    else:
        for k in range(n_classes):
            sum_left[k] = sum_total[k]
        wn_left = wn_node
        for p in range(end - 1, new_pos - 1, -1):
            k = ylab[S[base + p]]
            w = wcls[k]
            sum_left[k] -= w
            wn_left -= w
    return wn_left


@device(inline=True)
def children_gini(n_classes, sum_left, sum_total, wn_left, wn_right):
    sq_l = 0.0
    sq_r = 0.0
    for k in range(n_classes):
        cl = sum_left[k]
        sq_l += cl * cl
        cr = sum_total[k] - sum_left[k]
        sq_r += cr * cr
    return (1.0 - sq_l / (wn_left * wn_left), 1.0 - sq_r / (wn_right * wn_right))


@device(inline=True)
def count_proxy(n_left, n_right, sq_left, sq_right):
    """scikit-learn's float proxy of a split's impurity improvement with unit weights:
    ``n_left`` and ``n_right`` samples, ``sq_*`` the sums of their squared class counts
    (integers; scalars, so the inlined call costs no reference counts)."""
    wl = float(n_left)
    wr = float(n_right)
    gl = 1.0 - float(sq_left) / (wl * wl)
    gr = 1.0 - float(sq_right) / (wr * wr)
    return -wr * gr - wl * gl


@device(inline=True)
def accept_two_class(p, n_left1, n_right, total1, af, df, f, v_prev, v, best_proxy, best_pos,
                     best_feat, best_thr, best_af, best_df, best_l):
    """A two-class candidate against the best so far: ``p`` left samples with ``n_left1``
    ones, ``n_right`` right samples, ``total1`` ones in the node, ``af / df`` its exact proxy
    ratio, between values ``v_prev`` and ``v`` of feature ``f``. Returns the best
    (proxy, pos, feat, thr, af, df, left ones), replaced where the candidate beats it
    (scalars only, so the inlined call costs no reference counts)."""
    if af * best_df >= best_af * df:
        n_right1 = total1 - n_left1
        sq_l = (p - n_left1) * (p - n_left1) + n_left1 * n_left1
        sq_r = (n_right - n_right1) * (n_right - n_right1) + n_right1 * n_right1
        proxy = count_proxy(p, n_right, sq_l, sq_r)
        if proxy > best_proxy:
            return (proxy, p, f, float(v_prev) / 2.0 + float(v) / 2.0, af, df, n_left1)
    return best_proxy, best_pos, best_feat, best_thr, best_af, best_df, best_l


@device
def scan_weighted(f, start, nn, ordi, valsi, row, ylab, wcls, n_classes, sum_left, sum_total,
                  wn_node, min_leaf, best_proxy, best_pos, best_feat, best_thr):
    """Evaluate every split of a node sorted by feature ``f`` (row ``row`` of
    ``ordi``/``valsi``) in scikit-learn's float arithmetic (weighted counts); keep the
    first best.

    :func:`crit_update` and :func:`children_gini` are written out here: an inlined call
    binds its array arguments with atomic reference-count updates, per candidate split.
    """
    for k in range(n_classes):
        sum_left[k] = 0.0
    wn_left = 0.0
    pos = 0
    p = 0
    while p < nn:
        p += 1
        while p < nn and valsi[row, start + p] <= valsi[row, start + p - 1] + FEATURE_THRESHOLD:
            p += 1
        if p >= nn:
            continue
        if p < min_leaf or nn - p < min_leaf:
            continue
        if (p - pos) <= (nn - p):  # crit_update(pos, p, nn, ...)
            for q in range(pos, p):
                k = ylab[ordi[row, start + q]]
                w = wcls[k]
                sum_left[k] += w
                wn_left += w
        else:
            for k in range(n_classes):
                sum_left[k] = sum_total[k]
            wn_left = wn_node
            for q in range(nn - 1, p - 1, -1):
                k = ylab[ordi[row, start + q]]
                w = wcls[k]
                sum_left[k] -= w
                wn_left -= w
        pos = p
        wn_right = wn_node - wn_left
        sq_l = 0.0  # children_gini
        sq_r = 0.0
        for k in range(n_classes):
            cl = sum_left[k]
            sq_l += cl * cl
            cr = sum_total[k] - sum_left[k]
            sq_r += cr * cr
        gl = 1.0 - sq_l / (wn_left * wn_left)
        gr = 1.0 - sq_r / (wn_right * wn_right)
        proxy = -wn_right * gr - wn_left * gl
        if proxy > best_proxy:
            best_proxy = proxy
            best_pos = p
            best_feat = f
            best_thr = (float(valsi[row, start + p - 1]) / 2.0
                        + float(valsi[row, start + p]) / 2.0)
    return best_proxy, best_pos, best_feat, best_thr


@device
def scan_counts(f, start, nn, ordi, valsi, row, ylab, n_classes, cnt_left, cnt_total,
                min_leaf, best_proxy, best_pos, best_feat, best_thr, best_a, best_d):
    """Unweighted scan: exact integer comparison of the gini gain, scikit-learn's float
    proxy only where a split can tie or beat the best (identical choice, fewer divisions).

    With integer counts the proxy is ``-n + sq_l/n_l + sq_r/n_r``; distinct values differ
    by at least ``1/n**4``, far above float rounding for n <= 1000, so the exact order is
    the float order and exact ties are resolved by the float proxy as scikit-learn does.
    Larger nodes use :func:`scan_weighted` (unit weights).
    """
    sq_r = 0
    for k in range(n_classes):
        cnt_left[k] = 0
        sq_r += cnt_total[k] * cnt_total[k]
    sq_l = 0
    for i in range(nn - 1):  # move sample i left; p = i + 1 is a candidate when the
        k = ylab[ordi[row, start + i]]  # next value differs by more than 1e-7
        sq_r -= 2 * (cnt_total[k] - cnt_left[k]) - 1
        sq_l += 2 * cnt_left[k] + 1
        cnt_left[k] += 1
        p = i + 1
        if valsi[row, start + p] <= valsi[row, start + i] + FEATURE_THRESHOLD:
            continue
        n_right = nn - p
        if p < min_leaf or n_right < min_leaf:
            continue
        a = sq_l * n_right + sq_r * p
        d = p * n_right
        if a * best_d >= best_a * d:
            proxy = count_proxy(p, n_right, sq_l, sq_r)
            if proxy > best_proxy:
                best_proxy = proxy
                best_pos = p
                best_feat = f
                best_thr = (float(valsi[row, start + i]) / 2.0
                            + float(valsi[row, start + p]) / 2.0)
                best_a = a
                best_d = d
    return best_proxy, best_pos, best_feat, best_thr, best_a, best_d


@device
def filter_feature(f, start, end, order, vals, mult, member, out_i, out_f):
    """Feature ``f``'s sorted samples of the node labelled ``start``, by filtering the
    root list: ``order[f]``/``vals[f]`` every row by ascending value, row ``r`` repeated
    ``mult[r]`` times when ``member[r] == start``; written to row :data:`FILTER_ROW` of
    ``out_i``/``out_f`` ``[start, end)``. The same order a stable partition at every split
    keeps."""
    m = start
    i = 0
    while m < end:
        r = order[f, i]
        if member[r] == start:
            v = vals[f, i]
            for j in range(mult[r]):
                out_i[FILTER_ROW, m] = r
                out_f[FILTER_ROW, m] = v
                m += 1
        i += 1


@device
def filter_distinct(f, start, nn, order, vals, weight, keep_rows, rows, cum, out_f):
    """Feature ``f``'s distinct rows of a node of ``nn`` samples, by ascending value,
    filtered from the root list ``order[f]``/``vals[f]`` without a branch per row.

    ``weight[r]``: row ``r``'s packed weight in the node, its draw count ``c`` plus
    ``c * 2**COUNT_BITS`` when labelled 1 (0 for rows outside the node). Row ``j`` of the
    result has the value ``out_f[FILTER_ROW, j]``; ``cum[FILTER_ROW, j]`` packs the node's
    samples up to it (low :data:`COUNT_BITS` bits) and the ones among them (above);
    ``keep_rows``: the row is ``rows[start+j]``. Returns the number of distinct rows.
    Writes only below index ``nn`` (at ``k`` while a row of the node is left)."""
    m = 0
    k = 0
    i = 0
    us = np.uint64(start)
    while (m & COUNT_MASK) < nn:
        r = order[f, i]
        w = weight[np.uint32(r)]
        m += w
        uk = np.uint64(k)
        if keep_rows:
            rows[us + uk] = r
        out_f[FILTER_ROW, uk] = vals[f, i]
        cum[FILTER_ROW, uk] = m
        k += np.int64(w != 0)
        i += 1
    return k


@device
def two_valued_rows(order, vals, n, low, two):
    """Which features of a pair take exactly two values, and which rows take the lower.

    ``order``/``vals`` (d, n): the pair's root lists (:func:`presort_pair`). ``two[f]`` = 1
    when feature ``f``'s values are exactly ``vals[f, 0] < vals[f, n - 1]``, more than
    :data:`FEATURE_THRESHOLD` apart (e.g. the 0/1 votes democracy stacks); then
    ``low[f, r]`` = 1 for the rows ``r`` at the lower value, else 0."""
    for f in range(order.shape[0]):
        if n < 2:
            two[f] = 0
            continue
        lo = vals[f, 0]
        hi = vals[f, n - 1]
        ok = hi > lo + FEATURE_THRESHOLD
        for m in range(n):
            v = vals[f, m]
            ok = ok and (v == lo or v == hi)
            low[f, order[f, m]] = 1 if v == lo else 0
        two[f] = 1 if ok else 0


@device
def low_weight(f, n, weight, low):
    """The packed weight (:func:`filter_distinct`'s ``cum``) of the node's samples at the
    lower value of two-valued feature ``f``: ``weight`` (n,) each row's packed weight in
    the node, ``low[f]`` (n,) 1 at the lower value."""
    m = 0
    for r in range(n):
        m += np.int64(weight[r] * low[f, r])
    return m


@device
def grow_tree(n, n_features, n_classes, weighted, max_depth, min_split, min_leaf, seed,
              max_features, ylab, wcls, ordp, valsp, samples, side, tmp_i, tmp_f, features,
              const_features, rng, sum_left, sum_total, cnt_left, cnt_total, stack_i, stack_f,
              node_feat, node_thr, node_left, node_right, node_val, filtered, mult, member,
              roots_i, roots_f, low, two):
    """Grow one tree depth first, as scikit-learn's ``DepthFirstTreeBuilder``.

    The caller prepares the ``n`` samples of ``n_features`` (d) features: ``ylab`` (labels
    by row position), ``wcls`` (class weights), ``ordp``/``valsp`` (d, n) every feature's
    row positions and values in ascending order, ``samples`` (n,) the row positions in
    scikit-learn's sample order.
    ``seed >= 0`` seeds the ``rand_r`` feature draws (visiting features in random order until
    ``max_features`` non-constant ones were scanned); ``seed < 0`` visits every feature in
    index order. Fills ``node_feat``, ``node_thr``, ``node_left``/``node_right`` (-1 at a
    leaf) and ``node_val`` (n_nodes, n_classes): each node's weighted class fractions.

    ``filtered`` grows the same tree without reordering every feature at every split
    (cheaper when few of many features are visited per node): the root lists
    ``roots_i``/``roots_f`` (d, n) then hold every row once (row ``r`` stands for
    ``mult[r]`` samples, which sum to ``n``) and are only read, ``ordp``/``valsp`` are
    scratch of at least one row (its row :data:`FILTER_ROW` receives a visited feature's
    node samples) and ``member`` (n,) int32, its own array, labels each row's node.
    Unfiltered trees ignore ``mult``, ``member``, ``roots_i`` and ``roots_f``.

    Each node ``[start, end)`` is split as scikit-learn's ``node_split_best`` splits it
    (written out in the loop, see there): with ``seed >= 0`` features are drawn in
    scikit-learn's random order until ``max_features`` non-constant ones were visited (the
    tree passes every feature, the random forest fewer). A split reorders every feature's
    segment ``[start, end)`` of ``ordp``/``valsp`` into left samples (``<= threshold``)
    then right ones, each still sorted; when the children cannot be split only feature 0's
    segment is reordered. A ``filtered`` tree filters a visited feature's segment from the
    root lists into row :data:`FILTER_ROW` of ``ordp``/``valsp`` (nothing is partitioned),
    and a split relabels the right child's rows in ``member`` and leaves
    ``samples[start:end]`` left rows first. Unweighted two-class nodes (up to
    :data:`EXACT_SCAN_MAX` samples) filter only the distinct rows with their counts
    (:func:`filter_distinct`, ``tmp_i`` holding the rows' weights in the node) and scan
    the boundaries between them: the same candidates, counts and thresholds. There, a
    feature that takes two values in the pair (``two[f]``, ``low`` from
    :func:`two_valued_rows`; unused by unfiltered trees) has one candidate, the lower value
    left: its counts are a sum over the rows' weights (:func:`low_weight`), and the split
    partitions ``samples[start:end]`` by ``low`` (the order within each side is not read).
    """
    if filtered:
        for r in range(n):
            member[r] = 0 if mult[r] > 0 else -1
    for f in range(n_features):
        features[f] = f
    wn_root = 0.0
    for i in range(n):
        wn_root += wcls[ylab[samples[i]]]
    use_rng = seed >= 0
    rng[0] = seed

    # stack record: start, end, depth, parent, is_left, n_constant; impurity
    stack_i[0, 0] = 0
    stack_i[0, 1] = n
    stack_i[0, 2] = 0
    stack_i[0, 3] = -1
    stack_i[0, 4] = 0
    stack_i[0, 5] = 0
    stack_f[0] = INF
    top = 1
    n_nodes = 0
    while top > 0:
        top -= 1
        start = stack_i[top, 0]
        end = stack_i[top, 1]
        depth = stack_i[top, 2]
        parent = stack_i[top, 3]
        is_left = stack_i[top, 4]
        n_known = stack_i[top, 5]
        impurity = stack_f[top]
        node = n_nodes
        n_nodes += 1
        if parent >= 0:
            if is_left:
                node_left[parent] = node
            else:
                node_right[parent] = node
        node_left[node] = -1
        node_right[node] = -1

        nn = end - start
        for k in range(n_classes):
            sum_total[k] = 0.0
            cnt_total[k] = 0
        wn_node = 0.0
        for r in range(start, end):
            pos = samples[r] if weighted or filtered else ordp[0, r]
            k = ylab[pos]
            sum_total[k] += wcls[k]
            cnt_total[k] += 1
            wn_node += wcls[k]
        for k in range(n_classes):
            node_val[node, k] = sum_total[k] / wn_node

        is_leaf = depth >= max_depth or nn < min_split or nn < 2 * min_leaf
        if node == 0:
            sq = 0.0
            for k in range(n_classes):
                sq += sum_total[k] * sum_total[k]
            impurity = 1.0 - sq / (wn_node * wn_node)
        is_leaf = is_leaf or impurity <= EPS
        if is_leaf:
            continue
        # the node's split (scikit-learn's node_split_best), written out here: a call
        # binds its ~20 array arguments with atomic reference-count updates (Numba does
        # not prune them in a function this size), per node
        children_split = depth + 1 < max_depth
        d = n_features
        nn = end - start
        best_proxy = -INF
        best_pos = nn
        best_feat = 0
        best_thr = 0.0
        best_a = 0
        best_d = 0
        best_af = 0.0  # two classes: the best's a and d (see below) and its left ones
        best_df = 0.0
        best_l = 0
        n_total = n_known
        f_i = d
        n_visited = 0
        n_found = 0
        n_drawn = 0
        f_next = 0
        f_j = 0
        state = rng[0]
        exact = not weighted and nn <= EXACT_SCAN_MAX
        distinct = filtered and exact and n_classes == 2
        min_leaf_f = float(min_leaf)
        n_dist = 0
        if distinct:  # tmp_i[r]: row r's packed weight in the node (filter_distinct)
            for r in range(n):
                tmp_i[r] = 0
            for q in range(start, end):
                r = samples[q]
                tmp_i[r] = mult[r] + ((mult[r] * ylab[r]) << COUNT_BITS)
        total1 = cnt_total[1] if n_classes == 2 else 0
        t1 = float(total1)
        nnf = float(nn)
        while True:
            if use_rng:
                if not (f_i > n_total and (n_visited < max_features
                                           or n_visited <= n_found + n_drawn)):
                    break
                n_visited += 1
                f_j, state = rand_int(n_drawn, f_i - n_found, state)
                if f_j < n_known:
                    t = features[n_drawn]
                    features[n_drawn] = features[f_j]
                    features[f_j] = t
                    n_drawn += 1
                    continue
                f_j += n_found
                f = features[f_j]
            else:  # features in index order
                if f_next >= d:
                    break
                f = f_next
                f_next += 1
            row = f
            two_f = distinct and two[f] != 0
            if two_f:  # one candidate: the lower value left
                packed = low_weight(f, n, tmp_i, low)
                p_low = np.int64(packed & COUNT_MASK)
                const = p_low == 0 or p_low == nn
            elif distinct:
                n_dist = filter_distinct(f, start, nn, roots_i, roots_f, tmp_i, False, samples,
                                         ordp, valsp)
                const = valsp[FILTER_ROW, n_dist - 1] <= valsp[FILTER_ROW, 0] + FEATURE_THRESHOLD
            else:
                if filtered:
                    filter_feature(f, start, end, roots_i, roots_f, mult, member, ordp, valsp)
                    row = FILTER_ROW
                if weighted:  # scikit-learn leaves the node's samples sorted by the last feature
                    for r in range(start, end):
                        samples[r] = ordp[row, r]
                const = valsp[row, end - 1] <= valsp[row, start] + FEATURE_THRESHOLD
            if const:
                pass
            elif two_f:
                n_right = nn - p_low
                if p_low >= min_leaf and n_right >= min_leaf:
                    n_left1 = np.int64(packed >> COUNT_BITS)
                    pf = float(p_low)
                    lf = float(n_left1)
                    nrf = nnf - pf
                    rf = t1 - lf
                    af = lf * lf * nrf + rf * rf * pf
                    df = pf * nrf
                    (best_proxy, best_pos, best_feat, best_thr, best_af, best_df,
                     best_l) = accept_two_class(p_low, n_left1, n_right, total1, af, df, f,
                                                roots_f[f, 0], roots_f[f, n - 1], best_proxy,
                                                best_pos, best_feat, best_thr, best_af, best_df,
                                                best_l)
            elif distinct:
                # the two-class scan below over the node's distinct rows j: candidate p =
                # the samples up to row j, l = the ones among them (packed in ordp), between
                # rows j and j + 1 (only there can the value change); the same candidates in
                # the same order
                ud = np.uint64(n_dist - 1)
                first = np.uint64(0)
                if best_df != 0.0:
                    first = ud
                    bp = float(best_pos)
                    bl = float(best_l)
                    for j in range(ud):
                        pf = float(ordp[FILTER_ROW, j] & COUNT_MASK)
                        lf = float(ordp[FILTER_ROW, j] >> COUNT_BITS)
                        nrf = nnf - pf
                        rf = t1 - lf
                        x = (lf * lf * nrf + rf * rf * pf) * best_df
                        y = best_af * (pf * nrf)
                        can = (x > y) | ((x == y) & ((pf != bp) | (lf != bl)))
                        can &= (pf >= min_leaf_f) & (nrf >= min_leaf_f)
                        v = valsp[FILTER_ROW, j + np.uint64(1)]
                        can &= v > valsp[FILTER_ROW, j] + FEATURE_THRESHOLD
                        cand = j if can else ud
                        first = cand if cand < first else first
                for j in range(first, ud):
                    v_prev = valsp[FILTER_ROW, j]
                    v = valsp[FILTER_ROW, j + np.uint64(1)]
                    if v <= v_prev + FEATURE_THRESHOLD:
                        continue
                    p = np.int64(ordp[FILTER_ROW, j] & COUNT_MASK)
                    n_right = nn - p
                    if p < min_leaf or n_right < min_leaf:
                        continue
                    pf = float(p)
                    n_left1 = np.int64(ordp[FILTER_ROW, j] >> COUNT_BITS)
                    lf = float(n_left1)
                    nrf = nnf - pf
                    rf = t1 - lf
                    af = lf * lf * nrf + rf * rf * pf
                    df = pf * nrf
                    (best_proxy, best_pos, best_feat, best_thr, best_af, best_df,
                     best_l) = accept_two_class(p, n_left1, n_right, total1, af, df, f, v_prev,
                                                v, best_proxy, best_pos, best_feat, best_thr,
                                                best_af, best_df, best_l)
            elif not exact:
                best_proxy, best_pos, best_feat, best_thr = scan_weighted(
                    f, start, nn, ordp, valsp, row, ylab, wcls, n_classes, sum_left, sum_total,
                    wn_node, min_leaf, best_proxy, best_pos, best_feat, best_thr)
            elif n_classes == 2:
                # scan_counts for labels 0/1, written out here (an inlined call costs atomic
                # reference counts per feature). With l ones among the p left samples and r
                # among the n_r right ones the proxy is 2 (l**2/p + r**2/n_r) + const: a =
                # l**2 n_r + r**2 p over d = p n_r is compared exactly (integers below 2**53
                # in float64). tmp_i[p - 1] = l. A vectorised pass finds the first candidate
                # that beats the best, or ties it with another (p, l) (the same split has the
                # same float proxy); the candidates are walked in order from there.
                lo = np.uint64(min_leaf if min_leaf > 1 else 1) - np.uint64(1)
                hi = np.uint64(nn - min_leaf)  # candidates p = i + 1, i in [lo, hi)
                us = np.uint64(start)  # unsigned positions: no negative-index wraparound
                n_one = 0
                for i in range(hi):
                    n_one += ylab[np.uint32(ordp[row, us + i])]
                    tmp_i[i] = n_one
                first = lo
                if best_df != 0.0:  # (the node's first candidate always can)
                    first = hi
                    bp = float(best_pos)
                    bl = float(best_l)
                    for i in range(lo, hi):
                        pf = float(i) + 1.0
                        lf = float(tmp_i[i])
                        nrf = nnf - pf
                        rf = t1 - lf
                        x = (lf * lf * nrf + rf * rf * pf) * best_df
                        y = best_af * (pf * nrf)
                        can = (x > y) | ((x == y) & ((pf != bp) | (lf != bl)))
                        v = valsp[row, us + i + np.uint64(1)]
                        can &= v > valsp[row, us + i] + FEATURE_THRESHOLD
                        cand = i if can else hi
                        first = cand if cand < first else first
                for i in range(first, hi):
                    v_prev = valsp[row, us + i]
                    v = valsp[row, us + i + np.uint64(1)]
                    if v <= v_prev + FEATURE_THRESHOLD:
                        continue
                    pf = float(i) + 1.0
                    lf = float(tmp_i[i])
                    nrf = nnf - pf
                    rf = t1 - lf
                    af = lf * lf * nrf + rf * rf * pf
                    df = pf * nrf
                    p = np.int64(i) + 1
                    (best_proxy, best_pos, best_feat, best_thr, best_af, best_df,
                     best_l) = accept_two_class(p, np.int64(tmp_i[i]), nn - p, total1, af, df, f,
                                                v_prev, v, best_proxy, best_pos, best_feat,
                                                best_thr, best_af, best_df, best_l)
            else:
                best_proxy, best_pos, best_feat, best_thr, best_a, best_d = scan_counts(
                    f, start, nn, ordp, valsp, row, ylab, n_classes, cnt_left, cnt_total,
                    min_leaf, best_proxy, best_pos, best_feat, best_thr, best_a, best_d)
            if not use_rng:
                continue
            if const:
                t = features[f_j]
                features[f_j] = features[n_total]
                features[n_total] = t
                n_found += 1
                n_total += 1
                continue
            f_i -= 1
            t = features[f_i]
            features[f_i] = features[f_j]
            features[f_j] = t
        rng[0] = state
        if use_rng:
            for k in range(n_known):
                features[k] = const_features[k]
            for k in range(n_known, n_total):
                const_features[k] = features[k]
        imp_l = INF
        imp_r = INF
        improvement = -INF
        if best_pos < nn and distinct and two[best_feat] != 0:
            # the node's samples, lower value first (a node's order within each side does
            # not matter: its rows are counted, not scanned in order)
            right = start + best_pos
            a = start
            b = end
            while a < b:
                r = samples[a]
                if low[best_feat, r] != 0:
                    a += 1
                else:
                    b -= 1
                    samples[a] = samples[b]
                    samples[b] = r
                    member[r] = right
            for k in range(n_classes):
                sum_left[k] = 0.0
            sum_left[1] = float(best_l)
            sum_left[0] = float(best_pos - best_l)
            wn_left = float(best_pos)
        elif best_pos < nn and distinct:
            # the best feature's distinct rows again; samples[start:end] becomes the node's
            # samples left first (each row expanded to its count, backward: a row's copies lie
            # at or after its own index), the right rows join the right child
            n_dist = filter_distinct(best_feat, start, nn, roots_i, roots_f, tmp_i, True,
                                     samples, ordp, valsp)
            right = start + best_pos
            for j in range(n_dist - 1, -1, -1):
                r = samples[start + j]
                hi = ordp[FILTER_ROW, j] & COUNT_MASK
                lo = ordp[FILTER_ROW, j - 1] & COUNT_MASK if j > 0 else 0
                if hi > best_pos:
                    member[r] = right
                for q in range(start + lo, start + hi):
                    samples[q] = r
            for k in range(n_classes):
                sum_left[k] = 0.0
            sum_left[1] = float(best_l)
            sum_left[0] = float(best_pos - best_l)
            wn_left = float(best_pos)
        elif best_pos < nn:
            rowb = best_feat
            if filtered:
                filter_feature(best_feat, start, end, roots_i, roots_f, mult, member, ordp, valsp)
                rowb = FILTER_ROW
            for r in range(start, end):
                side[ordp[rowb, r]] = 1 if r < start + best_pos else 0
            if weighted:  # scikit-learn's in-place partition of its sample array
                a = start
                b = end
                while a < b:
                    if side[samples[a]] == 1:
                        a += 1
                    else:
                        b -= 1
                        t = samples[a]
                        samples[a] = samples[b]
                        samples[b] = t
                for k in range(n_classes):
                    sum_left[k] = 0.0
                wn_left = crit_update(0, best_pos, nn, samples, start, ylab, wcls, n_classes,
                                      sum_left, sum_total, wn_node, 0.0)
            else:
                for k in range(n_classes):
                    sum_left[k] = 0.0
                for r in range(start, start + best_pos):
                    sum_left[ylab[ordp[rowb, r]]] += 1.0
                wn_left = float(best_pos)
        if best_pos < nn:
            wn_right = wn_node - wn_left
            imp_l, imp_r = children_gini(n_classes, sum_left, sum_total, wn_left, wn_right)
            improvement = (wn_node / wn_root) * (impurity - wn_right / wn_node * imp_r
                                                 - wn_left / wn_node * imp_l)
        if best_pos < nn and not distinct:
            n_left = best_pos
            n_right = nn - best_pos
            if children_split:  # a child that will be a leaf needs no sorted features
                children_split = ((n_left >= min_leaf + min_leaf and n_left >= 2 and imp_l > EPS)
                                  or (n_right >= min_leaf + min_leaf and n_right >= 2
                                      and imp_r > EPS))
            n_part = d if children_split else 1
            if filtered:
                n_part = 0
                if not weighted:
                    for r in range(start, end):
                        samples[r] = ordp[rowb, r]
                for r in range(start + best_pos, end):
                    member[samples[r]] = start + best_pos
            us = np.uint64(start)  # unsigned positions: no negative-index wraparound
            un = np.uint64(nn)
            for f in range(n_part):  # stable partition of every feature's segment:
                for r in range(un):  # a copy, then left rows to a and right rows to b
                    tmp_i[r] = ordp[f, us + r]
                    tmp_f[r] = valsp[f, us + r]
                a = us
                b = us + np.uint64(best_pos)
                for r in range(un):
                    pos = tmp_i[r]
                    go = np.uint64(side[np.uint32(pos)])
                    dst = a if go else b
                    ordp[f, dst] = pos
                    valsp[f, dst] = tmp_f[r]
                    a += go
                    b += np.uint64(1) - go
        pos = best_pos
        feat = best_feat
        thr = best_thr
        n_const = n_total
        if pos >= nn or improvement + EPS < 0.0:
            continue
        node_feat[node] = feat
        node_thr[node] = thr
        stack_i[top, 0] = start + pos
        stack_i[top, 1] = end
        stack_i[top, 2] = depth + 1
        stack_i[top, 3] = node
        stack_i[top, 4] = 0
        stack_i[top, 5] = n_const
        stack_f[top] = imp_r
        top += 1
        stack_i[top, 0] = start
        stack_i[top, 1] = start + pos
        stack_i[top, 2] = depth + 1
        stack_i[top, 3] = node
        stack_i[top, 4] = 1
        stack_i[top, 5] = n_const
        stack_f[top] = imp_l
        top += 1


@device(inline=True)
def find_leaf(X, c, row, node_feat, node_thr, node_left, node_right):
    """The leaf of a grown tree that trial ``row`` of cell ``c`` falls in."""
    node = 0
    while node_left[node] >= 0:
        if float(X[c, row, node_feat[node]]) <= node_thr[node]:
            node = node_left[node]
        else:
            node = node_right[node]
    return node


@device(inline=True)
def leaf_class(node_val, node, n_classes):
    """The class of largest fraction in ``node`` (the lowest on ties)."""
    best_k = 0
    best_v = node_val[node, 0]
    for k in range(1, n_classes):
        if node_val[node, k] > best_v:
            best_v = node_val[node, k]
            best_k = k
    return best_k


@device
def fit_predict_labelset(X, c, y, tr, n, te, nte, n_classes, balanced, max_depth,
                         min_split, min_leaf, seed, copy_lists, order, vals, counts, ylab, wcls,
                         ordp, valsp, samples, side, tmp_i, tmp_f, features,
                         const_features, rng, sum_left, sum_total, cnt_left, cnt_total,
                         stack_i, stack_f, node_feat, node_thr, node_left, node_right,
                         node_val, out):
    """Grow one label set's tree on a presorted pair and write its test predictions
    (``out``: class per test row, -1 on the padding).

    The tree partitions ``ordp``/``valsp``: with ``copy_lists`` they start as a copy of
    the pair's ``order``/``vals``, else the caller presorted the pair into them (its only
    label set: nothing to copy).
    """
    n_present = count_classes(y, tr, n, n_classes, counts)
    weighted = balanced and n_present > 1
    for k in range(n_classes):
        wcls[k] = 1.0
        if weighted and counts[k] > 0:
            wcls[k] = n / (n_present * float(counts[k]))
    for r in range(n):
        ylab[r] = y[tr[r]]
        samples[r] = r
    if copy_lists:
        for f in range(X.shape[2]):
            for r in range(n):
                ordp[f, r] = order[f, r]
                valsp[f, r] = vals[f, r]
    grow_tree(n, X.shape[2], n_classes, weighted, max_depth, min_split, min_leaf, seed,
              X.shape[2], ylab, wcls, ordp, valsp, samples, side, tmp_i, tmp_f, features,
              const_features, rng, sum_left, sum_total, cnt_left, cnt_total, stack_i, stack_f,
              node_feat, node_thr, node_left, node_right, node_val, False, tmp_i, tmp_i, ordp,
              valsp, ordp, tmp_i)
    for t in range(out.shape[0]):
        if t >= nte:
            out[t] = -1
            continue
        out[t] = leaf_class(node_val, find_leaf(X, c, te[t], node_feat, node_thr, node_left,
                                                node_right), n_classes)


def tree_core(target: str) -> SimpleNamespace:
    """The per-problem tree functions compiled for ``"cpu"`` or ``"cuda"`` (device)."""
    return device_namespace(__name__, target)


# ----------------------------------------------------------------------------- scratch
# Declared once: the CPU kernel allocates its scratch from these shapes, the GPU twin its
# per-cell, per-pair and per-problem buffers (one row per cell, pair or problem).

CELL_SCRATCH_DTYPES = (np.int32, np.float32, np.int32, np.float32)
"""dtypes of the arrays :func:`cell_scratch_shapes` sizes, in its order."""

PAIR_SCRATCH_DTYPES = (np.int32, np.int32, np.float32)
"""dtypes of the arrays :func:`pair_scratch_shapes` sizes, in its order."""

PROBLEM_SCRATCH_DTYPES = (
    np.int64, np.int32, np.float64, np.int32, np.float32, np.int32, np.int8, np.int32,
    np.float32, np.int32, np.int32, np.int64, np.float64, np.float64, np.int64, np.int64,
    np.int32, np.float64, np.int32, np.float64, np.int32, np.int32, np.float64)
"""dtypes of the arrays :func:`problem_scratch_shapes` sizes, in its order."""


@cpu_jit()
def cell_scratch_shapes(n_trials, n_features):
    """One cell's sorted trials, as :func:`presort_cell` takes them: ``tmp_i``, ``tmp_f``
    (n_trials,), ``cell_order``, ``cell_vals`` (d, n_trials)."""
    return ((n_trials,), (n_trials,), (n_features, n_trials), (n_features, n_trials))


@cpu_jit()
def pair_scratch_shapes(n_trials, n_features, max_train):
    """One (cell, slot) pair's sorted training rows, as :func:`presort_pair` takes them:
    ``pos_of`` (n_trials,), ``order``, ``vals`` (d, max_train)."""
    return ((n_trials,), (n_features, max_train), (n_features, max_train))


@cpu_jit()
def problem_scratch_shapes(n_features, max_train, n_classes, n_nodes):
    """One problem's tree-growing scratch, as :func:`fit_predict_labelset` takes it after
    ``order, vals``: counts, ylab, wcls, ordp, valsp, samples, side, tmp_i, tmp_f,
    features, const_features, rng, sum_left, sum_total, cnt_left, cnt_total, stack_i,
    stack_f, node_feat, node_thr, node_left, node_right (``n_nodes``: :func:`max_tree_nodes`),
    node_val (n_nodes, n_classes)."""
    k = (n_classes,)
    n = (max_train,)
    dn = (n_features, max_train)
    f = (n_features,)
    nodes = (n_nodes,)
    return (k, n, k, dn, dn, n, n, n, n, f, f, (1,), k, k, k, k, (max_train + 1, 6),
            (max_train + 1,), nodes, nodes, nodes, nodes, (n_nodes, n_classes))


@cpu_jit()
def allocate_cell_scratch(n_trials, n_features):
    """The CPU kernel's scratch, as :func:`cell_scratch_shapes` declares it."""
    sh = cell_scratch_shapes(n_trials, n_features)
    return (np.empty(sh[0], dtype=np.int32), np.empty(sh[1], dtype=np.float32),
            np.empty(sh[2], dtype=np.int32), np.empty(sh[3], dtype=np.float32))


@cpu_jit()
def allocate_pair_scratch(n_trials, n_features, max_train):
    """The CPU kernel's scratch, as :func:`pair_scratch_shapes` declares it."""
    sh = pair_scratch_shapes(n_trials, n_features, max_train)
    return (np.empty(sh[0], dtype=np.int32), np.empty(sh[1], dtype=np.int32),
            np.empty(sh[2], dtype=np.float32))


@cpu_jit()
def allocate_problem_scratch(n_features, max_train, n_classes, n_nodes):
    """The CPU kernel's scratch, as :func:`problem_scratch_shapes` declares it."""
    return allocate_problem_arrays(problem_scratch_shapes(n_features, max_train, n_classes,
                                                          n_nodes))


@cpu_jit()
def allocate_problem_arrays(sh):
    """Arrays of the shapes ``sh`` (in :func:`problem_scratch_shapes`' order) and
    :data:`PROBLEM_SCRATCH_DTYPES`."""
    i32 = np.int32
    i64 = np.int64
    f32 = np.float32
    return (np.empty(sh[0], dtype=i64), np.empty(sh[1], dtype=i32), np.empty(sh[2]),
            np.empty(sh[3], dtype=i32), np.empty(sh[4], dtype=f32),
            np.empty(sh[5], dtype=i32), np.empty(sh[6], dtype=np.int8),
            np.empty(sh[7], dtype=i32), np.empty(sh[8], dtype=f32),
            np.empty(sh[9], dtype=i32), np.empty(sh[10], dtype=i32),
            np.empty(sh[11], dtype=i64), np.empty(sh[12]), np.empty(sh[13]),
            np.empty(sh[14], dtype=i64), np.empty(sh[15], dtype=i64),
            np.empty(sh[16], dtype=i32), np.empty(sh[17]), np.empty(sh[18], dtype=i32),
            np.empty(sh[19]), np.empty(sh[20], dtype=i32), np.empty(sh[21], dtype=i32),
            np.empty(sh[22]))


# ----------------------------------------------------------------------------- CPU batch

@cpu_jit(parallel=True)
def _tree_batch(X, Y, train_idx, n_train, test_idx, n_test, n_classes, balanced, max_depth,
                min_split, min_leaf, seed, n_nodes_max, own_rows, n_chunks, pred):
    d = X.shape[2]
    n_sets = Y.shape[0]
    n_slots = train_idx.shape[0]
    nmax = train_idx.shape[1]
    n_pairs = X.shape[0] * n_slots
    for ch in prange(n_chunks):
        # one set of scratch per chunk of (cell, slot) pairs
        sort_i, sort_f, cell_order, cell_vals = allocate_cell_scratch(X.shape[1], d)
        pos_of, order, vals = allocate_pair_scratch(X.shape[1], d, nmax)
        (counts, ylab, wcls, ordp, valsp, samples, side, tmp_i, tmp_f, features,
         const_features, rng, sum_left, sum_total, cnt_left, cnt_total, stack_i, stack_f,
         node_feat, node_thr, node_left, node_right, node_val) = allocate_problem_scratch(
            d, nmax, n_classes, n_nodes_max)
        last_c = -1
        for pair in range(ch * n_pairs // n_chunks, (ch + 1) * n_pairs // n_chunks):
            c = pair // n_slots
            s = pair - c * n_slots
            ntr = np.int64(n_train[s])
            nte = np.int64(n_test[s])
            if n_sets == 1:  # one tree per pair: sort straight into its working lists
                last_c = sort_pair(X, c, train_idx[s], ntr, last_c, own_rows, sort_i, sort_f,
                                   cell_order, cell_vals, pos_of, ordp, valsp)
            else:
                last_c = sort_pair(X, c, train_idx[s], ntr, last_c, own_rows, sort_i, sort_f,
                                   cell_order, cell_vals, pos_of, order, vals)
            for lab in range(n_sets):
                fit_predict_labelset(X, c, Y[lab], train_idx[s], ntr, test_idx[s], nte,
                                     n_classes, balanced, max_depth, min_split, min_leaf,
                                     seed, n_sets > 1, order, vals, counts, ylab, wcls, ordp,
                                     valsp, samples, side, tmp_i, tmp_f, features,
                                     const_features, rng, sum_left, sum_total, cnt_left,
                                     cnt_total, stack_i, stack_f, node_feat, node_thr,
                                     node_left, node_right, node_val, pred[c, lab, s])


def _as_count(value, field: str, low: int, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ParameterError(f"{field} must be a whole number >= {low}, got {value!r}.",
                             field=field, fix=f"pass e.g. {field}={example}.")
    return int(value)


def check_distinct_rows(train_idx: np.ndarray, n_train: np.ndarray) -> None:
    """Raise :class:`ParameterError` when a slot lists a training trial twice."""
    for s in range(train_idx.shape[0]):
        rows = train_idx[s, :n_train[s]]
        if np.unique(rows).size != rows.size:
            raise ParameterError(f"train_idx slot {s} lists a trial more than once; the tree "
                                 "kernel needs distinct training trials per slot.",
                                 field="train_idx",
                                 fix="build splits without replacement (SplitPlan does).")


def check_tree_params(max_depth, min_samples_split, min_samples_leaf,
                      random_state) -> tuple[int, int, int, int]:
    """Check the tree hyper-parameters.

    Returns
    -------
    max_depth, min_samples_split, min_samples_leaf, seed
        ``max_depth=None`` becomes a depth no tree reaches; ``seed`` is
        :func:`sklearn_tree_seed` of ``random_state`` (-1 for None).

    Raises
    ------
    ParameterError
    """
    if max_depth is None:
        max_depth = NO_DEPTH_LIMIT
    max_depth = min(_as_count(max_depth, "max_depth", 1, "3"), NO_DEPTH_LIMIT)
    min_split = _as_count(min_samples_split, "min_samples_split", 2, "2")
    min_leaf = _as_count(min_samples_leaf, "min_samples_leaf", 1, "1")
    if random_state is not None and (isinstance(random_state, bool)
                                     or not isinstance(random_state, numbers.Integral)
                                     or not 0 <= random_state < 2 ** 32):
        raise ParameterError(f"random_state must be None or a whole number in 0..2**32-1, "
                             f"got {random_state!r}.", field="random_state",
                             fix="pass e.g. random_state=0 (the tie-breaking order of "
                                 "DecisionTreeClassifier(random_state=0)).")
    return max_depth, min_split, min_leaf, sklearn_tree_seed(random_state)


def fit_predict_tree(X, Y, train_idx, n_train, test_idx, n_test, n_classes, *,
                     standardize=True, class_weight_balanced=False, max_depth=3,
                     min_samples_split=2, min_samples_leaf=1, random_state=0):
    """Fit and predict a batch of decision trees on the CPU (Numba, parallel over problems).

    Each problem (cell ``c``, label set ``l``, split slot ``s``) matches scikit-learn's
    ``DecisionTreeClassifier(max_depth=max_depth, min_samples_split=..., min_samples_leaf=...,
    random_state=random_state)`` fit on the problem's training rows (gini, best splitter,
    natively multiclass).

    Parameters
    ----------
    X : ndarray, shape (n_cells, n_trials, n_features)
        Cells x trials x features, float32 (float64 is rounded to float32), finite.
    Y : ndarray of int, shape (n_labelsets, n_trials)
        Class codes ``0..n_classes-1``; row 0 the observed labels, rows 1.. permutations.
    train_idx : ndarray of int, shape (n_slots, max_train)
        Training trials of each slot, padded with -1.
    n_train : ndarray of int, shape (n_slots,)
    test_idx : ndarray of int, shape (n_slots, max_test)
        Test trials of each slot, padded with -1.
    n_test : ndarray of int, shape (n_slots,)
    n_classes : int
    standardize : bool
        Ignored: trees are invariant to per-feature scaling (see the module docstring).
    class_weight_balanced : bool
        scikit-learn's ``class_weight="balanced"`` (sample weights in the gini counts).
    max_depth : int or None
        Maximal depth; None grows until leaves are pure or too small.
    min_samples_split, min_samples_leaf : int
        As in scikit-learn (integers only).
    random_state : int or None
        An int reproduces the feature order, hence the tie-breaking, of
        ``DecisionTreeClassifier(random_state=random_state)``; None breaks ties by the
        lowest feature index.

    Returns
    -------
    pred : ndarray of int32, shape (n_cells, n_labelsets, n_slots, max_test)
        Predicted class per test row; -1 on the padding. A training set holding a single
        class predicts that class.

    Raises
    ------
    ShapeError, ParameterError, NonFiniteError
        Inconsistent shapes, out-of-range labels or indices, bad hyper-parameters,
        NaN or infinite features.
    """
    X, Y, train_idx, n_train, test_idx, n_test, n_classes = check_batch(
        X, Y, train_idx, n_train, test_idx, n_test, n_classes)
    max_depth, min_split, min_leaf, seed = check_tree_params(
        max_depth, min_samples_split, min_samples_leaf, random_state)
    check_distinct_rows(train_idx, n_train)
    X = np.ascontiguousarray(X, dtype=np.float32)
    return run_pairs(_tree_batch, X, Y, train_idx, n_train, test_idx, n_test, n_classes,
                     bool(class_weight_balanced), max_depth, min_split, min_leaf, seed,
                     max_tree_nodes(max_depth, train_idx.shape[1]),
                     sorts_pair_rows(X.shape[1], train_idx.shape[1]), chunked=True)

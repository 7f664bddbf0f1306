"""The batched random forest against scikit-learn's ``RandomForestClassifier``.

The kernel draws its own random numbers, so a forest cannot equal scikit-learn's fit for
fit: its test accuracy over seeds is compared with scikit-learn's on identical splits (same
settings). Where no randomness is left (no bootstrap, every feature per split) the trees
are scikit-learn's, and a one-tree forest is scikit-learn's tree fit with the bootstrap
counts as sample weights. Planted signal is found, permuted labels and noise cells stay at
chance, and the draws do not depend on how problems are chunked.
"""

import inspect

import numba
import numpy as np
import pytest
from batched_oracle import batch_args, simulate
from scipy.stats import mannwhitneyu
from sklearn.ensemble import RandomForestClassifier
from sklearn.ensemble import _forest as sklearn_forest
from sklearn.tree import DecisionTreeClassifier

from gpudecode.classifiers import get_classifier
from gpudecode.errors import ParameterError
from gpudecode.kernels import forest, tree
from gpudecode.splits import SplitPlan


def test_settings_are_scikit_learns_defaults():
    c = get_classifier("random-forest", batched=True)
    est = c.make_estimator(seed=3)
    assert c.kernel() is forest.fit_predict_forest
    kernel_defaults = {"n_estimators": 100, "max_depth": None, "max_features": "sqrt",
                       "bootstrap": True}
    got = est.get_params()
    assert {k: got[k] for k in kernel_defaults} == kernel_defaults
    assert c.params == {"n_estimators": 100}


def _test_slots(plan):
    s = plan.test_slots
    return plan.train_idx_[s], plan.n_train_[s], plan.test_idx_[s], plan.n_test_[s]


def _accuracy(pred, y, te, nte):
    """Mean test accuracy over slots per cell; pred (n_cells, n_slots, max_test)."""
    valid = np.arange(te.shape[1])[None, :] < nte[:, None]
    truth = y[np.where(valid, te, 0)]
    return ((pred == truth) & valid).sum((-1, -2)) / valid.sum()


def _sklearn_predictions(X, y, tr, ntr, te, nte, **kw):
    """RandomForestClassifier's test predictions, (n_cells, n_slots, max_test), -1 padded."""
    out = np.full((X.shape[0],) + te.shape, -1)
    for c in range(X.shape[0]):
        for s in range(tr.shape[0]):
            a, b = tr[s, :ntr[s]], te[s, :nte[s]]
            model = RandomForestClassifier(n_jobs=1, **kw).fit(X[c, a], y[a])
            out[c, s, :b.size] = model.predict(X[c, b])
    return out


# scikit-learn's forest draws a bootstrap in proportion to class weights since its
# _generate_sample_indices takes sample_weight (1.9 has it); before, it weighted the trees.
WEIGHTED_DRAWS = "sample_weight" in inspect.signature(
    sklearn_forest._generate_sample_indices).parameters


@pytest.mark.parametrize("n_classes, balanced, n_estimators", [(2, False, 100), (3, True, 30)])
def test_accuracy_over_seeds_matches_scikit_learn(n_classes, balanced, n_estimators):
    """20 seeds on identical splits: per cell, the kernel's and scikit-learn's mean test
    accuracies agree within the seed spread, a Mann-Whitney U test does not reject, and the
    kernel's forest predicts like scikit-learn's of another seed as often as two seeds of
    scikit-learn's forest predict alike (the sharper check: same trees in distribution
    means same votes on each test row)."""
    if balanced and not WEIGHTED_DRAWS:
        pytest.skip("this scikit-learn weighs bootstrap trees by class instead of drawing "
                    "rows by class weight (the kernel follows scikit-learn >= 1.9)")
    minority = 0.25 if balanced else None
    X, y = simulate(3, 64, 10, n_classes, seed=5, strengths=[1.2, 0.6], minority=minority)
    plan = SplitPlan(n_shuffles=4, test_size=0.25, n_folds=2, seed=1).fit(y)
    tr, ntr, te, nte = _test_slots(plan)
    weight = "balanced" if balanced else None
    valid = np.arange(te.shape[1])[None, :] < nte[:, None]
    ours, theirs, agree_ours, agree_seeds = [], [], [], []
    previous = None
    for seed in range(20):
        pred = forest.fit_predict_forest(X, y[None], tr, ntr, te, nte, n_classes,
                                         class_weight_balanced=balanced,
                                         n_estimators=n_estimators, random_state=seed)[:, 0]
        sk = _sklearn_predictions(X, y, tr, ntr, te, nte, n_estimators=n_estimators,
                                  class_weight=weight, random_state=seed)
        ours.append(_accuracy(pred, y, te, nte))
        theirs.append(_accuracy(sk, y, te, nte))
        if previous is not None:
            agree_ours.append((pred == previous)[:, valid].mean())
            agree_seeds.append((sk == previous)[:, valid].mean())
        previous = sk
    ours, theirs = np.array(ours), np.array(theirs)      # (seeds, cells)
    assert ours[:, 0].mean() > 1.0 / n_classes + 0.1     # not two chance-level models
    for c in range(X.shape[0]):
        a, b = ours[:, c], theirs[:, c]
        spread = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
        assert abs(a.mean() - b.mean()) <= 4 * spread + 0.01, (c, a.mean(), b.mean())
        if np.ptp(np.r_[a, b]) > 0:
            assert mannwhitneyu(a, b).pvalue > 0.01, (c, a, b)
        # the seed matters as much for ours as for scikit-learn's
        assert 0.25 <= (a.std() + 1e-3) / (b.std() + 1e-3) <= 4.0, (c, a.std(), b.std())
    assert np.mean(agree_ours) >= np.mean(agree_seeds) - 0.01, (agree_ours, agree_seeds)


def _agreement(rows):
    """Fraction of equal predictions over a list of (a, b) prediction arrays."""
    return np.mean(np.concatenate([a == b for a, b in rows]))


@pytest.mark.parametrize("balanced", [False, True])
def test_without_randomness_the_trees_are_scikit_learns(balanced):
    """No bootstrap, every feature per split: a one-tree forest is scikit-learn's fully
    grown tree up to ties between equally good splits, which deep trees meet at small nodes
    and both break by a random feature order: it agrees with scikit-learn's tree as often
    as two seeds of scikit-learn's tree agree with each other."""
    X, y = simulate(3, 48, 8, 3, seed=2, strengths=[1.5, 0.7], minority=0.3)
    plan = SplitPlan(n_shuffles=4, test_size=0.25, n_folds=3, seed=0).fit(y)
    args = batch_args(X, plan, 3)
    pred = forest.fit_predict_forest(*args, class_weight_balanced=balanced, n_estimators=1,
                                     max_features=None, bootstrap=False)[:, 0]
    ours, seeds = [], []
    for c in range(X.shape[0]):
        for s in range(plan.n_slots):
            a = plan.train_idx_[s, :plan.n_train_[s]]
            b = plan.test_idx_[s, :plan.n_test_[s]]
            sk = [DecisionTreeClassifier(class_weight="balanced" if balanced else None,
                                         random_state=r).fit(X[c, a], y[a]).predict(X[c, b])
                  for r in (s, s + 1000)]
            ours.append((pred[c, s, :b.size], sk[0]))
            seeds.append((sk[1], sk[0]))
    assert _agreement(ours) >= min(0.97, _agreement(seeds) - 0.03)


def _bootstrap_counts(X, c, tr, n, y, seed, tree_index):
    """The kernel's bootstrap counts of one tree, from its own (compiled) functions."""
    sort_i, sort_f, cell_order, cell_vals = tree.allocate_cell_scratch(X.shape[1], X.shape[2])
    pos_of, order, vals = tree.allocate_pair_scratch(X.shape[1], X.shape[2], n)
    tree.presort_cell(X, c, sort_i, sort_f, cell_order, cell_vals)
    tree.presort_pair(tr, n, cell_order, cell_vals, pos_of, order, vals)
    key = forest.problem_key(seed, y, tr, n, order)
    kt = forest.combine.py_func(key, tree_index)
    draws = [forest.combine.py_func(kt, i) % n for i in range(n)]
    return np.bincount(draws, minlength=n)


def test_a_bootstrap_tree_is_scikit_learns_tree_weighted_by_draw_counts():
    """Rows drawn k times weigh k, as scikit-learn's forest passes bootstrap counts as
    sample weights: a one-tree forest with every feature per split agrees with
    DecisionTreeClassifier fit with those weights as often as two seeds of that tree agree
    (ties), and clearly more often than with the drawn rows unweighted."""
    X, y = simulate(2, 60, 6, 2, seed=8, strengths=[1.0])
    y = y.astype(np.int32)
    rng = np.random.default_rng(0)
    ours, seeds, unweighted = [], [], []
    for rep in range(20):
        perm = rng.permutation(60).astype(np.int32)
        tr, te = np.sort(perm[:45]), np.sort(perm[45:])
        for c in range(2):
            counts = _bootstrap_counts(X, c, tr, 45, y, 11, 0)
            assert counts.sum() == 45 and (counts == 0).sum() > 5   # a real bootstrap
            pred = forest.fit_predict_forest(X[c:c + 1], y[None], tr[None], [45], te[None],
                                             [15], 2, n_estimators=1, max_features=None,
                                             random_state=11)[0, 0, 0]
            sk = [DecisionTreeClassifier(random_state=r).fit(X[c, tr], y[tr],
                                                             sample_weight=counts)
                  .predict(X[c, te]) for r in (rep, rep + 1000)]
            drawn = tr[counts > 0]
            plain = DecisionTreeClassifier(random_state=rep).fit(X[c, drawn], y[drawn])
            ours.append((pred, sk[0]))
            seeds.append((sk[1], sk[0]))
            unweighted.append((pred, plain.predict(X[c, te])))
    assert _agreement(ours) >= _agreement(seeds) - 0.03
    assert _agreement(ours) >= _agreement(unweighted) + 0.03


def test_planted_signal_found_and_nulls_at_chance():
    X, y = simulate(9, 80, 12, 2, seed=4, strengths=[2.5])      # cells 1..8: noise
    plan = SplitPlan(n_shuffles=6, test_size=0.25, n_folds=2, n_permutations=20,
                     seed=2).fit(y)
    tr, ntr, te, nte = _test_slots(plan)
    pred = forest.fit_predict_forest(X, plan.Y_, tr, ntr, te, nte, 2, n_estimators=50)
    acc = np.array([[_accuracy(pred[c, lab][None], plan.Y_[lab], te, nte)[0]
                     for lab in range(plan.Y_.shape[0])] for c in range(X.shape[0])])
    assert acc[0, 0] > 0.75                                     # the planted cell
    assert abs(acc[1:, 0].mean() - 0.5) < 0.08 and acc[1:, 0].max() < 0.75  # noise cells
    null = acc[:, 1:]                                           # permuted labels
    assert abs(null.mean() - 0.5) < 0.03 and null.max() < 0.75
    assert acc[0, 0] > null[0].max()                            # p = 1 / 21


def test_chunking_order_and_threads_do_not_change_predictions():
    X, y = simulate(4, 40, 5, 3, seed=3, strengths=[1.0, 0.5])
    plan = SplitPlan(n_shuffles=2, test_size=0.25, n_folds=2, n_permutations=3,
                     seed=0).fit(y)
    args = batch_args(X, plan, 3)
    kw = {"n_estimators": 12, "class_weight_balanced": True}
    whole = forest.fit_predict_forest(*args, **kw)
    X_, Y_, tr, ntr, te, nte, k = args
    units = np.concatenate([forest.fit_predict_forest(X_[i:i + 1], *args[1:], **kw)
                            for i in range(4)])
    sets = np.concatenate([forest.fit_predict_forest(X_, Y_[a:b], *args[2:], **kw)
                           for a, b in ((0, 1), (1, 3), (3, 4))], axis=1)
    backwards = forest.fit_predict_forest(X_[::-1], Y_[::-1], *args[2:], **kw)[::-1, ::-1]
    slots = np.concatenate([forest.fit_predict_forest(X_, Y_, tr[s:s + 1], ntr[s:s + 1],
                                                      te[s:s + 1], nte[s:s + 1], k, **kw)
                            for s in range(tr.shape[0])], axis=2)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one_thread = forest.fit_predict_forest(*args, **kw)
    finally:
        numba.set_num_threads(before)
    for other in (units, sets, backwards, slots, one_thread):
        np.testing.assert_array_equal(other, whole)
    assert not np.array_equal(whole, forest.fit_predict_forest(*args, **kw, random_state=1))


def test_padding_and_single_class_training_sets():
    X, y = simulate(1, 30, 4, 2, seed=1, strengths=[1.0])
    plan = SplitPlan(n_shuffles=2, test_size=0.2, n_folds=3, seed=0).fit(y)
    Y = np.stack([y, np.ones_like(y)])
    pred = forest.fit_predict_forest(X, Y, plan.train_idx_, plan.n_train_, plan.test_idx_,
                                     plan.n_test_, 2, n_estimators=5)
    valid = plan.test_idx_ >= 0
    assert np.all(pred[..., ~valid] == -1) and np.all(pred[:, 0][:, valid] >= 0)
    assert np.all(pred[:, 1][:, valid] == 1)


@pytest.mark.parametrize("kw, field", [
    ({"n_estimators": 0}, "n_estimators"), ({"n_estimators": 2.5}, "n_estimators"),
    ({"max_depth": 0}, "max_depth"), ({"max_features": "cube"}, "max_features"),
    ({"max_features": 7}, "max_features"), ({"max_features": 1.5}, "max_features"),
    ({"bootstrap": "yes"}, "bootstrap"), ({"random_state": -1}, "random_state"),
])
def test_bad_parameters_are_typed_errors(kw, field):
    X, y = simulate(1, 20, 6, 2, seed=0, strengths=[1.0])
    plan = SplitPlan(n_shuffles=1, test_size=0.25, n_folds=2, seed=0).fit(y)
    with pytest.raises(ParameterError) as info:
        forest.fit_predict_forest(*batch_args(X, plan, 2), **kw)
    assert info.value.field == field and info.value.fix


def test_max_features_resolves_as_scikit_learn():
    assert [forest.resolve_max_features("sqrt", d) for d in (1, 3, 4, 49, 53)] == \
        [1, 1, 2, 7, 7]
    assert forest.resolve_max_features("log2", 53) == 5
    assert forest.resolve_max_features(None, 9) == 9
    assert forest.resolve_max_features(0.5, 9) == 4 and forest.resolve_max_features(3, 9) == 3


@pytest.mark.parametrize("filtered", [False, True])
def test_scratch_layout_declared_once(filtered):
    """The per-tree scratch is the tree kernel's problem scratch (ending with the nodes'
    class fractions) plus bootstrap counts, test leaves, class draw weights and the
    filtering tree's node labels; a filtering tree's ``ordp``/``valsp`` have one row. The
    CPU allocation is exactly the declaration."""
    # d=3 features, 7 training rows, 4 test rows, 2 classes, 13 nodes
    shapes = forest.tree_scratch_shapes(3, 7, 4, 2, 13, filtered)
    want = list(tree.problem_scratch_shapes(3, 7, 2, 13)) + [(7,), (4,), (2,), (7,)]
    if filtered:
        want[3] = want[4] = (1, 7)
    assert tuple(want[-5]) == (13, 2)
    assert [tuple(s) for s in shapes] == [tuple(s) for s in want]
    arrays = forest.allocate_tree_scratch(3, 7, 4, 2, 13, filtered)
    assert [a.shape for a in arrays] == [tuple(s) for s in want]
    assert [a.dtype for a in arrays] == [np.dtype(t) for t in forest.TREE_SCRATCH_DTYPES]
    votes = forest.allocate_vote_scratch(4, 3)
    assert [a.shape for a in votes] == [tuple(s) for s in forest.vote_scratch_shapes(4, 3)]
    assert votes[0].dtype == np.int64 and not votes[0].any()


@pytest.mark.parametrize("kw", [
    {"n_estimators": 3},
    {"n_estimators": 2, "max_features": None, "bootstrap": False,
     "class_weight_balanced": True},
    {"n_estimators": 2, "max_features": 5, "max_depth": 4, "random_state": 3},
    {"n_estimators": 1, "max_features": "log2", "class_weight_balanced": True},
])
def test_filtering_nodes_grows_the_partitioned_trees(monkeypatch, kw):
    """Filtering each visited feature's node samples from the root lists and partitioning
    every feature at every split grow the same trees (one-tree forests, ties included)."""
    X, y = simulate(2, 48, 60, 3, seed=5, strengths=[1.0])
    X = np.round(X, 1)
    plan = SplitPlan(n_shuffles=2, test_size=0.25, n_folds=2, n_permutations=2,
                     seed=1).fit(y)
    args = batch_args(X, plan, 3)
    paths = []
    for ratio in (0, 10 ** 9):  # every call filters / none does
        monkeypatch.setattr(forest, "FILTER_RATIO", ratio)
        assert forest.filter_nodes(60, 60) == (ratio == 0)
        paths.append(forest.fit_predict_forest(*args, **kw))
    np.testing.assert_array_equal(paths[0], paths[1])


def _votes(n_trials, n_voters, y, rng):
    """0/1 votes, as democracy stacks them: voter v agrees with the label with its own rate."""
    agree = rng.uniform(0.5, 0.8, n_voters)
    right = rng.random((n_trials, n_voters)) < agree
    return np.where(right, y[:, None], 1 - y[:, None]).astype(np.float32)


@pytest.mark.parametrize("kw", [
    {"n_estimators": 3},
    {"n_estimators": 2, "max_features": 3, "max_depth": 5, "random_state": 4},
])
def test_two_valued_features_grow_the_partitioned_trees(monkeypatch, kw):
    """Counting a two-valued feature's lower-value samples (its one candidate split) grows
    the trees that scanning its sorted node samples grows: filtering trees, which take the
    count, against partitioning ones, which never do, on 0/1 votes (with a few 3-valued and
    constant columns among them), every label set a permutation."""
    rng = np.random.default_rng(3)
    y = np.tile([0, 1], 30).astype(np.int32)
    X = np.stack([_votes(60, 40, y, rng) for _ in range(2)])
    X[:, :, 5] = 1.0                                     # a voter that always says 1
    X[0, ::7, 6] = 2.0                                   # a column with three values
    plan = SplitPlan(n_shuffles=2, test_size=0.25, n_folds=2, n_permutations=4,
                     seed=1).fit(y)
    args = batch_args(X, plan, 2)
    tr = plan.train_idx_[0, :plan.n_train_[0]]
    order, vals = _pair_lists(X, 0, tr)
    low, two = forest.allocate_pair_tables(40, tr.size)
    tree.two_valued_rows(order, vals, tr.size, low, two)
    assert two.sum() == 38 and not two[5] and not two[6]  # the path is taken
    np.testing.assert_array_equal(low[0] == 1, X[0, tr, 0] == 0)
    paths = []
    for ratio in (0, 10 ** 9):  # every call filters / none does
        monkeypatch.setattr(forest, "FILTER_RATIO", ratio)
        paths.append(forest.fit_predict_forest(*args, **kw))
    np.testing.assert_array_equal(paths[0], paths[1])


def _pair_lists(X, c, tr):
    """A pair's root lists from the cell's sort (presort_cell, then presort_pair)."""
    sort_i, sort_f, cell_order, cell_vals = tree.allocate_cell_scratch(X.shape[1], X.shape[2])
    pos_of, order, vals = tree.allocate_pair_scratch(X.shape[1], X.shape[2], tr.size)
    tree.presort_cell(X, c, sort_i, sort_f, cell_order, cell_vals)
    tree.presort_pair(tr, tr.size, cell_order, cell_vals, pos_of, order, vals)
    return order, vals


@pytest.mark.parametrize("n_train", [30, 100])  # insertion sort / merge sort
def test_a_pair_sorting_its_own_rows_gets_the_cells_order(n_train):
    """sort_pair_rows gives presort_pair's lists (ties in trial order) for training trials
    in any order, without sorting the cell's other trials."""
    rng = np.random.default_rng(n_train)
    X = np.round(rng.normal(size=(2, 400, 5)), 1).astype(np.float32)  # many ties
    X[1, :, 2] = 0.0
    X[1, ::3, 2] = -0.0
    tr = rng.choice(400, n_train, replace=False).astype(np.int32)       # unsorted
    for c in range(2):
        order, vals = _pair_lists(X, c, tr)
        own_o = np.empty_like(order)
        own_v = np.empty_like(vals)
        tmp_i = np.empty(400, np.int32)
        tmp_f = np.empty(400, np.float32)
        by_trial = np.empty(400, np.int32)
        tree.sort_pair_rows(X, c, tr, tr.size, by_trial, tmp_i, tmp_f, own_o, own_v)
        np.testing.assert_array_equal(own_o, order)
        np.testing.assert_array_equal(own_v.view(np.int32), vals.view(np.int32))


@pytest.mark.parametrize("fit, module", [(forest.fit_predict_forest, forest),
                                         (tree.fit_predict_tree, tree)])
def test_blocks_sorting_their_own_rows_predict_the_same(monkeypatch, fit, module):
    """Units of one problem per block (engine.predict_blocks' layout: many more trials than
    a pair trains on) sort each pair's rows by themselves; the predictions are those of
    the cell's sort."""
    rng = np.random.default_rng(7)
    n_blocks, rows, d = 6, 40, 12
    y = rng.integers(0, 3, n_blocks * rows).astype(np.int32)
    X = np.round(rng.normal(size=(1, n_blocks * rows, d)) + y[None, :, None] * 0.3, 1)
    first = (np.arange(n_blocks) * rows)[:, None]
    tr = (first + rng.permuted(np.tile(np.arange(rows), (n_blocks, 1)), axis=1)[:, :30])
    te = first + np.arange(30, rows)
    args = (X.astype(np.float32), y[None], tr.astype(np.int32), np.full(n_blocks, 30),
            te.astype(np.int32), np.full(n_blocks, rows - 30), 3)
    assert module.sorts_pair_rows(X.shape[1], 30)
    paths = []
    for own in (True, False):
        monkeypatch.setattr(module, "sorts_pair_rows", lambda n_trials, m, own=own: own)
        paths.append(fit(*args, **({"n_estimators": 5} if module is forest else {})))
    np.testing.assert_array_equal(paths[0], paths[1])

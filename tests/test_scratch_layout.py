"""Each kernel's scratch layout is declared once and both twins allocate exactly it.

The per-problem solvers slice preallocated scratch arrays; the GPU twins get nothing but
these arrays, and an array shorter than the solver's slices is a silent out-of-bounds write
on the GPU. So, for every batched kernel:

- the declared shapes (``*_scratch_shapes``) equal sizes worked out by hand from the
  slices each solver takes, for a few shapes (Gram and primal forms, no test rows);
- the CPU kernel's allocation (``allocate_*``) is exactly the declared shapes and dtypes, and
  the CPU batch driver allocates through it and nothing else;
- on numba.cuda (``NUMBA_ENABLE_CUDASIM=1`` or ``GPUDECODE_REAL_CUDA=1``, a separate run,
  see ``cuda_mode.py``), the GPU twin's scratch buffers are the same shapes and dtypes, with
  one thread or problem axis added.
"""

import functools
import importlib

import numpy as np
import pytest
from cuda_mode import CUDA_MARKS

from gpudecode.kernels import _gpu, forest, lda, logistic, rbf_svm, tree
from gpudecode.splits import SplitPlan

f8, i1 = np.float64, np.int8


def on_cuda(test):
    """Mark a test as a numba.cuda test (``cuda_mode.CUDA_MARKS``)."""
    return functools.reduce(lambda fn, mark: mark(fn), CUDA_MARKS, test)


# (arguments of the declaration, hand-computed shapes in its order)
LOGISTIC = [
    # Gram form: Newton system m x m; fs = 10 x 6 + 3 x 10 = 90
    ((6, 2, 9, 2, True),
     [(6, 9), (2, 9), (2, 9), (6, 6), (6, 6), (90,), (2,), (2, 2)]),
    # primal form: system (d+1) square = 4 x 4; fs = 10 x 12 + 3 x 4 = 132
    ((12, 0, 3, 3, False),
     [(12, 3), (1, 3), (2, 3), (1, 1), (4, 4), (132,), (3,), (1, 3)]),
]
LDA = [
    # work side q = max(d, min(m, d + k - 1)) = max(9, min(6, 10)) = 9; fs = k + 2d + m = 26
    ((6, 2, 9, 2),
     [(6, 9), (2, 9), (2, 9), (9, 9), (9, 9), (9, 9), (2, 9), (2, 9), (26,), (2,), (2, 2)]),
    # q = max(3, min(12, 5)) = 5; fs = 3 + 6 + 12 = 21
    ((12, 0, 3, 3),
     [(12, 3), (1, 3), (2, 3), (3, 3), (5, 5), (5, 3), (3, 3), (3, 3), (21,), (3,), (1, 3)]),
]
# xtr, xte, xsq, then the standardisation's per-feature sums (3, d)
RBF_FEATURES = [((6, 2, 9), [(6, 9), (2, 9), (6,), (3, 9)]),
                ((6, 0, 9), [(6, 9), (1, 9), (6,), (3, 9)])]
RBF_KERNELS = [((6, 2), [(6, 6), (6,), (6, 2)]), ((6, 0), [(6, 6), (6,), (6, 1)])]
# (rbf_svm's solver serves the linear-svm kernel too): counts, 9 vectors of max_train,
# scores (max_test or 1, n_classes): one-vs-one votes or one-vs-rest scores per class,
# then Q in solver-slot order (max_train square), its diagonal and WSS3's objectives,
# then the interior-point solver's 10 vectors and bordered Newton matrix (max_train x
# max_train + 2), linear kernel only (0 x 0 for the RBF kernel)
RBF_SOLVER = [((6, 2, 3, False), [(3,)] + [(6,)] * 9 + [(2, 3), (6, 6), (6,), (6,), (0, 0),
                                                        (0, 0)]),
              ((6, 0, 2, False), [(2,)] + [(6,)] * 9 + [(1, 2), (6, 6), (6,), (6,), (0, 0),
                                                        (0, 0)]),
              ((6, 2, 3, True), [(3,)] + [(6,)] * 9 + [(2, 3), (6, 6), (6,), (6,), (10, 6),
                                                       (6, 8)])]
TREE_CELLS = [((10, 3), [(10,), (10,), (3, 10), (3, 10)])]
TREE_PAIRS = [((10, 3, 7), [(10,), (3, 7), (3, 7)])]
# max_tree_nodes(3, 7) = min(2**4 - 1, 2 * 7 - 1) = 13 nodes; node stack holds m + 1 entries;
# node_val holds each node's class fractions (13 x 2)
TREE_PROBLEMS = [((3, 7, 2, 13),
                  [(2,), (7,), (2,), (3, 7), (3, 7), (7,), (7,), (7,), (7,), (3,), (3,), (1,),
                   (2,), (2,), (2,), (2,), (8, 6), (8,), (13,), (13,), (13,), (13,), (13, 2)])]
# a forest tree: the tree problem's scratch (4 test rows) + bcnt (7,), leaf_of (4,), wdraw (2,),
# member (7,); a filtering tree's ordp, valsp have one row
FOREST_TREES = [((3, 7, 4, 2, 13, False), TREE_PROBLEMS[0][1] + [(7,), (4,), (2,), (7,)]),
                ((3, 7, 4, 2, 13, True), TREE_PROBLEMS[0][1][:3] + [(1, 7), (1, 7)]
                 + TREE_PROBLEMS[0][1][5:] + [(7,), (4,), (2,), (7,)])]
FOREST_VOTES = [((4, 3), [(4, 3)])]
# a pair's two-valued features: which rows sit at the lower value (3 x 7), which features (3,)
FOREST_PAIR_TABLES = [((3, 7), [(3, 7), (3,)])]

# name: (declaration, CPU allocation, declared dtypes, hand-computed cases)
LAYOUTS = {
    "logistic": (logistic.scratch_shapes, logistic.allocate_scratch,
                 logistic.SCRATCH_DTYPES, LOGISTIC),
    "lda": (lda.scratch_shapes, lda.allocate_scratch, lda.SCRATCH_DTYPES, LDA),
    "rbf_svm features": (rbf_svm.feature_scratch_shapes, rbf_svm.allocate_feature_scratch,
                         rbf_svm.FEATURE_SCRATCH_DTYPES, RBF_FEATURES),
    "rbf_svm kernels": (rbf_svm.kernel_scratch_shapes, rbf_svm.allocate_kernel_scratch,
                        rbf_svm.KERNEL_SCRATCH_DTYPES, RBF_KERNELS),
    "rbf_svm solver": (rbf_svm.solver_scratch_shapes, rbf_svm.allocate_solver_scratch,
                       rbf_svm.SOLVER_SCRATCH_DTYPES, RBF_SOLVER),
    "tree cells": (tree.cell_scratch_shapes, tree.allocate_cell_scratch,
                   tree.CELL_SCRATCH_DTYPES, TREE_CELLS),
    "tree pairs": (tree.pair_scratch_shapes, tree.allocate_pair_scratch,
                   tree.PAIR_SCRATCH_DTYPES, TREE_PAIRS),
    "tree problems": (tree.problem_scratch_shapes, tree.allocate_problem_scratch,
                      tree.PROBLEM_SCRATCH_DTYPES, TREE_PROBLEMS),
    "forest trees": (forest.tree_scratch_shapes, forest.allocate_tree_scratch,
                     forest.TREE_SCRATCH_DTYPES, FOREST_TREES),
    "forest pair tables": (forest.pair_table_shapes, forest.allocate_pair_tables,
                           forest.PAIR_TABLE_DTYPES, FOREST_PAIR_TABLES),
    "forest votes": (forest.vote_scratch_shapes, forest.allocate_vote_scratch,
                     forest.VOTE_SCRATCH_DTYPES, FOREST_VOTES),
}

# CPU batch drivers and the allocations they must make through the declarations
DRIVERS = [
    (logistic._batch, {"allocate_scratch"}),
    (lda._batch, {"allocate_scratch"}),
    (rbf_svm.svm_batch, {"allocate_feature_scratch", "allocate_kernel_scratch",
                          "allocate_solver_scratch"}),
    (rbf_svm._svm_fixed_block, {"allocate_kernel_scratch", "allocate_solver_scratch"}),
    (tree._tree_batch, {"allocate_cell_scratch", "allocate_pair_scratch",
                        "allocate_problem_scratch"}),
    (forest._forest_batch, {"allocate_cell_scratch", "allocate_pair_scratch",
                            "allocate_pair_tables", "allocate_tree_scratch",
                            "allocate_vote_scratch"}),
]


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_declared_shapes_equal_the_hand_computed_sizes(name):
    declare, _, dtypes, cases = LAYOUTS[name]
    for args, expected in cases:
        shapes = declare(*args)
        assert [tuple(s) for s in shapes] == expected, (name, args)
        assert len(dtypes) == len(expected), name


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_cpu_allocation_is_the_declared_layout(name):
    declare, allocate, dtypes, cases = LAYOUTS[name]
    for args, expected in cases:
        arrays = allocate(*args)
        assert [a.shape for a in arrays] == expected, (name, args)
        assert [a.dtype for a in arrays] == [np.dtype(t) for t in dtypes], (name, args)
        assert _gpu.layout_bytes(declare(*args), dtypes) == sum(a.nbytes for a in arrays)


@pytest.mark.parametrize("driver, allocators", DRIVERS,
                         ids=[d.py_func.__qualname__ for d, _ in DRIVERS])
def test_cpu_drivers_allocate_scratch_only_through_the_declaration(driver, allocators):
    names = set(driver.py_func.__code__.co_names)
    assert allocators <= names
    assert not names & {"empty", "zeros", "full", "ones"}, "inline scratch allocation"


def test_layout_bytes_counts_every_array():
    assert _gpu.layout_bytes(((2, 3), (4,)), (f8, i1)) == 2 * 3 * 8 + 4
    with pytest.raises(ValueError):
        _gpu.layout_bytes(((2, 3), (4,)), (f8,))


# ----------------------------------------------------------------------------- GPU twins

def tiny_batch(n_cells=1, n_trials=12, n_features=3, n_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n_trials) % n_classes)
    X = rng.standard_normal((n_cells, n_trials, n_features)).astype(np.float32)
    plan = SplitPlan(n_shuffles=1, test_size=0.25, n_folds=2, n_permutations=1,
                     seed=seed).fit(y)
    return (X, plan.Y_, plan.train_idx_, plan.n_train_, plan.test_idx_, plan.n_test_,
            plan.n_classes)


@pytest.fixture
def recorded(monkeypatch):
    """Every call of ``_gpu.scratch_arrays`` (wherever imported): shapes, dtypes, n, lead."""
    from gpudecode.kernels import forest_cuda, rbf_svm_cuda, tree_cuda
    calls = []
    real = _gpu.scratch_arrays

    def record(shapes, dtypes, n, *, lead=True):
        calls.append(([tuple(s) for s in shapes], [np.dtype(t) for t in dtypes], n, lead))
        return real(shapes, dtypes, n, lead=lead)

    for module in (_gpu, rbf_svm_cuda, tree_cuda, forest_cuda):
        monkeypatch.setattr(module, "scratch_arrays", record)
    return calls


def cpu_layout(allocate, *args):
    """Shapes and dtypes of the CPU kernel's own scratch allocation."""
    arrays = allocate(*args)
    return [a.shape for a in arrays], [a.dtype for a in arrays]


@on_cuda
@pytest.mark.parametrize("name, n_features", [("logistic", 3), ("logistic", 12), ("lda", 3)])
def test_per_thread_twin_allocates_the_cpu_layout(name, n_features, recorded):
    cpu = {"logistic": logistic, "lda": lda}[name]
    gpu = importlib.import_module(f"gpudecode.kernels.{name}_cuda")
    batch = tiny_batch(n_features=n_features)
    X, Y, train_idx, _, test_idx, _, n_classes = batch
    gpu_pred = getattr(gpu, f"fit_predict_{name}_cuda")(*batch)
    m, mt, d = train_idx.shape[1], test_idx.shape[1], X.shape[2]
    args = (m, mt, d, n_classes) if name == "lda" else (m, mt, d, n_classes,
                                                        cpu.uses_gram(m, d))
    assert len(recorded) == 1
    shapes, dtypes, n_threads, lead = recorded[0]
    assert not lead and n_threads >= 1  # thread axis last
    assert (shapes, dtypes) == cpu_layout(cpu.allocate_scratch, *args)
    np.testing.assert_array_equal(gpu_pred, getattr(cpu, f"fit_predict_{name}")(*batch))


@on_cuda
@pytest.mark.parametrize("kernel", ["rbf_svm", "linear_svm"])
def test_svm_twins_allocate_the_cpu_layout(kernel, recorded):
    gpu = importlib.import_module(f"gpudecode.kernels.{kernel}_cuda")
    fit, fit_fixed = (getattr(gpu, f"fit_predict_{kernel}_cuda"),
                      getattr(gpu, f"fit_predict_{kernel}_fixed_cuda"))
    batch = tiny_batch(n_cells=2, n_classes=3)
    X, Y, train_idx, _, test_idx, _, n_classes = batch
    m, mt, d = train_idx.shape[1], test_idx.shape[1], X.shape[2]
    n_sets = Y.shape[0]
    linear = kernel == "linear_svm"
    fit(*batch, max_scratch_bytes=1)  # one pair per chunk
    features, kernels, solver = recorded
    assert features[:2] == cpu_layout(rbf_svm.allocate_feature_scratch, m, mt, d)
    assert kernels[:2] == cpu_layout(rbf_svm.allocate_kernel_scratch, m, mt)
    assert solver[:2] == cpu_layout(rbf_svm.allocate_solver_scratch, m, mt, n_classes,
                                    linear)
    assert [c[2:] for c in recorded] == [(1, True), (1, True), (n_sets, True)]
    recorded.clear()
    fit_fixed(X[0], *batch[1:])
    kernels, solver = recorded
    assert kernels[:2] == cpu_layout(rbf_svm.allocate_kernel_scratch, m, mt)
    assert solver[:2] == cpu_layout(rbf_svm.allocate_solver_scratch, m, mt, n_classes,
                                    linear)
    assert solver[2] == kernels[2] * n_sets


@on_cuda
def test_tree_twin_allocates_the_cpu_layout(recorded):
    from gpudecode.kernels.tree_cuda import fit_predict_tree_cuda
    batch = tiny_batch(n_cells=2)
    X, Y, train_idx, _, test_idx, _, n_classes = batch
    n_trials, d, m = X.shape[1], X.shape[2], train_idx.shape[1]
    fit_predict_tree_cuda(*batch, max_depth=2, max_scratch_bytes=1)
    cells, pairs, problems = recorded
    assert cells[:2] == cpu_layout(tree.allocate_cell_scratch, n_trials, d)
    assert pairs[:2] == cpu_layout(tree.allocate_pair_scratch, n_trials, d, m)
    assert problems[:2] == cpu_layout(tree.allocate_problem_scratch, d, m, n_classes,
                                      tree.max_tree_nodes(2, m))
    assert pairs[2] == 1 and problems[2] == Y.shape[0]


@on_cuda
@pytest.mark.parametrize("n_features", [3, 20])  # 20 features, 4 visited: filtering trees
def test_forest_twin_allocates_the_cpu_layout(n_features, recorded):
    from gpudecode.kernels.forest_cuda import fit_predict_forest_cuda
    batch = tiny_batch(n_cells=2, n_features=n_features)
    X, Y, train_idx, _, test_idx, _, n_classes = batch
    n_trials, d, m, mt = X.shape[1], X.shape[2], train_idx.shape[1], test_idx.shape[1]
    filtered = forest.filter_nodes(d, forest.resolve_max_features("sqrt", d))
    assert filtered == (n_features == 20)
    pred = fit_predict_forest_cuda(*batch, n_estimators=2, max_depth=2, max_scratch_bytes=1)
    cells, pairs, tables, trees = recorded
    assert cells[:2] == cpu_layout(tree.allocate_cell_scratch, n_trials, d)
    assert pairs[:2] == cpu_layout(tree.allocate_pair_scratch, n_trials, d, m)
    assert tables[:2] == cpu_layout(forest.allocate_pair_tables, d, m)
    assert trees[:2] == cpu_layout(forest.allocate_tree_scratch, d, m, max(mt, 1), n_classes,
                                   tree.max_tree_nodes(2, m), filtered)
    assert trees[0][3] == ((1 if filtered else d), m)
    assert pairs[2] == 1 and tables[2] == 1 and trees[2] == 1
    np.testing.assert_array_equal(pred, forest.fit_predict_forest(*batch, n_estimators=2,
                                                                  max_depth=2))

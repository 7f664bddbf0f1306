"""The random forest's numba.cuda twin against its CPU kernel, in the CUDA simulator.

Run separately, with the variable set before numba is imported::

    NUMBA_ENABLE_CUDASIM=1 pytest -m cudasim tests/test_cudasim_forest.py

(or on a real GPU with ``GPUDECODE_REAL_CUDA=1``, see tests/cuda_mode.py). Both draw the same
random numbers (counter-based keys) and add votes as exact integers, so predictions must be
identical, also when the twin cuts pairs and trees into small chunks. The registry loop of
test_cudasim_classifiers.py runs the forest with its default settings.
"""

import numpy as np
import pytest
from cuda_mode import CUDA_MARKS

pytestmark = CUDA_MARKS

from twin_batches import tiny_batch

from gpudecode.kernels import forest
from gpudecode.kernels._gpu import layout_bytes
from gpudecode.kernels.forest import (
    TREE_SCRATCH_DTYPES,
    fit_predict_forest,
    tree_scratch_shapes,
)
from gpudecode.kernels.forest_cuda import fit_predict_forest_cuda
from gpudecode.kernels.tree import max_tree_nodes


@pytest.mark.parametrize("n_classes, balanced, kw", [
    (2, False, {"n_estimators": 7}),
    (3, True, {"n_estimators": 5, "max_features": None, "bootstrap": False}),
    (3, False, {"n_estimators": 6, "max_depth": 2, "random_state": 9}),
])
def test_gpu_twin_equals_cpu_kernel_in_small_chunks(n_classes, balanced, kw):
    batch = tiny_batch(n_classes, seed=n_classes)
    want = fit_predict_forest(*batch, n_classes, class_weight_balanced=balanced, **kw)
    whole = fit_predict_forest_cuda(*batch, n_classes, class_weight_balanced=balanced, **kw)
    # room for about 3 trees' scratch at once: trees and pairs run in many chunks
    per_tree = layout_bytes(tree_scratch_shapes(3, 11, 4, n_classes, max_tree_nodes(30, 11),
                                                False), TREE_SCRATCH_DTYPES)
    small = fit_predict_forest_cuda(*batch, n_classes, class_weight_balanced=balanced,
                                    max_scratch_bytes=6 * per_tree, **kw)
    np.testing.assert_array_equal(whole, want)
    np.testing.assert_array_equal(small, want)
    assert np.all(want[:, :, 2, 2:] == -1) and np.all(want[:, :, 0, :4] >= 0)


def test_device_float64_input_is_refused():
    from numba import cuda

    from gpudecode.errors import ParameterError
    X, *rest = tiny_batch(2)
    with pytest.raises(ParameterError, match="float32"):
        fit_predict_forest_cuda(cuda.to_device(X.astype(np.float64)),
                                *[cuda.to_device(a) for a in rest], 2, n_estimators=2)


@pytest.mark.parametrize("ratio", [0, 10 ** 9])
def test_gpu_twin_equals_cpu_kernel_filtering_or_partitioning(monkeypatch, ratio):
    monkeypatch.setattr(forest, "FILTER_RATIO", ratio)
    batch = tiny_batch(3, n_features=6, seed=4)
    for balanced, kw in ((False, {"n_estimators": 3}),
                         (True, {"n_estimators": 2, "bootstrap": False, "max_features": 2})):
        want = fit_predict_forest(*batch, 3, class_weight_balanced=balanced, **kw)
        got = fit_predict_forest_cuda(*batch, 3, class_weight_balanced=balanced, **kw)
        np.testing.assert_array_equal(got, want)


def test_gpu_twin_equals_cpu_kernel_on_two_valued_votes():
    """0/1 votes (democracy's stacker features) in filtering trees: the twin fills each
    pair's two-valued tables in its own kernel and counts them as the CPU kernel does."""
    X, Y, *rest = tiny_batch(2, n_features=12, seed=6)
    X = (X > 0).astype(np.float32)
    X[1, :, 3] = 1.0                       # constant in every pair: not two-valued
    assert forest.filter_nodes(12, forest.resolve_max_features("sqrt", 12))
    want = fit_predict_forest(X, Y, *rest, 2, n_estimators=4)
    got = fit_predict_forest_cuda(X, Y, *rest, 2, n_estimators=4)
    np.testing.assert_array_equal(got, want)

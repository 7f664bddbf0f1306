"""numba.cuda RBF SVM and decision tree kernels against their CPU twins, in the CUDA simulator.

Run separately, with the variable set before numba is imported::

    NUMBA_ENABLE_CUDASIM=1 pytest tests/test_cudasim_rbf_tree.py

The simulator runs every GPU thread as a Python thread, so inputs stay tiny.
"""

import numpy as np
import pytest

from cuda_mode import CUDA_MARKS

pytestmark = CUDA_MARKS

from gpudecode.errors import ParameterError, ShapeError  # noqa: E402
from gpudecode.kernels.rbf_svm import fit_predict_rbf_svm, fit_predict_rbf_svm_fixed  # noqa: E402
from gpudecode.kernels.rbf_svm_cuda import (  # noqa: E402
    fit_predict_rbf_svm_cuda,
    fit_predict_rbf_svm_fixed_cuda,
)
from gpudecode.kernels.tree import fit_predict_tree  # noqa: E402
from gpudecode.kernels.tree_cuda import fit_predict_tree_cuda  # noqa: E402


from twin_batches import tiny_batch  # noqa: E402

# The CPU-vs-GPU cases every twin shares are in test_cudasim_classifiers.py (from the registry).


def test_gpu_equals_cpu_with_options_and_small_chunks():
    batch = tiny_batch(2, n_features=4, seed=5)
    want = fit_predict_rbf_svm(*batch, 2, standardize=False, C=2.0, gamma=0.3, shrinking=False)
    got = fit_predict_rbf_svm_cuda(*batch, 2, standardize=False, C=2.0, gamma=0.3,
                                   shrinking=False, max_scratch_bytes=1)  # one pair per chunk
    assert np.array_equal(got, want)
    want = fit_predict_tree(*batch, 2, max_depth=None, random_state=None, min_samples_leaf=2)
    got = fit_predict_tree_cuda(*batch, 2, max_depth=None, random_state=None,
                                min_samples_leaf=2, max_scratch_bytes=1)
    assert np.array_equal(got, want)


def test_tree_gpu_equals_cpu_beyond_insertion_sort():
    """More than 64 trials per cell: the per-cell sort switches to merge sort."""
    X, Y, tr, ntr, te, nte = tiny_batch(2, n_trials=70, n_features=2, seed=7)
    X = np.round(X[:1] * 2) / 2  # ties, so the sort's tie order matters
    tr = np.arange(60, dtype=np.int32)[None]
    te = np.arange(60, 70, dtype=np.int32)[None]
    args = (X, Y[:1], tr, np.array([60], np.int32), te, np.array([10], np.int32), 2)
    for kw in (dict(), dict(class_weight_balanced=True, max_depth=None)):
        assert np.array_equal(fit_predict_tree_cuda(*args, **kw), fit_predict_tree(*args, **kw))


@pytest.mark.parametrize("gpu", [fit_predict_rbf_svm_cuda, fit_predict_tree_cuda])
def test_host_and_device_arrays_mixed_are_refused(gpu):
    from numba import cuda

    batch = tiny_batch(2, seed=1)
    with pytest.raises(ParameterError, match="mixes host"):
        gpu(cuda.to_device(batch[0]), *batch[1:], 2)


def test_fixed_features_device_arrays_and_small_chunks():
    from numba import cuda

    X, Y, tr, ntr, te, nte = tiny_batch(2, n_features=4, seed=6)
    args = (X[1], Y, tr, ntr, te, nte)
    want = fit_predict_rbf_svm_fixed(*args, 2, C=2.0, gamma=0.3, shrinking=False)
    got = fit_predict_rbf_svm_fixed_cuda(*[cuda.to_device(a) for a in args], 2, C=2.0,
                                         gamma=0.3, shrinking=False, max_scratch_bytes=1)
    assert hasattr(got, "copy_to_host")
    assert np.array_equal(got.copy_to_host(), want)
    with pytest.raises(ShapeError, match=r"\[X\].*2-D"):
        fit_predict_rbf_svm_fixed_cuda(X, *args[1:], 2)

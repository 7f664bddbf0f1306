"""numba.cuda RBF SVM and decision tree kernels against their CPU twins, in the CUDA simulator.

Run separately, with the variable set before numba is imported::

    NUMBA_ENABLE_CUDASIM=1 pytest tests/test_cudasim_rbf_tree.py

The simulator runs every GPU thread as a Python thread, so inputs stay tiny.
"""

import os

import numpy as np
import pytest

pytestmark = [
    pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
                       reason="run with NUMBA_ENABLE_CUDASIM=1 (separate pytest run)"),
    pytest.mark.cudasim,
]

from gpudecode.errors import ParameterError, ShapeError  # noqa: E402
from gpudecode.kernels.rbf_svm import fit_predict_rbf_svm, fit_predict_rbf_svm_fixed  # noqa: E402
from gpudecode.kernels.rbf_svm_cuda import (  # noqa: E402
    fit_predict_rbf_svm_cuda,
    fit_predict_rbf_svm_fixed_cuda,
)
from gpudecode.kernels.tree import fit_predict_tree  # noqa: E402
from gpudecode.kernels.tree_cuda import fit_predict_tree_cuda  # noqa: E402

KERNELS = {"rbf_svm": (fit_predict_rbf_svm, fit_predict_rbf_svm_cuda),
           "tree": (fit_predict_tree, fit_predict_tree_cuda)}


def tiny_batch(n_classes=2, n_trials=14, n_features=3, seed=0):
    """2 cells x 2 label sets x 3 slots (unequal sizes, -1 padding); cell 0 carries the class."""
    rng = np.random.default_rng(seed)
    y = (np.arange(n_trials) % n_classes).astype(np.int32)
    X = rng.normal(size=(2, n_trials, n_features))
    X[0] += 1.5 * y[:, None]
    Y = np.stack([y, rng.permutation(y)]).astype(np.int32)
    n_train = np.array([10, 11, 9], dtype=np.int32)
    n_test = np.array([4, 3, 2], dtype=np.int32)
    train_idx = np.full((3, 11), -1, dtype=np.int32)
    test_idx = np.full((3, 4), -1, dtype=np.int32)
    for s in range(3):
        p = rng.permutation(n_trials)
        train_idx[s, :n_train[s]] = p[:n_train[s]]
        test_idx[s, :n_test[s]] = p[n_train[s]:n_train[s] + n_test[s]]
    return X.astype(np.float32), Y, train_idx, n_train, test_idx, n_test


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("n_classes,balanced", [(2, False), (3, True)])
def test_gpu_equals_cpu(name, n_classes, balanced):
    cpu, gpu = KERNELS[name]
    batch = tiny_batch(n_classes, seed=n_classes)
    want = cpu(*batch, n_classes, class_weight_balanced=balanced)
    got = gpu(*batch, n_classes, class_weight_balanced=balanced)
    assert isinstance(got, np.ndarray) and got.dtype == np.int32
    assert np.array_equal(got, want)
    assert np.all(got[:, :, 2, 2:] == -1) and np.all(got[:, :, 0, :4] >= 0)


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


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_single_class_training_set(name):
    cpu, gpu = KERNELS[name]
    X, Y, tr, ntr, te, nte = tiny_batch(2)
    Y = np.stack([Y[0], np.ones_like(Y[0])])
    got = gpu(X, Y, tr, ntr, te, nte, 2)
    assert np.array_equal(got, cpu(X, Y, tr, ntr, te, nte, 2))
    used = np.arange(te.shape[1])[None, :] < nte[:, None]
    assert np.all(got[:, 1][:, used] == 1)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_device_arrays_in_device_array_out(name):
    from numba import cuda

    cpu, gpu = KERNELS[name]
    batch = tiny_batch(2, seed=1)
    got = gpu(*[cuda.to_device(a) for a in batch], 2)
    assert hasattr(got, "copy_to_host")
    assert np.array_equal(got.copy_to_host(), cpu(*batch, 2))
    with pytest.raises(ParameterError, match="mixes host"):
        gpu(cuda.to_device(batch[0]), *batch[1:], 2)


@pytest.mark.parametrize("n_classes,balanced", [(2, False), (3, True)])
def test_fixed_features_gpu_equals_cpu(n_classes, balanced):
    """One trials x features matrix, kernels as sub-blocks of one distance matrix."""
    X, Y, tr, ntr, te, nte = tiny_batch(n_classes, n_features=5, seed=n_classes)
    args = (X[0], Y, tr, ntr, te, nte, n_classes)  # cell 0 carries the class
    want = fit_predict_rbf_svm_fixed(*args, class_weight_balanced=balanced)
    got = fit_predict_rbf_svm_fixed_cuda(*args, class_weight_balanced=balanced)
    assert isinstance(got, np.ndarray) and got.dtype == np.int32 and got.shape == (2, 3, 4)
    assert np.array_equal(got, want)
    assert np.all(got[:, 2, 2:] == -1) and np.all(got[:, 0, :4] >= 0)


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

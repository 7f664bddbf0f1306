"""Every registry classifier's numba.cuda twin against its CPU kernel, in the CUDA simulator.

Run separately, with the variable set before numba is imported::

    NUMBA_ENABLE_CUDASIM=1 pytest -m cudasim tests/test_cudasim_classifiers.py

or on a real GPU with ``GPUDECODE_REAL_CUDA=1`` instead (tests/cuda_mode.py).

The GPU kernels run the CPU kernels' per-problem code, so under the simulator the
predictions must be identical. The simulator runs every GPU thread as a Python thread:
inputs stay tiny (2 cells x 2 label sets x 3 slots of unequal sizes, -1 padded).
Kernel-specific cases (solver forms, options, chunking) live in test_cudasim_linear.py and
test_cudasim_rbf_tree.py.
"""

import numpy as np
import pytest

from cuda_mode import CUDA_MARKS

pytestmark = CUDA_MARKS

from gpudecode.classifiers import BATCHED_CLASSIFIERS  # noqa: E402

from twin_batches import tiny_batch  # noqa: E402

BATCHED = sorted(BATCHED_CLASSIFIERS)
GRAM = sorted(n for n, c in BATCHED_CLASSIFIERS.items() if c.gram_function is not None)


@pytest.mark.parametrize("name", BATCHED)
@pytest.mark.parametrize("n_classes,balanced", [(2, False), (3, True)])
def test_gpu_twin_equals_cpu_kernel(name, n_classes, balanced):
    c = BATCHED_CLASSIFIERS[name]
    batch = tiny_batch(n_classes, seed=n_classes)
    want = c.kernel()(*batch, n_classes, class_weight_balanced=balanced, **c.params)
    got = c.kernel(gpu=True)(*batch, n_classes, class_weight_balanced=balanced, **c.params)
    assert isinstance(got, np.ndarray) and got.dtype == np.int32 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    assert np.all(got[:, :, 2, 2:] == -1) and np.all(got[:, :, 0, :4] >= 0)


@pytest.mark.parametrize("name", BATCHED)
def test_single_class_training_set_predicts_that_class(name):
    c = BATCHED_CLASSIFIERS[name]
    X, Y, tr, ntr, te, nte = tiny_batch(2)
    Y = np.stack([Y[0], np.ones_like(Y[0])])
    got = c.kernel(gpu=True)(X, Y, tr, ntr, te, nte, 2)
    np.testing.assert_array_equal(got, c.kernel()(X, Y, tr, ntr, te, nte, 2))
    used = np.arange(te.shape[1])[None, :] < nte[:, None]
    assert np.all(got[:, 1][:, used] == 1) and np.all(got[..., ~used] == -1)


@pytest.mark.parametrize("name", BATCHED)
def test_device_arrays_in_device_array_out(name):
    from numba import cuda

    c = BATCHED_CLASSIFIERS[name]
    batch = tiny_batch(2, seed=1)
    got = c.kernel(gpu=True)(*[cuda.to_device(a) for a in batch], 2)
    assert hasattr(got, "copy_to_host")
    np.testing.assert_array_equal(got.copy_to_host(), c.kernel()(*batch, 2))


@pytest.mark.parametrize("name", GRAM)
@pytest.mark.parametrize("n_classes,balanced", [(2, False), (3, True)])
def test_gram_twin_equals_cpu_gram_kernel(name, n_classes, balanced):
    """One trials x features matrix, every slot a sub-block of one distance matrix."""
    c = BATCHED_CLASSIFIERS[name]
    X, Y, tr, ntr, te, nte = tiny_batch(n_classes, n_features=5, seed=n_classes)
    args = (X[0], Y, tr, ntr, te, nte, n_classes)  # cell 0 carries the class
    want = c.gram_kernel()(*args, class_weight_balanced=balanced, **c.params)
    got = c.gram_kernel(gpu=True)(*args, class_weight_balanced=balanced, **c.params)
    assert isinstance(got, np.ndarray) and got.dtype == np.int32 and got.shape == (2, 3, 4)
    np.testing.assert_array_equal(got, want)
    assert np.all(got[:, 2, 2:] == -1) and np.all(got[:, 0, :4] >= 0)

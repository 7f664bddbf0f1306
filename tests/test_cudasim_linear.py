"""numba.cuda linear SVM, logistic regression and LDA against their CPU twins (CUDA simulator).

The linear SVM's twin is the RBF SVM's (rbf_svm_cuda; on the linear kernel the interior-point
solver of linear_qp);
logistic regression and LDA run one problem per thread.

Run separately, with the variable set before numba is imported::

    NUMBA_ENABLE_CUDASIM=1 pytest tests/test_cudasim_linear.py

The GPU kernels run the CPU kernels' per-problem code (same source, same coordinate
order), so under the simulator the predictions must be identical. The simulator runs
every GPU thread as a Python thread: inputs stay tiny (2 cells x 2 label sets x 3 slots).
"""

import numpy as np
import pytest

from cuda_mode import CUDA_MARKS, assert_requested_cuda

pytestmark = CUDA_MARKS

from gpudecode.classifiers import BATCHED_CLASSIFIERS  # noqa: E402
from gpudecode.errors import NonFiniteError, ParameterError  # noqa: E402
from gpudecode.kernels.lda_cuda import fit_predict_lda_cuda  # noqa: E402
from gpudecode.kernels.linear_svm import (  # noqa: E402
    fit_predict_linear_svm,
    fit_predict_linear_svm_fixed,
)
from gpudecode.kernels.linear_svm_cuda import (  # noqa: E402
    fit_predict_linear_svm_cuda,
    fit_predict_linear_svm_fixed_cuda,
)
from gpudecode.kernels.logistic import uses_gram as logistic_gram  # noqa: E402
from gpudecode.kernels.logistic_cuda import fit_predict_logistic_cuda  # noqa: E402
from gpudecode.splits import SplitPlan  # noqa: E402

# The CPU-vs-GPU cases every twin shares are in test_cudasim_classifiers.py (from the registry).


def tiny(n_trials, n_features, n_classes, seed=0, minority=None):
    """2 cells (one informative) x n_trials x n_features, a plan with 3 slots, 2 label sets."""
    rng = np.random.default_rng(seed)
    if minority is None:
        y = rng.permutation(np.arange(n_trials) % n_classes)
    else:
        n0 = int(round(minority * n_trials))
        y = rng.permutation(np.r_[np.zeros(n0, int),
                                  1 + np.arange(n_trials - n0) % (n_classes - 1)])
    X = rng.standard_normal((2, n_trials, n_features)).astype(np.float32)
    for k in range(1, n_classes):
        X[0, y == k, (k - 1) % n_features] += 1.5
    plan = SplitPlan(n_shuffles=1, test_size=0.25, n_folds=2, n_permutations=1, seed=seed).fit(y)
    return X, plan


def args_of(X, plan):
    return (X, plan.Y_, plan.train_idx_, plan.n_train_, plan.test_idx_, plan.n_test_,
            plan.n_classes)


def assert_twins_equal(name, X, plan, **kw):
    c = BATCHED_CLASSIFIERS[name]
    cpu = c.kernel()(*args_of(X, plan), **kw)
    gpu = c.kernel(gpu=True)(*args_of(X, plan), **kw)
    assert isinstance(gpu, np.ndarray) and gpu.dtype == np.int32 and gpu.shape == cpu.shape
    np.testing.assert_array_equal(gpu, cpu)
    return cpu


def test_cuda_runs_where_requested():
    assert_requested_cuda()


@pytest.mark.parametrize("n_trials, n_features", [(8, 5), (16, 4)])
def test_linear_svm_binary(n_trials, n_features):
    X, plan = tiny(n_trials, n_features, 2, seed=n_trials)
    pred = assert_twins_equal("linear-svm", X, plan)
    assert set(np.unique(pred)) <= {-1, 0, 1}


def test_linear_svm_four_classes_one_vs_one_in_small_chunks():
    X, plan = tiny(24, 4, 4, seed=6)
    args = args_of(X, plan)
    want = fit_predict_linear_svm(*args, C=0.5, standardize=False, shrinking=False)
    got = fit_predict_linear_svm_cuda(*args, C=0.5, standardize=False, shrinking=False,
                                      max_scratch_bytes=1)  # one pair per chunk
    np.testing.assert_array_equal(got, want)
    assert set(np.unique(want[0, 0])) >= {0, 1, 2, 3}


def test_linear_svm_fixed_features_device_arrays():
    from numba import cuda
    X, plan = tiny(16, 5, 3, seed=9)
    args = args_of(X[0], plan)
    want = fit_predict_linear_svm_fixed(*args, class_weight_balanced=True)
    got = fit_predict_linear_svm_fixed_cuda(*[cuda.to_device(a) for a in args[:-1]],
                                            args[-1], class_weight_balanced=True,
                                            max_scratch_bytes=1)
    np.testing.assert_array_equal(got.copy_to_host(), want)


def test_linear_svm_three_classes_balanced():
    X, plan = tiny(18, 3, 3, seed=3, minority=0.34)
    assert_twins_equal("linear-svm", X, plan, class_weight_balanced=True, C=0.5)


@pytest.mark.parametrize("n_trials, n_features", [(8, 5), (16, 4)])
def test_logistic_binary_both_forms(n_trials, n_features):
    X, plan = tiny(n_trials, n_features, 2, seed=n_trials + 1)
    assert logistic_gram(plan.train_idx_.shape[1], n_features) == (n_trials == 8)
    assert_twins_equal("logistic", X, plan)


def test_logistic_three_classes_balanced():
    X, plan = tiny(18, 3, 3, seed=4, minority=0.34)
    assert_twins_equal("logistic", X, plan, class_weight_balanced=True, C=3.0)


@pytest.mark.parametrize("n_classes, n_trials, n_features, shrinkage", [
    (2, 12, 5, "auto"),
    (3, 18, 4, 0.2),
    (2, 20, 3, None),     # full rank: Cholesky
    (2, 8, 5, None),      # fewer trials than features: minimum-norm solution
])
def test_lda(n_classes, n_trials, n_features, shrinkage):
    X, plan = tiny(n_trials, n_features, n_classes, seed=n_trials)
    assert_twins_equal("lda", X, plan, shrinkage=shrinkage)


def test_lda_constant_feature_uses_the_eigen_fallback():
    X, plan = tiny(16, 3, 2, seed=5)
    X[:, :, 2] = 0.5
    assert_twins_equal("lda", X, plan, shrinkage=None, class_weight_balanced=True)


def test_device_arrays_in_device_array_out():
    from numba import cuda
    X, plan = tiny(8, 5, 2, seed=7)
    host = fit_predict_linear_svm(*args_of(X, plan))
    dev = fit_predict_linear_svm_cuda(*[cuda.to_device(a) for a in args_of(X, plan)[:-1]],
                                      plan.n_classes)
    assert not isinstance(dev, np.ndarray)
    np.testing.assert_array_equal(dev.copy_to_host(), host)
    with pytest.raises(ParameterError, match="mixes host"):
        fit_predict_linear_svm_cuda(cuda.to_device(X), *args_of(X, plan)[1:])
    with pytest.raises(ParameterError) as err:
        fit_predict_lda_cuda(cuda.to_device(X), cuda.to_device(plan.Y_.astype(np.int64)),
                             *args_of(X, plan)[2:])
    assert err.value.field == "Y"


def test_host_input_is_checked_like_the_cpu_kernel():
    X, plan = tiny(8, 3, 2, seed=8)
    X[1, 2, 0] = np.nan
    with pytest.raises(NonFiniteError):
        fit_predict_logistic_cuda(*args_of(X, plan))

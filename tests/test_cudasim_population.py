"""Population and time-resolved decoding on the GPU path (CUDA simulator) equal the CPU path."""

import warnings

import numpy as np

from cuda_mode import CUDA_MARKS, gpu_backend

pytestmark = CUDA_MARKS


def _epochs():
    from gpudecode import Epochs
    rng = np.random.default_rng(1)
    labels = np.array(["a", "b"] * 6)
    data = rng.normal(size=(12, 4, 8)).astype(np.float32)
    data[labels == "a", :2, 4:] += rng.normal(size=(6, 1, 4)).astype(np.float32) * 2
    return Epochs(data, labels, np.arange(8) / 30.0, {"anchor_time": np.arange(12.0)},
                  np.array(["c0", "c1", "c2", "c3"]), {}, None, 1 / 30.0)


def test_population_engines_gpu_equal_cpu():
    from gpudecode import Backend, SplitPlan
    from gpudecode.features import correlation_features
    from gpudecode.population import decode_features
    ep = _epochs()
    plan = SplitPlan(n_shuffles=2, test_size=0.25, n_folds=2, n_permutations=2,
                     seed=0).fit(ep.labels)
    gpu, cpu = gpu_backend(), Backend.from_device("cpu")
    C = correlation_features(ep, 1, 1, cpu)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = decode_features(C, plan, "rbf-svm,linear-svm", standardize=False, backend=gpu)
        b = decode_features(C, plan, "rbf-svm,linear-svm", standardize=False, backend=cpu)
    assert a.engines == ["batched-gram", "batched-gram"]  # both SVMs: one Gram matrix
    for key in ("test_accuracy", "cv_accuracy", "null_accuracy"):
        np.testing.assert_allclose(getattr(a, key), getattr(b, key))


def test_time_resolved_gpu_equals_cpu():
    from gpudecode import Backend, SplitPlan
    from gpudecode.time_resolved import decode_timecourse
    ep = _epochs()
    plan = SplitPlan(n_shuffles=2, test_size=0.25, n_folds=2, n_permutations=2,
                     seed=0).fit(ep.labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = decode_timecourse(ep, plan, "linear-svm", time_window=4, time_step=4,
                              backend=gpu_backend())
        b = decode_timecourse(ep, plan, "linear-svm", time_window=4, time_step=4,
                              backend=Backend.from_device("cpu"))
    np.testing.assert_allclose(a.test_accuracy, b.test_accuracy)
    np.testing.assert_allclose(a.null_accuracy, b.null_accuracy)

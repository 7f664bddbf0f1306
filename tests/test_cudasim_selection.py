"""In-fold selection and democracy's stackers on the GPU path (CUDA simulator, or a real GPU
with GPUDECODE_REAL_CUDA=1) equal the CPU path: same F scores and selections, the GPU twins
of the kernels on each problem's own features (engine.predict_blocks)."""

import warnings

import numpy as np
from cuda_mode import CUDA_MARKS, gpu_backend

pytestmark = CUDA_MARKS


def test_selected_features_and_batched_select_gpu_equal_cpu():
    from gpudecode import Backend, SplitPlan
    from gpudecode.population import decode_features
    from gpudecode.selection import selected_features
    rng = np.random.default_rng(2)
    labels = np.array(["a", "b"] * 8)
    X = rng.normal(size=(16, 12)).astype(np.float32)
    X[labels == "a", :2] += 1.5
    plan = SplitPlan(n_shuffles=2, test_size=0.25, n_folds=2, n_permutations=2,
                     seed=0).fit(labels)
    gpu, cpu = gpu_backend(), Backend.from_device("cpu")
    slots = np.arange(plan.n_slots)
    np.testing.assert_array_equal(selected_features(X, plan, 4, slots, slice(None), backend=gpu),
                                  selected_features(X, plan, 4, slots, slice(None), backend=cpu))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = decode_features(X, plan, "logistic,tree", select_k=4, backend=gpu)
        b = decode_features(X, plan, "logistic,tree", select_k=4, backend=cpu)
    assert a.engines == b.engines == ["batched-select", "batched-select"]
    for key in ("test_accuracy", "cv_accuracy", "null_accuracy"):
        np.testing.assert_allclose(getattr(a, key), getattr(b, key))


def test_batched_stackers_gpu_equal_cpu():
    from gpudecode import Backend, SplitPlan
    from gpudecode.democracy import predict_stackers
    rng = np.random.default_rng(3)
    labels = np.array(["a", "b"] * 8)
    plan = SplitPlan(n_shuffles=2, test_size=0.25, n_folds=2, n_permutations=1,
                     seed=0).fit(labels)
    votes = rng.integers(0, 2, size=(5, 2, plan.n_slots, plan.test_idx_.shape[1]))
    votes = votes.astype(np.int32)
    args = (votes, plan, slice(0, 2), ["logistic", "tree"])
    a = predict_stackers(*args, backend=gpu_backend())
    b = predict_stackers(*args, backend=Backend.from_device("cpu"))
    np.testing.assert_array_equal(a, b)

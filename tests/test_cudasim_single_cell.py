"""decode_cells on the GPU path (numba.cuda kernels in the CUDA simulator) equals the CPU path."""

import warnings

import numpy as np
import pytest

from cuda_mode import CUDA_MARKS, gpu_backend

pytestmark = CUDA_MARKS

from gpudecode.classifiers import BATCHED_CLASSIFIERS  # noqa: E402


@pytest.mark.parametrize("classifier", sorted(BATCHED_CLASSIFIERS))
def test_gpu_backend_equals_cpu(classifier):
    from gpudecode import Backend, Epochs, SplitPlan
    from gpudecode.single_cell import decode_cells

    rng = np.random.default_rng(0)
    labels = np.array(["a", "b"] * 6)
    data = rng.normal(size=(12, 2, 8)).astype(np.float32)
    data[labels == "a", 0] += 1.0
    ep = Epochs(data, labels, np.arange(8) / 30.0, {"anchor_time": np.arange(12.0)},
                np.array(["c0", "c1"]), {}, None, 1 / 30.0)
    plan = SplitPlan(n_shuffles=2, test_size=0.25, n_folds=2, n_permutations=2, seed=0).fit(labels)
    gpu = gpu_backend()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = decode_cells(ep, plan, classifiers=classifier, window_frames=2, step_frames=2,
                         backend=gpu)
        b = decode_cells(ep, plan, classifiers=classifier, window_frames=2, step_frames=2,
                         backend=Backend.from_device("cpu"))
    assert gpu.is_gpu
    for key in ("test_accuracy", "cv_accuracy", "null_accuracy"):
        np.testing.assert_allclose(getattr(a, key), getattr(b, key))

"""Single-cell decoding end to end: planted cells found, nothing found where nothing was planted,
agreement with scikit-learn on identical splits, and chunking that changes nothing."""

import warnings

import numpy as np
import pytest

from gpudecode import Backend, SplitPlan, TrialSpec, make_epochs, simulate_session
from gpudecode.bench import SKLEARN_EQUIVALENTS, sklearn_study_loop
from gpudecode.errors import ParameterError
from gpudecode.features import window_features
from gpudecode.single_cell import decode_cells

SPEC = TrialSpec(anchors=("Correct", "Incorrect"), pre=0.5, post=1.5,
                 exclude_events=("Start Correction Trial",), exclude_within=12.0)


def _epochs(null=False, seed=3, n_cells=30, n_trials=48):
    roles = None if null else {"outcome": 0.2, "location": 0.0, "object": 0.0, "ensemble": 0.0}
    sess, truth = simulate_session(n_cells=n_cells, n_trials=n_trials, session_index=5,
                                   seed=seed, null=null, roles=roles)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_epochs(sess, SPEC), truth


@pytest.fixture(scope="module")
def planted():
    return _epochs()


def test_planted_outcome_cells_are_found_and_fdr_controls_the_rest(planted):
    ep, truth = planted
    plan = SplitPlan(n_shuffles=10, n_folds=3, n_permutations=99, seed=0).fit(ep.labels)
    res = decode_cells(ep, plan, classifiers="lda", window_frames=4, step_frames=2, metric="balanced")
    roles = np.asarray(truth["role"])
    outcome = roles == "outcome"
    assert outcome.sum() >= 4
    p = res.p_value[0]
    assert np.median(p[outcome]) <= 0.02
    found = res.significant[0]
    assert found[outcome].mean() >= 0.5
    # false discoveries among untuned cells stay rare
    assert found[~outcome].sum() <= 1
    assert res.test_balanced[0, outcome].mean() > res.test_balanced[0, ~outcome].mean() + 0.1


def test_nothing_planted_nothing_found():
    ep, _ = _epochs(null=True, seed=11)
    plan = SplitPlan(n_shuffles=10, n_folds=3, n_permutations=99, seed=1).fit(ep.labels)
    res = decode_cells(ep, plan, classifiers="lda", window_frames=4, step_frames=2, metric="balanced")
    assert res.significant.sum() == 0
    # p-values of null cells are roughly uniform, not piled up near 0
    assert (res.p_value[0] < 0.05).mean() <= 0.15
    assert 0.3 <= np.median(res.p_value[0]) <= 0.7


def test_per_cell_accuracies_match_scikit_learn_on_identical_splits(planted):
    ep, _ = planted
    plan = SplitPlan(n_shuffles=6, n_folds=5, seed=2).fit(ep.labels)
    names = list(SKLEARN_EQUIVALENTS)
    params = {"tree": {"max_depth": 3}}
    res = decode_cells(ep, plan, classifiers=names, window_frames=4, step_frames=2, params=params)
    X = window_features(ep, 4, 2, Backend.from_device("cpu"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk_test, sk_cv, _ = sklearn_study_loop(X, plan, names, params, n_cells=8)
    ours_test = res.test_accuracy[:, :8].mean(-1)
    ours_cv = res.cv_accuracy[:, :8].mean(-1).mean(-1)
    np.testing.assert_allclose(ours_test, sk_test.mean(-1), atol=0.01)
    np.testing.assert_allclose(ours_cv, sk_cv.mean(-1), atol=0.01)


def test_chunking_changes_nothing(planted):
    ep, _ = planted
    plan = SplitPlan(n_shuffles=4, n_folds=3, n_permutations=20, seed=4).fit(ep.labels)
    whole = decode_cells(ep, plan, classifiers="logistic", window_frames=4, step_frames=2)
    tiny = decode_cells(ep, plan, classifiers="logistic", window_frames=4, step_frames=2, max_chunk_bytes=1)
    calls = []
    decode_cells(ep, plan, classifiers="logistic", window_frames=4, step_frames=2, max_chunk_bytes=200_000,
                 progress=lambda d, t: calls.append((d, t)))
    assert len(calls) > 2 and calls[-1][0] == calls[-1][1]
    for key in ("test_accuracy", "cv_accuracy", "null_accuracy", "p_value"):
        np.testing.assert_array_equal(getattr(whole, key), getattr(tiny, key))


def test_rows_follow_the_cells_csv_contract(planted):
    ep, _ = planted
    plan = SplitPlan(n_shuffles=4, n_folds=3, seed=0).fit(ep.labels)
    res = decode_cells(ep, plan, classifiers="lda,tree", window_frames=4, step_frames=2, threshold=0.7)
    rows = res.rows()
    assert len(rows) == 2 * ep.n_cells
    r = rows[0]
    for col in ("cell", "cell_id", "classifier", "test_accuracy", "balanced_accuracy",
                "cv_accuracy", "n_above_threshold", "p_value", "q_value"):
        assert col in r
    assert r["n_above_threshold"] == int((res.test_accuracy[0, 0] > 0.7).sum())
    assert np.isnan(r["p_value"])     # no permutations: no p-value


def test_bad_options():
    ep, _ = _epochs(n_cells=4)
    with pytest.raises(ParameterError, match="--classifier"):
        decode_cells(ep, classifiers="svm")
    with pytest.raises(ParameterError, match="--metric"):
        decode_cells(ep, classifiers="lda", metric="f1")


def test_gpu_out_of_memory_retries_with_smaller_chunks(planted, monkeypatch):
    """A device that runs out of memory above some chunk size: the run halves and goes on."""
    from gpudecode.classifiers import BatchedClassifier
    from gpudecode.kernels import sliding_mean

    class OutOfMemoryError(RuntimeError):
        pass

    class FakeGPU(Backend):
        def sliding_mean(self, x, width, step):
            return sliding_mean(x, width, step)

        def free_memory_bytes(self):
            return 10**12

    real_kernel = BatchedClassifier.kernel
    chunks = []

    def kernel(self, gpu=False):
        cpu = real_kernel(self, gpu=False)

        def run(X, Y, tr, ntr, te, nte, n_classes, **kw):
            problems = X.shape[0] * Y.shape[0] * tr.shape[0]
            if problems > 300:
                raise OutOfMemoryError("Out of memory allocating 1,234 bytes")
            chunks.append(problems)
            return cpu(X, Y, tr, ntr, te, nte, n_classes, **kw)
        return run

    ep, _ = planted
    plan = SplitPlan(n_shuffles=4, n_folds=3, n_permutations=30, seed=5).fit(ep.labels)
    cpu = decode_cells(ep, plan, classifiers="lda", window_frames=4, step_frames=2)
    monkeypatch.setattr(BatchedClassifier, "kernel", kernel)
    gpu = FakeGPU(name="gpu", xp=np, reason="fake", device_name="fake")
    res = decode_cells(ep, plan, classifiers="lda", window_frames=4, step_frames=2, backend=gpu)
    assert max(chunks) <= 300 and len(chunks) > 3
    for key in ("test_accuracy", "cv_accuracy", "null_accuracy", "p_value"):
        np.testing.assert_array_equal(getattr(res, key), getattr(cpu, key))
    # the same error on the CPU is a real error, not retried
    monkeypatch.setattr(BatchedClassifier, "kernel", kernel)
    with pytest.raises(OutOfMemoryError):
        decode_cells(ep, plan, classifiers="lda", window_frames=4, step_frames=2,
                     backend=Backend.from_device("cpu"))

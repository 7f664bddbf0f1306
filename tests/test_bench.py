"""Benchmarks run end to end and say what they measured (no timing is asserted)."""

import csv
import io

import numpy as np

from gpudecode.bench import bench_cohort


def test_bench_cohort_one_worker_vs_two_gives_the_same_sessions(tmp_path):
    # The summed-activity random forest runs in scikit-learn, so no worker compiles kernels.
    res = bench_cohort(n_animals=1, n_sessions=3, n_cells=8, n_trials=36, workers=[1, 2],
                       analyses="summed", population_classifiers="random-forest",
                       shuffles=2, folds=0, device="cpu", seed=1, work_dir=tmp_path)
    assert res["workers"] == [1, 2] and res["n_sessions"] == 3 and res["n_cells"] == 8
    assert res["targets"] == ["object"] and list(res["config"]["analyses"]) == ["summed"]
    assert "cpu" in res["device"].lower() and res["n_cores"] >= 1 and res["cpu"]
    assert [r["n_workers"] for r in res["runs"]] == [1, 2]
    for run in res["runs"]:
        assert run["n_done"] == 3 and run["n_failed"] == 0 and run["failures"] == []
        assert 0 < run["first_session_s"] <= run["sessions_done_s"] <= run["wall_s"]
        assert run["sessions_per_min"] == np.float64(60 * 3 / run["wall_s"])
        assert 0 < run["session_s_median"] <= run["session_s_max"]
        assert run["steady_sessions_per_min"] > 0      # 3 sessions > the worker count
    assert res["scaling"] == res["runs"][1]["sessions_per_min"] / res["runs"][0]["sessions_per_min"]
    assert res["identical_models"] is True
    one, two = tmp_path / "run-1-workers", tmp_path / "run-2-workers"
    sessions = sorted(p.relative_to(one) for p in one.glob("sim01/*/object/models.csv"))
    assert len(sessions) == 3
    for rel in sessions:
        text = (one / rel).read_text()
        assert text == (two / rel).read_text()
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [(r["analysis"], r["classifier"]) for r in rows] == [("summed", "random-forest")]
        assert 0 <= float(rows[0]["test_accuracy"]) <= 1


def test_study_loop_null_fits_every_permutation_on_the_test_splits():
    from gpudecode.bench import sklearn_study_loop
    from gpudecode.splits import SplitPlan

    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 30, 4)).astype(np.float32)
    labels = np.repeat(["a", "b"], 15)
    plan = SplitPlan(n_shuffles=3, n_folds=3, n_permutations=4, seed=0).fit(labels)
    test, cv, n_fits = sklearn_study_loop(X, plan, ["logistic"], n_cells=2)
    test_null, cv_null, n_fits_null = sklearn_study_loop(X, plan, ["logistic"], n_cells=2,
                                                         null=True)
    assert n_fits == 2 * 3 * (1 + 3)
    assert n_fits_null == n_fits + 2 * 3 * 4        # one fit per cell, shuffle and permutation
    np.testing.assert_array_equal(test_null, test)  # the observed scores are unchanged
    np.testing.assert_array_equal(cv_null, cv)

"""DecodeConfig checks its numbers up front (Python API and CLI alike)."""

from __future__ import annotations

import numpy as np
import pytest
from cli_checks import cli_error

from gpudecode.errors import ParameterError
from gpudecode.io.traces_csv import write_traces_csv
from gpudecode.pipeline import DecodeConfig


@pytest.mark.parametrize("kwargs, field", [
    (dict(threshold=float("nan")), "--threshold"),
    (dict(threshold=1.5), "--threshold"),
    (dict(threshold=-0.1), "--threshold"),
    (dict(alpha=0.0), "--alpha"),
    (dict(alpha=1.0), "--alpha"),
    (dict(alpha=float("nan")), "--alpha"),
    (dict(alpha="a lot"), "--alpha"),
])
def test_out_of_range_values_are_refused(kwargs, field):
    with pytest.raises(ParameterError) as exc:
        DecodeConfig(**kwargs)
    assert exc.value.field == field and "Fix:" in str(exc.value)


def test_edges_that_are_allowed():
    config = DecodeConfig(threshold=0.0, alpha=0.999)
    assert config.threshold == 0.0 and config.alpha == 0.999
    assert DecodeConfig(threshold=1.0).threshold == 1.0


@pytest.mark.parametrize("argv, needles", [
    (["--threshold", "nan"], ["[--threshold]", "between 0 and 1"]),
    (["--alpha", "1.5"], ["[--alpha]", "strictly between 0 and 1"]),
    (["--alpha", "0"], ["[--alpha]", "--alpha 0.05"]),
    (["--pre", "-1"], ["[pre]", "before the anchor", "--pre 1"]),
    (["--post", "-0.5", "--pre", "2"], ["[post]", "after the anchor"]),
])
def test_cli_refuses_before_reading(tmp_path, capsys, argv, needles):
    write_traces_csv(tmp_path / "traces.csv", np.ones((2, 50)), np.arange(50) / 10.0)
    cli_error(["decode", tmp_path / "traces.csv", "--anchor", "A", "--out", tmp_path / "out",
               *argv], capsys, tmp_path, *needles)


def test_one_cell_with_every_analysis_names_the_analyses_that_need_more(tmp_path, capsys):
    """Correlations and democracy need two cells: one line naming the file, --analysis and
    the analyses that can run, before any fit (it used to be '[X] X has no features')."""
    from gpudecode.simulate import simulate_session, write_simulation
    data = tmp_path / "data"
    paths = write_simulation(data, [simulate_session(n_cells=1, seed=2, session_index=6)],
                             formats=("h5",))
    h5 = next(p for p in map(str, paths) if p.endswith(".h5"))
    line = cli_error(["decode", h5, "--target", "outcome", "--analysis", "all",
                      "--shuffles", "2", "--permutations", "4", "--out", tmp_path / "res"],
                     capsys, data, h5, "[--analysis]", "correlation needs >= 2 cells",
                     "--analysis single-cell,summed,time-resolved")
    assert "has no features" not in line
    assert not (tmp_path / "res").exists()


@pytest.mark.parametrize("population, expected", [
    ("rbf-svm,linear-svm,random-forest", ["rbf-svm", "linear-svm"]),
    ("random-forest", ["linear-svm"]),
    ("logistic,random-forest,tree", ["logistic", "tree"]),
])
def test_time_resolved_runs_the_batched_population_classifiers_but_the_forest(population,
                                                                              expected):
    config = DecodeConfig(population_classifiers=population)
    assert config.time_resolved_classifiers == expected

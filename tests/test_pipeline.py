"""The pipeline chooses the device once per run and hands that backend to every analysis."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from result_folders import outcome_spec, small_session

from gpudecode.backend import Backend
from gpudecode.cli import main
from gpudecode.pipeline import DecodeConfig, decode_epochs, decode_session
from gpudecode.simulate import simulate_session, write_simulation
from gpudecode.trials import make_epochs

# Every analysis, the cheapest classifier: each would choose a device if none were handed on.
CONFIG = dict(analyses="all", classifiers="lda", population_classifiers="lda",
              democracy_base="lda", shuffles=2, folds=2, permutations=0, device="cpu")


@pytest.fixture
def choices(monkeypatch):
    """Every ``Backend.from_device`` call of the test, as the device asked for."""
    asked = []
    real = Backend.from_device.__func__

    def counting(cls, device="auto", *args, **kwargs):
        asked.append(device)
        return real(cls, device, *args, **kwargs)

    monkeypatch.setattr(Backend, "from_device", classmethod(counting))
    return asked


def _decode(out, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return decode_session(small_session(), outcome_spec(), DecodeConfig(**CONFIG), out, **kw)


def test_one_device_choice_per_run(tmp_path, choices):
    outcome = _decode(tmp_path / "a")
    assert choices == ["cpu"]
    assert {r.analysis for r in outcome.population} == {"democracy", "summed", "correlation"}
    assert outcome.single_cell is not None and outcome.timecourse is not None


def test_a_backend_handed_in_is_the_only_one(tmp_path, choices):
    backend = Backend.from_device("cpu")
    choices.clear()
    outcome = _decode(tmp_path / "b", backend=backend)
    assert choices == [] and outcome.backend is backend


def test_the_command_line_chooses_once(tmp_path, choices, capsys):
    data = tmp_path / "data"
    paths = write_simulation(data, [simulate_session(seed=1, n_cells=10, n_trials=36)],
                             formats=("h5",))
    h5 = next(str(p) for p in paths if str(p).endswith(".h5"))
    code = main(["decode", h5, "--target", "outcome", "--analysis", "all", "--classifier", "lda",
                 "--population-classifier", "lda", "--democracy-base", "lda", "--shuffles", "2",
                 "--folds", "2", "--permutations", "0", "--device", "cpu",
                 "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    assert choices == ["cpu"]


@pytest.mark.parametrize("classifiers,reused", [("lda", True), ("logistic", False)])
def test_democracy_reuses_single_cell_votes_and_gets_the_same_results(classifiers, reused):
    """With its base among the single-cell classifiers, democracy takes single-cell's kept
    predictions (the test slots of every label set) and solves the rest: same results as
    democracy run alone."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = make_epochs(small_session(), outcome_spec())
    settings = {**CONFIG, "classifiers": classifiers, "permutations": 5}
    both = decode_epochs(ep, DecodeConfig(**{**settings, "analyses": "single-cell,democracy"}))
    alone = decode_epochs(ep, DecodeConfig(**{**settings, "analyses": "democracy"}))
    a, b = both.population[0], alone.population[0]
    assert a.analysis == b.analysis == "democracy"
    assert a.params["base_votes_reused"] is reused and not b.params["base_votes_reused"]
    for key in ("test_accuracy", "test_balanced", "null_accuracy", "null_balanced", "p_value"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))

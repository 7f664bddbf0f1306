"""The pipeline chooses the device once per run and hands that backend to every analysis."""

from __future__ import annotations

import warnings

import pytest
from result_folders import outcome_spec, small_session

from gpudecode.backend import Backend
from gpudecode.cli import main
from gpudecode.pipeline import DecodeConfig, decode_session
from gpudecode.simulate import simulate_session, write_simulation

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

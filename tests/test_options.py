"""Options declared once: `decode` and `cohort` take the same decode and trial options, built
from the DecodeConfig / TrialOptions fields, and both turn the same arguments into the same
DecodeConfig."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import typer

import gpudecode.cohort
from gpudecode import cli
from gpudecode.cli import ReaderOptions, TrialOptions, app, main
from gpudecode.errors import ParameterError
from gpudecode.io.traces_csv import write_traces_csv
from gpudecode.options import cli_default, declared_options
from gpudecode.pipeline import RENAMED_FIELDS, DecodeConfig


def _params(command: str) -> dict:
    """The click parameters of a command, by their long flag."""
    group = typer.main.get_command(app)
    return {p.opts[0]: p for p in group.commands[command].params}


def _described(param) -> tuple:
    return (tuple(param.opts), param.default, param.help, param.show_default, param.is_flag,
            param.type_descriptor.annotation, param.required)


@pytest.mark.parametrize("group", [DecodeConfig, TrialOptions])
def test_decode_and_cohort_take_the_same_options_from_one_declaration(group):
    decode, cohort = _params("decode"), _params("cohort")
    declared = declared_options(group)
    assert declared, group
    for f in declared:
        flag = f.metadata["flags"][0]
        assert flag in decode and flag in cohort, flag
        assert _described(decode[flag]) == _described(cohort[flag]), flag
        param = decode[flag]
        assert tuple(param.opts) + tuple(param.secondary_opts) == f.metadata["flags"]
        assert param.help == f.metadata["help"]
        assert param.default == cli_default(f)
        assert param.name == f.name


def test_every_command_line_decode_option_is_a_config_field():
    """No decode option outside the declaration: the other options of `decode` are the
    reader's, the output's and the printed table's."""
    decode = set(_params("decode"))
    groups = [f.metadata["flags"][0] for g in (DecodeConfig, TrialOptions, ReaderOptions)
              for f in declared_options(g)]
    assert len(groups) == len(set(groups))
    assert decode - set(groups) == {"path", "--out", "--top", "--report"}
    assert set(_params("cohort")) - set(groups) == {"manifest", "--out", "--scheduler",
                                                   "--workers", "--report"}


def test_the_command_line_defaults_are_the_python_defaults_but_permutations():
    config = DecodeConfig()
    for f in declared_options(DecodeConfig):
        value = getattr(config, f.name)
        shown = ",".join(value) if isinstance(value, tuple) else value
        if f.name == "permutations":
            assert (value, cli_default(f)) == (0, 1000)     # the CLI tests by default
        else:
            assert cli_default(f) == shown, f.name


def test_docstring_holds_every_option_help():
    for f in dataclasses.fields(DecodeConfig):
        assert f.metadata["help"] in " ".join(DecodeConfig.__doc__.split()), f.name


ARGS = ["--analysis", "summed,correlation", "--classifier", "lda", "--population-classifier",
        "lda,tree", "--window", "3", "--step", "2", "--shuffles", "7", "--test-size", "0.3",
        "--folds", "3", "--permutations", "99", "--select-k", "5", "--summed-window", "0,0.5",
        "--democracy-base", "lda", "--time-window", "0.25", "--time-step", "0.125",
        "--time-unit", "s", "--generalization", "--metric", "accuracy", "--class-weight",
        "balanced", "--threshold", "0.7", "--alpha", "0.1", "--seed", "3", "--device", "cpu"]
EXPECTED = DecodeConfig(
    analyses=("summed", "correlation"), classifiers=("lda",),
    population_classifiers=("lda", "tree"),
    window_frames=3, step_frames=2, shuffles=7, test_size=0.3, folds=3, permutations=99,
    select_k=5, summed_window_s=(0.0, 0.5), democracy_base="lda", time_window=0.25,
    time_step=0.125, time_unit="s", generalization=True, metric="accuracy",
    class_weight="balanced", threshold=0.7, alpha=0.1, seed=3, device="cpu")


@pytest.fixture
def captured(monkeypatch):
    """Stop `decode` and `cohort` where they hand their config on; keep what they handed."""
    got = {}
    monkeypatch.setattr(cli, "run_decode",
                        lambda s, spec, out_dir, config, **kw: got.update(decode=(config, spec)))

    def run_cohort(manifest, out_dir, targets, config, **kw):
        got["cohort"] = (config, targets)
        raise SystemExit(0)

    monkeypatch.setattr(gpudecode.cohort, "run_cohort", run_cohort)  # cli imports it on use
    monkeypatch.setattr(cli, "read_manifest", lambda path: [])
    return got


def test_decode_and_cohort_build_the_same_config(tmp_path, captured):
    traces = tmp_path / "traces.csv"
    write_traces_csv(traces, np.ones((2, 50)), np.arange(50) / 10.0)
    trial = ["--anchor", "Correct,Incorrect", "--pre", "0.5", "--post", "2"]
    assert main(["decode", str(traces), *trial, *ARGS, "--out", str(tmp_path / "o")]) == 0
    with pytest.raises(SystemExit):
        main(["cohort", str(tmp_path / "manifest.csv"), *trial, *ARGS,
              "--out", str(tmp_path / "c"), "--scheduler", "synchronous"])
    config, spec = captured["decode"]
    assert config == EXPECTED
    cohort_config, targets = captured["cohort"]
    assert cohort_config == EXPECTED and targets == [("custom", spec)]
    assert spec.anchors == ("Correct", "Incorrect") and (spec.pre, spec.post) == (0.5, 2.0)


def test_defaults_reach_the_config(tmp_path, captured):
    traces = tmp_path / "traces.csv"
    write_traces_csv(traces, np.ones((2, 50)), np.arange(50) / 10.0)
    assert main(["decode", str(traces), "--anchor", "A", "--out", str(tmp_path / "o")]) == 0
    assert captured["decode"][0] == DecodeConfig(permutations=1000)


def test_summary_of_an_older_run_is_still_read():
    """summary.json of runs before the fields carried their unit."""
    new = EXPECTED.as_dict()
    old = {next((k for k, v in RENAMED_FIELDS.items() if v == name), name): value
           for name, value in new.items()}
    assert "window" in old and "window_frames" not in old
    assert DecodeConfig.from_dict(old) == EXPECTED == DecodeConfig.from_dict(new)


@pytest.mark.parametrize("text", ["0", "a,b", "0,1,2"])
def test_summed_window_needs_two_numbers(text):
    with pytest.raises(ParameterError) as exc:
        DecodeConfig(summed_window_s=text)
    assert exc.value.field == "--summed-window" and "0,2" in str(exc.value)

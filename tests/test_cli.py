"""The command line: the happy path from a clean install, and one-line exit-2 errors."""

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from gpudecode import Events, Session, save_session
from gpudecode.cli import main
from gpudecode.io.traces_csv import write_traces_csv


def _tree(folder):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def run(argv, capsys, watch=None):
    """Run the CLI in-process; with ``watch`` (a folder), fail if a failing run wrote to it."""
    before = _tree(watch) if watch else None
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    if watch and code != 0:
        assert _tree(watch) == before, "a failed command left files behind"
    return code, cap.out, cap.err


def assert_one_line_error(code, err, *needles):
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    error_lines = [ln for ln in lines if ln.startswith("error:")]
    assert len(error_lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in error_lines[0], (needle, error_lines[0])


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    assert main(["simulate", str(out), "--cells", "20", "--formats", "h5,csv,abet"]) == 0
    return out


def _session(n_frames=600, fs=30.0, events=None):
    t = np.arange(n_frames) / fs
    ev = events or Events([5.0, 8.0, 11.0, 14.0], ["Correct", "Incorrect", "Correct", "Incorrect"])
    return Session(np.random.default_rng(0).normal(size=(4, n_frames)), t, events=ev)


def test_simulate_info_epochs(simulated, capsys):
    h5 = simulated / "sim01_s01.h5"
    code, out, _ = run(["info", h5], capsys)
    assert code == 0
    assert "20 cells" in out and "Correct" in out and "imaging clock" in out and "event clock" in out
    code, out, err = run(["epochs", simulated / "sim01_s01_traces.csv",
                          "--events", simulated / "sim01_s01_abet.csv",
                          "--sync-event", "TTL #1", "--sync-pulses", simulated / "sim01_s01_sync.txt",
                          "--anchor", "Correct,Incorrect", "--pre", "1", "--post", "2",
                          "--exclude", "Start Correction Trial", "--exclude-within", "12",
                          "--folds", "2"], capsys)
    assert code == 0, err
    assert "Correct" in out and "Incorrect" in out and "20 cells x 90 frames" in out
    assert "using CPU" in out


def test_epochs_label_attr(simulated, capsys):
    code, out, err = run(["epochs", simulated / "sim01_s01.h5", "--anchor", "Touch Down Event",
                          "--label-attr", "location", "--pre", "1", "--post", "1", "--folds", "2"],
                         capsys)
    assert code == 0, err
    for loc in ("1", "2", "3"):
        assert f"│ {loc} " in out


def test_epochs_of_a_named_target_are_the_ones_decode_cuts(simulated, capsys):
    """`epochs` takes the trial options of `decode` (one declaration), --target included."""
    from gpudecode import load_session, make_epochs, resolve_targets
    h5 = simulated / "sim01_s01.h5"
    code, out, err = run(["epochs", h5, "--target", "outcome", "--folds", "2"], capsys)
    assert code == 0, err
    ep = make_epochs(load_session(h5), resolve_targets(["outcome"])[0].spec)
    assert f"epochs: {ep.n_trials} trials x 20 cells x {ep.n_frames} frames" in out
    code, _, err = run(["epochs", h5], capsys)
    assert_one_line_error(code, err, "no trials defined", "--anchor", "--target outcome")


def test_demo_runs_end_to_end_and_its_narration_agrees_with_its_results(tmp_path, capsys):
    import csv
    import re
    code, out, err = run(["demo", "--out", tmp_path / "demo", "--permutations", "10",
                          "--shuffles", "5"], capsys)
    assert code == 0, err
    assert "Correct" in out and "windowed" in out
    assert (tmp_path / "demo" / "data" / "sim01_s07.h5").exists()
    with h5py.File(tmp_path / "demo" / "data" / "sim01_s07.h5") as f:
        planted = {f"C{i:03d}" for i in f["ground_truth/outcome_cells"][()]}
    rows = list(csv.DictReader(open(tmp_path / "demo" / "results" / "cells.csv")))
    significant = {r["cell_id"] for r in rows if r["significant"] == "True"}
    found = re.search(r"^(\d+) of (\d+) planted outcome cells found at q < 0.05 .*, "
                      r"(\d+) other cells?$", out, re.M)
    assert found, out
    assert int(found[1]) == len(planted & significant)
    assert int(found[2]) == len(planted)
    assert int(found[3]) == len(significant - planted)
    # 10 permutations cannot reach q < 0.05 across 50 cells, and the demo says so first
    assert "single-cell: with 10 permutations one of 50 cells alone cannot reach" in err


def test_missing_file(tmp_path, capsys):
    code, _, err = run(["info", tmp_path / "nope.csv"], capsys, watch=tmp_path)
    assert_one_line_error(code, err, "nope.csv", "not found")


def test_unknown_format(tmp_path, capsys):
    p = tmp_path / "rec.xyz"
    p.write_text("hello")
    code, _, err = run(["info", p], capsys, watch=tmp_path)
    assert_one_line_error(code, err, "rec.xyz", "[format]")
    code, _, err = run(["info", p, "--format", "tiff"], capsys, watch=tmp_path)
    assert_one_line_error(code, err, "rec.xyz", "'tiff'")


def test_frames_by_cells_axis_order(tmp_path, capsys):
    p = tmp_path / "transposed.h5"
    save_session(_session(), p)
    with h5py.File(p, "a") as f:
        tr = f["traces"][()]
        del f["traces"]
        f["traces"] = tr.T
    code, _, err = run(["info", p], capsys, watch=tmp_path)
    assert_one_line_error(code, err, "transposed.h5", "[traces]", "transpose")


def test_nan_traces_counted_and_interpolation_option(tmp_path, capsys):
    s = _session()
    tr = s.traces.copy()
    tr[1, 100:102] = np.nan
    p = tmp_path / "nan.csv"
    write_traces_csv(p, tr, s.frame_times, s.cell_ids)
    code, _, err = run(["info", p], capsys, watch=tmp_path)
    assert_one_line_error(code, err, "nan.csv", "[traces]", "2 trace values in 1 cells",
                          "--interpolate-gaps")
    code, out, err = run(["info", p, "--interpolate-gaps", "3"], capsys)
    assert code == 0, err


def test_duplicated_frame_times(tmp_path, capsys):
    s = _session()
    t = s.frame_times.copy()
    t[51] = t[50]
    p = tmp_path / "dup.csv"
    write_traces_csv(p, s.traces, t, s.cell_ids)
    code, _, err = run(["info", p], capsys, watch=tmp_path)
    assert_one_line_error(code, err, "dup.csv", "[frame_times]", "1 duplicated")


def test_events_outside_recording(tmp_path, capsys):
    s = _session()
    p = tmp_path / "rec.h5"
    save_session(s, p)
    ev = tmp_path / "late.csv"
    ev.write_text("time,event\n5000,Correct\n5010,Incorrect\n")
    code, _, err = run(["info", p, "--events", ev], capsys, watch=tmp_path)
    assert_one_line_error(code, err, "late.csv", "outside the recording", "--event-offset")


def test_unknown_anchor_lists_names(tmp_path, capsys):
    p = tmp_path / "rec.h5"
    save_session(_session(), p)
    code, _, err = run(["epochs", p, "--anchor", "Reward", "--folds", "2"], capsys, watch=tmp_path)
    assert_one_line_error(code, err, "rec.h5", "Reward", "Correct", "Incorrect")


def test_zero_trials(tmp_path, capsys):
    p = tmp_path / "rec.h5"
    save_session(_session(), p)
    code, _, err = run(["epochs", p, "--anchor", "Correct,Incorrect", "--pre", "30", "--post", "1"],
                       capsys, watch=tmp_path)
    assert_one_line_error(code, err, "rec.h5", "outside recording")


def test_class_smaller_than_folds(tmp_path, capsys):
    p = tmp_path / "rec.h5"
    save_session(_session(), p)
    code, out, err = run(["epochs", p, "--anchor", "Correct,Incorrect", "--folds", "5"], capsys,
                         watch=tmp_path)
    assert_one_line_error(code, err, "rec.h5", "Correct", "2 trials", "5")


def test_bad_option_values_exit_2(tmp_path, capsys):
    code, _, err = run(["simulate", tmp_path / "x", "--formats", "h5,tiff"], capsys)
    assert_one_line_error(code, err, "--formats", "tiff")
    assert not (tmp_path / "x").exists()
    p = tmp_path / "rec.h5"
    save_session(_session(), p)
    code, _, err = run(["epochs", p, "--anchor", "Correct", "--window", "0", "--folds", "2"], capsys)
    assert code == 2 and "window" in err


def test_console_script_prints_no_traceback(tmp_path):
    exe = Path(sys.executable).with_name("gpudecode")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "gpudecode.cli"]
    res = subprocess.run([*cmd, "info", str(tmp_path / "missing.h5")], capture_output=True,
                         text=True, env={**os.environ, "COLUMNS": "200"})
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and "missing.h5" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_decode_writes_the_contract_files(simulated, tmp_path, capsys):
    import csv
    import json
    out_dir = tmp_path / "run"
    code, out, err = run(["decode", simulated / "sim01_s01.h5", "--anchor", "Correct,Incorrect",
                          "--pre", "0.5", "--post", "1", "--exclude", "Start Correction Trial",
                          "--exclude-within", "12", "--classifier", "lda,tree", "--shuffles", "5",
                          "--folds", "3", "--permutations", "9", "--step", "2", "--out", out_dir],
                         capsys)
    assert code == 0, err
    assert "top cells: lda" in out and "top cells: tree" in out
    rows = list(csv.DictReader(open(out_dir / "cells.csv")))
    assert len(rows) == 2 * 20
    assert list(rows[0])[:9] == ["cell", "cell_id", "classifier", "test_accuracy",
                                 "balanced_accuracy", "cv_accuracy", "n_above_threshold",
                                 "p_value", "q_value"]
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["single_cell"]["n_permutations"] == 9
    assert summary["single_cell"]["classifiers"] == ["lda", "tree"]
    assert summary["trial_spec"]["anchors"] == ["Correct", "Incorrect"]
    assert summary["device"]["name"] == "cpu" and "versions" in summary
    assert sum(summary["trial_counts"].values()) > 0
    with h5py.File(out_dir / "results.h5") as f:
        assert f["single_cell/lda/test_accuracy"].shape == (20, 5)
        assert f["single_cell/tree/cv_accuracy"].shape == (20, 5, 3)
        assert f["single_cell/lda/null_accuracy"].shape == (20, 9)
        assert f["splits/Y"].shape[0] == 10


def test_decode_bad_analysis_and_classifier(simulated, tmp_path, capsys):
    args = ["decode", simulated / "sim01_s01.h5", "--anchor", "Correct,Incorrect",
            "--out", tmp_path / "o"]
    code, _, err = run([*args, "--analysis", "magic"], capsys, watch=tmp_path)
    assert_one_line_error(code, err, "--analysis", "single-cell")
    code, _, err = run([*args, "--classifier", "svm"], capsys, watch=tmp_path)
    assert_one_line_error(code, err, "--classifier", "linear-svm")
    assert not (tmp_path / "o").exists()


def test_decode_all_analyses_contract_and_rerun_from_summary(simulated, tmp_path, capsys):
    import csv
    import json

    from gpudecode import load_session
    from gpudecode.pipeline import DecodeConfig, decode_session
    from gpudecode.trials import TrialSpec
    out_dir = tmp_path / "all"
    code, out, err = run(["decode", simulated / "sim01_s01.h5", "--target", "outcome",
                          "--analysis", "all", "--classifier", "lda",
                          "--population-classifier", "rbf-svm,linear-svm", "--select-k", "20",
                          "--shuffles", "4", "--folds", "2", "--permutations", "9",
                          "--step", "2", "--time-unit", "s", "--time-window", "0.25",
                          "--time-step", "0.25", "--generalization", "--metric", "balanced",
                          "--out", out_dir], capsys)
    assert code == 0, err
    assert "models (ranked by balanced accuracy)" in out
    models = list(csv.DictReader(open(out_dir / "models.csv")))
    assert list(models[0])[:14] == ["rank", "analysis", "classifier", "test_accuracy",
                                    "test_std", "balanced_accuracy", "cv_accuracy", "cv_std",
                                    "p_value", "q_value", "significant", "null_mean",
                                    "null_p95", "unit"]
    assert {(m["analysis"], m["classifier"]) for m in models} == {
        ("single-cell", "lda"), *((a, c) for a in ("democracy", "summed", "correlation",
                                                    "time-resolved")
                                  for c in ("rbf-svm", "linear-svm"))}
    assert [int(m["rank"]) for m in models] == list(range(1, len(models) + 1))
    scores = [float(m["balanced_accuracy"]) for m in models]
    assert scores == sorted(scores, reverse=True)
    timecourse = list(csv.DictReader(open(out_dir / "timecourse.csv")))
    assert list(timecourse[0])[:5] == ["time", "classifier", "accuracy", "balanced_accuracy",
                                       "p_value"]
    with h5py.File(out_dir / "results.h5") as f:
        n_windows = f["time_resolved/linear-svm/times"].shape[0]
    assert n_windows == 60 // 8                      # 2 s at 30 Hz, 0.25 s -> 8-frame windows
    assert len(timecourse) == 2 * n_windows
    pairs = list(csv.DictReader(open(out_dir / "pairs.csv")))
    assert list(pairs[0])[:5] == ["rank", "cell_i", "cell_j", "cell_id_i", "cell_id_j"]
    with h5py.File(out_dir / "results.h5") as f:
        assert f["population/correlation/rbf-svm/test_accuracy"].shape == (4,)
        assert f["population/democracy/linear-svm/null_accuracy"].shape == (9,)
        assert f["time_resolved/linear-svm/generalization"].shape == (n_windows, n_windows)
        assert f["correlation/mean_by_class"].shape == (2, 20, 20)
        assert f["epochs/top_data"].shape[1:] == (10, f["epochs/times"].shape[0])
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["analyses"] == ["single-cell", "democracy", "summed", "correlation",
                                   "time-resolved"]
    assert summary["population"]["correlation"]["select_k"] == 20
    # summary.json holds everything needed to rerun: the same numbers come back.
    config = DecodeConfig(**summary["config"])
    spec = TrialSpec(**{k: tuple(v) if isinstance(v, list) else v
                        for k, v in summary["trial_spec"].items()})
    session = load_session(simulated / "sim01_s01.h5")
    decode_session(session, spec, config, tmp_path / "again")
    assert list(csv.DictReader(open(tmp_path / "again" / "models.csv"))) == models


def test_decode_target_errors(simulated, tmp_path, capsys):
    args = ["decode", simulated / "sim01_s01.h5", "--out", tmp_path / "o"]
    code, _, err = run([*args, "--target", "outcme"], capsys, watch=tmp_path)
    assert_one_line_error(code, err, "outcme", "outcome")
    code, _, err = run([*args, "--target", "outcome", "--anchor", "Correct"], capsys,
                       watch=tmp_path)
    assert_one_line_error(code, err, "--target")
    code, _, err = run(args, capsys, watch=tmp_path)
    assert_one_line_error(code, err, "--anchor")
    code, _, err = run([*args, "--anchor", "Correct,Incorrect", "--analysis", "summed",
                        "--summed-window", "3,4"], capsys, watch=tmp_path)
    assert_one_line_error(code, err, "--summed-window")


def test_usage_errors_print_usage_and_one_line(tmp_path):
    from cli_usage_errors import check_usage_errors
    assert check_usage_errors(tmp_path) == []


def test_cohort_without_dask_names_the_extra(simulated, tmp_path, capsys, monkeypatch):
    for name in ("dask", "dask.distributed", "distributed"):
        monkeypatch.setitem(sys.modules, name, None)          # import raises ImportError
    code, _, err = run(["cohort", simulated / "manifest.csv", "--out", tmp_path / "c",
                        "--target", "outcome"], capsys)
    assert_one_line_error(code, err, 'pip install "gpudecode[dask]"', "--scheduler")


def test_too_many_permutations_is_one_line_before_any_work(simulated, tmp_path, capsys):
    out_dir = tmp_path / "o"
    code, out, err = run(["decode", simulated / "sim01_s01.h5", "--target", "outcome",
                          "--permutations", "1000000000", "--out", out_dir], capsys,
                         watch=tmp_path)
    assert_one_line_error(code, err, "--permutations", "too large", "GiB")
    assert "- single-cell" not in out and not out_dir.exists()


def test_size_and_reachable_q_are_said_before_decoding(simulated, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    code, out, err = run(["decode", simulated / "sim01_s01.h5", "--target", "outcome",
                          "--classifier", "lda", "--shuffles", "3", "--folds", "2",
                          "--permutations", "19", "--out", tmp_path / "o"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    size = next(i for i, ln in enumerate(lines) if ln.startswith("decoding "))
    assert size < lines.index("- single-cell")
    assert lines[size + 1].split() == ["single-cell", "20", "cells", "x", "1", "classifier(s)",
                                       "x", "3", "shuffles", "x", "(1", "+", "2", "folds", "+",
                                       "19", "permutations)", "=", "1,320", "fits"]
    assert "smallest p with 19 permutations: 1/20 = 0.05" in out
    assert ("warning: single-cell: with 19 permutations one of 20 cells alone cannot reach "
            "q < 0.05 (BH across 20 cells per classifier); --permutations 400 lets it") in err
    # piped output: tables are as wide as they need, not cut to 80 columns
    assert "…" not in out and max(len(ln) for ln in lines) > 80
    assert "p: permutation test of each cell's balanced accuracy; q: BH across 20 cells" in out


def test_help_shows_every_default_and_no_bool_placeholder(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("TERMINAL_WIDTH", "250")
    for command in ("decode", "cohort", "demo", "bench"):
        code, out, err = run([command, "--help"], capsys)
        assert code == 0, err
        assert "<bool>" not in out, command
    code, out, _ = run(["decode", "--help"], capsys)
    text = " ".join(out.split())
    assert "'balanced' to weight classes by their inverse frequency. [default: (none: equal weights)]" in text
    assert "[default: (none: all features)]" in text                 # --select-k
    assert "[default: 1000]" in text                                 # --permutations
    assert "Width in frames (not seconds)" in text and "seconds (not frames) before" in text
    assert "the study" not in text

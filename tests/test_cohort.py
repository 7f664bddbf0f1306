"""Cohorts on Dask: same results as one by one, resume after a kill, failures recorded,
learning trends found where planted."""

import csv
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from gpudecode.cli import main
from gpudecode.cohort import run_cohort
from gpudecode.pipeline import DecodeConfig
from gpudecode.simulate import simulate_cohort, write_simulation
from gpudecode.targets import resolve_targets

CONFIG = dict(analyses="single-cell,summed", classifiers="linear-svm",
              population_classifiers="linear-svm", window_frames=4, step_frames=4, shuffles=5,
              folds=2,
              permutations=10, seed=0, device="cpu")


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def cohort_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    sims = simulate_cohort(n_animals=2, n_sessions=2, seed=5, n_cells=12, n_trials=36)
    write_simulation(root / "data", sims, formats=("h5",))
    return root


def _targets():
    return [(t.name, t.spec) for t in resolve_targets("outcome")]


def test_local_cluster_matches_sessions_one_by_one(cohort_dir):
    manifest = cohort_dir / "data" / "manifest.csv"
    # Summed activity with a seeded random forest: real work in every worker process, and no
    # numba compile there (each new process would pay it).
    config = DecodeConfig(**{**CONFIG, "analyses": "summed",
                             "population_classifiers": "random-forest"})
    dask_run = run_cohort(manifest, cohort_dir / "dask", _targets(), config, scheduler="local",
                          n_workers=2, n_permutations_trend=200)
    assert dask_run.n_done == 4 and not dask_run.failures
    sync_run = run_cohort(manifest, cohort_dir / "sync", _targets(), config,
                          scheduler="synchronous", n_permutations_trend=200)
    assert sync_run.n_done == 4
    for animal in ("sim01", "sim02"):
        for session in ("s01", "s02"):
            a = _read(cohort_dir / "dask" / animal / session / "outcome" / "models.csv")
            b = _read(cohort_dir / "sync" / animal / session / "outcome" / "models.csv")
            assert a == b
            with h5py.File(cohort_dir / "dask" / animal / session / "outcome" / "results.h5") as f:
                null = f["population/summed/random-forest/null_accuracy"][()]
            assert null.shape == (10,)
    rows = _read(cohort_dir / "dask" / "cohort.csv")
    assert len(rows) == 4                              # sessions x random-forest
    assert set(rows[0]) >= {"animal", "session", "day", "target", "analysis", "classifier",
                            "accuracy", "balanced_accuracy", "p_value", "n_significant_cells",
                            "percent_correct", "n_trials"}
    assert all(0 <= float(r["percent_correct"]) <= 100 for r in rows)
    assert _read(cohort_dir / "dask" / "cohort.csv") == _read(cohort_dir / "sync" / "cohort.csv")
    assert (cohort_dir / "dask" / "learning.csv").exists()
    assert _read(cohort_dir / "dask" / "failures.csv") == []
    # A rerun finds every session done and computes nothing.
    again = run_cohort(manifest, cohort_dir / "sync", _targets(), config,
                       scheduler="synchronous", n_permutations_trend=200)
    assert again.n_done == 0 and again.n_skipped == 4
    summary = json.loads((cohort_dir / "sync" / "cohort.json").read_text())
    assert summary["n_tasks"] == 4 and summary["n_skipped"] == 4
    assert summary["targets"] == ["outcome"] and summary["config"]["shuffles"] == 5
    assert np.isfinite(summary["seconds"])


def test_changed_parameters_redo_the_sessions(cohort_dir):
    manifest = cohort_dir / "data" / "manifest.csv"
    config = DecodeConfig(**{**CONFIG, "analyses": "single-cell"})
    first = run_cohort(manifest, cohort_dir / "redo", _targets(), config,
                       scheduler="synchronous", n_permutations_trend=100)
    assert first.n_done == 4
    changed = DecodeConfig(**{**CONFIG, "analyses": "single-cell", "seed": 1})
    second = run_cohort(manifest, cohort_dir / "redo", _targets(), changed,
                        scheduler="synchronous", n_permutations_trend=100)
    assert second.n_done == 4 and second.n_skipped == 0


def test_broken_session_goes_to_failures_and_the_rest_finish(cohort_dir, tmp_path):
    data = cohort_dir / "data"
    rows = _read(data / "manifest.csv")
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"this is not an HDF5 file")
    rows[1]["traces"] = str(broken)
    rows = [{k: (str(data / v) if k == "traces" and not os.path.isabs(v) else v)
             for k, v in r.items()} for r in rows]
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    run = run_cohort(manifest, tmp_path / "out", _targets(),
                     DecodeConfig(**{**CONFIG, "analyses": "single-cell"}),
                     scheduler="synchronous", n_permutations_trend=100)
    assert run.n_done == 3 and len(run.failures) == 1
    failures = _read(tmp_path / "out" / "failures.csv")
    assert [(f["animal"], f["session"]) for f in failures] == [(rows[1]["animal"],
                                                                rows[1]["session"])]
    assert "broken.h5" in failures[0]["error"]
    assert not (tmp_path / "out" / rows[1]["animal"] / rows[1]["session"] / "outcome").exists()


def test_bad_manifest_one_line_listing_every_problem(tmp_path, capsys):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("animal,session,traces,format\n"
                        "m1,s1,missing.h5,h5\n"
                        "m1,s1,also_missing.h5,nonsense\n")
    code = main(["cohort", str(manifest), "--out", str(tmp_path / "out"), "--target", "outcome",
                 "--scheduler", "synchronous"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error:")
    for needle in ("missing.h5", "also_missing.h5", "nonsense", "listed again"):
        assert needle in err
    assert not (tmp_path / "out").exists()


def test_killed_run_resumes_without_recomputing(cohort_dir, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "gpudecode.cli", "cohort", str(cohort_dir / "data" / "manifest.csv"),
           "--out", str(out), "--target", "outcome", "--analysis", "summed",
           "--population-classifier", "random-forest", "--shuffles", "5", "--folds", "2",
           "--permutations", "100", "--scheduler", "synchronous", "--device", "cpu"]
    # cwd away from the repository, so the installed package is imported, not the source tree.
    # Enough permutations that a session outlasts the polling (with 10, a warm cache let all
    # four sessions finish between two polls in .ci/run).
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True, cwd=tmp_path)
    deadline = time.time() + 300
    summaries = []
    while time.time() < deadline and proc.poll() is None:
        summaries = list(out.glob("*/*/outcome/summary.json"))
        if summaries:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert summaries, "the first session never finished"
    finished = {p: p.read_bytes() for p in out.glob("*/*/outcome/summary.json")}
    assert 1 <= len(finished) < 4
    # No half-written session folder: every final folder is complete.
    for folder in out.glob("*/*/outcome"):
        assert {"summary.json", "models.csv", "results.h5"} <= \
            {p.name for p in folder.iterdir()}
    # A folder left by a task killed mid-write, as the kill above may or may not leave one.
    stale = out / "sim02" / "s02" / ".outcome.tmp-deadbeef"
    stale.mkdir(parents=True)
    (stale / "cells.csv").write_text("half")
    rc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert rc.returncode == 0, rc.stderr
    done = list(out.glob("*/*/outcome/summary.json"))
    assert len(done) == 4
    for path, content in finished.items():
        assert path.read_bytes() == content            # computed once
    assert not list(out.glob("*/*/.outcome.*"))        # no temporary folders left
    assert len(_read(out / "cohort.csv")) == 4


def test_learning_trend_found_where_coding_grows(tmp_path):
    """Coding that strengthens across sessions gives a rising balanced accuracy; flat does not.

    Behaviour is held at 60% correct: when it improves, raw accuracy rises with the class
    imbalance alone, which is why the trend of balanced accuracy is the one to read.
    """
    trend = {}
    for grows in (True, False):
        sims = simulate_cohort(n_animals=4, n_sessions=5, seed=13, n_cells=20, n_trials=60,
                               coding_grows=grows, effect=2.0, p_correct=0.6)
        write_simulation(tmp_path / f"data{grows}", sims, formats=("h5",))
        run_cohort(tmp_path / f"data{grows}" / "manifest.csv", tmp_path / f"out{grows}",
                   _targets(), DecodeConfig(**{**CONFIG, "analyses": "single-cell",
                                               "metric": "balanced", "shuffles": 8,
                                               "permutations": 20}),
                   scheduler="synchronous", n_permutations_trend=2000)
        rows = _read(tmp_path / f"out{grows}" / "learning.csv")
        (row,) = [r for r in rows if r["scope"] == "all" and r["measure"] == "balanced_accuracy"]
        trend[grows] = float(row["p_value"]), float(row["slope"])
    assert trend[True][0] < 0.05 and trend[True][1] > 0
    assert trend[False][0] > 0.05



def test_registration_gives_cohort_cell_ids_and_stability(cohort_dir, tmp_path):
    data = cohort_dir / "data"
    rows = _read(data / "manifest.csv")
    for r in rows:
        reg = tmp_path / f"{r['animal']}_{r['session']}_registration.csv"
        # Same animal, same simulated cells across sessions: cell C003 is cohort cell m-3.
        reg.write_text("cell_id,cohort_id\n" + "".join(
            f"C{i:03d},{r['animal']}-{i}\n" for i in range(12)))
        r["registration"] = str(reg)
        r["traces"] = str(data / r["traces"])
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    run_cohort(manifest, tmp_path / "out", _targets(),
               DecodeConfig(**{**CONFIG, "analyses": "single-cell"}), scheduler="synchronous",
               n_permutations_trend=100)
    cells = _read(tmp_path / "out" / "cells.csv")
    assert {c["cohort_cell_id"] for c in cells if c["animal"] == "sim01"} == \
        {f"sim01-{i}" for i in range(12)}
    assert all(c["cohort_cell_id"] == f"{c['animal']}-{int(c['cell_id'][1:])}" for c in cells)
    stability = _read(tmp_path / "out" / "stability.csv")
    assert {s["target"] for s in stability} == {"outcome"}
    assert {"jaccard", "p_value", "n_universe"} <= set(stability[0])
    assert all(int(s["n_universe"]) == 12 for s in stability if s["session_a"])


# ----------------------------------------------------------------------------- faults

from gpudecode import cohort, outputs  # noqa: E402
from gpudecode.atomic import FolderLock  # noqa: E402
from gpudecode.cohort import LOCK_NAME  # noqa: E402
from gpudecode.outputs import check_one_run  # noqa: E402
from result_folders import read_only  # noqa: E402

FAST = DecodeConfig(**{**CONFIG, "analyses": "summed", "population_classifiers": "random-forest",
                       "permutations": 0})


def _cohort_cli(manifest, out):
    return ["cohort", str(manifest), "--out", str(out), "--target", "outcome", "--analysis",
            "summed", "--population-classifier", "random-forest", "--shuffles", "3", "--folds",
            "2", "--permutations", "0", "--scheduler", "synchronous", "--device", "cpu"]


def _one_error_line(code, err, *needles):
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_synchronous_cohort_records_any_exception_and_goes_on(cohort_dir, tmp_path, monkeypatch):
    real = cohort.decode_session
    broken = {("sim01", "s02"), ("sim02", "s01")}

    def buggy(session, *args, **kwargs):
        if (session.animal, session.session) in broken:
            raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")
        return real(session, *args, **kwargs)
    monkeypatch.setattr(cohort, "decode_session", buggy)
    run = run_cohort(cohort_dir / "data" / "manifest.csv", tmp_path / "out", _targets(), FAST,
                     scheduler="synchronous", n_permutations_trend=50)
    assert run.n_done == 2
    assert sorted((f["animal"], f["session"], f["error_type"]) for f in run.failures) == \
        [("sim01", "s02", "TypeError"), ("sim02", "s01", "TypeError")]
    assert len(_read(tmp_path / "out" / "failures.csv")) == 2
    assert {(r["animal"], r["session"]) for r in _read(tmp_path / "out" / "cohort.csv")} == \
        {("sim01", "s01"), ("sim02", "s02")}
    check_one_run(tmp_path / "out")


def test_ctrl_c_stops_a_synchronous_cohort_and_frees_the_folder(cohort_dir, tmp_path,
                                                                monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(cohort, "decode_session", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_cohort(cohort_dir / "data" / "manifest.csv", tmp_path / "out", _targets(), FAST,
                   scheduler="synchronous")
    assert not (tmp_path / "out" / LOCK_NAME).exists()
    assert not (tmp_path / "out" / "cohort.csv").exists()


def test_read_only_out_is_one_line_before_any_session(cohort_dir, tmp_path, capsys,
                                                      monkeypatch):
    manifest = cohort_dir / "data" / "manifest.csv"
    ro = tmp_path / "ro"
    ro.mkdir()
    with read_only(ro):
        code = main(_cohort_cli(manifest, ro / "out"))
    captured = capsys.readouterr()
    _one_error_line(code, captured.err, str(ro), "--out")
    assert "failed" not in captured.out and not (ro / "out").exists()
    # The same through an injected EROFS (runs everywhere).
    def read_only_fs(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(kwargs.get("dir")))
    monkeypatch.setattr(outputs.tempfile, "mkdtemp", read_only_fs)
    code = main(_cohort_cli(manifest, tmp_path / "out"))
    captured = capsys.readouterr()
    _one_error_line(code, captured.err, "Read-only file system", "writable disk")
    assert "failed" not in captured.out and not (tmp_path / "out").exists()


def test_second_run_is_told_who_holds_the_folder_a_dead_holder_is_taken_over(
        cohort_dir, tmp_path, capsys):
    manifest = cohort_dir / "data" / "manifest.csv"
    out = tmp_path / "out"
    out.mkdir()
    with FolderLock(out / LOCK_NAME, out):
        code = main(_cohort_cli(manifest, out))
        _one_error_line(code, capsys.readouterr().err, "in use by another gpudecode run",
                        f"pid {os.getpid()}", "started")
    assert list(out.iterdir()) == []
    # A lock file left by a run that died (nobody holds the lock): taken over.
    (out / LOCK_NAME).write_text(json.dumps({"pid": 2 ** 22 + 7, "host": "gone",
                                             "started": "2020-01-01 00:00:00"}))
    assert main(_cohort_cli(manifest, out)) == 0
    assert len(_read(out / "cohort.csv")) == 4 and not (out / LOCK_NAME).exists()


def test_inputs_the_cohort_would_overwrite_are_refused(cohort_dir, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    manifest = out / "cohort.csv"                      # the manifest named like a table
    rows = _read(cohort_dir / "data" / "manifest.csv")
    for r in rows:
        r["traces"] = str(cohort_dir / "data" / r["traces"])
    with open(manifest, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    before = manifest.read_bytes()
    code = main(_cohort_cli(manifest, out))
    _one_error_line(code, capsys.readouterr().err, str(manifest), "would be overwritten")
    assert manifest.read_bytes() == before


def test_tables_of_an_earlier_run_are_not_left_behind(cohort_dir, tmp_path):
    data = cohort_dir / "data"
    rows = _read(data / "manifest.csv")
    for r in rows:
        reg = tmp_path / f"{r['animal']}_{r['session']}_registration.csv"
        reg.write_text("cell_id,cohort_id\n" + "".join(f"C{i:03d},{r['animal']}-{i}\n"
                                                        for i in range(12)))
        r["registration"] = str(reg)
        r["traces"] = str(data / r["traces"])
    with_reg = tmp_path / "with_registration.csv"
    with open(with_reg, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    config = DecodeConfig(**{**CONFIG, "analyses": "single-cell", "permutations": 10})
    run_cohort(with_reg, tmp_path / "out", _targets(), config, scheduler="synchronous",
               n_permutations_trend=50)
    assert (tmp_path / "out" / "stability.csv").exists()
    run_cohort(data / "manifest.csv", tmp_path / "out", _targets(), config,
               scheduler="synchronous", n_permutations_trend=50)
    assert not (tmp_path / "out" / "stability.csv").exists()
    check_one_run(tmp_path / "out")


def test_a_failing_session_never_deletes_files_gpudecode_did_not_write(tmp_path):
    sims = simulate_cohort(n_animals=1, n_sessions=2, seed=5, n_cells=10, n_trials=36)
    write_simulation(tmp_path / "data", sims, formats=("h5",))
    manifest = tmp_path / "data" / "manifest.csv"
    out = tmp_path / "out"
    run_cohort(manifest, out, _targets(), FAST, scheduler="synchronous", n_permutations_trend=50)
    folder = out / "sim01" / "s02" / "outcome"
    (folder / "my_notes.txt").write_text("keep me")
    (tmp_path / "data" / "sim01_s02.h5").write_bytes(b"not HDF5 any more")
    run = run_cohort(manifest, out, _targets(), FAST, scheduler="synchronous",
                     n_permutations_trend=50)
    assert [(f["animal"], f["session"]) for f in run.failures] == [("sim01", "s02")]
    assert (folder / "my_notes.txt").read_text() == "keep me"
    assert {(r["animal"], r["session"]) for r in _read(out / "cohort.csv")} == {("sim01", "s01")}

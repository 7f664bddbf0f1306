"""The result folder's rules: checked before computing, one run per folder, inputs safe."""

import errno
import json
import shutil

import pytest

from gpudecode import outputs, pipeline
from gpudecode.errors import FormatError, OutputError
from gpudecode.outputs import check_one_run, check_output_folder, check_writable_folder
from result_folders import decode_into


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two complete folders of different runs: with correlations (pairs.csv) and without."""
    root = tmp_path_factory.mktemp("runs")
    decode_into(root / "with_pairs", "summed,correlation")
    decode_into(root / "summed", "summed")
    return root


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_summary_lists_every_file_with_size_and_sha256(two_runs):
    import hashlib
    d = two_runs / "with_pairs"
    summary = json.loads((d / "summary.json").read_text())
    assert set(summary["file_manifest"]) == {"models.csv", "pairs.csv", "results.h5"}
    for name, rec in summary["file_manifest"].items():
        data = (d / name).read_bytes()
        assert rec == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert len(summary["run_id"]) == 32
    assert check_one_run(d)["run_id"] == summary["run_id"]


def test_files_of_two_runs_are_refused(two_runs, tmp_path):
    mixed = _copy(two_runs / "summed", tmp_path / "mixed")
    shutil.copy(two_runs / "with_pairs" / "pairs.csv", mixed / "pairs.csv")
    with pytest.raises(FormatError, match="not from one run: pairs.csv is not from run"):
        check_one_run(mixed)
    changed = _copy(two_runs / "with_pairs", tmp_path / "changed")
    shutil.copy(two_runs / "summed" / "models.csv", changed / "models.csv")
    with pytest.raises(FormatError) as err:
        check_one_run(changed)
    assert "models.csv" in str(err.value) and err.value.field == "file_manifest"
    text = (changed / "models.csv").read_text()          # same size, other bytes
    shutil.copy(two_runs / "with_pairs" / "models.csv", changed / "models.csv")
    (changed / "pairs.csv").write_text((changed / "pairs.csv").read_text().replace("0", "1"))
    with pytest.raises(FormatError, match="pairs.csv was changed after the run"):
        check_one_run(changed)
    assert text
    missing = _copy(two_runs / "with_pairs", tmp_path / "missing")
    (missing / "results.h5").unlink()
    with pytest.raises(FormatError, match="results.h5 is missing"):
        check_one_run(missing)


def test_out_that_is_a_file_or_under_a_file(tmp_path):
    f = tmp_path / "results.txt"
    f.write_text("mine")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        check_output_folder(f)
    with pytest.raises(OutputError, match="is a file"):
        check_output_folder(f / "out")
    assert f.read_text() == "mine"


def test_input_inside_out_is_refused_naming_both(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    traces = out / "cells.csv"                      # a traces file with a result's name
    traces.write_text("time,c1\n0,1\n")
    with pytest.raises(OutputError) as err:
        check_output_folder(out, [traces])
    assert str(traces) in str(err.value) and str(out) in str(err.value)
    assert err.value.fix.startswith("choose another --out")


def test_folder_that_is_not_a_result_or_holds_other_files(two_runs, tmp_path):
    notes = tmp_path / "thesis"
    notes.mkdir()
    (notes / "chapter1.tex").write_text("...")
    with pytest.raises(OutputError, match="not empty and is not a gpudecode result folder"):
        check_output_folder(notes)
    d = _copy(two_runs / "summed", tmp_path / "res")
    (d / "figures").mkdir()
    (d / "figures" / "models.png").write_bytes(b"png")
    (d / "report.html").write_text("<html>")
    (d / ".DS_Store").write_bytes(b"")
    assert check_output_folder(d) == d               # what gpudecode wrote: replaced
    (d / "my_notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="did not write \\(my_notes.txt\\)"):
        check_output_folder(d)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_output_folder(empty) == empty
    assert check_output_folder(tmp_path / "a" / "b" / "new") == tmp_path / "a" / "b" / "new"


def test_read_only_out_is_found_before_computing(tmp_path, monkeypatch):
    def read_only(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(k.get("dir")))
    monkeypatch.setattr(outputs.tempfile, "mkdtemp", read_only)
    with pytest.raises(OutputError) as err:
        check_output_folder(tmp_path / "out")
    assert "Read-only file system" in str(err.value) and err.value.field == "--out"
    with pytest.raises(OutputError, match="Read-only"):
        check_writable_folder(tmp_path)


def test_decode_session_checks_before_computing(tmp_path, monkeypatch):
    def must_not_run(*a, **k):
        raise AssertionError("computed before checking --out")
    monkeypatch.setattr(pipeline, "decode_epochs", must_not_run)
    f = tmp_path / "out"
    f.write_text("a file")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        decode_into(f)


def test_name_too_long(tmp_path):
    with pytest.raises(OutputError, match="is 300 bytes long; names are limited to 255"):
        check_output_folder(tmp_path / ("x" * 300))


# ----------------------------------------------------------------------------- the CLI

from gpudecode import cli  # noqa: E402
from gpudecode import io as gio  # noqa: E402
from gpudecode.cli import main  # noqa: E402
from gpudecode.io.traces_csv import write_traces_csv  # noqa: E402
from gpudecode.simulate import simulate_session, write_simulation  # noqa: E402
from result_folders import cli_decode_args, read_only  # noqa: E402


def _one_error_line(code, err, *needles):
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture(scope="module")
def sim_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim")
    write_simulation(d, [simulate_session(seed=1, n_cells=10, n_trials=36)], formats=("h5",))
    return d


def _no_reading(monkeypatch):
    def must_not_read(*a, **k):
        raise AssertionError("read the input before checking --out")
    monkeypatch.setattr(gio, "load_session", must_not_read)
    monkeypatch.setattr(cli, "load_session", must_not_read)


def test_decode_out_problems_before_reading_anything(sim_files, tmp_path, monkeypatch,
                                                      capsys):
    _no_reading(monkeypatch)
    h5 = sim_files / "sim01_s01.h5"
    f = tmp_path / "out.txt"
    f.write_text("mine")
    _one_error_line(main(cli_decode_args(h5, f)), capsys.readouterr().err, str(f),
                    "exists and is not a folder")
    ro = tmp_path / "ro"
    ro.mkdir()
    with read_only(ro):
        _one_error_line(main(cli_decode_args(h5, ro / "out")), capsys.readouterr().err,
                        str(ro), "--out")
    assert f.read_text() == "mine" and list(ro.iterdir()) == []


def test_traces_named_cells_csv_inside_out_are_never_overwritten(tmp_path, monkeypatch,
                                                                 capsys):
    s = simulate_session(seed=1, n_cells=10, n_trials=36)[0]
    out = tmp_path / "out"
    out.mkdir()
    traces = out / "cells.csv"
    write_traces_csv(traces, s.traces, s.frame_times, s.cell_ids)
    events = tmp_path / "events.csv"
    events.write_text("time,event\n" + "".join(f"{t:.4f},{n}\n" for t, n
                                                 in zip(s.events.times, s.events.names)))
    before = traces.read_bytes()
    _no_reading(monkeypatch)
    code = main(cli_decode_args(traces, out) + ["--events", str(events)])
    _one_error_line(code, capsys.readouterr().err, str(traces), str(out), "choose another --out")
    assert traces.read_bytes() == before and [p.name for p in out.iterdir()] == ["cells.csv"]


def test_report_on_a_read_only_folder_is_one_line(two_runs, tmp_path, capsys):
    d = _copy(two_runs / "summed", tmp_path / "res")
    with read_only(d):
        code = main(["report", str(d)])
    _one_error_line(code, capsys.readouterr().err, str(d))
    assert sorted(p.name for p in d.iterdir()) == ["models.csv", "results.h5", "summary.json"]


def test_report_refuses_files_of_two_runs(two_runs, tmp_path, capsys):
    mixed = _copy(two_runs / "summed", tmp_path / "mixed")
    shutil.copy(two_runs / "with_pairs" / "pairs.csv", mixed / "pairs.csv")
    code = main(["report", str(mixed)])
    _one_error_line(code, capsys.readouterr().err, f"files in {mixed} are not from one run",
                    "pairs.csv")
    assert not (mixed / "report.html").exists() and not (mixed / "figures").exists()


def test_report_is_drawn_before_the_swap_and_names_the_final_folder(tmp_path):
    out = tmp_path / "out"
    decode_into(out, "summed", report=True)
    html = (out / "report.html").read_text()
    assert f">{out}<" in html and ".gpudecode-new-" not in html
    assert any(p.suffix == ".png" for p in (out / "figures").iterdir())
    check_one_run(out)
    decode_into(out, "summed")                    # a rerun without --report: none left
    assert sorted(p.name for p in out.iterdir()) == ["models.csv", "results.h5",
                                                      "summary.json"]

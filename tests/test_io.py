"""load_session and format sniffing: options checked up front, unit and clock mistakes named."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from cli_checks import cli_error, cli_ok

from gpudecode.errors import EventsError, FormatError, ParameterError
from gpudecode.io import load_session, sniff_events_format, sniff_traces_format
from gpudecode.io.native import save_session
from gpudecode.io.traces_csv import write_traces_csv
from gpudecode.session import Events, Session

RATE = 10.0


def _traces_csv(folder, n_frames=3000, start=0.0, n_cells=4):
    """A traces CSV whose time column starts at ``start`` s (10 Hz)."""
    rng = np.random.default_rng(0)
    path = folder / "traces.csv"
    write_traces_csv(path, rng.normal(size=(n_cells, n_frames)), start + np.arange(n_frames) / RATE)
    return path


def _arduino(folder, times_s, names, name="rig.log"):
    path = folder / name
    path.write_text("".join(f"{round(t * 1000)}\t{n}\n" for t, n in zip(times_s, names)))
    return path


# ---------------------------------------------------------------- option values


@pytest.mark.parametrize("rate", [0.0, -30.0, float("nan"), float("inf")])
def test_frame_rate_must_be_positive(tmp_path, rate):
    path = _traces_csv(tmp_path)
    with pytest.raises(ParameterError) as exc:
        load_session(path, frame_rate=rate)
    assert exc.value.field == "--frame-rate" and "traces.csv" in str(exc.value)


@pytest.mark.parametrize("gap", [-1, 1.5, "two"])
def test_interpolate_gaps_names_the_option(tmp_path, gap):
    path = _traces_csv(tmp_path)
    with pytest.raises(ParameterError) as exc:
        load_session(path, max_gap=gap)
    assert exc.value.field == "--interpolate-gaps" and "max_gap=3" in str(exc.value)


def test_event_offset_must_be_finite(tmp_path):
    path = _traces_csv(tmp_path)
    with pytest.raises(ParameterError) as exc:
        load_session(path, event_offset=float("nan"))
    assert exc.value.field == "--event-offset"


@pytest.mark.parametrize("argv, needles", [
    (["--frame-rate", "0"], ["[--frame-rate]", "positive"]),
    (["--frame-rate", "-5"], ["[--frame-rate]", "--frame-rate 30"]),
    (["--interpolate-gaps", "-1"], ["[--interpolate-gaps]", ">= 0"]),
    (["--event-offset", "nan"], ["[--event-offset]", "finite"]),
])
def test_cli_option_values(tmp_path, capsys, argv, needles):
    path = _traces_csv(tmp_path)
    cli_error(["decode", path, "--anchor", "A", "--out", tmp_path / "out", *argv], capsys,
              tmp_path, "traces.csv", *needles)


# ---------------------------------------------------------------- units


def test_frame_rate_in_wrong_unit(tmp_path):
    """--frame-rate 0.03 (mHz for 30 Hz) gives frames 33 s apart: refused, with the fix."""
    np.savetxt(tmp_path / "C.txt", np.ones((3, 100)))
    with pytest.raises(ParameterError) as exc:
        load_session(tmp_path / "C.txt", frame_rate=0.03)
    assert exc.value.field == "--frame-rate" and "--frame-rate 30" in str(exc.value)


def test_frame_times_file_in_milliseconds(tmp_path, capsys):
    np.savetxt(tmp_path / "C.txt", np.ones((3, 100)))
    np.savetxt(tmp_path / "t.txt", np.arange(100) * 33.3)
    cli_error(["info", tmp_path / "C.txt", "--frame-times", tmp_path / "t.txt"], capsys,
              tmp_path, "t.txt", "[--frame-times]", "looks like milliseconds", "divide")


def test_event_times_in_ms_are_hinted(tmp_path):
    """Events given in ms in a CSV (not an Arduino log) span 1000x the recording."""
    path = _traces_csv(tmp_path, n_frames=600)           # 0 .. 59.9 s
    ev = tmp_path / "events.csv"
    ev.write_text("time,event\n" + "".join(f"{t * 1000:.0f},CS\n" for t in range(5, 55, 5)))
    with pytest.raises(EventsError) as exc:
        load_session(path, ev)
    assert "look like milliseconds" in str(exc.value) and "events.csv" in str(exc.value)


# ---------------------------------------------------------------- clocks


def test_clocks_partly_outside_warn_with_both_spans(tmp_path):
    """A traces time column starting at 0 against rig times: some events fall outside."""
    path = _traces_csv(tmp_path)                         # 0 .. 299.9 s
    log = _arduino(tmp_path, np.arange(200, 490, 10.0), ["CS"] * 29)
    with pytest.warns(UserWarning) as rec:
        s = load_session(path, log)
    msg = " ".join(str(w.message) for w in rec)
    assert "19 of 29 events (66%)" in msg
    assert "imaging 0.000 .. 299.900 s" in msg and "events 200.000 .. 480.000 s" in msg
    assert len(s.events) == 29


def test_cli_epochs_refuses_mismatched_clocks(tmp_path, capsys):
    path = _traces_csv(tmp_path)
    log = _arduino(tmp_path, np.arange(200, 490, 10.0), ["CS+", "CS-"] * 14 + ["CS+"])
    line = cli_error(["epochs", path, "--events", log, "--anchor", "CS+,CS-", "--folds", "2"],
                     capsys, tmp_path, "rig.log", "[time]", "19 of 29 anchor events",
                     "clocks do not match", "--event-offset", "--sync-event")
    assert "imaging 0.000 .. 299.900 s" in line
    # the fix works: shifting the events onto the imaging clock
    out, _ = cli_ok(["epochs", path, "--events", log, "--anchor", "CS+,CS-", "--folds", "2",
                     "--event-offset", "-195"], capsys)
    assert "29 trials" in out or "(29 kept)" in out


def test_a_few_edge_trials_only_warn(tmp_path, capsys):
    path = _traces_csv(tmp_path)
    log = _arduino(tmp_path, [0.5] + list(np.arange(10, 290, 10.0)), ["CS+", "CS-"] * 14 + ["CS+"])
    out, err = cli_ok(["epochs", path, "--events", log, "--anchor", "CS+,CS-", "--folds", "2"],
                      capsys)
    assert "dropped 1 of 29 trials" in err and "(28 kept)" in out


# ---------------------------------------------------------------- damaged files


def _session_file(path):
    rng = np.random.default_rng(0)
    s = Session(rng.normal(size=(3, 2000)), np.arange(2000) / RATE,
                events=Events([1.0, 2.0], ["A", "B"]))
    save_session(s, path, compression=None)
    return path


@pytest.mark.parametrize("keep", [100, 0.5])
def test_truncated_hdf5_is_a_format_error_when_sniffing(tmp_path, keep):
    full = _session_file(tmp_path / "full.h5").read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(full[:keep if isinstance(keep, int) else int(len(full) * keep)])
    with pytest.raises(FormatError) as exc:
        sniff_traces_format(cut)
    assert "cut.h5" in str(exc.value) and "[file]" in str(exc.value)
    assert "truncated" in str(exc.value) and "copy the file again" in str(exc.value)


@pytest.mark.parametrize("fmt", ["auto", "gpudecode", "caiman", "nwb"])
def test_cli_truncated_hdf5(tmp_path, capsys, fmt):
    full = _session_file(tmp_path / "full.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(full[:len(full) // 2])
    cli_error(["decode", tmp_path / "cut.h5", "--format", fmt, "--anchor", "A",
               "--out", tmp_path / "out"], capsys, tmp_path, "cut.h5")


# ---------------------------------------------------------------- sniffing text


def test_sniff_text_files(tmp_path):
    np.savetxt(tmp_path / "C.txt", np.ones((2, 5)))
    assert sniff_traces_format(tmp_path / "C.txt") == "text"
    _traces_csv(tmp_path, n_frames=5)
    assert sniff_traces_format(tmp_path / "traces.csv") == "csv"
    (tmp_path / "t.txt").write_text("# exported\n\ntime;C0\n0;1\n")
    assert sniff_traces_format(tmp_path / "t.txt") == "csv"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_sniff_events_by_byte_order_mark(tmp_path, encoding):
    (tmp_path / "ev.csv").write_text("time,event\n1.0,A\n", encoding=encoding)
    assert sniff_events_format(tmp_path / "ev.csv") == "csv"
    (tmp_path / "rig.log").write_text("# rig\n1500\tlick\n", encoding=encoding)
    assert sniff_events_format(tmp_path / "rig.log") == "arduino"
    (tmp_path / "abet.csv").write_text("Animal ID,m1\nEvnt_Time,Evnt_ID,Evnt_Name,Item_Name\n",
                                       encoding=encoding)
    assert sniff_events_format(tmp_path / "abet.csv") == "abet"


def test_no_warning_for_aligned_session(tmp_path):
    path = _traces_csv(tmp_path)
    log = _arduino(tmp_path, np.arange(10, 290, 10.0), ["CS"] * 28)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_session(path, log)


# ---------------------------------------------------------------- the same through the CLI


def test_cli_time_column_in_milliseconds(tmp_path, capsys):
    write_traces_csv(tmp_path / "traces.csv", np.ones((2, 200)), np.arange(200) * 270.0)
    cli_error(["decode", tmp_path / "traces.csv", "--anchor", "A", "--out", tmp_path / "out"],
              capsys, tmp_path, "traces.csv", "[time]", "looks like milliseconds",
              "divide by 1000")


def test_cli_reads_semicolon_csv_and_utf16_events(tmp_path, capsys):
    rng = np.random.default_rng(3)
    values = rng.normal(size=(3, 600))
    rows = ["Time (s);C0;C1;C2"] + [
        ";".join(f"{v:.6f}".replace(".", ",") for v in (i / RATE, *values[:, i]))
        for i in range(600)]
    (tmp_path / "traces.csv").write_text("\r\n".join(rows) + "\r\n")
    events = "time,event\n" + "".join(f"{t},{'A' if k % 2 else 'B'}\n"
                                      for k, t in enumerate(range(5, 55, 5)))
    (tmp_path / "events.csv").write_text(events, encoding="utf-16")
    out, _ = cli_ok(["epochs", tmp_path / "traces.csv", "--events", tmp_path / "events.csv",
                     "--anchor", "A,B", "--folds", "2"], capsys)
    assert "10 trials x 3 cells" in out

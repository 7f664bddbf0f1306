"""Plain-text matrices (C.txt / S.txt exports), written with numpy.savetxt as the pipelines do."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from cli_checks import cli_error, cli_ok

from gpudecode.errors import FormatError, ParameterError, ShapeError
from gpudecode.io import load_session, sniff_traces_format
from gpudecode.io.text_matrix import read_frame_times, read_text_matrix
from gpudecode.pipeline import DecodeConfig, decode_epochs
from gpudecode.trials import TrialSpec, make_epochs

RATE = 10.0


@pytest.fixture(scope="module")
def matrix():
    return np.random.default_rng(4).normal(size=(7, 400))


def _savetxt(path, arr, **kw):
    np.savetxt(path, arr, **kw)
    return path


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_cells_x_frames_with_frame_rate(tmp_path, matrix, newline):
    path = _savetxt(tmp_path / "C.txt", matrix, newline=newline)
    assert sniff_traces_format(path) == "text"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = load_session(path, frame_rate=RATE)
    np.testing.assert_array_equal(s.traces, matrix.astype(np.float32))
    np.testing.assert_allclose(s.frame_times, np.arange(400) / RATE)
    assert list(s.cell_ids) == [str(i) for i in range(7)]
    assert s.source["format"] == "text" and s.source["orientation"] == "cells x frames"


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_frames_x_cells_is_transposed_and_said(tmp_path, matrix, newline):
    path = _savetxt(tmp_path / "C.txt", matrix.T, newline=newline, fmt="%.7g")
    with pytest.warns(UserWarning, match=r"400 rows x 7 columns.*read as 7 cells x 400 frames"):
        s = load_session(path, frame_rate=RATE)
    np.testing.assert_allclose(s.traces, matrix, rtol=1e-6, atol=1e-6)
    assert s.source["orientation"] == "frames x cells"


def test_comma_separated_headerless_matrix(tmp_path, matrix):
    path = _savetxt(tmp_path / "C.csv", matrix, delimiter=",")
    assert sniff_traces_format(path) == "text"
    s = load_session(path, frame_rate=RATE)
    np.testing.assert_array_equal(s.traces, matrix.astype(np.float32))


def test_frame_times_file_decides_the_orientation(tmp_path):
    """30 frames x 50 cells: the long axis is cells, but 30 frame times name the frame axis."""
    data = np.random.default_rng(1).normal(size=(30, 50))
    path = _savetxt(tmp_path / "C.txt", data)
    times = _savetxt(tmp_path / "times.txt", 3.0 + np.arange(30) / RATE, fmt="%.6f")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = load_session(path, frame_times=times)
    assert s.n_cells == 50 and s.n_frames == 30
    np.testing.assert_array_equal(s.traces, data.T.astype(np.float32))
    np.testing.assert_allclose(s.frame_times, 3.0 + np.arange(30) / RATE)
    assert s.source["orientation"] == "frames x cells"
    assert s.source["frame_times"] == str(times)


def test_frame_times_match_neither_axis(tmp_path, matrix):
    path = _savetxt(tmp_path / "C.txt", matrix)
    times = _savetxt(tmp_path / "times.txt", np.arange(399) / RATE)
    with pytest.raises(ShapeError) as exc:
        load_session(path, frame_times=times)
    msg = str(exc.value)
    assert "C.txt" in msg and "[--frame-times]" in msg and "399 frame times" in msg


def test_missing_frame_rate_is_a_clear_error(tmp_path, matrix):
    path = _savetxt(tmp_path / "C.txt", matrix)
    with pytest.raises(ParameterError) as exc:
        load_session(path)
    msg = str(exc.value)
    assert "C.txt" in msg and "[--frame-rate]" in msg
    assert "--frame-rate HZ" in msg and "--frame-times FILE" in msg


def test_rate_and_times_together_are_refused(tmp_path, matrix):
    path = _savetxt(tmp_path / "C.txt", matrix)
    times = _savetxt(tmp_path / "times.txt", np.arange(400) / RATE)
    with pytest.raises(ParameterError, match=r"\[--frame-times\].*not both"):
        load_session(path, frame_rate=RATE, frame_times=times)


def test_read_frame_times_header_and_errors(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("time (s)\r\n0.0\r\n0.1\r\n\r\n0.2\r\n")
    np.testing.assert_array_equal(read_frame_times(path), [0.0, 0.1, 0.2])
    path.write_text("0.0\n0.1 5\n")
    with pytest.raises(FormatError, match=r"line 2 has 2 values.*\[frame_times\]|"
                                           r"\[frame_times\] line 2 has 2 values"):
        read_frame_times(path)
    path.write_text("0.0\nsoon\n")
    with pytest.raises(FormatError, match="line 2: 'soon' is not a time"):
        read_frame_times(path)


def test_header_line_points_to_csv(tmp_path):
    path = tmp_path / "C.txt"
    path.write_text("cell_a cell_b\n1 2\n3 4\n")
    assert sniff_traces_format(path) == "csv"   # a header: the CSV reader's business
    with pytest.raises(FormatError) as exc:
        read_text_matrix(path)
    assert "line 1 is not all numbers" in str(exc.value) and "--format csv" in str(exc.value)


def test_ragged_row_and_bad_value_name_the_line(tmp_path):
    path = tmp_path / "C.txt"
    path.write_text("1 2 3\n4 5\n")
    with pytest.raises(FormatError, match="line 2 has 2 values but line 1 has 3"):
        read_text_matrix(path)
    junk = "x" * 500
    path.write_text(f"1 2 3\n4 {junk} 6\n")
    with pytest.raises(FormatError) as exc:
        read_text_matrix(path)
    msg = str(exc.value)
    assert "line 2, value 2" in msg and "(500 characters)" in msg and len(msg) < 300


def test_a_time_row_left_in_the_export_is_refused(tmp_path, matrix):
    data = np.vstack([np.arange(400) / RATE, matrix])
    path = _savetxt(tmp_path / "C.txt", data)
    with pytest.raises(FormatError) as exc:
        read_text_matrix(path)
    assert "looks like frame times" in str(exc.value) and "--frame-times" in str(exc.value)


def _trial_locked(tmp_path, n_trials=24, n_frames=30, n_cells=8, seed=0):
    """A trial-locked S.txt: frames only during trials, BEGIN events in an Arduino log.

    Cell 2 fires 1.2-2.0 s into every CS+ trial (the planted signal); cell 5 fires at
    random; every other cell is all zeros (constant features).
    """
    rng = np.random.default_rng(seed)
    starts = 5.0 + 12.0 * np.arange(n_trials)
    times = (starts[:, None] + np.arange(n_frames)[None, :] / RATE).reshape(-1)
    labels = np.array(["CS+", "CS-"] * (n_trials // 2))
    S = np.zeros((n_cells, n_trials * n_frames))
    for k in range(n_trials):
        if labels[k] == "CS+":
            S[2, k * n_frames + 12:k * n_frames + 20] = rng.uniform(1, 2, 8)
        S[5, k * n_frames + rng.integers(0, n_frames, 2)] = 1.0
    _savetxt(tmp_path / "S.txt", S, newline="\r\n")
    _savetxt(tmp_path / "frame_times.txt", times, fmt="%.4f")
    with open(tmp_path / "rig.log", "w") as fh:
        for k, t in enumerate(starts):
            fh.write(f"{round(t * 1000)}\tBEGIN\n{round((t + 1) * 1000)}\t{labels[k]}\n")
    return S, times, labels


def test_trial_locked_frame_times_cut_each_trial_at_its_begin(tmp_path):
    S, times, _ = _trial_locked(tmp_path)
    s = load_session(tmp_path / "S.txt", tmp_path / "rig.log",
                     frame_times=tmp_path / "frame_times.txt")
    assert len(s.gaps()) == 23                    # one jump between consecutive trials
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ep = make_epochs(s, TrialSpec("BEGIN", pre=0.0, post=3.0))
    assert ep.n_trials == 24 and ep.n_frames == 30
    for k in range(24):
        np.testing.assert_array_equal(ep.data[k], S[:, 30 * k:30 * (k + 1)].astype(np.float32))


def test_sparse_s_txt_decodes_the_planted_cell_without_warnings(tmp_path):
    _trial_locked(tmp_path)
    s = load_session(tmp_path / "S.txt", tmp_path / "rig.log",
                     frame_times=tmp_path / "frame_times.txt")
    ep = make_epochs(s, TrialSpec(("CS+", "CS-"), pre=1.0, post=1.5))
    config = DecodeConfig(analyses="all", classifiers="linear-svm",
                          population_classifiers="linear-svm", shuffles=5, folds=3,
                          select_k=3, device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = decode_epochs(ep, config)
    # constant cell-trials are summarised (one line per kind), never one warning per fit
    assert len(caught) <= 3, [str(w.message)[:200] for w in caught]
    assert all(len(str(w.message)) < 300 for w in caught)
    acc = out.single_cell.test_accuracy.mean(-1)[0]      # balanced accuracy per cell
    assert acc[2] > 0.9                                   # the planted cell
    for cell in (0, 1, 3, 4, 6, 7):                       # all-zero cells: chance
        assert abs(acc[cell] - 0.5) < 0.1


# ---------------------------------------------------------------- command line


def test_cli_info_reads_text_matrix_and_says_orientation(tmp_path, matrix, capsys):
    path = _savetxt(tmp_path / "C.txt", matrix.T)
    out, err = cli_ok(["info", path, "--frame-rate", RATE], capsys)
    assert "7 cells x 400 frames" in out and "frames x cells" in out
    assert "read as 7 cells x 400 frames" in err


def test_cli_frame_times_option(tmp_path, capsys):
    _trial_locked(tmp_path)
    out, _ = cli_ok(["epochs", tmp_path / "S.txt", "--events", tmp_path / "rig.log",
                     "--frame-times", tmp_path / "frame_times.txt", "--anchor", "CS+,CS-",
                     "--pre", "1", "--post", "1.5", "--folds", "3"], capsys)
    assert "24 trials x 8 cells x 25 frames" in out


def test_cli_missing_frame_rate(tmp_path, matrix, capsys):
    path = _savetxt(tmp_path / "C.txt", matrix)
    cli_error(["decode", path, "--anchor", "A", "--out", tmp_path / "out"], capsys, tmp_path,
              "C.txt", "[--frame-rate]", "--frame-times FILE")


def test_cli_whitespace_matrix_forced_as_csv_is_short_and_points_to_text(tmp_path, capsys):
    """The old message quoted the whole first row (119 KB for a real C.txt)."""
    big = np.random.default_rng(0).normal(size=(3, 6000))
    path = _savetxt(tmp_path / "C.txt", big)
    line = cli_error(["info", path, "--format", "csv"], capsys, tmp_path,
                     "C.txt", "[header]", "--format text")
    assert len(line) < 400


def test_cli_frame_times_file_with_wrong_count(tmp_path, matrix, capsys):
    path = _savetxt(tmp_path / "C.txt", matrix)
    times = _savetxt(tmp_path / "times.txt", np.arange(10) / RATE)
    cli_error(["info", path, "--frame-times", times], capsys, tmp_path,
              "C.txt", "[--frame-times]", "10 frame times")

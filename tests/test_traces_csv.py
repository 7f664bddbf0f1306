"""Traces CSV reader/writer: Inscopix and plain layouts, hand-written per FORMATS.md."""

from __future__ import annotations

import numpy as np
import pytest

from gpudecode.errors import FormatError, ParameterError, ShapeError
from gpudecode.io import load_traces, sniff_traces_format
from gpudecode.io.traces_csv import read_traces_csv, write_traces_csv

# Inscopix cell-set export: row 1 blank then cell names, row 2 statuses, ", " separators.
INSCOPIX = (
    " , C00, C01, C02, C03\r\n"
    "Time(s)/Cell Status, accepted, rejected, undecided, accepted\r\n"
    "0.000000, 1.25, -0.5, 3.0, 0.125\r\n"
    "0.050000, 1.5, -0.25, 2.75, 0.25\r\n"
    "0.100000, 1.75, 0.0, 2.5, 0.375\r\n"
)
PLAIN = (
    "Time (s), C0, C1\n"
    "0.0, 10.5, 20.25\n"
    "0.1, 11.5, 21.25\n"
    "0.2, 12.5, 22.25\n"
)


def _write(tmp_path, text, name="traces.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_inscopix_with_status_drops_rejected_keeps_undecided(tmp_path):
    d = read_traces_csv(_write(tmp_path, INSCOPIX))
    assert d.cell_ids == ["C00", "C02", "C03"]
    assert d.traces.dtype == np.float32 and d.traces.shape == (3, 3)  # cells x frames
    np.testing.assert_array_equal(d.traces[0], [1.25, 1.5, 1.75])
    np.testing.assert_array_equal(d.traces[1], [3.0, 2.75, 2.5])
    np.testing.assert_array_equal(d.frame_times, [0.0, 0.05, 0.1])
    assert d.meta == {"status": ["accepted", "undecided", "accepted"], "n_rejected": 1,
                      "n_dropped": 1}


def test_keep_rejected_keeps_every_cell(tmp_path):
    d = read_traces_csv(_write(tmp_path, INSCOPIX), keep_rejected=True)
    assert d.cell_ids == ["C00", "C01", "C02", "C03"]
    np.testing.assert_array_equal(d.traces[1], [-0.5, -0.25, 0.0])
    assert d.meta["n_rejected"] == 1 and d.meta["n_dropped"] == 0


def test_plain_layout_and_load_traces_sniffs_csv(tmp_path):
    path = _write(tmp_path, PLAIN)
    assert sniff_traces_format(path) == "csv"
    d = load_traces(path)
    assert d.cell_ids == ["C0", "C1"]
    np.testing.assert_array_equal(d.traces, [[10.5, 11.5, 12.5], [20.25, 21.25, 22.25]])
    assert d.meta["status"] is None


@pytest.mark.parametrize("first", ["time", "Time(s)", "time_s", "Time(s)/Cell Name", ""])
def test_time_header_spellings(tmp_path, first):
    d = read_traces_csv(_write(tmp_path, f"{first},a,b\n0,1,2\n1,3,4\n"))
    assert d.cell_ids == ["a", "b"]
    np.testing.assert_array_equal(d.frame_times, [0.0, 1.0])


def test_blank_first_cell_without_status_row(tmp_path):
    d = read_traces_csv(_write(tmp_path, " , C0, C1\n0.0, 1, 2\n0.1, 3, 4\n"))
    assert d.cell_ids == ["C0", "C1"] and d.meta["status"] is None
    np.testing.assert_array_equal(d.traces, [[1, 3], [2, 4]])


def test_tab_separated(tmp_path):
    d = read_traces_csv(_write(tmp_path, "time\tc1\tc2\n0.0\t1\t2\n0.5\t3\t4\n", "t.tsv"))
    np.testing.assert_array_equal(d.traces, [[1, 3], [2, 4]])


def test_empty_and_nan_values_read_as_nan(tmp_path):
    d = read_traces_csv(_write(tmp_path, "Time (s), C0, C1\n0.0, 1, \n0.1, nan, 4\n0.2, NaN, 5\n"))
    assert np.isnan(d.traces[1, 0]) and np.isnan(d.traces[0, 1]) and np.isnan(d.traces[0, 2])
    assert int(np.isnan(d.traces).sum()) == 3
    np.testing.assert_array_equal(d.frame_times, [0.0, 0.1, 0.2])


def test_trailing_separator_is_tolerated(tmp_path):
    d = read_traces_csv(_write(tmp_path, "Time (s), C0, C1,\n0.0, 1, 2,\n0.1, 3, 4,\n"))
    assert d.cell_ids == ["C0", "C1"]
    np.testing.assert_array_equal(d.traces, [[1, 3], [2, 4]])


def test_round_trip_to_float32_precision(tmp_path):
    rng = np.random.default_rng(3)
    traces = (rng.standard_normal((7, 200)) * 1e3).astype(np.float32)
    traces[2, 5] = np.nan
    times = 12.3 + np.cumsum(rng.uniform(0.03, 0.04, 200))
    statuses = ["accepted", "undecided", "rejected", "accepted", "accepted", "rejected", "accepted"]
    ids = [f"C{i:02d}" for i in range(7)]
    path = tmp_path / "rt.csv"
    write_traces_csv(path, traces, times, ids, statuses)
    lines = path.read_text().splitlines()
    assert lines[0] == " , C00, C01, C02, C03, C04, C05, C06"
    assert lines[1].startswith("Time(s)/Cell Status, accepted, undecided, rejected")
    d = read_traces_csv(path, keep_rejected=True)
    np.testing.assert_array_equal(d.traces, traces)  # NaN == NaN in assert_array_equal
    np.testing.assert_array_equal(d.frame_times, times)
    assert d.cell_ids == ids and d.meta["status"] == statuses
    kept = read_traces_csv(path)
    assert kept.cell_ids == [ids[i] for i in (0, 1, 3, 4, 6)]
    np.testing.assert_array_equal(kept.traces, traces[[0, 1, 3, 4, 6]])


def test_write_without_statuses_uses_plain_header(tmp_path):
    path = tmp_path / "plain.csv"
    write_traces_csv(path, np.ones((2, 3)), [0.0, 0.1, 0.2], ["a", "b,c"])
    assert path.read_text().splitlines()[0] == 'Time (s), a, "b,c"'
    assert read_traces_csv(path).cell_ids == ["a", "b,c"]


def test_writer_rejects_bad_shapes_and_writes_nothing(tmp_path):
    path = tmp_path / "bad.csv"
    with pytest.raises(ShapeError, match="frame times") as e:
        write_traces_csv(path, np.ones((3, 4)), np.arange(3.0), ["a", "b", "c"])
    assert e.value.field == "frame_times"
    with pytest.raises(ShapeError, match="cell ids"):
        write_traces_csv(path, np.ones((3, 4)), np.arange(4.0), ["a", "b"])
    with pytest.raises(ParameterError, match="maybe"):
        write_traces_csv(path, np.ones((1, 4)), np.arange(4.0), ["a"], ["maybe"])
    assert list(tmp_path.iterdir()) == []


# --- bad input: the message names the file, the line and the column ---------------------

def test_non_numeric_value_names_line_and_column(tmp_path):
    path = _write(tmp_path, INSCOPIX.replace("2.75", "2.7x"))
    with pytest.raises(FormatError) as e:
        read_traces_csv(path)
    msg = str(e.value)
    assert str(path) in msg and "line 4" in msg and "column 4" in msg and "'2.7x'" in msg
    assert e.value.field == "C02"


def test_ragged_row_names_line(tmp_path):
    path = _write(tmp_path, PLAIN.replace("0.1, 11.5, 21.25", "0.1, 11.5"))
    with pytest.raises(FormatError) as e:
        read_traces_csv(path)
    assert str(path) in str(e.value) and "line 3 has 2 values" in str(e.value)
    assert e.value.field == "row"


def test_missing_time_value_names_line(tmp_path):
    path = _write(tmp_path, "time, C0\n0.0, 1\n, 2\n")
    with pytest.raises(FormatError, match="line 3: the frame time is missing") as e:
        read_traces_csv(path)
    assert e.value.field == "time" and str(path) in str(e.value)


def test_no_cells(tmp_path):
    path = _write(tmp_path, "time\n0.0\n0.1\n")
    with pytest.raises(FormatError, match="names no cells") as e:
        read_traces_csv(path)
    assert str(path) in str(e.value) and e.value.field == "header"


def test_first_column_not_time(tmp_path):
    path = _write(tmp_path, "frame, C0\n0, 1\n1, 2\n")
    with pytest.raises(FormatError, match="first column is 'frame'") as e:
        read_traces_csv(path)
    assert e.value.field == "frame" and str(path) in str(e.value)


def test_headerless_numbers(tmp_path):
    path = _write(tmp_path, "0.0, 1, 2\n0.1, 3, 4\n")
    with pytest.raises(FormatError, match="line 1 holds numbers, not a header") as e:
        read_traces_csv(path)
    assert e.value.field == "header"


def test_empty_file_and_header_only(tmp_path):
    with pytest.raises(FormatError, match="empty"):
        read_traces_csv(_write(tmp_path, "", "empty.csv"))
    with pytest.raises(FormatError, match="no data rows") as e:
        read_traces_csv(_write(tmp_path, "time, C0\n", "head.csv"))
    assert "head.csv" in str(e.value)


def test_all_rejected(tmp_path):
    path = _write(tmp_path,
                  " , C0, C1\nTime(s)/Cell Status, rejected, rejected\n0, 1, 2\n1, 3, 4\n")
    with pytest.raises(FormatError, match="all 2 cells are marked rejected") as e:
        read_traces_csv(path)
    assert e.value.field == "Cell Status" and "keep-rejected" in str(e.value)
    assert read_traces_csv(path, keep_rejected=True).traces.shape == (2, 2)


def test_unknown_status_word(tmp_path):
    path = _write(tmp_path, " , C0, C1\nTime(s)/Cell Status, accepted, maybe\n0, 1, 2\n")
    with pytest.raises(FormatError, match="'C1' has status 'maybe'") as e:
        read_traces_csv(path)
    assert e.value.field == "Cell Status" and "line 2" in str(e.value)


def test_duplicate_cell_names(tmp_path):
    with pytest.raises(FormatError, match="more than once"):
        read_traces_csv(_write(tmp_path, "time, C0, C0\n0, 1, 2\n"))


# ---------------------------------------------------------------- almost-right inputs


def _semicolon_csv(path, times, values, decimal_comma):
    """A European spreadsheet export: ';' separators (stdlib csv writer), maybe decimal commas."""
    import csv

    def fmt(v):
        text = repr(float(v))
        return text.replace(".", ",") if decimal_comma else text

    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        w.writerow(["Time (s)"] + [f"C{j}" for j in range(values.shape[0])])
        for i, t in enumerate(times):
            w.writerow([fmt(t)] + [fmt(v) for v in values[:, i]])
    return path


@pytest.mark.parametrize("decimal_comma", [False, True])
def test_semicolon_separated_csv_is_read(tmp_path, decimal_comma):
    rng = np.random.default_rng(2)
    values, times = rng.normal(size=(3, 50)), np.arange(50) / 20.0
    path = _semicolon_csv(tmp_path / "traces.csv", times, values, decimal_comma)
    assert sniff_traces_format(path) == "csv"
    d = read_traces_csv(path)
    assert d.cell_ids == ["C0", "C1", "C2"]
    np.testing.assert_array_equal(d.frame_times, times)
    np.testing.assert_array_equal(d.traces, values.astype(np.float32))


def test_semicolon_csv_bad_value_names_line(tmp_path):
    path = _write(tmp_path, "time;C0\n0,0;1,5\n0,1;abc\n")
    with pytest.raises(FormatError, match=r"line 3, column 2 \('C0'\): 'abc' is not a number"):
        read_traces_csv(path)


def test_long_first_column_name_is_capped(tmp_path):
    name = "T" * 5000
    path = _write(tmp_path, f"{name},C0\n0,1\n1,2\n")
    with pytest.raises(FormatError) as exc:
        read_traces_csv(path)
    msg = str(exc.value)
    assert "(5,000 characters)" in msg and len(msg) < 400


def test_time_column_in_milliseconds_is_named(tmp_path):
    """A 3.7 Hz recording with its time column in ms reads as 0.0037 Hz."""
    from gpudecode.errors import FrameTimesError
    from gpudecode.io import load_session
    times_ms = np.arange(200) * 270.0
    write_traces_csv(tmp_path / "traces.csv", np.ones((2, 200)), times_ms)
    with pytest.raises(FrameTimesError) as exc:
        load_session(tmp_path / "traces.csv")
    msg = str(exc.value)
    assert "traces.csv" in msg and "[time]" in msg and "0.0037 Hz" in msg
    assert "looks like milliseconds" in msg and "3.704 Hz" in msg and "divide" in msg


def test_time_column_in_seconds_at_slow_rates_is_fine(tmp_path):
    """0.5 Hz volumetric imaging (2 s per volume) is slow but real."""
    from gpudecode.io import load_session
    write_traces_csv(tmp_path / "traces.csv", np.ones((2, 50)), np.arange(50) * 2.0)
    assert load_session(tmp_path / "traces.csv").frame_rate == pytest.approx(0.5)

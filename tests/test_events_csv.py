"""Generic events CSV: time,event + typed attribute columns."""

from __future__ import annotations

import numpy as np
import pytest

from gpudecode.errors import FormatError, ParameterError
from gpudecode.io import load_events, load_session, sniff_events_format
from gpudecode.io.events_csv import read_events_csv, write_events_csv
from gpudecode.io.traces_csv import write_traces_csv
from gpudecode.session import Events

EVENTS = (
    "time,event,position,object,correct\n"
    "12.5,Display Image,1,flower,\n"
    "3.25,Touch Down Event,3,spider,1\n"
    "20.0,Correct,,,1\n"
)


def _write(tmp_path, text, name="events.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_reads_sorted_with_typed_attributes(tmp_path):
    ev = read_events_csv(_write(tmp_path, EVENTS))
    np.testing.assert_array_equal(ev.times, [3.25, 12.5, 20.0])
    assert ev.names.tolist() == ["Touch Down Event", "Display Image", "Correct"]
    assert ev.attrs["position"].dtype == np.float64
    np.testing.assert_array_equal(ev.attrs["position"], [3.0, 1.0, np.nan])
    assert ev.attrs["object"].dtype == object
    assert ev.attrs["object"].tolist() == ["spider", "flower", ""]
    np.testing.assert_array_equal(ev.attrs["correct"], [1.0, np.nan, 1.0])


def test_case_insensitive_header_any_order_spaces_and_comments(tmp_path):
    text = "# exported by rig 2\nEvent, Time , Trial\n\nReward, 1.5, 1\nLick, 0.5, 1\n"
    ev = read_events_csv(_write(tmp_path, text))
    assert ev.names.tolist() == ["Lick", "Reward"]
    np.testing.assert_array_equal(ev.times, [0.5, 1.5])
    assert list(ev.attrs) == ["Trial"]


def test_tab_separated(tmp_path):
    ev = read_events_csv(_write(tmp_path, "time\tevent\tside\n1.0\tpoke\tleft\n", "e.tsv"))
    assert ev.attrs["side"].tolist() == ["left"]


def test_round_trip(tmp_path):
    ev = Events([0.1, 1 / 3, 7.0], ["a", "b,c", "a"],
                {"x": [1.0, np.nan, 2.5], "label": ["p", "", "q r"]})
    path = tmp_path / "rt.csv"
    write_events_csv(path, ev)
    assert path.read_text().splitlines()[0] == "time,event,x,label"
    back = read_events_csv(path)
    np.testing.assert_array_equal(back.times, ev.times)
    assert back.names.tolist() == ev.names.tolist()
    np.testing.assert_array_equal(back.attrs["x"], ev.attrs["x"])
    assert back.attrs["label"].tolist() == ["p", "", "q r"]


def test_writer_refuses_clashing_attribute(tmp_path):
    path = tmp_path / "x.csv"
    with pytest.raises(ParameterError, match="'Time'") as e:
        write_events_csv(path, Events([1.0], ["a"], {"Time": [2.0]}))
    assert e.value.field == "Time"
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_empty_table(tmp_path):
    ev = read_events_csv(_write(tmp_path, "time,event,x\n"))
    assert len(ev) == 0 and list(ev.attrs) == ["x"]


# --- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize("header,missing", [("t,event", "time"), ("time,name", "event")])
def test_missing_required_column_names_the_field(tmp_path, header, missing):
    path = _write(tmp_path, f"{header}\n1.0,a\n")
    with pytest.raises(FormatError, match=f"no '{missing}' column") as e:
        read_events_csv(path)
    assert e.value.field == missing and str(path) in str(e.value)


def test_bad_time_names_line(tmp_path):
    path = _write(tmp_path, "time,event\n1.0,a\n2.x,b\n")
    with pytest.raises(FormatError, match="line 3: the time value '2.x' is not a finite") as e:
        read_events_csv(path)
    assert e.value.field == "time" and str(path) in str(e.value)


def test_empty_time_and_name(tmp_path):
    with pytest.raises(FormatError, match="line 2: the time value is empty"):
        read_events_csv(_write(tmp_path, "time,event\n,a\n", "a.csv"))
    with pytest.raises(FormatError, match="line 3: the event name is empty") as e:
        read_events_csv(_write(tmp_path, "time,event\n1,a\n2,\n", "b.csv"))
    assert e.value.field == "event" and "b.csv" in str(e.value)


def test_row_longer_than_header(tmp_path):
    path = _write(tmp_path, "time,event\n1,a,extra\n")
    with pytest.raises(FormatError, match="line 2 has 3 values but the header has 2") as e:
        read_events_csv(path)
    assert str(path) in str(e.value)


def test_empty_file(tmp_path):
    path = _write(tmp_path, "\n# nothing\n")
    with pytest.raises(FormatError, match="empty") as e:
        read_events_csv(path)
    assert e.value.field == "header" and str(path) in str(e.value)


# --- through load_session ----------------------------------------------------------------

def _traces(tmp_path):
    path = tmp_path / "traces.csv"
    times = np.arange(300) / 10.0  # 0 .. 29.9 s
    write_traces_csv(path, np.random.default_rng(0).random((3, 300)), times)
    return path


def test_load_session_with_events_csv(tmp_path):
    ev_path = _write(tmp_path, EVENTS)
    assert sniff_events_format(ev_path) == "csv"
    assert load_events(ev_path).names.tolist() == ["Touch Down Event", "Display Image", "Correct"]
    s = load_session(_traces(tmp_path), events=ev_path)
    assert s.n_cells == 3 and s.n_frames == 300
    assert s.events.counts() == {"Touch Down Event": 1, "Display Image": 1, "Correct": 1}
    assert s.source["events"] == str(ev_path)


def test_load_session_event_offset_shifts_times(tmp_path):
    s = load_session(_traces(tmp_path), events=_write(tmp_path, EVENTS), event_offset=-2.0)
    np.testing.assert_allclose(s.events.times, [1.25, 10.5, 18.0])


# ---------------------------------------------------------------- encodings and separators


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig", "cp1252"])
def test_excel_encodings_are_sniffed_and_read(tmp_path, encoding):
    """Excel's 'Unicode text' is UTF-16 with a BOM; utf-16-le without BOM is not sniffable."""
    text = "time,event,object\n1.5,Display Image,café\n2.0,Correct,\n"
    path = tmp_path / "events.csv"
    path.write_text(text, encoding=encoding)
    if encoding == "utf-16-le":
        with pytest.raises(FormatError) as exc:
            load_events(path)
        assert "[format]" in str(exc.value) or "binary" in str(exc.value)
        return
    assert sniff_events_format(path) == "csv"
    ev = load_events(path)
    assert ev.names.tolist() == ["Display Image", "Correct"]
    assert ev.attrs["object"].tolist() == ["café", ""]


@pytest.mark.parametrize("decimal", [".", ","])
def test_semicolon_separated_events(tmp_path, decimal):
    import csv
    path = tmp_path / "events.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(["time", "event", "position"])
        w.writerow([f"1{decimal}25", "Correct", "3"])
        w.writerow([f"0{decimal}5", "Display Image", "1"])
    assert sniff_events_format(path) == "csv"
    ev = load_events(path)
    np.testing.assert_array_equal(ev.times, [0.5, 1.25])
    assert ev.names.tolist() == ["Display Image", "Correct"]
    np.testing.assert_array_equal(ev.attrs["position"], [1.0, 3.0])


def test_quoted_input_is_capped(tmp_path):
    path = _write(tmp_path, "time,event\n" + "9" * 300 + "x,Correct\n")
    with pytest.raises(FormatError) as exc:
        read_events_csv(path)
    msg = str(exc.value)
    assert "line 2" in msg and "(301 characters)" in msg and len(msg) < 300

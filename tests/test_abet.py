"""ABET II raw data CSV: header block, Evnt_Time row, definitions dropped, attributes kept."""

from __future__ import annotations

import numpy as np
import pytest

from gpudecode.errors import FormatError, ParameterError
from gpudecode.io import load_events, load_session, sniff_events_format
from gpudecode.io.abet import read_abet_csv, read_abet_header, write_abet_csv
from gpudecode.io.traces_csv import write_traces_csv
from gpudecode.session import Events

COLUMNS = ("Evnt_Time,Evnt_ID,Evnt_Name,Item_Name,Alias_Name,Group_ID,Arg1_Name,Arg1_Value,"
           "Arg2_Name,Arg2_Value,Arg3_Name,Arg3_Value,Arg4_Name,Arg4_Value")
# A PAL-like session as ABET II exports it (FORMATS.md): key,value header block, then the
# column row, definition rows at time 0, then events in seconds.
ABET = "\r\n".join([
    "Animal ID,M12",
    "Date/Time,03/02/2021 10:15:02",
    "Schedule Name,Mouse dPAL Training v3",
    "Environment,Chamber 2",
    "Max_Number_Trials,36",
    "Max_Schedule_Time,3600",
    COLUMNS,
    "0,1,Condition Event,Display Image,,7,,,,,,,,",
    "0,1,Condition Event,Correct,,14,,,,,,,,",
    "0,1,Condition Event,Incorrect,,15,,,,,,,,",
    "0,3,Touch Down Event,Bussey Mouse Operant Mode 3 x 1 x low,,1,Position,,,,,,,",
    "0,8,Output On Event,TTL #1,,16,,,,,,,,",
    "0.5,8,Output On Event,TTL #1,,16,,,,,,,,",
    "12.406,1,Condition Event,Display Image,,7,,,,,,,,",
    "12.406,5,Whisker - Display Image,Images,flower,9,Position,1,Image,Flower.bmp,,,,",
    "15.112,3,Touch Down Event,Bussey Mouse Operant Mode 3 x 1 x low,,1,Position,3,,,,,,",
    "15.112,1,Condition Event,Incorrect,,15,,,,,,,,",
    "20.25,8,Output On Event,TTL #1,,16,,,,,,,,",
    "31.7,1,Condition Event,Display Image,,7,,,,,,,,",
    "33.05,3,Touch Down Event,Bussey Mouse Operant Mode 3 x 1 x low,,1,Position,1,,,,,,",
    "33.05,1,Condition Event,Correct,,14,,,,,,,,",
    "",
])


def _write(tmp_path, text, name="abet.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_definitions_dropped_names_and_attributes(tmp_path):
    ev = read_abet_csv(_write(tmp_path, ABET))
    assert len(ev) == 9  # 14 rows, 5 definitions at time 0
    assert ev.times[0] == 0.5 and np.all(ev.times > 0)
    assert ev.names.tolist()[:4] == ["TTL #1", "Display Image", "Images",
                                     "Bussey Mouse Operant Mode 3 x 1 x low"]
    assert ev.counts()["Display Image"] == 2 and ev.counts()["TTL #1"] == 2
    touch = ev.select(["Bussey Mouse Operant Mode 3 x 1 x low"])
    assert ev.attrs["Evnt_Name"][touch].tolist() == ["Touch Down Event"] * 2
    np.testing.assert_array_equal(ev.attrs["Arg1_Value"][touch], [3.0, 1.0])
    np.testing.assert_array_equal(ev.attrs["Position"][touch], [3.0, 1.0])
    assert np.isnan(ev.attrs["Position"][ev.select(["Correct"])][0])
    np.testing.assert_array_equal(ev.attrs["Group_ID"][ev.select(["Correct"])], [14.0])
    img = ev.select(["Images"])
    assert ev.attrs["Alias_Name"][img].tolist() == ["flower"]
    assert ev.attrs["Arg2_Value"][img].tolist() == ["Flower.bmp"]
    assert ev.attrs["Image"][img].tolist() == ["Flower.bmp"]
    assert set(ev.attrs) == {"Evnt_Name", "Alias_Name", "Group_ID", "Arg1_Value", "Arg2_Value",
                             "Arg3_Value", "Arg4_Value", "Position", "Image"}


def test_header_block(tmp_path):
    h = read_abet_header(_write(tmp_path, ABET))
    assert h["Animal ID"] == "M12"
    assert h["Date/Time"] == "03/02/2021 10:15:02"
    assert h["Schedule Name"] == "Mouse dPAL Training v3"
    assert "Evnt_Time" not in h


def test_event_time_spelling_trailing_commas_and_short_rows(tmp_path):
    text = ("Animal ID,A1,\r\nEvent_Time,Evnt_ID,Evnt_Name,Item_Name,Alias_Name,Group_ID,"
            "Arg1_Name,Arg1_Value,\r\n0,1,Condition Event,Correct,,14,,,\r\n"
            "5.5,1,Condition Event,Correct,,14\r\n6,3,Touch Up Event,,,1,,,\r\n")
    ev = read_abet_csv(_write(tmp_path, text))
    assert ev.names.tolist() == ["Correct", "Touch Up Event"]  # empty Item_Name -> Evnt_Name
    np.testing.assert_array_equal(ev.times, [5.5, 6.0])
    assert read_abet_header(tmp_path / "abet.csv") == {"Animal ID": "A1"}


def test_sniffed_and_loaded_as_abet(tmp_path):
    path = _write(tmp_path, ABET)
    assert sniff_events_format(path) == "abet"
    assert len(load_events(path)) == 9


def test_write_read_round_trip(tmp_path):
    ev = Events([5.0, 1.25, 9.5, 9.5, 12.0],
                ["Display Image", "TTL #1", "Touch Down Event", "Correct", "Feeder #1"],
                {"position": [np.nan, np.nan, 2, np.nan, np.nan],
                 "object": ["", "", "airplane", "", ""]})
    path = tmp_path / "sim.csv"
    write_abet_csv(path, ev, {"Animal ID": "sim01", "Schedule Name": "PAL", "Session": 3})
    lines = path.read_text().splitlines()
    assert lines[:4] == ["Animal ID,sim01", "Date/Time,", "Schedule Name,PAL", "Session,3"]
    assert lines[4].startswith(COLUMNS)
    assert lines[5].startswith("0,")  # definitions follow the column row
    assert read_abet_header(path)["Animal ID"] == "sim01"
    back = read_abet_csv(path)
    np.testing.assert_array_equal(back.times, ev.times)
    assert back.names.tolist() == ev.names.tolist()
    np.testing.assert_array_equal(back.attrs["position"], ev.attrs["position"])
    assert back.attrs["object"].tolist() == ev.attrs["object"].tolist()
    kinds = dict(zip(back.names.tolist(), back.attrs["Evnt_Name"].tolist()))
    assert kinds == {"TTL #1": "Output On Event", "Display Image": "Condition Event",
                     "Touch Down Event": "Touch Down Event", "Correct": "Condition Event",
                     "Feeder #1": "Output On Event"}
    again = tmp_path / "again.csv"
    write_abet_csv(again, back, read_abet_header(path))
    assert again.read_text() == path.read_text()


def test_writer_refuses_time_zero_and_writes_nothing(tmp_path):
    path = tmp_path / "zero.csv"
    with pytest.raises(ParameterError, match="time 0 marks definition rows") as e:
        write_abet_csv(path, Events([0.0, 1.0], ["a", "b"]), {})
    assert e.value.field == "time"
    assert list(tmp_path.iterdir()) == []


# --- bad input ---------------------------------------------------------------------------

def test_no_header_row(tmp_path):
    path = _write(tmp_path, "Animal ID,M12\r\n1.0,1,Condition Event,Correct\r\n")
    with pytest.raises(FormatError, match="no column-header row starting with 'Evnt_Time'") as e:
        read_abet_csv(path)
    assert e.value.field == "Evnt_Time" and str(path) in str(e.value)
    with pytest.raises(FormatError, match="Evnt_Time"):
        read_abet_header(path)


def test_bad_time_names_line(tmp_path):
    path = _write(tmp_path, ABET.replace("15.112,3,", "15.1x2,3,"))
    with pytest.raises(FormatError, match="line 16: the time value '15.1x2'") as e:
        read_abet_csv(path)
    assert e.value.field == "Evnt_Time" and str(path) in str(e.value)


def test_missing_item_name_column(tmp_path):
    path = _write(tmp_path, "Evnt_Time,Evnt_ID,Evnt_Name\r\n1.0,1,Condition Event\r\n")
    with pytest.raises(FormatError, match="no 'Item_Name' column") as e:
        read_abet_csv(path)
    assert e.value.field == "Item_Name" and str(path) in str(e.value)


def test_row_longer_than_header(tmp_path):
    path = _write(tmp_path, "Evnt_Time,Evnt_ID,Evnt_Name,Item_Name\r\n1.0,1,Condition Event,"
                            "Correct,stray\r\n")
    with pytest.raises(FormatError, match="line 2 has 5 values") as e:
        read_abet_csv(path)
    assert str(path) in str(e.value)


# --- through load_session ----------------------------------------------------------------

def test_load_session_traces_csv_plus_abet(tmp_path):
    traces = tmp_path / "cells.csv"
    write_traces_csv(traces, np.random.default_rng(1).random((4, 400)), np.arange(400) / 10.0,
                     [f"C{i}" for i in range(4)], ["accepted", "rejected", "accepted", "undecided"])
    s = load_session(traces, events=_write(tmp_path, ABET))
    assert s.n_cells == 3 and s.cell_ids.tolist() == ["C0", "C2", "C3"]
    assert len(s.events) == 9 and s.events.counts()["Correct"] == 1
    assert s.source["format"] == "csv"

"""Arduino-style ms<TAB>NAME logs."""

from __future__ import annotations

import numpy as np
import pytest

from gpudecode.errors import FormatError
from gpudecode.io import load_events, load_session, sniff_events_format
from gpudecode.io.arduino import read_arduino_log
from gpudecode.io.traces_csv import write_traces_csv

LOG = (
    "# odor rig 3, mouse A7\n"
    "# started 2021-03-02 10:15\n"
    "\n"
    "1520\tlick\n"
    "2034\todor_on\t2\tvalve_b\n"
    "  # pause\n"
    "2500\todor_off\t2\n"
    "900\ttrial_start\n"
    "3001.5\treward\n"
)


def _write(tmp_path, text, name="rig.log"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_comments_skipped_ms_to_seconds_and_args(tmp_path):
    ev = read_arduino_log(_write(tmp_path, LOG))
    np.testing.assert_allclose(ev.times, [0.9, 1.52, 2.034, 2.5, 3.0015])
    assert ev.names.tolist() == ["trial_start", "lick", "odor_on", "odor_off", "reward"]
    assert ev.attrs["arg1"].dtype == np.float64
    np.testing.assert_array_equal(ev.attrs["arg1"], [np.nan, np.nan, 2.0, 2.0, np.nan])
    assert ev.attrs["arg2"].tolist() == ["", "", "valve_b", "", ""]


def test_crlf_and_no_args(tmp_path):
    ev = read_arduino_log(_write(tmp_path, "10\ta\r\n20\tb\r\n"))
    np.testing.assert_allclose(ev.times, [0.01, 0.02])
    assert ev.attrs == {}


def test_sniffed_as_arduino(tmp_path):
    path = _write(tmp_path, LOG)
    assert sniff_events_format(path) == "arduino"
    assert len(load_events(path)) == 5


def test_bad_timestamp_names_line(tmp_path):
    path = _write(tmp_path, LOG.replace("2500\t", "25o0\t"))
    with pytest.raises(FormatError, match="line 7: timestamp '25o0' is not a number") as e:
        read_arduino_log(path)
    assert e.value.field == "timestamp_ms" and str(path) in str(e.value)


def test_line_without_tab(tmp_path):
    path = _write(tmp_path, "100\tlick\n200 lick\n")
    with pytest.raises(FormatError, match="line 2: expected 'timestamp_ms<TAB>NAME'") as e:
        read_arduino_log(path)
    assert str(path) in str(e.value)


def test_empty_name(tmp_path):
    path = _write(tmp_path, "100\t\n")
    with pytest.raises(FormatError, match="line 1: the event name is empty") as e:
        read_arduino_log(path)
    assert e.value.field == "NAME"


def test_load_session_with_arduino_log(tmp_path):
    traces = tmp_path / "t.csv"
    write_traces_csv(traces, np.zeros((2, 50)), np.arange(50) / 10.0)
    s = load_session(traces, events=_write(tmp_path, LOG))
    assert s.events.counts()["lick"] == 1
    np.testing.assert_allclose(s.events.times[:2], [0.9, 1.52])


def test_utf16_log_is_sniffed_and_read(tmp_path):
    path = tmp_path / "rig.log"
    path.write_text(LOG, encoding="utf-16")
    assert sniff_events_format(path) == "arduino"
    ev = load_events(path)
    np.testing.assert_allclose(ev.times, [0.9, 1.52, 2.034, 2.5, 3.0015])


def test_long_bad_line_is_quoted_capped(tmp_path):
    path = _write(tmp_path, "1520\tlick\n" + "z" * 10_000 + "\n")
    with pytest.raises(FormatError) as exc:
        read_arduino_log(path)
    msg = str(exc.value)
    assert "line 2" in msg and "(10,000 characters)" in msg and len(msg) < 400

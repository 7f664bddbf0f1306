"""Clock alignment from paired sync pulses, and the sync-pulse file readers."""

from __future__ import annotations

import numpy as np
import pytest

from gpudecode.errors import EventsError, FormatError, ParameterError
from gpudecode.io import load_session
from gpudecode.io.abet import write_abet_csv
from gpudecode.io.align import ClockFit, align_events, fit_clock, read_sync_pulses
from gpudecode.io.events_csv import write_events_csv
from gpudecode.io.traces_csv import write_traces_csv
from gpudecode.session import Events

SCALE, OFFSET = 1.0001, -12.3


def _pulses(n=120, noise=0.0003, seed=0):
    rng = np.random.default_rng(seed)
    beh = np.sort(rng.uniform(20.0, 3600.0, n))
    img = SCALE * beh + OFFSET + rng.normal(0.0, noise, n)
    return beh, img


def test_recovers_drift_and_offset_from_noisy_pulses():
    beh, img = _pulses()
    fit = fit_clock(beh, img)
    assert isinstance(fit, ClockFit) and fit.n_pulses == 120
    grid = np.linspace(0.0, 3600.0, 1001)
    assert np.max(np.abs(fit.apply(grid) - (SCALE * grid + OFFSET))) < 1e-3
    assert abs(fit.scale - SCALE) < 1e-6
    assert 0 < fit.max_residual_s < 0.002


def test_pairs_in_time_order_whatever_the_input_order():
    beh, img = _pulses(n=20, noise=0.0)
    fit = fit_clock(beh[::-1], img)
    assert fit.scale == pytest.approx(SCALE, abs=1e-9)
    assert fit.offset == pytest.approx(OFFSET, abs=1e-6)


def test_align_events_maps_times_and_keeps_attributes():
    ev = Events([10.0, 100.0], ["a", "b"], {"x": [1.0, 2.0]})
    out = align_events(ev, ClockFit(scale=SCALE, offset=OFFSET, n_pulses=2, max_residual_s=0.0))
    np.testing.assert_allclose(out.times, SCALE * np.array([10.0, 100.0]) + OFFSET)
    np.testing.assert_array_equal(out.attrs["x"], [1.0, 2.0])


def test_mismatched_counts_error_names_both_counts_and_fix():
    beh, img = _pulses(n=30)
    with pytest.raises(EventsError) as e:
        fit_clock(beh, img[1:], path="session.csv")
    msg = str(e.value)
    assert "30 sync pulses in the behaviour log but 29 on the imaging side" in msg
    assert "session.csv" in msg and "Fix:" in msg and e.value.field == "sync_pulses"


def test_too_few_pulses():
    with pytest.raises(EventsError, match="at least 2 sync pulses, got 1"):
        fit_clock([1.0], [2.0])


def test_mispaired_pulses_error():
    beh, img = _pulses(n=30, noise=0.0)
    img[10:] = SCALE * beh[9:-1] + OFFSET  # one pulse missed on the imaging side: all shift
    with pytest.raises(EventsError, match="pulses look mispaired") as e:
        fit_clock(beh, img, path="x.csv")
    assert e.value.field == "sync_pulses"


def test_unit_mismatch_error():
    beh, _ = _pulses(n=10, noise=0.0)
    with pytest.raises(EventsError, match="not in the same units"):
        fit_clock(beh * 1000.0, beh)


def test_non_finite_pulses():
    with pytest.raises(EventsError, match="NaN or infinite"):
        fit_clock([1.0, np.nan], [1.0, 2.0])


# --- sync pulse files --------------------------------------------------------------------

def test_one_column_with_and_without_header(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("3.5\n1.25\n\n2.0\n")
    np.testing.assert_array_equal(read_sync_pulses(a), [1.25, 2.0, 3.5])
    b = tmp_path / "b.csv"
    b.write_text("pulse_time_s\n1.25\n2.0\n")
    np.testing.assert_array_equal(read_sync_pulses(b), [1.25, 2.0])


def test_one_column_bad_value_names_line(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("time\n1.0\nabc\n")
    with pytest.raises(FormatError, match="line 3: 'abc' is not a time in seconds") as e:
        read_sync_pulses(path)
    assert str(path) in str(e.value)
    path.write_text("1.0, 2.0\n")
    with pytest.raises(FormatError, match="line 1 has 2 values"):
        read_sync_pulses(path)


def _gpio(tmp_path, edges, channels=("GPIO-1", "GPIO-2", "BNC Sync Output")):
    """An Inscopix GPIO export: long table, one row per channel per sample."""
    rows = ["Time (s), Channel Name, Value"]
    t = np.round(np.arange(0.0, 10.0, 0.01), 6)
    for ti in t:
        high = any(e <= ti < e + 0.05 for e in edges)
        for ch in channels:
            value = {"GPIO-1": 65535 if high else 0, "GPIO-2": 0,
                     "BNC Sync Output": int(round(ti * 100)) % 2}[ch]
            rows.append(f"{ti:.6f}, {ch}, {value}")
    path = tmp_path / "gpio.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_gpio_rising_edges_of_the_named_channel(tmp_path):
    path = _gpio(tmp_path, edges=[1.0, 3.5, 7.25])
    np.testing.assert_allclose(read_sync_pulses(path, channel="GPIO-1"), [1.0, 3.5, 7.25])
    np.testing.assert_allclose(read_sync_pulses(path, channel="gpio-1"), [1.0, 3.5, 7.25])


def test_gpio_single_channel_needs_no_name(tmp_path):
    path = _gpio(tmp_path, edges=[2.0, 4.0], channels=("GPIO-1",))
    np.testing.assert_allclose(read_sync_pulses(path), [2.0, 4.0])


def test_gpio_several_channels_without_name_lists_them(tmp_path):
    path = _gpio(tmp_path, edges=[1.0])
    with pytest.raises(ParameterError) as e:
        read_sync_pulses(path)
    msg = str(e.value)
    assert "3 channels" in msg and "GPIO-1" in msg and "BNC Sync Output" in msg
    assert e.value.field == "sync_channel" and str(path) in msg
    with pytest.raises(ParameterError, match="no GPIO channel named 'GPIO-9'"):
        read_sync_pulses(path, channel="GPIO-9")


def test_gpio_flat_channel_has_no_pulses(tmp_path):
    path = _gpio(tmp_path, edges=[1.0])
    with pytest.raises(EventsError, match="no sync pulses found") as e:
        read_sync_pulses(path, channel="GPIO-2")
    assert e.value.field == "GPIO-2"


# --- through load_session ----------------------------------------------------------------

def _session_files(tmp_path, scale, offset, noise=0.0002):
    """Behaviour log (ABET, behaviour clock) + imaging pulses (imaging clock) + traces."""
    rng = np.random.default_rng(7)
    ttl = np.arange(1.0, 50.0, 2.5)  # behaviour-clock sync pulses
    trials = np.arange(3.0, 48.0, 5.0)
    times = np.concatenate([ttl, trials, trials + 1.2])
    names = ["TTL #1"] * ttl.size + ["Display Image"] * trials.size + ["Correct"] * trials.size
    abet = tmp_path / "abet.csv"
    write_abet_csv(abet, Events(times, names), {"Animal ID": "M1"})
    pulses = tmp_path / "pulses.txt"
    pulses.write_text("\n".join(repr(float(v)) for v in scale * ttl + offset + rng.normal(0, noise,
                                                                                   ttl.size)))
    traces = tmp_path / "traces.csv"
    write_traces_csv(traces, rng.random((3, 800)), np.arange(800) / 10.0)  # 0 .. 79.9 s
    return traces, abet, pulses, trials


def test_load_session_sync_aligns_event_times(tmp_path):
    traces, abet, pulses, trials = _session_files(tmp_path, SCALE, 7.5)
    s = load_session(traces, events=abet, sync_event="TTL #1", sync_pulses=pulses)
    shown = s.events.times[s.events.select(["Display Image"])]
    assert np.max(np.abs(shown - (SCALE * trials + 7.5))) < 1e-3
    arr = load_session(traces, events=abet, sync_event="TTL #1",
                       sync_pulses=np.loadtxt(pulses))
    np.testing.assert_allclose(arr.events.times, s.events.times)


def test_load_session_sync_from_gpio(tmp_path):
    traces, abet, _, trials = _session_files(tmp_path, SCALE, 7.5)
    # behaviour pulses 1.0, 3.5, ... put on the imaging clock, recorded on GPIO-1
    gpio = tmp_path / "gpio.csv"
    ttl = np.arange(1.0, 50.0, 2.5)
    t = np.round(np.arange(0.0, 80.0, 0.001), 6)
    edges = np.round(SCALE * ttl + 7.5, 3)
    k = np.searchsorted(edges, t, side="right") - 1
    high = (k >= 0) & (t < edges[np.maximum(k, 0)] + 0.01)
    rows = ["Time (s), Channel Name, Value"]
    for ti, hi in zip(t.tolist(), high.tolist()):
        rows.append(f"{ti:.6f}, GPIO-1, {int(hi)}")
        rows.append(f"{ti:.6f}, EX-LED, 1")
    gpio.write_text("\n".join(rows) + "\n")
    s = load_session(traces, events=abet, sync_event="TTL #1", sync_pulses=gpio,
                     sync_channel="GPIO-1")
    shown = s.events.times[s.events.select(["Display Image"])]
    assert np.max(np.abs(shown - (SCALE * trials + 7.5))) < 2e-3


def test_load_session_sync_count_mismatch(tmp_path):
    traces, abet, pulses, _ = _session_files(tmp_path, SCALE, 7.5)
    pulses.write_text("\n".join(pulses.read_text().splitlines()[1:]))
    with pytest.raises(EventsError, match="20 sync pulses in the behaviour log but 19") as e:
        load_session(traces, events=abet, sync_event="TTL #1", sync_pulses=pulses)
    assert str(abet) in str(e.value)


def test_load_session_event_offset(tmp_path):
    ev = tmp_path / "ev.csv"
    write_events_csv(ev, Events([10.0, 20.0], ["a", "b"]))
    traces = tmp_path / "traces.csv"
    write_traces_csv(traces, np.zeros((2, 300)), np.arange(300) / 10.0)
    s = load_session(traces, events=ev, event_offset=-7.5)
    np.testing.assert_allclose(s.events.times, [2.5, 12.5])


def test_long_bad_pulse_value_is_quoted_capped(tmp_path):
    path = tmp_path / "pulses.txt"
    path.write_text("1.0\n" + "7" * 3000 + "s\n")
    with pytest.raises(FormatError) as exc:
        read_sync_pulses(path)
    msg = str(exc.value)
    assert "line 2" in msg and "(3,001 characters)" in msg and len(msg) < 400

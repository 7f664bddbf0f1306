"""Cohort manifests: paths resolved, every problem reported at once, registration tables."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from gpudecode.errors import FormatError, InputFileError
from gpudecode.io import load_session
from gpudecode.manifest import ManifestEntry, read_manifest, read_registration
from gpudecode.simulate import simulate_cohort, write_simulation


def _touch(path: Path, text: str = "x\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture()
def cohort_dir(tmp_path):
    d = tmp_path / "study"
    for animal in ("m1", "m2"):
        for s in ("s01", "s02"):
            _touch(d / animal / f"{s}_traces.csv")
            _touch(d / animal / f"{s}_events.csv")
    (d / "m2" / "suite2p" / "plane0").mkdir(parents=True)
    _touch(d / "m1" / "reg_s01.csv", "cell_id,cohort_id\nC0,m1-a\nC1,m1-b\nC2,\n")
    return d


CSV = """animal,session,day,traces,events,format,events_format,registration,genotype
m1,s01,1,m1/s01_traces.csv,m1/s01_events.csv,csv,,m1/reg_s01.csv,wt
m1,s02,2.0,m1/s02_traces.csv,m1/s02_events.csv,,,,wt
# a comment line

m2,s01,,m2/suite2p/plane0,m2/s01_events.csv,h5,csv,,ko
m2,s02,3.5,m2/s02_traces.csv,m2/s02_events.csv,abet,,,ko
"""


def test_csv_manifest_resolves_paths_against_its_folder(cohort_dir, tmp_path, monkeypatch):
    path = _touch(cohort_dir / "manifest.csv", CSV)
    monkeypatch.chdir(tmp_path)              # not the manifest's folder
    entries = read_manifest(os.path.relpath(path, tmp_path))
    assert [e.key for e in entries] == [("m1", "s01"), ("m1", "s02"), ("m2", "s01"),
                                        ("m2", "s02")]
    assert [e.row for e in entries] == [2, 3, 6, 7]        # spreadsheet rows, header = 1
    first = entries[0]
    assert first.traces == cohort_dir / "m1" / "s01_traces.csv" and first.traces.is_absolute()
    assert first.events == cohort_dir / "m1" / "s01_events.csv"
    assert first.registration == cohort_dir / "m1" / "reg_s01.csv"
    assert (first.day, first.format, first.events_format) == (1, "csv", "auto")
    assert isinstance(first.day, int) and first.extra == {"genotype": "wt"}
    assert entries[1].day == 2 and isinstance(entries[1].day, int)
    assert entries[1].registration is None and entries[1].format == "auto"
    # a folder is a valid traces path (suite2p); h5 means gpudecode's HDF5 layout
    assert entries[2].day is None and entries[2].traces.is_dir()
    assert (entries[2].format, entries[2].events_format) == ("gpudecode", "csv")
    # the simulator's manifest names the row's format family: abet = an ABET events log
    assert (entries[3].day, entries[3].format, entries[3].events_format) == (3.5, "auto", "abet")
    kw = first.load_kwargs()
    assert kw["traces"] == first.traces and kw["animal"] == "m1" and kw["day"] == 1
    assert "sync_event" not in kw and "event_offset" not in kw
    assert first.as_dict()["traces"] == str(first.traces)


def test_toml_manifest_gives_the_same_entries(cohort_dir):
    csv_entries = read_manifest(_touch(cohort_dir / "manifest.csv", CSV))
    toml = """
[[session]]
animal = "m1"
session = "s01"
day = 1
traces = "m1/s01_traces.csv"
events = "m1/s01_events.csv"
format = "csv"
registration = "m1/reg_s01.csv"
genotype = "wt"

[[session]]
animal = "m1"
session = "s02"
day = 2.0
traces = "m1/s02_traces.csv"
events = "m1/s02_events.csv"
genotype = "wt"
"""
    entries = read_manifest(_touch(cohort_dir / "manifest.toml", toml))
    assert entries == csv_entries[:2]
    assert [e.row for e in entries] == [1, 2]
    assert entries[0].extra == {"genotype": "wt"}


def test_semicolon_separated_manifest(cohort_dir):
    text = "Animal;Session;Traces\nm1;s01;m1/s01_traces.csv\n"
    (entry,) = read_manifest(_touch(cohort_dir / "m.csv", text))
    assert entry.key == ("m1", "s01") and entry.events is None


BAD = """animal,session,day,traces,events,format,events_format,registration
m1,s01,1,m1/s01_traces.csv,m1/s01_events.csv,,,
m1,s01,2,m1/s02_traces.csv,,,,
m1,s03,three,m1/missing_traces.csv,,,,
m2,s01,1,m2/s01_traces.csv,m2/nope.csv,excel,,
m2,s02,2,m2/s02_traces.csv,,,matlab,m2/reg_missing.csv
,s03,3,,,,,
m2,s04,4,m2/s02_traces.csv,,,,m1/bad_reg.csv
all,s01,1,m1/s01_traces.csv,,,,
m2/x,s05,1,m1/s01_traces.csv,,,,
"""


def test_bad_manifest_lists_every_problem_with_its_row(cohort_dir):
    _touch(cohort_dir / "m1" / "bad_reg.csv", "cell_id,cohort_id\nC0,a\nC0,b\nC1,a\n,c\n")
    path = _touch(cohort_dir / "bad.csv", BAD)
    with pytest.raises(FormatError) as info:
        read_manifest(path)
    err = info.value
    assert err.field == "manifest" and err.path == str(path) and err.fix
    expected = [
        "row 3: animal 'm1' session 's01' is listed again (first at row 2)",
        "row 4: day 'three' is not a number",
        "row 4: traces 'm1/missing_traces.csv' not found",
        "row 5: unknown format 'excel'",
        "row 5: events 'm2/nope.csv' not found",
        "row 6: unknown events_format 'matlab'",
        "row 6: registration 'm2/reg_missing.csv' not found",
        "row 7: empty animal",
        "row 7: empty traces",
        "row 8: registration 'm1/bad_reg.csv': ",
        "row 9: animal id 'all' is reserved",
        "row 10: animal 'm2/x' cannot be a folder name",
    ]
    for fragment in expected:
        assert fragment in str(err), fragment
    assert len(err.problems) == len(expected)
    assert f"{len(expected)} problems in the manifest" in str(err)
    # the registration's own problems are spelled out
    assert "cell_id 'C0' repeats row 2" in str(err) and "also given to cell 'C0'" in str(err)
    assert "empty cell_id" in str(err)


def test_missing_and_misspelt_columns(cohort_dir):
    text = "animal,session,trace,event,notes\nm1,s01,m1/s01_traces.csv,m1/s01_events.csv,ok\n"
    with pytest.raises(FormatError) as info:
        read_manifest(_touch(cohort_dir / "m.csv", text))
    msg = str(info.value)
    assert "row 1: missing required column traces" in msg
    assert "column 'trace' is not known: did you mean 'traces'?" in msg
    assert "column 'event' is not known: did you mean 'events'?" in msg
    assert "'notes'" not in msg                     # unrelated extra columns are kept
    assert len(info.value.problems) == 3


def test_sync_offset_and_rate_columns(cohort_dir):
    _touch(cohort_dir / "m1" / "sync.txt", "1.0\n2.0\n")
    text = ("animal,session,traces,events,sync_event,sync_pulses,event_offset,frame_rate\n"
            "m1,s01,m1/s01_traces.csv,m1/s01_events.csv,TTL #1,m1/sync.txt,,\n"
            "m1,s02,m1/s02_traces.csv,m1/s02_events.csv,,,4.5,20\n"
            "m2,s01,m2/s01_traces.csv,,TTL #1,,,0\n"
            "m2,s02,m2/s02_traces.csv,,,,soon,\n")
    with pytest.raises(FormatError) as info:
        read_manifest(_touch(cohort_dir / "m.csv", text))
    msg = str(info.value)
    assert "row 4: sync_event is given without sync_pulses" in msg
    assert "row 4: frame_rate '0' is not a positive number" in msg
    assert "row 5: event_offset 'soon' is not a number" in msg
    assert len(info.value.problems) == 3
    ok = "\n".join(text.splitlines()[:3]) + "\n"
    a, b = read_manifest(_touch(cohort_dir / "ok.csv", ok))
    kw = a.load_kwargs()
    assert kw["sync_event"] == "TTL #1" and kw["sync_pulses"] == cohort_dir / "m1" / "sync.txt"
    kw = b.load_kwargs()
    assert kw["event_offset"] == 4.5 and kw["frame_rate"] == 20.0 and "sync_event" not in kw


def test_bad_toml_manifests(cohort_dir):
    with pytest.raises(FormatError, match="not valid TOML"):
        read_manifest(_touch(cohort_dir / "a.toml", "[[session]\n"))
    with pytest.raises(FormatError) as info:
        read_manifest(_touch(cohort_dir / "b.toml", "title = 'x'\n[[session]]\nanimal = 'm1'\n"
                             "session = true\n"))
    msg = str(info.value)
    assert "unexpected top-level key 'title'" in msg
    assert "[[session]] 1: session must be a string or a number" in msg
    assert "[[session]] 1: missing key traces" in msg


def test_missing_or_empty_manifest(tmp_path):
    with pytest.raises(InputFileError, match="manifest not found"):
        read_manifest(tmp_path / "none.csv")
    with pytest.raises(FormatError, match="no header row"):
        read_manifest(_touch(tmp_path / "empty.csv", "\n# only a comment\n"))
    with pytest.raises(FormatError, match="no sessions listed"):
        read_manifest(_touch(tmp_path / "header.csv", "animal,session,traces\n"))


def test_read_registration(cohort_dir):
    mapping = read_registration(cohort_dir / "m1" / "reg_s01.csv")
    assert mapping == {"C0": "m1-a", "C1": "m1-b"}          # C2 is not registered
    with pytest.raises(FormatError, match="missing column cohort_id") as info:
        read_registration(_touch(cohort_dir / "r.csv", "cell_id,global\nC0,1\n"))
    assert info.value.field == "registration"
    with pytest.raises(InputFileError):
        read_registration(cohort_dir / "nothing.csv")


def test_reads_the_simulators_manifest_and_loads_its_sessions(tmp_path):
    sims = simulate_cohort(n_animals=2, n_sessions=2, n_cells=4, n_trials=6, seed=1)
    write_simulation(tmp_path / "csv", sims, formats=("csv",))
    write_simulation(tmp_path / "abet", sims, formats=("abet",))
    for fmt in ("csv", "abet"):
        entries = read_manifest(tmp_path / fmt / "manifest.csv")
        assert [e.key for e in entries] == [(s.animal, s.session) for s, _ in sims]
        for entry, (session, _) in zip(entries, sims):
            assert entry.day == session.day
            read = load_session(**entry.load_kwargs())
            assert (read.animal, read.session, read.day) == (session.animal, session.session,
                                                            session.day)
            assert np.array_equal(read.events.names, session.events.names)
            assert np.allclose(read.events.times, session.events.times, atol=1e-3)
            np.testing.assert_allclose(read.traces, session.traces, atol=1e-4)
    # A simulation written in two formats: manifest.csv lists each session once (the h5
    # files), and each format has its own manifest.
    write_simulation(tmp_path / "both", sims, formats=("h5", "csv"))
    both = read_manifest(tmp_path / "both" / "manifest.csv")
    assert [e.key for e in both] == [(s.animal, s.session) for s, _ in sims]
    assert {e.format for e in both} == {"gpudecode"} and all(e.traces.suffix == ".h5"
                                                             for e in both)
    as_csv = read_manifest(tmp_path / "both" / "manifest-csv.csv")
    assert [e.key for e in as_csv] == [e.key for e in both]
    assert all(e.traces.name.endswith("_traces.csv") for e in as_csv)


def test_ids_too_long_for_a_folder_name(cohort_dir):
    animal = "m" * 300
    with pytest.raises(FormatError) as info:
        read_manifest(_touch(cohort_dir / "m.csv", "animal,session,traces\n"
                             f"{animal},s01,m1/s01_traces.csv\n"
                             f"m1,{'é' * 128},m1/s01_traces.csv\n"))
    text = str(info.value)
    assert "row 2: animal 'mmmm" in text and "is 300 bytes long" in text
    assert "row 3: session" in text and "is 256 bytes long" in text      # bytes, not chars
    assert len(text) < 1000                                              # ids cut in the text
    (entry,) = read_manifest(_touch(cohort_dir / "ok.csv", "animal,session,traces\n"
                                    f"{'m' * 255},s01,m1/s01_traces.csv\n"))
    assert len(entry.animal) == 255


def test_entry_is_frozen(cohort_dir):
    (entry,) = read_manifest(_touch(cohort_dir / "m.csv",
                                    "animal,session,traces\nm1,s01,m1/s01_traces.csv\n"))
    assert isinstance(entry, ManifestEntry)
    with pytest.raises(AttributeError):
        entry.animal = "m9"

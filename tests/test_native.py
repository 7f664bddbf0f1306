import h5py
import numpy as np
import pytest

from gpudecode import Events, FormatError, InputFileError, Session, load_session
from gpudecode.io import sniff_traces_format
from gpudecode.io.native import read_ground_truth, read_session, save_session


def _session():
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(0.03, 0.04, size=200))
    ev = Events([1.0, 2.5, 4.0], ["Correct", "Incorrect", "Correct"],
                {"position": [1, 3, 2], "object": ["flower", "spider", "airplane"]})
    return Session(rng.normal(size=(5, 200)), t, ["c0", "c1", "c2", "c3", "c4"], ev,
                   animal="m1", session="s3", day=3)


def test_round_trip_to_float32(tmp_path):
    s = _session()
    gt = {"roles": np.array(["outcome", "none", "none", "location", "none"]),
          "outcome_cells": np.array([0]), "nested": {"p_correct": np.array(0.7)}, "kind": "pal"}
    save_session(s, tmp_path / "s.h5", ground_truth=gt)
    r = read_session(tmp_path / "s.h5")
    np.testing.assert_array_equal(r.traces, s.traces)
    np.testing.assert_array_equal(r.frame_times, s.frame_times)
    assert list(r.cell_ids) == list(s.cell_ids)
    assert (r.animal, r.session, r.day) == ("m1", "s3", 3)
    np.testing.assert_array_equal(r.events.times, s.events.times)
    assert list(r.events.names) == list(s.events.names)
    np.testing.assert_array_equal(r.events.attrs["position"], [1.0, 3.0, 2.0])
    assert list(r.events.attrs["object"]) == ["flower", "spider", "airplane"]
    g = read_ground_truth(tmp_path / "s.h5")
    assert list(g["roles"]) == list(gt["roles"]) and g["kind"] == "pal"
    assert float(g["nested"]["p_correct"]) == 0.7


def test_load_session_sniffs_own_layout(tmp_path):
    save_session(_session(), tmp_path / "s.h5")
    assert sniff_traces_format(tmp_path / "s.h5") == "gpudecode"
    s = load_session(tmp_path / "s.h5")
    assert s.n_cells == 5 and len(s.events) == 3 and s.animal == "m1"


def test_foreign_hdf5_is_a_format_error(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f["data"] = np.zeros(3)
    with pytest.raises(FormatError) as exc:
        read_session(tmp_path / "x.h5")
    assert "x.h5" in str(exc.value) and "[format]" in str(exc.value)
    with pytest.raises(FormatError):
        load_session(tmp_path / "x.h5")


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        load_session(tmp_path / "nope.h5")


def test_crash_while_writing_leaves_nothing(tmp_path, monkeypatch):
    s = _session()
    target = tmp_path / "s.h5"

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr("gpudecode.io.native._write_tree", boom)
    with pytest.raises(RuntimeError):
        save_session(s, target, ground_truth={"x": np.zeros(2)})
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- damaged or hand-edited files

from cli_checks import cli_error  # noqa: E402

from gpudecode.errors import ShapeError  # noqa: E402


def _edit(path, fn):
    with h5py.File(path, "a") as f:
        fn(f)
    return path


def _replace(name, value, **kw):
    def fn(f):
        del f[name]
        f.create_dataset(name, data=value, **kw)
    return fn


def _set_attr(key, value):
    def fn(f):
        f.attrs[key] = value
    return fn


_STR = h5py.string_dtype("utf-8")
_COMPOUND = np.zeros((5, 200), dtype=[("re", "f4"), ("im", "f4")])


def _group_instead(name):
    def fn(f):
        del f[name]
        f.create_group(name).create_dataset("x", data=np.zeros(3))
    return fn


# (edit, error type, field named, words in the message)
BAD_FILES = {
    "string traces": (_replace("traces", np.full((5, 200), "1.0", dtype=object), dtype=_STR),
                      FormatError, "traces", "text values"),
    "compound traces": (_replace("traces", _COMPOUND), FormatError, "traces", "compound (re, im)"),
    "traces as a group": (_group_instead("traces"), FormatError, "traces",
                          "a group where a dataset"),
    "1-D traces": (_replace("traces", np.zeros(200)), ShapeError, "traces", "expected 2-D"),
    "string frame_times": (_replace("frame_times", np.array(["0.1"] * 200, dtype=object),
                                    dtype=_STR), FormatError, "frame_times", "text values"),
    "2-D frame_times": (_replace("frame_times", np.zeros((200, 2))), ShapeError, "frame_times",
                        "expected 1-D"),
    "string event times": (_replace("events/time", np.array(["1", "2", "3"], dtype=object),
                                    dtype=_STR), FormatError, "events/time", "text values"),
    "event names too short": (_replace("events/name", np.array(["a", "b"], dtype=object),
                                       dtype=_STR), ShapeError, "events/name",
                              "expected (3,), one per event time"),
    "2-D event attribute": (_replace("events/attrs/position", np.zeros((3, 2))), ShapeError,
                            "events/attrs/position", "has shape (3, 2)"),
    "attribute one short": (_replace("events/attrs/position", np.zeros(2)), ShapeError,
                            "events/attrs/position", "one per event"),
    "too few cell ids": (_replace("cell_ids", np.array(["a"], dtype=object), dtype=_STR),
                         ShapeError, "cell_ids", "one per cell"),
    "day tuesday": (_set_attr("day", "tuesday"), FormatError, "day", "'tuesday', not a whole"),
    "day 2.5": (_set_attr("day", 2.5), FormatError, "day", "not a whole number"),
    "2-D animal attribute": (_set_attr("animal", np.array([["m1", "m2"]], dtype=object)),
                             FormatError, "animal", "an array of shape (1, 2)"),
    "missing frame_times": (lambda f: f.__delitem__("frame_times"), FormatError, "frame_times",
                            "lacks frame_times"),
    "newer layout": (_set_attr("version", 7), FormatError, "version", "layout version 7"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_native_file_is_a_typed_error(tmp_path, case):
    edit, kind, field, words = BAD_FILES[case]
    path = tmp_path / "s.h5"
    save_session(_session(), path)
    _edit(path, edit)
    with pytest.raises(kind) as exc:
        read_session(path)
    assert exc.value.field == field, str(exc.value)
    msg = str(exc.value)
    assert "s.h5" in msg and words in msg and "Fix:" in msg


@pytest.mark.parametrize("case", ["compound traces", "day tuesday", "event names too short",
                                  "2-D event attribute", "string frame_times"])
def test_cli_bad_native_file(tmp_path, capsys, case):
    edit, _, field, words = BAD_FILES[case]
    path = tmp_path / "s.h5"
    save_session(_session(), path)
    _edit(path, edit)
    cli_error(["decode", path, "--anchor", "Correct", "--out", tmp_path / "out"], capsys,
              tmp_path, "s.h5", f"[{field}]", words)


def test_day_stored_as_float_whole_number_is_fine(tmp_path):
    path = tmp_path / "s.h5"
    save_session(_session(), path)
    _edit(path, _set_attr("day", 4.0))
    assert read_session(path).day == 4


def test_truncated_session_file(tmp_path):
    path = tmp_path / "s.h5"
    save_session(_session(), path, compression=None)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(FormatError) as exc:
        read_session(path)
    assert "s.h5" in str(exc.value) and "truncated" in str(exc.value)


def test_damaged_compressed_chunk(tmp_path, capsys):
    """The header is intact but a gzip chunk is zeroed: the read fails half-way."""
    path = tmp_path / "s.h5"
    rng = np.random.default_rng(0)
    save_session(Session(rng.normal(size=(20, 20000)), np.arange(20000) / 30.0,
                         events=Events([1.0, 2.0], ["Correct", "Incorrect"])), path)
    with h5py.File(path, "r") as f:
        chunk = f["traces"].id.get_chunk_info(3)
    raw = bytearray(path.read_bytes())
    raw[chunk.byte_offset + 10:chunk.byte_offset + 500] = bytes(490)
    path.write_bytes(bytes(raw))
    with pytest.raises(FormatError) as exc:
        load_session(path)
    msg = str(exc.value)
    assert "s.h5" in msg and "[file]" in msg and "copy it again" in msg
    cli_error(["info", path], capsys, tmp_path, "s.h5", "could not be read")

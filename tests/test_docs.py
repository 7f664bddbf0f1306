"""The documentation covers the code: every public name, every CLI option, every output column,
and every minimal input file of the formats page reads. No Sphinx needed: the checks read the
.rst sources and the CLI reference generator (docs/_ext/gpudecode_cli.py) directly."""

import importlib.util
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import typer.main
from typer.testing import CliRunner

import gpudecode
import gpudecode.cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FORMATS = DOCS / "formats"

pytestmark = pytest.mark.skipif(not (DOCS / "conf.py").exists(),
                                reason="documentation sources are not in this tree")


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _autosummary_names(rst: str) -> list[str]:
    """Entries of every ``.. autosummary::`` block, ``~`` dropped, as written."""
    names, inside = [], False
    for line in rst.splitlines():
        if line.startswith(".. autosummary::"):
            inside = True
            continue
        if inside:
            if line.strip() == "" or line.lstrip().startswith(":"):
                continue
            if line.startswith("   "):
                names.append(line.strip().lstrip("~"))
            else:
                inside = False
    return names


def test_every_public_name_is_in_the_api_reference():
    listed = _autosummary_names((DOCS / "api.rst").read_text())
    top_level = {n for n in listed if "." not in n}
    missing = sorted(set(gpudecode.__all__) - top_level)
    assert not missing, f"add to docs/api.rst: {missing}"
    stale = sorted(n for n in top_level if not hasattr(gpudecode, n))
    assert not stale, f"docs/api.rst lists names gpudecode does not have: {stale}"
    for dotted in (n for n in listed if "." in n):   # result objects, by submodule
        module, _, attr = dotted.rpartition(".")
        assert hasattr(importlib.import_module(f"gpudecode.{module}"), attr), dotted
    assert len(listed) == len(set(listed)), "a name is listed twice"


def _help_options(command: str) -> set[str]:
    """Every ``--option`` that ``gpudecode COMMAND --help`` shows (typer's own help renderer)."""
    result = CliRunner().invoke(gpudecode.cli.app, [command, "--help"], terminal_width=250,
                                env={"COLUMNS": "250", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    return set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", result.output)) - {"--help"}


def test_cli_reference_names_every_command_and_option():
    cli_ext = _module(DOCS / "_ext" / "gpudecode_cli.py", "gpudecode_cli_ext")
    text = "\n".join(cli_ext.render_cli(gpudecode.cli.app))
    group = typer.main.get_command(gpudecode.cli.app)
    assert group.commands, "no commands found"
    for name, cmd in group.commands.items():
        assert f"\ngpudecode {name}\n---" in text
        section = text.split(f".. program:: gpudecode {name}\n", 1)[1].split(".. program::", 1)[0]
        documented = set(re.findall(r"^\.\. option:: (.+)$", section, flags=re.M))
        documented = {o.strip() for line in documented for o in line.split(",")}
        shown = _help_options(name)
        assert shown, f"no options parsed from `gpudecode {name} --help`"
        assert shown <= documented, f"{name}: missing from the reference: {sorted(shown - documented)}"
        for p in cmd.params:
            if p.param_type_name == "argument":
                assert f"``{p.name.upper()}``" in section, (name, p.name)
            if getattr(p, "help", None):
                first_words = " ".join(p.help.split()[:4])
                assert cli_ext._escape(first_words) in " ".join(section.split()), (name, p.opts)


def test_cli_reference_page_uses_the_generator():
    assert ".. gpudecode-cli:: gpudecode.cli:app" in (DOCS / "cli.rst").read_text()
    conf = (DOCS / "conf.py").read_text()
    assert '"gpudecode_cli"' in conf


@pytest.mark.parametrize("module, constant", [
    ("gpudecode.outputs", "CELLS_COLUMNS"),
    ("gpudecode.ranking", "MODELS_COLUMNS"),
    ("gpudecode.time_resolved", "TIMECOURSE_COLUMNS"),
    ("gpudecode.pairs", "PAIRS_COLUMNS"),
    ("gpudecode.cohort", "COHORT_COLUMNS"),
    ("gpudecode.cohort", "FAILURE_COLUMNS"),
    ("gpudecode.learning", "LEARNING_COLUMNS"),
    ("gpudecode.learning", "OVERLAP_COLUMNS"),
])
def test_every_output_column_is_described(module, constant):
    columns = getattr(importlib.import_module(module), constant)
    page = (DOCS / "outputs.rst").read_text()
    missing = [c for c in columns if f"``{c}``" not in page]
    assert not missing, f"{module}.{constant}: describe in docs/outputs.rst: {missing}"


def test_every_result_file_is_described():
    from gpudecode.outputs import RESULT_FILES
    page = (DOCS / "outputs.rst").read_text()
    assert all(f in page for f in RESULT_FILES), RESULT_FILES


def test_manifest_columns_are_documented():
    from gpudecode.manifest import MANIFEST_COLUMNS
    page = (DOCS / "cohorts.rst").read_text()
    header = next(line.strip() for line in page.splitlines()
                  if line.strip().startswith("animal,session"))
    assert header.split(",") == list(MANIFEST_COLUMNS)


def _quiet_load(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gpudecode.load_session(*args, **kwargs)


C_TXT = np.loadtxt(FORMATS / "C.txt") if (FORMATS / "C.txt").exists() else None


@pytest.mark.parametrize("traces, events, kwargs, n_cells", [
    ("traces.csv", "events.csv", {}, 3),
    ("traces_inscopix.csv", "abet.csv", {}, 2),          # C02 is rejected
    ("traces.csv", "arduino.txt", {}, 3),
    ("C.txt", "events.csv", {"frame_rate": 10.0}, 3),
    ("C.txt", "events.csv", {"frame_times": FORMATS / "frame_times.txt"}, 3),
])
def test_minimal_text_files_read(traces, events, kwargs, n_cells):
    if traces == "C.txt" and "text" not in gpudecode.io.TRACE_FORMATS:
        pytest.skip("plain-text matrix reader not in this version")
    s = _quiet_load(FORMATS / traces, FORMATS / events, **kwargs)
    assert s.n_cells == n_cells and s.n_frames == C_TXT.shape[1]
    np.testing.assert_allclose(s.traces, C_TXT[:n_cells], atol=1e-6)
    names = list(s.events.names)
    assert names.count("Correct") == 2 and names.count("Incorrect") == 1
    if "frame_times" in kwargs:
        np.testing.assert_allclose(s.frame_times, np.loadtxt(kwargs["frame_times"]))
    else:
        np.testing.assert_allclose(s.frame_times, np.arange(C_TXT.shape[1]) / 10.0, atol=1e-9)


def test_minimal_event_attributes():
    abet = gpudecode.load_events(FORMATS / "abet.csv")
    touches = np.asarray(abet.names) != "Correct"
    touches &= np.asarray(abet.names) != "Incorrect"
    assert list(np.asarray(abet.attrs["Position"])[touches]) == [1.0, 3.0, 2.0]
    csv_events = gpudecode.load_events(FORMATS / "events.csv")
    assert list(csv_events.attrs["position"]) == [1.0, 3.0, 2.0]


@pytest.mark.parametrize("fmt, kwargs, n_cells", [
    ("gpudecode", {}, 3),
    ("nwb", {}, 3),
    ("caiman", {}, 2),              # idx_components keeps cells 0 and 1
    ("suite2p", {"frame_rate": 10.0}, 2),   # iscell keeps cells 0 and 1
    ("matlab v5", {}, 3),
    ("matlab v7.3", {}, 3),
])
def test_minimal_binary_files_read(tmp_path, fmt, kwargs, n_cells):
    if fmt == "nwb":
        pytest.importorskip("pynwb")
    if fmt == "matlab v7.3":
        pytest.importorskip("hdf5storage")
    writers = _module(FORMATS / "write_minimal_files.py", "gpudecode_docs_minimal_files")
    path = writers.WRITERS[fmt](tmp_path)
    s = _quiet_load(path, **kwargs)
    assert s.n_cells == n_cells and s.n_frames == C_TXT.shape[1]
    np.testing.assert_allclose(s.traces, C_TXT[:n_cells], atol=1e-6)
    assert abs(s.frame_rate - 10.0) < 1e-6
    if fmt == "nwb":      # trials-table rows become events named "trial"
        assert list(s.events.names) == ["trial", "trial"]
        assert list(s.events.attrs["outcome"]) == ["Correct", "Incorrect"]


def test_every_gallery_example_is_a_script_with_a_title():
    examples = sorted((ROOT / "examples").glob("plot_*.py"))
    assert len(examples) >= 7
    for path in examples:
        source = path.read_text()
        compile(source, str(path), "exec")
        doc = source.split('"""')[1].strip().splitlines()
        assert len(doc) >= 2 and set(doc[1]) == {"="}, f"{path.name}: needs a title"

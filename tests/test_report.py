"""The HTML report of real result folders: each figure plots the CSVs (and results.h5 arrays)
it comes from, and the page is self-contained.

The folders are made by the real commands (``decode --analysis all --generalization --report``,
``decode --analysis single-cell``, ``cohort --report``) on simulated data; see
tests/report_folders.py.
"""

import csv
import html.parser
import itertools
import json
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from matplotlib.container import BarContainer
from report_folders import (
    SESSION_FIGURES,
    cohort_folder,
    session_folder,
    single_cell_folder,
)

from gpudecode.errors import FormatError, InputFileError
from gpudecode.report import (
    cohort_figures,
    read_csv_rows,
    session_figures,
    write_report,
)
from gpudecode.report_cli import report_command


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return session_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def single_cell(tmp_path_factory):
    return single_cell_folder(tmp_path_factory)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return cohort_folder(tmp_path_factory)


# ---------------------------------------------------------------- helpers

def assert_self_contained(text: str) -> None:
    """No URL the browser could fetch: only data: images and in-page fragments."""
    assert not re.search(r"https?:", text, re.IGNORECASE)
    assert not re.search(r"""\b(?:src|href|action|poster)\s*=\s*["']?\s*//""", text, re.IGNORECASE)
    for m in re.finditer(r"""\b(?:src|href)\s*=\s*["']([^"']*)""", text, re.IGNORECASE):
        assert m.group(1).startswith(("data:image/png;base64,", "#")), m.group(1)[:60]
    assert "url(" not in text and "@import" not in text
    assert "default-src 'none'" in text  # the CSP forbids any request


class Tables(html.parser.HTMLParser):
    """Sortable tables of a report page: {data-title: [[cell text, ...], ...]}."""

    def __init__(self, text):
        super().__init__()
        self.tables, self._title, self._row, self._in_td = {}, None, None, False
        self.images = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images += 1
        if tag == "table" and "data-title" in a:
            self._title = a["data-title"]
            self.tables[self._title] = []
        elif tag == "tr" and self._title:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._row.append(a.get("data-v", ""))

    def handle_endtag(self, tag):
        if tag == "tr" and self._row:
            self.tables[self._title].append(self._row)
            self._row = None
        elif tag == "table":
            self._title = None


def _h5_strings(ds):
    return [str(v) for v in ds.asstr()[()]]


def _bars(fig, size: str):
    """Heights (vertical bars) or widths (horizontal bars) of the first axes' bars."""
    bars = next(c for c in fig.axes[0].containers if isinstance(c, BarContainer))
    return [getattr(b, f"get_{size}")() for b in bars]


def _runs(times, flags):
    """(first, last) time of each run of True flags."""
    out, k = [], 0
    for flag, group in itertools.groupby(flags):
        n = len(list(group))
        if flag:
            out.append((times[k], times[k + n - 1]))
        k += n
    return out


def _floats(rows, key):
    return np.array([float(r[key]) if r[key] != "" else np.nan for r in rows])


def session_sources(folder: Path) -> dict:
    """What a session folder holds, read independently of gpudecode.report."""
    src = {name: read_csv_rows(folder / f"{name}.csv")
           for name in ("cells", "models", "timecourse", "pairs")
           if (folder / f"{name}.csv").exists()}
    with h5py.File(folder / "results.h5") as f:
        src["labels"] = np.array(_h5_strings(f["trials/labels"]))
        src["classes"] = _h5_strings(f["classes"])
        src["cell_ids"] = _h5_strings(f["cell_ids"])
        src["null"] = {clf: g["null_accuracy"][()] for clf, g in f.get("single_cell", {}).items()}
        src["null_balanced"] = {clf: g["null_balanced"][()]
                                for clf, g in f.get("single_cell", {}).items()}
        if "epochs/top_data" in f:
            src["top_data"], src["top_cells"] = f["epochs/top_data"][()], f["epochs/top_cells"][()]
            src["times"] = f["epochs/times"][()]
        src["generalization"] = {clf: (g["generalization"][()], g["times"][()])
                                 for clf, g in f.get("time_resolved", {}).items()
                                 if "generalization" in g}
        if "correlation/mean_by_class" in f:
            src["corr"] = f["correlation/mean_by_class"][()]
            src["order"] = f["correlation/order"][()]
    return src


def check_session_figures(folder: Path, figs: dict) -> None:
    """Every figure whose inputs are in the folder is drawn, and plots exactly those inputs."""
    src = session_sources(folder)
    expected = {f"single_cell_{c}" for c in {r["classifier"] for r in src.get("cells", [])}}
    expected |= {name for name, key in (("model_ranking", "models"),
                                        ("time_resolved", "timecourse"),
                                        ("top_pairs", "pairs"), ("top_cells", "top_data"),
                                        ("correlation_matrix", "corr"))
                 if len(src.get(key, ()))}
    expected |= {f"generalization_{c}" for c in src["generalization"]}
    assert set(figs) == expected
    assert {p.stem for p in (folder / "figures").glob("*.png")} >= expected
    assert {p.stem for p in (folder / "figures").glob("*.svg")} >= expected

    # Histograms: cells.csv's tested statistic (decode's default: balanced accuracy); chance
    # band: the pooled permutation null of that statistic in results.h5.
    for clf in {r["classifier"] for r in src.get("cells", [])}:
        rows = sorted((r for r in src["cells"] if r["classifier"] == clf),
                      key=lambda r: int(r["cell"]))
        fig = figs[f"single_cell_{clf}"]
        d = fig.gpudecode_data
        assert d["metric"] == "balanced" and "balanced accuracy" in d["xlabel"]
        test = _floats(rows, "balanced_accuracy")
        np.testing.assert_allclose(d["test_accuracy"], test)
        np.testing.assert_allclose(d["cv_accuracy"], _floats(rows, "cv_accuracy"))
        assert _bars(fig, "height") == np.histogram(test, d["bin_edges"])[0].tolist()
        null = src["null_balanced"][clf]
        assert null.shape[0] == len(rows) and null.shape[1] > 0
        assert d["chance_band"] == pytest.approx(tuple(np.percentile(null, [2.5, 97.5])))
        band = next(p for p in fig.axes[0].patches if p.get_label().startswith("chance"))
        assert (band.get_bbox().x0, band.get_bbox().x1) == pytest.approx(d["chance_band"])

    # Model ranking: bar lengths, error bars, bands and marks are models.csv, best rank first.
    models = sorted(src["models"], key=lambda r: int(r["rank"]))
    fig = figs["model_ranking"]
    d = fig.gpudecode_data
    assert {r["metric"] for r in models} == {"balanced"}     # decode's default metric
    acc = _floats(models, "balanced_accuracy")
    np.testing.assert_allclose(_bars(fig, "width"), acc)
    np.testing.assert_allclose(d["heights"], acc)
    np.testing.assert_allclose(d["errors"], _floats(models, "balanced_std"))
    np.testing.assert_allclose(d["null_mean"], _floats(models, "null_mean"))
    np.testing.assert_allclose(d["null_p95"], _floats(models, "null_p95"))
    assert d["labels"] == [f"{r['analysis']} / {r['classifier']}"
                           + (f"\n{r['unit']}" if r.get("unit") else "") for r in models]
    assert d["significant"].tolist() == [r["significant"] == "True" for r in models]
    marks = sum(t.get_text() == "*" for t in fig.axes[0].texts)
    assert marks == sum(r["significant"] == "True" for r in models)

    if "time_resolved" in figs:
        # The curve, band and axis are the tested statistic (balanced accuracy).
        fig = figs["time_resolved"]
        assert {r["metric"] for r in src["timecourse"]} == {"balanced"}
        assert fig.gpudecode_data["metric"] == "balanced"
        assert fig.axes[0].get_ylabel() == "test balanced accuracy (tested)"
        d = fig.gpudecode_data["classifiers"]
        assert set(d) == {r["classifier"] for r in src["timecourse"]}
        for clf, curve in d.items():
            rr = sorted((r for r in src["timecourse"] if r["classifier"] == clf),
                        key=lambda r: float(r["time"]))
            times = [float(r["time"]) for r in rr]
            np.testing.assert_allclose(curve["times"], times)
            np.testing.assert_allclose(curve["score"], _floats(rr, "balanced_accuracy"))
            np.testing.assert_allclose(curve["null_mean"], _floats(rr, "null_mean"))
            np.testing.assert_allclose(curve["null_p95"], _floats(rr, "null_p95"))
            flags = [r["significant"] == "True" for r in rr]
            assert curve["significant"].tolist() == flags
            assert curve["stretches"] == _runs(times, flags)
            line = next(ln for ln in fig.axes[0].lines if ln.get_label() == clf)
            np.testing.assert_allclose(line.get_ydata(), curve["score"])

    # Temporal generalisation: results.h5; its diagonal (train and test at t) is the
    # time-resolved balanced accuracy of timecourse.csv (the tested metric).
    for clf, (gen, times) in src["generalization"].items():
        d = figs[f"generalization_{clf}"].gpudecode_data
        np.testing.assert_allclose(d["matrix"], gen)
        np.testing.assert_allclose(d["times"], times)
        rr = sorted((r for r in src["timecourse"] if r["classifier"] == clf),
                    key=lambda r: float(r["time"]))
        np.testing.assert_allclose(np.diag(d["matrix"]), _floats(rr, "balanced_accuracy"),
                                   atol=1e-6)
        assert d["metric"] == "balanced"
        np.testing.assert_allclose(figs[f"generalization_{clf}"].axes[0].images[0].get_array(),
                                   gen)

    # Top cells: mean ± SEM per class of /epochs/top_data, for the best cells of cells.csv.
    d = figs["top_cells"].gpudecode_data
    labels, drawn = src["labels"], len(d["cells"])
    assert d["cells"].tolist() == src["top_cells"][:drawn].tolist()
    assert d["classes"] == src["classes"]
    np.testing.assert_allclose(d["times"], src["times"])
    for i in range(drawn):
        for k, c in enumerate(src["classes"]):
            x = src["top_data"][labels == c, i].astype(np.float64)
            np.testing.assert_allclose(d["mean"][i, k], x.mean(0), rtol=1e-6)
            np.testing.assert_allclose(d["sem"][i, k], x.std(0, ddof=1) / np.sqrt(len(x)),
                                       rtol=1e-6)
    if "cells" in src:
        best = {}
        for r in src["cells"]:
            best[int(r["cell"])] = max(best.get(int(r["cell"]), 0.0),
                                       float(r["balanced_accuracy"]))
        scores = sorted(best.values(), reverse=True)
        assert sorted((best[c] for c in d["cells"]), reverse=True) == scores[:drawn]
    raster = figs["top_cells"].axes[1].images[0].get_array()
    np.testing.assert_allclose(raster, src["top_data"][d["order"], 0, :])
    assert labels[d["order"]].tolist() == sorted(labels, key=src["classes"].index)

    if "correlation_matrix" in figs:
        d = figs["correlation_matrix"].gpudecode_data
        order = src["order"]
        assert sorted(order.tolist()) == list(range(len(src["cell_ids"])))
        for k in range(len(src["classes"])):
            np.testing.assert_allclose(d["ordered"][k], src["corr"][k][np.ix_(order, order)])
        if len(src["classes"]) == 2:
            np.testing.assert_allclose(d["ordered"][2], (src["corr"][1] - src["corr"][0])
                                       [np.ix_(order, order)], atol=1e-6)
    if "top_pairs" in figs:
        rows = sorted(src["pairs"], key=lambda r: int(r["rank"]))[:20]
        d = figs["top_pairs"].gpudecode_data
        np.testing.assert_allclose(d["corr_difference"], _floats(rows, "corr_difference"))
        np.testing.assert_allclose(_bars(figs["top_pairs"], "width"),
                                   _floats(rows, "corr_difference"))
        assert d["labels"] == [f"{r['cell_id_i']} - {r['cell_id_j']}" for r in rows]


def check_header(text: str, folder: Path) -> None:
    """The header states the data, parameters, device, versions and run time."""
    summary = json.loads((folder / "summary.json").read_text())
    for label, n in summary["trial_counts"].items():
        assert f"{label}: {n}" in text
    assert f"{summary['n_cells']} cells" in text
    assert summary["device"]["device_name"] in text
    assert f"run took {summary['timing_s']['total_s']:.1f} s" in text
    assert summary["versions"]["numpy"] in text
    assert summary["inputs"]["traces"] in text
    assert "Parameters: trial_spec" in text and "n_permutations" in text


# ---------------------------------------------------------------- sessions

def test_decode_all_with_report(session):
    """``decode --analysis all --generalization --report``: every session figure, drawn from
    the folder's CSVs and results.h5, embedded in one self-contained page."""
    models = read_csv_rows(session / "models.csv")
    assert {r["analysis"] for r in models} == {"single-cell", "democracy", "summed",
                                               "correlation", "time-resolved"}
    # The folder exercises both cases of every mark: significant and not.
    assert 0 < sum(r["significant"] == "True" for r in models) < len(models)
    flags = [r["significant"] for r in read_csv_rows(session / "timecourse.csv")]
    assert "True" in flags and "False" in flags

    figs = session_figures(session)
    assert set(figs) == SESSION_FIGURES
    check_session_figures(session, figs)
    text = (session / "report.html").read_text(encoding="utf-8")
    assert_self_contained(text)
    page = Tables(text)
    assert page.images == len(figs) == len(list((session / "figures").glob("*.png")))
    for name in ("models", "timecourse", "pairs"):
        assert len(page.tables[f"{name}.csv"]) == len(read_csv_rows(session / f"{name}.csv"))
    assert page.tables["models.csv"] == [list(r.values()) for r in models]
    assert (session / "figures" / "model_ranking.png").stat().st_size > 1000
    assert (session / "figures" / "model_ranking.svg").read_text().lstrip().startswith("<?xml")
    check_header(text, session)


def test_report_command_on_a_single_cell_decode(single_cell, tmp_path, capsys):
    """``gpudecode report DIR -o FILE`` on a single-cell decode: figures without inputs are
    skipped, the top-cells table is cells.csv ranked."""
    folder = tmp_path / "run"
    shutil.copytree(single_cell, folder)
    path = report_command(folder, tmp_path / "elsewhere" / "r.html")
    assert path == tmp_path / "elsewhere" / "r.html"
    assert "r.html" in capsys.readouterr().out
    assert not (folder / "report.html").exists()
    figs = session_figures(folder)
    assert set(figs) == {"single_cell_lda", "top_cells", "model_ranking"}
    check_session_figures(folder, figs)
    text = path.read_text(encoding="utf-8")
    assert_self_contained(text)
    page = Tables(text)
    assert page.images == len(figs) == len(list((folder / "figures").glob("*.png")))
    with h5py.File(folder / "results.h5") as f:
        assert f["single_cell/lda/null_accuracy"].shape == (10, 99)

    cells = read_csv_rows(folder / "cells.csv")
    assert any(r["significant"] == "True" for r in cells)
    top = page.tables["top 10 cells by balanced accuracy: lda"]
    ranked = sorted(cells, key=lambda r: (-float(r["balanced_accuracy"]), float(r["p_value"])))
    assert [row[0] for row in top] == [r["cell_id"] for r in ranked]
    q = list(cells[0]).index("q_value") - 1  # the table has no classifier column
    assert [row[q] for row in top] == [r["q_value"] for r in ranked]
    assert len(page.tables["all cells (cells.csv)"]) == len(cells)
    check_header(text, folder)
    assert not (folder / "timecourse.csv").exists()
    assert not (folder / "figures" / "time_resolved.png").exists()


# ---------------------------------------------------------------- cohorts

def test_cohort_with_report(cohort):
    """``cohort --report``: learning curves and significant cells are cohort.csv, mean ± SEM
    across animals by day; the trend lines are learning.csv; failures are listed."""
    rows = read_csv_rows(cohort / "cohort.csv")
    learning = read_csv_rows(cohort / "learning.csv")
    failures = read_csv_rows(cohort / "failures.csv")
    meta = json.loads((cohort / "cohort.json").read_text())
    figs = cohort_figures(cohort)
    assert set(figs) == {"learning_outcome_single-cell_lda", "learning_outcome_summed_lda",
                         "significant_cells_outcome"}
    text = (cohort / "report.html").read_text(encoding="utf-8")
    assert_self_contained(text)
    page = Tables(text)
    assert page.images == len(figs) == len(list((cohort / "figures").glob("*.png")))

    animals = sorted({r["animal"] for r in rows})
    days = sorted({float(r["day"]) for r in rows})
    assert len(animals) == 2 and len(days) == 3
    for analysis in ("single-cell", "summed"):
        mine = [r for r in rows if (r["target"], r["analysis"], r["classifier"])
                == ("outcome", analysis, "lda")]
        d = figs[f"learning_outcome_{analysis}_lda"].gpudecode_data
        assert d["x_axis"] == "day"
        # The decoding panel is the tested statistic (the cohort's --metric: balanced).
        assert meta["config"]["metric"] == "balanced"
        assert d["measure"] == "balanced_accuracy"
        assert d["ylabel"] == "decoding: test balanced accuracy"
        for key, col in (("accuracy", "balanced_accuracy"), ("behaviour", "percent_correct")):
            np.testing.assert_allclose(d[key]["x"], days)
            for x, mean, sem in zip(d[key]["x"], d[key]["mean"], d[key]["sem"]):
                v = np.array([float(r[col]) for r in mine if float(r["day"]) == x])
                assert v.size == 2
                assert mean == pytest.approx(v.mean())
                assert sem == pytest.approx(v.std(ddof=1) / np.sqrt(v.size))
            for animal in animals:
                xa, ya = d[key]["per_animal"][animal]
                rr = sorted((r for r in mine if r["animal"] == animal),
                            key=lambda r: float(r["day"]))
                np.testing.assert_allclose(xa, [float(r["day"]) for r in rr])
                np.testing.assert_allclose(ya, [float(r[col]) for r in rr])
        assert d["accuracy"]["n_animals"].tolist() == [2, 2, 2]
        (trend,) = [r for r in learning if (r["scope"], r["analysis"], r["measure"])
                    == ("all", analysis, "balanced_accuracy")]
        assert len(d["trends"]) == 1
        assert f"slope {float(trend['slope']):+.3g} per session" in d["trends"][0]
        assert f"p = {float(trend['p_value']):.3g}" in d["trends"][0]

    d = figs["significant_cells_outcome"].gpudecode_data["by_classifier"]
    assert set(d) == {"lda"}  # single-cell rows only
    single = [r for r in rows if r["analysis"] == "single-cell"]
    assert any(int(r["n_significant_cells"]) for r in single)
    for x, mean in zip(d["lda"]["x"], d["lda"]["mean"]):
        assert mean == pytest.approx(np.mean([int(r["n_significant_cells"]) for r in single
                                              if float(r["day"]) == x]))

    # Header: animals, sessions, failures, run time, device; tables are the CSVs.
    assert len(failures) == 1 and failures[0]["session"] == "s09"
    assert f"2 animals, 6 sessions, 1 failed; run took {meta['seconds']:.1f} s" in text
    assert "CPU" in text and meta["versions"]["numpy"] in text
    assert len(page.tables["cohort.csv"]) == len(rows)
    assert len(page.tables["learning.csv"]) == len(learning)
    assert page.tables["failed sessions (failures.csv)"] == [list(r.values()) for r in failures]
    sessions = page.tables["session data (each session's summary.json)"]
    assert len(sessions) == 6
    trials = {(r["animal"], r["session"]): r["n_trials"] for r in rows}
    for row in sessions:  # animal, session, day, target, traces, events, cells, trials, ...
        assert row[7] == trials[(row[0], row[1])] and row[6] == "8"


# ---------------------------------------------------------------- errors

def _drop_file_manifest(folder: Path) -> None:
    """Make ``folder`` look written before summary.json listed its files (no one-run check)."""
    summary = json.loads((folder / "summary.json").read_text())
    summary.pop("file_manifest", None)
    (folder / "summary.json").write_text(json.dumps(summary))


def test_bad_folders_are_one_line_errors(single_cell, tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        write_report(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="summary.json"):
        write_report(tmp_path / "empty")
    folder = tmp_path / "s"
    shutil.copytree(single_cell, folder)
    _drop_file_manifest(folder)       # reach the column check, past the one-run check
    rows = read_csv_rows(folder / "models.csv")
    with open(folder / "models.csv", "w", newline="") as f:
        w = csv.DictWriter(f, [c for c in rows[0] if c != "test_std"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(FormatError, match=r"models.csv: \[test_std\]"):
        write_report(folder)
    assert not (folder / "report.html").exists() and not (folder / "figures").exists()
    (folder / "summary.json").write_text("{not json")
    with pytest.raises(FormatError, match="summary.json"):
        write_report(folder)


# ---------------------------------------------------------------- page layout and summary

def _runs_onset(rows, run=2):
    """Centre time of the first window of the first `run` consecutive significant windows."""
    times = [float(r["time"]) for r in rows]
    flags = [r["significant"] == "True" for r in rows]
    for a, b in _runs(times, flags):
        if times.index(b) - times.index(a) + 1 >= run:
            return a
    return None


def test_report_opens_with_the_findings_then_figures_then_parameters(session):
    """The page order: summary (what decodes, how well, warnings), the figures, and the data
    and parameter tables last, collapsed."""
    text = (session / "report.html").read_text(encoding="utf-8")
    main = text[text.index("<main>"):]
    summary = main.index('<section id="summary">')
    first_figure = main.index("<figure")
    params = main.index('<section id="parameters">')
    assert summary < first_figure < params
    assert main.index("<h2>Model ranking</h2>") < first_figure   # the ranking is the first figure
    tail = main[params:]
    assert tail.index("<details>") < tail.index("Parameters: trial_spec")
    # Nothing but the title and a one-line lead before the summary.
    header = text[text.index("<header>"):text.index("</header>")]
    assert "<table" not in header and header.count("<p") == 1

    # The summary states the best model with its p and q on the tested statistic, the
    # significant cells by id, and the onset of the time course; each from the CSVs.
    block = main[summary:first_figure]
    models = sorted(read_csv_rows(session / "models.csv"), key=lambda r: int(r["rank"]))
    best = models[0]
    assert (f"Best model: {best['analysis']} / {best['classifier']}" in block
            and f"test balanced accuracy {float(best['balanced_accuracy']):.3f}" in block
            and f"p = {float(best['p_value']):.3g}, q = {float(best['q_value']):.3g}" in block)
    n_sig = sum(r["significant"] == "True" for r in models)
    assert f"{n_sig} of {len(models)} models significant" in block
    table = block[block.index('data-title="summary: best models"'):]
    shown = re.findall(r'<td class="t">([^<]* / [^<]*)</td>', table)
    assert shown == [f"{r['analysis']} / {r['classifier']}" for r in models[:5]]
    check_summary_cells(session, block)
    timecourse = sorted(read_csv_rows(session / "timecourse.csv"), key=lambda r: float(r["time"]))
    onset = _runs_onset([r for r in timecourse if r["classifier"] == "lda"])
    assert onset is not None and f"decodes from {onset:+.2f} s" in block


def check_summary_cells(folder: Path, block: str) -> None:
    """The summary counts the significant cells of cells.csv and names them by id, best
    (by the tested statistic) first."""
    cells = read_csv_rows(folder / "cells.csv")
    sig_ids = [r["cell_id"] for r in sorted(cells, key=lambda r: -float(r["balanced_accuracy"]))
               if r["significant"] == "True"]
    assert f"lda: {len(sig_ids)} of {len(cells)} cells significant" in block
    if sig_ids:
        assert f"(best first: {', '.join(sig_ids)})." in block
    else:
        assert f"lda: 0 of {len(cells)} cells significant." in block


def test_summary_names_significant_cells_by_id(single_cell, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(single_cell, folder)
    text = report_command(folder).read_text(encoding="utf-8")
    block = text[text.index('<section id="summary">'):text.index("<figure")]
    assert any(r["significant"] == "True" for r in read_csv_rows(single_cell / "cells.csv"))
    check_summary_cells(folder, block)
    # Cells are named by id everywhere; the index appears only as a labelled table column.
    assert not re.search(r"cell \d+ \(|cell index \d", text)
    assert "<th title=\"cell\">cell index</th>" in text
    names = session_figures(folder)["top_cells"].gpudecode_data["names"]
    ids = {r["cell_id"] for r in read_csv_rows(folder / "cells.csv")}
    assert names and all(n.startswith("cell ") and n[5:] in ids for n in names)


def test_summary_warns_when_significance_cannot_be_reached(session, tmp_path):
    """A run whose permutations are too few for BH to reach alpha says so in the summary, with
    the smallest q and the permutations needed (here: 59 permutations, 10 cells, 9 models)."""
    from gpudecode.report import permutations_needed, smallest_q
    assert smallest_q(10, 59) == pytest.approx(10 / 60)
    assert permutations_needed(10, 0.05) == 200 and 10 / 201 < 0.05 <= 10 / 200
    assert permutations_needed(9, 0.05) == 180
    text = (session / "report.html").read_text(encoding="utf-8")
    block = text[text.index('<section id="summary">'):text.index("<figure")]
    assert "lone cell at the smallest p (0.0167) gets q = 0.167" in block
    assert "200 permutations let a single cell reach q &lt; 0.05" in block


def test_content_security_policy_allows_exactly_the_report_scripts(session):
    """Scripts run by hash, not 'unsafe-inline': the CSP lists the SHA-256 of each inline
    script and style of the written page; forms and <base> are forbidden."""
    import base64
    import hashlib
    text = (session / "report.html").read_text(encoding="utf-8")
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', text).group(1)
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["default-src"] == "'none'"
    assert directives["form-action"] == "'none'" and directives["base-uri"] == "'none'"
    assert "unsafe-inline" not in csp

    def digest(body):
        return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
    scripts = re.findall(r"<script>(.*?)</script>", text, re.DOTALL)
    styles = re.findall(r"<style>(.*?)</style>", text, re.DOTALL)
    assert len(scripts) == 2 and len(styles) == 1
    assert sorted(directives["script-src"].split()) == sorted(digest(s) for s in scripts)
    assert directives["style-src"].split() == [digest(styles[0])]
    assert " style=" not in text            # no inline style attribute the CSP would block


def test_corrupt_results_h5_is_one_line_exit_2(single_cell, tmp_path, capsys):
    """`gpudecode report` on a truncated results.h5: one line naming the file, exit 2, no
    traceback, no report written (with and without the run's file manifest)."""
    from gpudecode.cli import main
    for keep_manifest in (False, True):
        folder = tmp_path / f"run{keep_manifest}"
        shutil.copytree(single_cell, folder)
        h5 = folder / "results.h5"
        h5.write_bytes(h5.read_bytes()[:2000])
        if not keep_manifest:      # as a folder written before file manifests existed
            _drop_file_manifest(folder)
            with pytest.raises(FormatError, match=r"results\.h5"):
                write_report(folder)
        code = main(["report", str(folder)])
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 2 and len(lines) == 1, err
        assert lines[0].startswith("error:") and "results.h5" in lines[0]
        assert "Traceback" not in err
        assert not (folder / "report.html").exists()


# ---------------------------------------------------------------- names are data

CELL_NAMES = {1: "$x$", 2: "\x1b]0;title\x07", 3: "\x1b[2J", 4: "$$", 5: "$\\foo$"}
EVENT_NAMES = {"Correct": "Cor$$rect", "Incorrect": "In\x1b[2Jcorrect\x1b]0;t\x07"}


def _nasty_session(tmp_path: Path) -> tuple[Path, Path]:
    """A traces CSV whose cell names hold '$' (mathtext) and terminal escapes, two constant
    cells, and an events CSV whose anchor names do too."""
    from gpudecode.simulate import simulate_session, write_simulation
    sim = simulate_session(n_cells=10, seed=1, session_index=6, roles={"outcome": 0.3},
                           effect=4.0)
    write_simulation(tmp_path / "sim", [sim], formats=("csv",))
    (traces,) = (tmp_path / "sim").glob("*_traces.csv")
    (events,) = (tmp_path / "sim").glob("*_events.csv")
    rows = list(csv.reader(traces.read_text().splitlines()))
    for i, name in CELL_NAMES.items():
        rows[0][i] = name
    for r in rows[1:]:
        r[7] = r[8] = "0.5"                      # cells 6 and 7 are constant
    out_traces, out_events = tmp_path / "traces.csv", tmp_path / "events.csv"
    with open(out_traces, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    rows = list(csv.reader(events.read_text().splitlines()))
    for r in rows[1:]:
        r[1] = EVENT_NAMES.get(r[1], r[1])
    with open(out_events, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return out_traces, out_events


def test_names_with_dollars_and_escapes_decode_and_report(tmp_path, capsys):
    """Cell and event names are data: '$' does not reach mathtext, escape sequences do not
    reach the terminal or the page, and constant cells give one summary line per kind of
    fit, not one scikit-learn warning per split."""
    from report_folders import FAST

    from gpudecode.cli import main
    traces, events = _nasty_session(tmp_path)
    out = tmp_path / "out"
    code = main(["decode", str(traces), "--events", str(events),
                 "--anchor", ",".join(EVENT_NAMES.values()), "--pre", "0.5", "--post", "1",
                 "--analysis", "all", "--generalization", "--shuffles", "4",
                 "--permutations", "19", "--time-window", "12", "--time-step", "6", *FAST,
                 "--out", str(out), "--report"])
    cap = capsys.readouterr()
    assert code == 0, cap.err
    assert "\x1b" not in cap.out + cap.err and "\x07" not in cap.out + cap.err
    assert "$x$" in cap.out                               # names are shown, literally
    assert "Features [" not in cap.err and "Glyph" not in cap.err
    constant = [ln for ln in cap.err.splitlines() if "were constant on some training sets" in ln]
    assert len(constant) <= 2 and all(len(ln) < 300 for ln in constant), cap.err
    assert any("cell pairs" in ln for ln in constant)

    figures = {p.stem for p in (out / "figures").glob("*.png")}
    assert SESSION_FIGURES <= figures
    assert {p.stem for p in (out / "figures").glob("*.svg")} == figures
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "\x1b" not in text and "\x07" not in text
    assert "$x$" in text and "Cor$$rect" in text
    cells = read_csv_rows(out / "cells.csv")
    assert {r["cell_id"] for r in cells} >= {"$x$", "$$", "$\\foo$", "\x1b[2J"}  # data kept
    svg = (out / "figures" / "top_pairs.svg").read_text(encoding="utf-8")
    assert "\x1b" not in svg

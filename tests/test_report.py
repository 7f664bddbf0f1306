"""The HTML report: figures from a real decode folder match its CSVs; the page is self-contained.

Tests marked "lead: switch to a real decode folder once --analysis all lands" write the
contract files that ``decode``/``cohort`` do not produce yet (models.csv, timecourse.csv,
pairs.csv, /epochs, /time_resolved, /correlation, cohort.csv, learning.csv) by hand, exactly
as /tmp/gpd_outputs.md (the result-folder contract) specifies.
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

from gpudecode.cli import main
from gpudecode.errors import FormatError, InputFileError
from gpudecode.outputs import write_csv
from gpudecode.report import (
    cohort_figures,
    read_csv_rows,
    render_report,
    session_figures,
    write_report,
)
from gpudecode.report_cli import report_command
from gpudecode.simulate import simulate_session, write_simulation

MODELS_COLUMNS = ("analysis", "classifier", "test_accuracy", "test_std", "balanced_accuracy",
                  "cv_accuracy", "cv_std", "p_value", "q_value", "significant", "null_mean",
                  "null_p95", "rank")
TIMECOURSE_COLUMNS = ("time", "classifier", "accuracy", "balanced_accuracy", "p_value",
                      "q_value", "significant", "null_mean", "null_p95")
PAIRS_COLUMNS = ("rank", "cell_i", "cell_j", "cell_id_i", "cell_id_j", "selection_frequency",
                 "mean_f_score", "corr_difference", "class_high")
COHORT_COLUMNS = ("animal", "session", "day", "target", "analysis", "classifier", "accuracy",
                  "balanced_accuracy", "p_value", "n_significant_cells", "percent_correct",
                  "n_trials")
LEARNING_COLUMNS = ("scope", "target", "analysis", "classifier", "measure", "slope", "p_value",
                    "n_sessions", "behaviour_r", "behaviour_p")


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


def add_contract_files(folder: Path, seed: int = 0) -> None:
    """Write models.csv, timecourse.csv, pairs.csv and the /epochs, /time_resolved and
    /correlation groups of results.h5 into a session folder, as the contract specifies;
    files and groups the folder already has are kept."""
    rng = np.random.default_rng(seed)
    with h5py.File(folder / "results.h5", "a") as f:
        labels = _h5_strings(f["trials/labels"])
        cell_ids = _h5_strings(f["cell_ids"])
        classes = _h5_strings(f["classes"])
        n_cells, n_trials = len(cell_ids), len(labels)
        if "epochs/top_data" not in f:
            ep = f.require_group("epochs")
            if "times" not in ep:
                ep["times"] = np.round(np.linspace(-0.5, 1.0, 45), 4)
            top = np.array([3, 0, 1][:min(3, n_cells)])
            data = rng.normal(size=(n_trials, top.size, ep["times"].size)).astype(np.float32)
            data[np.asarray(labels) == classes[0], 0, 20:30] += 2.0
            ep["top_cells"], ep["top_data"] = top, data
        w_times = np.round(np.arange(-0.4, 1.0, 0.2), 3)
        if "time_resolved" not in f:
            for clf in ("lda", "rbf-svm"):
                g = f.create_group(f"time_resolved/{clf}")
                g["times"] = w_times
                g["test_accuracy"] = rng.uniform(0.4, 0.9, (w_times.size, 3))
                g["test_balanced"] = rng.uniform(0.4, 0.9, (w_times.size, 3))
                g["null_accuracy"] = rng.uniform(0.4, 0.7, (w_times.size, 9))
                if clf == "lda":
                    g["generalization"] = rng.uniform(0.4, 0.9, (w_times.size, w_times.size))
        if "correlation" not in f:
            corr = rng.uniform(-0.3, 0.8, (len(classes), n_cells, n_cells)).astype(np.float32)
            corr = (corr + corr.transpose(0, 2, 1)) / 2
            for k in range(len(classes)):
                np.fill_diagonal(corr[k], 1.0)
            f["correlation/mean_by_class"] = corr
            f["correlation/order"] = rng.permutation(n_cells)

    models = []
    for analysis, clf, acc, sig in (("single-cell", "lda", 0.71, True),
                                    ("democracy", "random-forest", 0.52, False),
                                    ("summed", "rbf-svm", 0.58, False),
                                    ("correlation", "rbf-svm", 0.79, True),
                                    ("correlation", "tree", 0.83, True),
                                    ("time-resolved", "lda", 0.66, True)):
        models.append({"analysis": analysis, "classifier": clf, "test_accuracy": acc,
                       "test_std": 0.05 + 0.1 * rng.random(), "balanced_accuracy": acc - 0.03,
                       "cv_accuracy": acc - 0.02, "cv_std": 0.1, "p_value": 0.01 if sig else 0.4,
                       "q_value": 0.02 if sig else 0.5, "significant": sig,
                       "null_mean": 0.6, "null_p95": 0.68})
    for rank, m in enumerate(sorted(models, key=lambda m: -m["test_accuracy"]), 1):
        m["rank"] = rank
    if not (folder / "models.csv").exists():
        write_csv(folder / "models.csv", models, MODELS_COLUMNS)

    tc = []
    for clf in ("lda", "rbf-svm"):
        for k, t in enumerate(w_times):
            sig = 2 <= k <= 4
            tc.append({"time": t, "classifier": clf, "accuracy": 0.55 + (0.2 if sig else 0.0),
                       "balanced_accuracy": 0.5, "p_value": 0.01 if sig else 0.5,
                       "q_value": 0.02 if sig else 0.6, "significant": sig,
                       "null_mean": 0.6, "null_p95": 0.7})
    if not (folder / "timecourse.csv").exists():
        write_csv(folder / "timecourse.csv", tc, TIMECOURSE_COLUMNS)

    pairs = []
    for rank in range(1, 8):
        i, j = sorted(rng.choice(n_cells, 2, replace=False))
        pairs.append({"rank": rank, "cell_i": i, "cell_j": j, "cell_id_i": cell_ids[i],
                      "cell_id_j": cell_ids[j], "selection_frequency": 1 - rank / 10,
                      "mean_f_score": 10 / rank, "corr_difference": rng.normal(0, 0.3),
                      "class_high": classes[rank % 2]})
    if not (folder / "pairs.csv").exists():
        write_csv(folder / "pairs.csv", pairs, PAIRS_COLUMNS)


def write_synthetic_session(folder: Path, n_cells: int = 6, seed: int = 0) -> Path:
    """A session folder like `decode` writes (summary.json, cells.csv, results.h5) plus every
    contract file, without running a decoder (for the browser test)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels = ["Correct"] * 14 + ["Incorrect"] * 8
    summary = {"command": "decode", "inputs": {"traces": "sim01_s07.h5", "events": None,
                                               "format": "gpudecode"},
               "animal": "sim01", "session": "s07", "day": 7, "n_cells": n_cells,
               "n_frames": 9000, "frame_rate_hz": 30.0,
               "trial_spec": {"anchors": ["Correct", "Incorrect"], "pre": 0.5, "post": 1.0},
               "trial_counts": {"Correct": 14, "Incorrect": 8}, "dropped_trials": {},
               "analyses": ["single-cell", "population"],
               "single_cell": {"classifiers": ["lda"], "n_shuffles": 3, "threshold": 0.8},
               "population": {"classifiers": ["rbf-svm", "tree"], "select_k": 20},
               "device": {"name": "cpu", "device_name": "CPU (Numba, 2 threads)"},
               "timing_s": {"total_s": 1.5}, "versions": {"numpy": np.__version__},
               "argv": ["gpudecode", "decode"]}
    (folder / "summary.json").write_text(json.dumps(summary))
    null = rng.uniform(0.4, 0.7, (n_cells, 9))
    rows = [{"cell": c, "cell_id": f"C{c:03d}", "classifier": "lda",
             "test_accuracy": rng.uniform(0.4, 0.9), "balanced_accuracy": 0.5,
             "cv_accuracy": rng.uniform(0.4, 0.9), "n_above_threshold": int(rng.integers(0, 3)),
             "p_value": 0.1, "q_value": 0.2, "significant": False} for c in range(n_cells)]
    write_csv(folder / "cells.csv", rows, tuple(rows[0]))
    str_dt = h5py.string_dtype("utf-8")
    with h5py.File(folder / "results.h5", "w") as f:
        f.create_dataset("trials/labels", data=np.array(labels, object), dtype=str_dt)
        f.create_dataset("cell_ids", data=np.array([r["cell_id"] for r in rows], object),
                         dtype=str_dt)
        f.create_dataset("classes", data=np.array(["Correct", "Incorrect"], object),
                         dtype=str_dt)
        f["single_cell/lda/null_accuracy"] = null
    add_contract_files(folder, seed)
    return folder


def write_cohort_folder(folder: Path) -> Path:
    """cohort.csv, learning.csv, failures.csv and cohort.json as the contract specifies."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for a, animal in enumerate(("m1", "m2", "m3")):
        for day in range(1, 6):
            if (animal, day) == ("m2", 4):
                continue  # a failed session
            for target, analysis, clf in (("outcome", "single-cell", "lda"),
                                          ("outcome", "correlation", "rbf-svm"),
                                          ("location", "single-cell", "lda")):
                rows.append({"animal": animal, "session": f"s{day:02d}", "day": day,
                             "target": target, "analysis": analysis, "classifier": clf,
                             "accuracy": 0.45 + 0.07 * day + 0.02 * a,
                             "balanced_accuracy": 0.4 + 0.07 * day, "p_value": 0.5 / day,
                             "n_significant_cells": 2 * day + a,
                             "percent_correct": 45 + 9 * day - 2 * a,
                             "n_trials": f"Correct:{18 + day};Incorrect:{18 - day}"})
    write_csv(folder / "cohort.csv", rows, COHORT_COLUMNS)
    learning = [
        {"scope": "all", "target": "outcome", "analysis": "single-cell", "classifier": "lda",
         "measure": "accuracy", "slope": 0.07, "p_value": 0.0004, "n_sessions": 14,
         "behaviour_r": 0.93, "behaviour_p": 0.0001},
        {"scope": "all", "target": "outcome", "analysis": "single-cell", "classifier": "lda",
         "measure": "n_significant_cells", "slope": 2.0, "p_value": 0.001, "n_sessions": 14,
         "behaviour_r": 0.88, "behaviour_p": 0.001},
        {"scope": "m1", "target": "outcome", "analysis": "single-cell", "classifier": "lda",
         "measure": "accuracy", "slope": 0.07, "p_value": 0.01, "n_sessions": 5,
         "behaviour_r": "", "behaviour_p": ""}]
    write_csv(folder / "learning.csv", learning, LEARNING_COLUMNS)
    write_csv(folder / "failures.csv", [{"animal": "m2", "session": "s04",
                                         "error": "s04.h5: [traces] not found"}],
              ("animal", "session", "error"))
    (folder / "cohort.json").write_text(json.dumps({
        "parameters": {"targets": ["outcome", "location"], "shuffles": 3},
        "versions": {"numpy": np.__version__}, "device": {"name": "cpu"},
        "timing": {"total_s": 12.5}}))
    return folder


# ---------------------------------------------------------------- a real decode folder

@pytest.fixture(scope="module")
def decoded(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    sim = simulate_session(n_cells=8, seed=1, session_index=6)
    h5 = write_simulation(root / "sim", [sim], formats=("h5",))[0]
    out = root / "run"
    code = main(["decode", str(h5), "--anchor", "Correct,Incorrect", "--pre", "0.5", "--post",
                 "1", "--classifier", "lda", "--shuffles", "3", "--folds", "2",
                 "--permutations", "19", "--step", "2", "--out", str(out)])
    assert code == 0
    return out


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


def session_sources(folder: Path) -> dict:
    """What a session folder holds, read independently of gpudecode.report."""
    src = {name: read_csv_rows(folder / f"{name}.csv")
           for name in ("cells", "models", "timecourse", "pairs")
           if (folder / f"{name}.csv").exists()}
    with h5py.File(folder / "results.h5") as f:
        src["labels"] = np.array(_h5_strings(f["trials/labels"]))
        src["classes"] = _h5_strings(f["classes"])
        src["null"] = {clf: g["null_accuracy"][()] for clf, g in f.get("single_cell", {}).items()}
        if "epochs/top_data" in f:
            src["top_data"], src["top_cells"] = f["epochs/top_data"][()], f["epochs/top_cells"][()]
        src["generalization"] = {clf: g["generalization"][()]
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

    # Histograms: cells.csv; chance band: the pooled permutation null of results.h5.
    for clf in {r["classifier"] for r in src.get("cells", [])}:
        rows = sorted((r for r in src["cells"] if r["classifier"] == clf),
                      key=lambda r: int(r["cell"]))
        fig = figs[f"single_cell_{clf}"]
        d = fig.gpudecode_data
        test = [float(r["test_accuracy"]) for r in rows]
        np.testing.assert_allclose(d["test_accuracy"], test)
        np.testing.assert_allclose(d["cv_accuracy"], [float(r["cv_accuracy"]) for r in rows])
        assert _bars(fig, "height") == np.histogram(test, d["bin_edges"])[0].tolist()
        null = src["null"].get(clf)
        if null is not None and null.size:
            assert d["chance_band"] == pytest.approx(tuple(np.percentile(null, [2.5, 97.5])))

    # Model ranking: bar lengths, error bars and marks are models.csv, best rank first.
    if "model_ranking" in figs:
        models = sorted(src["models"], key=lambda r: int(r["rank"]))
        d = figs["model_ranking"].gpudecode_data
        acc = [float(r["test_accuracy"]) for r in models]
        np.testing.assert_allclose(_bars(figs["model_ranking"], "width"), acc)
        np.testing.assert_allclose(d["heights"], acc)
        np.testing.assert_allclose(d["errors"], [float(r["test_std"] or "nan") for r in models])
        np.testing.assert_allclose(d["null_p95"], [float(r["null_p95"] or "nan") for r in models])
        assert d["significant"].tolist() == [r["significant"] == "True" for r in models]
        marks = sum(t.get_text() == "*" for t in figs["model_ranking"].axes[0].texts)
        assert marks == sum(r["significant"] == "True" for r in models)

    if "time_resolved" in figs:
        d = figs["time_resolved"].gpudecode_data
        assert set(d) == {r["classifier"] for r in src["timecourse"]}
        for clf, curve in d.items():
            rr = sorted((r for r in src["timecourse"] if r["classifier"] == clf),
                        key=lambda r: float(r["time"]))
            np.testing.assert_allclose(curve["accuracy"], [float(r["accuracy"]) for r in rr])
            np.testing.assert_allclose(curve["times"], [float(r["time"]) for r in rr])
            flags = [r["significant"] == "True" for r in rr]
            assert curve["significant"].tolist() == flags
            assert curve["stretches"] == _runs([float(r["time"]) for r in rr], flags)

    if "top_cells" in figs:
        d = figs["top_cells"].gpudecode_data
        labels, c0 = src["labels"], src["classes"][0]
        x = src["top_data"][labels == c0, 0].astype(np.float64)
        np.testing.assert_allclose(d["mean"][0, 0], x.mean(0))
        np.testing.assert_allclose(d["sem"][0, 0], x.std(0, ddof=1) / np.sqrt(len(x)))
        assert d["cells"].tolist() == src["top_cells"][:4].tolist()
    for clf, gen in src["generalization"].items():
        np.testing.assert_allclose(figs[f"generalization_{clf}"].gpudecode_data["matrix"], gen)
    if "correlation_matrix" in figs:
        order = src["order"]
        np.testing.assert_allclose(figs["correlation_matrix"].gpudecode_data["ordered"][0],
                                   src["corr"][0][np.ix_(order, order)])
    if "top_pairs" in figs:
        rows = sorted(src["pairs"], key=lambda r: int(r["rank"]))[:20]
        np.testing.assert_allclose(figs["top_pairs"].gpudecode_data["corr_difference"],
                                   [float(r["corr_difference"]) for r in rows])


def test_session_report_from_a_real_decode(decoded, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(decoded, folder)
    path = report_command(folder, tmp_path / "elsewhere" / "r.html")
    assert path == tmp_path / "elsewhere" / "r.html"
    assert "r.html" in capsys.readouterr().out
    assert not (folder / "report.html").exists()
    figs = session_figures(folder)
    assert "single_cell_lda" in figs
    check_session_figures(folder, figs)
    text = path.read_text(encoding="utf-8")
    assert_self_contained(text)
    assert (folder / "figures" / "single_cell_lda.png").stat().st_size > 1000
    assert (folder / "figures" / "single_cell_lda.svg").read_text().lstrip().startswith("<?xml")
    page = Tables(text)
    assert page.images == len(figs) == len(list((folder / "figures").glob("*.png")))
    with h5py.File(folder / "results.h5") as f:
        assert f["single_cell/lda/null_accuracy"].shape == (8, 19)

    # The top-cells table is cells.csv ranked by mean test accuracy; all cells are listed.
    cells = read_csv_rows(folder / "cells.csv")
    top = page.tables["top 8 cells: lda"]
    ranked = sorted(cells, key=lambda r: (-float(r["test_accuracy"]), float(r["p_value"])))
    assert [row[0] for row in top] == [r["cell"] for r in ranked]
    assert len(page.tables["all cells (cells.csv)"]) == len(cells)

    # The header states the data, parameters, device, versions and run time.
    summary = json.loads((folder / "summary.json").read_text())
    for label, n in summary["trial_counts"].items():
        assert f"{label}: {n}" in text
    assert summary["device"]["device_name"] in text
    assert f"{summary['timing_s']['total_s']:.1f} s" in text
    assert summary["versions"]["numpy"] in text
    assert "n_permutations" in text and "Parameters: trial_spec" in text
    assert summary["inputs"]["traces"] in text
    # Figures the folder has no inputs for are skipped, not drawn empty.
    assert not (folder / "timecourse.csv").exists()
    assert not (folder / "figures" / "time_resolved.png").exists()


# lead: switch to a real decode folder once --analysis all lands
def test_session_report_with_every_contract_file(decoded, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(decoded, folder)
    add_contract_files(folder)
    path, figs = render_report(folder)
    assert path == folder / "report.html"
    text = path.read_text(encoding="utf-8")
    assert_self_contained(text)
    assert {"single_cell_lda", "top_cells", "model_ranking", "time_resolved",
            "generalization_lda", "correlation_matrix", "top_pairs"} <= set(figs)
    check_session_figures(folder, figs)
    page = Tables(text)
    assert page.images == len(figs)
    assert len(page.tables["models.csv"]) == len(read_csv_rows(folder / "models.csv"))
    assert len(page.tables["pairs.csv"]) == len(read_csv_rows(folder / "pairs.csv"))


# lead: switch to a real decode folder once --analysis all lands
def test_cohort_report(tmp_path):
    folder = write_cohort_folder(tmp_path / "cohort")
    path, figs = render_report(folder)
    text = path.read_text(encoding="utf-8")
    assert_self_contained(text)
    assert set(cohort_figures(folder)) == set(figs)
    assert set(figs) == {"learning_outcome_single-cell_lda", "learning_outcome_correlation_rbf-svm",
                         "learning_location_single-cell_lda", "significant_cells_outcome",
                         "significant_cells_location"}
    assert Tables(text).images == len(figs) == len(list((folder / "figures").glob("*.png")))

    rows = read_csv_rows(folder / "cohort.csv")
    mine = [r for r in rows if (r["target"], r["analysis"], r["classifier"])
            == ("outcome", "single-cell", "lda")]
    d = figs["learning_outcome_single-cell_lda"].gpudecode_data
    for key, col in (("accuracy", "accuracy"), ("behaviour", "percent_correct")):
        for x, mean, sem in zip(d[key]["x"], d[key]["mean"], d[key]["sem"]):
            v = np.array([float(r[col]) for r in mine if float(r["day"]) == x])
            assert mean == pytest.approx(v.mean())
            assert sem == pytest.approx(v.std(ddof=1) / np.sqrt(v.size))
    assert d["accuracy"]["n_animals"].tolist() == [3, 3, 3, 2, 3]
    xa, _ya = d["accuracy"]["per_animal"]["m2"]
    assert xa.tolist() == [1, 2, 3, 5]
    assert "slope +0.07 per session" in d["trends"][0]

    d = figs["significant_cells_outcome"].gpudecode_data["by_classifier"]
    assert set(d) == {"lda"}  # single-cell rows only
    np.testing.assert_allclose(d["lda"]["mean"][0], np.mean([2, 3, 4]))

    assert "3 animals, 14 sessions, 1 failed" in text
    assert "run took 12.5 s" in text
    assert "behaviour r = 0.93" in text
    page = Tables(text)
    assert len(page.tables["cohort.csv"]) == len(rows)
    assert page.tables["failed sessions (failures.csv)"][0][:2] == ["m2", "s04"]


def test_bad_folders_are_one_line_errors(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        write_report(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="summary.json"):
        write_report(tmp_path / "empty")
    folder = write_synthetic_session(tmp_path / "s")
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

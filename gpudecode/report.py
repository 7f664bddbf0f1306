"""A self-contained HTML report of a session or cohort result folder.

``write_report(DIR)`` reads what a ``decode`` (session folder: ``summary.json``) or ``cohort``
(cohort folder: ``cohort.csv``) run wrote, draws every figure whose inputs exist into
``DIR/figures/<name>.png`` and ``.svg``, and writes one HTML file with the PNGs embedded as
base64, sortable tables (a few lines of inline JavaScript) and a header with the data,
parameters, device, versions and run time. The page loads nothing from anywhere: a
Content-Security-Policy forbids every network request.

The figure functions live in :mod:`gpudecode.figures`; :func:`session_figures` and
:func:`cohort_figures` give the figures of a folder with the numbers they plot
(``fig.gpudecode_data``), so they can be checked against the CSVs they came from.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from .atomic import atomic_path, atomic_write_text, shown_path
from .errors import FormatError, InputFileError
from .figures import (
    accuracy_histograms,
    correlation_matrices,
    generalization_matrix,
    learning_curves,
    metric_label,
    model_ranking,
    significant_cells_by_session,
    time_resolved,
    to_float,
    top_cell_traces,
    top_pairs,
    trend_lines,
)
from .outputs import check_one_run
from .text import printable

__all__ = [
    "CSP",
    "ReportContent",
    "Section",
    "SessionData",
    "build_sections",
    "cohort_figures",
    "cohort_findings",
    "csp_source",
    "detect_folder",
    "permutations_needed",
    "read_csv_rows",
    "read_report_content",
    "read_session",
    "render_report",
    "save_figure",
    "session_figures",
    "session_findings",
    "smallest_q",
    "timecourse_onsets",
    "write_report",
]

PNG_DPI = 100
MAX_LEARNING_FIGURES = 12
TOP_CELLS_ROWS = 15

CELLS_REQUIRED = ("cell", "cell_id", "classifier", "test_accuracy", "cv_accuracy")
MODELS_REQUIRED = ("analysis", "classifier", "test_accuracy", "test_std", "null_mean",
                   "null_p95", "significant", "rank")
TIMECOURSE_REQUIRED = ("time", "classifier", "accuracy", "null_mean", "null_p95", "significant")
PAIRS_REQUIRED = ("rank", "cell_id_i", "cell_id_j", "selection_frequency", "corr_difference",
                  "class_high")
COHORT_REQUIRED = ("animal", "session", "day", "target", "analysis", "classifier", "accuracy",
                   "n_significant_cells", "percent_correct")


# ---------------------------------------------------------------- reading

def read_csv_rows(path, required: tuple[str, ...] = ()) -> list[dict]:
    """Rows of a result CSV as dicts of strings (the csv module; no pandas).

    Raises
    ------
    FormatError
        When the file is not UTF-8 CSV or a ``required`` column is missing, naming the file
        and the column.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            columns = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as exc:
        raise FormatError(f"not a readable UTF-8 CSV file ({type(exc).__name__})", path=path,
                          fix=RERUN_FIX) from None
    missing = [c for c in required if c not in columns]
    if missing:
        raise FormatError(f"missing column(s) {', '.join(missing)}", path=path,
                          field=missing[0],
                          fix="rerun the command that writes this folder with this gpudecode "
                              "version")
    return rows


RERUN_FIX = "rerun the command that wrote this folder (gpudecode decode or cohort)"


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FormatError(f"not valid JSON ({exc.msg} at line {exc.lineno})", path=path,
                          fix=RERUN_FIX) from None
    except UnicodeDecodeError:
        raise FormatError("not UTF-8 text", path=path, fix=RERUN_FIX) from None
    if not isinstance(value, dict):
        raise FormatError(f"holds a JSON {type(value).__name__}, not an object", path=path,
                          fix=RERUN_FIX)
    return value


def detect_folder(result_dir) -> str:
    """``"cohort"`` (the folder has cohort.csv) or ``"session"`` (it has summary.json)."""
    d = Path(result_dir)
    if not d.is_dir():
        raise InputFileError("result folder not found", path=d,
                             fix="pass the folder given to 'gpudecode decode --out' or "
                                 "'gpudecode cohort --out'")
    if (d / "cohort.csv").is_file():
        return "cohort"
    if (d / "summary.json").is_file():
        return "session"
    raise InputFileError("neither summary.json (session) nor cohort.csv (cohort) found", path=d,
                         fix="pass the folder given to 'gpudecode decode --out' or "
                             "'gpudecode cohort --out'")


def _strings(ds) -> list[str]:
    return [str(v) for v in ds.asstr()[()]]


def _read_h5(path: Path) -> dict:
    """The parts of ``results.h5`` the figures need; absent groups are absent keys.

    Raises
    ------
    FormatError
        The file is not HDF5, is truncated or corrupt, or holds a group, dataset or dtype
        other than ``gpudecode decode`` writes.
    """
    if not path.is_file():
        return {}
    try:
        return _read_h5_groups(path)
    except (OSError, KeyError, ValueError, TypeError, AttributeError) as exc:
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise FormatError(f"cannot read this results file: {reason}", path=path,
                          fix=RERUN_FIX) from None


def _read_h5_groups(path: Path) -> dict:
    out: dict = {}
    with h5py.File(path, "r") as f:
        for key in ("classes", "cell_ids"):
            if key in f:
                out[key] = _strings(f[key])
        if "trials/labels" in f:
            out["labels"] = _strings(f["trials/labels"])
        if "single_cell" in f:
            out["single_cell"] = {clf: {k: g[k][()] for k in ("null_accuracy", "null_balanced")
                                        if k in g}
                                  for clf, g in f["single_cell"].items()}
        if "epochs" in f and all(k in f["epochs"] for k in ("times", "top_cells", "top_data")):
            out["epochs"] = {k: f["epochs"][k][()] for k in ("times", "top_cells", "top_data")}
        if "time_resolved" in f:
            out["generalization"] = {
                clf: {"matrix": g["generalization"][()], "times": g["times"][()]}
                for clf, g in f["time_resolved"].items()
                if "generalization" in g and "times" in g}
        if "correlation" in f and all(k in f["correlation"] for k in ("mean_by_class", "order")):
            out["correlation"] = {k: f["correlation"][k][()] for k in ("mean_by_class", "order")}
    return out


# ---------------------------------------------------------------- report model

@dataclass
class Section:
    """A titled part of the report: figures, tables and text, in order.

    ``blocks`` items are ``("figure", name, Figure, caption)``, ``("table", title, columns,
    rows, collapsed)``, ``("text", str)`` or ``("row", [blocks])`` (side by side).
    """

    title: str
    blocks: list = field(default_factory=list)

    def figures(self):
        for b in self.blocks:
            if b[0] == "figure":
                yield b[1], b[2]
            elif b[0] == "row":
                for inner in b[1]:
                    if inner[0] == "figure":
                        yield inner[1], inner[2]


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "x"


def _metric_column(metric: str) -> str:
    """The result-table column of a tested statistic."""
    return "balanced_accuracy" if metric == "balanced" else "test_accuracy"


def _top_cells(rows: list[dict], n: int, metric: str = "accuracy") -> list[dict]:
    column = _metric_column(metric)

    def key(r):
        p = to_float(r.get("p_value"))
        score = to_float(r.get(column, r.get("test_accuracy")))
        return (-score if math.isfinite(score) else math.inf, p if math.isfinite(p) else 2.0)
    return sorted(rows, key=key)[:n]


def _run_metric(summary: dict, models: list[dict] | None = None) -> str:
    """The statistic a run tested: summary.json's config, else models.csv, else accuracy."""
    config = summary.get("config") if isinstance(summary.get("config"), dict) else {}
    metric = config.get("metric") or (models[0].get("metric") if models else None)
    return "balanced" if metric == "balanced" else "accuracy"


@dataclass
class SessionData:
    """What a session folder holds, read once: summary.json, the result CSVs (rows of
    strings; empty when the file is absent) and the arrays of results.h5 the figures need."""

    folder: Path
    summary: dict
    h5: dict
    cells: list
    models: list
    timecourse: list
    pairs: list
    metric: str


def read_session(result_dir) -> SessionData:
    """Read a session folder (``gpudecode decode --out``) for the report.

    Raises
    ------
    FormatError
        A file is unreadable or misses a column, naming the file.
    """
    d = Path(result_dir)
    summary = _read_json(d / "summary.json")

    def rows(name, required):
        path = d / f"{name}.csv"
        return read_csv_rows(path, required) if path.is_file() else []
    models = rows("models", MODELS_REQUIRED)
    return SessionData(folder=d, summary=summary, h5=_read_h5(d / "results.h5"),
                       cells=rows("cells", CELLS_REQUIRED), models=models,
                       timecourse=rows("timecourse", TIMECOURSE_REQUIRED),
                       pairs=rows("pairs", PAIRS_REQUIRED), metric=_run_metric(summary, models))


def _session_sections(d: Path) -> tuple[dict, list[Section]]:
    data = read_session(d)
    return data.summary, _figure_sections(data)


def _figure_sections(data: SessionData) -> list[Section]:
    """The figure sections of a session, most telling first: the ranking, the time course,
    single cells, the top cells' traces, correlations."""
    summary, h5, metric = data.summary, data.h5, data.metric
    tested = metric_label(metric)
    sections: list[Section] = []
    sc_params = summary.get("single_cell") or {}
    threshold = sc_params.get("threshold")

    rows = data.models
    if rows:
        sections.append(Section("Model ranking", [
            ("figure", "model_ranking", model_ranking(rows),
             (f"test {tested} ± SD over shuffles (the tested and ranking statistic); grey: its "
              "permutation null, mean to 95th percentile; * significant (BH q < alpha across "
              "models)")),
            ("table", "models.csv", list(rows[0]), rows, False)]))

    tr_blocks = []
    rows = data.timecourse
    if rows:
        tr_metric = "balanced" if str(rows[0].get("metric")) == "balanced" else "accuracy"
        band = ("shaded: its permutation null, mean to 95th percentile"
                if "metric" in rows[0] else
                "shaded: null mean to 95th percentile (a folder written before timecourse.csv "
                "had a metric column: the null of plain accuracy)")
        tr_blocks.append(("figure", "time_resolved", time_resolved(rows),
                          (f"test {metric_label(tr_metric)} per window (the tested statistic); "
                           f"{band}; bars at the bottom: significant windows (per-window "
                           "p-values, BH q < alpha across the windows of each classifier)")))
        tr_blocks.append(("table", "timecourse.csv", list(rows[0]), rows, True))
    gen_metric = (summary.get("time_resolved") or {}).get("metric", "accuracy")
    for clf, g in h5.get("generalization", {}).items():
        tr_blocks.append(("figure", f"generalization_{_safe_name(clf)}",
                          generalization_matrix(g["matrix"], g["times"], classifier=clf,
                                                metric=gen_metric),
                          (f"{clf}: test {metric_label(gen_metric)} of a decoder trained at "
                           "one time (rows) and tested at another (columns); observed labels, "
                           "no null")))
    if tr_blocks:
        sections.append(Section("Time-resolved decoding", tr_blocks))

    rows = data.cells
    if rows:
        sec = Section("Single cells")
        column = _metric_column(metric)
        clfs = list(dict.fromkeys(r["classifier"] for r in rows))
        columns = [c for c in ("cell_id", "cell", "test_accuracy", "balanced_accuracy",
                               "cv_accuracy", "n_above_threshold", "p_value", "q_value",
                               "significant") if c in rows[0]]
        null_key = "null_balanced" if metric == "balanced" else "null_accuracy"
        for clf in clfs:
            rr = sorted((r for r in rows if r["classifier"] == clf), key=lambda r: int(r["cell"]))
            null = h5.get("single_cell", {}).get(clf, {}).get(null_key)
            if null is not None and null.size == 0:
                null = None
            fig = accuracy_histograms([r.get(column) for r in rr],
                                      [r["cv_accuracy"] for r in rr], null, classifier=clf,
                                      threshold=threshold, metric=metric)
            caption = (f"{clf}: per-cell test {tested} (the tested statistic) and inner-CV "
                       f"accuracy, means over {sc_params.get('n_shuffles', '?')} shuffles"
                       + (f"; grey band: 2.5-97.5 percentiles of the {tested} null pooled over "
                          f"{null.shape[0]} cells x {null.shape[1]} permutations"
                          if null is not None else "; no permutations run"))
            sec.blocks.append(("row", [
                ("figure", f"single_cell_{_safe_name(clf)}", fig, caption),
                ("table", f"top {min(TOP_CELLS_ROWS, len(rr))} cells by {tested}: {clf}",
                 columns, _top_cells(rr, TOP_CELLS_ROWS, metric), False)]))
        sec.blocks.append(("table", "all cells (cells.csv)", ["classifier", *columns], rows, True))
        sections.append(sec)

    if "epochs" in h5 and "labels" in h5:
        ep = h5["epochs"]
        cells = np.asarray(ep["top_cells"], dtype=int)
        ids = h5.get("cell_ids")
        fig = top_cell_traces(ep["top_data"], h5["labels"], ep["times"], cells=cells,
                              cell_ids=[ids[c] for c in cells] if ids else None,
                              classes=h5.get("classes"))
        sections.append(Section("Top cells around the anchor", [
            ("figure", "top_cells", fig, ("mean ± SEM per class (left) and every trial, sorted "
                                         "by class (right), for the best cells; raster colours "
                                         "span each cell's 1st-99th percentile"))]))

    corr_blocks = []
    if "correlation" in h5:
        c = h5["correlation"]
        corr_blocks.append(("figure", "correlation_matrix",
                            correlation_matrices(c["mean_by_class"], c["order"],
                                                 classes=h5.get("classes")),
                            ("mean per-trial cell-cell correlation per class, cells in the leaf "
                            "order of a hierarchical clustering")))
    rows = data.pairs
    if rows:
        corr_blocks.append(("figure", "top_pairs", top_pairs(rows),
                            "pairs whose correlation best separates the classes"))
        corr_blocks.append(("table", "pairs.csv", list(rows[0]), rows, True))
    if corr_blocks:
        sections.append(Section("Cell-cell correlations", corr_blocks))
    return sections


def _cohort_sections(d: Path) -> tuple[dict, list[Section]]:
    meta = _read_json(d / "cohort.json") if (d / "cohort.json").is_file() else {}
    rows = read_csv_rows(d / "cohort.csv", COHORT_REQUIRED)
    learning = read_csv_rows(d / "learning.csv") if (d / "learning.csv").is_file() else []
    metric = _run_metric(meta)
    measure = "balanced_accuracy" if metric == "balanced" and rows and \
        "balanced_accuracy" in rows[0] else "accuracy"
    sections: list[Section] = []
    combos = list(dict.fromkeys((r["target"], r["analysis"], r["classifier"]) for r in rows))
    if combos:
        sec = Section("Learning curves")
        if len(combos) > MAX_LEARNING_FIGURES:
            sec.blocks.append(("text", (f"{len(combos)} target x analysis x classifier "
                                       f"combinations; the first {MAX_LEARNING_FIGURES} are "
                                       "drawn, all are in the table below.")))
        for target, analysis, clf in combos[:MAX_LEARNING_FIGURES]:
            fig = learning_curves(rows, target=target, analysis=analysis, classifier=clf,
                                  learning_rows=learning, measure=measure)
            sec.blocks.append(("figure", _safe_name(f"learning_{target}_{analysis}_{clf}"), fig,
                               (f"{target}, {analysis} / {clf}: behaviour and test "
                                f"{measure.replace('_', ' ')} (the tested statistic) "
                               "by session, mean ± SEM across animals (thin lines: animals)")))
        sections.append(sec)
        sec = Section("Significant cells by session")
        for target in dict.fromkeys(r["target"] for r in rows):
            fig = significant_cells_by_session(rows, target=target, learning_rows=learning)
            sec.blocks.append(("figure", _safe_name(f"significant_cells_{target}"), fig,
                               f"{target}: single cells with q < alpha per session"))
        sections.append(sec)
    if learning:
        lines = trend_lines(learning, scope="all")
        sections.append(Section("Trend statistics", [
            *(("text", line) for line in lines),
            ("table", "learning.csv", list(learning[0]), learning, False)]))
    tables = [("table", "cohort.csv", list(rows[0]), rows, False)] if rows else []
    failures = read_csv_rows(d / "failures.csv") if (d / "failures.csv").is_file() else []
    if failures:
        tables.append(("table", "failed sessions (failures.csv)", list(failures[0]), failures,
                       False))
    summaries = _session_summaries(d)
    if summaries:
        tables.append(("table", "session data (each session's summary.json)",
                       [c for c in summaries[0] if not c.startswith("_")], summaries, False))
    tasks = [t for t in meta.get("tasks") or [] if isinstance(t, dict)]
    if tasks:
        columns = list(dict.fromkeys(k for t in tasks for k in t))
        tables.append(("table", "tasks (cohort.json)", columns, tasks, True))
    if tables:
        sections.append(Section("Sessions", tables))
    meta = {**meta, "_cohort_rows": rows, "_failures": failures, "_sessions": summaries,
            "_learning": learning, "_metric": metric, "_measure": measure}
    return meta, sections


def _session_summaries(d: Path) -> list[dict]:
    """One row per finished session folder of a cohort (``DIR/animal/session/target``):
    the data it read (files, cells, trials per class), behaviour, device and run time."""
    rows = []
    for path in sorted(d.glob("*/*/*/summary.json")):
        if any(part.startswith(".") for part in path.relative_to(d).parts[:-1]):
            continue  # a session still being written (temporary folder)
        s = _read_json(path)
        inputs = s.get("inputs") or {}
        counts = s.get("trial_counts") or {}
        device = s.get("device") or {}
        rows.append({
            "animal": s.get("animal"), "session": s.get("session"), "day": s.get("day"),
            "target": s.get("target", path.parent.name), "traces": inputs.get("traces"),
            "events": inputs.get("events"), "cells": s.get("n_cells"),
            "trials": ";".join(f"{k}:{v}" for k, v in counts.items()),
            "percent_correct": (s.get("behaviour") or {}).get("percent_correct"),
            "device": device.get("device_name") or device.get("name"),
            "run_s": (s.get("timing_s") or {}).get("total_s"),
            "_device": device})
    return rows


@dataclass
class ReportContent:
    """Everything a report page shows, in page order: the summary (findings, warnings and a
    table as HTML), the figure sections, then the run's data and parameters."""

    kind: str
    meta: dict
    findings: list
    warnings: list
    summary_table: str
    sections: list


def read_report_content(result_dir) -> ReportContent:
    """Read a session or cohort folder into :class:`ReportContent` (figures drawn, not saved)."""
    d = Path(result_dir)
    kind = detect_folder(d)
    check_one_run(d)                  # refuse a folder mixing files of several runs
    if kind == "session":
        data = read_session(d)
        findings, warnings = session_findings(data)
        table = _best_models_table(data.models, data.metric) if data.models else ""
        return ReportContent(kind, data.summary, findings, warnings, table,
                             _figure_sections(data))
    meta, sections = _cohort_sections(d)
    findings, warnings, rows = cohort_findings(meta)
    return ReportContent(kind, meta, findings, warnings,
                         _plain_table("summary: models across sessions", rows), sections)


def build_sections(result_dir) -> tuple[str, dict, list[Section]]:
    """Read a result folder: ``(kind, summary-or-cohort.json, sections)``."""
    c = read_report_content(result_dir)
    return c.kind, c.meta, c.sections


def session_figures(result_dir) -> dict:
    """Figures of a session folder by name (each with ``fig.gpudecode_data``)."""
    d = Path(result_dir)
    if detect_folder(d) != "session":
        raise InputFileError("not a session folder (summary.json)", path=d,
                             fix="pass a 'gpudecode decode --out' folder")
    return {name: fig for sec in _session_sections(d)[1] for name, fig in sec.figures()}


def cohort_figures(result_dir) -> dict:
    """Figures of a cohort folder by name (each with ``fig.gpudecode_data``)."""
    d = Path(result_dir)
    if detect_folder(d) != "cohort":
        raise InputFileError("not a cohort folder (cohort.csv)", path=d,
                             fix="pass a 'gpudecode cohort --out' folder")
    return {name: fig for sec in _cohort_sections(d)[1] for name, fig in sec.figures()}


# ---------------------------------------------------------------- writing

def save_figure(fig, folder, name: str) -> bytes:
    """Write ``folder/name.png`` and ``.svg`` atomically; return the PNG bytes."""
    folder = Path(folder)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=PNG_DPI, metadata={"Software": None})
    png = buf.getvalue()
    # The SVG reuses the layout computed for the PNG (constrained layout is half the cost).
    fig.set_layout_engine("none")
    with atomic_path(folder / f"{name}.png") as tmp:
        tmp.write_bytes(png)
    with atomic_path(folder / f"{name}.svg") as tmp:
        fig.savefig(tmp, format="svg", metadata={"Date": None})
    return png


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em auto;
max-width:1300px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;
margin-top:1.8em}h3{font-size:1em;margin:.8em 0 .3em}
.meta{display:flex;flex-wrap:wrap;gap:1.2em}.meta>div{flex:0 1 auto}
table{border-collapse:collapse;font-size:.82em;margin:.3em 0 1em}
th,td{border:1px solid #ddd;padding:2px 7px;text-align:right;white-space:nowrap}
th{background:#f3f3f3}table.kv th{text-align:left}table.kv td{text-align:left;white-space:normal;
max-width:45em;word-break:break-word}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2"}
table.sortable th[aria-sort=descending]::after{content:" \\25BC"}
td.t{text-align:left}.row{display:flex;flex-wrap:wrap;gap:1.2em;align-items:flex-start}
figure{margin:.5em 0 1em}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555;max-width:60em}
.scroll{max-height:32em;max-width:100%;overflow:auto;display:inline-block}
summary{cursor:pointer;color:#245}p.lead{color:#444;margin:.2em 0 .6em}
#summary ul{margin:.3em 0 .8em;padding-left:1.3em}#summary li{margin:.25em 0;max-width:75em}
.warnings{background:#fff7e0;border-left:4px solid #e0a800;padding:.1em 1em;margin:.6em 0}
.warnings h3{margin:.5em 0 .2em}table.best td.t{text-align:left}p.trend{font-family:ui-monospace,monospace;font-size:.85em;
margin:.2em 0}
"""

# Captures JavaScript errors and blocked requests before any other script runs.
HEAD_SCRIPT = """window.__gpdErrors=[];window.addEventListener("error",function(e){
window.__gpdErrors.push(String(e.message||e));});
document.addEventListener("securitypolicyviolation",function(e){
window.__gpdErrors.push("blocked "+e.blockedURI);});"""

# Sortable tables, then a self-check the browser test reads back from the DOM.
BODY_SCRIPT = """(function(){
function val(td){var s=td.getAttribute("data-v");if(s===null)s=td.textContent;s=s.trim();
if(s==="")return{e:true};var x=Number(s);return isNaN(x)?{n:false,v:s.toLowerCase()}:{n:true,v:x};}
function sortBy(th){var table=th.closest("table"),tb=table.tBodies[0],i=th.cellIndex;
var dir=th.getAttribute("aria-sort")==="ascending"?-1:1;
Array.prototype.forEach.call(th.parentNode.cells,function(h){h.removeAttribute("aria-sort");});
th.setAttribute("aria-sort",dir===1?"ascending":"descending");
var rows=Array.prototype.slice.call(tb.rows);
rows.sort(function(a,b){var x=val(a.cells[i]),y=val(b.cells[i]);
if(x.e||y.e)return x.e===y.e?0:(x.e?1:-1);if(x.n!==y.n)return x.n?-1:1;
return dir*(x.v<y.v?-1:(x.v>y.v?1:0));});
rows.forEach(function(r){tb.appendChild(r);});}
window.gpdSortBy=sortBy;
document.querySelectorAll("table.sortable thead th").forEach(function(th){
th.title="click to sort";th.addEventListener("click",function(){sortBy(th);});});
window.addEventListener("load",function(){var imgs=document.images,ok=0;
for(var k=0;k<imgs.length;k++){if(imgs[k].complete&&imgs[k].naturalWidth>0)ok++;}
var root=document.documentElement;root.setAttribute("data-images-total",imgs.length);
root.setAttribute("data-images-loaded",ok);
root.setAttribute("data-js-errors",window.__gpdErrors.length);
root.setAttribute("data-js-error-text",window.__gpdErrors.join(" | "));
root.setAttribute("data-report-ready","1");});
})();"""



def csp_source(text: str) -> str:
    """The Content-Security-Policy source allowing one inline <script> or <style> element
    whose content is exactly ``text``: ``'sha256-<base64 digest of its UTF-8 bytes>'``."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


# Nothing loads from anywhere; only the report's own style and two scripts run (by hash, so an
# injected inline script does not); no form can submit and no <base> can move relative URLs.
CSP = ("default-src 'none'; img-src data:; "
       f"style-src {csp_source(STYLE)}; "
       f"script-src {csp_source(HEAD_SCRIPT)} {csp_source(BODY_SCRIPT)}; "
       "form-action 'none'; base-uri 'none'")


def _e(x) -> str:
    """Text for HTML: control characters and terminal escapes removed, markup escaped."""
    return html.escape(printable(x), quote=True)


def _show(value) -> str:
    """A CSV field for display: floats to 4 significant digits, the rest as written."""
    s = "" if value is None else str(value)
    if re.fullmatch(r"[-+]?\d+", s) or not s:
        return s
    x = to_float(s)
    return f"{x:.4g}" if math.isfinite(x) else s


# Column headers shown differently from the CSV's names: cells are named by cell_id; the
# 0-based position in the traces file is labelled as what it is.
HEADER_LABELS = {"cell": "cell index", "cell_i": "cell index i", "cell_j": "cell index j"}


def _table(title: str, columns, rows, collapsed: bool) -> str:
    head = "".join(f'<th title="{_e(c)}">{_e(HEADER_LABELS.get(c, c))}</th>' for c in columns)
    body = []
    for r in rows:
        cells = []
        for c in columns:
            raw = "" if r.get(c) is None else str(r.get(c))
            shown = _show(raw)
            cls = "" if math.isfinite(to_float(raw)) or not raw else ' class="t"'
            cells.append(f'<td{cls} data-v="{_e(raw)}">{_e(shown)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    table = (f'<div class="scroll"><table class="sortable" data-title="{_e(title)}"><thead><tr>'
             f'{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>')
    if collapsed:
        return f"<details><summary>{_e(title)} ({len(rows)} rows)</summary>{table}</details>"
    return f"<div><h3>{_e(title)}</h3>{table}</div>"


def _kv_value(v) -> str:
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else str(v)


def _kv(title: str, mapping: dict) -> str:
    if not mapping:
        return ""
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_kv_value(v))}</td></tr>"
                   for k, v in mapping.items())
    return f'<div><h3>{_e(title)}</h3><table class="kv">{rows}</table></div>'


SESSION_DATA_KEYS = ("inputs", "animal", "session", "day", "target", "n_cells", "n_frames",
                     "frame_rate_hz", "n_trials", "trial_counts", "dropped_trials", "behaviour",
                     "analyses", "files", "input_hash", "manifest_entry", "run_id",
                     "file_manifest")


def _session_header(s: dict, d: Path) -> tuple[str, str, str]:
    """The title, a one-line lead (HTML) and the collapsed data/parameters/run tables (HTML)."""
    name = " ".join(str(s[k]) for k in ("animal", "session") if s.get(k) not in (None, ""))
    d = shown_path(d)                 # drawn in a folder not yet swapped into place
    title = f"gpudecode report: {name or d.name}"
    counts = s.get("trial_counts") or {}
    data = {**{f"input: {k}": v for k, v in (s.get("inputs") or {}).items()},
            "result folder": str(d), "animal": s.get("animal"), "session": s.get("session"),
            "day": s.get("day"), "target": s.get("target"), "cells": s.get("n_cells"),
            "frames": s.get("n_frames"), "frame rate (Hz)": s.get("frame_rate_hz"),
            "trials": sum(int(v) for v in counts.values()) if counts else s.get("n_trials"),
            **{f"trials: {k}": v for k, v in counts.items()},
            **{f"dropped: {k}": v for k, v in (s.get("dropped_trials") or {}).items()},
            **{f"behaviour: {k}": v for k, v in (s.get("behaviour") or {}).items()},
            "analyses": ", ".join(map(str, s.get("analyses") or [])),
            "files written": ", ".join(map(str, s.get("files") or [])),
            "input hash": s.get("input_hash"), "run id": s.get("run_id")}
    data = {k: v for k, v in data.items() if v not in (None, "")}
    timing = s.get("timing_s") or {}
    total = timing.get("total_s")
    shown = {*SESSION_DATA_KEYS, "device", "versions", "timing_s", "argv", "command"}
    params = {k: v for k, v in s.items() if k not in shown}
    blocks = [_kv("Data", data)]
    for key, value in params.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            blocks += [_kv(f"Parameters: {key} / {k}", v) for k, v in value.items()]
        else:
            blocks.append(_kv(f"Parameters: {key}", value) if isinstance(value, dict)
                          else _kv(f"Parameters: {key}", {key: value}))
    blocks += [_kv("Device", s.get("device") or {}), _kv("Versions", s.get("versions") or {}),
               _kv("Run time (s)", timing)]
    if s.get("argv"):
        blocks.append(_kv("Command", {"command": s.get("command", ""),
                                      "argv": " ".join(map(str, s["argv"]))}))
    device = s.get("device") or {}
    lead = (f"{s.get('n_cells', '?')} cells, "
            + ", ".join(f"{k}: {v}" for k, v in counts.items())
            + (f" trials; run took {float(total):.1f} s" if total is not None else " trials")
            + (f" on {device.get('device_name') or device.get('name')}" if device else ""))
    return title, f'<p class="lead">{_e(lead)}</p>', f'<div class="meta">{"".join(blocks)}</div>'


def _span(values) -> str | None:
    """``"a"`` or ``"a-b"`` for the finite numbers among ``values``; None when there are none."""
    x = [to_float(v) for v in values]
    x = [v for v in x if math.isfinite(v)]
    if not x:
        return None
    lo, hi = min(x), max(x)
    return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"


def _sessions_device(sessions: list[dict]) -> dict:
    """The device the session folders report (cohort.json does not always say)."""
    devices = [s["_device"] for s in sessions if s["_device"]]
    if not devices:
        return {}
    if len({json.dumps(x, sort_keys=True) for x in devices}) == 1:
        return {**devices[0], "from": "the session folders"}
    names = dict.fromkeys(str(x.get("device_name") or x.get("name")) for x in devices)
    return {"device_name": ", ".join(names), "from": "the session folders"}


COHORT_RUN_KEYS = ("command", "manifest", "n_sessions", "targets", "scheduler", "n_workers",
                   "n_tasks", "n_done", "n_skipped", "n_failed")


def _cohort_header(meta: dict, d: Path) -> tuple[str, str, str]:
    """The title, a one-line lead (HTML) and the collapsed data/parameters/run tables (HTML)."""
    rows, failures, sessions = meta["_cohort_rows"], meta["_failures"], meta["_sessions"]
    animals = sorted({r["animal"] for r in rows})
    decoded = sorted({(r["animal"], r["session"]) for r in rows})
    data = {"result folder": str(d), "manifest": meta.get("manifest"), "animals": len(animals),
            "animal ids": ", ".join(animals), "sessions decoded": len(decoded),
            "failed sessions": len(failures),
            "targets": ", ".join(dict.fromkeys(r["target"] for r in rows)),
            "analyses": ", ".join(dict.fromkeys(r["analysis"] for r in rows)),
            "classifiers": ", ".join(dict.fromkeys(r["classifier"] for r in rows)),
            "cells per session": _span(s["cells"] for s in sessions),
            "trials per session": _span(sum(to_float(n.rpartition(":")[2])
                                            for n in s["trials"].split(";") if n)
                                        for s in sessions)}
    data = {k: v for k, v in data.items() if v not in (None, "")}
    info = {k: v for k, v in meta.items() if not k.startswith("_")}
    run = {k: info[k] for k in COHORT_RUN_KEYS if k in info and k != "manifest"}
    blocks = [_kv("Data", data), _kv("Parameters", info.get("config") or {}), _kv("Run", run)]
    for key, value in info.items():
        if key in (*COHORT_RUN_KEYS, "config", "tasks", "versions", "device", "seconds",
                   "argv", "run_id", "file_manifest", "session_runs"):
            continue
        blocks.append(_kv(f"Parameters: {key}", value) if isinstance(value, dict)
                      else _kv(f"Parameters: {key}", {key: value}))
    device = info.get("device")
    if not isinstance(device, dict) or not device:
        device = _sessions_device(sessions)
    total = info.get("seconds")
    blocks += [_kv("Device", device), _kv("Versions", info.get("versions") or {}),
               _kv("Run time (s)", {"total_s": total} if total is not None else {})]
    if info.get("argv"):
        blocks.append(_kv("Command", {"command": info.get("command", ""),
                                      "argv": " ".join(map(str, info["argv"]))}))
    device_name = device.get("device_name") or device.get("name")
    lead = (f"{len(animals)} animals, {len(decoded)} sessions, {len(failures)} failed"
            + (f"; run took {float(total):.1f} s" if total is not None else "")
            + (f" on {device_name}" if device_name else ""))
    return (f"gpudecode cohort report: {d.name}", f'<p class="lead">{_e(lead)}</p>',
            f'<div class="meta">{"".join(blocks)}</div>')


# ---------------------------------------------------------------- findings (the summary)

SUMMARY_MODELS = 5
SUMMARY_CELLS = 10
ONSET_RUN = 2


def _fmt(x, spec: str = ".3f") -> str:
    v = to_float(x)
    return format(v, spec) if math.isfinite(v) else "–"


def _fmt_p(x) -> str:
    v = to_float(x)
    return f"{v:.3g}" if math.isfinite(v) else "–"


def _significant(r) -> bool:
    return str(r.get("significant", "")).strip().lower() in ("true", "1", "yes")


def smallest_q(n_units: int, n_permutations: int) -> float:
    """The smallest BH q one unit can get: its p at the floor 1/(P+1), every other p = 1.

    With ``k`` units at that floor each gets ``n_units / (k (P + 1))``; a lone strong unit
    (k = 1) gets ``n_units / (P + 1)``.
    """
    if n_permutations <= 0 or n_units <= 0:
        return math.nan
    return min(1.0, n_units / (n_permutations + 1))


def permutations_needed(n_units: int, alpha: float) -> int:
    """The fewest permutations with which one unit at the smallest p reaches BH q < alpha
    among ``n_units`` (``n_units / (P + 1) < alpha``)."""
    p = max(math.floor(n_units / alpha) - 1, 0)
    while n_units / (p + 1) >= alpha:
        p += 1
    return p


def timecourse_onsets(rows: list[dict], run: int = ONSET_RUN) -> dict:
    """Per classifier: the centre time of the first window of the first ``run`` consecutive
    significant windows of ``timecourse.csv`` (None when there is no such stretch)."""
    by_clf: dict[str, list] = {}
    for r in rows:
        by_clf.setdefault(str(r.get("classifier")), []).append(r)
    out = {}
    for clf, rr in by_clf.items():
        rr = sorted(rr, key=lambda r: to_float(r.get("time")))
        out[clf], count = None, 0
        for k, r in enumerate(rr):
            count = count + 1 if _significant(r) else 0
            if count >= run:
                out[clf] = to_float(rr[k - run + 1].get("time"))
                break
    return out


def _best_models_table(rows: list[dict], metric: str) -> str:
    tested = metric_label(metric)
    column, spread = (("balanced_accuracy", "balanced_std") if metric == "balanced"
                       else ("test_accuracy", "test_std"))
    head = ("<tr><th>rank</th><th>model</th><th>best unit</th>"
            f"<th>test {_e(tested)} ± SD</th><th>null mean / 95th pct</th><th>p</th><th>q</th>"
            "<th>significant</th></tr>")
    body = []
    for r in sorted(rows, key=lambda r: to_float(r.get("rank")))[:SUMMARY_MODELS]:
        body.append(
            f"<tr><td>{_e(r.get('rank'))}</td>"
            f"<td class=\"t\">{_e(r.get('analysis'))} / {_e(r.get('classifier'))}</td>"
            f"<td class=\"t\">{_e(r.get('unit') or '')}</td>"
            f"<td>{_fmt(r.get(column))} ± {_fmt(r.get(spread))}</td>"
            f"<td>{_fmt(r.get('null_mean'))} / {_fmt(r.get('null_p95'))}</td>"
            f"<td>{_fmt_p(r.get('p_value'))}</td><td>{_fmt_p(r.get('q_value'))}</td>"
            f"<td class=\"t\">{'yes' if _significant(r) else 'no'}</td></tr>")
    return (f'<table class="best" data-title="summary: best models"><thead>{head}</thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def session_findings(data: SessionData) -> tuple[list[str], list[str]]:
    """The report's opening: what decodes and how well, and what to watch out for.

    Returns
    -------
    (findings, warnings) : two lists of plain-text sentences.
    """
    s, metric = data.summary, data.metric
    config = s.get("config") if isinstance(s.get("config"), dict) else {}
    tested = metric_label(metric)
    alpha = to_float(config.get("alpha", 0.05))
    n_perm = int(to_float(config.get("permutations", 0)) or 0)
    n_shuffles = config.get("shuffles")
    findings, warnings = [], []
    findings.append(
        f"Statistic: test {tested}, mean over {n_shuffles or '?'} shuffles; p-values from "
        f"{n_perm} label permutations; q = Benjamini-Hochberg; significant: q < {alpha:g}.")
    models = data.models
    if models:
        best = min(models, key=lambda r: to_float(r.get("rank")))
        column = _metric_column(metric)
        sig = [r for r in models if _significant(r)]
        unit = f" ({best['unit']})" if best.get("unit") else ""
        findings.append(
            f"Best model: {best.get('analysis')} / {best.get('classifier')}{unit}, test {tested} "
            f"{_fmt(best.get(column))} against a null mean of {_fmt(best.get('null_mean'))} "
            f"(p = {_fmt_p(best.get('p_value'))}, q = {_fmt_p(best.get('q_value'))}"
            f"{', significant' if _significant(best) else ', not significant'}). "
            f"{len(sig)} of {len(models)} models significant (BH across models).")
        if n_perm and len(models) / (n_perm + 1) >= alpha:
            warnings.append(
                f"With {n_perm} permutations the smallest p is {1 / (n_perm + 1):.3g}; after BH "
                f"across {len(models)} models a lone model at that p gets q = "
                f"{smallest_q(len(models), n_perm):.3g} ≥ {alpha:g}. Use at least "
                f"{permutations_needed(len(models), alpha)} permutations.")
    cells = data.cells
    if cells:
        n_cells = len({r["cell"] for r in cells})
        for clf in dict.fromkeys(r["classifier"] for r in cells):
            rr = [r for r in cells if r["classifier"] == clf]
            sig = [r for r in _top_cells(rr, len(rr), metric) if _significant(r)]
            names = ", ".join(str(r["cell_id"]) for r in sig[:SUMMARY_CELLS])
            more = f" and {len(sig) - SUMMARY_CELLS} more" if len(sig) > SUMMARY_CELLS else ""
            findings.append(f"Single cells, {clf}: {len(sig)} of {len(rr)} cells significant"
                            + (f" (best first: {names}{more})." if sig else "."))
        if n_perm and smallest_q(n_cells, n_perm) >= alpha:
            # k cells at the smallest p each get q = n / (k (P + 1)): q < alpha needs k > need.
            need = next((k for k in range(1, n_cells + 1)
                         if n_cells / (k * (n_perm + 1)) < alpha), None)
            reach = (f"a cell is significant only when at least {need} cells reach that p"
                     if need else f"no cell can reach q < {alpha:g}")
            warnings.append(
                f"With {n_perm} permutations and {n_cells} cells a lone cell at the smallest p "
                f"({1 / (n_perm + 1):.3g}) gets q = {smallest_q(n_cells, n_perm):.3g} ≥ "
                f"{alpha:g}: {reach}. {permutations_needed(n_cells, alpha)} permutations let a "
                f"single cell reach q < {alpha:g}.")
    if data.timecourse:
        ranked = {r.get("classifier"): r for r in models if r.get("analysis") == "time-resolved"}
        for clf, onset in timecourse_onsets(data.timecourse).items():
            if onset is not None:
                findings.append(f"Time-resolved, {clf}: decodes from {onset:+.2f} s (centre of "
                                f"the first of {ONSET_RUN} consecutive windows with q < "
                                f"{alpha:g}).")
                continue
            rr = [r for r in data.timecourse if r.get("classifier") == clf]
            n_sig = sum(_significant(r) for r in rr)
            text = (f"Time-resolved, {clf}: {n_sig} of {len(rr)} windows significant (per-window "
                    f"p, BH across windows), no {ONSET_RUN} consecutive.")
            if clf in ranked and _significant(ranked[clf]):
                text += (" The ranking marks its best window significant by another test: that "
                         "window against the best window of each permutation (a max-statistic "
                         "over windows), then BH across models; the two tests can disagree near "
                         "the threshold, and a single window is not a stretch.")
            findings.append(text)
    warnings += [str(w) for w in s.get("warnings") or [] if isinstance(s.get("warnings"), list)]
    if not n_perm:
        warnings.append("No permutations were run (--permutations 0): there are no p-values "
                        "and nothing can be significant.")
    dropped = {k: v for k, v in (s.get("dropped_trials") or {}).items() if to_float(v) > 0}
    if dropped:
        warnings.append(f"{int(sum(to_float(v) for v in dropped.values()))} trials dropped ("
                        + ", ".join(f"{k}: {v}" for k, v in dropped.items()) + ").")
    counts = {k: to_float(v) for k, v in (s.get("trial_counts") or {}).items()}
    if len(counts) > 1 and min(counts.values()) < 0.5 * max(counts.values()):
        share = max(counts.values()) / sum(counts.values())
        if metric == "balanced":
            findings.append(f"Classes are imbalanced (largest {share:.0%} of trials): balanced "
                            "accuracy's chance level is 1 / classes whatever the imbalance.")
        else:
            warnings.append(f"Classes are imbalanced (largest {share:.0%} of trials) and the "
                            f"tested statistic is plain accuracy: always guessing that class "
                            f"scores {share:.2f}. Consider --metric balanced.")
    return findings, warnings


def cohort_findings(meta: dict) -> tuple[list[str], list[str], list[dict]]:
    """A cohort's opening: per target x analysis x classifier, the tested statistic across
    sessions and its trend; failures.

    Returns
    -------
    (findings, warnings, rows) : sentences, sentences and one summary-table row per model.
    """
    rows, failures, learning = meta["_cohort_rows"], meta["_failures"], meta["_learning"]
    measure, metric = meta["_measure"], meta["_metric"]
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    alpha = to_float(config.get("alpha", 0.05))
    findings = [(f"Statistic: test {measure.replace('_', ' ')} per session (the run's --metric "
                 f"is {metric_label(metric)}); trends: slope across sessions and its p-value "
                 "(learning.csv).")]
    warnings = []
    table = []
    for target, analysis, clf in dict.fromkeys((r["target"], r["analysis"], r["classifier"])
                                               for r in rows):
        rr = [r for r in rows if (r["target"], r["analysis"], r["classifier"])
              == (target, analysis, clf)]
        values = np.array([to_float(r.get(measure)) for r in rr])
        values = values[np.isfinite(values)]
        pv = np.array([to_float(r.get("p_value")) for r in rr])
        trend = next((t for t in learning if (t.get("scope"), t.get("target"), t.get("analysis"),
                                              t.get("classifier"), t.get("measure"))
                      == ("all", target, analysis, clf, measure)), None)
        table.append({
            "target": target, "model": f"{analysis} / {clf}", "sessions": len(rr),
            f"mean {measure}": _fmt(values.mean()) if values.size else "–",
            "range": (f"{values.min():.3f}-{values.max():.3f}" if values.size else "–"),
            f"sessions p < {alpha:g}": int(np.sum(pv < alpha)),
            "slope per session": _fmt(trend.get("slope"), "+.3g") if trend else "–",
            "slope p": _fmt_p(trend.get("p_value")) if trend else "–"})
    if failures:
        listed = "; ".join(f"{f.get('animal')}/{f.get('session')}/{f.get('target')}: "
                           f"{f.get('error_type') or ''} {f.get('error', '')}".strip()
                           for f in failures[:3])
        more = f" and {len(failures) - 3} more" if len(failures) > 3 else ""
        warnings.append(f"{len(failures)} session(s) failed and are not in the tables: "
                        f"{listed}{more} (failures.csv).")
    return findings, warnings, table


def _summary_html(findings: list[str], warnings: list[str], extra: str = "") -> str:
    items = "".join(f"<li>{_e(t)}</li>" for t in findings)
    warn = ("<div class=\"warnings\"><h3>Warnings</h3><ul>"
            + "".join(f"<li>{_e(t)}</li>" for t in warnings) + "</ul></div>") if warnings else ""
    return (f'<section id="summary"><h2>Summary</h2><ul class="findings">{items}</ul>'
            f"{extra}{warn}</section>")


def _plain_table(title: str, rows: list[dict]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{_e(c)}</th>" for c in rows[0])
    text = ' class="t"'
    body = "".join("<tr>" + "".join(
        f'<td{"" if math.isfinite(to_float(v)) else text}>{_e(v)}</td>'
        for v in r.values()) + "</tr>" for r in rows)
    return (f'<table class="best" data-title="{_e(title)}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")


def _block_html(block, fig_dir: Path, written: list) -> str:
    kind = block[0]
    if kind == "row":
        return '<div class="row">' + "".join(_block_html(b, fig_dir, written)
                                             for b in block[1]) + "</div>"
    if kind == "text":
        return f'<p class="trend">{_e(block[1])}</p>'
    if kind == "table":
        _, title, columns, rows, collapsed = block
        return _table(title, columns, rows, collapsed)
    _, name, fig, caption = block
    png = save_figure(fig, fig_dir, name)
    written.append(name)
    b64 = base64.b64encode(png).decode("ascii")
    return (f'<figure id="fig-{_e(name)}"><img alt="{_e(name)}" '
            f'src="data:image/png;base64,{b64}"><figcaption>{_e(caption)} '
            f'(figures/{_e(name)}.png, .svg)</figcaption></figure>')


def write_report(result_dir, out=None) -> Path:
    """Write the figures and the self-contained HTML report of a result folder.

    Parameters
    ----------
    result_dir : path
        A session folder (``summary.json``; written by ``gpudecode decode --out``) or a cohort
        folder (``cohort.csv``; written by ``gpudecode cohort --out``).
    out : path, optional
        The HTML file (default ``result_dir/report.html``).

    Returns
    -------
    Path
        The HTML file. Figures are written to ``result_dir/figures/<name>.png`` and ``.svg``;
        every figure whose inputs are in the folder is drawn, the others are skipped.
    """
    return render_report(result_dir, out)[0]


def render_report(result_dir, out=None) -> tuple[Path, dict]:
    """:func:`write_report`, also returning the figures drawn, by name.

    Returns
    -------
    (Path, dict of str -> Figure)
        The HTML file and the figures embedded in it (each with ``fig.gpudecode_data``).
    """
    d = Path(result_dir)
    content = read_report_content(d)
    sections = content.sections
    out = Path(out) if out is not None else d / "report.html"
    title, lead, details = (_cohort_header if content.kind == "cohort"
                            else _session_header)(content.meta, d)
    fig_dir = d / "figures"
    written: list[str] = []
    parts = [_summary_html(content.findings, content.warnings, content.summary_table)]
    for sec in sections:
        inner = "".join(_block_html(b, fig_dir, written) for b in sec.blocks)
        parts.append(f'<section class="figures"><h2>{_e(sec.title)}</h2>{inner}</section>')
    if not sections:
        parts.append("<p>No results with figures in this folder.</p>")
    parts.append('<section id="parameters"><h2>Data, parameters and run</h2><details>'
                 "<summary>input files, trial counts, every parameter, device, versions, run "
                 f"time and command</summary>{details}</details></section>")
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<meta name=\"generator\" content=\"gpudecode\"><title>{_e(title)}</title>"
        f"<style>{STYLE}</style><script>{HEAD_SCRIPT}</script></head>\n<body>"
        f"<header><h1>{_e(title)}</h1>{lead}</header>\n<main>{''.join(parts)}</main>"
        f"\n<script>{BODY_SCRIPT}</script></body></html>\n")
    atomic_write_text(out, page)
    return out, {name: fig for sec in sections for name, fig in sec.figures()}

"""Figures of a decoding report, one function per figure.

Every function takes plain arrays or lists of row dicts (as read from the result CSVs, values
may still be strings) and returns a :class:`matplotlib.figure.Figure` drawn with the Agg
canvas; pyplot is never used, so no global figure state leaks. The numbers each figure plots
are kept on it as ``fig.gpudecode_data`` (a dict), so tests and callers can check a figure
against the table it came from.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .text import literal

__all__ = [
    "METRIC_LABELS",
    "accuracy_histograms",
    "cell_name",
    "chance_band",
    "correlation_matrices",
    "generalization_matrix",
    "learning_curves",
    "metric_label",
    "model_ranking",
    "significant_cells_by_session",
    "significant_stretches",
    "time_resolved",
    "to_bool",
    "to_float",
    "top_cell_traces",
    "top_pairs",
    "trend_lines",
]

CHANCE_COLOR = "0.82"
# Axis names of the statistics a run tests (``--metric``), by the names summary.json uses.
METRIC_LABELS = {"accuracy": "accuracy", "balanced": "balanced accuracy"}
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
          "#17becf", "#7f7f7f", "#bcbd22")


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_float(value) -> float:
    """A CSV field as float: empty, ``None`` or unparsable text becomes NaN."""
    if value is None:
        return math.nan
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def to_bool(value) -> bool:
    """A CSV field as bool (``True``/``true``/``1``/``yes``; anything else is False)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return bool(value) and not (isinstance(value, float) and math.isnan(value))
    return str(value).strip().lower() in ("true", "1", "yes", "y", "t")


def _floats(rows, key) -> np.ndarray:
    return np.array([to_float(r.get(key)) for r in rows], dtype=float)


def chance_band(null, low: float = 2.5, high: float = 97.5) -> tuple[float, float] | None:
    """Percentile band of a pooled permutation null.

    Parameters
    ----------
    null : array_like, any shape (e.g. cells x permutations)
        Null accuracies; pooled over every axis, non-finite values ignored.

    Returns
    -------
    (low, high) or None when the null is empty.
    """
    x = np.asarray(null, dtype=float).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return None
    lo, hi = np.percentile(x, [low, high])
    return float(lo), float(hi)


def significant_stretches(times, significant) -> list[tuple[float, float]]:
    """Contiguous runs of significant windows as ``(first_time, last_time)`` pairs.

    Parameters
    ----------
    times : array_like, shape (windows,)
        Window centres in increasing order.
    significant : array_like of bool, shape (windows,)
    """
    t = np.asarray(times, dtype=float)
    s = np.asarray(significant, dtype=bool)
    out, start = [], None
    for i, flag in enumerate(s):
        if flag and start is None:
            start = i
        if start is not None and (not flag or i == len(s) - 1):
            stop = i if flag else i - 1
            out.append((float(t[start]), float(t[stop])))
            start = None
    return out


# ---------------------------------------------------------------- single cells

def metric_label(metric) -> str:
    """The axis name of a tested statistic: ``"balanced accuracy"`` or ``"accuracy"``."""
    return METRIC_LABELS.get(str(metric), str(metric))


def _legend_outside(fig: Figure, ax, ncols: int = 3, where: str = "lower center") -> None:
    """The legend of ``ax``'s labelled artists outside every axes (``where``: "lower center",
    "upper center" or "right upper"), so it never hides data."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc=f"outside {where}", ncols=min(ncols, len(handles)),
                   fontsize=7, frameon=False)


def accuracy_histograms(test_accuracy, cv_accuracy, null_accuracy=None, *, classifier: str = "",
                        threshold: float | None = None, bins: int = 20,
                        metric: str = "accuracy") -> Figure:
    """Histograms of the per-cell tested statistic and CV accuracy, with the chance band.

    Parameters
    ----------
    test_accuracy : array_like, shape (cells,)
        Per-cell mean over shuffles of the tested statistic on the test parts
        (``cells.csv``'s ``balanced_accuracy`` for ``metric="balanced"``, ``test_accuracy``
        for ``metric="accuracy"``).
    cv_accuracy : array_like, shape (cells,)
        Per-cell inner-CV accuracy (plain accuracy; ``cells.csv``'s ``cv_accuracy``).
    null_accuracy : array_like, shape (cells, permutations), optional
        Per-cell null of the tested statistic; pooled, its 2.5-97.5 percentiles are drawn as
        the chance band of the test panel (and of the CV panel when the metric is plain
        accuracy, the statistic CV reports).
    classifier : str
        Shown in the title.
    threshold : float, optional
        The per-shuffle test-accuracy threshold of ``n_above_threshold``, drawn as a dashed
        line where the panel shows plain accuracy.
    bins : int
        Equal-width bins over [0, 1].
    metric : {"accuracy", "balanced"}
        The statistic the cells were tested on; it names the test panel's axis.
    """
    test = np.asarray(test_accuracy, dtype=float)
    cv = np.asarray(cv_accuracy, dtype=float)
    band = None if null_accuracy is None else chance_band(null_accuracy)
    tested = metric_label(metric)
    edges = np.linspace(0.0, 1.0, bins + 1)
    fig = _figure(8.0, 3.3)
    axes = fig.subplots(1, 2, sharey=True)
    counts = {}
    panels = ((axes[0], test, "test", COLORS[0], tested, f"test {tested}, tested"),
              (axes[1], cv, "CV", COLORS[2], "accuracy",
               "inner-CV accuracy" + ("" if metric == "accuracy" else ", not tested")))
    for ax, values, name, color, statistic, title in panels:
        finite = values[np.isfinite(values)]
        counts[name], _ = np.histogram(finite, bins=edges)
        if band is not None and statistic == tested:
            ax.axvspan(band[0], band[1], color=CHANCE_COLOR, zorder=0,
                       label=f"chance: null of {tested}, 2.5-97.5%")
        ax.hist(finite, bins=edges, color=color, edgecolor="white", zorder=2)
        if threshold is not None and statistic == "accuracy" and name == "test":
            ax.axvline(threshold, color="0.3", ls="--", lw=1,
                       label=f"threshold {threshold:g} (per-shuffle accuracy)")
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"{name} {statistic} (mean over shuffles)")
        ax.set_title(literal(f"{classifier}: {title}, {finite.size} cells"), fontsize=9)
    axes[0].set_ylabel("cells")
    _legend_outside(fig, axes[0])
    if band is None:
        fig.suptitle("no permutations: chance band not measured", fontsize=8, color="0.4")
    fig.gpudecode_data = {"classifier": classifier, "metric": metric, "test_accuracy": test,
                          "cv_accuracy": cv, "chance_band": band, "bin_edges": edges,
                          "test_counts": counts["test"], "cv_counts": counts["CV"],
                          "threshold": threshold, "xlabel": axes[0].get_xlabel()}
    return fig


def cell_name(index, cell_id=None) -> str:
    """How a figure names a cell: its id from the input file; the 0-based index, labelled,
    only when there is no id."""
    return f"cell {cell_id}" if cell_id is not None else f"cell index {int(index)}"


def top_cell_traces(data, labels, times, *, cells=None, cell_ids=None, classes=None,
                    max_cells: int = 4) -> Figure:
    """Mean trace ± SEM per class and a trials x frames raster sorted by class, per top cell.

    Parameters
    ----------
    data : array_like, shape (trials, top cells, frames)
        Traces of the top cells around the anchor.
    labels : array_like of str, shape (trials,)
    times : array_like, shape (frames,)
        Seconds relative to the anchor.
    cells : array_like of int, shape (top cells,), optional
        Cell indices (0-based), named only where ``cell_ids`` is missing.
    cell_ids : array_like of str, shape (top cells,), optional
        The cells' ids, which name them in the titles.
    classes : sequence of str, optional
        Class order (default: sorted unique labels).
    max_cells : int
        Draw at most this many top cells (one row each).

    Notes
    -----
    Each raster's colour scale spans the 1st to 99th percentile of its values, so one
    outlying frame does not wash out the rest.
    """
    x = np.asarray(data, dtype=float)
    labels = np.asarray([str(v) for v in labels])
    t = np.asarray(times, dtype=float)
    classes = [str(c) for c in (classes if classes is not None else np.unique(labels))]
    n = min(x.shape[1], max_cells)
    cells = np.arange(x.shape[1]) if cells is None else np.asarray(cells)
    order = np.concatenate([np.flatnonzero(labels == c) for c in classes]).astype(int)
    bounds = np.cumsum([int((labels == c).sum()) for c in classes])
    mean = np.full((n, len(classes), t.size), np.nan)
    sem = np.full_like(mean, np.nan)
    limits = np.full((n, 2), np.nan)
    names = [cell_name(cells[i], None if cell_ids is None else cell_ids[i]) for i in range(n)]
    fig = _figure(9.0, 2.3 * max(n, 1) + 0.4)
    axes = fig.subplots(max(n, 1), 2, squeeze=False, width_ratios=[1, 1.3])
    for i in range(n):
        name = literal(names[i])
        ax = axes[i, 0]
        for k, c in enumerate(classes):
            rows = x[labels == c, i, :]
            if rows.shape[0] == 0:
                continue
            mean[i, k] = rows.mean(axis=0)
            if rows.shape[0] > 1:
                sem[i, k] = rows.std(axis=0, ddof=1) / np.sqrt(rows.shape[0])
            color = COLORS[k % len(COLORS)]
            ax.plot(t, mean[i, k], color=color, lw=1.5,
                    label=literal(f"{c} (n={rows.shape[0]})"))
            ax.fill_between(t, mean[i, k] - sem[i, k], mean[i, k] + sem[i, k], color=color,
                            alpha=0.25, lw=0)
        ax.axvline(0, color="0.4", lw=0.8)
        ax.set_title(f"{name}: mean ± SEM", fontsize=9)
        ax.set_ylabel("activity")
        ax = axes[i, 1]
        img = x[order, i, :]
        finite = img[np.isfinite(img)]
        lo, hi = (np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0))
        hi = hi if hi > lo else lo + 1
        limits[i] = lo, hi
        dt = (t[1] - t[0]) / 2 if t.size > 1 else 0.5
        im = ax.imshow(img, aspect="auto", interpolation="nearest", cmap="magma", vmin=lo,
                       vmax=hi, extent=(t[0] - dt, t[-1] + dt, len(order) - 0.5, -0.5))
        for b in bounds[:-1]:
            ax.axhline(b - 0.5, color="white", lw=1)
        ax.axvline(0, color="white", lw=0.8, ls=":")
        ax.set_yticks([(a + b) / 2 - 0.5 for a, b in zip(np.r_[0, bounds[:-1]], bounds)],
                      [literal(c) for c in classes], fontsize=7)
        ax.set_title(f"{name}: trials x frames, sorted by class", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.05, extend="both",
                     label="activity (1-99th pct)")
    for ax in axes[-1]:
        ax.set_xlabel("time from anchor (s)")
    if n:
        _legend_outside(fig, axes[0, 0], ncols=len(classes), where="upper center")
    fig.gpudecode_data = {"times": t, "classes": classes, "cells": cells[:n], "names": names,
                          "mean": mean, "sem": sem, "order": order, "class_bounds": bounds,
                          "color_limits": limits}
    return fig


# ---------------------------------------------------------------- correlations

def correlation_matrices(mean_by_class, order, *, classes=None, max_panels: int = 4) -> Figure:
    """Mean per-trial cell-cell correlation per class, cells ordered by clustering.

    Parameters
    ----------
    mean_by_class : array_like, shape (classes, cells, cells)
    order : array_like of int, shape (cells,)
        Leaf order of the cells.
    classes : sequence of str, optional
        Panel titles. With two classes a third panel shows the difference (second - first).
    """
    m = np.asarray(mean_by_class, dtype=float)
    order = np.asarray(order, dtype=int)
    classes = [str(c) for c in (classes if classes is not None else range(m.shape[0]))]
    panels = [m[k][np.ix_(order, order)] for k in range(min(m.shape[0], max_panels))]
    titles = [f"{c}" for c in classes[:len(panels)]]
    if m.shape[0] == 2:
        panels.append(panels[1] - panels[0])
        titles.append(f"{classes[1]} - {classes[0]}")
    fig = _figure(3.4 * len(panels) + 0.6, 3.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, p, title in zip(axes, panels, titles):
        lim = 1.0 if " - " not in title else max(float(np.nanmax(np.abs(p))), 1e-6)
        im = ax.imshow(p, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(literal(title), fontsize=9)
        ax.set_xlabel("cell (clustered order)")
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046, shrink=0.8)
    fig.gpudecode_data = {"ordered": np.stack(panels), "order": order, "titles": titles}
    return fig


def top_pairs(rows, *, n: int = 20) -> Figure:
    """The top discriminative cell pairs (``pairs.csv``) as bars of correlation difference.

    Parameters
    ----------
    rows : list of dict
        ``pairs.csv`` rows: rank, cell_i, cell_j, cell_id_i, cell_id_j, selection_frequency,
        mean_f_score, corr_difference, class_high.
    n : int
        Pairs shown, by rank.
    """
    rows = sorted(rows, key=lambda r: to_float(r.get("rank")))[:n]
    labels = [f"{r.get('cell_id_i', r.get('cell_i'))} - {r.get('cell_id_j', r.get('cell_j'))}"
              for r in rows]
    diff = _floats(rows, "corr_difference")
    freq = _floats(rows, "selection_frequency")
    high = [str(r.get("class_high", "")) for r in rows]
    kinds = sorted(set(high))
    fig = _figure(6.5, 0.28 * max(len(rows), 4) + 1.2)
    ax = fig.subplots()
    y = np.arange(len(rows))
    colors = [COLORS[kinds.index(h) % len(COLORS)] for h in high]
    ax.barh(y, diff, color=colors)
    for yi, d, f in zip(y, diff, freq):
        if np.isfinite(f):
            ax.text(d, yi, f" {f:.2f}", va="center", ha="left" if d >= 0 else "right",
                    fontsize=7)
    ax.set_yticks(y, [literal(v) for v in labels], fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_xlabel("correlation difference between classes (label: selection frequency)")
    ax.set_title(f"top {len(rows)} discriminative cell pairs", fontsize=10)
    for k, kind in enumerate(kinds):
        ax.bar(0, 0, color=COLORS[k % len(COLORS)], label=literal(f"higher in {kind}"))
    _legend_outside(fig, ax, ncols=len(kinds))
    fig.gpudecode_data = {"labels": labels, "corr_difference": diff,
                          "selection_frequency": freq, "class_high": high,
                          "rank": [r.get("rank") for r in rows]}
    return fig


# ---------------------------------------------------------------- models

def model_ranking(rows) -> Figure:
    """Model ranking (``models.csv``): bars ± test_std, chance band, significance marks.

    Parameters
    ----------
    rows : list of dict
        ``models.csv`` rows: analysis, classifier, test_accuracy, test_std, null_mean,
        null_p95, significant, rank (and optionally unit, e.g. the best cell, shown under the
        label). Rows with ``metric = balanced`` are drawn as balanced_accuracy ±
        balanced_std, the statistic their null band describes. Drawn best (rank 1) at the top; each bar's chance band spans
        null_mean..null_p95; ``*`` marks significant models.
    """
    rows = sorted(rows, key=lambda r: (to_float(r.get("rank")), -to_float(r.get("test_accuracy"))))
    labels = [f"{r.get('analysis')} / {r.get('classifier')}"
              + (f"\n{r['unit']}" if r.get("unit") else "") for r in rows]
    # Bars show the metric the models were ranked and tested on, the one the null band is of.
    balanced = bool(rows) and str(rows[0].get("metric", "accuracy")) == "balanced"
    height = _floats(rows, "balanced_accuracy" if balanced else "test_accuracy")
    err = _floats(rows, "balanced_std" if balanced else "test_std")
    null_mean = _floats(rows, "null_mean")
    null_p95 = _floats(rows, "null_p95")
    sig = np.array([to_bool(r.get("significant")) for r in rows], dtype=bool)
    analyses = sorted({str(r.get("analysis")) for r in rows})
    fig = _figure(7.0, 0.42 * max(len(rows), 3) + 1.2)
    ax = fig.subplots()
    y = np.arange(len(rows))
    for yi, lo, hi in zip(y, null_mean, null_p95):
        if np.isfinite(lo) and np.isfinite(hi):
            ax.fill_betweenx([yi - 0.42, yi + 0.42], lo, hi, color="0.45", alpha=0.35,
                             zorder=3, lw=0)
    colors = [COLORS[analyses.index(str(r.get("analysis"))) % len(COLORS)] for r in rows]
    ax.barh(y, height, xerr=np.where(np.isfinite(err), err, 0), color=colors, alpha=0.85,
            height=0.6, error_kw={"ecolor": "0.2", "capsize": 3, "lw": 1, "zorder": 4},
            zorder=2)
    for yi, h, e, s in zip(y, height, err, sig):
        if s:
            ax.text(h + (e if np.isfinite(e) else 0) + 0.01, yi, "*", va="center",
                    fontsize=13, fontweight="bold", zorder=3)
    ax.set_yticks(y, [literal(v) for v in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.08)
    metric = "balanced" if balanced else "accuracy"
    ax.set_xlabel(f"test {metric_label(metric)}, mean ± SD over shuffles (tested)\n"
                  "grey: its null, mean to 95th pct; * significant (BH q < alpha)", fontsize=9)
    ax.set_title("model ranking", fontsize=10)
    fig.gpudecode_data = {"metric": metric, "xlabel": ax.get_xlabel(),
                          "labels": labels, "analysis": [r.get("analysis") for r in rows],
                          "classifier": [r.get("classifier") for r in rows], "heights": height,
                          "errors": err, "null_mean": null_mean, "null_p95": null_p95,
                          "significant": sig}
    return fig


def time_resolved(rows) -> Figure:
    """The tested statistic per window (``timecourse.csv``) with its chance band and the
    significant stretches.

    Parameters
    ----------
    rows : list of dict
        ``timecourse.csv`` rows: time, classifier, accuracy, balanced_accuracy, null_mean,
        null_p95, significant, metric. The curve is the column of the tested statistic
        (``balanced_accuracy`` when ``metric`` is "balanced", else ``accuracy``), the one
        ``null_mean``..``null_p95`` (the band) and the p-values describe. One line per
        classifier; a thick bar under the curves marks each run of significant windows
        (per-window BH q < alpha).
    """
    by_clf: dict[str, list] = defaultdict(list)
    for r in rows:
        by_clf[str(r.get("classifier"))].append(r)
    metric = "balanced" if rows and str(rows[0].get("metric")) == "balanced" else "accuracy"
    column = "balanced_accuracy" if metric == "balanced" else "accuracy"
    fig = _figure(7.0, 3.6)
    ax = fig.subplots()
    data = {}
    for k, (clf, rr) in enumerate(by_clf.items()):
        rr = sorted(rr, key=lambda r: to_float(r.get("time")))
        t = _floats(rr, "time")
        score = _floats(rr, column)
        lo, hi = _floats(rr, "null_mean"), _floats(rr, "null_p95")
        sig = np.array([to_bool(r.get("significant")) for r in rr], dtype=bool)
        color = COLORS[k % len(COLORS)]
        if np.isfinite(lo).any():
            ax.fill_between(t, lo, hi, color=color, alpha=0.15, lw=0)
        ax.plot(t, score, color=color, lw=1.6, marker=".", ms=3, label=literal(clf))
        stretches = significant_stretches(t, sig)
        ybar = 0.02 + 0.03 * k
        for a, b in stretches:
            if a == b:
                ax.plot([a], [ybar], "s", color=color, ms=4)
            else:
                ax.hlines(ybar, a, b, color=color, lw=4)
        data[clf] = {"times": t, "score": score, "null_mean": lo, "null_p95": hi,
                     "significant": sig, "stretches": stretches}
    ax.axvline(0, color="0.4", lw=0.8)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("window centre, time from anchor (s)")
    # Rows written before timecourse.csv named its metric: the band is the plain-accuracy
    # null beside plain accuracy, but which statistic was tested is unknown.
    tested = " (tested)" if rows and "metric" in rows[0] else ""
    ax.set_ylabel(f"test {metric_label(metric)}{tested}")
    ax.set_title(f"time-resolved decoding; shaded: null of {metric_label(metric)}, mean to "
                 "95th pct; bars: significant windows", fontsize=8)
    _legend_outside(fig, ax, ncols=1, where="right upper")
    fig.gpudecode_data = {"metric": metric, "column": column, "ylabel": ax.get_ylabel(),
                          "classifiers": data}
    return fig


def generalization_matrix(matrix, times, *, classifier: str = "",
                          metric: str = "accuracy") -> Figure:
    """Temporal generalisation: a decoder trained at one time, tested at another.

    Parameters
    ----------
    matrix : array_like, shape (windows, windows)
        Train-time rows x test-time columns: mean test score over shuffles.
    times : array_like, shape (windows,)
        Window centres (s).
    metric : {"accuracy", "balanced"}
        The statistic in ``matrix`` (the run's ``--metric``); it labels the colour bar.
    """
    m = np.asarray(matrix, dtype=float)
    t = np.asarray(times, dtype=float)
    dt = (t[1] - t[0]) / 2 if t.size > 1 else 0.5
    fig = _figure(4.6, 4.0)
    ax = fig.subplots()
    im = ax.imshow(m, origin="lower", cmap="viridis", interpolation="nearest", aspect="equal",
                   extent=(t[0] - dt, t[-1] + dt, t[0] - dt, t[-1] + dt))
    ax.plot([t[0], t[-1]], [t[0], t[-1]], color="white", lw=0.8, ls=":")
    ax.set_xlabel("test time (s)")
    ax.set_ylabel("train time (s)")
    ax.set_title(literal(f"temporal generalisation: {classifier}"), fontsize=10)
    fig.colorbar(im, ax=ax, label=f"test {metric_label(metric)}", shrink=0.85)
    fig.gpudecode_data = {"matrix": m, "times": t, "classifier": classifier, "metric": metric}
    return fig


# ---------------------------------------------------------------- cohorts

def _session_axis(rows) -> tuple[dict, list, str]:
    """Map each row's (animal, session) to an x position: day when every row has one."""
    days = [to_float(r.get("day")) for r in rows]
    if rows and all(np.isfinite(d) for d in days):
        return ({(str(r.get("animal")), str(r.get("session"))): d for r, d in zip(rows, days)},
                sorted(set(days)), "day")
    sessions = sorted({str(r.get("session")) for r in rows})
    pos = {s: float(i + 1) for i, s in enumerate(sessions)}
    return ({(str(r.get("animal")), str(r.get("session"))): pos[str(r.get("session"))]
             for r in rows}, sessions, "session")


def _session_ticks(ax, xlabel: str, ticks: list) -> None:
    ax.set_xlabel(xlabel)
    if xlabel == "session":
        ax.set_xticks(range(1, len(ticks) + 1), [literal(v) for v in ticks], fontsize=7,
                      rotation=45)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _by_session(rows, key, xpos) -> dict:
    """Per-animal curves and mean ± SEM across animals of ``key`` by session position."""
    per_animal: dict[str, dict[float, float]] = defaultdict(dict)
    for r in rows:
        v = to_float(r.get(key))
        a, s = str(r.get("animal")), str(r.get("session"))
        if np.isfinite(v):
            per_animal[a][xpos[(a, s)]] = v
    xs = sorted({x for d in per_animal.values() for x in d})
    mean, sem, n = [], [], []
    for x in xs:
        v = np.array([d[x] for d in per_animal.values() if x in d])
        mean.append(v.mean())
        sem.append(v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else np.nan)
        n.append(v.size)
    return {"x": np.array(xs, dtype=float), "mean": np.array(mean), "sem": np.array(sem),
            "n_animals": np.array(n, dtype=int),
            "per_animal": {a: (np.array(sorted(d)), np.array([d[x] for x in sorted(d)]))
                           for a, d in sorted(per_animal.items())}}


def _draw_curve(ax, curve: dict, color: str, label: str) -> None:
    for xa, ya in curve["per_animal"].values():
        ax.plot(xa, ya, color=color, alpha=0.3, lw=0.8)
    ax.errorbar(curve["x"], curve["mean"], yerr=np.where(np.isfinite(curve["sem"]), curve["sem"], 0),
                color=color, lw=2, marker="o", ms=4, capsize=3, label=label)


def _footnote(fig: Figure, lines: list[str]) -> None:
    """Write ``lines`` under the axes, reserving room for them."""
    height = min((0.15 * len(lines) + 0.1) / fig.get_figheight(), 0.4)
    fig.text(0.01, 0.01, "\n".join(literal(v) for v in lines), fontsize=7, va="bottom",
             ha="left")
    fig.get_layout_engine().set(rect=(0, height, 1, 1 - height))


def trend_lines(rows, *, scope: str | None = None, target: str | None = None,
                analysis: str | None = None, classifier: str | None = None,
                measure: str | None = None) -> list[str]:
    """One sentence per ``learning.csv`` row matching the given filters.

    Parameters
    ----------
    rows : list of dict
        ``learning.csv`` rows: scope, target, analysis, classifier, measure, slope, p_value,
        n_sessions, behaviour_r, behaviour_p.
    """
    want = {"scope": scope, "target": target, "analysis": analysis, "classifier": classifier,
            "measure": measure}
    out = []
    for r in rows:
        if any(v is not None and str(r.get(k)) != v for k, v in want.items()):
            continue
        text = (f"{r.get('scope')} | {r.get('target')} | {r.get('analysis')}/{r.get('classifier')}"
                f" | {r.get('measure')}: slope {to_float(r.get('slope')):+.3g} per session "
                f"(p = {to_float(r.get('p_value')):.3g}, {r.get('n_sessions')} sessions)")
        br = to_float(r.get("behaviour_r"))
        if np.isfinite(br):
            text += f"; vs behaviour r = {br:.2f} (p = {to_float(r.get('behaviour_p')):.3g})"
        out.append(text)
    return out


def learning_curves(rows, *, target: str, analysis: str, classifier: str,
                    learning_rows=None, measure: str = "accuracy") -> Figure:
    """Behaviour and decoding accuracy by session (``cohort.csv``), like a learning curve.

    Parameters
    ----------
    rows : list of dict
        ``cohort.csv`` rows; those of (target, analysis, classifier) are drawn: percent_correct
        (left) and ``measure`` (right) per animal (thin lines) and mean ± SEM across animals.
    learning_rows : list of dict, optional
        ``learning.csv`` rows; the matching scope "all" trends of ``measure`` are written
        under the panels.
    measure : {"accuracy", "balanced_accuracy"}
        The ``cohort.csv`` column drawn: the statistic the sessions were tested on.
    """
    rr = [r for r in rows if str(r.get("target")) == target
          and str(r.get("analysis")) == analysis and str(r.get("classifier")) == classifier]
    xpos, ticks, xlabel = _session_axis(rr)
    behaviour = _by_session(rr, "percent_correct", xpos)
    accuracy = _by_session(rr, measure, xpos)
    fig = _figure(9.0, 3.6)
    axes = fig.subplots(1, 2)
    _draw_curve(axes[0], behaviour, "0.25", "mean ± SEM")
    axes[0].set_ylabel("behaviour: percent correct")
    axes[0].set_title("behaviour", fontsize=10)
    _draw_curve(axes[1], accuracy, COLORS[0], "mean ± SEM")
    axes[1].set_ylabel(f"decoding: test {measure.replace('_', ' ')}")
    axes[1].set_title(literal(f"{target}: {analysis} / {classifier}"), fontsize=10)
    for ax in axes:
        _session_ticks(ax, xlabel, ticks)
    n_animals = len(accuracy["per_animal"])
    axes[1].plot([], [], color="0.5", alpha=0.5, lw=0.8, label=f"each of {n_animals} animals")
    _legend_outside(fig, axes[1], ncols=2, where="upper center")
    trends = trend_lines(learning_rows or [], scope="all", target=target, analysis=analysis,
                         classifier=classifier, measure=measure)
    if trends:
        _footnote(fig, trends)
    fig.gpudecode_data = {"target": target, "analysis": analysis, "classifier": classifier,
                          "measure": measure, "ylabel": axes[1].get_ylabel(),
                          "x_axis": xlabel, "behaviour": behaviour, "accuracy": accuracy,
                          "trends": trends}
    return fig


def significant_cells_by_session(rows, *, target: str, learning_rows=None) -> Figure:
    """Number of significant single cells by session (``cohort.csv``), one line per classifier.

    Parameters
    ----------
    rows : list of dict
        ``cohort.csv`` rows; those of ``target`` with analysis ``single-cell`` (all analyses
        when there is none) give n_significant_cells per animal and session.
    learning_rows : list of dict, optional
        ``learning.csv``; the scope "all" n_significant_cells trends are written under the plot.
    """
    rr = [r for r in rows if str(r.get("target")) == target]
    single = [r for r in rr if str(r.get("analysis")) == "single-cell"]
    rr = single or rr
    xpos, ticks, xlabel = _session_axis(rr)
    fig = _figure(6.5, 3.6)
    ax = fig.subplots()
    data = {}
    for k, clf in enumerate(sorted({str(r.get("classifier")) for r in rr})):
        curve = _by_session([r for r in rr if str(r.get("classifier")) == clf],
                            "n_significant_cells", xpos)
        _draw_curve(ax, curve, COLORS[k % len(COLORS)], literal(clf))
        data[clf] = curve
    _session_ticks(ax, xlabel, ticks)
    ax.set_ylabel("significant cells (q < alpha)")
    ax.set_title(literal(f"{target}: significant single cells by session (mean ± SEM; "
                         "thin: animals)"), fontsize=9)
    _legend_outside(fig, ax, ncols=1, where="right upper")
    trends = trend_lines(learning_rows or [], scope="all", target=target,
                         measure="n_significant_cells")
    if trends:
        _footnote(fig, trends)
    fig.gpudecode_data = {"target": target, "x_axis": xlabel, "by_classifier": data,
                          "trends": trends}
    return fig

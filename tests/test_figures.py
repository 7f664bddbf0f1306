"""Figure functions: what they draw is the data they were given (checked on the artists)."""

import subprocess
import sys
import tempfile

import numpy as np
import pytest

from gpudecode import figures as F

RNG = np.random.default_rng(7)


def _bars(ax):
    return [p for p in ax.patches if type(p).__name__ == "Rectangle"]


def test_figures_never_touch_pyplot():
    code = ("import sys; from gpudecode import figures as F, report; "
            "fig = F.accuracy_histograms([0.5, 0.6], [0.5, 0.7], [[0.4, 0.6]]); "
            "from matplotlib.backends.backend_agg import FigureCanvasAgg; "
            "assert isinstance(fig.canvas, FigureCanvasAgg); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'")
    # Run outside the repository so the installed package is imported, not the source tree.
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False, cwd=tempfile.gettempdir())
    assert res.returncode == 0, res.stderr


def test_chance_band_and_stretches():
    null = RNG.random((5, 40))
    null[0, 0] = np.nan
    lo, hi = F.chance_band(null)
    finite = null[np.isfinite(null)]
    assert (lo, hi) == pytest.approx(tuple(np.percentile(finite, [2.5, 97.5])))
    assert F.chance_band(np.empty((3, 0))) is None
    t = np.arange(8) * 0.5
    sig = [False, True, True, False, True, False, True, True]
    assert F.significant_stretches(t, sig) == [(0.5, 1.0), (2.0, 2.0), (3.0, 3.5)]
    assert F.significant_stretches(t, np.zeros(8, bool)) == []


def test_accuracy_histograms_bar_heights_are_the_cells():
    test = RNG.uniform(0.3, 0.95, 30)
    cv = RNG.uniform(0.3, 0.95, 30)
    null = RNG.normal(0.5, 0.05, (30, 50))
    fig = F.accuracy_histograms([f"{v:.6g}" for v in test], cv, null, classifier="lda",
                                threshold=0.8)
    d = fig.gpudecode_data
    np.testing.assert_allclose(d["test_accuracy"], test, atol=1e-6)
    assert d["chance_band"] == pytest.approx(tuple(np.percentile(null, [2.5, 97.5])))
    for ax, values in zip(fig.axes[:2], (test, cv)):
        heights = [b.get_height() for b in ax.containers[0]]
        assert heights == np.histogram(values, bins=np.linspace(0, 1, 21))[0].tolist()
        band = [p for p in ax.patches if p.get_label().startswith("chance")]
        assert len(band) == 1
        x0, x1 = band[0].get_bbox().x0, band[0].get_bbox().x1
        assert (x0, x1) == pytest.approx(d["chance_band"])
    fig = F.accuracy_histograms(test, cv, None)
    assert fig.gpudecode_data["chance_band"] is None


def test_accuracy_histograms_name_the_tested_metric():
    """metric=balanced: the test panel is labelled balanced accuracy and carries the band;
    the CV panel (plain accuracy, not tested) has no band and says so."""
    test = RNG.uniform(0.3, 0.95, 30)
    null = RNG.normal(0.5, 0.05, (30, 50))
    fig = F.accuracy_histograms(test, test, null, classifier="lda", threshold=0.8,
                                metric="balanced")
    test_ax, cv_ax = fig.axes[:2]
    assert test_ax.get_xlabel() == "test balanced accuracy (mean over shuffles)"
    assert cv_ax.get_xlabel() == "CV accuracy (mean over shuffles)"
    assert "not tested" in cv_ax.get_title()
    labels = lambda ax: [p.get_label() for p in ax.patches if p.get_label().startswith("chance")]
    assert labels(test_ax) == ["chance: null of balanced accuracy, 2.5-97.5%"]
    assert labels(cv_ax) == []
    # The accuracy threshold line is not drawn on a balanced-accuracy axis.
    assert not [ln for ln in test_ax.lines if ln.get_label().startswith("threshold")]
    assert test_ax.get_legend() is None and fig.legends


def test_top_cell_traces_mean_sem_and_raster_order():
    labels = np.array(["b", "a", "b", "a", "a", "b", "a"])
    data = RNG.normal(size=(7, 2, 9))
    t = np.linspace(-1, 1, 9)
    fig = F.top_cell_traces(data, labels, t, cells=[5, 2], cell_ids=["C5", "C2"],
                            classes=["a", "b"])
    d = fig.gpudecode_data
    a = data[labels == "a", 1]
    np.testing.assert_allclose(d["mean"][1, 0], a.mean(0))
    np.testing.assert_allclose(d["sem"][1, 0], a.std(0, ddof=1) / np.sqrt(len(a)))
    assert labels[d["order"]].tolist() == ["a"] * 4 + ["b"] * 3
    raster = fig.axes[1].images[0].get_array()
    np.testing.assert_allclose(raster, data[d["order"], 0, :])
    assert len(fig.axes[0].lines[0].get_ydata()) == 9


def test_correlation_matrices_ordered():
    m = RNG.uniform(-1, 1, (2, 6, 6))
    order = np.array([3, 1, 0, 5, 4, 2])
    fig = F.correlation_matrices(m, order, classes=["x", "y"])
    d = fig.gpudecode_data
    np.testing.assert_allclose(d["ordered"][0], m[0][np.ix_(order, order)])
    np.testing.assert_allclose(d["ordered"][2], (m[1] - m[0])[np.ix_(order, order)])
    assert d["titles"] == ["x", "y", "y - x"]
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), m[0][np.ix_(order, order)])


def test_top_pairs_bars():
    rows = [{"rank": str(k), "cell_i": "0", "cell_j": str(k), "cell_id_i": "C0",
             "cell_id_j": f"C{k}", "selection_frequency": f"{1 - k / 10:.2f}",
             "mean_f_score": "3", "corr_difference": f"{(-1) ** k * k / 10:.2f}",
             "class_high": "a" if k % 2 else "b"} for k in (3, 1, 2)]
    fig = F.top_pairs(rows)
    d = fig.gpudecode_data
    assert d["labels"] == ["C0 - C1", "C0 - C2", "C0 - C3"]
    widths = [b.get_width() for b in _bars(fig.axes[0])][:3]
    assert widths == pytest.approx([-0.1, 0.2, -0.3])


def test_model_ranking_bars_errors_band_marks():
    rows = [
        {"analysis": "summed", "classifier": "rbf-svm", "test_accuracy": "0.55",
         "test_std": "0.1", "null_mean": "0.5", "null_p95": "0.62", "significant": "False",
         "rank": "3"},
        {"analysis": "correlation", "classifier": "tree", "test_accuracy": "0.83",
         "test_std": "0.05", "null_mean": "0.5", "null_p95": "0.6", "significant": "True",
         "rank": "1"},
        {"analysis": "democracy", "classifier": "random-forest", "test_accuracy": "0.7",
         "test_std": "", "null_mean": "", "null_p95": "", "significant": "True",
         "rank": "2"},
    ]
    fig = F.model_ranking(rows)
    d = fig.gpudecode_data
    ax = fig.axes[0]
    widths = [b.get_width() for b in _bars(ax)]
    assert widths == pytest.approx([0.83, 0.7, 0.55])
    assert d["labels"] == ["correlation / tree", "democracy / random-forest", "summed / rbf-svm"]
    assert d["significant"].tolist() == [True, True, False]
    assert sum(t.get_text() == "*" for t in ax.texts) == 2
    assert len(ax.collections) >= 2  # two chance bands (the third model has no null)


def test_time_resolved_line_band_and_stretch():
    t = np.round(np.arange(-0.5, 1.0, 0.25), 3)
    rows = []
    for clf, shift in (("lda", 0.0), ("tree", 0.05)):
        for k, ti in enumerate(t):
            rows.append({"time": str(ti), "classifier": clf,
                         "accuracy": str(0.5 + shift + 0.05 * k), "null_mean": "0.5",
                         "null_p95": "0.6", "significant": str(k >= 3)})
    fig = F.time_resolved(rows[::-1])
    d = fig.gpudecode_data["classifiers"]
    np.testing.assert_allclose(d["lda"]["times"], t)
    np.testing.assert_allclose(d["lda"]["score"], 0.5 + 0.05 * np.arange(t.size))
    assert d["tree"]["stretches"] == [(t[3], t[-1])]
    line = next(ln for ln in fig.axes[0].lines if ln.get_label() == "lda")
    np.testing.assert_allclose(line.get_ydata(), d["lda"]["score"])
    # Rows without a metric column (older folders) are drawn as plain accuracy, the statistic
    # of their null columns, without claiming it was the one tested.
    assert fig.gpudecode_data["metric"] == "accuracy"
    assert fig.axes[0].get_ylabel() == "test accuracy"


def test_time_resolved_draws_the_tested_metric_and_its_null():
    """With metric=balanced the curve is balanced_accuracy (not accuracy), the band is the
    null columns (the balanced null), and the axis and title say balanced accuracy."""
    t = np.arange(6) * 0.25
    rows = [{"time": str(ti), "classifier": "lda", "accuracy": "0.9",
             "balanced_accuracy": str(0.5 + 0.04 * k), "null_mean": str(0.49 + 0.001 * k),
             "null_p95": "0.58", "significant": "False", "metric": "balanced"}
            for k, ti in enumerate(t)]
    fig = F.time_resolved(rows)
    d = fig.gpudecode_data
    assert d["metric"] == "balanced" and d["column"] == "balanced_accuracy"
    curve = d["classifiers"]["lda"]
    np.testing.assert_allclose(curve["score"], 0.5 + 0.04 * np.arange(6))
    ax = fig.axes[0]
    assert ax.get_ylabel() == "test balanced accuracy (tested)"
    assert "null of balanced accuracy" in ax.get_title()
    (band,) = ax.collections[:1]
    lower = band.get_paths()[0].vertices[:, 1]
    assert lower.min() == pytest.approx(0.49) and lower.max() == pytest.approx(0.58)
    line = next(ln for ln in ax.lines if ln.get_label() == "lda")
    np.testing.assert_allclose(line.get_ydata(), curve["score"])
    assert ax.get_legend() is None and fig.legends      # the legend is outside the axes


def test_generalization_matrix():
    m = RNG.random((5, 5))
    fig = F.generalization_matrix(m, np.linspace(0, 1, 5), classifier="lda")
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), m)


def _cohort_rows():
    rows = []
    for a, animal in enumerate(("m1", "m2", "m3")):
        for day in (1, 2, 3, 5):
            if animal == "m3" and day == 5:
                continue
            rows.append({"animal": animal, "session": f"s{day:02d}", "day": str(day),
                         "target": "outcome", "analysis": "single-cell", "classifier": "lda",
                         "accuracy": str(0.5 + 0.05 * day + 0.01 * a),
                         "n_significant_cells": str(day + a),
                         "percent_correct": str(40 + 10 * day - a)})
    return rows


def test_learning_curves_mean_sem_across_animals():
    rows = _cohort_rows()
    learning = [{"scope": "all", "target": "outcome", "analysis": "single-cell",
                 "classifier": "lda", "measure": "accuracy", "slope": "0.05", "p_value": "0.001",
                 "n_sessions": "4", "behaviour_r": "0.9", "behaviour_p": "0.01"}]
    fig = F.learning_curves(rows, target="outcome", analysis="single-cell", classifier="lda",
                            learning_rows=learning)
    d = fig.gpudecode_data
    np.testing.assert_allclose(d["accuracy"]["x"], [1, 2, 3, 5])
    acc_day2 = [0.6, 0.61, 0.62]
    assert d["accuracy"]["mean"][1] == pytest.approx(np.mean(acc_day2))
    assert d["accuracy"]["sem"][1] == pytest.approx(np.std(acc_day2, ddof=1) / np.sqrt(3))
    assert d["accuracy"]["n_animals"].tolist() == [3, 3, 3, 2]
    assert d["behaviour"]["mean"][3] == pytest.approx(np.mean([90, 89]))
    assert set(d["accuracy"]["per_animal"]) == {"m1", "m2", "m3"}
    assert len(d["trends"]) == 1 and "slope +0.05" in d["trends"][0]
    assert "r = 0.90" in d["trends"][0]


def test_significant_cells_by_session_and_session_axis_without_days():
    rows = _cohort_rows()
    for r in rows:
        r["day"] = ""
    fig = F.significant_cells_by_session(rows, target="outcome")
    d = fig.gpudecode_data
    assert d["x_axis"] == "session"
    np.testing.assert_allclose(d["by_classifier"]["lda"]["mean"], [2, 3, 4, 5.5])


NASTY = ["$x$", "$$", "$\\foo$", "\x1b]0;title\x07C1", "\x1b[2JC2", "a$b"]


def _render(fig):
    import io
    fig.savefig(io.BytesIO(), format="png")
    fig.savefig(io.BytesIO(), format="svg")


def _texts(fig):
    from matplotlib.text import Text
    return [t.get_text() for t in fig.findobj(Text)]


def test_names_are_drawn_literally():
    """Cell, class and classifier names from files never reach mathtext or the renderer as
    control characters: figures with '$$' or '$\\foo$' in names are written, and show '$'."""
    from gpudecode.text import literal, printable
    assert printable("\x1b]0;title\x07C1") == "C1" and printable("\x1b[2JC2\r\n") == "C2"
    assert literal("$x$") == r"\$x\$"
    labels = np.array(["$$", "$\\foo$"] * 4)
    data = RNG.normal(size=(8, 3, 5))
    fig = F.top_cell_traces(data, labels, np.linspace(0, 1, 5), cells=[0, 1, 2],
                            cell_ids=NASTY[:3], classes=["$$", "$\\foo$"])
    _render(fig)
    rows = [{"rank": str(k), "cell_id_i": NASTY[k], "cell_id_j": NASTY[-1 - k],
             "selection_frequency": "1", "corr_difference": "0.1", "class_high": "$$"}
            for k in range(3)]
    figs = [fig, F.top_pairs(rows),
            F.correlation_matrices(RNG.uniform(-1, 1, (2, 3, 3)), [0, 1, 2],
                                   classes=["$$", "\x1b[2Jb"]),
            F.model_ranking([{"analysis": "single-cell", "classifier": "lda",
                              "unit": f"cell {NASTY[2]}", "test_accuracy": "0.7",
                              "test_std": "0.1", "null_mean": "0.5", "null_p95": "0.6",
                              "significant": "True", "rank": "1"}]),
            F.accuracy_histograms([0.5], [0.5], classifier="$\\foo$")]
    for f in figs:
        _render(f)
        drawn = "".join(_texts(f))
        assert "\x1b" not in drawn and "\x07" not in drawn
    assert r"cell \$\foo\$: mean ± SEM" in _texts(figs[0])     # drawn as "cell $\foo$"
    assert fig.gpudecode_data["names"][0] == "cell $x$"        # the data keeps the id


def test_top_cells_are_named_by_id_and_rasters_ignore_outliers():
    data = RNG.normal(size=(20, 2, 30))
    data[3, 0, 7] = 1e4                                  # one outlying frame
    labels = np.array(["a", "b"] * 10)
    fig = F.top_cell_traces(data, labels, np.linspace(-1, 1, 30), cells=[38, 4],
                            cell_ids=["cell40", "C05"])
    titles = [ax.get_title() for ax in fig.axes]
    assert "cell cell40: mean ± SEM" in titles and not any("38" in t for t in titles)
    vmin, vmax = fig.axes[1].images[0].get_clim()
    assert (vmin, vmax) == pytest.approx(tuple(np.percentile(data[:, 0], [1, 99])))
    assert vmax < 10
    no_ids = F.top_cell_traces(data, labels, np.linspace(-1, 1, 30), cells=[38, 4])
    assert no_ids.gpudecode_data["names"] == ["cell index 38", "cell index 4"]
    for f in (fig, no_ids):
        assert all(ax.get_legend() is None for ax in f.axes) and f.legends

"""Result files of a decode run: ``summary.json``, ``cells.csv``, ``results.h5``.

Every file is written to a temporary name and renamed, so a crash never leaves half a file.
"""

from __future__ import annotations

import csv
import io
import json
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import h5py
import numpy as np

from .atomic import atomic_path, atomic_write_text

__all__ = ["CELLS_COLUMNS", "versions", "write_summary", "write_cells_csv", "write_results_h5",
           "write_csv"]

CELLS_COLUMNS = ("cell", "cell_id", "classifier", "test_accuracy", "balanced_accuracy",
                 "cv_accuracy", "n_above_threshold", "p_value", "q_value", "significant")


# The command line of the running `gpudecode` command when called in-process (cli.main(argv));
# None means sys.argv.
COMMAND_LINE: list[str] | None = None


def versions() -> dict:
    """Versions of Python and the packages that shape the numbers."""
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("gpudecode", "numpy", "scipy", "scikit-learn", "numba", "h5py", "cupy-cuda12x",
                "cuml-cu12", "numba-cuda"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_summary(path, summary: dict) -> None:
    """Write ``summary`` (plus versions and the command line) as JSON."""
    full = {**summary, "versions": versions(), "argv": COMMAND_LINE or sys.argv}
    atomic_write_text(path, json.dumps(_jsonable(full), indent=2) + "\n")


def _fmt(v):
    if isinstance(v, (float, np.floating)):
        return "" if not np.isfinite(v) else f"{float(v):.6g}"
    return v


def write_csv(path, rows: list[dict], columns) -> None:
    """Write dict rows with the given column order (NaN as an empty field)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_fmt(r.get(c, "")) for c in columns])
    atomic_write_text(path, buf.getvalue())


def write_cells_csv(path, results) -> None:
    """``cells.csv``: one row per cell x classifier (see :data:`CELLS_COLUMNS`)."""
    write_csv(path, results.rows(), CELLS_COLUMNS)


def write_results_h5(path, *, epochs, plan, single_cell=None, population=(), timecourse=None,
                     correlation: dict | None = None, top_cells=None, params: dict | None = None,
                     extra: dict | None = None) -> None:
    """``results.h5``: the full per-split arrays, the split plan and the trials.

    Layout::

        /attrs: params (JSON)
        /trials/{labels, anchor_time, event_index}, /cell_ids, /classes
        /splits/{Y, train_idx, n_train, test_idx, n_test, shuffle_of_slot, fold_of_slot}
        /single_cell/<classifier>/{test_accuracy (cells x shuffles), test_balanced,
                                   cv_accuracy (cells x shuffles x folds),
                                   null_accuracy (cells x permutations), null_balanced,
                                   p_value, q_value, n_above_threshold}
        /epochs/{times (frames,), top_cells (n_top,), top_data (trials x n_top x frames)}
        /population/<analysis>/<classifier>/{test_accuracy (shuffles,), test_balanced,
                                   cv_accuracy (shuffles x folds), null_accuracy (permutations,),
                                   null_balanced, p_value}
        /time_resolved/<classifier>/{times (windows,), test_accuracy (windows x shuffles),
                                   test_balanced, cv_accuracy (windows x shuffles x folds),
                                   null_accuracy (windows x permutations), null_balanced,
                                   p_value, q_value, generalization (windows x windows, optional)}
        /correlation/{mean_by_class (classes x cells x cells), order (cells,)}
    """
    str_dt = h5py.string_dtype("utf-8")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = "gpudecode-results"
            f.attrs["version"] = 1
            tr = f.create_group("trials")
            tr.create_dataset("labels", data=np.asarray([str(x) for x in epochs.labels], object),
                              dtype=str_dt)
            for key in ("anchor_time", "event_index", "first_frame"):
                if key in epochs.trials:
                    tr.create_dataset(key, data=np.asarray(epochs.trials[key]))
            f.create_dataset("cell_ids", data=np.asarray([str(c) for c in epochs.cell_ids], object),
                             dtype=str_dt)
            f.create_dataset("classes", data=np.asarray([str(c) for c in plan.classes_], object),
                             dtype=str_dt)
            sp = f.create_group("splits")
            for key in ("Y_", "train_idx_", "n_train_", "test_idx_", "n_test_",
                        "shuffle_of_slot_", "fold_of_slot_"):
                sp.create_dataset(key.rstrip("_"), data=getattr(plan, key), compression="gzip")
            if params is not None:
                f.attrs["params"] = json.dumps(_jsonable(params))
            elif single_cell is not None:
                f.attrs["params"] = json.dumps(_jsonable(single_cell.params))
            ep = f.create_group("epochs")
            ep.create_dataset("times", data=np.asarray(epochs.times, dtype=np.float64))
            if top_cells is not None and len(top_cells):
                idx = np.asarray(top_cells, dtype=np.int64)
                ep.create_dataset("top_cells", data=idx)
                ep.create_dataset("top_data", data=epochs.data[:, idx, :], compression="gzip")
            for res in population:
                g = f.require_group("population").create_group(res.analysis)
                g.attrs["params"] = json.dumps(_jsonable(res.params))
                for k, clf in enumerate(res.classifiers):
                    cg = g.create_group(clf)
                    for key in ("test_accuracy", "test_balanced", "cv_accuracy", "null_accuracy",
                                "null_balanced", "p_value"):
                        cg.create_dataset(key, data=getattr(res, key)[k])
            if timecourse is not None:
                g = f.create_group("time_resolved")
                g.attrs["params"] = json.dumps(_jsonable(timecourse.params))
                for k, clf in enumerate(timecourse.classifiers):
                    cg = g.create_group(clf)
                    cg.create_dataset("times", data=timecourse.times)
                    for key in ("test_accuracy", "test_balanced", "cv_accuracy", "null_accuracy",
                                "null_balanced", "p_value", "q_value"):
                        cg.create_dataset(key, data=getattr(timecourse, key)[k])
                    gen = (timecourse.generalization or {}).get(clf)
                    if gen is not None:
                        cg.create_dataset("generalization", data=gen)
            if correlation is not None:
                g = f.create_group("correlation")
                for key, value in correlation.items():
                    g.create_dataset(key, data=value, compression="gzip")
            if single_cell is not None:
                g = f.create_group("single_cell")
                for k, clf in enumerate(single_cell.classifiers):
                    cg = g.create_group(clf)
                    for key in ("test_accuracy", "test_balanced", "cv_accuracy", "null_accuracy",
                                "null_balanced", "p_value", "q_value", "n_above_threshold"):
                        cg.create_dataset(key, data=getattr(single_cell, key)[k])
            for key, value in (extra or {}).items():
                f.attrs[key] = json.dumps(_jsonable(value))

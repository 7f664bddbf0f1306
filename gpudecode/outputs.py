"""Result files of a decode run and the rules of a result folder.

A ``decode`` folder is built whole in a temporary sibling and swapped in (see
:class:`gpudecode.atomic.StagedFolder`); inside it each file is also written atomically.
``summary.json`` is written last among the result files and records ``run_id`` and
``file_manifest`` (bytes and SHA-256 of every other result file), so
:func:`check_one_run` can tell whether the files in a folder belong to one run.

:func:`check_output_folder` checks, before any computation, that ``--out`` can take a
result: not a file, writable (and its parent: the result is built beside it), not a mount
point, not holding an input, and either absent, empty, or a gpudecode result folder with no
files gpudecode did not write (the folder is replaced as a whole).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import platform
import sys
import tempfile
import uuid
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import h5py
import numpy as np

from .atomic import output_error, atomic_path, atomic_write_text
from .errors import FormatError, OutputError

__all__ = ["CELLS_COLUMNS", "RESULT_FILES", "REPORT_FILES", "versions", "write_summary",
           "write_cells_csv", "write_results_h5", "write_csv", "file_manifest", "hash_file",
           "check_one_run", "check_output_folder", "check_writable_folder", "new_run_id",
           "writing_results", "input_paths", "foreign_files", "is_inside"]

# What a decode run writes (summary.json last) and what `report` adds.
RESULT_FILES = ("cells.csv", "models.csv", "timecourse.csv", "pairs.csv", "results.h5",
                "summary.json")
REPORT_FILES = ("report.html", "figures")
# Files the operating system puts into folders by itself.
_OS_FILES = (".DS_Store", "Thumbs.db", "desktop.ini", "._.DS_Store")
HASH_BLOCK_BYTES = 1 << 20

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
    # HDF5 is built in memory and written with plain file I/O: a disk error (a full disk)
    # inside HDF5's own close left the library in a state that crashed the interpreter at
    # exit (exit 139); from Python it is an ordinary OSError.
    image = io.BytesIO()
    with atomic_path(path) as tmp:
        with h5py.File(image, "w") as f:
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
        with open(tmp, "wb") as fh:
            fh.write(image.getbuffer())


# ----------------------------------------------------------------------------- one run

def new_run_id() -> str:
    """A fresh run id (32 hex digits)."""
    return uuid.uuid4().hex


def hash_file(path, block_bytes: int = HASH_BLOCK_BYTES) -> str:
    """SHA-256 of a file's content, read in ``block_bytes`` blocks (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(block_bytes):
            h.update(block)
    return h.hexdigest()


def file_manifest(folder, names) -> dict:
    """``{name: {"bytes": size, "sha256": hex}}`` for the files ``names`` of ``folder``."""
    folder = Path(folder)
    return {name: {"bytes": (folder / name).stat().st_size,
                   "sha256": hash_file(folder / name)} for name in names}


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise FormatError(f"cannot read {path.name} ({exc})", path=path,
                          fix="rerun the gpudecode command that wrote this folder") from None
    if not isinstance(meta, dict):
        raise FormatError("not a gpudecode summary (not a JSON object)", path=path,
                          fix="rerun the gpudecode command that wrote this folder")
    return meta


def _manifest_problems(d: Path, manifest: dict) -> list[str]:
    problems = []
    for name, rec in manifest.items():
        p = d / name
        if not p.is_file():
            problems.append(f"{name} is missing")
            continue
        size = p.stat().st_size
        if size != rec.get("bytes"):
            problems.append(f"{name} has {size} bytes, the run wrote {rec.get('bytes')}")
        elif hash_file(p) != rec.get("sha256"):
            problems.append(f"{name} was changed after the run")
    return problems


def check_one_run(folder) -> dict:
    """Check that the result files of a ``decode`` or ``cohort`` folder belong to one run.

    A session folder's ``summary.json`` (a cohort folder's ``cohort.json``) lists every result
    file the run wrote with its size and SHA-256: each must be there unchanged, and no other
    result file may be (an old ``pairs.csv`` beside a newer run's files, say). A cohort
    folder also lists the run id of each session folder its tables were built from.
    Folders written before run ids existed are not checked.

    Returns
    -------
    dict
        The folder's ``summary.json`` / ``cohort.json``.

    Raises
    ------
    FormatError
        ``files in DIR are not from one run: ...`` listing each mismatch (field
        ``file_manifest``).
    """
    from .cohort import COHORT_TABLES
    d = Path(folder)
    cohort = (d / "cohort.json").is_file() or (d / "cohort.csv").is_file()
    meta_path = d / ("cohort.json" if cohort else "summary.json")
    if not meta_path.is_file():
        if cohort:
            raise FormatError(f"files in {d} are not from one run: cohort.json is missing (the "
                              f"run that wrote the tables did not finish)", field="file_manifest",
                              fix="rerun gpudecode cohort with the same --out to rebuild the "
                                  "tables")
        return {}
    meta = _read_meta(meta_path)
    manifest = meta.get("file_manifest")
    if not isinstance(manifest, dict):
        return meta                                  # written before run ids
    problems = _manifest_problems(d, manifest)
    known = COHORT_TABLES if cohort else RESULT_FILES
    for name in known:
        if name != meta_path.name and name not in manifest and (d / name).exists():
            problems.append(f"{name} is not from run {meta.get('run_id')}")
    for key, run_id in (meta.get("session_runs") or {}).items():
        s_path = d / key / "summary.json"
        try:
            found = json.loads(s_path.read_text(encoding="utf-8")).get("run_id")
        except (OSError, ValueError, AttributeError):
            found = None
        if found != run_id:
            problems.append(f"session folder {key} is {'missing' if found is None else 'from a later run'} "
                            f"(the tables were built from run {run_id})")
    if problems:
        fix = ("rerun gpudecode cohort with the same --out to rebuild the tables" if cohort else
               "rerun gpudecode decode into this --out (the folder is replaced as a whole)")
        raise FormatError(f"files in {d} are not from one run: " + "; ".join(problems),
                          field="file_manifest", fix=fix)
    return meta


# ----------------------------------------------------------------------------- --out checks

def input_paths(session) -> list[Path]:
    """The files a loaded session was read from (``session.source``)."""
    src = getattr(session, "source", None) or {}
    out = []
    for key in ("traces", "events", "frame_times", "sync_pulses"):
        v = src.get(key)
        if isinstance(v, (str, os.PathLike)) and str(v):
            out.append(Path(v))
    return out


def is_inside(path: Path, folder: Path) -> bool:
    """``path`` is ``folder`` or lies inside it (symbolic links resolved)."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(folder))
        return True
    except ValueError:
        return False


def _probe(folder: Path, what: str) -> None:
    """Create and remove a temporary folder in ``folder``: the check that always tells."""
    try:
        tmp = tempfile.mkdtemp(prefix=".gpudecode-probe-", dir=folder)
    except OSError as exc:
        raise output_error(exc, folder, f"cannot write {what}") from None
    with contextlib.suppress(OSError):
        os.rmdir(tmp)


def check_writable_folder(folder, *, what: str = "into the output folder",
                          field: str = "--out") -> Path:
    """Check that ``folder`` (or, if it is missing, its nearest existing ancestor) can take
    new files; return the folder as an absolute path.

    Raises
    ------
    OutputError
        A path component is a file, the folder is read-only, or the name is too long.
    """
    d = Path(os.path.abspath(folder))
    _check_name_lengths(d, field)
    if d.exists() and not d.is_dir():
        raise OutputError("exists and is not a folder", path=d, field=field,
                          fix="choose a folder name (a new or an empty folder)")
    _probe(_nearest_folder(d, field), what)
    return d


def foreign_files(d: Path) -> list[str]:
    """Entries of ``d`` that no gpudecode command wrote."""
    out = []
    for p in sorted(d.iterdir()):
        name = p.name
        if name in RESULT_FILES or name in _OS_FILES or name == "report.html":
            continue
        if name == "figures" and p.is_dir():
            if all(f.suffix in (".png", ".svg") or (f.name.startswith(".") and
                                                   f.name.endswith(".tmp"))
                   for f in p.iterdir()):
                continue
        if name.startswith(".") and name.endswith(".tmp"):
            continue                                # a file killed mid-write by an old version
        out.append(name + ("/" if p.is_dir() else ""))
    return out


def check_output_folder(out_dir, inputs=()) -> Path:
    """Check ``--out`` of ``decode`` before any computation; return it as an absolute path.

    The result folder is built beside ``out_dir`` and swapped in as a whole, so ``out_dir``
    must be absent, empty, or an earlier gpudecode result holding only files gpudecode wrote;
    it and its parent must be writable; no input may live inside it.

    Parameters
    ----------
    out_dir : path
    inputs : iterable of path
        The run's input files (traces, events, sync pulses, targets file).

    Raises
    ------
    OutputError
        One line naming the folder, the problem and the fix (field ``--out``).
    """
    d = Path(os.path.abspath(out_dir))
    _check_name_lengths(d)
    if d.is_symlink():
        d = Path(os.path.realpath(d))
    if d.exists() and not d.is_dir():
        raise OutputError("exists and is not a folder", path=d, field="--out",
                          fix="choose a folder name (a new or an empty folder)")
    _nearest_folder(d)
    for p in inputs:
        if p is not None and str(p) and is_inside(Path(p), d):
            raise OutputError(f"the input {p} is inside the output folder, which gpudecode "
                              f"replaces as a whole", path=d, field="--out",
                              fix="choose another --out, or move the input out of it")
    if d.is_dir():
        if os.path.ismount(d):
            raise OutputError("is a mount point, which cannot be replaced as a whole", path=d,
                              field="--out", fix="choose a folder inside it")
        entries = [p.name for p in d.iterdir() if p.name not in _OS_FILES]
        if entries:
            if not (d / "summary.json").is_file():
                raise OutputError("is not empty and is not a gpudecode result folder "
                                  "(no summary.json)", path=d, field="--out",
                                  fix="choose a new or an empty folder (gpudecode replaces "
                                      "the whole folder)")
            foreign = foreign_files(d)
            if foreign:
                shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more"
                                                  if len(foreign) > 5 else "")
                raise OutputError(f"holds files gpudecode did not write ({shown}); a new run "
                                  f"replaces the whole folder", path=d, field="--out",
                                  fix="move those files out, or choose another --out")
        _probe(d, "into the output folder")
    check_writable_folder(d.parent, what="beside the output folder (the result is built "
                                         "there, then swapped in)")
    return d


def _check_name_lengths(d: Path, field: str = "--out") -> None:
    for part in d.parts:
        n = len(part.encode("utf-8", "surrogateescape"))
        if n > 255:
            raise OutputError(f"a folder name in the path is {n} bytes long; names are limited "
                              f"to 255 bytes", path=str(d)[:200] + "...", field=field,
                              fix="choose a shorter name")


def _nearest_folder(d: Path, field: str = "--out") -> Path:
    """The nearest existing ancestor of ``d`` (``d`` itself if it exists); it must be a folder."""
    probe = d
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"cannot create the folder: {probe} is a file", path=d, field=field,
                          fix="choose a path whose parent folders are folders")
    return probe


@contextlib.contextmanager
def writing_results(folder):
    """Turn an ``OSError`` met while writing results into one typed line (a full disk:
    ``No space left on device``), naming the result folder."""
    try:
        yield
    except OSError as exc:
        raise output_error(exc, folder, "cannot write the results") from None

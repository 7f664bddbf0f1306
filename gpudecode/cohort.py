"""Cohorts: every session x target of a manifest decoded as one Dask task each, resumably.

Layout of a cohort folder::

    DIR/<animal>/<session>/<target>/   a session result folder (see gpudecode.pipeline)
    DIR/cohort.csv                     one row per session x target x analysis x classifier
    DIR/cells.csv                      every session's cells.csv, with cohort-wide cell ids
    DIR/learning.csv                   trend of accuracy / significant cells across sessions
    DIR/stability.csv                  do registered significant cells stay significant
    DIR/pair_overlap.csv               do the top discriminative pairs recur
    DIR/failures.csv                   sessions that failed, with the error
    DIR/cohort.json                    parameters, versions, device, timing, counts

Each task builds its folder under a temporary sibling name and swaps it in with one atomic
step (see :class:`gpudecode.atomic.StagedFolder`), so a session folder is either complete or
absent. Its ``summary.json`` records ``input_hash``: a SHA-256 of the *content* of the input
files (traces file or every file of a traces folder, events, sync pulses), the reader
options, the trial spec, the decode parameters and the gpudecode version (file paths, sizes
and times are not part of it: moving the data does not redo a session, editing it does).
A rerun skips folders whose hash matches and whose files are all there unchanged (sizes and
SHA-256 listed in ``summary.json``) and redoes the others, so killing a run at any moment
loses at most the sessions in flight. A session whose rerun fails is listed in
``failures.csv`` and its old folder is removed: it described inputs that have changed.

The cohort tables list only the sessions of this run that are complete and current, and
``cohort.json`` (written last) records the tables' sizes and SHA-256 and the run id of every
session folder they were built from (``gpudecode report`` checks both). One run at a time:
``DIR/.gpudecode.lock`` names the process holding the folder, and a second run on the same
``--out`` stops at once and says who holds it.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import json
import os
import shutil
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from .atomic import FolderLock, clean_leftovers
from .backend import Backend
from .errors import GpudecodeError, OutputError, ParameterError
from .io import load_session
from .learning import LEARNING_COLUMNS, cell_stability, pair_overlap, trend_test
from .manifest import read_manifest, read_registration
from .outputs import (check_one_run, check_writable_folder, file_manifest, foreign_files,
                      is_inside, new_run_id, write_csv, write_summary, writing_results)
from .pipeline import decode_session

__all__ = ["COHORT_COLUMNS", "COHORT_TABLES", "CohortRun", "run_cohort", "input_hash",
           "collect_cohort", "session_task", "SCHEDULERS", "LOCK_NAME"]

COHORT_COLUMNS = ("animal", "session", "day", "target", "analysis", "classifier", "accuracy",
                  "balanced_accuracy", "p_value", "n_significant_cells", "percent_correct",
                  "n_trials")
FAILURE_COLUMNS = ("animal", "session", "target", "error_type", "error")
SCHEDULERS = ("local", "synchronous", "tcp://HOST:PORT", "cuda")
# Every table a cohort run writes into DIR (cohort.json last).
COHORT_TABLES = ("cohort.csv", "cells.csv", "learning.csv", "stability.csv", "pair_overlap.csv",
                 "failures.csv", "cohort.json")
LOCK_NAME = ".gpudecode.lock"
HASH_BLOCK_BYTES = 1 << 20
# Reader options that shape a session's numbers (the file paths do not: their content does).
_LOAD_KEYS = ("format", "events_format", "animal", "session", "day", "sync_event",
              "event_offset", "frame_rate", "signal")


def _content_digest(path) -> list:
    """SHA-256 of a file's content (1 MiB blocks), or of every file of a folder by name."""
    if path is None:
        return [None]
    p = Path(path)
    if p.is_dir():
        return [[str(f.relative_to(p)), _sha256(f)] for f in sorted(p.rglob("*")) if f.is_file()]
    return [_sha256(p)]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(HASH_BLOCK_BYTES):
            h.update(block)
    return h.hexdigest()


def input_hash(entry, spec, config) -> str:
    """Hash of what determines a session's results: the content of its input files, the
    reader options, the trial spec, the parameters and the gpudecode version.

    The files are read in full (SHA-256, 1 MiB blocks: 1.5-2 s per GiB from the page cache,
    6-8 s per GiB from a cold disk on a 2-core test machine), so an edit that keeps a file's
    size and modification time is seen; the paths are not part of the hash.
    """
    from . import __version__  # set by the package's __init__, which imports this module
    files = [_content_digest(getattr(entry, k)) for k in ("traces", "events", "sync_pulses")]
    load = entry.load_kwargs()
    blob = json.dumps({"files": files, "load": {k: str(load.get(k)) for k in _LOAD_KEYS},
                       "spec": spec if isinstance(spec, dict) else asdict(spec),
                       "config": config.as_dict(),
                       "version": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _behaviour(session) -> dict:
    """Percent correct of the session's choices (``Correct`` / ``Incorrect`` events)."""
    counts = session.events.counts()
    n_c, n_i = counts.get("Correct", 0), counts.get("Incorrect", 0)
    pct = 100.0 * n_c / (n_c + n_i) if n_c + n_i else float("nan")
    return {"percent_correct": pct, "n_correct": n_c, "n_incorrect": n_i}


def _done(folder: Path, digest: str) -> bool:
    """The folder holds a complete run of these inputs: hash matches, files all unchanged."""
    try:
        with open(folder / "summary.json") as fh:
            if json.load(fh).get("input_hash") != digest:
                return False
        check_one_run(folder)
    except (OSError, ValueError):                 # FormatError is a ValueError
        return False
    return True


def _session_key(animal: str, session: str, target: str) -> str:
    return f"{animal}/{session}/{target}"


def _remove_folder(folder: Path) -> None:
    """Take a stale session folder out of view in one step (rename), then delete it; a folder
    that holds files gpudecode did not write is left alone."""
    if not (folder / "summary.json").is_file() or foreign_files(folder):
        return
    aside = folder.parent / f".{folder.name}.gone-{uuid.uuid4().hex[:8]}"
    try:
        os.rename(folder, aside)
    except OSError:
        aside = folder
    shutil.rmtree(aside, ignore_errors=True)


def session_task(entry, target_name: str, spec, config, out_dir: str) -> dict:
    """Decode one session x target into ``out_dir/<animal>/<session>/<target>`` (a Dask task).

    The folder is replaced in one atomic step (:func:`gpudecode.pipeline.decode_session`).
    When the inputs changed and the rerun fails, the old folder is removed before the error
    is raised: it no longer describes the inputs.

    Returns
    -------
    dict
        ``{"animal", "session", "target", "status": "done" | "skipped", "seconds",
        "input_hash"}``.

    The device is chosen in the task, from ``config.device``: a worker may hold a GPU that
    the process submitting the tasks does not.
    """
    t0 = time.perf_counter()
    final = Path(out_dir) / entry.animal / entry.session / target_name
    info = {"animal": entry.animal, "session": entry.session, "target": target_name}
    try:
        digest = input_hash(entry, spec, config)
        if _done(final, digest):
            return {**info, "status": "skipped", "seconds": 0.0, "input_hash": digest}
        session = load_session(**entry.load_kwargs())
        decode_session(session, spec, config, final,
                       extra_summary={"input_hash": digest, "target": target_name,
                                      "manifest_entry": entry.as_dict(),
                                      "behaviour": _behaviour(session)})
    except OutputError:
        raise                                     # the folder's problem, not the input's
    except Exception:
        _remove_folder(final)
        raise
    return {**info, "status": "done", "seconds": time.perf_counter() - t0,
            "input_hash": digest}


class CohortRun:
    """Outcome of :func:`run_cohort`: task results, failures, and the tables' paths."""

    def __init__(self, results: list[dict], failures: list[dict], files: list[Path],
                 seconds: float, scheduler: str):
        self.results = results
        self.failures = failures
        self.files = files
        self.seconds = seconds
        self.scheduler = scheduler

    @property
    def n_done(self) -> int:
        return sum(r["status"] == "done" for r in self.results)

    @property
    def n_skipped(self) -> int:
        return sum(r["status"] == "skipped" for r in self.results)


def _require_dask():
    """``dask.distributed``, or one line naming the install command where Dask is missing
    (before anything runs)."""
    try:
        return importlib.import_module("dask.distributed")
    except Exception as exc:
        raise ParameterError(f"Dask is not usable here ({exc})", field="--scheduler",
                             fix='pip install "gpudecode[dask]", or pass --scheduler synchronous'
                             ) from None


def _client(scheduler: str, n_workers: int | None):
    """A Dask client for ``scheduler`` (``local``, ``cuda``, or ``tcp://host:port``), its
    cluster (None for an address) and ``dask.distributed.as_completed``."""
    distributed = _require_dask()
    Client, LocalCluster = distributed.Client, distributed.LocalCluster
    as_completed = distributed.as_completed
    if scheduler.startswith("tcp://"):
        try:
            return Client(scheduler, timeout="10s"), None, as_completed
        except Exception as exc:
            raise ParameterError(f"cannot reach the Dask scheduler at {scheduler} ({exc})",
                                 field="--scheduler",
                                 fix="start it (dask scheduler) or check the address") from None
    if scheduler == "cuda":
        try:
            from dask_cuda import LocalCUDACluster
        except Exception as exc:
            raise ParameterError(f"dask-cuda is not usable here ({exc})", field="--scheduler",
                                 fix="pip install 'gpudecode[gpu,dask]' on a GPU node, or "
                                     "use --scheduler local") from None
        cluster = LocalCUDACluster()
        return Client(cluster), cluster, as_completed
    n = n_workers or max(1, os.cpu_count() or 1)
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster), cluster, as_completed


def _check_scheduler(scheduler: str) -> str:
    if scheduler in ("local", "synchronous", "cuda") or scheduler.startswith("tcp://"):
        return scheduler
    raise ParameterError(f"unknown scheduler {scheduler!r}", field="--scheduler",
                         fix="use local, synchronous, cuda, or an address tcp://host:port")


def _failure(info: dict, exc: BaseException) -> dict:
    text = " ".join(str(exc).split()) or repr(exc)
    return {**info, "error_type": type(exc).__name__, "error": text}


def _check_cohort_out(out: Path, entries, targets: list[str], manifest) -> None:
    """No input may be a file the cohort writes (a table, or inside a session folder)."""
    written = [out / name for name in (*COHORT_TABLES, "report.html", "figures")]
    written += [out / e.animal / e.session / t for e in entries for t in targets]
    inputs = [] if manifest is None else [Path(manifest)]
    for e in entries:
        inputs += [p for p in (e.traces, e.events, e.sync_pulses, e.registration)
                   if p is not None]
    for p in inputs:
        for w in written:
            if is_inside(p, w):
                raise OutputError(f"the input {p} would be overwritten by the cohort's {w}",
                                  path=out, field="--out",
                                  fix="choose another --out, or move the input out of it")


def _clean_session_leftovers(out: Path, jobs) -> None:
    """Temporary folders of tasks killed mid-write (this version's and older ones')."""
    for e, name, _ in jobs:
        final = out / e.animal / e.session / name
        clean_leftovers(final)
        for pattern in (f".{name}.tmp-*", f".{name}.old-*", f".{name}.gone-*"):
            for stale in final.parent.glob(pattern):
                shutil.rmtree(stale, ignore_errors=True)


def run_cohort(manifest, out_dir, targets, config, *, scheduler: str = "local",
               n_workers: int | None = None,
               progress: Callable[[int, int, dict], None] | None = None,
               n_permutations_trend: int = 10000) -> CohortRun:
    """Decode every session x target of a manifest and write the cohort tables.

    Parameters
    ----------
    manifest : path or list of ManifestEntry
    out_dir : path
    targets : list of (name, TrialSpec)
        What to decode in every session (named targets, or one custom spec).
    config : DecodeConfig
        The decode plan run for every session x target.
    scheduler : {"local", "synchronous", "cuda"} or "tcp://host:port"
        ``local``: a ``distributed.LocalCluster`` of worker processes (``n_workers``,
        default one per core); ``synchronous``: in this process, one at a time;
        ``cuda``: ``dask_cuda.LocalCUDACluster``, one worker per GPU; an address: an
        existing cluster.
    progress : callable(done, total, result), optional
        Called as each task finishes (or fails).

    Returns
    -------
    CohortRun

    Raises
    ------
    OutputError
        Before any session runs: ``out_dir`` is a file or read-only, another run holds it,
        or an input would be overwritten. A full disk while writing the tables.

    Notes
    -----
    A session that fails for any reason (an ``Exception``: bad input, a bug, a lost worker)
    is listed in ``failures.csv`` and the others go on; ``KeyboardInterrupt`` stops the run.
    """
    scheduler = _check_scheduler(scheduler)
    entries = read_manifest(manifest) if not isinstance(manifest, list) else manifest
    if not targets:
        raise ParameterError("no target to decode", field="--target",
                             fix="pass --target outcome (or --anchor with label options)")
    if scheduler != "synchronous":
        _require_dask()                          # before anything is written
    out = check_writable_folder(out_dir, what="the cohort folder")
    target_names = [name for name, _ in targets]
    _check_cohort_out(out, entries, target_names,
                      None if isinstance(manifest, list) else manifest)
    with writing_results(out):
        out.mkdir(parents=True, exist_ok=True)
    with FolderLock(out / LOCK_NAME, out):
        return _run_locked(manifest, entries, out, targets, config, scheduler, n_workers,
                           progress, n_permutations_trend)


def _run_locked(manifest, entries, out, targets, config, scheduler, n_workers, progress,
                n_permutations_trend) -> CohortRun:
    jobs = [(e, name, spec) for e in entries for name, spec in targets]
    with writing_results(out):
        _clean_session_leftovers(out, jobs)
    t0 = time.perf_counter()
    results, failures = [], []

    def record(job, result=None, exc=None):
        entry, name, _ = job
        info = {"animal": entry.animal, "session": entry.session, "target": name}
        if exc is not None:
            failures.append(_failure(info, exc))
            result = {**info, "status": "failed", "error": failures[-1]["error"]}
        results.append(result)
        if progress is not None:
            progress(len(results), len(jobs), result)

    if scheduler == "synchronous":
        for job in jobs:
            try:
                result = session_task(job[0], job[1], job[2], config, str(out))
            except Exception as exc:  # every failing session is recorded; Ctrl-C stops
                record(job, exc=exc)
            else:
                record(job, result)
    else:
        client, cluster, as_completed = _client(scheduler, n_workers)
        try:
            futures = {client.submit(session_task, e, name, spec, config, str(out),
                                     key=f"gpudecode-{e.animal}-{e.session}-{name}-"
                                         f"{uuid.uuid4().hex[:6]}", pure=False): (e, name, spec)
                       for e, name, spec in jobs}
            for fut in as_completed(futures):
                job = futures[fut]
                try:
                    result = fut.result()
                except Exception as exc:  # a worker's error or a lost worker
                    record(job, exc=exc)
                else:
                    record(job, result)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    seconds = time.perf_counter() - t0
    current = {_session_key(r["animal"], r["session"], r["target"]): r["input_hash"]
               for r in results if r.get("status") in ("done", "skipped")}
    with writing_results(out):
        files, session_runs = _collect(out, entries, [name for name, _ in targets], config,
                                       failures=failures, n_permutations=n_permutations_trend,
                                       current=current)
        summary = {"command": "cohort", "run_id": new_run_id(),
                   "manifest": str(manifest) if not isinstance(manifest, list) else None,
                   "n_sessions": len(entries), "targets": [n for n, _ in targets],
                   "config": config.as_dict(), "scheduler": scheduler, "n_workers": n_workers,
                   "n_tasks": len(jobs), "n_done": sum(r["status"] == "done" for r in results),
                   "n_skipped": sum(r["status"] == "skipped" for r in results),
                   "n_failed": len(failures), "seconds": seconds,
                   "device": _device(config.device),
                   "tasks": results,
                   "file_manifest": file_manifest(out, [p.name for p in files]),
                   "session_runs": session_runs}
        write_summary(out / "cohort.json", summary)
    files.append(out / "cohort.json")
    return CohortRun(results, failures, files, seconds, scheduler)


def _device(device: str) -> dict:
    """The device this machine resolves ``device`` to (workers on other hosts may differ)."""
    try:
        return Backend.from_device(device).as_dict()
    except GpudecodeError as exc:
        return {"name": device, "reason": str(exc)}


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def collect_cohort(out_dir, entries, targets: list[str], config, *, failures=(),
                   n_permutations: int = 10000, current: dict | None = None) -> list[Path]:
    """Build the cohort tables from the complete, current session folders.

    Parameters
    ----------
    current : dict, optional
        ``"animal/session/target" -> input hash`` of the sessions this run finished or found
        done; only folders whose ``summary.json`` has that hash go into the tables. Default:
        the hash of each entry's inputs now (read in full).

    Returns
    -------
    list of Path
        The tables written. Tables this run has no rows for (``stability.csv``,
        ``pair_overlap.csv``) are removed, so none is left from an earlier run.
    """
    return _collect(out_dir, entries, targets, config, failures=failures,
                    n_permutations=n_permutations, current=current)[0]


def _collect(out_dir, entries, targets: list[str], config, *, failures=(),
             n_permutations: int = 10000, current: dict | None = None
             ) -> tuple[list[Path], dict]:
    out = Path(out_dir)
    failures = list(failures)
    cohort_rows, cell_rows = [], []
    session_runs: dict[str, str] = {}
    sig_by_animal: dict[str, list] = {}
    pairs_by_animal: dict[str, list] = {}
    for entry in entries:
        reg = read_registration(entry.registration) if entry.registration else None
        for target in targets:
            folder = out / entry.animal / entry.session / target
            key = _session_key(entry.animal, entry.session, target)
            if current is not None and key not in current:
                continue                          # failed in this run (see failures.csv)
            try:
                with open(folder / "summary.json") as fh:
                    summary = json.load(fh)
                want = (current[key] if current is not None else
                        input_hash(entry, summary["trial_spec"], config))
                if summary.get("input_hash") != want:
                    continue                      # from other inputs or parameters
                cells = (_read_csv(folder / "cells.csv") if (folder / "cells.csv").exists()
                         else [])
                models = _read_csv(folder / "models.csv")
                pairs_rows = (_read_csv(folder / "pairs.csv") if (folder / "pairs.csv").exists()
                              else None)
            except (OSError, ValueError, KeyError) as exc:
                if current is not None:           # finished this run, unreadable now
                    failures.append(_failure({"animal": entry.animal,
                                              "session": entry.session, "target": target},
                                             exc))
                continue
            session_runs[key] = summary.get("run_id")
            pct = summary.get("behaviour", {}).get("percent_correct")
            n_trials = ";".join(f"{k}:{v}" for k, v in summary.get("trial_counts", {}).items())
            sig_ids = {r["cell_id"] for r in cells if r.get("significant") == "True"}
            day = "" if entry.day is None else entry.day
            base = {"animal": entry.animal, "session": entry.session, "day": day,
                    "target": target}
            for r in cells:
                cohort_id = reg.get(str(r["cell_id"]), "") if reg is not None else ""
                cell_rows.append({**base, "cohort_cell_id": cohort_id, **r})
            for m in models:
                cohort_rows.append({**base, "analysis": m["analysis"],
                                    "classifier": m["classifier"],
                                    "accuracy": _num(m["test_accuracy"]),
                                    "balanced_accuracy": _num(m["balanced_accuracy"]),
                                    "p_value": _num(m["p_value"]),
                                    "n_significant_cells": len(sig_ids),
                                    "percent_correct": _num(pct), "n_trials": n_trials})
            if reg is not None:
                registered = {reg[c] for c in (r["cell_id"] for r in cells) if c in reg}
                sig_by_animal.setdefault(f"{entry.animal}|{target}", []).append({
                    "session": entry.session, "cells": registered,
                    "significant": {reg[c] for c in sig_ids if c in reg}})
                if pairs_rows is not None:
                    pairs = [(reg.get(p["cell_id_i"]), reg.get(p["cell_id_j"]))
                             for p in pairs_rows]
                    pairs = [p for p in pairs if None not in p]
                    pairs_by_animal.setdefault(f"{entry.animal}|{target}", []).append({
                        "session": entry.session, "cells": registered, "pairs": pairs})
    files = []
    write_csv(out / "cohort.csv", cohort_rows, COHORT_COLUMNS)
    files.append(out / "cohort.csv")
    cell_cols = ("animal", "session", "day", "target", "cohort_cell_id", "cell", "cell_id",
                 "classifier", "test_accuracy", "balanced_accuracy", "cv_accuracy",
                 "n_above_threshold", "p_value", "q_value", "significant")
    write_csv(out / "cells.csv", cell_rows, cell_cols)
    files.append(out / "cells.csv")
    learning = []
    measured = [r for r in cohort_rows if np.isfinite(r["accuracy"])]
    if measured:
        for measure in ("accuracy", "balanced_accuracy", "n_significant_cells"):
            for row in trend_test(measured, measure, n_permutations=n_permutations,
                                  seed=config.seed):
                learning.append({**row, "measure": measure})
    cols = tuple(dict.fromkeys(("scope", "target", "analysis", "classifier", "measure",
                                *LEARNING_COLUMNS)))
    write_csv(out / "learning.csv", learning, cols)
    files.append(out / "learning.csv")
    for name, data, fn in (("stability.csv", sig_by_animal, cell_stability),
                           ("pair_overlap.csv", pairs_by_animal, pair_overlap)):
        rows = []
        for key, sessions in data.items():
            animal, target = key.split("|", 1)
            if len(sessions) < 2:
                continue
            kwargs = {"top_k": 20} if fn is pair_overlap else {}
            for row in fn({animal: sessions}, n_permutations=min(n_permutations, 2000),
                          seed=config.seed, **kwargs):
                if row.get("scope") != "all":
                    rows.append({"target": target, **row})
        if rows:
            write_csv(out / name, rows, tuple(rows[0]))
            files.append(out / name)
        else:
            (out / name).unlink(missing_ok=True)      # none left from an earlier run
    write_csv(out / "failures.csv", failures, FAILURE_COLUMNS)
    files.append(out / "failures.csv")
    return files, session_runs


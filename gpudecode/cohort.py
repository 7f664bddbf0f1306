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

Each task writes its folder under a temporary name and renames it into place, so a session
folder is either complete or absent. Its ``summary.json`` records ``input_hash``: a hash of
the input files (path, size, modification time), the trial spec, the decode parameters and
the gpudecode version. A rerun skips folders whose hash matches and redoes the others, so
killing a run at any moment loses at most the sessions in flight.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import GpudecodeError, ParameterError

__all__ = ["COHORT_COLUMNS", "CohortRun", "run_cohort", "input_hash", "collect_cohort",
           "session_task", "SCHEDULERS"]

COHORT_COLUMNS = ("animal", "session", "day", "target", "analysis", "classifier", "accuracy",
                  "balanced_accuracy", "p_value", "n_significant_cells", "percent_correct",
                  "n_trials")
FAILURE_COLUMNS = ("animal", "session", "target", "error_type", "error")
SCHEDULERS = ("local", "synchronous", "tcp://HOST:PORT", "cuda")


def _file_fingerprint(path) -> list:
    if path is None:
        return [None]
    p = Path(path)
    if p.is_dir():
        return [[str(f.relative_to(p)), f.stat().st_size, f.stat().st_mtime_ns]
                for f in sorted(p.rglob("*")) if f.is_file()]
    st = p.stat()
    return [str(p.resolve()), st.st_size, st.st_mtime_ns]


def input_hash(entry, spec, config) -> str:
    """Hash of what determines a session's results: files, trial spec, parameters, version."""
    from . import __version__
    files = [_file_fingerprint(getattr(entry, k)) for k in
             ("traces", "events", "sync_pulses", "registration")]
    blob = json.dumps({"files": files, "load": {k: str(v) for k, v in
                                                entry.load_kwargs().items()},
                       "spec": asdict(spec), "config": config.as_dict(),
                       "version": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _behaviour(session) -> dict:
    """Percent correct of the session's choices (``Correct`` / ``Incorrect`` events)."""
    counts = session.events.counts()
    n_c, n_i = counts.get("Correct", 0), counts.get("Incorrect", 0)
    pct = 100.0 * n_c / (n_c + n_i) if n_c + n_i else float("nan")
    return {"percent_correct": pct, "n_correct": n_c, "n_incorrect": n_i}


def _done(folder: Path, digest: str) -> bool:
    try:
        with open(folder / "summary.json") as fh:
            return json.load(fh).get("input_hash") == digest
    except (OSError, ValueError):
        return False


def session_task(entry, target_name: str, spec, config, out_dir: str) -> dict:
    """Decode one session x target into ``out_dir/<animal>/<session>/<target>`` (a Dask task).

    Returns
    -------
    dict
        ``{"animal", "session", "target", "status": "done" | "skipped", "seconds"}``.
    """
    from .backend import Backend
    from .io import load_session
    from .pipeline import decode_session

    t0 = time.perf_counter()
    final = Path(out_dir) / entry.animal / entry.session / target_name
    digest = input_hash(entry, spec, config)
    info = {"animal": entry.animal, "session": entry.session, "target": target_name}
    if _done(final, digest):
        return {**info, "status": "skipped", "seconds": 0.0}
    session = load_session(**entry.load_kwargs())
    tmp = final.parent / f".{target_name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        decode_session(session, spec, config, tmp, backend=Backend.from_device(config.device),
                       extra_summary={"input_hash": digest, "target": target_name,
                                      "manifest_entry": entry.as_dict(),
                                      "behaviour": _behaviour(session)})
        if final.exists():
            old = final.parent / f".{target_name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return {**info, "status": "done", "seconds": time.perf_counter() - t0}


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


def _client(scheduler: str, n_workers: int | None):
    """A Dask client for ``scheduler`` (``local``, ``cuda``, or ``tcp://host:port``), its
    cluster (None for an address) and ``dask.distributed.as_completed``."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except Exception as exc:
        raise ParameterError(f"Dask is not usable here ({exc})", field="--scheduler",
                             fix='pip install "gpudecode[dask]", or pass --scheduler synchronous'
                             ) from None
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
    text = str(exc).replace("\n", " ")
    return {**info, "error_type": type(exc).__name__, "error": text}


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
    """
    from .manifest import read_manifest

    scheduler = _check_scheduler(scheduler)
    entries = read_manifest(manifest) if not isinstance(manifest, list) else manifest
    if not targets:
        raise ParameterError("no target to decode", field="--target",
                             fix="pass --target outcome (or --anchor with label options)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(e, name, spec) for e in entries for name, spec in targets]
    for e, name, _ in jobs:                     # leftovers of a run killed mid-write
        for stale in (out / e.animal / e.session).glob(f".{name}.*-*"):
            shutil.rmtree(stale, ignore_errors=True)
    t0 = time.perf_counter()
    results, failures = [], []

    def record(job, result=None, exc=None):
        entry, name, _ = job
        info = {"animal": entry.animal, "session": entry.session, "target": name}
        if exc is not None:
            failures.append(_failure(info, exc))
            result = {**info, "status": "failed", "error": str(exc)}
        results.append(result)
        if progress is not None:
            progress(len(results), len(jobs), result)

    if scheduler == "synchronous":
        for job in jobs:
            try:
                record(job, session_task(job[0], job[1], job[2], config, str(out)))
            except (GpudecodeError, OSError, ValueError, RuntimeError) as exc:
                record(job, exc=exc)
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
                    record(job, fut.result())
                except Exception as exc:  # a worker's error or a lost worker
                    record(job, exc=exc)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    seconds = time.perf_counter() - t0
    files = collect_cohort(out, entries, [name for name, _ in targets], config,
                           failures=failures, n_permutations=n_permutations_trend)
    summary = {"command": "cohort", "manifest": str(manifest) if not isinstance(manifest, list)
               else None, "n_sessions": len(entries), "targets": [n for n, _ in targets],
               "config": config.as_dict(), "scheduler": scheduler, "n_workers": n_workers,
               "n_tasks": len(jobs), "n_done": sum(r["status"] == "done" for r in results),
               "n_skipped": sum(r["status"] == "skipped" for r in results),
               "n_failed": len(failures), "seconds": seconds,
               "device": _device(config.device),
               "tasks": results}
    from .outputs import write_summary
    write_summary(out / "cohort.json", summary)
    files.append(out / "cohort.json")
    return CohortRun(results, failures, files, seconds, scheduler)


def _device(device: str) -> dict:
    """The device this machine resolves ``device`` to (workers on other hosts may differ)."""
    from .backend import Backend
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
                   n_permutations: int = 10000) -> list[Path]:
    """Build the cohort tables from the finished session folders (fresh or resumed)."""
    from .learning import cell_stability, pair_overlap, trend_test
    from .manifest import read_registration
    from .outputs import write_csv

    out = Path(out_dir)
    cohort_rows, cell_rows = [], []
    sig_by_animal: dict[str, list] = {}
    pairs_by_animal: dict[str, list] = {}
    for entry in entries:
        reg = read_registration(entry.registration) if entry.registration else None
        for target in targets:
            folder = out / entry.animal / entry.session / target
            if not (folder / "summary.json").exists():
                continue
            with open(folder / "summary.json") as fh:
                summary = json.load(fh)
            pct = summary.get("behaviour", {}).get("percent_correct")
            n_trials = ";".join(f"{k}:{v}" for k, v in summary.get("trial_counts", {}).items())
            cells = _read_csv(folder / "cells.csv") if (folder / "cells.csv").exists() else []
            sig_ids = {r["cell_id"] for r in cells if r.get("significant") == "True"}
            day = "" if entry.day is None else entry.day
            base = {"animal": entry.animal, "session": entry.session, "day": day,
                    "target": target}
            for r in cells:
                cohort_id = reg.get(str(r["cell_id"]), "") if reg is not None else ""
                cell_rows.append({**base, "cohort_cell_id": cohort_id, **r})
            for m in _read_csv(folder / "models.csv"):
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
                if (folder / "pairs.csv").exists():
                    pairs = [(reg.get(p["cell_id_i"]), reg.get(p["cell_id_j"]))
                             for p in _read_csv(folder / "pairs.csv")]
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
    from .learning import LEARNING_COLUMNS
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
    write_csv(out / "failures.csv", list(failures), FAILURE_COLUMNS)
    files.append(out / "failures.csv")
    return files


"""Benchmarks: gpudecode against the study's scikit-learn loop, on one simulated session,
and a simulated cohort on 1 Dask worker vs N.

Timings are reported as ratios measured in the same run; nothing here is asserted in tests.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sklearn.model_selection import cross_val_score

from .backend import Backend
from .classifiers import BATCHED_CLASSIFIERS, parse_classifiers
from .cohort import run_cohort
from .errors import ParameterError
from .estimators import make_pipeline
from .features import window_features
from .pipeline import DecodeConfig
from .simulate import simulate_cohort, simulate_session, write_simulation
from .single_cell import decode_cells
from .splits import SplitPlan
from .targets import resolve_targets
from .trials import Epochs, TrialSpec, make_epochs

__all__ = [
    "SKLEARN_EQUIVALENTS",
    "bench_cohort",
    "bench_single_cell",
    "sklearn_study_loop",
    "study_session",
]


# The classifiers whose batched kernel the study loop can compare with scikit-learn, fit for fit.
SKLEARN_EQUIVALENTS = tuple(n for n, c in BATCHED_CLASSIFIERS.items() if c.fit_for_fit)


def study_session(n_cells: int = 109, n_trials: int = 36, n_frames: int = 64, seed: int = 0):
    """A simulated session cut to the study's shape: trials x cells x ``n_frames`` frames.

    Returns
    -------
    Epochs
        ``n_trials`` trials (Correct vs Incorrect, correction trials excluded).
    """
    sess, _ = simulate_session(n_cells=n_cells, n_trials=n_trials, session_index=4, seed=seed)
    half = n_frames / 2 / sess.frame_rate
    spec = TrialSpec(anchors=("Correct", "Incorrect"), pre=half, post=half,
                     exclude_events=("Start Correction Trial",), exclude_within=12.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = make_epochs(sess, spec)
    if ep.n_frames != n_frames:
        ep = Epochs(ep.data[:, :, :n_frames], ep.labels, ep.times[:n_frames], ep.trials,
                    ep.cell_ids, ep.dropped, ep.spec, ep.frame_interval)
    return ep


def sklearn_study_loop(X: np.ndarray, plan: SplitPlan, classifiers, params: dict | None = None,
                       n_cells: int | None = None, *, null: bool = False):
    """The study's loop: per cell and shuffle, fit + score, and ``cross_val_score`` on 5 folds.

    The loop is the study's (one scikit-learn fit per cell x split x classifier, test score
    plus cross_val_score on the training part) but it takes its splits from ``plan`` so the
    accuracies can be compared problem by problem, and it standardises inside a pipeline as
    gpudecode does. With ``null``, every permuted label set of ``plan.Y_`` is also fit on
    each shuffle's training trials and scored on its test trials, as the permutation null a
    user's loop computes (those scores are not returned; they count in ``n_fits``).

    Parameters
    ----------
    X : ndarray, shape (n_cells, n_trials, n_features)
    plan : SplitPlan (fitted)
    classifiers : list of str
    n_cells : int, optional
        Only the first ``n_cells`` cells (to time a subset).

    Returns
    -------
    test_acc : ndarray, shape (n_classifiers, n_cells, n_shuffles)
    cv_acc : ndarray, shape (n_classifiers, n_cells, n_shuffles)
        Mean CV accuracy per shuffle.
    n_fits : int
        Fits made, the permuted ones included.
    """
    parse_classifiers(classifiers)  # a typed error for a name without a batched kernel
    params = params or {}
    y = plan.Y_[0]
    n_cells = X.shape[0] if n_cells is None else n_cells
    S = plan.n_shuffles
    test_acc = np.empty((len(classifiers), n_cells, S))
    cv_acc = np.empty((len(classifiers), n_cells, S))
    n_fits = 0
    cv_slots = plan.cv_slots
    for ki, name in enumerate(classifiers):
        for c in range(n_cells):
            for s, slot in enumerate(plan.test_slots):
                tr = plan.train_idx_[slot, :plan.n_train_[slot]]
                te = plan.test_idx_[slot, :plan.n_test_[slot]]
                clf = make_pipeline(name, standardize=True, params=params.get(name))
                clf.fit(X[c, tr], y[tr])
                test_acc[ki, c, s] = clf.score(X[c, te], y[te])
                for labels in plan.Y_[1:] if null else ():
                    make_pipeline(name, standardize=True, params=params.get(name)).fit(
                        X[c, tr], labels[tr]).score(X[c, te], labels[te])
                    n_fits += 1
                pos = {t: i for i, t in enumerate(tr)}
                folds = [(np.array([pos[t] for t in plan.train_idx_[f, :plan.n_train_[f]]]),
                          np.array([pos[t] for t in plan.test_idx_[f, :plan.n_test_[f]]]))
                         for f in cv_slots[s]]
                cv_acc[ki, c, s] = cross_val_score(
                    make_pipeline(name, standardize=True, params=params.get(name)),
                    X[c, tr], y[tr], cv=folds).mean()
                n_fits += 1 + len(folds)
    return test_acc, cv_acc, n_fits


def bench_single_cell(*, n_cells: int = 109, n_trials: int = 36, n_frames: int = 64,
                      window: int = 4, shuffles: int = 50, folds: int = 5,
                      classifiers=("linear-svm", "logistic", "tree"), permutations: int = 1000,
                      baseline_cells: int | None = None, device: str = "auto", seed: int = 0,
                      params: dict | None = None) -> dict:
    """Time gpudecode and the study's loop on the same session and the same splits.

    Returns a dict with seconds, fits per second, the ratio, the largest per-cell accuracy
    difference, and the permutation workload's time.
    """
    backend = Backend.from_device(device)
    ep = study_session(n_cells, n_trials, n_frames, seed)
    plan = SplitPlan(n_shuffles=shuffles, n_folds=folds, seed=seed).fit(ep.labels)
    classifiers = list(classifiers)
    # Warm-up compiles the kernels, so compile time is not counted as throughput.
    two_cells = Epochs(ep.data[:, :2], ep.labels, ep.times, ep.trials, ep.cell_ids[:2],
                       ep.dropped, ep.spec, ep.frame_interval)
    decode_cells(two_cells, plan, classifiers=classifiers, window_frames=window,
                 backend=backend, params=params)
    t = time.perf_counter()
    res = decode_cells(ep, plan, classifiers=classifiers, window_frames=window,
                       backend=backend, params=params)
    ours_s = time.perf_counter() - t
    X = window_features(ep, window, 1, backend)
    n_base = X.shape[0] if baseline_cells is None else min(baseline_cells, X.shape[0])
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk_test, sk_cv, _n_fits_base = sklearn_study_loop(X, plan, classifiers, params, n_base)
    base_s = (time.perf_counter() - t) * (X.shape[0] / n_base)
    n_fits = len(classifiers) * X.shape[0] * plan.n_slots
    ours_cv = res.cv_accuracy.mean(-1)
    out = {
        "device": backend.reason, "n_cells": int(X.shape[0]), "n_trials": int(ep.n_trials),
        "n_features": int(X.shape[2]), "shuffles": shuffles, "folds": folds,
        "classifiers": classifiers, "n_fits": int(n_fits),
        "gpudecode_s": ours_s, "sklearn_s": base_s,
        "sklearn_extrapolated_from_cells": None if n_base == X.shape[0] else n_base,
        "gpudecode_fits_per_s": n_fits / ours_s, "sklearn_fits_per_s": n_fits / base_s,
        "speedup": base_s / ours_s,
        "max_abs_diff_cell_test_accuracy": float(np.abs(
            res.test_accuracy[:, :n_base].mean(-1) - sk_test.mean(-1)).max()),
        "max_abs_diff_cell_cv_accuracy": float(np.abs(
            ours_cv[:, :n_base].mean(-1) - sk_cv.mean(-1)).max()),
        "per_classifier_s": {k: v for k, v in res.timing.items() if k.endswith("_s")},
    }
    if permutations:
        pplan = SplitPlan(n_shuffles=shuffles, n_folds=folds, n_permutations=permutations,
                          seed=seed).fit(ep.labels)
        t = time.perf_counter()
        pres = decode_cells(ep, pplan, classifiers=classifiers, window_frames=window,
                            backend=backend, params=params)
        out["permutations"] = permutations
        out["permutation_s"] = time.perf_counter() - t
        out["permutation_fits"] = pres.timing["n_problems"]
        out["permutation_fits_per_s"] = pres.timing["n_problems"] / out["permutation_s"]
    return out


@contextmanager
def _environ(name: str, value):
    """Set ``os.environ[name]`` (``None``: leave it) for the block; worker processes inherit it."""
    if value is None:
        yield
        return
    old = os.environ.get(name)
    os.environ[name] = str(value)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _cohort_run_numbers(run, started: float, finished: list[float], wall_s: float,
                        n_workers: int) -> dict:
    """Throughput of one :func:`run_cohort` call from its task results and finish times."""
    n = len(finished)
    n_done = run.n_done
    task_s = np.array([r["seconds"] for r in run.results if r.get("status") == "done"], float)
    done_s = finished[-1] - started if n else float("nan")
    out = {
        "n_workers": n_workers, "n_done": n_done, "n_failed": len(run.failures),
        "failures": list(run.failures), "wall_s": wall_s, "sessions_done_s": done_s,
        "sessions_per_min": 60.0 * n_done / wall_s if wall_s > 0 else float("nan"),
        "first_session_s": finished[0] - started if n else float("nan"),
        "session_s_median": float(np.median(task_s)) if task_s.size else float("nan"),
        "session_s_mean": float(task_s.mean()) if task_s.size else float("nan"),
        "session_s_max": float(task_s.max()) if task_s.size else float("nan"),
        "steady_sessions_per_min": None, "steady_session_s": None,
    }
    # Every worker compiles the kernels in its first session: count from the moment the
    # first n_workers sessions have finished.
    if n > n_workers:
        span = finished[-1] - finished[n_workers - 1]
        if span > 0:
            out["steady_sessions_per_min"] = 60.0 * (n - n_workers) / span
            out["steady_session_s"] = span * n_workers / (n - n_workers)
    return out


def bench_cohort(*, n_animals: int = 8, n_sessions: int = 14, n_cells: int = 200,
                 n_trials: int = 36, workers=None, targets="object",
                 analyses="single-cell", classifiers="linear-svm,logistic,tree",
                 population_classifiers="linear-svm", window: int = 4, step: int = 1,
                 shuffles: int = 50, folds: int = 5, permutations: int = 0,
                 device: str = "auto", seed: int = 0, numba_threads: int | None = None,
                 work_dir=None, progress=None) -> dict:
    """Decode a simulated cohort with ``run_cohort`` on 1 Dask worker, then on N.

    The cohort (``n_animals`` x ``n_sessions`` sessions of ``n_cells`` cells, gpudecode
    HDF5 files and a manifest) is written once; each worker count then runs the same decode
    plan into a fresh output folder on a ``distributed.LocalCluster`` of that many worker
    processes (one thread each). Every worker process compiles the Numba kernels in its
    first session, so besides the plain rate (sessions / wall time, cluster start and the
    cohort tables included) a *steady* rate is given: sessions finished after the first
    ``n_workers`` ones, over the time since.

    Parameters
    ----------
    n_animals, n_sessions, n_cells, n_trials : int
        Size of the simulated cohort (:func:`gpudecode.simulate.simulate_cohort`).
    workers : list of int, optional
        Worker counts to time, in order; default ``[1, os.cpu_count()]``.
    targets : str
        Named targets decoded in every session (comma-separated). The default, ``object``
        (3 classes, equal counts by design), decodes in every session; ``outcome`` fails
        the 5-fold check on late sessions, which have fewer than 5 incorrect trials of 36.
    analyses, classifiers, population_classifiers, window, step, shuffles, folds,
    permutations, device, seed
        The decode plan (:class:`gpudecode.pipeline.DecodeConfig`).
    numba_threads : int, optional
        ``NUMBA_NUM_THREADS`` for the worker processes; default: Numba's (one per core,
        in every worker).
    work_dir : path, optional
        Keep the cohort and the outputs here (``data/``, ``run-<n>-workers/``); default a
        temporary folder, removed afterwards.
    progress : callable(str), optional
        Called with a line of text at each stage.

    Returns
    -------
    dict
        ``device``, ``cpu``, ``n_cores``, the cohort size and decode plan, ``runs`` (one dict
        per worker count: ``wall_s``, ``sessions_per_min``, ``steady_sessions_per_min``,
        ``first_session_s``, ``session_s_median``, ``session_s_mean``...), ``scaling`` and
        ``steady_scaling`` (rate of the last worker count over the first), and
        ``identical_models`` (every session's ``models.csv`` the same in every run).
    """
    say = progress or (lambda text: None)
    workers = [1, max(1, os.cpu_count() or 1)] if workers is None else [int(w) for w in workers]
    if not workers or min(workers) < 1:
        raise ParameterError(f"worker counts must be >= 1, got {workers!r}", field="--workers",
                             fix="pass e.g. --workers 1,4")
    config = DecodeConfig(analyses=analyses, classifiers=classifiers,
                          population_classifiers=population_classifiers,
                          window_frames=window, step_frames=step, shuffles=shuffles, folds=folds, permutations=permutations,
                          seed=seed, device=device)
    backend = Backend.from_device(device)
    chosen = [(t.name, t.spec) for t in resolve_targets(targets)]
    with tempfile.TemporaryDirectory(prefix="gpudecode-bench-cohort-") as tmp:
        root = Path(work_dir) if work_dir is not None else Path(tmp)
        t = time.perf_counter()
        say(f"simulating {n_animals} animals x {n_sessions} sessions x {n_cells} cells")
        sims = simulate_cohort(n_animals=n_animals, n_sessions=n_sessions, seed=seed,
                               n_cells=n_cells, n_trials=n_trials)
        write_simulation(root / "data", sims, formats=("h5",))
        sessions = [(s.animal, s.session) for s, _ in sims]
        del sims
        simulate_s = time.perf_counter() - t
        runs, models = [], []
        for w in workers:
            out_dir = root / f"run-{w}-workers"
            finished: list[float] = []

            def tick(done, total, result, _w=w, _finished=finished):
                _finished.append(time.perf_counter())
                say(f"{_w} worker(s): {done}/{total} {result['animal']}/{result['session']} "
                    f"{result['status']}")

            say(f"decoding on {w} worker(s)")
            with _environ("NUMBA_NUM_THREADS", numba_threads):
                started = time.perf_counter()
                run = run_cohort(root / "data" / "manifest.csv", out_dir, chosen, config,
                                 scheduler="local", n_workers=w, progress=tick,
                                 n_permutations_trend=200)
                wall_s = time.perf_counter() - started
            runs.append(_cohort_run_numbers(run, started, finished, wall_s, w))
            models.append({(a, s, name): _read_bytes(out_dir / a / s / name / "models.csv")
                           for a, s in sessions for name, _ in chosen})
    rate = [r["sessions_per_min"] for r in runs]
    steady = [r["steady_sessions_per_min"] for r in runs]
    return {
        "device": backend.reason, "backend": backend.as_dict(), "cpu": _cpu_model(),
        "n_cores": os.cpu_count(), "numba_threads_per_worker": numba_threads,
        "n_animals": n_animals, "n_sessions_per_animal": n_sessions,
        "n_sessions": n_animals * n_sessions, "n_cells": n_cells, "n_trials": n_trials,
        "targets": [name for name, _ in chosen], "config": config.as_dict(),
        "simulate_s": simulate_s, "workers": workers, "runs": runs,
        "scaling": rate[-1] / rate[0] if rate[0] else float("nan"),
        "steady_scaling": (steady[-1] / steady[0]) if steady[0] and steady[-1] else None,
        "identical_models": all(m == models[0] and None not in m.values() for m in models),
    }


def _read_bytes(path: Path):
    try:
        return path.read_bytes()
    except OSError:
        return None


def _cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's processor string."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()

"""Whole-process timing: ``gpudecode decode`` as a user runs it, against the scikit-learn
loop a user would write, on one simulated session file.

Two shapes (issue 13):

- ``study``: 109 cells x 36 trials (Correct vs Incorrect), 64 frames, window 4,
  50 shuffles x (test + 5 folds), no permutations;
- ``real``: 49 cells x 120 trials, 56 frames (53 window features), 20 shuffles x
  (test + 5 folds), ``--permutations`` label permutations (default 1000).

gpudecode is timed as a process from the shell's point of view (start-up, import, loading
the cached kernels, reading the file, decoding, writing the result folder), ``--runs`` times
after one short warm-up run (2 shuffles, no permutations: it fills the Numba cache, as a
machine's first run does), medians.
The loop (per cell, classifier and shuffle: ``StandardScaler`` + estimator fit on the
training trials and scored on the test trials, ``cross_val_score`` on the same folds, one
fit per permutation on the test split's training trials) runs on the same file, the same
trials and the same splits, on ``--baseline-cells`` cells and ``--baseline-permutations``
permutations, and is scaled to the whole workload by its number of fits. The loop runs
with one BLAS thread: on these tiny problems a multi-threaded BLAS only slows it down
(LogisticRegression on 27 x 61: 4.9 ms per fit with one thread, 131 ms with the default
threads while other processes shared the 2 cores), so the baseline is the faster loop.

Usage, with the ``python`` of a venv made as README's first command makes it
(``pip install .`` of this checkout, plus ``threadpoolctl``)::

    python bench/whole_process.py study
    python bench/whole_process.py real --permutations 1000 --runs 1
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from threadpoolctl import threadpool_limits

from gpudecode import Backend, SplitPlan, TrialSpec, load_session, make_epochs, window_features
from gpudecode.bench import sklearn_study_loop
from gpudecode.simulate import simulate_session, write_simulation

SHAPES = {
    "study": dict(cells=109, trials=36, frames=64, shuffles=50, permutations=0),
    "real": dict(cells=49, trials=120, frames=56, shuffles=20, permutations=1000),
}
FRAME_RATE_HZ = 30.0
WINDOW_FRAMES = 4
FOLDS = 5
CLASSIFIERS = ("linear-svm", "logistic", "tree")


def trial_spec(frames: int) -> TrialSpec:
    """Correct / Incorrect anchors, ``frames / 2`` frames each side, correction trials out."""
    half_s = frames / 2 / FRAME_RATE_HZ
    return TrialSpec(anchors=("Correct", "Incorrect"), pre=half_s, post=half_s,
                     exclude_events=("Start Correction Trial",), exclude_within=12.0)


def decode_command(path: Path, out: Path, shape: dict, classifiers, permutations: int):
    """The ``gpudecode decode`` command line a user would type for this shape."""
    spec = trial_spec(shape["frames"])
    return [str(Path(sys.executable).with_name("gpudecode")), "decode", str(path),
            "--anchor", ",".join(spec.anchors), "--pre", repr(spec.pre),
            "--post", repr(spec.post), "--exclude", ",".join(spec.exclude_events),
            "--exclude-within", repr(spec.exclude_within), "--analysis", "single-cell",
            "--classifier", ",".join(classifiers), "--window", str(WINDOW_FRAMES),
            "--shuffles", str(shape["shuffles"]), "--folds", str(FOLDS),
            "--permutations", str(permutations), "--device", "cpu", "--seed", "0",
            "--out", str(out)]


def missing_bytecode() -> list[str]:
    """gpudecode modules the timed command will compile from source, each run.

    README's first command (``pip install .``) byte-compiles the package at install. An
    editable install writes the bytecode on first import, unless ``PYTHONDONTWRITEBYTECODE``
    is set (as on the issue-13 machine): then every process compiles all of gpudecode's
    modules again, about 0.3 s of a study-shape run that the user's install does not pay.
    """
    import gpudecode.cli  # noqa: F401  (what the command imports, so cached if writable)
    import gpudecode.kernels._prep  # noqa: F401

    return [name for name in ("gpudecode.cli", "gpudecode.kernels._prep")
            if not Path(importlib.util.cache_from_source(sys.modules[name].__file__)).exists()]


def time_process(cmd) -> tuple[float, float]:
    """Wall and CPU seconds (user + sys of the process and its children) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"gpudecode decode failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def sklearn_loop(X, plan, name: str, n_cells: int) -> tuple[float, int]:
    """The loop a user writes (:func:`gpudecode.bench.sklearn_study_loop` with its permutation
    null), on the first ``n_cells`` cells; returns (seconds, fits).

    Parameters
    ----------
    X : ndarray, shape (n_cells, n_trials, n_features)
    plan : SplitPlan (fitted); row 0 of ``plan.Y_`` the observed labels, rows 1.. permuted.
    """
    t = time.perf_counter()
    _, _, fits = sklearn_study_loop(X, plan, [name], n_cells=n_cells, null=True)
    return time.perf_counter() - t, fits


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("shape", choices=sorted(SHAPES))
    ap.add_argument("--permutations", type=int, help="default: the shape's")
    ap.add_argument("--classifier", default=",".join(CLASSIFIERS))
    ap.add_argument("--runs", type=int, default=3, help="timed gpudecode runs after a warm-up")
    ap.add_argument("--baseline-cells", type=int, default=3)
    ap.add_argument("--baseline-permutations", type=int, default=20)
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    shape = dict(SHAPES[args.shape])
    P = shape["permutations"] if args.permutations is None else args.permutations
    classifiers = args.classifier.split(",")
    work = Path(tempfile.mkdtemp(prefix="gpudecode-whole-"))

    sess, truth = simulate_session(n_cells=shape["cells"], n_trials=shape["trials"],
                                   session_index=4, fs=FRAME_RATE_HZ, seed=0)
    path = write_simulation(work / "session", [(sess, truth)])[0]

    cmd = decode_command(path, work / "out", shape, classifiers, P)
    uncached = missing_bytecode()
    if uncached:
        print(f"note: no cached bytecode for {', '.join(uncached)}: the timed runs compile "
              "gpudecode from source (editable install with PYTHONDONTWRITEBYTECODE?); a "
              "`pip install .` venv, as README's first command makes, does not", file=sys.stderr)
    # Warm-up (not timed): a machine's first run compiles every kernel into Numba's cache.
    time_process(decode_command(path, work / "out", {**shape, "shuffles": 2}, classifiers, 0))
    runs = [time_process(cmd) for _ in range(args.runs)]
    ours_wall = statistics.median(w for w, _ in runs)
    ours_cpu = statistics.median(c for _, c in runs)

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = make_epochs(load_session(path), trial_spec(shape["frames"]))
    X = window_features(ep, WINDOW_FRAMES, 1, Backend.from_device("cpu"))
    load_s = time.perf_counter() - t
    P_base = min(P, args.baseline_permutations)
    plan = SplitPlan(n_shuffles=shape["shuffles"], test_size=0.25, n_folds=FOLDS,
                     n_permutations=P_base, seed=0).fit(ep.labels)
    n_cells = X.shape[0]
    k = min(args.baseline_cells, n_cells)
    total_fits = n_cells * shape["shuffles"] * (1 + FOLDS + P)
    base = {}
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        for name in classifiers:
            seconds, fits = sklearn_loop(X, plan, name, k)
            base[name] = {"seconds_measured": seconds, "fits_measured": fits,
                          "fits_per_s": fits / seconds, "fits_total": total_fits,
                          "seconds_scaled": total_fits / (fits / seconds)}
    loop_s = load_s + sum(b["seconds_scaled"] for b in base.values())
    out = {
        "shape": args.shape, "cells": int(n_cells), "trials": int(ep.n_trials),
        "features": int(X.shape[2]), "shuffles": shape["shuffles"], "folds": FOLDS,
        "permutations": P, "classifiers": classifiers, "command": "gpudecode " + " ".join(cmd[1:]),
        "bytecode_missing": uncached, "gpudecode_wall_s": ours_wall, "gpudecode_cpu_s": ours_cpu,
        "gpudecode_runs": runs, "loop_s": loop_s, "loop_load_s": load_s,
        "loop": base, "baseline_cells": k, "baseline_permutations": P_base,
        "ratio_wall": loop_s / ours_wall,
        "machine": f"{platform.processor() or platform.machine()}, "
                   f"Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(f"{args.shape}: {n_cells} cells x {ep.n_trials} trials x {X.shape[2]} features, "
          f"{shape['shuffles']} x (test + {FOLDS} folds), {P} permutations, "
          f"{', '.join(classifiers)}")
    print(f"gpudecode decode, whole process: median {ours_wall:.1f} s wall, "
          f"{ours_cpu:.1f} s CPU over {args.runs} runs (after a warm-up)")
    for name, b in base.items():
        print(f"  loop {name}: {b['fits_per_s']:.0f} fits/s (measured on {k} cells, "
              f"{P_base} permutations) -> {b['seconds_scaled']:.0f} s for {b['fits_total']} fits")
    print(f"scikit-learn loop: {loop_s:.0f} s; ratio {out['ratio_wall']:.1f}x")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()

"""Benchmark: batched per-trial correlation features vs a per-trial nilearn loop.

    python bench/bench_correlations.py                 # study scale and 500 cells x 100 trials
    python bench/bench_correlations.py --huge          # also 2,000 cells x 300 trials (2.4 GB out)
    python bench/bench_correlations.py --device gpu    # the GPU path (CuPy / numba.cuda)

The baseline is what a notebook does: for each trial, nilearn
``ConnectivityMeasure(kind="correlation", vectorize=True, discard_diagonal=True,
cov_estimator=EmpiricalCovariance(store_precision=False))`` on that trial's frames x
cells matrix: plain Pearson. (With the default ``store_precision=True`` sklearn also
pseudo-inverts every N x N covariance, which would inflate the ratio 10-1000x; it is
left out.) nilearn's default LedoitWolf estimator is timed as well, against
``estimator="ledoit-wolf"``, and so is one nilearn call on the list of all trials
(pearson). Times are the best of ``--repeats`` runs after a warm-up call (Numba
compiles once per process; that time is printed separately). Values are
compared after mapping our columns (upper triangle, row-major) to nilearn's order.
The target (DESIGN.md section 6) is a ratio of at least 20x on the CPU, same values.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time
import warnings

import numpy as np


def best_time(fn, repeats: int):
    best, result = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def nilearn_loop(x, estimator):
    from nilearn.connectome import ConnectivityMeasure

    rows = []
    for trial in x:
        cm = ConnectivityMeasure(kind="correlation", vectorize=True, discard_diagonal=True,
                                 cov_estimator=estimator)
        rows.append(cm.fit_transform([trial.T])[0])
    return np.asarray(rows)


def nilearn_list(x, estimator):
    from nilearn.connectome import ConnectivityMeasure

    cm = ConnectivityMeasure(kind="correlation", vectorize=True, discard_diagonal=True,
                             cov_estimator=estimator)
    return cm.fit_transform([trial.T for trial in x])


def make_input(n_trials, n_cells, n_frames, seed=0):
    """Random traces with shared slow components, so correlations are not all near 0."""
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((n_trials, 4, n_frames))
    loadings = rng.standard_normal((n_cells, 4)) * 0.7
    x = np.einsum("ck,tkf->tcf", loadings, shared) + rng.standard_normal((n_trials, n_cells,
                                                                          n_frames))
    return (x + 2.0).astype(np.float32)


def run_scale(name, shape, backend, repeats, nilearn_trials=None):
    from sklearn.covariance import EmpiricalCovariance

    from gpudecode.correlations import compute_correlations, nilearn_columns

    n_trials, n_cells, n_frames = shape
    x = make_input(*shape)
    cols = nilearn_columns(n_cells)
    t_ours, ours = best_time(lambda: compute_correlations(x, backend), repeats)
    t_ours_lw, ours_lw = best_time(
        lambda: compute_correlations(x, backend, estimator="ledoit-wolf"), repeats)

    sub = slice(None) if nilearn_trials is None else slice(0, nilearn_trials)
    xs = x[sub]
    n_ref = xs.shape[0]
    nl_repeats = 1 if n_cells * n_trials > 20000 else repeats
    pearson = EmpiricalCovariance(store_precision=False)  # no pseudo-inverse nobody uses
    t_nl, ref = best_time(lambda: nilearn_loop(xs, pearson), nl_repeats)
    t_nl_lw, ref_lw = best_time(lambda: nilearn_loop(xs, None), nl_repeats)
    t_list, _ = best_time(lambda: nilearn_list(xs, pearson), nl_repeats)
    scale = n_trials / n_ref  # nilearn timed on a subset: scale its time to all trials
    diff = float(np.abs(ours[sub][:, cols] - ref).max())
    diff_lw = float(np.abs(ours_lw[sub][:, cols] - ref_lw).max())

    print(f"\n{name}: {n_cells} cells x {n_trials} trials x {n_frames} frames "
          f"-> {ours.shape[1]} pairs per trial")
    if nilearn_trials is not None:
        print(f"  (nilearn run on the first {n_ref} trials; its time scaled x{scale:g})")
    for label, t_b, t_n, d in (("pearson (EmpiricalCovariance)", t_ours, t_nl * scale, diff),
                               ("ledoit-wolf (nilearn default)", t_ours_lw, t_nl_lw * scale,
                                diff_lw)):
        print(f"  {label:31s} batched {t_b:9.4f} s   nilearn loop {t_n:9.3f} s   "
              f"ratio {t_n / t_b:8.1f}x   max |diff| {d:.2e}")
    print(f"  {'pearson, nilearn one list call':31s} {'':17s}  nilearn list "
          f"{t_list * scale:9.3f} s   ratio {t_list * scale / t_ours:8.1f}x")
    return {"name": name, "ratio": t_nl * scale / t_ours, "diff": diff,
            "ratio_lw": t_nl_lw * scale / t_ours_lw, "diff_lw": diff_lw}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("auto", "cpu", "gpu"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--huge", action="store_true",
                        help="also 2,000 cells x 300 trials x 61 frames (nilearn on 3 trials)")
    args = parser.parse_args(argv)

    import numba

    from gpudecode.backend import Backend
    from gpudecode.correlations import compute_correlations

    backend = Backend.from_device(args.device)
    print(f"gpudecode correlation bench, {datetime.date.today()}, {platform.node()}")
    print(f"  {backend.reason}; {os.cpu_count()} CPUs; numba {numba.__version__}, "
          f"{numba.get_num_threads()} threads; numpy {np.__version__}")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for dtype in (np.float32,):
            compute_correlations(make_input(2, 6, 20).astype(dtype), backend)
            compute_correlations(make_input(2, 6, 300).astype(dtype), backend)
    print(f"  warm-up (Numba compilation): {time.perf_counter() - t0:.2f} s")

    scales = [("study", (36, 109, 61), None), ("large", (100, 500, 61), None)]
    if args.huge:
        scales.append(("huge", (300, 2000, 61), 3))
    results = [run_scale(name, shape, backend, args.repeats, sub) for name, shape, sub in scales]
    ok = all(r["ratio"] >= 20 and r["diff"] <= 1e-5 and r["diff_lw"] <= 1e-5 for r in results)
    print(f"\ntarget >= 20x with max |diff| <= 1e-5 (pearson): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

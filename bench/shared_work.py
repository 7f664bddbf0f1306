"""What sharing the label-independent work saves (issue 13, item 3).

Every batched kernel does, once per (cell, split slot) pair, the work that does not depend
on the labels (gathering and standardising the training rows, Gram or squared-distance
matrices, the train x test kernel, features presorted for the trees) and then solves every
label set (observed and permuted) on it. This script times each CPU kernel on the same
problems two ways, in one process:

- shared: one call with all ``L`` label sets (what gpudecode does);
- not shared: ``L`` calls with one label set each, so the label-independent work is
  redone for every label set (what a per-fit loop does).

The difference is what sharing saves on this shape. Kernels are compiled by a first call
that is not timed; each figure is the median of ``--repeats`` runs.

Usage::

    python bench/shared_work.py                 # 49 cells x 120 trials x 53 features
    python bench/shared_work.py --label-sets 101
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from gpudecode import Backend, SplitPlan, window_features
from gpudecode.bench import study_session
from gpudecode.kernels.forest import fit_predict_forest
from gpudecode.kernels.lda import fit_predict_lda
from gpudecode.kernels.linear_svm import fit_predict_linear_svm
from gpudecode.kernels.logistic import fit_predict_logistic
from gpudecode.kernels.rbf_svm import fit_predict_rbf_svm
from gpudecode.kernels.tree import fit_predict_tree

KERNELS = {
    "linear-svm": (fit_predict_linear_svm, {}),
    "rbf-svm": (fit_predict_rbf_svm, {}),
    "logistic": (fit_predict_logistic, {}),
    "lda": (fit_predict_lda, {}),
    "tree": (fit_predict_tree, {"random_state": 0}),
    "random-forest": (fit_predict_forest, {"random_state": 0}),
}


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=49)
    ap.add_argument("--trials", type=int, default=120)
    ap.add_argument("--frames", type=int, default=56)
    ap.add_argument("--shuffles", type=int, default=20)
    ap.add_argument("--label-sets", type=int, default=21, help="observed + permutations")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--kernels", default=",".join(KERNELS))
    args = ap.parse_args(argv)

    ep = study_session(args.cells, args.trials, args.frames, 0)
    X = np.ascontiguousarray(window_features(ep, 4, 1, Backend.from_device("cpu")),
                             dtype=np.float32)
    plan = SplitPlan(n_shuffles=args.shuffles, n_folds=5,
                     n_permutations=args.label_sets - 1, seed=0).fit(ep.labels)
    slots = plan.test_slots
    split = (plan.train_idx_[slots].astype(np.int32), plan.n_train_[slots].astype(np.int32),
             plan.test_idx_[slots].astype(np.int32), plan.n_test_[slots].astype(np.int32))
    Y = plan.Y_.astype(np.int32)
    n_classes = int(Y.max()) + 1
    L = Y.shape[0]
    print(f"{X.shape[0]} cells x {X.shape[1]} trials x {X.shape[2]} features, "
          f"{len(slots)} test slots, {L} label sets; median of {args.repeats}")
    print(f"| kernel | shared s | not shared s | saved | not-shared / shared |")
    print(f"| --- | ---: | ---: | ---: | ---: |")
    for name in args.kernels.split(","):
        fn, kw = KERNELS[name]
        fn(X[:1], Y[:2], *split, n_classes, **kw)  # compile / load from the cache
        shared = median_seconds(lambda: fn(X, Y, *split, n_classes, **kw), args.repeats)
        alone = median_seconds(
            lambda: [fn(X, Y[l:l + 1], *split, n_classes, **kw) for l in range(L)],
            args.repeats)
        print(f"| {name} | {shared:.2f} | {alone:.2f} | {1 - shared / alone:.0%} | "
              f"{alone / shared:.2f}x |", flush=True)


if __name__ == "__main__":
    main()

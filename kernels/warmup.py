"""Compile every CPU kernel into Numba's disk cache by running it once on a tiny batch.

Each group below calls the public entry points with the argument types gpudecode passes
them (float32 features, int32 labels and split indices, Python scalars), so the cached
signatures are the ones later runs look up. :func:`compile_cpu_kernels` runs the groups
in parallel child processes (compilation is single-threaded and holds a global lock, so
threads would not help), each writing to the shared cache folder; a group whose child
fails is compiled here instead. Called by :func:`gpudecode._numba_cache.warm_kernels`.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

__all__ = ["GROUPS", "child_command", "compile_group", "compile_cpu_kernels"]


def _batch(n_classes: int = 2):
    """A tiny batch: 2 cells x 12 trials x 3 features, 2 split slots, 2 label sets."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 12, 3)).astype(np.float32)
    Y = np.stack([np.arange(12) % n_classes, rng.permutation(np.arange(12) % n_classes)])
    train = np.array([np.arange(8), np.arange(4, 12)], dtype=np.int32)
    test = np.array([np.arange(8, 12), np.arange(4)], dtype=np.int32)
    counts = np.array([8, 8], dtype=np.int32), np.array([4, 4], dtype=np.int32)
    return X, Y.astype(np.int32), train, counts[0], test, counts[1], n_classes


def _logistic():
    from .logistic import fit_predict_logistic
    fit_predict_logistic(*_batch())


def _lda():
    from .lda import fit_predict_lda
    fit_predict_lda(*_batch())


def _svm():
    # rbf_svm's batch kernels (SMO for the RBF kernel, the interior point for fixed linear
    # features) and the per-cell linear SVM's own (label sets in SIMD lanes), in one
    # process: they share most per-problem functions
    from .linear_svm import fit_predict_linear_svm, fit_predict_linear_svm_fixed
    from .rbf_svm import fit_predict_rbf_svm, fit_predict_rbf_svm_fixed
    X, *rest = _batch()
    fit_predict_rbf_svm(X, *rest)
    fit_predict_rbf_svm_fixed(X[0], *rest)
    fit_predict_linear_svm(X, *rest)
    fit_predict_linear_svm_fixed(X[0], *rest)


def _tree():
    from .tree import fit_predict_tree
    fit_predict_tree(*_batch(), random_state=0)


def _forest():
    from .forest import fit_predict_forest
    fit_predict_forest(*_batch(), n_estimators=2, random_state=0)
    fit_predict_forest(*_batch(3), class_weight_balanced=True, n_estimators=2, random_state=0)


def _features():
    from .correlation import correlate_chunk, n_pairs
    from .windowing import sliding_mean
    x = np.random.default_rng(0).standard_normal((3, 4, 16)).astype(np.float32)
    sliding_mean(x, 4, 2)
    for ledoit_wolf in (False, True):
        correlate_chunk(x, np.empty((3, n_pairs(4)), dtype=np.float32), ledoit_wolf=ledoit_wolf)


GROUPS = {"svm": _svm, "tree": _tree, "forest": _forest,
          "logistic": _logistic, "lda": _lda, "features": _features}
"""Kernel groups, slowest to compile first."""

COMPILE_S = {"svm": 30, "tree": 14, "forest": 20, "logistic": 8, "lda": 6,
             "features": 4}
"""Seconds each group takes to compile on one core (2-core machine), for balancing."""


def compile_group(name: str) -> None:
    """Compile (or load from the cache) the CPU kernels of one group."""
    GROUPS[name]()


def child_command(names: list[str]) -> list[str]:
    """The command of a child compiling ``names``. It imports gpudecode from this process's
    ``sys.path``: ``python -c`` would put the working directory first, and run from a
    checkout (README's first command) it would compile the checkout's kernels, entries this
    installed package never loads."""
    code = (f"import sys\nsys.path[:] = {sys.path!r}\n"
            "from gpudecode.kernels.warmup import compile_group\n"
            "for name in sys.argv[1:]:\n    compile_group(name)\n")
    return [sys.executable, "-c", code, *names]


def _child(names: list[str]) -> subprocess.Popen:
    return subprocess.Popen(child_command(names), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def compile_cpu_kernels(processes: int | None = None) -> None:
    """Compile every group, spread over ``processes`` child processes (default: the cores).

    With one process (or one core) everything compiles here. Children share the cache
    folder through ``NUMBA_CACHE_DIR``, which :mod:`gpudecode._numba_cache` has put in the
    environment; a group a child could not compile is compiled here afterwards.
    """
    names = list(GROUPS)
    if processes is None:
        processes = min(len(names), os.cpu_count() or 1)
    processes = max(1, min(processes, len(names)))
    if processes == 1:
        for name in names:
            compile_group(name)
        return
    shares = [[] for _ in range(processes)]
    for name in names:  # longest first, each to the least loaded process
        min(shares, key=lambda share: sum(COMPILE_S[n] for n in share)).append(name)
    children = []
    try:
        for share in shares:
            try:
                children.append((share, _child(share)))
            except Exception:  # no usable interpreter path (embedded Python): compile here
                children.append((share, None))
        for share, child in children:
            if child is None or child.wait() != 0:
                for name in share:
                    compile_group(name)
    finally:  # interrupted: leave no child compiling
        for _, child in children:
            if child is not None and child.poll() is None:
                child.kill()
                child.wait()

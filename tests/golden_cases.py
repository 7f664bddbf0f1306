"""Golden decode runs: fixed simulated sessions, fixed seeds, every analysis and classifier.

``python tests/golden_cases.py`` records ``tests/golden/decode.npz``; ``test_golden.py``
recomputes the same runs and compares. Recorded before the engine redesign (issue 12) so a
refactor that changes any number fails; unchanged through it (at cada580). Re-recorded once
for issue 13, whose changes move numbers on purpose (``tests/golden_diff.py`` showed only
these slices moved): linear-svm is SVC(kernel="linear") (libsvm SMO; was liblinear's
LinearSVC(loss="hinge")) in every analysis; the random forest is a batched kernel (its own
bootstraps); in-fold selection (select_k) runs on the batched kernels with float64 F-scores
(correlation features: every classifier); democracy's base (linear-svm) and its stackers
(batched) changed. Then once more: the batched population engine gives the tree and the
forest the run's seed as the other engines do (summed tree and random-forest slices only).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from gpudecode.pipeline import DecodeConfig, decode_epochs
from gpudecode.simulate import simulate_session
from gpudecode.targets import resolve_targets
from gpudecode.trials import make_epochs

GOLDEN = Path(__file__).parent / "golden" / "decode.npz"

# (session seed, session index, target): a two-class and a three-class problem.
CASES = (
    ("outcome", 3, 6, "outcome"),
    ("location", 5, 10, "location"),
)

SINGLE_CELL = ("linear-svm", "logistic", "lda", "rbf-svm", "tree")
POPULATION = ("rbf-svm", "linear-svm", "logistic", "lda", "tree", "random-forest")


def config() -> DecodeConfig:
    """Every parameter explicit, so changed defaults do not move the golden numbers."""
    return DecodeConfig(
        analyses="all", classifiers=SINGLE_CELL, population_classifiers=POPULATION,
        window_frames=4, step_frames=2, shuffles=4, test_size=0.25, folds=3, permutations=9,
        metric="balanced", class_weight="balanced", threshold=0.8, alpha=0.05, seed=7,
        device="cpu", select_k=20, summed_window_s=None, democracy_base="linear-svm",
        time_window=8, time_step=4, time_unit="frames", generalization=False,
        n_pairs=20, n_top_cells=5)


def arrays(name: str, seed: int, session_index: int, target: str) -> dict[str, np.ndarray]:
    """The numbers of one golden run, flattened to ``{key: array}``."""
    session, _ = simulate_session(n_cells=16, n_trials=36, seed=seed,
                                  session_index=session_index)
    spec = resolve_targets([target])[0].spec
    out = decode_epochs(make_epochs(session, spec), config())
    res = {}
    sc = out.single_cell
    for key in ("test_accuracy", "test_balanced", "cv_accuracy", "null_accuracy",
                "null_balanced", "p_value", "n_above_threshold"):
        res[f"{name}/single/{key}"] = np.asarray(getattr(sc, key))
    for pop in out.population:
        for key in ("test_accuracy", "test_balanced", "cv_accuracy", "null_accuracy",
                    "null_balanced", "p_value"):
            res[f"{name}/{pop.analysis}/{key}"] = np.asarray(getattr(pop, key))
    tc = out.timecourse
    for key in ("times", "test_accuracy", "test_balanced", "cv_accuracy", "null_accuracy",
                "null_balanced", "p_value"):
        res[f"{name}/timecourse/{key}"] = np.asarray(getattr(tc, key))
    res[f"{name}/pairs"] = np.array([[r["cell_i"], r["cell_j"]] for r in out.pairs])
    return res


def compute() -> dict[str, np.ndarray]:
    res = {}
    for case in CASES:
        res.update(arrays(*case))
    return res


if __name__ == "__main__":
    GOLDEN.parent.mkdir(exist_ok=True)
    data = compute()
    np.savez_compressed(GOLDEN, **data)
    print(f"wrote {len(data)} arrays to {GOLDEN}", file=sys.stderr)

"""Small real result folders for the report tests, made once per test process.

``session_folder`` runs ``gpudecode decode --analysis all --generalization --report`` on a
simulated session with planted outcome cells; ``single_cell_folder`` runs ``gpudecode decode``
with the single-cell analysis only (no time-resolved, correlation or population results);
``cohort_folder`` runs ``gpudecode cohort --scheduler synchronous --report`` on a simulated
cohort. All go through the command line (``gpudecode.cli.main``) in this process, with tiny
settings and the LDA kernels only, so numba compiles few kernels.

The folders are shared by every test module of the process: treat them as read-only and copy
one (``shutil.copytree``) before writing into it.
"""

from __future__ import annotations

import csv
from pathlib import Path

from gpudecode.cli import main
from gpudecode.simulate import simulate_cohort, simulate_session, write_simulation

__all__ = ["SESSION_FIGURES", "cohort_folder", "session_folder", "single_cell_folder"]

# Every figure a session folder of every analysis (with --generalization) must give.
SESSION_FIGURES = frozenset({"single_cell_lda", "top_cells", "model_ranking", "time_resolved",
                             "generalization_lda", "correlation_matrix", "top_pairs"})

FAST = ["--classifier", "lda", "--population-classifier", "lda", "--democracy-base", "lda",
        "--folds", "2", "--step", "2", "--device", "cpu"]

_made: dict[str, Path] = {}


def _root(tmp_path_factory) -> Path:
    if "root" not in _made:
        _made["root"] = tmp_path_factory.mktemp("report_folders")
    return _made["root"]


def _run(argv: list[str]) -> None:
    code = main(argv)
    assert code == 0, f"gpudecode {' '.join(argv)} exited with {code}"


def _session_h5(tmp_path_factory) -> Path:
    if "h5" not in _made:
        sim = simulate_session(n_cells=10, seed=1, session_index=6, roles={"outcome": 0.3},
                               effect=4.0)
        _made["h5"] = write_simulation(_root(tmp_path_factory) / "sim", [sim],
                                       formats=("h5",))[0]
    return _made["h5"]


def session_folder(tmp_path_factory) -> Path:
    """``decode --analysis all --generalization --report``: 10 cells, 5 shuffles, 59 permutations."""
    if "session" not in _made:
        out = _root(tmp_path_factory) / "session"
        _run(["decode", str(_session_h5(tmp_path_factory)), "--anchor", "Correct,Incorrect",
              "--pre", "0.5", "--post", "1", "--analysis", "all", "--generalization",
              "--shuffles", "5", "--permutations", "59", "--time-window", "12", "--time-step", "6", *FAST, "--out", str(out), "--report"])
        _made["session"] = out
    return _made["session"]


def single_cell_folder(tmp_path_factory) -> Path:
    """``decode --analysis single-cell`` (no --report) of the same session, 10 shuffles, 99 permutations."""
    if "single" not in _made:
        out = _root(tmp_path_factory) / "single_cell"
        _run(["decode", str(_session_h5(tmp_path_factory)), "--anchor", "Correct,Incorrect",
              "--pre", "0.5", "--post", "1", "--analysis", "single-cell",
              "--shuffles", "10", "--permutations", "99", *FAST, "--out", str(out)])
        _made["single"] = out
    return _made["single"]


def cohort_folder(tmp_path_factory) -> Path:
    """``cohort --analysis single-cell,summed --report``: 2 animals x 3 sessions of 8 cells,
    plus one manifest row whose traces file is not HDF5 (a failed session)."""
    if "cohort" not in _made:
        root = _root(tmp_path_factory)
        sims = simulate_cohort(n_animals=2, n_sessions=3, seed=3, n_cells=8, n_trials=36,
                               roles={"outcome": 0.4}, effect=4.0)
        data = root / "cohort_data"
        write_simulation(data, sims, formats=("h5",))
        with open(data / "manifest.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        (data / "broken.h5").write_bytes(b"not an HDF5 file")
        rows.append({**rows[0], "session": "s09", "day": "9", "traces": "broken.h5"})
        with open(data / "manifest.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        out = root / "cohort"
        _run(["cohort", str(data / "manifest.csv"), "--out", str(out), "--target", "outcome",
              "--analysis", "single-cell,summed",
              "--shuffles", "10", "--permutations", "99", *FAST,
              "--scheduler", "synchronous", "--report"])
        _made["cohort"] = out
    return _made["cohort"]

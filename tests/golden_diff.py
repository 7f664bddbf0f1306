"""Which analysis x classifier slices of the golden runs moved, and by how much.

``python tests/golden_diff.py`` recomputes the golden runs (``golden_cases.py``) and prints,
per key, the classifiers whose slice differs from ``tests/golden/decode.npz``. A change
meant to move one classifier's numbers (a new solver) must move only that classifier's
slices (and the analyses built on it, e.g. democracy on its base classifier); re-record
with ``python tests/golden_cases.py`` only then, and say so in the commit.
"""

from __future__ import annotations

import sys

import numpy as np

from golden_cases import GOLDEN, POPULATION, SINGLE_CELL, compute

# axis 0 of every per-classifier array, by analysis (the order DecodeConfig gives them)
CLASSIFIER_AXIS = {
    "single": SINGLE_CELL,
    "summed": POPULATION,
    "correlation": POPULATION,
    "democracy": POPULATION,
    "timecourse": tuple(c for c in POPULATION if c != "random-forest"),
}


def moved_slices(recomputed: dict, golden) -> list[str]:
    lines = []
    for key in sorted(golden.files):
        old, new = golden[key], recomputed.get(key)
        if new is None or old.shape != np.shape(new):
            lines.append(f"{key}: shape {old.shape} -> {None if new is None else np.shape(new)}")
            continue
        if np.allclose(old, new, rtol=1e-9, atol=1e-12, equal_nan=True):
            continue
        parts = key.split("/")
        names = CLASSIFIER_AXIS.get(parts[1]) if len(parts) == 3 else None
        if names is None or parts[2] == "times" or old.shape[0] != len(names):
            lines.append(f"{key}: differs (max |diff| {np.nanmax(np.abs(old - new)):.3g})")
            continue
        moved = [f"{n} ({np.nanmax(np.abs(old[i] - new[i])):.3g})" for i, n in enumerate(names)
                 if not np.allclose(old[i], new[i], rtol=1e-9, atol=1e-12, equal_nan=True)]
        lines.append(f"{key}: {', '.join(moved)}")
    return lines


if __name__ == "__main__":
    lines = moved_slices(compute(), np.load(GOLDEN))
    print("\n".join(lines) if lines else "golden numbers unchanged")
    sys.exit(1 if lines else 0)

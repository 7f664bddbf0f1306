"""
Your own target in TOML
=======================

A *target* names a trial definition: which events anchor a trial, the window around them, how
each trial gets its label, and which trials to drop. ``outcome``, ``location``, ``object`` and
``trial-type`` are built in for the touchscreen paired-associates task; a TOML file adds your
own, and ``--targets FILE --target NAME`` (or :func:`gpudecode.resolve_targets`) uses it.

Here the target anchors each trial on the *touch* and labels it by the outcome event that
follows within 0.1 s (the ``events`` label rule), with a window that starts before the touch.
The simulator planted outcome cells that fire 0.2-1.2 s after correct choices.
"""

# %%
# The TOML file
# -------------
# The layout is documented at the top of ``gpudecode/targets.toml``, the built-in targets' file.
import csv
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import gpudecode as gd
from gpudecode.cli import main

work = Path(tempfile.mkdtemp(prefix="gpudecode-target-"))
toml = work / "my_targets.toml"
toml.write_text("""\
[targets.touch-outcome]
description = "Touches, labelled by the outcome that follows (Correct or Incorrect within 0.1 s)"
anchors = ["Touch Down Event"]
pre = 0.5
post = 1.5
label = "events"
label_events = ["Correct", "Incorrect"]
label_window = [0.0, 0.1]
exclude_events = ["Start Correction Trial"]
exclude_within = 12.0
""")
for name, target in gd.load_targets(toml).items():
    print(f"{name:14s} ({target.source}): {target.description}")

# %%
# Check the trials before decoding
# --------------------------------
# :func:`gpudecode.resolve_targets` reads the file (plus the built-in targets) and
# :func:`gpudecode.make_epochs` cuts the trials: how many per label, and what was dropped and why.
import warnings

sim = gd.simulate_session(seed=5, session_index=5, n_cells=50, n_trials=72)
session, truth = sim
h5 = next(p for p in gd.write_simulation(work, [sim], formats=("h5",)) if p.suffix == ".h5")
target = gd.resolve_targets("touch-outcome", toml)[0]
with warnings.catch_warnings():
    warnings.simplefilter("ignore", gd.DroppedTrialsWarning)   # the repr lists them
    epochs = gd.make_epochs(session, target.spec)
print(epochs)

# %%
# Decode it
# ---------
status = main(["decode", str(h5), "--targets", str(toml), "--target", "touch-outcome",
               "--analysis", "single-cell", "--classifier", "lda", "--window", "4", "--step", "2",
               "--shuffles", "10", "--folds", "3", "--permutations", "300", "--seed", "0",
               "--device", "cpu", "--out", str(work / "touch-outcome")])
assert status == 0

# %%
# The target travels with the result: ``summary.json`` records its definition and source file,
# so the run can be repeated.
rows = list(csv.DictReader((work / "touch-outcome" / "cells.csv").open()))
p = np.array([float(r["p_value"]) for r in rows])
sig = np.array([r["significant"].lower() == "true" for r in rows])
roles = np.asarray(truth["role"])
planted = roles == "outcome"
print(f"significant: {np.flatnonzero(sig)}; planted outcome cells: {np.flatnonzero(planted)}")

fig, ax = plt.subplots(figsize=(7, 3))
for role, color in [("untuned", "0.7"), ("location", "C0"), ("object", "C2"),
                    ("ensemble", "C4"), ("outcome", "C3")]:
    m = roles == role
    ax.scatter(np.flatnonzero(m), -np.log10(p[m]), color=color, s=18, label=role)
ax.axhline(-np.log10(0.05), color="k", lw=0.8, ls="--", label="p = 0.05")
ax.set(xlabel="cell", ylabel="-log10 p (300 permutations)",
       title="touch-outcome target, LDA per cell, by planted role")
ax.legend(fontsize=7, ncols=3)
fig.tight_layout()

assert sig[planted].mean() >= 0.5, "most planted outcome cells should be found"
assert sig[~planted].sum() <= 1, "false discoveries should be rare"

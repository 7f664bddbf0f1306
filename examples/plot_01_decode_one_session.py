"""
Decode one session from a traces CSV and an ABET II log
=======================================================

The everyday job: an imaging pipeline wrote a traces CSV (Inscopix style), the touchscreen
chamber wrote an ABET II raw data file, and you want to know which cells tell a correct choice
from an incorrect one.

Here the files come from the simulator, which planted *outcome cells* (cells that fire after
``Correct`` only), so we can check that the decoder finds those cells and no others.
"""

# %%
# Simulate a session and write it as the rigs would
# -------------------------------------------------
# :func:`gpudecode.simulate_session` returns a :class:`~gpudecode.Session` and the ground
# truth it planted. :func:`gpudecode.write_simulation` writes the traces CSV, the ABET II log
# (on the behaviour clock, which starts a few seconds after the imaging clock) and the
# imaging-side times of the ``TTL #1`` sync pulses.
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import gpudecode as gd

work = Path(tempfile.mkdtemp(prefix="gpudecode-example-"))
sim = gd.simulate_session(seed=2, session_index=5, n_cells=60, n_trials=72)
session, truth = sim
files = gd.write_simulation(work / "data", [sim], formats=("csv", "abet"))
for f in files:
    print(f.relative_to(work))
print("planted outcome cells:", truth["outcome_cells"])

# %%
# The first lines of each file:
traces_csv, abet_csv, sync_txt = (next(f for f in files if f.name.endswith(suffix))
                                  for suffix in ("_traces.csv", "_abet.csv", "_sync.txt"))
print("".join(traces_csv.open().readlines()[:3])[:300])
print("".join(abet_csv.open().readlines()[:14]))

# %%
# What gpudecode reads
# --------------------
# ``gpudecode info`` (or :func:`gpudecode.load_session`) reads both files and aligns the
# behaviour clock to the imaging clock by a linear fit of the paired ``TTL #1`` pulses. On the
# command line::
#
#     gpudecode info sim01_s06_traces.csv --events sim01_s06_abet.csv \
#         --sync-event "TTL #1" --sync-pulses sim01_s06_sync.txt
#
# The examples call the same command in this Python process with
# ``gpudecode.cli.main([...])``, so the printed output is what the shell would show.
from gpudecode.cli import main

status = main(["info", str(traces_csv), "--events", str(abet_csv),
               "--sync-event", "TTL #1", "--sync-pulses", str(sync_txt)])
assert status == 0

# %%
# Decode the outcome from every cell
# ----------------------------------
# Trials from 0.5 s before to 1.5 s after each ``Correct`` and ``Incorrect`` event, labelled by
# the event's name; correction trials (within 12 s of a ``Start Correction Trial``) dropped, as
# they repeat a display after an error. Each cell's trial time series is smoothed by a 4-frame
# sliding mean every 2 frames, and decoded by LDA on 10 stratified train/test splits, with
# 3-fold CV inside each training part.
#
# Each cell gets a permutation p-value and a Benjamini-Hochberg q-value across the 60 cells.
# With P permutations the smallest possible p is 1/(P + 1), so finding k of 60 cells at
# q < 0.05 needs p <= 0.05 k / 60 for them: 500 permutations allow it; 100 would not.
out = work / "decode"
status = main(["decode", str(traces_csv), "--events", str(abet_csv),
               "--sync-event", "TTL #1", "--sync-pulses", str(sync_txt),
               "--anchor", "Correct,Incorrect", "--pre", "0.5", "--post", "1.5",
               "--exclude", "Start Correction Trial", "--exclude-within", "12",
               "--analysis", "single-cell", "--classifier", "lda",
               "--window", "4", "--step", "2", "--shuffles", "10", "--folds", "3",
               "--permutations", "500", "--seed", "0", "--device", "cpu", "--out", str(out)])
assert status == 0

# %%
# Read the result
# ---------------
# ``cells.csv`` has one row per cell x classifier: the mean test balanced accuracy over the
# splits, the permutation p-value and the Benjamini-Hochberg q-value across cells.
import csv

rows = list(csv.DictReader((out / "cells.csv").open()))
q = np.array([float(r["q_value"]) for r in rows])
bacc = np.array([float(r["balanced_accuracy"]) for r in rows])
cells = np.array([int(r["cell"]) for r in rows])
found = set(cells[q < 0.05])
planted = set(truth["outcome_cells"].tolist())
print(f"significant cells (q < 0.05): {sorted(int(c) for c in found)}")
print(f"planted outcome cells found: {len(found & planted)} of {len(planted)}; "
      f"other cells called significant: {len(found - planted)}")

# %%
# The planted cells stand out. (Ensemble cells also fire after each choice, but as much after
# incorrect as after correct choices, so they are not outcome cells.)
fig, ax = plt.subplots(figsize=(7, 3))
is_planted = np.isin(cells, truth["outcome_cells"])
ax.bar(cells[~is_planted], bacc[~is_planted], color="0.7", label="other cells")
ax.bar(cells[is_planted], bacc[is_planted], color="C3", label="planted outcome cells")
ax.scatter(cells[q < 0.05], bacc[q < 0.05] + 0.03, marker="*", color="k", label="q < 0.05")
ax.axhline(0.5, color="k", lw=0.8, ls="--")
ax.set(xlabel="cell", ylabel="test balanced accuracy\n(mean over 10 splits)", ylim=(0.3, 1.05),
       title="Correct vs incorrect, LDA per cell")
ax.legend(loc="upper right", fontsize=8, ncols=3)
fig.tight_layout()

# %%
# Every run writes ``summary.json`` (all parameters: rerun it with the same numbers) and
# ``results.h5`` (every split's accuracy and the whole null). ``--report`` adds an HTML
# report; :doc:`/outputs` lists every file and column.
assert len(found & planted) >= len(planted) // 2, "most planted cells should be found"
assert len(found - planted) <= 2, "false discoveries should be rare"

"""
A learning cohort: from ``simulate`` to ``cohort`` to the report
================================================================

Animals learn the task over sessions: percent correct rises from about 50 % to 85 %. Does the
hippocampal code for the outcome change with it? ``gpudecode cohort`` decodes every session
of a manifest (one Dask task per session x target), writes one result folder per session, and
then the cohort tables: accuracy by session, and learning trends tested by permuting the
session order within animals.

The three commands, as you would type them::

    gpudecode simulate --animals 2 --sessions 3 --cells 60 --trials 72 sim
    gpudecode cohort sim/manifest.csv --out sim-cohort --target outcome --scheduler synchronous ...
    gpudecode report sim-cohort

Here they run in this Python process (``gpudecode.cli.main``). ``--scheduler synchronous``
runs the sessions one after the other in this process; on a workstation leave the default
(``local``: one worker process per core) or point ``--scheduler`` at a cluster (see
:doc:`/cohorts`).
"""

# %%
# Simulate two animals, three sessions each
# -----------------------------------------
# ``gpudecode simulate`` writes one gpudecode HDF5 file per session (traces, events and the
# planted ground truth) and ``manifest.csv``, one row per session, which ``cohort`` reads as is.
import csv
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from gpudecode.cli import main

work = Path(tempfile.mkdtemp(prefix="gpudecode-cohort-"))
sim, out = work / "sim", work / "sim-cohort"
status = main(["simulate", "--animals", "2", "--sessions", "3", "--cells", "60",
               "--trials", "72", "--seed", "4", str(sim)])
assert status == 0
print((sim / "manifest.csv").read_text())

# %%
# Decode every session
# --------------------
# The built-in ``outcome`` target (correct vs incorrect choice, correction trials dropped), every
# cell with LDA, 8 splits with 3 folds and 200 label permutations, and the report.
status = main(["cohort", str(sim / "manifest.csv"), "--out", str(out), "--target", "outcome",
               "--analysis", "single-cell", "--classifier", "lda", "--window", "4",
               "--step", "2", "--shuffles", "8", "--folds", "3", "--permutations", "200",
               "--scheduler", "synchronous", "--device", "cpu", "--report"])
assert status == 0
print(sorted(p.name for p in out.iterdir()))

# %%
# A rerun skips every session whose inputs and parameters are unchanged (each session folder
# records a hash of them), so a killed run resumes where it stopped:
status = main(["cohort", str(sim / "manifest.csv"), "--out", str(out), "--target", "outcome",
               "--analysis", "single-cell", "--classifier", "lda", "--window", "4",
               "--step", "2", "--shuffles", "8", "--folds", "3", "--permutations", "200",
               "--scheduler", "synchronous", "--device", "cpu"])
assert status == 0

# %%
# Learning curves
# ---------------
# ``cohort.csv`` has one row per session x target x analysis x classifier; for single cells,
# the accuracy of the best cell, tested against the best cell of each permuted label set.
# Behaviour (``percent_correct``) rises across sessions, as the simulator planted. Read decoding
# as *balanced* accuracy: as incorrect trials get rare, plain accuracy stays high or rises with
# the imbalance alone, while the few incorrect trials make the outcome harder to decode.
rows = list(csv.DictReader((out / "cohort.csv").open()))


def n_incorrect(row):
    """``n_trials`` lists the trials per class: ``Correct:31;Incorrect:41``."""
    counts = dict(part.split(":") for part in row["n_trials"].split(";"))
    return int(counts.get("Incorrect", 0))


fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(11, 3.2))
for k, animal in enumerate(sorted({r["animal"] for r in rows})):
    mine = sorted((r for r in rows if r["animal"] == animal), key=lambda r: float(r["day"]))
    day = [float(r["day"]) for r in mine]
    ax1.plot(day, [float(r["percent_correct"]) for r in mine], "o-", color=f"C{k}",
             label=animal)
    ax2.plot(day, [float(r["balanced_accuracy"]) for r in mine], "o-", color=f"C{k}")
    ax2.plot(day, [float(r["accuracy"]) for r in mine], "x:", color=f"C{k}")
    ax3.plot(day, [n_incorrect(r) for r in mine], "o-", color=f"C{k}")
ax1.set(xlabel="day", ylabel="% correct", title="behaviour")
ax1.legend(fontsize=8)
ax2.axhline(0.5, color="k", lw=0.8, ls="--")
ax2.set(xlabel="day", ylabel="best cell's test accuracy",
        title="o balanced, x plain accuracy")
ax3.set(xlabel="day", ylabel="incorrect trials decoded", title="the minority class shrinks")
fig.tight_layout()

# %%
# ``learning.csv`` holds the trends: per animal and across animals (``scope = all``), the slope
# of each measure over days, its one-sided permutation p-value, and its correlation with
# percent correct. Two animals and three sessions are far too few to conclude anything; the
# table shows the layout.
for r in csv.DictReader((out / "learning.csv").open()):
    if r["scope"] == "all":
        print(f"{r['measure']:20s} slope {float(r['slope']):+.3f}/day  "
              f"p = {float(r['p_value']):.2f}  "
              f"(n = {r['n_sessions']} sessions, {r['n_animals']} animals)")

# %%
# ``report.html`` (self-contained, open it in any browser) draws the same learning curves with
# mean ± SEM across animals, the significant cells by session, and the trend table; every
# session folder ``sim-cohort/<animal>/<session>/outcome/`` is a full decode result.
print((out / "report.html").stat().st_size // 1024, "KiB:", out / "report.html")

assert len(rows) == 6
for animal in {r["animal"] for r in rows}:
    by_day = {int(r["day"]): float(r["percent_correct"]) for r in rows if r["animal"] == animal}
    assert by_day[3] > by_day[1] + 20, "the planted learning curve should show"
    first = next(r for r in rows if r["animal"] == animal and r["day"] == "1")
    assert float(first["p_value"]) < 0.05, "early sessions (many errors) decode the outcome"

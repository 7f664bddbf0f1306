"""
Time-resolved decoding and temporal generalisation
==================================================

*When* after the choice does the population know the outcome? Time-resolved decoding trains
and tests a population decoder in successive windows across the trial; each window gets its
own permutation p-value, and q-values are taken across windows. Temporal generalisation then
trains at one time and tests at every other time: a square block says the code is stable, a
thin diagonal that it changes as it goes.

The simulator plants outcome cells whose extra firing starts 0.6 s after the choice and lasts
1 s, so the decoder should sit at chance before 0.6 s and rise after it.
"""

# %%
# A session with a late outcome signal
# ------------------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np

import gpudecode as gd

ONSET_S = 0.6
session, truth = gd.simulate_session(
    seed=3, session_index=10, n_cells=40, n_trials=96, signal_onset=ONSET_S,
    roles={"outcome": 0.25, "location": 0.0, "object": 0.0, "ensemble": 0.0})
spec = gd.TrialSpec(anchors=("Correct", "Incorrect"), pre=1.0, post=2.0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", gd.DroppedTrialsWarning)
    epochs = gd.make_epochs(session, spec)
print(epochs)
classes, counts = np.unique(epochs.labels, return_counts=True)
print("trials per class:", {str(c): int(n) for c, n in zip(classes, counts)})

# %%
# Decode in 0.25 s windows
# ------------------------
# Late sessions are imbalanced (mostly correct trials), so the decoder weights the classes
# (``class_weight="balanced"``) and is scored on balanced accuracy. Every window x split x
# permuted label set is solved in one batched call.
plan = gd.SplitPlan(n_shuffles=5, n_folds=2, n_permutations=100, seed=1).fit(epochs.labels)
res = gd.decode_timecourse(epochs, plan, "linear-svm", time_window=0.25, time_step=0.25,
                           time_unit="s", metric="balanced", class_weight="balanced",
                           generalization=True)
onset = res.onset("linear-svm")
print(f"{res.times.size} windows; first of two consecutive significant windows at "
      f"{onset:+.2f} s (planted onset {ONSET_S:+.2f} s)")

# %%
# The time course, with the null band of each window and the significant stretch
# (q < 0.05 across windows), and the generalisation matrix.
bal = res.test_balanced[0].mean(-1)
null = res.null_balanced[0]
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1.4, 1]})
ax.fill_between(res.times, null.mean(-1), np.percentile(null, 95, axis=-1), color="0.85",
                label="null: mean to 95th percentile")
ax.plot(res.times, bal, "o-", color="C0", label="observed")
sig = res.significant[0]
ax.plot(res.times[sig], np.full(sig.sum(), 0.98), "s", color="k", ms=4, label="q < 0.05")
ax.axvline(0, color="k", lw=0.8)
ax.axvspan(ONSET_S, ONSET_S + truth["signal_duration"], color="C3", alpha=0.1,
           label="planted signal")
ax.set(xlabel="time from choice (s)", ylabel="test balanced accuracy\n(mean over splits)",
       ylim=(0.3, 1.02), title="Correct vs incorrect, linear SVM per window")
ax.legend(fontsize=7, loc="upper left")

G = res.generalization["linear-svm"]
edges = np.r_[res.times - 0.125, res.times[-1] + 0.125]
im = ax2.pcolormesh(edges, edges, G, vmin=0.3, vmax=1.0, cmap="viridis")
ax2.set(xlabel="tested at (s)", ylabel="trained at (s)", aspect="equal",
        title="temporal generalisation\n(balanced accuracy)")
fig.colorbar(im, ax=ax2, shrink=0.85)
fig.tight_layout()

# %%
# The same analysis on the command line is ``--analysis time-resolved --time-window 0.25
# --time-step 0.25 --time-unit s --generalization``; it writes ``timecourse.csv`` and the matrix
# to ``results.h5``.
before = res.times + 0.125 <= ONSET_S
after = (res.times >= ONSET_S + 0.3) & (res.times <= ONSET_S + 1.0)
assert not sig[before].any(), "nothing should be significant before the planted onset"
assert sig[after].all(), "the planted signal should be found"
assert onset is not None and abs(onset - ONSET_S) <= 0.3

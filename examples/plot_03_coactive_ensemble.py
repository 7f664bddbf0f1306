"""
Find a co-active ensemble with correlation features
===================================================

Some information is not in any cell's activity but in *which cells fire together*. Here the
simulator plants an ensemble of cells that fire the same number of extra spikes after correct
and after incorrect choices, but together (shared spike times) after correct choices and
independently after incorrect ones. No single cell's summed activity separates the classes; the
per-trial correlations between the members do.

Two things make this work on tens of trials and hundreds of pairs (see :ref:`democracy`):
the pairs are selected *inside* every split on training trials only (``select_k``), and the
null reruns the selection on every permuted label set.
"""

# %%
# A session where only the ensemble carries the outcome
# -----------------------------------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np

import gpudecode as gd
from gpudecode.pairs import correlation_order, mean_correlation_by_class

session, truth = gd.simulate_session(
    seed=1, session_index=3, n_cells=40, n_trials=72,
    roles={"outcome": 0.0, "location": 0.0, "object": 0.0, "ensemble": 0.2})
members = truth["ensemble_cells"]
print("planted ensemble:", members, "| outcome cells:", truth["outcome_cells"])

spec = gd.TrialSpec(anchors=("Correct", "Incorrect"), pre=0.0, post=1.5,
                    exclude_events=("Start Correction Trial",), exclude_within=12.0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", gd.DroppedTrialsWarning)   # correction trials, on purpose
    epochs = gd.make_epochs(session, spec)
print(epochs)

# %%
# One split plan for every model
# ------------------------------
# 10 stratified shuffles with 3 inner folds, 100 permuted label sets. Every model below is
# scored on these same splits, so their accuracies are directly comparable. There are fewer
# incorrect than correct trials, so the classifiers weight the classes
# (``class_weight="balanced"``) and are scored on balanced accuracy.
plan = gd.SplitPlan(n_shuffles=10, n_folds=3, n_permutations=100, seed=0).fit(epochs.labels)

# %%
# Summed activity: at chance
# --------------------------
# Each cell's mean activity over the 1.5 s after the choice, one feature per cell.
summed = gd.decode_summed(epochs, plan, "linear-svm", metric="balanced",
                          class_weight="balanced")
print(f"summed activity: balanced accuracy {summed.test_balanced.mean():.2f}, "
      f"p = {summed.p_value[0]:.3f}")

# %%
# Cell-cell correlations: decoded
# -------------------------------
# Per trial, the Pearson correlation of every pair of cells over the epoch's frames:
# 40 x 39 / 2 = 780 features for fewer than 72 trials. An RBF SVM keeps the 20 pairs with the
# largest ANOVA F, chosen on each split's training trials.
C = gd.correlation_features(epochs, window_frames=1, step_frames=1)
print("correlation features:", C.shape, "(trials x cell pairs)")
corr = gd.decode_correlations(epochs, plan, "rbf-svm", features=C, select_k=20,
                              metric="balanced", class_weight="balanced")
print(f"correlations: balanced accuracy {corr.test_balanced.mean():.2f}, "
      f"p = {corr.p_value[0]:.3f}")

# %%
# Which pairs carry the decision?
# -------------------------------
# :func:`gpudecode.discriminative_pairs` counts how often each pair was among the top 20 on the
# training trials across shuffles. The top pairs are pairs of ensemble members, more correlated
# after ``Correct``.
pairs = gd.discriminative_pairs(C, plan, epochs.cell_ids, k=20, top=10)
for p in pairs[:6]:
    inside = p["cell_i"] in members and p["cell_j"] in members
    print(f"{p['cell_id_i']}-{p['cell_id_j']}: selected in {p['selection_frequency']:.0%} "
          f"of shuffles, higher in {p['class_high']}, "
          f"{'both in the ensemble' if inside else 'not an ensemble pair'}")

# %%
# The figure: accuracy against its null, and the mean correlation matrix of each class
# (cells ordered by clustering). The ensemble is the block that lights up after ``Correct``.
codes = plan.Y_[0]
mats = mean_correlation_by_class(C, codes, plan.n_classes)
order = correlation_order(mats[list(plan.classes_).index("Correct")])

fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), gridspec_kw={"width_ratios": [1, 1.2, 1.2]})
ax = axes[0]
for x, (name, res) in enumerate([("summed", summed), ("correlations", corr)]):
    null = res.null_balanced[0]
    ax.fill_between([x - 0.35, x + 0.35], null.mean(), np.percentile(null, 95), color="0.85")
    ax.errorbar(x, res.test_balanced[0].mean(), res.test_balanced[0].std(), fmt="o", color="C0")
ax.axhline(0.5, color="k", lw=0.8, ls="--")
ax.set(xticks=[0, 1], xticklabels=["summed", "correlations"], ylim=(0.2, 1.0),
       ylabel="test balanced accuracy\n(mean ± SD over splits)",
       title="grey: null mean to 95th pct")
is_member = np.isin(order, members)
for ax, cls in zip(axes[1:], plan.classes_):
    m = mats[list(plan.classes_).index(cls)][np.ix_(order, order)]
    im = ax.imshow(m, vmin=-0.2, vmax=0.6, cmap="RdBu_r")
    ticks = np.flatnonzero(is_member)
    ax.set_xticks(ticks, [str(c) for c in order[ticks]], fontsize=6, rotation=90)
    ax.set_yticks(ticks, [str(c) for c in order[ticks]], fontsize=6)
    ax.set_title(f"mean correlation after {cls}\n(ticks: ensemble members)", fontsize=9)
fig.colorbar(im, ax=axes[1:], shrink=0.8, label="Pearson r")

# %%
# What was planted was found, and nothing else:
within = np.mean([p["cell_i"] in members and p["cell_j"] in members for p in pairs])
print(f"top 10 pairs inside the ensemble: {within:.0%}")
assert summed.p_value[0] > 0.05, "summed activity should not decode the ensemble"
assert corr.p_value[0] < 0.05, "correlations should decode it"
assert within >= 0.8

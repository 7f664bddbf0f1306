"""
The Python API with scikit-learn estimators
===========================================

gpudecode's batched decoders reproduce scikit-learn estimators (see the table in
:doc:`/concepts` and :func:`gpudecode.decode_cells`). Its pieces are also plain arrays, so you
can bring any scikit-learn estimator to the same trials, the same split plan and the same
permutation null. This example

1. checks the batched logistic regression against ``LogisticRegression`` on identical splits;
2. decodes the population with an estimator gpudecode does not have (Gaussian naive Bayes)
   and tests it against the plan's permuted labels;
3. uses the plan with ``cross_val_score``.
"""

# %%
# Trials, features and one split plan
# -----------------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import gpudecode as gd

session, truth = gd.simulate_session(seed=3, session_index=5, n_cells=30, n_trials=48,
                                     roles={"outcome": 0.2, "location": 0.0, "object": 0.0,
                                            "ensemble": 0.0})
spec = gd.TrialSpec(anchors=("Correct", "Incorrect"), pre=0.5, post=1.5,
                    exclude_events=("Start Correction Trial",), exclude_within=12.0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", gd.DroppedTrialsWarning)
    epochs = gd.make_epochs(session, spec)
print(epochs.data.shape, "trials x cells x frames")

backend = gd.Backend.from_device("cpu")
X = np.asarray(backend.sliding_mean(epochs.data, 4, 2))      # trials x cells x windows
# 10 stratified train/test splits (no inner CV folds needed here) and 100 permuted label sets.
plan = gd.SplitPlan(n_shuffles=10, n_folds=0, n_permutations=100, seed=0).fit(epochs.labels)
y = plan.Y_[0]                                                 # class codes, observed labels
print("features:", X.shape, "| classes:", plan.classes_, "| label sets:", plan.Y_.shape[0])

# %%
# 1. The batched decoder equals scikit-learn, split by split
# ----------------------------------------------------------
# ``plan.test_slots`` are the train/test splits; ``train_idx_`` / ``test_idx_`` hold each
# slot's trial indices, padded with -1 (``n_train_`` / ``n_test_`` give the lengths).
# scikit-learn refits one model per cell and split; here for the first 8 cells (it is the slow
# part of this example), against gpudecode's batched solve of every cell x split x label set.
import time

t0 = time.perf_counter()
res = gd.decode_cells(epochs, plan, classifiers="logistic", window_frames=4, step_frames=2)
t_batched = time.perf_counter() - t0


def split(slot):
    return plan.train_idx_[slot, :plan.n_train_[slot]], plan.test_idx_[slot, :plan.n_test_[slot]]


n_check = 8
sk = np.zeros((n_check, plan.n_shuffles))
t0 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for cell in range(n_check):
        for s, slot in enumerate(plan.test_slots):
            tr, te = split(slot)
            model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X[tr, cell], y[tr])
            sk[cell, s] = np.mean(model.predict(X[te, cell]) == y[te])
t_sklearn = time.perf_counter() - t0
ours = res.test_accuracy[0, :n_check]
diff = np.abs(ours - sk)
print(f"largest per-split difference from scikit-learn: {diff.max():.3f} "
      f"({np.mean(diff == 0):.1%} of cell x split accuracies identical)")
print(f"scikit-learn: {sk.size} fits in {t_sklearn:.1f} s; gpudecode: "
      f"{epochs.n_cells * plan.n_slots * plan.Y_.shape[0]:,} fits (every cell, split and "
      f"label set) in {t_batched:.1f} s")

# %%
# 2. Any estimator, on the same splits and the same null
# ------------------------------------------------------
# Population features: every cell's mean activity in the 1.5 s after the choice. The statistic
# is the mean test balanced accuracy over splits; the null refits on each permuted label set
# (``plan.Y_[1:]``) with the *same* splits, and :func:`gpudecode.permutation_pvalues` gives p.
X_pop = gd.summed_features(epochs, summed_window_s=(0.0, 1.5))  # trials x cells


def score(labels, estimator):
    scores = []
    for slot in plan.test_slots:
        tr, te = split(slot)
        pred = estimator.fit(X_pop[tr], labels[tr]).predict(X_pop[te])
        recalls = [np.mean(pred[labels[te] == c] == c) for c in np.unique(labels[te])]
        scores.append(np.mean(recalls))
    return np.mean(scores)


nb = GaussianNB()
observed = score(y, nb)
null = np.array([score(labels, nb) for labels in plan.Y_[1:]])
p = gd.permutation_pvalues(np.array([observed]), null[None, :])[0]
print(f"naive Bayes on summed activity: balanced accuracy {observed:.2f}, p = {p:.3f} "
      f"(null mean {null.mean():.2f}, {null.size} permutations)")

# %%
# 3. The plan as a scikit-learn ``cv``
# ------------------------------------
# A list of (train, test) index pairs is a valid ``cv`` argument for scikit-learn.
cv = [split(slot) for slot in plan.test_slots]
scores = cross_val_score(nb, X_pop, y, cv=cv, scoring="balanced_accuracy")
print(f"cross_val_score on the same splits: {scores.mean():.2f}")

# %%
# The batched logistic regression against scikit-learn (every cell x split), and naive Bayes'
# observed score against its permutation null.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.3))
ax1.scatter(sk.ravel(), ours.ravel(), s=12, alpha=0.5)
ax1.plot([0, 1], [0, 1], "k--", lw=0.8)
ax1.set(xlabel="scikit-learn LogisticRegression", ylabel="gpudecode logistic (batched)",
        title=f"test accuracy, {n_check} cells x {plan.n_shuffles} splits")
ax2.hist(null, bins=20, color="0.7", label="permuted labels")
ax2.axvline(observed, color="C3", label=f"observed (p = {p:.3f})")
ax2.set(xlabel="mean test balanced accuracy", ylabel="count",
        title="naive Bayes, summed activity")
ax2.legend(fontsize=8)
fig.tight_layout()

assert np.mean(diff == 0) > 0.9
assert np.isclose(scores.mean(), observed)
assert p < 0.05

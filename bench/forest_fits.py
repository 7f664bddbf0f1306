"""Random forest fits/s (issue 13, item 4) on the real-session population shape.

120 trials x 49 features, 20 shuffles x (test + 5 folds), 100 permutations (observed labels on all 120 slots, permutations on the 20
test slots: 2120 forests of 100 trees), kernel vs scikit-learn RandomForestClassifier.

Run: python bench/forest_fits.py (scikit-learn timed on the 20 test slots, extrapolated)."""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import numba
from batched_oracle import simulate
from sklearn.ensemble import RandomForestClassifier

from gpudecode.backend import Backend
from gpudecode.classifiers import get_classifier
from gpudecode.engine import solve_batched
from gpudecode.splits import SplitPlan

X, y = simulate(1, 120, 49, 2, seed=0, strengths=[0.8])
plan = SplitPlan(n_shuffles=20, test_size=0.25, n_folds=5, n_permutations=100, seed=0).fit(y)
n_problems = plan.n_slots + 100 * len(plan.test_slots)
clf = get_classifier("random-forest")
be = Backend.from_device("cpu")
# warm-up (compile / load cache) on a tiny plan
small = SplitPlan(n_shuffles=1, test_size=0.25, n_folds=2, n_permutations=1, seed=0).fit(y)
solve_batched(X, small, [clf], backend=be)
t = time.perf_counter()
sc = solve_batched(X, plan, [clf], backend=be)
ours = time.perf_counter() - t
print(f"threads {numba.get_num_threads()}; kernel: {n_problems} forests in {ours:.2f} s = "
      f"{n_problems / ours:.1f} forests/s; test acc {sc.test_accuracy[0,0].mean():.3f}, "
      f"null mean {sc.null_accuracy[0,0].mean():.3f}")
t = time.perf_counter()
slots = list(plan.test_slots)
for s in slots:
    tr, te = plan.slot_trials(s)
    RandomForestClassifier(n_estimators=100, n_jobs=1, random_state=0).fit(X[0, tr], y[tr]).predict(X[0, te])
sk = (time.perf_counter() - t) / len(slots)
print(f"scikit-learn RandomForestClassifier(n_jobs=1): {1 / sk:.2f} fits/s "
      f"({len(slots)} fits timed; {n_problems} would take {n_problems * sk:.0f} s); "
      f"kernel / scikit-learn = {sk * n_problems / ours:.1f}x")

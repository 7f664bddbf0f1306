import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

from gpudecode.errors import ParameterError, TooFewTrialsError
from gpudecode.splits import SplitPlan, score_predictions


def _labels(n_a=24, n_b=12):
    return np.array(["Correct"] * n_a + ["Incorrect"] * n_b)[np.random.default_rng(0).permutation(n_a + n_b)]


def test_slots_equal_sklearn_splitters():
    y = _labels()
    plan = SplitPlan(n_shuffles=4, test_size=0.25, n_folds=5, n_permutations=3, seed=7).fit(y)
    assert plan.n_slots == 4 * 6
    codes = np.unique(y, return_inverse=True)[1]
    outer = StratifiedShuffleSplit(4, test_size=0.25, random_state=7)
    slot = 0
    for s, (tr, te) in enumerate(outer.split(np.zeros((36, 1)), codes)):
        tr = np.sort(tr)
        assert plan.fold_of_slot_[slot] == -1 and plan.shuffle_of_slot_[slot] == s
        np.testing.assert_array_equal(plan.train_idx_[slot, :plan.n_train_[slot]], tr)
        np.testing.assert_array_equal(plan.test_idx_[slot, :plan.n_test_[slot]], np.sort(te))
        slot += 1
        for f, (itr, ite) in enumerate(StratifiedKFold(5, shuffle=True, random_state=7 + s)
                                       .split(np.zeros((tr.size, 1)), codes[tr])):
            np.testing.assert_array_equal(plan.train_idx_[slot, :plan.n_train_[slot]], tr[itr])
            np.testing.assert_array_equal(plan.test_idx_[slot, :plan.n_test_[slot]], tr[ite])
            assert plan.fold_of_slot_[slot] == f
            slot += 1
    assert plan.cv_slots.shape == (4, 5)


def test_no_trial_in_both_train_and_test_and_padding():
    plan = SplitPlan(n_shuffles=3, n_folds=4, seed=1).fit(_labels(20, 17))
    for s in range(plan.n_slots):
        tr = plan.train_idx_[s, :plan.n_train_[s]]
        te = plan.test_idx_[s, :plan.n_test_[s]]
        assert not set(tr) & set(te)
        assert (plan.train_idx_[s, plan.n_train_[s]:] == -1).all()


def test_permutations_keep_class_counts_and_are_seeded():
    y = _labels()
    a = SplitPlan(n_shuffles=2, n_permutations=50, seed=3).fit(y)
    b = SplitPlan(n_shuffles=2, n_permutations=50, seed=3).fit(y)
    np.testing.assert_array_equal(a.Y_, b.Y_)
    for row in a.Y_[1:]:
        np.testing.assert_array_equal(np.bincount(row), np.bincount(a.Y_[0]))
    assert not all((row == a.Y_[0]).all() for row in a.Y_[1:])


def test_class_smaller_than_folds_is_a_clear_error():
    y = np.array(["Correct"] * 30 + ["Incorrect"] * 4)
    with pytest.raises(TooFewTrialsError) as exc:
        SplitPlan(n_folds=5).fit(y)
    assert "'Incorrect': 4" in str(exc.value) and "--folds" in str(exc.value)


def test_one_class_and_bad_parameters():
    with pytest.raises(TooFewTrialsError, match="only one class"):
        SplitPlan().fit(np.array(["a"] * 20))
    with pytest.raises(ParameterError, match="--test-size"):
        SplitPlan(test_size=1.5).fit(_labels())
    with pytest.raises(ParameterError, match="--folds"):
        SplitPlan(n_folds=1).fit(_labels())


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_score_predictions_equals_sklearn_metrics():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [15, 12, 9])
    plan = SplitPlan(n_shuffles=3, n_folds=3, n_permutations=2, seed=0).fit(y)
    pred = np.full((4, plan.Y_.shape[0], plan.n_slots, plan.test_idx_.shape[1]), -1, np.int32)
    for s in range(plan.n_slots):
        pred[:, :, s, :plan.n_test_[s]] = rng.integers(0, 3, size=(4, plan.Y_.shape[0], plan.n_test_[s]))
    acc, bal = score_predictions(pred, plan.Y_, plan.test_idx_, 3)
    assert acc.shape == (4, 3, plan.n_slots)
    for c in range(4):
        for l in range(plan.Y_.shape[0]):
            for s in range(plan.n_slots):
                te = plan.test_idx_[s, :plan.n_test_[s]]
                p = pred[c, l, s, :plan.n_test_[s]]
                assert acc[c, l, s] == pytest.approx(accuracy_score(plan.Y_[l, te], p))
                assert bal[c, l, s] == pytest.approx(balanced_accuracy_score(plan.Y_[l, te], p))

"""scikit-learn's per-fit constant-feature warnings become one summary line."""

import warnings

import numpy as np
import pytest
from sklearn.feature_selection import f_classif

from gpudecode.sklearn_warnings import (
    ConstantFeaturesWarning,
    summarize_constant_features,
)


def _data(n_trials=40, n_features=12, constant=(2, 5, 9), seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_trials, n_features))
    X[:, list(constant)] = 1.0
    y = np.repeat([0, 1], n_trials // 2)
    return X, y


def test_f_classif_warnings_on_every_split_become_one_line():
    X, y = _data()
    rng = np.random.default_rng(1)
    with warnings.catch_warnings(record=True) as raw:
        warnings.simplefilter("always")
        for _ in range(5):
            f_classif(X[rng.permutation(40)[:30]], y[:30])
    assert sum("are constant" in str(w.message) for w in raw) == 5   # what users saw

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with summarize_constant_features("cell pairs", "the pair F-test", X.shape[1]) as seen:
            for _ in range(5):
                f_classif(X[rng.permutation(40)[:30]], y[:30])
    messages = [str(w.message) for w in caught if "Features" in str(w.message)
                or issubclass(w.category, ConstantFeaturesWarning)]
    assert len(messages) == 1 and issubclass(caught[-1].category, ConstantFeaturesWarning)
    constant = set(np.flatnonzero(X.std(0) == 0).tolist())
    assert seen.features == constant == {2, 5, 9}
    assert messages[0].startswith("3 of 12 cell pairs were constant")
    assert "the pair F-test" in messages[0] and "5 scikit-learn warnings" in messages[0]
    assert "[" not in messages[0]                                   # no index list


def test_other_warnings_pass_through_unchanged():
    X, y = _data()
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="warn"):
        warnings.simplefilter("always")
        with summarize_constant_features("cells", "SelectKBest"):
            for _ in range(3):
                f_classif(X, y)
            warnings.warn("something else", RuntimeWarning)
    # f_classif's own divide-by-zero RuntimeWarnings and ours pass through, in order.
    others = [str(w.message) for w in caught if w.category is RuntimeWarning]
    assert others[-1] == "something else" and len(others) > 1
    assert not any("are constant" in str(w.message) for w in caught)
    assert caught[-1].category is ConstantFeaturesWarning
    assert str(caught[-1].message).startswith("3 cells were constant")


def test_nothing_constant_nothing_said():
    rng = np.random.default_rng(0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with summarize_constant_features("cells", "x") as seen:
            f_classif(rng.normal(size=(20, 4)), np.repeat([0, 1], 10))
    assert not caught and seen.n_warnings == 0


@pytest.mark.parametrize("message, n, truncated", [
    ("Features [ 2  3 12] are constant.", 3, False),
    ("Features [   0    1    2 ... 4997 4998 4999] are constant.", 6, True),
])
def test_index_lists_are_parsed(message, n, truncated):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with summarize_constant_features("cells", "x") as seen:
            warnings.warn(message, UserWarning)
    assert len(seen.features) == n and seen.truncated is truncated
    assert ("at least" in str(caught[0].message)) is truncated

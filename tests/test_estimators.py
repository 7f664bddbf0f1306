"""make_pipeline: [StandardScaler] -> [SelectKBest] -> the registry's estimator.

Oracle: the same steps assembled by hand from scikit-learn, fit on the same training trials.
"""

import numpy as np
import pytest
from sklearn.feature_selection import SelectKBest, f_classif
from sklearn.pipeline import make_pipeline as sk_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from gpudecode.errors import ParameterError
from gpudecode.estimators import make_pipeline


def test_steps_and_estimator_come_from_the_registry():
    pipe = make_pipeline("random-forest", standardize=True, select_k=5, seed=3,
                         class_weight="balanced", params={"n_estimators": 7})
    assert [name for name, _ in pipe.steps] == ["scale", "select", "clf"]
    clf = pipe.named_steps["clf"].get_params()
    assert (clf["n_estimators"], clf["random_state"], clf["class_weight"]) == (7, 3, "balanced")
    assert [name for name, _ in make_pipeline("lda").steps] == ["clf"]
    with pytest.raises(ParameterError, match="--classifier"):
        make_pipeline("svm")


def test_predictions_equal_the_hand_built_scikit_learn_pipeline():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 30))
    y = np.repeat([0, 1], 30)
    X[y == 1, :3] += 2.0            # three informative features among 30
    train, test = np.arange(0, 60, 2), np.arange(1, 60, 2)
    ours = make_pipeline("rbf-svm", standardize=True, select_k=3).fit(X[train], y[train])
    theirs = sk_pipeline(StandardScaler(), SelectKBest(f_classif, k=3),
                         SVC(kernel="rbf", C=1.0, gamma="scale")).fit(X[train], y[train])
    np.testing.assert_array_equal(ours.predict(X[test]), theirs.predict(X[test]))
    assert set(np.flatnonzero(ours.named_steps["select"].get_support())) == {0, 1, 2}

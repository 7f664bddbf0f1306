"""The classifier registry: every entry's kernels resolve and take its hyper-parameters, its
scikit-learn and cuML estimators are built with them, and each batched kernel predicts what
its scikit-learn estimator predicts on identical splits.

Oracle: scikit-learn, refit per cell x split slot on the plan's own training rows (after a
StandardScaler fit on them, as the kernels standardise), wrapped in ``OneVsRestClassifier``
for three classes where the registry says the kernel fits one model per class.
"""

import inspect
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from sklearn.multiclass import OneVsRestClassifier

from gpudecode import classifiers as registry
from gpudecode.classifiers import (BATCHED_CLASSIFIERS, CLASSIFIERS, POPULATION_CLASSIFIERS,
                                   classifier_help, get_classifier, parse_classifiers)
from gpudecode.errors import ParameterError

from batched_oracle import assert_agrees, batch_args, oracle, plan_for, simulate

BATCHED = sorted(BATCHED_CLASSIFIERS)
CUML_TWINS = sorted(n for n, c in CLASSIFIERS.items() if c.cuml is not None)


def test_names_are_the_registry():
    assert tuple(CLASSIFIERS) == POPULATION_CLASSIFIERS
    assert all(name == c.name for name, c in CLASSIFIERS.items())
    assert BATCHED_CLASSIFIERS == {n: c for n, c in CLASSIFIERS.items() if c.batched}
    assert "random-forest" in BATCHED_CLASSIFIERS
    help_all, help_batched = classifier_help(batched=False), classifier_help(batched=True)
    for name, c in CLASSIFIERS.items():
        assert f"{name} ({c.summary})" in help_all
        assert (name in help_batched) == c.batched


@pytest.mark.parametrize("name", sorted(CLASSIFIERS))
def test_sklearn_estimator_has_the_registry_params(name):
    c = get_classifier(name)
    est = c.make_estimator(seed=7, class_weight="balanced")
    assert type(est).__module__.startswith(c.sklearn.path.rpartition(".")[0])
    assert type(est).__name__ == c.sklearn.class_name
    got = est.get_params()
    for key, value in {**c.sklearn.fixed, **c.params}.items():
        assert got[key] == value, key
    if c.sklearn.random_state:
        assert got["random_state"] == 7
    if c.sklearn.class_weight:
        assert got["class_weight"] == "balanced"
    assert c.sklearn_text.startswith(f"{c.sklearn.class_name}(")
    # a user's hyper-parameter wins over the default
    key = next(iter(c.params))
    other = {"C": 0.25, "shrinkage": 0.5, "max_depth": 5, "n_estimators": 7}[key]
    assert c.make_estimator(params={key: other}).get_params()[key] == other


@pytest.mark.parametrize("name", BATCHED)
def test_kernels_and_gpu_twins_resolve_and_take_the_registry_params(name):
    c = get_classifier(name, batched=True)
    functions = [c.kernel(), c.kernel(gpu=True)]
    assert functions[0].__module__ == f"gpudecode.kernels.{c.kernel_module}"
    assert functions[1].__module__ == f"gpudecode.kernels.{c.kernel_module}_cuda"
    if c.gram_function is not None:
        functions += [c.gram_kernel(), c.gram_kernel(gpu=True)]
        assert functions[2].__name__ == c.gram_function
    else:
        assert c.gram_kernel() is None and c.gram_kernel(gpu=True) is None
    for fn in functions:
        sig = inspect.signature(fn).parameters
        for key, value in c.params.items():
            assert sig[key].default == value, (fn.__name__, key)
        assert "class_weight_balanced" in sig


def test_no_kernel_no_twin(monkeypatch):
    plain = registry.Classifier("plain-svc", "an SVC without kernel", {"C": 1.0},
                                sklearn=registry.Estimator("sklearn.svm.SVC"))
    assert not plain.batched and plain.gram_kernel() is None
    with pytest.raises(ParameterError, match="no batched kernel"):
        plain.kernel()
    monkeypatch.setitem(registry.CLASSIFIERS, "plain-svc", plain)
    with pytest.raises(ParameterError, match="no batched kernel"):
        get_classifier("plain-svc", batched=True)


@pytest.fixture
def fake_cuml(monkeypatch):
    """A stand-in cuML package whose classes record their constructor arguments."""
    fakes = {}
    for c in CLASSIFIERS.values():
        if c.cuml is not None:
            module, _, cls = c.cuml.path.rpartition(".")
            for name in ("cuml", module):
                fakes.setdefault(name, types.ModuleType(name))
            setattr(fakes[module], cls, type(cls, (), {
                "__init__": lambda self, **kw: setattr(self, "kw", kw), "path": c.cuml.path}))
    for name, module in fakes.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(registry, "cuml_available", lambda: True)


@pytest.mark.parametrize("name", CUML_TWINS)
def test_cuml_twin_gets_the_registry_params(name, fake_cuml):
    c = get_classifier(name)
    est = c.make_estimator(gpu=True, seed=4)
    assert est.path == c.cuml.path
    assert est.kw == {**c.cuml.fixed, **c.params,
                      **({"class_weight": None} if c.cuml.class_weight else {}),
                      **({"random_state": 4} if c.cuml.random_state else {})}
    balanced = c.make_estimator(gpu=True, class_weight="balanced")
    if c.cuml.class_weight:
        assert balanced.kw["class_weight"] == "balanced"
    else:  # cuML cannot weight classes: scikit-learn does
        assert balanced.get_params()["class_weight"] == "balanced"
    assert type(c.make_estimator(gpu=False)).__name__ == c.sklearn.class_name


def test_without_cuml_the_gpu_gets_scikit_learn(monkeypatch):
    monkeypatch.setattr(registry, "cuml_available", lambda: False)
    for c in CLASSIFIERS.values():
        assert type(c.make_estimator(gpu=True)).__name__ == c.sklearn.class_name


def test_parse_names_and_typed_errors(monkeypatch):
    assert [c.name for c in parse_classifiers("rbf-svm, random-forest,rbf-svm",
                                              batched=False)] == ["rbf-svm", "random-forest"]
    assert [c.name for c in parse_classifiers(["lda", "tree"])] == ["lda", "tree"]
    with pytest.raises(ParameterError, match="not a known classifier") as err:
        parse_classifiers("rbf-svm,boosting", batched=False)
    assert err.value.field == "--classifier" and "random-forest" in err.value.fix
    plain = registry.Classifier("plain-svc", "an SVC without kernel", {"C": 1.0},
                                sklearn=registry.Estimator("sklearn.svm.SVC"))
    monkeypatch.setitem(registry.CLASSIFIERS, "plain-svc", plain)
    with pytest.raises(ParameterError, match="no batched kernel; because") as err:
        parse_classifiers("plain-svc", reason="because", field="--x")
    assert err.value.field == "--x" and "plain-svc" not in err.value.fix
    with pytest.raises(ParameterError, match="no classifier given"):
        parse_classifiers(" , ")
    with pytest.raises(ParameterError, match="--democracy-base"):
        get_classifier("svm", batched=True, field="--democracy-base")


def _sklearn_maker(c, n_classes, class_weight=None):
    def make():
        est = c.make_estimator(class_weight=class_weight)
        return OneVsRestClassifier(est) if c.one_vs_rest and n_classes > 2 else est
    return make


# The random forest draws its own random numbers: compared with scikit-learn's in
# distribution over seeds in test_forest.py, not fit for fit.
FIT_FOR_FIT = [n for n in BATCHED if CLASSIFIERS[n].fit_for_fit]


@pytest.mark.parametrize("name", FIT_FOR_FIT)
@pytest.mark.parametrize("n_classes, n_trials, n_features", [(2, 36, 20), (3, 90, 12)])
def test_kernel_matches_its_sklearn_estimator_on_identical_splits(name, n_classes, n_trials,
                                                                  n_features):
    c = get_classifier(name, batched=True)
    X, y = simulate(4, n_trials, n_features, n_classes, seed=n_trials,
                    strengths=[2.5, 1.0, 0.7, 0.5])
    plan = plan_for(y)
    ours = c.kernel()(*batch_args(X, plan, n_classes), **c.params)[:, 0]
    assert_agrees(ours, oracle(X, y, plan, _sklearn_maker(c, n_classes)), y, plan)
    # the planted cell decodes: the comparison is not between two chance-level models
    valid = plan.test_idx_ >= 0
    truth = y[np.where(valid, plan.test_idx_, 0)]
    assert (ours[0] == truth)[valid].mean() > 1.0 / n_classes + 0.2


@pytest.mark.parametrize("name", [n for n in FIT_FOR_FIT if CLASSIFIERS[n].sklearn.class_weight])
def test_balanced_kernel_matches_balanced_sklearn_estimator(name):
    c = get_classifier(name, batched=True)
    X, y = simulate(4, 80, 10, 2, seed=11, strengths=[1.2, 0.8, 0.5, 0.3], minority=0.25)
    plan = plan_for(y)
    ours = c.kernel()(*batch_args(X, plan, 2), class_weight_balanced=True, **c.params)[:, 0]
    assert_agrees(ours, oracle(X, y, plan, _sklearn_maker(c, 2, "balanced")), y, plan)


def test_readme_table_names_each_batched_classifier_and_its_estimator():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z-]+)` \| `(\w+)\(", readme, flags=re.M)
    assert dict(rows) == {n: c.sklearn.class_name for n, c in BATCHED_CLASSIFIERS.items()}

"""Every classifier by name, in one registry: its batched kernels, its scikit-learn and cuML
equivalents with the same hyper-parameters, and its help line.

A batched kernel (CPU: ``gpudecode.kernels.<module>.<function>``, GPU twin:
``gpudecode.kernels.<module>_cuda.<function>_cuda``) has the signature ``fit(X, Y, train_idx,
n_train, test_idx, n_test, n_classes, *, standardize, class_weight_balanced, **params) ->
pred`` (see ``gpudecode.kernels``): ``X`` cells x trials x features, ``pred`` cells x label
sets x slots x test trials. Where no kernel applies (in-fold feature selection, a classifier
without one) the engine fits :meth:`Classifier.make_estimator` once per problem instead.

Adding a classifier means writing its kernel files and adding one :class:`Classifier` to
:data:`CLASSIFIERS`; the CLI help, the benchmark and the tests that compare each kernel with
scikit-learn and each GPU twin with its CPU kernel read this registry.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

from .errors import ParameterError

__all__ = ["Classifier", "BatchedClassifier", "Estimator", "CLASSIFIERS", "BATCHED_CLASSIFIERS",
           "POPULATION_CLASSIFIERS", "MAX_BATCHED_LINEAR_FEATURES", "get_classifier",
           "parse_classifiers", "classifier_help", "cuml_available"]

# Logistic regression and LDA solve a features x features system per problem in their batched
# kernels; above this many features one scikit-learn fit per problem is cheaper.
MAX_BATCHED_LINEAR_FEATURES = 256

_CUML_CHECKED: list = []


def cuml_available() -> bool:
    """True when cuML imports (it can fail in odd ways without a driver, hence the broad guard)."""
    if not _CUML_CHECKED:
        try:
            import cuml  # noqa: F401
            _CUML_CHECKED.append(True)
        except Exception:
            _CUML_CHECKED.append(False)
    return _CUML_CHECKED[0]


def _literal(value) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


@dataclass(frozen=True)
class Estimator:
    """A scikit-learn or cuML estimator class and how to build the registry's model with it.

    Attributes
    ----------
    path : str
        Importable class, e.g. ``"sklearn.svm.SVC"``.
    fixed : dict
        Constructor arguments besides the hyper-parameters: those that make the class the
        registry's model (``kernel="rbf"``) and solver settings.
    class_weight : bool
        The class takes ``class_weight``. For cuML, a balanced fit without it falls back to
        scikit-learn; for scikit-learn the weighting is left out.
    random_state : bool
        The class takes ``random_state`` (the run's seed).
    """

    path: str
    fixed: dict = field(default_factory=dict)
    class_weight: bool = True
    random_state: bool = False

    @property
    def class_name(self) -> str:
        return self.path.rpartition(".")[2]

    def build(self, params: dict, *, seed: int, class_weight: str | None):
        """A fresh, unfitted instance with ``params`` over the fixed arguments."""
        module, _, name = self.path.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        kw = {**self.fixed, **params}
        if self.class_weight:
            kw["class_weight"] = class_weight
        if self.random_state:
            kw["random_state"] = seed
        return cls(**kw)


@dataclass(frozen=True)
class Classifier:
    """One classifier: its batched kernels, its scikit-learn and cuML equivalents, its help.

    Attributes
    ----------
    name : str
        The CLI name (``linear-svm``, ``logistic``, ``lda``, ``rbf-svm``, ``tree``,
        ``random-forest``).
    summary : str
        One line for the CLI help and the docs.
    params : dict
        Default hyper-parameters, passed alike to the kernel, scikit-learn and cuML.
    sklearn : Estimator
        The scikit-learn model the kernel reproduces.
    cuml : Estimator or None
        Its cuML twin; None where cuML has none.
    kernel_module : str or None
        Kernel module under ``gpudecode.kernels``; the GPU twin is ``<module>_cuda``.
        None: no batched kernel (one scikit-learn / cuML fit per problem).
    kernel_function : str or None
        CPU kernel function; the GPU twin is ``<function>_cuda`` in ``<module>_cuda``.
    max_batched_features : int or None
        Above this many features one scikit-learn fit per problem is cheaper than the kernel.
    gram_function : str or None
        Kernel for one fixed feature matrix, on one distance matrix over all trials (same
        module and twin naming); it applies to unscaled features only.
    one_vs_rest : bool
        For three classes or more the kernel fits one binary model per class, like
        ``OneVsRestClassifier(estimator)``; otherwise it is multi-class like the estimator.
        (``SVC`` is one-vs-one itself, like the ``linear-svm`` kernel; neither
        ``LogisticRegression`` nor ``SVC`` is one-vs-rest.)
    fit_for_fit : bool
        The kernel predicts what its scikit-learn estimator predicts on the same rows (>= 99%
        agreement, tested); False for randomised models (the random forest draws its own
        bootstraps and features: it matches scikit-learn in distribution over seeds).
    label_sets_together : int
        Label sets of one (unit, slot) pair the CPU kernel solves best in one call; chunks
        keep at least this many where memory allows (``linear-svm``: 32, four rounds of the
        eight SIMD lanes of :mod:`gpudecode.kernels.lanes`, so that lanes seldom idle).
    """

    name: str
    summary: str
    params: dict
    sklearn: Estimator
    cuml: Estimator | None = None
    kernel_module: str | None = None
    kernel_function: str | None = None
    max_batched_features: int | None = None
    gram_function: str | None = None
    one_vs_rest: bool = False
    fit_for_fit: bool = True
    label_sets_together: int = 1

    @property
    def batched(self) -> bool:
        """True when a batched kernel solves this classifier."""
        return self.kernel_module is not None

    @property
    def sklearn_text(self) -> str:
        """``SVC(kernel="rbf", C=1.0, gamma="scale")``: the scikit-learn model, for docs."""
        args = {**self.sklearn.fixed, **self.params}
        return (f"{self.sklearn.class_name}("
                + ", ".join(f"{k}={_literal(v)}" for k, v in args.items()) + ")")

    def _resolve(self, function: str, gpu: bool) -> Callable:
        suffix = "_cuda" if gpu else ""
        mod = importlib.import_module(f"gpudecode.kernels.{self.kernel_module}{suffix}")
        return getattr(mod, f"{function}{suffix}")

    def kernel(self, gpu: bool = False) -> Callable:
        """The batched kernel: the CPU function, or its numba.cuda twin with ``gpu``."""
        if not self.batched:
            raise ParameterError(f"classifier {self.name!r} has no batched kernel",
                                 field="--classifier",
                                 fix=f"use one of: {', '.join(BATCHED_CLASSIFIERS)}")
        return self._resolve(self.kernel_function, gpu)

    def gram_kernel(self, gpu: bool = False) -> Callable | None:
        """The fixed-feature kernel (one distance matrix), or None where there is none."""
        return None if self.gram_function is None else self._resolve(self.gram_function, gpu)

    def make_estimator(self, *, gpu: bool = False, seed: int = 0,
                       class_weight: str | None = None, params: dict | None = None):
        """A fresh, unfitted scikit-learn (or, with ``gpu``, cuML) estimator of this model.

        Parameters
        ----------
        gpu : bool
            Use cuML where it is importable and has the model; scikit-learn otherwise.
        seed : int
            ``random_state`` of the models that draw random numbers.
        class_weight : {None, "balanced"}
        params : dict, optional
            Hyper-parameters overriding :attr:`params`.

        Returns
        -------
        estimator
            Implements ``fit(X, y)`` / ``predict(X)`` with X trials x features.
        """
        params = {**self.params, **(params or {})}
        cuml = self.cuml
        if gpu and cuml is not None and (class_weight is None or cuml.class_weight) \
                and cuml_available():
            try:
                return cuml.build(params, seed=seed, class_weight=class_weight)
            except Exception:
                pass
        return self.sklearn.build(params, seed=seed, class_weight=class_weight)


BatchedClassifier = Classifier  # the name before the registry held every classifier

CLASSIFIERS: dict[str, Classifier] = {c.name: c for c in (
    Classifier(
        # libsvm's dual on the linear kernel, solved by an interior-point method (>= 99.9 %
        # of SVC's predictions); multiclass one-vs-one, as SVC itself
        "linear-svm", "SVM with a linear kernel", {"C": 1.0},
        sklearn=Estimator("sklearn.svm.SVC", {"kernel": "linear"}),
        cuml=Estimator("cuml.svm.SVC", {"kernel": "linear"}),
        kernel_module="linear_svm", kernel_function="fit_predict_linear_svm",
        gram_function="fit_predict_linear_svm_fixed", label_sets_together=32),
    Classifier(
        "logistic", "L2 logistic regression", {"C": 1.0},
        sklearn=Estimator("sklearn.linear_model.LogisticRegression", {"max_iter": 1000}),
        cuml=Estimator("cuml.linear_model.LogisticRegression", {"max_iter": 1000}),
        kernel_module="logistic", kernel_function="fit_predict_logistic",
        max_batched_features=MAX_BATCHED_LINEAR_FEATURES, one_vs_rest=True),
    Classifier(
        # scikit-learn's LDA has no class_weight; the kernel's balanced fit uses equal priors.
        "lda", "linear discriminant analysis, Ledoit-Wolf shrinkage", {"shrinkage": "auto"},
        sklearn=Estimator("sklearn.discriminant_analysis.LinearDiscriminantAnalysis",
                          {"solver": "lsqr"}, class_weight=False),
        kernel_module="lda", kernel_function="fit_predict_lda",
        max_batched_features=MAX_BATCHED_LINEAR_FEATURES),
    Classifier(
        "rbf-svm", "SVM with an RBF kernel", {"C": 1.0, "gamma": "scale"},
        sklearn=Estimator("sklearn.svm.SVC", {"kernel": "rbf"}),
        cuml=Estimator("cuml.svm.SVC", {"kernel": "rbf"}),
        kernel_module="rbf_svm", kernel_function="fit_predict_rbf_svm",
        gram_function="fit_predict_rbf_svm_fixed", one_vs_rest=True),
    Classifier(
        "tree", "decision tree", {"max_depth": 3},
        sklearn=Estimator("sklearn.tree.DecisionTreeClassifier", random_state=True),
        kernel_module="tree", kernel_function="fit_predict_tree"),
    Classifier(
        # bootstrap, sqrt(d) features per split, unlimited depth: scikit-learn's defaults;
        # the kernel matches it in distribution (its own random draws), not fit for fit
        "random-forest", "random forest, 100 trees, sqrt(features) per split",
        {"n_estimators": 100},
        sklearn=Estimator("sklearn.ensemble.RandomForestClassifier", {"n_jobs": 1},
                          random_state=True),
        cuml=Estimator("cuml.ensemble.RandomForestClassifier", class_weight=False,
                       random_state=True),
        kernel_module="forest", kernel_function="fit_predict_forest", fit_for_fit=False),
)}

BATCHED_CLASSIFIERS: dict[str, Classifier] = {n: c for n, c in CLASSIFIERS.items() if c.batched}
POPULATION_CLASSIFIERS: tuple[str, ...] = tuple(CLASSIFIERS)


def get_classifier(name: str, *, batched: bool = False, field: str = "--classifier",
                   reason: str | None = None) -> Classifier:
    """The classifier called ``name``; a ParameterError listing the names otherwise.

    Parameters
    ----------
    batched : bool
        Only classifiers with a batched kernel are allowed.
    field : str
        The option named in the error.
    reason : str, optional
        Why a batched kernel is needed, added to the error.
    """
    usable = BATCHED_CLASSIFIERS if batched else CLASSIFIERS
    if name in usable:
        return usable[name]
    what = ("has no batched kernel" if name in CLASSIFIERS
            else "is not a known classifier")
    raise ParameterError(f"classifier {name!r} {what}" + (f"; {reason}" if reason else ""),
                         field=field, fix=f"use one or more of: {', '.join(usable)}")


def parse_classifiers(text: str | list[str] | tuple[str, ...], *, batched: bool = True,
                      field: str = "--classifier", reason: str | None = None) -> list[Classifier]:
    """``"linear-svm,logistic"`` (or a list of names) -> classifiers, duplicates removed.

    ``batched``, ``field`` and ``reason`` as in :func:`get_classifier`.
    """
    names = text.split(",") if isinstance(text, str) else list(text)
    names = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not names:
        usable = BATCHED_CLASSIFIERS if batched else CLASSIFIERS
        raise ParameterError("no classifier given", field=field,
                             fix=f"use one or more of: {', '.join(usable)}")
    return [get_classifier(n, batched=batched, field=field, reason=reason) for n in names]


def classifier_help(*, batched: bool) -> str:
    """``linear-svm (SVM with a linear kernel), ...``: the names and summaries for CLI help."""
    usable = BATCHED_CLASSIFIERS if batched else CLASSIFIERS
    return ", ".join(f"{c.name} ({c.summary})" for c in usable.values())

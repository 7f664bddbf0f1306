"""gpudecode: which cells and population codes in calcium imaging carry behaviour.

Data flow: files --io--> Session --TrialSpec--> Epochs --features--> analyses --engine--> results.
"""

from . import _numba_cache  # noqa: F401  (first: Numba's cache folder, before any kernel)
from importlib import import_module as _import_module
from importlib.metadata import PackageNotFoundError, version as _version

from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all

# The public API, name -> defining module, imported on first access (PEP 562), so that a
# command imports only what it runs: ``gpudecode decode`` does not load the cohort, learning,
# simulation or report modules (scipy.signal, matplotlib) it never calls.
_LAZY = {
    "Backend": "backend",
    "run_cohort": "cohort",
    "compute_correlations": "correlations",
    "decode_democracy": "democracy",
    "correlation_features": "features",
    "summed_features": "features",
    "timecourse_features": "features",
    "window_features": "features",
    "load_events": "io",
    "load_session": "io",
    "load_traces": "io",
    "read_ground_truth": "io.native",
    "read_session": "io.native",
    "save_session": "io.native",
    "cell_stability": "learning",
    "pair_overlap": "learning",
    "trend_test": "learning",
    "read_manifest": "manifest",
    "read_registration": "manifest",
    "discriminative_pairs": "pairs",
    "DecodeConfig": "pipeline",
    "decode_epochs": "pipeline",
    "decode_session": "pipeline",
    "decode_correlations": "population",
    "decode_features": "population",
    "decode_summed": "population",
    "rank_models": "ranking",
    "Events": "session",
    "Session": "session",
    "interpolate_nonfinite": "session",
    "simulate_cohort": "simulate",
    "simulate_session": "simulate",
    "write_simulation": "simulate",
    "decode_cells": "single_cell",
    "SplitPlan": "splits",
    "score_predictions": "splits",
    "fdr_bh": "stats",
    "permutation_pvalues": "stats",
    "load_targets": "targets",
    "resolve_targets": "targets",
    "decode_timecourse": "time_resolved",
    "DroppedTrialsWarning": "trials",
    "Epochs": "trials",
    "TrialSpec": "trials",
    "make_epochs": "trials",
}


def __getattr__(name):
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'gpudecode' has no attribute {name!r}") from None
    value = getattr(_import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def write_report(result_dir, out=None):
    """Figures and a self-contained HTML report of a result folder (see :mod:`gpudecode.report`).

    Imported on first use, so ``import gpudecode`` does not load matplotlib.
    """
    from .report import write_report as _write_report
    return _write_report(result_dir, out)

try:
    __version__ = _version("gpudecode")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

__all__ = [
    *_errors_all,
    "Backend",
    "DecodeConfig",
    "DroppedTrialsWarning",
    "Epochs",
    "Events",
    "Session",
    "SplitPlan",
    "TrialSpec",
    "cell_stability",
    "compute_correlations",
    "correlation_features",
    "decode_cells",
    "decode_correlations",
    "decode_democracy",
    "decode_epochs",
    "decode_features",
    "decode_session",
    "decode_summed",
    "decode_timecourse",
    "discriminative_pairs",
    "fdr_bh",
    "interpolate_nonfinite",
    "load_events",
    "load_session",
    "load_targets",
    "load_traces",
    "make_epochs",
    "pair_overlap",
    "permutation_pvalues",
    "rank_models",
    "read_ground_truth",
    "read_manifest",
    "read_registration",
    "read_session",
    "resolve_targets",
    "run_cohort",
    "save_session",
    "score_predictions",
    "simulate_cohort",
    "simulate_session",
    "summed_features",
    "timecourse_features",
    "trend_test",
    "window_features",
    "write_report",
    "write_simulation",
]

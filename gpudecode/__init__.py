"""gpudecode: which cells and population codes in calcium imaging carry behaviour.

Data flow: files --io--> Session --TrialSpec--> Epochs --features--> analyses --engine--> results.
"""

from . import _numba_cache  # noqa: F401  (first: Numba's cache folder, before any kernel)
from importlib.metadata import PackageNotFoundError, version as _version

from .backend import Backend
from .cohort import run_cohort
from .correlations import compute_correlations
from .democracy import decode_democracy
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all
from .io import load_events, load_session, load_traces
from .features import correlation_features, summed_features, timecourse_features, window_features
from .io.native import read_ground_truth, read_session, save_session
from .learning import cell_stability, pair_overlap, trend_test
from .manifest import read_manifest, read_registration
from .pairs import discriminative_pairs
from .pipeline import DecodeConfig, decode_epochs, decode_session
from .population import decode_correlations, decode_features, decode_summed
from .ranking import rank_models
from .session import Events, Session, interpolate_nonfinite
from .simulate import simulate_cohort, simulate_session, write_simulation
from .single_cell import decode_cells
from .splits import SplitPlan, score_predictions
from .stats import fdr_bh, permutation_pvalues
from .targets import load_targets, resolve_targets
from .time_resolved import decode_timecourse
from .trials import DroppedTrialsWarning, Epochs, TrialSpec, make_epochs


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

"""gpudecode: which cells and population codes in calcium imaging carry behaviour.

Data flow: files --io--> Session --TrialSpec--> Epochs --features--> decoders --> results.
"""

from importlib.metadata import PackageNotFoundError, version as _version

from .backend import Backend
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all
from .io import load_events, load_session, load_traces
from .io.native import read_ground_truth, read_session, save_session
from .session import Events, Session, interpolate_nonfinite
from .simulate import simulate_cohort, simulate_session, write_simulation
from .splits import SplitPlan, score_predictions
from .stats import fdr_bh, permutation_pvalues
from .trials import DroppedTrialsWarning, Epochs, TrialSpec, make_epochs

try:
    __version__ = _version("gpudecode")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

__all__ = [
    *_errors_all,
    "Backend",
    "DroppedTrialsWarning",
    "Epochs",
    "Events",
    "Session",
    "SplitPlan",
    "TrialSpec",
    "fdr_bh",
    "interpolate_nonfinite",
    "load_events",
    "load_session",
    "load_traces",
    "make_epochs",
    "permutation_pvalues",
    "read_ground_truth",
    "read_session",
    "save_session",
    "score_predictions",
    "simulate_cohort",
    "simulate_session",
    "write_simulation",
]

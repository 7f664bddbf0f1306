"""gpudecode: which cells and population codes in calcium imaging carry behaviour."""

from importlib.metadata import PackageNotFoundError, version as _version

from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all
from .io import load_events, load_session, load_traces
from .session import Events, Session, interpolate_nonfinite

try:
    __version__ = _version("gpudecode")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

__all__ = [
    *_errors_all,
    "Events",
    "Session",
    "interpolate_nonfinite",
    "load_events",
    "load_session",
    "load_traces",
]

"""Typed errors for bad input.

Every error names the file, the field and the fix, and renders as one line, so the
CLI can print ``str(err)`` and exit with status 2 without a traceback.
"""

from __future__ import annotations

from os import PathLike

__all__ = [
    "GpudecodeError",
    "InputFileError",
    "FormatError",
    "ShapeError",
    "NonFiniteError",
    "FrameTimesError",
    "EventsError",
    "AnchorError",
    "NoTrialsError",
    "TooFewTrialsError",
    "DeviceError",
    "ParameterError",
    "OutputError",
]


class GpudecodeError(ValueError):
    """Base class: a problem with the user's input that the user can fix.

    Parameters
    ----------
    message : str
        What is wrong.
    path : str or path-like, optional
        The file (or folder) the problem is in.
    field : str, optional
        The dataset, column, attribute or option at fault.
    fix : str, optional
        What the user can do about it.
    """

    def __init__(self, message: str, *, path: str | PathLike | None = None,
                 field: str | None = None, fix: str | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.field = field
        self.fix = fix
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.path:
            where += f"{self.path}: "
        if self.field:
            where += f"[{self.field}] "
        text = f"{where}{self.message}"
        if self.fix:
            text += f" Fix: {self.fix}"
        return " ".join(text.split())

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.path, self.field, self.fix))


def _rebuild(cls, message, path, field, fix):
    return cls(message, path=path, field=field, fix=fix)


class InputFileError(GpudecodeError):
    """A file or folder is missing or unreadable."""


class FormatError(GpudecodeError):
    """The file's format is unknown, or the file does not follow it."""


class ShapeError(GpudecodeError):
    """Array shapes or axis order do not fit together."""


class NonFiniteError(GpudecodeError):
    """Traces contain NaN or infinite values."""


class FrameTimesError(GpudecodeError):
    """Frame times are not strictly increasing, are duplicated, or do not match the traces."""


class EventsError(GpudecodeError):
    """The events table is malformed or does not fit the recording."""


class AnchorError(GpudecodeError):
    """An anchor or label event named by the user does not exist."""


class NoTrialsError(GpudecodeError):
    """The trial specification yields no usable trials."""


class TooFewTrialsError(GpudecodeError):
    """A class has fewer trials than the cross-validation needs."""


class DeviceError(GpudecodeError):
    """The requested compute device is not usable."""


class ParameterError(GpudecodeError):
    """An option has a value that cannot work."""


class OutputError(GpudecodeError):
    """The output folder cannot be written, is in use, or would overwrite an input."""

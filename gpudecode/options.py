"""Options declared once: a dataclass field carries its command-line flag, help and default.

A field made with :func:`option` is a plain dataclass field (the Python API sees its default)
whose metadata holds the flag(s) and the help text. ``gpudecode.cli`` builds the options of
every command from these declarations (``decode`` and ``cohort`` share
:class:`gpudecode.pipeline.DecodeConfig`), and :func:`document_options` writes the same text
into the class docstring, so a parameter's name, default and meaning are written in one place.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["option", "declared_options", "cli_default", "cli_type", "document_options"]

_UNSET = object()


def option(default: Any, *flags: str, help: str, type: type | None = None,
           cli_default: Any = _UNSET, show_default: str | bool | None = None):
    """A dataclass field with a command-line option.

    Parameters
    ----------
    default
        The field's default (the Python API's).
    *flags : str
        ``"--window"``, optionally a short ``"-w"``. No flag: the field is not an option.
    help : str
        One or two sentences, used by ``--help`` and the class docstring.
    type : type, optional
        What the command line parses (``int``, ``float``, ``str``, ``Path`` ...). Default:
        the type of the default; ``str`` for a tuple (comma-separated on the command line).
        Needed when the default is None.
    cli_default : optional
        The command line's default where it differs from the Python API's.
    show_default : str or bool, optional
        Text shown as the default in ``--help`` (e.g. ``"none: all features"``).
    """
    meta = {"flags": flags, "help": help, "type": type, "show_default": show_default}
    if cli_default is not _UNSET:
        meta["cli_default"] = cli_default
    return dataclasses.field(default=default, metadata=meta)


def declared_options(cls) -> list[dataclasses.Field]:
    """The fields of dataclass ``cls`` that are command-line options, in declaration order."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("flags")]


def cli_default(f: dataclasses.Field) -> Any:
    """The command line's default of field ``f`` (a tuple as its comma-separated text)."""
    value = f.metadata.get("cli_default", f.default)
    return ",".join(map(str, value)) if isinstance(value, tuple) else value


def cli_type(f: dataclasses.Field) -> type:
    """What the command line parses for field ``f``."""
    declared = f.metadata.get("type")
    if declared is not None:
        return declared
    default = cli_default(f)
    if default is None:
        raise TypeError(f"option {f.name!r} has default None: declare its type")
    return type(default)


def document_options(cls):
    """Class decorator: append a ``Parameters`` section built from the declared options."""
    lines = ["", "Parameters", "----------"]
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata:
            continue
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", f.type)
        lines.append(f"{f.name} : {kind}, default {f.default!r}")
        flags = f.metadata["flags"]
        where = ""
        if flags:
            where = f" Command line: ``{flags[0]}``"
            if "cli_default" in f.metadata:
                where += f", default {cli_default(f)!r}"
            where += "."
        lines.append(f"    {f.metadata['help']}{where}")
    indent = "    "
    cls.__doc__ = (cls.__doc__ or "").rstrip() + "\n" + "\n".join(
        indent + ln if ln else ln for ln in lines) + "\n"
    return cls

"""Named decoding targets: a name and a description for a :class:`~gpudecode.trials.TrialSpec`.

The built-in targets live in ``gpudecode/targets.toml`` (the touchscreen task: ``outcome``,
``location``, ``object``, ``trial-type``); that file documents the layout. A user TOML file
of the same layout adds targets, and a target named like a built-in one replaces it whole::

    [targets.lever]
    description = "Left vs right lever press"
    anchors = ["Lever Left", "Lever Right"]
    pre = 0.5
    post = 1.5

    [targets.reward-side]
    anchors = ["Reward"]
    label_attr = "side"            # label = "attr" is implied
    exclude_events = ["Probe"]
    exclude_within = 5.0
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import FormatError, GpudecodeError, InputFileError, ParameterError
from .trials import TrialSpec

__all__ = ["BUILTIN", "FIELDS", "Target", "load_targets", "resolve_targets"]

BUILTIN = "built-in"
FIELDS = ("description", "anchors", "pre", "post", "label", "label_events", "label_window",
          "label_attr", "exclude_events", "exclude_within")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_NAMES_FIELDS = ("anchors", "label_events", "exclude_events")
_NUMBER_FIELDS = ("pre", "post", "exclude_within")
_TEXT_FIELDS = ("description", "label", "label_attr")
_DEFAULT_WINDOW = {"pre": 1.0, "post": 1.0}


@dataclass(frozen=True)
class Target:
    """A named decoding target.

    Attributes
    ----------
    name : str
        What users type (``--target NAME``).
    description : str
    spec : TrialSpec
        Anchors, window, label rule and exclusions of the trials.
    source : str
        The file that defined the target, or ``"built-in"``.
    """

    name: str
    description: str
    spec: TrialSpec
    source: str = BUILTIN

    def as_dict(self) -> dict:
        """JSON-ready fields, in the TOML layout (for ``summary.json``)."""
        s = self.spec
        return {"name": self.name, "description": self.description, "source": self.source,
                "anchors": list(s.anchors), "pre": s.pre, "post": s.post, "label": s.label,
                "label_events": list(s.label_events), "label_window": list(s.label_window),
                "label_attr": s.label_attr, "exclude_events": list(s.exclude_events),
                "exclude_within": s.exclude_within}


def _bad(message: str, path, field: str, fix: str) -> FormatError:
    return FormatError(message, path=path, field=field, fix=fix)


def _is_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _check_types(table: dict, name: str, path) -> None:
    where = f"targets.{name}"
    for key in table:
        if key not in FIELDS:
            close = difflib.get_close_matches(key, FIELDS, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise _bad(f"unknown field {key!r} in target {name!r}", path, f"{where}.{key}",
                       f"{hint}use only: {', '.join(FIELDS)}")
    if "anchors" not in table:
        raise _bad(f"target {name!r} has no anchors", path, f"{where}.anchors",
                   'add e.g. anchors = ["Correct", "Incorrect"]')
    for key in _NAMES_FIELDS:
        if key in table:
            v = table[key]
            if not (isinstance(v, str) or (isinstance(v, list)
                                            and all(isinstance(x, str) for x in v))):
                raise _bad(f"{key} must be a list of event names, got {v!r}", path,
                           f"{where}.{key}", f'write it as {key} = ["Name 1", "Name 2"]')
    for key in _NUMBER_FIELDS:
        if key in table and not _is_number(table[key]):
            raise _bad(f"{key} must be a number of seconds, got {table[key]!r}", path,
                       f"{where}.{key}", f"write it as {key} = 1.0")
    for key in _TEXT_FIELDS:
        if key in table and not isinstance(table[key], str):
            raise _bad(f"{key} must be a string, got {table[key]!r}", path, f"{where}.{key}",
                       f'write it in quotes, e.g. {key} = "..."')
    if "label_window" in table:
        v = table["label_window"]
        if not (isinstance(v, list) and len(v) == 2 and all(_is_number(x) for x in v)):
            raise _bad(f"label_window must be two numbers [a, b], got {v!r}", path,
                       f"{where}.label_window", "write it as label_window = [0.0, 10.0]")


def _make_target(name: str, table, path, source: str) -> Target:
    where = f"targets.{name}"
    if not _NAME.match(name):
        raise _bad(f"target name {name!r} is not allowed", path, where,
                   "use letters, digits, '-' and '_' only, starting with a letter or digit")
    if not isinstance(table, dict):
        raise _bad(f"target {name!r} must be a table of fields, got {table!r}", path, where,
                   f"write it as a [targets.{name}] section with anchors = [...] etc.")
    _check_types(table, name, path)
    kw = {k: v for k, v in table.items() if k != "description"}
    for k, v in _DEFAULT_WINDOW.items():
        kw.setdefault(k, v)
    if "label" not in kw:
        kw["label"] = ("events" if kw.get("label_events") else
                       "attr" if kw.get("label_attr") else "anchor")
    if "label_window" in kw:
        kw["label_window"] = tuple(kw["label_window"])
    try:
        spec = TrialSpec(**kw)
    except GpudecodeError as err:
        raise _bad(f"target {name!r}: {err.message}", path,
                   f"{where}.{err.field}" if err.field else where,
                   err.fix or "see the layout at the top of gpudecode/targets.toml") from None
    return Target(name=name, description=str(table.get("description", "")).strip(), spec=spec,
                  source=source)


def _parse(text: str, path, source: str) -> dict[str, Target]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise _bad(f"not valid TOML: {err}", path, "toml",
                   "fix the syntax (strings in double quotes, lists in [ ], one "
                   "[targets.NAME] header per target)") from None
    extra = [k for k in data if k != "targets"]
    if extra:
        raise _bad(f"unexpected top-level key{'s' if len(extra) > 1 else ''} "
                   f"{', '.join(repr(k) for k in extra)}", path, extra[0],
                   "put each target in its own [targets.NAME] section")
    targets = data.get("targets")
    if not isinstance(targets, dict) or not targets:
        raise _bad("no targets defined", path, "targets",
                   'add a section like [targets.outcome] with anchors = ["Correct", "Incorrect"]')
    return {name: _make_target(name, table, path, source) for name, table in targets.items()}


def _builtin_text() -> str:
    return resources.files("gpudecode").joinpath("targets.toml").read_text(encoding="utf-8")


def load_targets(path: str | os.PathLike | None = None) -> dict[str, Target]:
    """The built-in targets, plus (and overridden by) those of a user TOML file.

    Parameters
    ----------
    path : path, optional
        A TOML file with ``[targets.NAME]`` sections (layout: ``gpudecode/targets.toml``).

    Returns
    -------
    dict of str to Target
        Built-in targets first (file order), then the user's new ones; a user target with
        a built-in name keeps the built-in's position.

    Raises
    ------
    InputFileError
        ``path`` does not exist or cannot be read.
    FormatError
        The file is not valid TOML or a target in it is malformed (the field is named).
    """
    targets = _parse(_builtin_text(), "gpudecode/targets.toml", BUILTIN)
    if path is None:
        return targets
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError("targets file not found", path=p,
                             fix="check the path (relative paths start from the current "
                                 "folder)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputFileError(f"cannot read the targets file: {err}", path=p,
                             fix="give a UTF-8 TOML text file") from None
    targets.update(_parse(text, p, str(p)))
    return targets


def resolve_targets(names: str | Iterable[str],
                    path: str | os.PathLike | None = None) -> list[Target]:
    """The targets called ``names``, in that order, from :func:`load_targets` ``(path)``.

    Parameters
    ----------
    names : str or iterable of str
        Target names; a string may list several separated by commas. Repeats are dropped.
    path : path, optional
        User targets file.

    Raises
    ------
    ParameterError
        No names, or a name that is not defined (the message lists the known names).
    """
    if isinstance(names, str):
        names = names.split(",")
    wanted = [n for n in dict.fromkeys(str(n).strip() for n in names) if n]
    if not wanted:
        raise ParameterError("no target names given", field="target",
                             fix="name one or more targets, e.g. --target outcome,location")
    targets = load_targets(path)
    unknown = [n for n in wanted if n not in targets]
    if unknown:
        hints = []
        for n in unknown:
            close = difflib.get_close_matches(n, list(targets), n=1, cutoff=0.6)
            if close:
                hints.append(f"{n!r} -> {close[0]!r}?")
        known = ", ".join(targets)
        fix = (f"use one of: {known}" if path is not None else
               f"use one of: {known}; define your own in a TOML file (--targets FILE)")
        if hints:
            fix = "did you mean " + ", ".join(hints) + " Otherwise " + fix
        raise ParameterError(f"unknown target{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(repr(n) for n in unknown)}",
                             path=path, field="target", fix=fix)
    return [targets[n] for n in wanted]

"""Names from input files are data: shown literally, never interpreted.

Cell ids, event names and labels come from file headers. Printed raw, an ANSI escape
sequence in one of them retitles or clears the user's terminal; drawn raw, a ``$`` starts
matplotlib mathtext, which fails on text such as ``$$`` or ``$\\foo$``.
:func:`printable` removes control characters for the terminal; :func:`literal` also escapes
``$`` for figure text; :class:`PrintableConsole` applies :func:`printable` to every string a
rich console renders (plain prints, markup, table cells, titles, rules), so the CLI needs no
call per name.
"""

from __future__ import annotations

import re

from rich.console import Console

__all__ = ["PrintableConsole", "literal", "printable"]

# ESC-introduced sequences (CSI "ESC [ ... final", OSC "ESC ] ... BEL or ESC \", and two-byte
# escapes) first, so their parameters go with them; then every remaining C0/C1 control
# character and DEL. Tab and newline are kept only where allowed.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"                    # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"        # OSC, terminated by BEL or ST (or cut off)
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"             # DCS, SOS, PM, APC strings
    r"|\x1b[@-Z\\-_]"                             # other two-byte escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"                     # 8-bit CSI
    r"|\x9d[^\x07\x9c]*(?:\x07|\x9c)?")           # 8-bit OSC
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROLS_NO_NEWLINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text, *, newlines: bool = False) -> str:
    """``text`` as a string without escape sequences or control characters.

    Parameters
    ----------
    text : object
        Converted with ``str``.
    newlines : bool
        Keep tab and newline characters (for multi-line messages); otherwise they are
        removed like every other control character.

    Returns
    -------
    str
        Safe to write to a terminal: nothing in it moves the cursor, changes the window
        title, clears the screen or rings the bell.
    """
    s = _ESCAPES.sub("", str(text))
    return (_CONTROLS if newlines else _CONTROLS_NO_NEWLINE).sub("", s)


def literal(text) -> str:
    """``text`` for a matplotlib text object: printable (line breaks kept), every ``$``
    shown as a dollar sign.

    Matplotlib treats text with an even number of unescaped ``$`` as mathtext; escaped
    (``\\$``) they are drawn as ``$``.
    """
    return printable(text, newlines=True).replace("$", r"\$")


class PrintableConsole(Console):
    """A rich :class:`~rich.console.Console` that renders every string through
    :func:`printable` (keeping newlines and tabs).

    Rich's own styling (colour, bold) still reaches a terminal; only the text's control
    characters and escape sequences, which rich passes through, are removed.
    """

    def render_str(self, text: str, **kwargs):
        return super().render_str(printable(text, newlines=True), **kwargs)

"""The ``gpudecode-cli`` directive: the command-line reference, generated from the typer app.

typer >= 0.29 vendors click, so sphinx-click cannot read the app. This extension asks typer for
the click command (``typer.main.get_command``) and writes reStructuredText from it at build time:
every command, argument and option, with its help text, type and default, as ``--help`` shows
them. :func:`render_cli` is also used by ``tests/test_docs.py`` to check that every option
appears.
"""

from __future__ import annotations

import importlib
import inspect


def _command(app_or_command):
    import typer.main
    if hasattr(app_or_command, "registered_commands"):
        return typer.main.get_command(app_or_command)
    return app_or_command


def _default(param) -> str | None:
    if param.required:
        return None
    default = param.default
    if callable(default) or default is None:
        return None
    if isinstance(default, bool):
        return None if not default else "true"
    if isinstance(default, (list, tuple)):
        return None if not default else ", ".join(map(str, default))
    text = str(default)
    return text if text else None


def _type_name(param, ctx) -> str:
    if getattr(param, "is_flag", False):
        return "flag"
    try:                      # typer >= 0.29: display_type(ctx) gives "<int>", "<path>", ...
        return param.display_type(ctx).strip("<>")
    except Exception:         # click's own parameters
        t = getattr(param, "type", None)
        return getattr(t, "name", None) or "text"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("`", "\\`").replace("|", "\\|")


def _para(text: str) -> list[str]:
    return [_escape(line.strip()) for line in inspect.cleandoc(text or "").splitlines()]


def render_cli(app_or_command, prog: str = "gpudecode") -> list[str]:
    """reStructuredText lines documenting every command, argument and option of a typer app."""
    group = _command(app_or_command)
    lines: list[str] = []
    lines += _para(group.help or "")
    lines += ["", ".. code-block:: text", "", f"   {prog} COMMAND [OPTIONS] [ARGUMENTS]", ""]
    for name in group.list_commands(None) if hasattr(group, "list_commands") else group.commands:
        cmd = group.commands[name]
        if getattr(cmd, "hidden", False):
            continue
        ctx = cmd.context_class(cmd, info_name=name)
        usage = " ".join(
            [prog, name]
            + [p.name.upper() if p.required else f"[{p.name.upper()}]"
               for p in cmd.params if p.param_type_name == "argument"]
            + (["[OPTIONS]"] if any(p.param_type_name == "option" for p in cmd.params) else []))
        title = f"{prog} {name}"
        lines += [f".. _cli-{name}:", "", title, "-" * len(title), ""]
        lines += _para(cmd.help or "") + [""]
        lines += [".. code-block:: text", "", f"   {usage}", ""]
        lines += [f".. program:: {prog} {name}", ""]
        args = [p for p in cmd.params if p.param_type_name == "argument"]
        opts = [p for p in cmd.params if p.param_type_name == "option" and not p.hidden]
        if args:
            lines += ["**Arguments**", ""]
            for p in args:
                lines += _entry(p.name.upper(), p, ctx)
        if opts:
            lines += ["**Options**", ""]
            for p in opts:
                names = ", ".join(list(p.opts) + list(p.secondary_opts))
                lines += _entry(names, p, ctx)
    return lines


def _entry(names: str, param, ctx) -> list[str]:
    meta = [_escape(_type_name(param, ctx))]
    if param.required:
        meta.append("required")
    default = _default(param)
    if default is not None:
        meta.append(f"default ``{default}``")
    meta = ["(" + ", ".join(meta) + ")"]
    # options: Sphinx's option directive (linkable, indexed); arguments: a definition list item
    lines = [f".. option:: {names}", ""] if names.startswith("-") else [f"``{names}``"]
    help_lines = _para(getattr(param, "help", None) or "")
    text = help_lines + [" ".join(meta)] if help_lines else [" ".join(meta)]
    lines += ["   " + line for line in text] + [""]
    return lines


def setup(app):
    from sphinx.util.docutils import SphinxDirective   # Sphinx only at build time: the tests import render_cli

    class CLIDirective(SphinxDirective):
        """``.. gpudecode-cli:: module:attribute``: the reference of a typer app."""

        required_arguments = 1

        def run(self):
            module_name, attr = self.arguments[0].split(":")
            typer_app = getattr(importlib.import_module(module_name), attr)
            return self.parse_text_to_nodes("\n".join(render_cli(typer_app)),
                                            allow_section_headings=True)

    app.add_directive("gpudecode-cli", CLIDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

"""MkDocs hook: the CLI reference, generated from the `lossatlas` command itself.

Every command and sub-command, its help, usage, arguments and options (with
types and defaults) is read from the Typer/Click command tree when the site is
built, so the page cannot drift from the code. It replaces the marker
``<!-- cli-reference -->`` in ``cli.md``.
"""

from __future__ import annotations

import enum
import inspect

MARKER = "<!-- cli-reference -->"
# Typer's shell-completion options: about the shell, not about lossatlas
_COMPLETION = ("install_completion", "show_completion")


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _default(param) -> str:
    if getattr(param, "is_flag", False) and not getattr(param, "secondary_opts", None):
        return "off" if not param.default else "on"
    value = param.default
    if callable(value) or value is None or value == () or value == []:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(getattr(value, "value", value))


def _type(param) -> str:
    """The parameter's type as its annotation names it (Typer keeps it on the parameter)."""
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    if getattr(param, "is_flag", False) or annotation is bool:
        return "flag"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " \\| ".join(f"`{m.value}`" for m in annotation)
    if annotation is None:
        return ""
    name = getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
    return f"{name} (repeatable)" if getattr(param, "multiple", False) else name


def _command(ctx_cls, command, path: list[str], parent) -> list[str]:
    ctx = ctx_cls(command, info_name=path[-1], parent=parent)
    title = " ".join(path)
    out = [f"### `{title}`", ""]
    doc = inspect.cleandoc(command.help or "")
    if doc:
        out += [doc.split("\f")[0], ""]
    pieces = " ".join(command.collect_usage_pieces(ctx))
    out += ["```text", f"Usage: {title} {pieces}", "```", ""]
    rows = []
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False) or param.name in (
            "install_completion",
            "show_completion",
        ):
            continue
        if param.param_type_name == "argument":
            names = f"`{(param.metavar or param.name).upper()}`"
            help_text = getattr(param, "help", "") or ""
        else:
            names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
            help_text = param.help or ""
        rows.append(
            f"| {names} | {_type(param)} | {_escape(_default(param))} | {_escape(help_text)} |"
        )
    if rows:
        out += ["| name | type | default | description |", "|---|---|---|---|", *rows, ""]
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not getattr(sub, "hidden", False):
                out += _command(ctx_cls, sub, [*path, name], ctx)
    return out


def reference() -> str:
    """The markdown reference of every `lossatlas` command."""
    import typer.main

    from lossatlas.cli import app

    root = typer.main.get_command(app)
    ctx_cls = root.context_class
    return "\n".join(_command(ctx_cls, root, ["lossatlas"], None))


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, reference())

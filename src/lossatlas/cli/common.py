"""Shared pieces of the command line: the app, options, settings display, errors."""

from __future__ import annotations

import ast
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lossatlas.cli.config import ConfigGroup

app = typer.Typer(
    name="lossatlas",
    help="Loss surfaces of neural networks: landscapes, spectra, paths, geometry.\n\n"
    "Every command also takes --config FILE: its flags' settings from a TOML or YAML file "
    "(the flags' names as keys); flags on the command line win.",
    no_args_is_help=True,
    add_completion=False,
    cls=ConfigGroup,
)
console = Console()

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="zoo model (see `lossatlas zoo`)")]
DataOpt = Annotated[str, typer.Option("--data", "-d", help="zoo data set (see `lossatlas zoo`)")]
ArgsOpt = Annotated[
    list[str] | None,
    typer.Option(help="extra keyword for the model or data set, KEY=VALUE (repeatable)"),
]
SeedOpt = Annotated[int, typer.Option(help="seed of the initialisation and the batch order")]


def parse_kwargs(pairs: list[str] | None, what: str) -> dict:
    """KEY=VALUE strings → a dict, VALUE read as a Python literal when it is one."""
    out = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.isidentifier():
            raise typer.BadParameter(
                f"`{what}` must look like KEY=VALUE (e.g. activation=relu); got {pair!r}."
            )
        try:
            out[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key] = raw
    return out


def _fail(err: Exception) -> None:
    console.print(f"[bold red]error:[/] {err}", soft_wrap=True)  # paths stay whole
    raise typer.Exit(code=2)


def _show_settings(title: str, settings: dict) -> None:
    table = Table(title=title, show_header=False, box=None)
    for k, v in settings.items():
        table.add_row(f"[dim]{k}[/]", str(v))
    console.print(table)


def main() -> None:
    app()


def resolve_inputs(model: str, data: str, model_arg, data_arg, seed: int | None = None):
    """(split, model) from the command line's names, paths and KEY=VALUE extras.

    The seed initialises the model: passed to zoo factories, and set as torch's
    global seed around a user's `package.module:function` factory.
    """
    import torch

    from lossatlas import inputs

    split = inputs.load_data(data, **parse_kwargs(data_arg, "--data-arg"))
    kw = parse_kwargs(model_arg, "--model-arg")
    if ":" in model:
        with torch.random.fork_rng():
            torch.manual_seed(0 if seed is None else seed)
            return split, inputs.load_model(model, split, **kw)
    if seed is not None:
        kw.setdefault("seed", seed)
    return split, inputs.load_model(model, split, **kw)

"""`--config FILE` for every command: the command's settings from a TOML or YAML file.

The file holds the same fields as the command's flags (`sgd-epochs` or
`sgd_epochs`, `plane = false` for `--no-plane`, lists for repeatable flags);
flags given on the command line win. It is handled once, by the root group
(`ConfigGroup`), for every command and sub-command, including those of
nested groups (`lossatlas geometry xor --config run.toml`) and commands added
later: the group takes `--config FILE` out of the arguments, checks every key
against the command's parameters and their types, and hands the values to
click as the command's defaults (`ctx.default_map`).

    # plane.toml                          lossatlas surface --config plane.toml --grid 21
    kind = "plane"
    grid = "51"
    checkpoint = ["runs/a/final.pt"]
"""

from __future__ import annotations

import enum
import inspect
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

OPTION = "--config"
EPILOG = (
    "Settings can also come from a file: --config FILE (TOML or YAML) with the flags' names "
    "as keys; flags on the command line win."
)


def _expected(annotation: Any) -> tuple[str, Any]:
    """(description, checker) of a parameter's type; checker(value) -> the value or raises."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _expected(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        what, check = _expected(args[0]) if len(args) == 1 else ("a value", lambda v: v)
        return what, lambda v: None if v is None else check(v)
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        what, check = _expected(item)
        # a single value stands for a list of one, as one flag does on the command line
        return f"a list of {_PLURAL.get(what, what)}", lambda v: [
            check(x) for x in (v if isinstance(v, list) else [v])
        ]
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        return f"one of {', '.join(map(repr, choices))}", lambda v: _member(v, choices)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        choices = tuple(m.value for m in annotation)
        return f"one of {', '.join(map(repr, choices))}", lambda v: _member(v, choices)
    simple = {
        bool: ("true or false", lambda v: isinstance(v, bool)),
        int: ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
        float: ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
        str: ("a string", lambda v: isinstance(v, str)),
        Path: ("a path (a string)", lambda v: isinstance(v, str)),
    }
    if annotation in (str, Path):  # a number where a string goes is read as its text
        what = simple[annotation][0]
        number = (int, float)
        return (
            what,
            lambda v: (
                v
                if isinstance(v, str)
                else (str(v) if isinstance(v, number) and not isinstance(v, bool) else _wrong())
            ),
        )
    if annotation in simple:
        what, ok = simple[annotation]
        return what, lambda v: v if ok(v) else _wrong()
    return "a value", lambda v: v


_PLURAL = {
    "true or false": "true or false values",
    "an integer": "integers",
    "a number": "numbers",
    "a string": "strings",
    "a path (a string)": "paths (strings)",
}


class _WrongType(ValueError):
    pass


def _wrong() -> Any:
    raise _WrongType


def _member(value: Any, choices: tuple) -> Any:
    if value not in choices:
        raise _WrongType
    return value


def _annotations(command: Any) -> dict[str, Any]:
    """The annotations of a command's function (typer keeps it as the callback's __wrapped__)."""
    function = inspect.unwrap(command.callback) if command.callback else None
    if function is None:
        return {}
    try:
        return typing.get_type_hints(function, include_extras=True)
    except (NameError, TypeError):  # an annotation that cannot be resolved: no type checks
        return {}


def _keys(command: Any) -> dict[str, Any]:
    """Every accepted key (parameter names and long flag names) -> its parameter."""
    keys: dict[str, Any] = {}
    for param in command.params:
        if not param.name or param.name == "help" or not getattr(param, "expose_value", True):
            continue
        keys[param.name] = param
        for opt in param.opts:
            if opt.startswith("--"):
                keys.setdefault(opt[2:].replace("-", "_"), param)
    return keys


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise typer.BadParameter(f"the config file {str(path)!r} does not exist.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            with path.open("rb") as f:
                data = tomllib.load(f)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text())
        else:
            raise typer.BadParameter(
                f"`{OPTION}` must be a .toml, .yaml or .yml file; got {str(path)!r}."
            )
    except (tomllib.TOMLDecodeError, ValueError) as err:
        raise typer.BadParameter(f"the config file {str(path)!r} is not valid: {err}") from None
    except Exception as err:  # yaml.YAMLError: pyyaml is imported lazily
        raise typer.BadParameter(f"the config file {str(path)!r} is not valid: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise typer.BadParameter(
            f"the config file {str(path)!r} must hold key = value settings; "
            f"got a {type(data).__name__}."
        )
    return data


def load(path: str | Path, command: Any, name: str = "") -> dict[str, Any]:
    """The settings in `path` for the click `command`, by parameter name, checked.

    Raises:
        typer.BadParameter: a missing or unreadable file, an unknown key (the
            valid ones are listed) or a value of the wrong type (the expected
            type is named).
    """
    path = Path(path)
    data = _read(path)
    keys = _keys(command)
    hints = _annotations(command)
    values: dict[str, Any] = {}
    for key, value in data.items():
        param = keys.get(str(key).replace("-", "_"))
        if param is None:
            valid = ", ".join(sorted(k.replace("_", "-") for k in keys if k in _flag_names(keys)))
            raise typer.BadParameter(
                f"the config file {str(path)!r} has an unknown key {key!r} for "
                f"`lossatlas {name}`; the valid keys are: {valid}."
            )
        what, check = _expected(hints.get(param.name, Any))
        try:
            values[param.name] = check(value)
        except _WrongType:
            raise typer.BadParameter(
                f"the config file {str(path)!r}: `{key}` must be {what}; got {value!r} "
                f"({type(value).__name__})."
            ) from None
    return values


def _flag_names(keys: dict[str, Any]) -> set[str]:
    """The names to list: one per parameter, its long flag's name where it has one."""
    shown = {}
    for key, param in keys.items():
        long = [o[2:].replace("-", "_") for o in param.opts if o.startswith("--")]
        shown.setdefault(param.name, long[0] if long else key)
    return set(shown.values())


def _pop(args: list[str]) -> tuple[str | None, list[str]]:
    """(the --config value, the other arguments)."""
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == OPTION:
            if i + 1 >= len(args):
                raise typer.BadParameter(f"`{OPTION}` needs a file: {OPTION} FILE.")
            return args[i + 1], args[:i] + args[i + 2 :]
        if arg.startswith(OPTION + "="):
            return arg.split("=", 1)[1], args[:i] + args[i + 1 :]
    return None, args


def _leaf(command: Any, args: list[str]) -> tuple[list[str], Any]:
    """(names of the nested sub-commands named in `args`, the command that will run)."""
    chain = []
    while hasattr(command, "commands"):
        name = next((a for a in args if not a.startswith("-")), None)
        sub = command.commands.get(name) if name else None
        if sub is None:
            break
        chain.append(name)
        args = args[args.index(name) + 1 :]
        command = sub
    return chain, command


def interrupted_message(argv: list[str]) -> str:
    """What a user reads after Ctrl-C: where the finished work is and how to go on."""
    args = list(argv[1:])
    out = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--out"), None)
    out = out or next((a.split("=", 1)[1] for a in args if a.startswith("--out=")), None)
    where = f"in {out}" if out else "in the command's output folder"
    again = " ".join(["lossatlas", *args])
    return (
        f"interrupted: everything finished before Ctrl-C is saved {where} (files are written "
        "whole, never half). Run the same command again to go on: surfaces, landscapes, "
        "convexity maps, barrier matrices, the demo and the studies skip what is done "
        "(training starts over):\n"
        f"  {again}"
    )


class ConfigGroup(TyperGroup):
    """The root command group: adds `--config FILE` to every command below it."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._add_epilogs(self)

    def invoke(self, ctx: Any) -> Any:
        """Run the command; on Ctrl-C say what is on disk and how to resume, and exit 130."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            import sys

            typer.echo(interrupted_message(sys.argv), err=True)
            raise typer.Exit(code=130) from None
        finally:
            from lossatlas.cli.common import release_folders

            release_folders()

    def _add_epilogs(self, group: Any) -> None:
        for command in group.commands.values():
            if hasattr(command, "commands"):
                self._add_epilogs(command)
            elif not command.epilog and not _has_own_config(command):
                command.epilog = EPILOG

    def resolve_command(self, ctx, args):
        """Resolve the command as Click does, then apply `--config FILE` to the leaf command."""
        cmd_name, command, rest = super().resolve_command(ctx, args)
        _refuse_empty_out(rest)
        chain, leaf = _leaf(command, rest)
        if command is None or _has_own_config(leaf):
            return cmd_name, command, rest
        path, rest = _pop(rest)
        if path is not None:
            values: dict[str, Any] = load(path, leaf, " ".join([cmd_name, *chain]))
            for name in reversed(chain):  # click hands each sub-context its part
                values = {name: values}
            ctx.default_map = {**(ctx.default_map or {}), cmd_name: values}
        return cmd_name, command, rest


def _refuse_empty_out(args: list[str]) -> None:
    """`--out ''` would become the current directory (Path('') is '.'): refuse it by name."""
    for i, arg in enumerate(args):
        if arg == "--":
            return
        if (arg == "--out" and i + 1 < len(args) and not args[i + 1].strip()) or arg == "--out=":
            raise typer.BadParameter(
                "`--out` is empty; give a folder (write `--out .` for the current directory)."
            )


def _has_own_config(command: Any) -> bool:
    return any(OPTION in getattr(p, "opts", ()) for p in getattr(command, "params", ()))

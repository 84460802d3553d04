"""Shared pieces of the command line: the app, options, settings display, errors."""

from __future__ import annotations

import ast
from pathlib import Path
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

ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="zoo model (see `lossatlas zoo`), or package.module:function returning an "
        "nn.Module (the current directory is importable; its code runs, like a script)",
    ),
]
DataOpt = Annotated[
    str,
    typer.Option(
        "--data",
        "-d",
        help="zoo data set (see `lossatlas zoo`), or a .pt/.npz file of x, y [, x_test, y_test]",
    ),
]
ArgsOpt = Annotated[
    list[str] | None,
    typer.Option(help="extra keyword for the model or data set, KEY=VALUE (repeatable)"),
]
SeedOpt = Annotated[int, typer.Option(help="seed of the initialisation and the batch order")]
SgdMomentumOpt = Annotated[float, typer.Option(help="SGD heavy-ball momentum")]
SgdScheduleOpt = Annotated[
    str, typer.Option(help="SGD learning rate over the run: cosine or constant")
]
DeviceOpt = Annotated[
    str | None,
    typer.Option(help="cpu, cuda, cuda:1, mps (under torchrun/srun, cuda is each process's GPU)"),
]


# Settings of a data file that every command taking --data reads (set by the options'
# callbacks, reset when the command ends), so they need not be threaded through each command.
_data_options: dict = {}


def _remember_classes(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise typer.BadParameter(f"`--classes` must be a positive integer; got {value}.")
    _data_options["classes"] = value
    return value


ClassesOpt = Annotated[
    int | None,
    typer.Option(
        help="classes of a data file's integer labels (default: the labels' maximum + 1, "
        "refused when some labels below it never occur)",
        callback=_remember_classes,
    ),
]


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


_held_locks: list = []  # released by ConfigGroup.invoke when the command ends


def out_folder(value: Path | None) -> Path | None:
    """Check an --out folder and hold its lock for the command (the options' callback).

    Refused, before anything is written: a file, a path under a file, a folder
    that cannot be written, and a folder another lossatlas process is writing
    (named, from its lock: `lossatlas.results.lock`).
    """
    import os

    from lossatlas.core import distributed
    from lossatlas.results.lock import FolderInUse, FolderLock, command_line

    if value is None:
        return value
    if value.exists() and not value.is_dir():
        raise typer.BadParameter(f"{str(value)!r} is a file; give a folder (made if missing).")
    existing = value
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise typer.BadParameter(
            f"{str(value)!r} lies under the file {str(existing)!r}; give a folder path."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise typer.BadParameter(
            f"{str(existing)!r} is not writable, so {str(value)!r} cannot be written; "
            "choose a folder you can write to."
        )
    launch = distributed.launch_environment()
    if launch is None or launch["rank"] == 0:  # one lock for the processes of one launch
        try:
            _held_locks.append(FolderLock(value, command_line()))
        except FolderInUse as err:
            raise typer.BadParameter(str(err)) from None
    return value


def release_folders() -> None:
    """Drop the --out locks this command holds."""
    while _held_locks:
        _held_locks.pop().release()
    _data_options.clear()


def out_option(help: str):
    """The `--out FOLDER` option: checked, and locked while the command writes it."""
    return typer.Option(help=help, callback=out_folder)


OverwriteOpt = Annotated[
    bool,
    typer.Option(help="replace an --out folder that holds another run of other settings"),
]


def claim_folder(out, command: str, settings: dict, overwrite: bool) -> None:
    """Make sure `out` may receive this run: new, a rerun of the same settings, or replaced.

    A folder whose manifest records another command or other settings would end
    up holding two runs' files side by side; it is refused, the differences
    named, unless `overwrite` (then the folder, a lossatlas run, is replaced whole).

    Raises:
        ValueError: `out` is a file, or holds another run and `overwrite` is off.
    """
    import json
    import shutil
    from pathlib import Path

    from lossatlas.results import manifest
    from lossatlas.results.files import _jsonable

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"`--out {out}` is a file; give a folder (it is made if missing).")
    record = out / manifest.MANIFEST
    if not record.exists():
        return
    try:
        body = manifest.read(record)
    except (OSError, ValueError):
        body = {}
    old = body.get("settings") if isinstance(body.get("settings"), dict) else {}
    new = json.loads(json.dumps(_jsonable(settings), default=str))
    diffs = [
        f"{key}: {old.get(key)!r} → {new.get(key)!r}"
        for key in sorted(set(old) | set(new))
        if key != "out" and old.get(key) != new.get(key)
    ]
    if body.get("command") != command:
        diffs.insert(0, f"command: {body.get('command')!r} → {command!r}")
    if not diffs:
        return  # the same run again
    if overwrite:  # the run's files go, the lock this command holds on the folder stays
        from lossatlas.results.lock import LOCK_NAME

        for child in out.iterdir():
            if child.name == LOCK_NAME:
                continue
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        return
    raise ValueError(
        f"`--out {out}` holds another run ({'; '.join(diffs)}); this one's files would be "
        "mixed with its files. Choose another --out, or pass --overwrite to replace it."
    )


def _fail(err: Exception) -> None:
    from lossatlas.core import distributed

    where = f"[rank {distributed.rank()}] " if distributed.is_active() else ""
    quiet, console.quiet = console.quiet, False  # every process reports its own failure
    console.print(f"[bold red]error:[/] {where}{err}", soft_wrap=True)  # paths stay whole
    console.quiet = quiet
    raise typer.Exit(code=2)


def start(command: str, device: str | None, *, parallel: bool = True):
    """Check `--device`, and join the process group when launched by torchrun or srun.

    Returns the device for this process (None: the model's own, the CPU).
    Processes other than rank 0 print nothing but errors. Commands that do not
    share their work (`parallel=False`) refuse to run as several processes,
    which would only repeat the work and write the same files at once.

    Raises:
        ValueError: an unknown or absent device, or a one-process command
            launched as several processes.
    """
    from lossatlas.core import distributed
    from lossatlas.core.devices import resolve_device

    if not parallel and distributed.launch_environment() is not None:
        raise ValueError(
            f"`lossatlas {command}` runs in one process; launch it without torchrun or srun "
            "(surface, spectrum, path, barriers and evaluate share their work across processes)."
        )
    dev = resolve_device(device) if device is not None else None
    dev = distributed.init(dev)
    console.quiet = not distributed.is_main()
    return dev


def _show_settings(title: str, settings: dict) -> None:
    table = Table(title=title, show_header=False, box=None)
    for k, v in settings.items():
        table.add_row(f"[dim]{k}[/]", str(v))
    console.print(table)


def main() -> None:
    """The console entry point: run the `lossatlas` command."""
    app()


def resolve_inputs(model: str, data: str, model_arg, data_arg, seed: int | None = None):
    """(split, model) from the command line's names, paths and KEY=VALUE extras.

    The seed initialises the model: passed to zoo factories, and set as torch's
    global seed around a user's `package.module:function` factory.
    """
    import torch

    from lossatlas.results import inputs

    classes = _data_options.get("classes")
    split = inputs.load_data(data, classes=classes, **parse_kwargs(data_arg, "--data-arg"))
    kw = parse_kwargs(model_arg, "--model-arg")
    if ":" in model:
        with torch.random.fork_rng():
            torch.manual_seed(0 if seed is None else seed)
            return split, inputs.load_model(model, split, **kw)
    if seed is not None:
        kw.setdefault("seed", seed)
    return split, inputs.load_model(model, split, **kw)

"""What the `lossatlas geometry` commands share: the command group, its options and savers.

The commands themselves live in `cli.geometry` (symmetry, overparam, inertia)
and `cli.geometry_search` (xor, fdc, pattern); both import from here, so
neither imports the other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lossatlas.cli.common import _fail, app, out_option, resolve_inputs

geometry_app = typer.Typer(
    help="Geometry of minima: symmetry, manifolds, XOR, FDC, patterns.",
    no_args_is_help=True,
)
app.add_typer(geometry_app, name="geometry")


@geometry_app.callback()
def _one_process() -> None:
    # dense float64 computations on small networks: nothing to share out under torchrun/srun
    from lossatlas.cli.common import start

    try:
        start("geometry", None, parallel=False)
    except ValueError as err:
        _fail(err)


Out = Annotated[Path, out_option("output directory")]
Checkpoint = Annotated[
    Path | None, typer.Option("--checkpoint", "-c", help="θ (default: see the command's help)")
]
ERRORS = (ValueError, TypeError, FileNotFoundError, ArithmeticError)


def command_settings(values: dict) -> dict:
    """A command's parameters (call first, with `locals()`) as settings: paths as text, no --out."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in values.items() if k != "out"}


def small_objective(model: str, data: str, model_arg, data_arg, seed: int, checkpoint):
    """(split, float64 Objective, θ) from the command line's model, data and checkpoint."""
    import torch

    from lossatlas import Objective
    from lossatlas.results.inputs import default_loss

    split, net = resolve_inputs(model, data, model_arg, data_arg, seed)
    obj = Objective(net, split.train, loss=default_loss(split), dtype=torch.float64)
    theta = obj.load_point(checkpoint) if checkpoint is not None else obj.point()
    return split, obj, theta


def _teacher(data_arg):
    """The student-teacher split and an Objective over its teacher, θ* = the teacher's weights."""
    import torch

    from lossatlas import Objective, zoo
    from lossatlas.cli.common import parse_kwargs
    from lossatlas.zoo.data import teacher_mlp

    split = zoo.dataset("student-teacher", **parse_kwargs(data_arg, "--data-arg"))
    theta = split.info["teacher_parameters"].double()
    net = teacher_mlp(split.info["teacher_widths"], theta)
    return split, Objective(net, split.train, loss="mse", dtype=torch.float64), theta


def _save(rec, fig, path: Path, caption: str) -> Path:
    from lossatlas import plot

    plot.save(fig, path)
    rec.figure(path, caption)
    return path


def _save_json(rec, figure: dict, path: Path, caption: str) -> Path:
    from lossatlas.results.files import write_json

    write_json(path, figure)
    rec.figure(path, caption)
    return path

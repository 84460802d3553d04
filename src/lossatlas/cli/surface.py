"""`lossatlas surface`: a line, plane, triangle, quad, PCA plane or scaling curve.

The store is written as the grid fills, so re-running the same command after
an interruption finishes only what is missing; the figures are drawn at the end.
Under torchrun or srun the processes share out the grid's chunks, each writing
its own into the store; rank 0 draws the figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lossatlas.cli.common import (
    ArgsOpt,
    ClassesOpt,
    DataOpt,
    DeviceOpt,
    ModelOpt,
    SeedOpt,
    _fail,
    _show_settings,
    app,
    console,
    out_option,
    resolve_inputs,
    start,
)

KINDS = ("line", "plane", "solutions", "triangle", "quad", "pca", "scaling")
# how many checkpoints each kind is drawn through
_NEEDS = {"line": 2, "plane": 1, "solutions": 3, "triangle": 3, "quad": 4, "scaling": 1, "pca": 0}


def _floats(text: str, count: tuple[int, ...], what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise typer.BadParameter(
            f"`{what}` must be comma-separated numbers; got {text!r}."
        ) from None
    if len(values) not in count:
        raise typer.BadParameter(
            f"`{what}` must have {' or '.join(map(str, count))} numbers; got {text!r}."
        )
    return values


# Above this many points a surface runs only with --yes: 10⁶ evaluations of the whole data set
# take hours on the CPU for any real network, and a typo (--grid 100000) should not start them.
MAX_POINTS = 1_000_000


def _sizes(text: str, count: tuple[int, ...]) -> list[int]:
    """`--grid` as whole numbers ('51' or '51,41'); 5.5 is refused, not cut to 5."""
    values = _floats(text, count, "--grid")
    bad = [v for v in values if v != int(v)]
    if bad:
        raise typer.BadParameter(f"`--grid` sizes must be whole numbers; got {text!r}.")
    return [int(v) for v in values]


def _refuse_large(obj, theta, points: int, yes: bool) -> None:
    """Say how many points a surface has; above MAX_POINTS, refuse without --yes, with an
    estimate of the time from one measured evaluation of the loss."""
    import time

    console.print(f"grid: {points:,} points")
    if points <= MAX_POINTS or yes:
        return
    start_time = time.perf_counter()
    obj.value(theta)
    each = time.perf_counter() - start_time
    hours = points * each / 3600
    raise ValueError(
        f"the grid has {points:,} points (more than {MAX_POINTS:,}); at {each * 1e3:.1f} ms a "
        f"point, measured here, that is about {hours:,.1f} hours (less when points are batched). "
        "Use a smaller --grid, or pass --yes to run it anyway."
    )


@app.command()
def surface(
    kind: Annotated[
        str, typer.Option(help="line, plane, solutions, triangle, quad, pca, scaling")
    ] = "plane",
    model: ModelOpt = "fcp",
    data: DataOpt = "digits",
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            "-c",
            help="checkpoint(s) the surface goes through (.pt, .npy, or FILE.npy:i: row i "
            "of a stack of solutions)",
        ),
    ] = None,
    trajectory: Annotated[
        Path | None, typer.Option(help="trajectory.pt of a training run (kind pca)")
    ] = None,
    grid: Annotated[str, typer.Option(help="points per axis: '51' or '51,41'")] = "51",
    chunk: Annotated[
        int,
        typer.Option(help="points per chunk: the unit of saving, resuming and sharing out"),
    ] = 64,
    span: Annotated[
        str | None, typer.Option(help="'lo,hi' (1-D) or 'alo,ahi,blo,bhi' (2-D)")
    ] = None,
    norm: Annotated[
        str, typer.Option(help="direction normalisation: filter, layer, none")
    ] = "filter",
    ignore: Annotated[
        str, typer.Option(help="'biasbn' zeroes biases and BN in directions, or 'none'")
    ] = "biasbn",
    mode: Annotated[str, typer.Option(help="BatchNorm statistics: eval or train")] = "eval",
    seed: SeedOpt = 0,
    device: DeviceOpt = None,
    float64: Annotated[bool, typer.Option(help="evaluate in float64")] = False,
    test: Annotated[bool, typer.Option(help="also evaluate the test loss")] = True,
    out: Annotated[Path, out_option("output directory (store and figures)")] = Path(
        "lossatlas-runs/surface"
    ),
    model_arg: ArgsOpt = None,
    data_arg: ArgsOpt = None,
    classes: ClassesOpt = None,
    yes: Annotated[
        bool, typer.Option("--yes", help=f"run a grid of more than {MAX_POINTS:,} points")
    ] = False,
) -> None:
    """Evaluate a loss surface into a resumable store and draw it."""
    import torch

    from lossatlas import Objective
    from lossatlas import surface as surf
    from lossatlas.core import distributed
    from lossatlas.results import manifest
    from lossatlas.results.inputs import default_loss

    if kind not in KINDS:
        _fail(ValueError(f"`--kind` must be one of {', '.join(KINDS)}; got {kind!r}."))
    checkpoints = list(checkpoint or [])
    need = _NEEDS[kind]
    if kind == "pca" and trajectory is None:
        _fail(ValueError("`--kind pca` needs `--trajectory` (trajectory.pt of `lossatlas train`)."))
    if kind != "pca" and trajectory is not None:
        _fail(ValueError(f"`--trajectory` is for `--kind pca`; `--kind {kind}` does not use it."))
    if need > 1 and len(checkpoints) != need:
        _fail(ValueError(f"`--kind {kind}` needs {need} checkpoints (-c); got {len(checkpoints)}."))
    if need == 1 and len(checkpoints) > 1:
        _fail(ValueError(f"`--kind {kind}` takes one checkpoint (-c); got {len(checkpoints)}."))
    one_d = kind in ("line", "scaling")
    sizes = _sizes(grid, (1,) if one_d else (1, 2))
    rec = manifest.begin(out, "surface", {}, title=f"Loss surface: {kind}")
    rec.settings = {"kind": kind, "model": model, "data": data, "grid": grid, "span": span}
    rec.settings |= {"checkpoint": [str(c) for c in checkpoints], "trajectory": trajectory}
    rec.settings |= {"norm": norm, "ignore": ignore, "mode": mode, "seed": seed, "test": test}
    rec.settings |= {"device": device, "float64": float64, "out": str(out)}
    rec.settings |= {"model_arg": model_arg or [], "data_arg": data_arg or []}
    try:
        dev = start("surface", device)
        split, net = resolve_inputs(model, data, model_arg, data_arg, seed)
        dtype = torch.float64 if float64 else torch.float32
        loss = default_loss(split)
        # whole data in every process: under torchrun the grid's chunks are shared out instead
        common_obj = {"loss": loss, "mode": mode, "dtype": dtype, "device": dev, "shard": False}
        obj = Objective(net, split.train, **common_obj)
        test_obj = Objective(net, split.test, check=False, **common_obj) if test else None
        points = [obj.load_point(c) for c in checkpoints] or [obj.point()]
        _refuse_large(obj, points[0], sizes[0] * (1 if one_d else sizes[-1]), yes)
        store = out / "surface.zarr"
        common = {"test": test_obj, "store": store, "chunk": chunk}
        _show_settings(
            f"lossatlas surface ({kind})",
            {
                "model": f"{model} ({obj.size:,} parameters)",
                "data": data,
                "checkpoints": ", ".join(map(str, checkpoints)) or "the initialisation",
                "grid": grid,
                "mode": mode,
                "out": str(out),
            },
        )
        if one_d:
            lo, hi = (
                _floats(span, (2,), "--span")
                if span
                else ((-0.5, 1.5) if kind == "line" else (0.0, 2.0))
            )
            if kind == "line":
                ds = surf.line(obj, points[0], points[1], sizes[0], span=(lo, hi), **common)
            else:
                ds = surf.scaling(obj, points[0], sizes[0], span=(lo, hi), **common)
        else:
            g = (sizes[0], sizes[-1])
            sp = _floats(span, (4,), "--span") if span else None
            sp2 = ((sp[0], sp[1]), (sp[2], sp[3])) if sp else None
            labels = [
                c.stem if c.stem not in ("final", "early_stopped") else c.parent.name + "/" + c.stem
                for c in checkpoints
            ]
            if kind == "plane":
                ds = surf.random_plane(
                    obj,
                    points[0],
                    g,
                    sp2 or ((-1, 1), (-1, 1)),
                    norm=norm,
                    ignore=None if ignore == "none" else ignore,
                    seed=seed,
                    **common,
                )
            elif kind == "solutions":
                ds = surf.solutions(obj, points, labels, g, span=sp2, **common)
            elif kind == "triangle":
                ds = surf.triangle(obj, points, labels, g, sp2 or ((-0.25, 1.25),) * 2, **common)
            elif kind == "quad":
                ds = surf.quad(obj, points, labels, g, sp2 or ((-0.25, 1.25),) * 2, **common)
            else:
                ds = surf.pca_plane(obj, _trajectory(trajectory), g, span=sp2, **common)
    except (ValueError, TypeError, FileNotFoundError) as err:
        _fail(err)
    rec.timings["evaluation"] = rec.elapsed()
    if not distributed.is_main():
        return  # rank 0 draws and writes the manifest
    rec.array(store)
    if kind == "scaling":
        _report_basin(ds, obj, rec)
    figures = draw(ds, out, rec)
    rec.finish()
    console.print(f"store: [bold]{store}[/]")
    for f in figures:
        console.print(f"figure: [bold]{f}[/]")


def _report_basin(ds, obj, rec) -> None:
    """Print and record the basin along θ → αθ (Im et al. 2016, Fig. 4), censored ends named."""
    from lossatlas.surface.basin import scaling_basin

    basin = scaling_basin(ds, obj)
    console.print(f"basin (L(αθ) ≤ ½(L(θ) + L(0)) = {basin.level:.6g}): {basin.describe()}")
    rec.results |= {f"basin_{k}": v for k, v in basin.as_dict().items()}


def _trajectory(path: Path):
    """The [T, n] trajectory of `lossatlas train` (trajectory.pt), checked."""
    import torch

    from lossatlas.core.errors import read_file

    if not path.exists():
        raise FileNotFoundError(f"trajectory file {str(path)!r} does not exist.")
    traj = read_file(
        path,
        lambda p: torch.load(p, map_location="cpu", weights_only=True),
        "trajectory.pt (the [T, n] tensor `lossatlas train` saves)",
    )
    if not isinstance(traj, torch.Tensor) or traj.dim() != 2:
        what = tuple(traj.shape) if isinstance(traj, torch.Tensor) else type(traj).__name__
        raise ValueError(
            f"{str(path)!r} must hold a [T, n] tensor of parameters (the trajectory.pt of "
            f"`lossatlas train`); got {what}."
        )
    return traj


def draw(ds, out: Path, rec) -> list[Path]:
    """The standard figures of a surface: PNGs and plotly JSON (recorded in the manifest
    `rec`), and standalone interactive HTML pages."""
    from lossatlas.plot import outputs
    from lossatlas.plot import surface_html as plot_html

    figures = outputs.surface(rec, ds, out)
    if ds.loss.ndim == 2:
        figures.append(plot_html.surface_html(ds, out / "surface.html"))
        figures.append(plot_html.contour_html(ds, out / "contour.html"))
    return figures

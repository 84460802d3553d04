"""`lossatlas geometry xor | fdc | pattern`: searches over the loss surface.

Registered on the `geometry` sub-app of `lossatlas.cli.geometry_common`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lossatlas.cli.common import (
    ArgsOpt,
    ClassesOpt,
    DataOpt,
    ModelOpt,
    _fail,
    _show_settings,
    console,
)
from lossatlas.cli.geometry_common import (
    ERRORS,
    Out,
    _save,
    _save_json,
    command_settings,
    geometry_app,
    small_objective,
)

PATTERN_HELP = "built-in (smiley, cross, checkerboard, letter-a, ring, ramp), .npy or .png"


def _floats(text: str, what: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"`{what}` must be comma-separated numbers; got {text!r}.") from None
    if not values:
        raise ValueError(f"`{what}` must hold at least one number, e.g. 0.5,1,2; got {text!r}.")
    return values


@geometry_app.command()
def xor(
    starts: Annotated[int, typer.Option(help="starts of the stationary-point search")] = 24,
    hidden: Annotated[int, typer.Option(help="hidden units (2: Hamey's network)")] = 2,
    scales: Annotated[str, typer.Option(help="std of the random starts, cycled")] = "0.5,1,2",
    origin: Annotated[bool, typer.Option(help="also start at θ = 0")] = True,
    bound: Annotated[float, typer.Option(help="‖θ‖ beyond which a run has diverged")] = 50.0,
    target: Annotated[float, typer.Option(help="certificates descend to L ≤ target")] = 1e-3,
    samples: Annotated[int, typer.Option(help="loss samples per certificate segment")] = 16,
    seed: Annotated[int, typer.Option(help="seed of the starts")] = 0,
    out: Out = Path("lossatlas-runs/geometry/xor"),
) -> None:
    """XOR's stationary points and non-ascending paths down.

    Each point classified by its Hessian inertia; from each that is not a global minimum,
    a path along which the loss never rises.
    """
    settings = command_settings(locals())

    import numpy as np
    import xarray as xr

    from lossatlas.geometry import xor_analysis
    from lossatlas.plot import geometry as plot_geometry
    from lossatlas.results import manifest
    from lossatlas.results.files import write_dataset

    try:
        settings["scales"] = _floats(scales, "--scales")
        _show_settings("lossatlas geometry xor", {**settings, "out": str(out)})
        title = f"XOR 2-{hidden}-1: stationary points and descent certificates (Hamey)"
        with manifest.record(out, "geometry xor", settings, title=title) as rec:
            with rec.timed("analysis"):
                result = xor_analysis(
                    hidden=hidden,
                    starts=starts,
                    scales=tuple(settings["scales"]),
                    seed=seed,
                    include_origin=origin,
                    bound=bound,
                    target=target,
                    samples=samples,
                    progress=True,
                )
            rec.table("stationary_points", result.rows)
            finite = result.finite
            certified = [i for i in finite if result.certificates[i] is not None]
            rec.results |= {
                "finite_stationary_points": len(finite),
                "diverged": sum(p.status == "diverged" for p in result.points),
                "plateaus": sum(p.status == "plateau" for p in result.points),
                "not_converged": sum(p.status == "not converged" for p in result.points),
                "certified": sum(bool(result.certificates[i].found) for i in certified),
                "regional_local_minima": len(result.regional_minima),
                "types": sorted({r["type"] for r in result.rows}),
                "loss_levels": sorted({round(result.points[i].loss, 8) for i in finite}),
            }
            thetas = np.stack([p.theta.numpy() for p in result.points])
            points = xr.Dataset(
                {
                    "theta": (("start", "param"), thetas),
                    **{
                        k: ("start", np.array([r[k] for r in result.rows], dtype=float))
                        for k in ("loss", "grad_norm", "norm", "negative", "zero", "positive")
                    },
                },
                attrs={"settings": settings},
            )
            rec.array(write_dataset(points, out / "stationary.zarr"))
            start_ids, arcs, losses = [], [], []
            for i in certified:
                c = result.certificates[i]
                start_ids += [i] * len(c.arc)
                arcs.append(c.arc.numpy())
                losses.append(c.loss.numpy())
            if certified:
                paths = xr.Dataset(
                    {
                        "start": ("sample", np.array(start_ids)),
                        "arc": ("sample", np.concatenate(arcs)),
                        "loss": ("sample", np.concatenate(losses)),
                    },
                    attrs={
                        "settings": settings,
                        "note": "loss at every sample of each "
                        "certificate; it never rises along one (rounding tolerance 64ε)",
                    },
                )
                rec.array(write_dataset(paths, out / "certificates.zarr"))
                labels = [f"start {i}: L = {result.points[i].loss:.4g}" for i in certified]
                fig = plot_geometry.certificates_figure(arcs, losses, labels)
                _save(rec, fig, out / "certificates.png", "loss along each certificate")
            norms = [r["norm"] for r in result.rows]
            fig = plot_geometry.scatter_json(
                norms,
                [r["loss"] for r in result.rows],
                xlabel="‖θ‖",
                ylabel="L (SSE/4)",
                title="where the searches ended",
                hover=[r["type"] for r in result.rows],
            )
            _save_json(rec, fig, out / "stationary.plotly.json", "stationary points: ‖θ‖ and L")
    except ERRORS as err:
        _fail(err)
    for key, value in rec.results.items():
        console.print(f"{key}: {value}")
    console.print(f"wrote: [bold]{out}[/]")


@geometry_app.command()
def fdc(
    count: Annotated[int, typer.Option(help="sampled points")] = 2000,
    radius: Annotated[float, typer.Option(help="largest distance (radial) or half-width")] = 3.0,
    sampling: Annotated[str, typer.Option(help="radial or cube")] = "radial",
    radii: Annotated[str, typer.Option(help="sphere radii of the statistics")] = "0.1,0.3,1,3",
    sphere_count: Annotated[int, typer.Option(help="points per sphere")] = 200,
    seed: Annotated[int, typer.Option(help="seed of the samples")] = 0,
    out: Out = Path("lossatlas-runs/geometry/fdc"),
    data_arg: ArgsOpt = None,
    classes: ClassesOpt = None,
) -> None:
    """Fitness–distance correlation around a teacher network.

    Gallagher's eq. 9 on student-teacher data, whose teacher is a known global minimum.
    """
    settings = command_settings(locals())

    from lossatlas.cli.geometry_common import _teacher
    from lossatlas.geometry import fdc as fdc_
    from lossatlas.geometry import sampling_statistics
    from lossatlas.plot import geometry as plot_geometry
    from lossatlas.results import manifest
    from lossatlas.results.files import write_dataset

    try:
        settings["radii"] = _floats(radii, "--radii")
        split, obj, theta = _teacher(data_arg)
        settings["teacher_widths"] = split.info["teacher_widths"]
        _show_settings("lossatlas geometry fdc", {**settings, "out": str(out)})
        title = f"Fitness–distance correlation, student-teacher {split.info['teacher_widths']}"
        with manifest.record(out, "geometry fdc", settings, title=title) as rec:
            with rec.timed("fdc"):
                ds = fdc_(
                    obj,
                    theta,
                    count=count,
                    radius=radius,
                    sampling=sampling,
                    seed=seed,
                    progress=True,
                )
            rec.array(write_dataset(ds, out / "fdc.zarr"))
            rec.results |= {"fdc": ds.attrs["fdc"], "minimum_loss": ds.attrs["minimum_loss"]}
            _save(rec, plot_geometry.fdc_figure(ds), out / "fdc.png", "loss against distance")
            fig = plot_geometry.scatter_json(
                ds["distance"].values,
                ds["loss"].values,
                xlabel="‖θ − θ*‖",
                ylabel="L",
                title=f"fitness–distance correlation r = {ds.attrs['fdc']:.3f}",
            )
            _save_json(rec, fig, out / "fdc.plotly.json", "loss against distance (interactive)")
            with rec.timed("statistics"):
                st = sampling_statistics(
                    obj, theta, radii=settings["radii"], count=sphere_count, seed=seed
                )
            rec.array(write_dataset(st, out / "statistics.zarr"))
            rec.table(
                "spheres",
                [
                    {
                        "radius": float(r),
                        "mean": float(st["mean"][i]),
                        "std": float(st["std"][i]),
                        "min": float(st["min"][i]),
                        "max": float(st["max"][i]),
                        "below_center": float(st["below"][i]),
                    }
                    for i, r in enumerate(st["radius"].values)
                ],
            )
            fig = plot_geometry.statistics_figure(st)
            _save(rec, fig, out / "statistics.png", "loss quantiles on spheres around θ*")
    except ERRORS as err:
        _fail(err)
    console.print(f"fdc r = {rec.results['fdc']:.4f}")
    console.print(f"wrote: [bold]{out}[/]")


@geometry_app.command()
def pattern(
    image: Annotated[str, typer.Argument(help=PATTERN_HELP)] = "smiley",
    model: ModelOpt = "mlp",
    data: DataOpt = "student-teacher",
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", "-c", help="start θ₀")] = None,
    steps: Annotated[int, typer.Option(help="Adam steps")] = 300,
    lr: Annotated[float, typer.Option(help="Adam learning rate")] = 0.01,
    span: Annotated[float, typer.Option(help="α, β over [−span, span]")] = 1.0,
    low: Annotated[float | None, typer.Option(help="loss of pattern value 0")] = None,
    high: Annotated[float | None, typer.Option(help="loss of pattern value 1")] = None,
    grid: Annotated[int, typer.Option(help="points per axis of the fine plane drawn after")] = 41,
    seed: Annotated[int, typer.Option(help="seed of the model and the directions")] = 0,
    out: Out = Path("lossatlas-runs/geometry/pattern"),
    model_arg: ArgsOpt = None,
    data_arg: ArgsOpt = None,
    classes: ClassesOpt = None,
) -> None:
    """A plane whose loss draws a given image.

    The origin and both directions are fitted together (multi-point optimisation).
    """
    settings = command_settings(locals())

    import xarray as xr

    from lossatlas import plot, surface
    from lossatlas.geometry import fit_pattern
    from lossatlas.plot import geometry as plot_geometry
    from lossatlas.plot import surface_html as plot_html
    from lossatlas.results import manifest
    from lossatlas.results.files import write_dataset

    try:
        _, obj, theta = small_objective(model, data, model_arg, data_arg, seed, checkpoint)
        _show_settings("lossatlas geometry pattern", {**settings, "out": str(out)})
        title = f"A plane whose loss draws {Path(image).name} ({model}, {obj.size} parameters)"
        with manifest.record(out, "geometry pattern", settings, title=title) as rec:
            with rec.timed("fit"):
                fit = fit_pattern(
                    obj,
                    image,
                    origin=theta,
                    span=span,
                    low=low,
                    high=high,
                    steps=steps,
                    lr=lr,
                    seed=seed,
                    progress=True,
                )
            rec.results |= {
                "correlation": fit.correlation,
                "low": fit.low,
                "high": fit.high,
                "best_fit": float(fit.history.min()),
                "shape": list(fit.pattern.shape),
            }
            ds = xr.Dataset(
                {
                    "pattern": (("row", "col"), fit.pattern),
                    "target": (("row", "col"), fit.target),
                    "achieved": (("row", "col"), fit.achieved),
                    "history": ("step", fit.history),
                    "origin": ("param", fit.origin.numpy()),
                    "d1": ("param", fit.d1.numpy()),
                    "d2": ("param", fit.d2.numpy()),
                },
                coords={"alpha": ("col", fit.alphas), "beta": ("row", fit.betas)},
                attrs={"settings": settings, **rec.results},
            )
            rec.array(write_dataset(ds, out / "pattern.zarr"))
            fig = plot_geometry.pattern_figure(fit.pattern, fit.achieved, fit.correlation)
            _save(rec, fig, out / "pattern.png", "target, achieved losses and their correlation")
            with rec.timed("plane"):
                plane = surface.plane(
                    obj,
                    fit.origin,
                    fit.d1,
                    fit.d2,
                    grid=grid,
                    span=((-span, span), (-span, span)),
                    accuracy=False,
                )
            # written whole (not a resumable store): each fit makes a new plane, and a store
            # from an earlier fit in the same folder would refuse the new settings
            rec.array(write_dataset(plane, out / "plane.zarr"))
            _save(rec, plot.contour(plane), out / "plane.png", "the loss on the fitted plane")
            fig = plot_html.figure_json(plane, "surface")
            _save_json(rec, fig, out / "plane.plotly.json", "the fitted plane in 3-D")
    except ERRORS as err:
        _fail(err)
    console.print(f"correlation with the pattern: {rec.results['correlation']:.4f}")
    console.print(f"wrote: [bold]{out}[/]")

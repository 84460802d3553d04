"""`lossatlas geometry ...`: the geometry of minima, one command per part.

    lossatlas geometry symmetry    the symmetry group, a spherical throng, wedge and cone
    lossatlas geometry overparam   Cooper's Lemma 3.3 network, Prop. 2.3, a walk on M
    lossatlas geometry inertia     rank of J and inertia of H at any small model's θ
    lossatlas geometry xor         stationary points of XOR and descent certificates
    lossatlas geometry fdc         fitness–distance correlation, sampling statistics
    lossatlas geometry pattern     a plane whose loss draws an image

Each writes arrays (zarr), figures (PNG, and plotly JSON where interaction
helps) and `lossatlas.json` into `--out`.
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
    Checkpoint,
    Out,
    _save,
    _save_json,
    _teacher,
    command_settings,
    geometry_app,
    small_objective,
)


@geometry_app.command()
def symmetry(
    model: Annotated[
        str, typer.Option("--model", "-m", help="'teacher' (of student-teacher data) or a zoo MLP")
    ] = "teacher",
    data: DataOpt = "student-teacher",
    checkpoint: Checkpoint = None,
    count: Annotated[int, typer.Option(help="copies in the sampled throng")] = 64,
    seed: Annotated[int, typer.Option(help="seed of the sampled group elements")] = 0,
    out: Out = Path("lossatlas-runs/geometry/symmetry"),
    model_arg: ArgsOpt = None,
    data_arg: ArgsOpt = None,
    classes: ClassesOpt = None,
) -> None:
    """Chen et al.'s symmetry group, throng, wedge and cone.

    The group's order, the throng of equivalent copies on one sphere, the wedge and cone.

    By default θ is the teacher of the student-teacher data (tanh, a global
    minimum with L = 0); with --model, the model's initialisation or --checkpoint.
    """
    settings = command_settings(locals())

    import numpy as np
    import torch
    import xarray as xr

    from lossatlas.geometry import SymmetryGroup, canonicalise, in_region
    from lossatlas.plot import geometry as plot_geometry
    from lossatlas.results import manifest
    from lossatlas.results.files import write_dataset

    try:
        if model == "teacher":
            if data != "student-teacher":
                raise ValueError("--model teacher needs --data student-teacher.")
            split, obj, theta = _teacher(data_arg)
            if checkpoint is not None:
                theta = obj.load_point(checkpoint)
        else:
            split, obj, theta = small_objective(model, data, model_arg, data_arg, seed, checkpoint)
        group = SymmetryGroup(obj)
        settings["parameters"] = obj.size
        _show_settings("lossatlas geometry symmetry", {**settings, "out": str(out)})
        console.print(group.describe())
        title = f"Weight-space symmetry of {model} ({obj.size} parameters)"
        with manifest.record(out, "geometry symmetry", settings, title=title) as rec:
            with rec.timed("throng"):
                members = group.throng(theta, count, seed=seed)
                losses = obj.values(members).double()
                x = split.train[0].double()
                y0 = obj.module_at(theta)(x).clone()
                deviation = torch.stack(
                    [(obj.module_at(m)(x) - y0).abs().max() for m in members]
                ).double()
            norms = members.norm(dim=1)
            rec.results |= {
                "group_order": group.order,
                "isometric": group.isometric,
                "symmetries": group.describe(),
                "max_output_deviation": float(deviation.max()),
                "norm_spread": float(norms.max() - norms.min()),
                "loss_spread": float(losses.max() - losses.min()),
                "loss": float(obj.value(theta)),
            }
            arrays = {
                "members": (("member", "param"), members.numpy()),
                "loss": ("member", losses.numpy()),
                "norm": ("member", norms.numpy()),
                "output_deviation": ("member", deviation.numpy()),
            }
            regions = ["wedge", "cone"] if all(group.flips) else ["sorted"]
            for region in regions:
                try:
                    canon = canonicalise(group, theta, region)
                except ValueError as err:  # e.g. no biases, or w_K10 = 0: say why, go on
                    rec.results[f"{region}_error"] = str(err)
                    console.print(f"[yellow]{region}:[/] {err}")
                    continue
                again = canonicalise(group, canon.theta, region).theta
                rec.results[f"in_{region}"] = in_region(group, canon.theta, region)
                rec.results[f"{region}_idempotent"] = bool(torch.equal(again, canon.theta))
                rec.results[f"{region}_output_deviation"] = float(
                    (obj.module_at(canon.theta)(x) - y0).abs().max()
                )
                arrays[region] = ("param", canon.theta.numpy())
            ds = xr.Dataset(
                arrays,
                coords={"member": np.arange(count)},
                attrs={"settings": settings, **rec.results},
            )
            rec.array(write_dataset(ds, out / "throng.zarr"))
            fig = plot_geometry.throng_figure(members.numpy(), losses.numpy())
            _save(rec, fig, out / "throng.png", "pairwise distances, norms and losses")
            X = members.numpy() - members.numpy().mean(0)
            coords = X @ np.linalg.svd(X, full_matrices=False)[2][:3].T
            dist = np.linalg.norm(members.numpy() - theta.numpy(), axis=1)
            fig3d = plot_geometry.scatter3d_json(
                np.pad(coords, ((0, 0), (0, max(0, 3 - coords.shape[1])))),
                dist,
                title="throng in its top 3 principal components (colour: distance to θ)",
            )
            _save_json(rec, fig3d, out / "throng.plotly.json", "the throng in 3-D (PCA)")
    except ERRORS as err:
        _fail(err)
    for key in ("group_order", "max_output_deviation", "norm_spread", "loss_spread"):
        console.print(f"{key}: {rec.results[key]}")
    console.print(f"wrote: [bold]{out}[/]")


@geometry_app.command()
def overparam(
    points: Annotated[int, typer.Option(help="d, the number of data points")] = 6,
    inputs: Annotated[int, typer.Option(help="p, the input dimension")] = 2,
    width: Annotated[int | None, typer.Option(help="hidden width h ≥ d (default d)")] = None,
    gap: Annotated[float, typer.Option(help="smallest gap between the projections a·x")] = 5.0,
    steps: Annotated[int, typer.Option(help="steps of the walk on M")] = 50,
    step_size: Annotated[float, typer.Option(help="length of each tangent step")] = 0.05,
    rtol: Annotated[float, typer.Option(help="zero eigenvalue: |λ| ≤ rtol·max|λ|")] = 1e-9,
    seed: Annotated[int, typer.Option(help="seed of the data, a and the walk")] = 0,
    out: Out = Path("lossatlas-runs/geometry/overparam"),
) -> None:
    """Cooper's Lemma 3.3 network, Prop. 2.3 and a walk on M.

    The network fits d random points exactly; at it, n − d zero Hessian eigenvalues.
    """
    settings = command_settings(locals())

    import torch
    import xarray as xr

    from lossatlas import Objective
    from lossatlas.geometry import constructive_network, minimum_manifold, walk_minima
    from lossatlas.plot import geometry as plot_geometry
    from lossatlas.results import manifest
    from lossatlas.results.files import write_dataset

    try:
        if points < 1 or inputs < 1:
            raise ValueError(f"`points` and `inputs` must be positive; got {points}, {inputs}.")
        _show_settings("lossatlas geometry overparam", {**settings, "out": str(out)})
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(points, inputs, generator=gen, dtype=torch.float64)
        y = torch.randn(points, 1, generator=gen, dtype=torch.float64)
        title = f"Manifold of global minima (Cooper): d = {points} points"
        with manifest.record(out, "geometry overparam", settings, title=title) as rec:
            net = constructive_network(x, y, width=width, gap=gap, seed=seed)
            obj = Objective(net.model, (x, y), loss="sse", dtype=torch.float64)
            theta = obj.point()
            with rec.timed("prop_2_3"):
                check = minimum_manifold(obj, theta, rtol=rtol)
            inertia = check.inertia
            rec.results |= {
                "n": check.n,
                "d": check.d,
                "loss": check.loss,
                "max_residual": float((net.model(x) - y).detach().abs().max()),
                "jacobian_rank": check.jacobian.rank,
                "jacobian_tol": check.jacobian.tol,
                "manifold_dimension": check.dimension,
                **inertia.as_dict(),
                "prop_2_3_holds": check.holds,
            }
            spectrum = xr.Dataset(
                {
                    "eigenvalue": ("index", inertia.eigenvalues.numpy()),
                    "singular_value": ("rank_index", check.jacobian.singular_values.numpy()),
                },
                attrs={"settings": settings, **rec.results},
            )
            rec.array(write_dataset(spectrum, out / "spectrum.zarr"))
            fig = plot_geometry.spectrum_figure(
                inertia.eigenvalues.numpy(),
                inertia.tol,
                title=f"Hessian at the Lemma 3.3 network (Prop. 2.3: {check.n - check.d} zero, "
                f"{check.d} positive)",
            )
            _save(rec, fig, out / "spectrum.png", "Hessian eigenvalues and the zero tolerance")
            with rec.timed("walk"):
                walk = walk_minima(
                    obj, theta, steps=steps, step_size=step_size, seed=seed, progress=True
                )
            rec.array(write_dataset(walk, out / "walk.zarr"))
            rec.results |= {
                "walk_max_loss": float(walk["loss"].max()),
                "walk_distance": float(walk["distance"][-1]),
                "walk_arc_length": float(walk["arc_length"][-1]),
            }
            _save(rec, plot_geometry.walk_figure(walk), out / "walk.png", "L and distance on M")
    except ERRORS as err:
        _fail(err)
    for key, value in rec.results.items():
        console.print(f"{key}: {value}")
    console.print(f"wrote: [bold]{out}[/]")


@geometry_app.command()
def inertia(
    model: ModelOpt = "xor",
    data: DataOpt = "xor",
    checkpoint: Checkpoint = None,
    rtol: Annotated[float, typer.Option(help="zero eigenvalue: |λ| ≤ rtol·max|λ|")] = 1e-9,
    seed: Annotated[int, typer.Option(help="seed of the initialisation")] = 0,
    out: Out = Path("lossatlas-runs/geometry/inertia"),
    model_arg: ArgsOpt = None,
    data_arg: ArgsOpt = None,
    classes: ClassesOpt = None,
) -> None:
    """Residual Jacobian rank and Hessian inertia at θ.

    Dense, for small models: counts of positive, zero and negative eigenvalues.
    """
    settings = command_settings(locals())

    import xarray as xr

    from lossatlas.geometry import hessian_inertia, jacobian_rank
    from lossatlas.plot import geometry as plot_geometry
    from lossatlas.results import manifest
    from lossatlas.results.files import write_dataset

    try:
        _, obj, theta = small_objective(model, data, model_arg, data_arg, seed, checkpoint)
        _show_settings("lossatlas geometry inertia", {**settings, "out": str(out)})
        title = f"Hessian inertia of {model} on {data}"
        with manifest.record(out, "geometry inertia", settings, title=title) as rec:
            result = hessian_inertia(obj, theta, rtol=rtol)
            rec.results |= {"n": obj.size, "loss": float(obj.value(theta)), **result.as_dict()}
            arrays = {"eigenvalue": ("index", result.eigenvalues.numpy())}
            if obj.loss_name in ("mse", "sse"):
                jac = jacobian_rank(obj, theta)
                rec.results |= {
                    "d": jac.shape[0],
                    "jacobian_rank": jac.rank,
                    "jacobian_tol": jac.tol,
                }
                arrays["singular_value"] = ("rank_index", jac.singular_values.numpy())
            ds = xr.Dataset(arrays, attrs={"settings": settings, **rec.results})
            rec.array(write_dataset(ds, out / "spectrum.zarr"))
            fig = plot_geometry.spectrum_figure(result.eigenvalues.numpy(), result.tol)
            _save(rec, fig, out / "spectrum.png", "Hessian eigenvalues and the zero tolerance")
    except ERRORS as err:
        _fail(err)
    for key, value in rec.results.items():
        console.print(f"{key}: {value}")
    console.print(f"wrote: [bold]{out}[/]")

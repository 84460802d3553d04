"""`lossatlas spectrum`: Hessian eigenvalues, trace, density, gradient covariance, convexity.

Each analysis writes a JSON summary (and arrays where there are some) and its
figure into the output directory; every file is written atomically, the
density saves each finished block of draws and the convexity map each point
into resumable stores. Under torchrun or srun every process holds a shard of
the data and the Hessian–vector products are all-reduced; rank 0 writes.
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

ANALYSES = ("eigen", "trace", "density", "diagonal", "covariance", "convexity")


@app.command()
def spectrum(
    analysis: Annotated[
        str, typer.Argument(help="eigen, trace, density, diagonal, covariance, convexity")
    ],
    model: ModelOpt = "fcp",
    data: DataOpt = "digits",
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", "-c", help="θ (default: the initialisation)")
    ] = None,
    k: Annotated[int, typer.Option(help="eigenpairs (eigen, covariance)")] = 5,
    bottom: Annotated[int, typer.Option(help="bottom eigenpairs too (eigen)")] = 1,
    tol: Annotated[
        float | None, typer.Option(help="relative residual tolerance (default by dtype)")
    ] = None,
    method: Annotated[
        str, typer.Option(help="trace: hutch++ or hutchinson; diagonal: hutchinson or exact")
    ] = "hutch++",
    samples: Annotated[int, typer.Option(help="trace, diagonal: HVP budget")] = 99,
    draws: Annotated[int, typer.Option(help="density: random starts k")] = 10,
    steps: Annotated[int, typer.Option(help="density: Lanczos steps m")] = 90,
    block: Annotated[
        int,
        typer.Option(
            help="density: draws per Lanczos block, each block saved as it finishes "
            "(1: resumable after every draw; more: faster per HVP)"
        ),
    ] = 1,
    sigma: Annotated[
        float | None, typer.Option(help="density: Gaussian width (default 1% of the span)")
    ] = None,
    grid: Annotated[int, typer.Option(help="convexity: points per axis")] = 11,
    surface_store: Annotated[
        Path | None,
        typer.Option("--surface", help="convexity: the surface.zarr of `lossatlas surface`"),
    ] = None,
    mode: Annotated[str, typer.Option(help="BatchNorm statistics: eval or train")] = "eval",
    operator: Annotated[
        str,
        typer.Option(
            help="eigen, trace, density, diagonal, convexity: hessian, ggn (generalised "
            "Gauss–Newton) or fisher (empirical Fisher)"
        ),
    ] = "hessian",
    beside: Annotated[
        str | None,
        typer.Option(
            help="density: also the density of this operator (hessian, ggn or fisher) at the "
            "same θ and σ, drawn beside the first (Papyan's and Sagun's comparison)"
        ),
    ] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = None,
    float64: Annotated[bool, typer.Option(help="compute in float64")] = False,
    out: Annotated[Path, out_option("output directory")] = Path("lossatlas-runs/spectrum"),
    model_arg: ArgsOpt = None,
    data_arg: ArgsOpt = None,
    classes: ClassesOpt = None,
) -> None:
    """Hessian eigenpairs, trace, density, Σ or convexity map.

    At a checkpoint (or the initialisation), from exact Hessian-vector products.
    """
    import math

    import torch

    from lossatlas import Objective, curvature
    from lossatlas.core import distributed
    from lossatlas.plot import outputs
    from lossatlas.results import manifest
    from lossatlas.results.files import save_torch, write_dataset, write_json
    from lossatlas.results.inputs import default_loss

    if analysis not in ANALYSES:
        _fail(ValueError(f"the analysis must be one of {', '.join(ANALYSES)}; got {analysis!r}."))
    titles = {"eigen": "Hessian eigenvalues", "trace": "Hessian trace", "covariance": "gradient "
              "covariance against the Hessian", "density": "Hessian eigenvalue density",
              "convexity": "convexity map |λmin/λmax|", "diagonal": "Hessian diagonal"}  # fmt: skip
    rec = manifest.begin(out, f"spectrum {analysis}", {}, title=titles[analysis], name=analysis)
    rec.settings = {"analysis": analysis, "model": model, "data": data, "checkpoint": checkpoint}
    rec.settings |= {"k": k, "bottom": bottom, "tol": tol, "method": method, "samples": samples}
    rec.settings |= {"draws": draws, "steps": steps, "sigma": sigma, "block": block}
    rec.settings |= {"grid": grid, "mode": mode, "operator": operator, "beside": beside}
    rec.settings |= {"surface": surface_store, "seed": seed, "device": device, "float64": float64}
    rec.settings |= {"out": str(out), "model_arg": model_arg or [], "data_arg": data_arg or []}
    try:
        from lossatlas.curvature.operators import OPERATORS

        if operator not in OPERATORS:
            raise ValueError(
                f"`--operator` must be one of {', '.join(OPERATORS)}; got {operator!r}."
            )
        if beside is not None and (
            analysis != "density" or beside not in OPERATORS or beside == operator
        ):
            raise ValueError(
                f"`--beside` takes one of {', '.join(OPERATORS)} other than `--operator` and "
                f"applies to density; got --beside {beside} with {analysis} of {operator}."
            )
        if operator != "hessian" and analysis == "covariance":
            raise ValueError(
                f"`--operator {operator}` applies to eigen, trace, density, diagonal and "
                "convexity; covariance compares the gradient covariance with the Hessian."
            )
        dev = start("spectrum", device)
        main = distributed.is_main()  # the process that writes files
        split, net = resolve_inputs(model, data, model_arg, data_arg, seed)
        dtype = torch.float64 if float64 else torch.float32
        obj = Objective(
            net, split.train, loss=default_loss(split), mode=mode, dtype=dtype, device=dev
        )
        theta = obj.load_point(checkpoint) if checkpoint is not None else obj.point()
        loss_here = float(obj.value(theta))
        if not math.isfinite(loss_here):  # its derivatives can still be finite, and meaningless
            raise ValueError(
                f"the loss at θ is not finite ({loss_here}); curvature there means nothing. "
                "Check the checkpoint, or compute in float64 (--float64)."
            )
        _show_settings(
            f"lossatlas spectrum ({analysis})",
            {
                "model": f"{model} ({obj.size:,} parameters)",
                "data": f"{data} ({obj.data.num_samples} training samples)",
                "checkpoint": str(checkpoint) if checkpoint else "the initialisation",
                "dtype": str(dtype).removeprefix("torch."),
                "out": str(out),
            },
        )
        written: list[Path] = []
        if analysis == "eigen" and not 0 <= bottom <= obj.size:
            raise ValueError(
                f"`--bottom` must be between 0 and n = {obj.size:,} (0: no bottom "
                f"eigenpairs); got {bottom}."
            )
        if analysis == "eigen":
            top = curvature.top_eigenvalues(obj, theta, k, tol=tol, seed=seed, operator=operator)
            low = (
                curvature.bottom_eigenvalues(
                    obj, theta, bottom, tol=tol, seed=seed, operator=operator
                )
                if bottom
                else None
            )
            summary = {
                "top": top.eigenvalues,
                "top_residuals": top.residuals,
                "bottom": low.eigenvalues if low else [],
                "bottom_residuals": low.residuals if low else [],
                # whether each sign is proven by its residual (|λ| > residual); an unproven
                # one is zero to the products' precision
                "top_sign_known": top.sign_known,
                "bottom_sign_known": low.sign_known if low else [],
                "tol": top.tol,
                "products": top.products + (low.products if low else 0),
                "converged": top.converged and (low.converged if low else True),
            }
            if k >= 2:  # Ghorbani et al.'s outlier ratio ζ = λ1/λk, from the same solve
                summary["outlier_ratio"] = float(top.eigenvalues[0] / top.eigenvalues[k - 1])
            if low is not None:
                lmax, lmin = float(top.eigenvalues[0]), float(low.eigenvalues[0])
                known = bool(low.sign_known[0])
                # inf (written as null) unless H is proven positive definite
                summary["positive_definite"] = known and lmin > 0 if known else None
                summary["condition_number"] = lmax / lmin if known and lmin > 0 else float("inf")
                summary["convexity_ratio"] = abs(lmin / lmax)
            if main:
                written.append(write_json(out / "eigen.json", summary))
                written.append(save_torch(top.eigenvectors.cpu(), out / "top_eigenvectors.pt"))
                rec.array(written[-1])
                label = str(checkpoint) if checkpoint else "initialisation"
                written += outputs.eigen(rec, out, {label: top}, {label: low} if low else None)
            for key in ("condition_number", "outlier_ratio", "products"):
                if key in summary:
                    rec.results[key] = summary[key]
            console.print(f"top eigenvalues: {[round(float(v), 6) for v in top.eigenvalues]}")
            if low is not None:
                console.print(
                    f"bottom eigenvalues: {[round(float(v), 6) for v in low.eigenvalues]}"
                )
                for value, residual, known in zip(
                    low.eigenvalues, low.residuals, low.sign_known, strict=True
                ):
                    if not known:
                        console.print(
                            f"  sign undetermined: λ = {float(value):.3g} is within its residual "
                            f"{float(residual):.2g} of zero (at the products' precision; "
                            "--float64 resolves smaller eigenvalues)"
                        )
        elif analysis == "trace":
            t = curvature.trace(
                obj, theta, method=method, samples=samples, seed=seed, operator=operator
            )
            if main:
                written.append(write_json(out / "trace.json", vars(t)))
            rec.results |= vars(t)
            console.print(
                f"trace ≈ {t.estimate:.6g}  ({100 * t.confidence:.0f}% interval "
                f"[{t.low:.6g}, {t.high:.6g}], {t.products} HVPs, {t.method})"
            )
        elif analysis == "diagonal":
            how = "hutchinson" if method == "hutch++" else method  # trace's default
            diag = curvature.diagonal(
                obj, theta, method=how, samples=samples, seed=seed, operator=operator
            )
            if main:
                written.append(save_torch(diag.estimate, out / "diagonal.pt"))
            rec.results |= {
                "sum": float(diag.estimate.sum()),
                "max": float(diag.estimate.max()),
                "min": float(diag.estimate.min()),
                "mean_stderr": float(diag.stderr.mean()),
                "products": diag.products,
                "method": diag.method,
            }
            console.print(
                f"diagonal ({diag.method}, {diag.products} products): sum "
                f"{float(diag.estimate.sum()):.6g}, range [{float(diag.estimate.min()):.4g}, "
                f"{float(diag.estimate.max()):.4g}], mean standard error "
                f"{float(diag.stderr.mean()):.3g}"
            )
        elif analysis == "density":
            d = curvature.density(
                obj,
                theta,
                draws=draws,
                steps=steps,
                sigma=sigma,
                seed=seed,
                block=block,
                store=out / "density_draws.zarr",  # finished draws survive an interruption
                operator=operator,
            )
            from lossatlas.curvature.density import as_dataset

            others = {}
            if beside is not None:  # same draws, steps, seed and σ, so the two compare
                other = curvature.density(
                    obj, theta, draws=draws, steps=steps, sigma=d.attrs["sigma"], seed=seed,
                    block=block, store=out / f"density_draws_{beside}.zarr", operator=beside,
                )  # fmt: skip
                others[other.attrs["operator"]] = other
            if main:
                written.append(write_dataset(as_dataset(d), out / "density.zarr"))
                rec.array(written[-1])
                if beside is not None:
                    written.append(write_dataset(as_dataset(other), out / f"density_{beside}.zarr"))
                    rec.array(written[-1])
                written += outputs.density(rec, out, d, others)
            for e in (d, *others.values()):
                console.print(
                    f"{e.attrs['operator']} density: {e.attrs['draws']} draws × "
                    f"{e.attrs['steps']} steps ({e.attrs['products']} products), "
                    f"σ = {e.attrs['sigma']:.3g}"
                )
        elif analysis == "covariance":
            a = curvature.gradient_covariance(obj, theta, k=k, tol=tol, seed=seed)
            summary = {
                **a.summary(),
                "covariance_eigenvalues": a.covariance_eigenvalues,
                "hessian_eigenvalues": a.hessian_eigenvalues,
                "hessian_energy_per_vector": a.hessian_energy_per_vector,
                "products": a.products,
            }
            if main:
                written.append(write_json(out / "covariance.json", summary))
            rec.results |= summary
            console.print(
                f"energy of H's top-{a.k} eigenvectors in Σ's top-{a.k} subspace: "
                f"{a.hessian_energy_in_covariance:.3f}; gradient energy in H's outliers: "
                f"{a.gradient_energy_in_outliers:.3f}"
            )
        else:
            from lossatlas import surface as surf

            if surface_store is not None:
                plane = surf.load(surface_store)
            else:
                plane = surf.random_plane(
                    obj, theta, (grid, grid), seed=seed, store=out / "surface.zarr"
                )
            cm = curvature.convexity_map(
                obj, plane, store=out / "convexity.zarr", tol=tol or 1e-3, seed=seed,
                operator=operator,
            )  # fmt: skip
            written.append(out / "convexity.zarr")
            rec.array(written[-1])
            if main:
                written += outputs.convexity(rec, out, cm)
            console.print(
                f"|λmin/λmax| from {float(cm.ratio.min()):.3g} to {float(cm.ratio.max()):.3g}"
            )
    except (ValueError, TypeError, FileNotFoundError, ArithmeticError) as err:
        _fail(err)
    if main:
        rec.finish()
    for f in written:
        console.print(f"wrote: [bold]{f}[/]")

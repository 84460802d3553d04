"""`lossatlas path` and `lossatlas barriers`: paths between minima and their heights.

`path A B` connects two checkpoints by the straight line and by the chosen
method (FourierPathFinder, Bezier, polychain), optionally after aligning B's
hidden units to A's, and writes the profiles, the heights and the figures;
`path --landscape NAME` does the same between the first two minima of a
synthetic 2-D landscape and draws the paper's Fig. 3. `barriers` computes the
pairwise heights of every checkpoint in a directory (or the rows of a .npy
stack), pair by pair into a resumable store.

Under torchrun or srun, `path` shards the data across the processes (the
gradients are all-reduced; Bezier and polychain curves, trained on random
minibatches of the whole data, run whole in every process) and `barriers`
shares out the pairs; rank 0 writes the files.
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
    OverwriteOpt,
    _fail,
    _show_settings,
    app,
    claim_folder,
    console,
    out_option,
    resolve_inputs,
    start,
)

METHODS = ("fourier", "bezier", "polychain", "linear")

Method = Annotated[str, typer.Option(help="fourier, bezier, polychain or linear")]
Points = Annotated[
    int | None, typer.Option(help="t points on the path (default 51; landscapes 101)")
]
Terms = Annotated[
    int | None, typer.Option(help="fourier: Fourier terms K (default 10; landscapes 15)")
]
Steps = Annotated[
    int | None,
    typer.Option(help="optimisation steps (default: fourier 100, landscapes 300; bezier 300)"),
]
Lr = Annotated[
    float | None,
    typer.Option(help="learning rate (default: fourier 1e-3, landscapes 0.01; bezier 0.05)"),
]

# FourierPathFinder as the optimizer-strategies paper runs it: on networks (§III.2) and
# on its 2-D landscape, Fig. 3 (research/algorithms.md: 101 t points, 15 terms, Adam lr
# 0.01, 300 steps, N(0, 1) noise on the gradient). Flags the user gives win.
NETWORK_FOURIER = {"points": 51, "terms": 10, "steps": 100, "lr": 1e-3, "noise": 0.0}
LANDSCAPE_FOURIER = {"points": 101, "terms": 15, "steps": 300, "lr": 0.01, "noise": 1.0}
Device = DeviceOpt
Float64 = Annotated[bool, typer.Option(help="compute in float64")]


def _method_options(
    method, points, terms, penalty, steps, lr, noise, seed, defaults=NETWORK_FOURIER
) -> dict:
    """The path method's settings: the flags given, the paper's defaults for the rest."""
    if method not in METHODS:
        raise ValueError(f"`--method` must be one of {', '.join(METHODS)}; got {method!r}.")

    def pick(value, key):
        return defaults[key] if value is None else value

    if steps is not None and method != "linear" and steps < 1:
        raise ValueError(
            f"`--steps` must be ≥ 1 for {method}: with {steps} steps the path is its untrained "
            "start; use `--method linear` for the straight line."
        )
    opts: dict = {"points": pick(points, "points")}
    if method == "fourier":
        opts |= {"terms": pick(terms, "terms"), "penalty": penalty}
        opts |= {"steps": pick(steps, "steps"), "lr": pick(lr, "lr")}
        opts |= {"noise": pick(noise, "noise"), "seed": seed}
    elif method in ("bezier", "polychain"):
        opts |= {"steps": 300 if steps is None else steps, "lr": 0.05 if lr is None else lr}
        opts |= {"seed": seed}
    return opts


def _run(method: str, obj, a, b, opts: dict, test=None):
    from lossatlas import paths

    if method == "linear":
        return paths.linear(obj, a, b, opts["points"], test=test)
    if method == "fourier":
        return paths.fourier(obj, a, b, **opts, test=test)
    return paths.bezier(obj, a, b, curve=method, **opts, test=test)


@app.command()
def path(
    a: Annotated[
        Path | None,
        typer.Argument(
            help="checkpoint θa (.pt state_dict, .npy vector, or FILE.npy:i for row i of a stack)"
        ),
    ] = None,
    b: Annotated[Path | None, typer.Argument(help="checkpoint θb")] = None,
    model: ModelOpt = "fcp",
    data: DataOpt = "digits",
    landscape: Annotated[
        str | None,
        typer.Option(help="a 2-D landscape instead of a network (e.g. two-wells, muller-brown)"),
    ] = None,
    method: Method = "fourier",
    points: Points = None,
    terms: Terms = None,
    penalty: Annotated[
        list[float] | None,
        typer.Option(help="fourier: λ, repeatable (default 1e-3; landscapes 0.1, 1, 35)"),
    ] = None,
    steps: Steps = None,
    lr: Lr = None,
    noise: Annotated[
        float | None, typer.Option(help="fourier: gradient noise σ (default 0; landscapes 1)")
    ] = None,
    align: Annotated[bool, typer.Option(help="permute θb's hidden units to match θa first")] = (
        False
    ),
    plane: Annotated[bool, typer.Option(help="draw the plane through θa, θb, θ(½)")] = True,
    grid: Annotated[int, typer.Option(help="plane: points per axis")] = 21,
    seed: Annotated[int, typer.Option(help="seed of noise and sampled t")] = 0,
    device: Device = None,
    float64: Float64 = False,
    out: Annotated[Path, out_option("output directory")] = Path("lossatlas-runs/path"),
    model_arg: ArgsOpt = None,
    data_arg: ArgsOpt = None,
    classes: ClassesOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """A low-loss path between two minima, against the line.

    Heights, loss profiles and figures; on a 2-D landscape, three penalties λ.
    """
    import numpy as np
    import torch

    from lossatlas import Objective, paths, plot, zoo
    from lossatlas.core import distributed
    from lossatlas.paths.result import check_distinct
    from lossatlas.plot import outputs
    from lossatlas.plot import paths as plot_paths
    from lossatlas.results import manifest
    from lossatlas.results.files import save_torch, write_dataset, write_json
    from lossatlas.results.inputs import default_loss

    written: list[Path] = []
    rec = manifest.begin(out, "path", {}, title=f"Paths between two minima ({method})")
    rec.settings = {"a": a, "b": b, "model": model, "data": data, "landscape": landscape}
    rec.settings |= {"method": method, "points": points, "terms": terms, "penalty": penalty}
    rec.settings |= {"steps": steps, "lr": lr, "noise": noise, "align": align, "plane": plane}
    rec.settings |= {"grid": grid, "seed": seed, "device": device, "float64": float64}
    rec.settings |= {"out": str(out), "model_arg": model_arg or [], "data_arg": data_arg or []}
    try:
        dev = start("path", device)
        main = distributed.is_main()  # the process that writes files
        if main:
            claim_folder(out, "path", rec.settings, overwrite)
        if landscape is not None:
            if a is not None or b is not None:
                raise ValueError(
                    "with --landscape the endpoints are the landscape's first two minima; "
                    "leave out A and B."
                )
            obj = zoo.landscape_objective(landscape)
            minima = obj.model.minima
            if len(minima) < 2:
                raise ValueError(
                    f"landscape {landscape!r} has {len(minima)} known minimum; a path needs two "
                    "(try two-wells, muller-brown or himmelblau)."
                )
            theta_a, theta_b = minima[0].clone(), minima[1].clone()
            test = None
            penalties = penalty or [0.1, 1.0, 35.0]
            what = {"landscape": landscape, "θa": minima[0].tolist(), "θb": minima[1].tolist()}
        else:
            if a is None or b is None:
                raise ValueError(
                    "give two checkpoints, `lossatlas path A B`, or a landscape, "
                    "`lossatlas path --landscape two-wells`."
                )
            split, net = resolve_inputs(model, data, model_arg, data_arg)
            dtype = torch.float64 if float64 else torch.float32
            # minibatch curves need the whole data in every process; the rest shard it
            shard = None if method in ("fourier", "linear") else False
            obj = Objective(
                net, split.train, loss=default_loss(split), dtype=dtype, device=dev, shard=shard
            )
            theta_a, theta_b = obj.load_point(a), obj.load_point(b, buffers=False)
            if method != "linear":
                check_distinct(theta_a, theta_b)
            test = split.test
            penalties = penalty or [1e-3]
            what = {"model": f"{model} ({obj.size:,} parameters)", "A": str(a), "B": str(b)}
        defaults = NETWORK_FOURIER if landscape is None else LANDSCAPE_FOURIER
        opts = _method_options(
            method, points, terms, penalties[0], steps, lr, noise, seed, defaults
        )
        _show_settings(
            "lossatlas path",
            {**what, "method": method, **opts, "penalties": penalties, "out": str(out)},
        )
        summary: dict = {"settings": {**opts, "method": method, "penalties": penalties}}
        if align:
            al = paths.align(obj, theta_a, theta_b, seed=seed)
            theta_b = al.theta
            summary["alignment"] = {
                "similarity_before": al.similarity_before,
                "similarity_after": al.similarity_after,
                "sweeps": al.sweeps,
            }
            if main:
                written.append(save_torch(theta_b.cpu(), out / "b_aligned.pt"))
        line = paths.linear(obj, theta_a, theta_b, opts["points"], test=test)
        results = [line]
        if method != "linear":
            runs = penalties if method == "fourier" else [None]
            for lam in runs:
                o = dict(opts) | ({"penalty": lam} if lam is not None else {})
                results.append(_run(method, obj, theta_a, theta_b, o, test))
        summary["paths"] = [{"method": r.method, **r.summary(), **r.settings} for r in results]
        for i, r in enumerate(results if main else []):
            name = "linear" if i == 0 else f"{r.method}{i if len(results) > 2 else ''}"
            written.append(write_dataset(r.to_dataset(), out / f"{name}.zarr"))
            rec.array(written[-1])
            if r.coefficients is not None:
                save_torch(r.coefficients.cpu(), out / f"{name}_coefficients.pt")
        if main:
            written.append(write_json(out / "path.json", summary))
        if "alignment" in summary:
            rec.results |= {f"alignment_{k}": v for k, v in summary["alignment"].items()}
        if landscape is not None:
            if main:
                fig = plot_paths.landscape_paths(obj, results)
                written.append(plot.save(fig, out / "landscape_paths.png"))
                rec.figure(written[-1], "The paths over the landscape's contours, and profiles.")
                written += outputs.paths(rec, out, results)
        else:
            ds = None
            if plane and len(results) > 1:
                # every process evaluates the plane (its objective may be sharded); rank 0 draws
                ds = paths.path_plane(obj, results[-1], [line], grid, store=out / "plane.zarr")
                rec.array(out / "plane.zarr")
            if main:
                written += outputs.paths(rec, out, results, ds)
        for r in results:
            label = r.method + (f" λ={r.settings['penalty']:g}" if r.method == "fourier" else "")
            console.print(
                f"{label:>20s}: height {r.height:.6g}, barrier {r.barrier:.6g}, "
                f"length {r.length:.4g}"
                + (f", test height {np.max(r.test_loss):.6g}" if r.test_loss is not None else "")
            )
    except (ValueError, TypeError, FileNotFoundError, ArithmeticError) as err:
        _fail(err)
    if main:
        rec.finish()
    for f in written:
        console.print(f"wrote: [bold]{f}[/]")


def _collect(source: Path, pattern: str):
    """(labels, flat vectors or checkpoint paths) from a directory or a solution stack."""
    from lossatlas.core.points import STACK_SUFFIXES, load_solution_stack

    if not source.exists():
        raise FileNotFoundError(f"{str(source)!r} does not exist.")
    if source.is_file():
        if source.suffix not in STACK_SUFFIXES:
            raise ValueError(
                f"{str(source)!r} is a file: give a directory of checkpoints or a .npy/.pt "
                "stack of solutions (k × n, one flattened solution per row)."
            )
        stack = load_solution_stack(source)
        return [f"{i}" for i in range(len(stack))], list(stack)
    files = sorted(p for p in source.glob(pattern) if p.is_file() and p.name != "trajectory.pt")
    return [str(p.relative_to(source)) for p in files], files


@app.command()
def barriers(
    source: Annotated[
        Path, typer.Argument(help="a directory of checkpoints, or a .npy/.pt stack (k × n)")
    ],
    model: ModelOpt = "fcp",
    data: DataOpt = "digits",
    pattern: Annotated[
        str, typer.Option(help="checkpoint files in the directory (glob)")
    ] = "**/final.pt",
    method: Method = "fourier",
    points: Points = None,
    terms: Terms = None,
    penalty: Annotated[float, typer.Option(help="fourier: λ")] = 1e-3,
    steps: Steps = None,
    lr: Lr = None,
    seed: Annotated[int, typer.Option(help="seed of sampled t (bezier)")] = 0,
    device: Device = None,
    float64: Float64 = False,
    out: Annotated[Path, out_option("output directory")] = Path("lossatlas-runs/barriers"),
    model_arg: ArgsOpt = None,
    data_arg: ArgsOpt = None,
    classes: ClassesOpt = None,
) -> None:
    """Path heights between every pair of solutions, resumable.

    One store filled pair by pair (a rerun resumes), and a heatmap.
    """
    import numpy as np
    import torch

    from lossatlas import Objective, paths
    from lossatlas.core import distributed
    from lossatlas.plot import outputs
    from lossatlas.results import manifest
    from lossatlas.results.files import write_json
    from lossatlas.results.inputs import default_loss

    rec = manifest.begin(out, "barriers", {}, title=f"Barriers between solutions ({method})")
    rec.settings = {"source": source, "model": model, "data": data, "pattern": pattern}
    rec.settings |= {"method": method, "points": points, "terms": terms, "penalty": penalty}
    rec.settings |= {"steps": steps, "lr": lr, "seed": seed, "device": device, "float64": float64}
    rec.settings |= {"out": str(out), "model_arg": model_arg or [], "data_arg": data_arg or []}
    try:
        dev = start("barriers", device)
        labels, items = _collect(source, pattern)
        if len(items) < 2:
            raise ValueError(
                f"found {len(items)} solution(s) in {str(source)!r} (pattern {pattern!r}); "
                "a barrier matrix needs at least 2. Change --pattern, e.g. '*.pt'."
            )
        split, net = resolve_inputs(model, data, model_arg, data_arg)
        dtype = torch.float64 if float64 else torch.float32
        # whole data in every process: under torchrun the pairs are shared out instead
        obj = Objective(
            net, split.train, loss=default_loss(split), dtype=dtype, device=dev, shard=False
        )
        if source.is_file():  # a stack of another model: both sizes named
            from lossatlas.core.points import load_solution_stack

            load_solution_stack(source, obj.size)
        thetas = [obj.load_point(p, buffers=False) for p in items]
        opts = _method_options(method, points, terms, penalty, steps, lr, None, seed)
        if method == "polychain":
            opts["curve"] = "polychain"
        _show_settings(
            "lossatlas barriers",
            {
                "solutions": f"{len(thetas)} from {source}",
                "model": f"{model} ({obj.size:,} parameters)",
                "method": method,
                **opts,
                "pairs": len(thetas) * (len(thetas) - 1) // 2,
                "out": str(out),
            },
        )
        ds = paths.barrier_matrix(
            obj,
            thetas,
            "bezier" if method == "polychain" else method,
            labels=labels,
            store=out / "barriers.zarr",
            **opts,
        )
        if not distributed.is_main():
            return  # rank 0 writes
        matrix = {m: ds[m].values.tolist() for m in paths.matrix.MEASURES}
        written = [write_json(out / "barriers.json", {"labels": labels, **matrix, **opts})]
        rec.array(out / "barriers.zarr")
        written += outputs.barriers(rec, out, ds)
        k = len(labels)
        upper = ds.height.values[np.triu_indices(k, 1)]
        console.print(
            f"{method} path heights over {len(upper)} pairs: min {upper.min():.6g}, "
            f"median {np.median(upper):.6g}, max {upper.max():.6g}"
        )
    except (ValueError, TypeError, FileNotFoundError, ArithmeticError) as err:
        _fail(err)
    rec.finish()
    for f in written:
        console.print(f"wrote: [bold]{f}[/]")

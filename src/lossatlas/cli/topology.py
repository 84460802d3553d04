"""`lossatlas topology`: a landscape along the top Hessian eigenvectors and its merge tree.

The landscape is sampled into a resumable store (`landscape.zarr`: re-running
the same command after an interruption finishes only what is missing), or
read from an existing one (`--store`, also a `surface.zarr` of `lossatlas
surface`), or sampled from a synthetic 2-D landscape of the zoo
(`--synthetic muller-brown`). Then its persistence pairs, basins and figures
are written, and the manifest `lossatlas.json` last.
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
from lossatlas.cli.surface import _floats

TABLE_ROWS = 20  # pairs in the manifest's table (all of them are in persistence.json)


def _steps_and_span(steps: str, span: str | None, dims: int):
    counts = [int(v) for v in _floats(steps, (1, dims), "--steps")]
    counts = counts[0] if len(counts) == 1 else counts
    if span is None:
        return counts, (-1.0, 1.0)
    values = _floats(span, (2, 2 * dims), "--span")
    pairs = [(values[i], values[i + 1]) for i in range(0, len(values), 2)]
    return counts, pairs[0] if len(pairs) == 1 else pairs


def _other_landscape(path: Path):
    from lossatlas.surface.landscape import load

    if (path / "landscape.zarr").exists():
        path = path / "landscape.zarr"
    if not path.exists():
        raise FileNotFoundError(
            f"`--compare` must name a landscape store; {str(path)!r} is absent."
        )
    return load(path)


def _synthetic(name: str, steps: str, span: str | None, path: Path, chunk: int):
    """The zoo landscape `name` on a grid over its window (or `span`), along x and y."""
    import torch

    from lossatlas import zoo
    from lossatlas.surface.landscape import landscape

    surface = zoo.landscape(name)
    obj = zoo.landscape_objective(name)
    counts, spans = _steps_and_span(steps, span, 2)
    zero, eye = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
    window = spans if span else surface.bounds
    return landscape(obj, zero, eye, counts, window, store=path, chunk=chunk)


def _load_directions(path: Path):
    """An [N, n] tensor of directions from a .pt (torch.save) or .npy file."""
    import numpy as np
    import torch

    from lossatlas.core.errors import read_file

    if not path.is_file():
        raise FileNotFoundError(f"`--directions`: {str(path)!r} does not exist.")
    if path.suffix == ".npy":
        value = read_file(path, lambda p: np.load(p, allow_pickle=False), "[N, n] .npy array")
    else:
        value = read_file(
            path,
            lambda p: torch.load(p, map_location="cpu", weights_only=True),
            "[N, n] tensor saved with torch.save",
        )
    if not isinstance(value, torch.Tensor | np.ndarray):
        raise ValueError(
            f"`--directions` must hold an [N, n] tensor; {str(path)!r} holds a "
            f"{type(value).__name__}."
        )
    return torch.as_tensor(value)


def _model_landscape(s: dict, path: Path, model_arg, data_arg, device):
    """The model's landscape along given directions, or its top Hessian eigenvectors."""
    import torch

    from lossatlas import Objective
    from lossatlas.results.inputs import default_loss
    from lossatlas.surface.landscape import landscape

    split, net = resolve_inputs(s["model"], s["data"], model_arg, data_arg, s["seed"])
    dtype = torch.float64 if s["float64"] else torch.float32
    obj = Objective(
        net, split.train, loss=default_loss(split), mode=s["mode"], dtype=dtype, device=device
    )
    theta = obj.load_point(s["checkpoint"]) if s["checkpoint"] else obj.point()
    directions = None
    if s["directions"]:
        directions = _load_directions(Path(s["directions"])).to(device=obj.device, dtype=dtype)
        if directions.dim() != 2 or directions.shape[1] != obj.size:
            raise ValueError(
                f"`--directions` must hold an [N, n] tensor with n = {obj.size} (the "
                f"model's parameters); got shape {tuple(directions.shape)}."
            )
    axes = s["dims"] if directions is None else len(directions)
    counts, spans = _steps_and_span(s["steps"], s["span"], axes)
    _show_settings(
        "lossatlas topology",
        {
            "model": f"{s['model']} ({obj.size:,} parameters)",
            "data": s["data"],
            "checkpoint": s["checkpoint"] or "the initialisation",
            "grid": f"{axes}-D along the top Hessian eigenvectors, {s['steps']} steps"
            if directions is None
            else f"{axes}-D along the directions in {s['directions']}, {s['steps']} steps",
            "out": str(path.parent),
        },
    )
    return landscape(
        obj,
        theta,
        directions,
        counts,
        spans,
        dims=s["dims"],
        norm=s["norm"],
        tol=s["tol"],
        seed=s["seed"],
        store=path,
        chunk=s["chunk"],
    )


@app.command()
def topology(
    model: ModelOpt = "fcp",
    data: DataOpt = "digits",
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", "-c", help="θ* (default: the initialisation)")
    ] = None,
    synthetic: Annotated[
        str | None,
        typer.Option(help="a zoo 2-D landscape instead of a model: muller-brown, himmelblau, ..."),
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option(help="analyse this landscape.zarr (or surface.zarr) instead of sampling"),
    ] = None,
    dims: Annotated[int, typer.Option(help="N: grid dimensions, top-N Hessian eigenvectors")] = 2,
    directions: Annotated[
        Path | None,
        typer.Option(help="an [N, n] .pt/.npy of directions instead of the eigenvectors"),
    ] = None,
    steps: Annotated[
        str, typer.Option(help="points per axis: '41' or N numbers '41,41,21'")
    ] = "41",
    span: Annotated[
        str | None,
        typer.Option(
            help="'lo,hi' for every axis or 2N numbers (default -1,1; synthetic: its window)"
        ),
    ] = None,
    norm: Annotated[
        str, typer.Option(help="rescale the eigenvectors: none, layer, filter")
    ] = "none",
    threshold: Annotated[
        float | None,
        typer.Option(help="persistence above which a basin counts (default 2% of median − min)"),
    ] = None,
    tol: Annotated[
        float | None, typer.Option(help="eigen-solver tolerance (default by dtype)")
    ] = None,
    compare: Annotated[
        Path | None,
        typer.Option(help="another landscape store (or output folder): bottleneck distance to it"),
    ] = None,
    chunk: Annotated[int, typer.Option(help="points per chunk of the store")] = 64,
    mode: Annotated[str, typer.Option(help="BatchNorm statistics: eval or train")] = "eval",
    seed: SeedOpt = 0,
    device: DeviceOpt = None,
    float64: Annotated[bool, typer.Option(help="evaluate in float64")] = False,
    out: Annotated[Path, out_option("output directory")] = Path("lossatlas-runs/topology"),
    model_arg: ArgsOpt = None,
    data_arg: ArgsOpt = None,
    classes: ClassesOpt = None,
) -> None:
    """A landscape on an N-dim grid and its merge tree.

    Along the top Hessian eigenvectors or given directions; barcode, basins, bottleneck.
    """
    import numpy as np

    from lossatlas import plot, topology
    from lossatlas.plot import topology as plot_topology
    from lossatlas.plot import topology_html as plot_topology_html
    from lossatlas.results import manifest
    from lossatlas.results.files import write_dataset, write_json
    from lossatlas.surface import landscape as land

    try:
        dev = start("topology", device, parallel=False)  # one process: the grid is small
    except ValueError as err:
        _fail(err)
    if synthetic is not None and (store is not None or checkpoint is not None):
        _fail(ValueError("`--synthetic` takes no `--store` or `--checkpoint`: pick one source."))
    if store is not None and checkpoint is not None:
        _fail(ValueError("`--store` is analysed as it is: drop `--checkpoint`."))
    if directions is not None and (synthetic is not None or store is not None):
        _fail(ValueError("`--directions` applies to a model's landscape: drop it, or `--store`."))
    if synthetic is not None and dims != 2:
        _fail(ValueError(f"`--dims` must be 2 for a synthetic landscape (x, y); got {dims}."))
    source = "store" if store is not None else "synthetic" if synthetic else "model"
    settings = {
        "source": source,
        "store": str(store) if store else None,
        "synthetic": synthetic,
        "model": None if source != "model" else model,
        "data": None if source != "model" else data,
        "checkpoint": str(checkpoint) if checkpoint else None,
        "dims": dims,
        "directions": str(directions) if directions else None,
        "steps": steps,
        "span": span,
        "norm": norm,
        "threshold": threshold,
        "tol": tol,
        "chunk": chunk,
        "mode": mode,
        "seed": seed,
        "float64": float64,
        "compare": str(compare) if compare else None,
        "device": str(dev) if dev is not None else None,  # recorded; the store resumes anywhere
    }
    written: list[Path] = []
    try:
        with manifest.record(
            out, "topology", settings, title=f"Topology of the {source} landscape"
        ) as rec:
            path = out / "landscape.zarr"
            with rec.timed("landscape"):
                if store is not None:
                    ds = land.load(store)
                elif synthetic is not None:
                    ds = _synthetic(synthetic, steps, span, path, chunk)
                else:
                    ds = _model_landscape(settings, path, model_arg, data_arg, dev)
            if store is None:
                rec.array(path)
                written.append(path)
            with rec.timed("merge tree"):
                tree, summary = topology.summary(ds, threshold=threshold)
            tau = float(summary.attrs["threshold"])
            written.append(write_dataset(summary, out / "topology.zarr"))
            rec.array(out / "topology.zarr")
            rows = topology.pairs_table(summary)
            keys = ("threshold", "num_basins", "total_persistence", "num_minima", "nan_cells")
            numbers = {k: summary.attrs[k] for k in keys}
            numbers["min_loss"] = float(np.nanmin(summary["values"].to_numpy()))
            if "eigenvalues" in ds:
                numbers["eigenvalues"] = ds["eigenvalues"].to_numpy().tolist()
            if compare is not None:
                other = topology.merge_tree(_other_landscape(compare)["loss"])
                numbers["bottleneck_distance"] = topology.bottleneck_distance(tree, other)
            written.append(write_json(out / "persistence.json", {**numbers, "pairs": rows}))
            rec.results.update(numbers)
            rec.table("pairs", rows[:TABLE_ROWS])
            with rec.timed("figures"):
                figures = [
                    (
                        "barcode",
                        plot_topology.barcode(tree, tau),
                        plot_topology_html.barcode_json(tree, summary, tau),
                        "Barcode: one bar per minimum from its loss to the saddle where it merges",
                    ),
                    (
                        "persistence_diagram",
                        plot_topology.persistence_diagram(tree, tau),
                        plot_topology_html.diagram_json(tree, summary, tau),
                        "Persistence diagram (birth, death) of the sublevel sets' components",
                    ),
                    (
                        "merge_tree",
                        plot_topology.merge_tree_plot(tree, tau),
                        plot_topology_html.merge_tree_json(tree, summary, tau),
                        "Merge tree: which minima merge at which loss",
                    ),
                    (
                        "basins",
                        plot_topology.basin_map(summary),
                        plot_topology_html.basin_map_json(summary),
                        "The landscape coloured by basin, with loss contours",
                    ),
                ]
                for name, fig, interactive, caption in figures:
                    png = plot.save(fig, out / f"{name}.png")
                    js = write_json(out / f"{name}.plotly.json", interactive)
                    rec.figure(png, caption)
                    rec.figure(js, caption)
                    written += [png, js]
    except (ValueError, TypeError, FileNotFoundError, ArithmeticError) as err:
        _fail(err)
    console.print(
        f"{numbers['num_basins']} basins with persistence > {tau:.4g} "
        f"({numbers['num_minima']} grid minima); total persistence "
        f"{numbers['total_persistence']:.4g}"
    )
    if "bottleneck_distance" in numbers:
        console.print(f"bottleneck distance to {compare}: {numbers['bottleneck_distance']:.4g}")
    for f in [*written, out / manifest.MANIFEST]:
        console.print(f"wrote: [bold]{f}[/]")

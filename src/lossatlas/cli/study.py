"""`lossatlas study optimizers|solutions|asymmetry`: the papers' experiments, end to end.

Each command prints its settings, runs the study function of
`lossatlas.studies` (which writes the arrays, figures and the manifest into
`--out` and resumes from it), and prints the summary table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lossatlas.cli.common import (
    ArgsOpt,
    DataOpt,
    ModelOpt,
    _fail,
    _show_settings,
    app,
    console,
    parse_kwargs,
)

study_app = typer.Typer(
    help="The papers' experiments: optimizer topography, Im et al.'s comparisons, "
    "asymmetric valleys. Each resumes from its --out folder after a kill.",
    no_args_is_help=True,
)
app.add_typer(study_app, name="study")

Workers = Annotated[
    int | None,
    typer.Option(help="processes for independent runs (default: every core)"),
]
Threads = Annotated[
    int, typer.Option(help="torch threads per run (the same serially and in parallel)")
]
Seed = Annotated[int, typer.Option(help="first initialisation seed")]
Float64 = Annotated[bool, typer.Option(help="train and measure in float64")]
ERRORS = (ValueError, TypeError, FileNotFoundError, ArithmeticError)


def _finish(result, title: str) -> None:
    result.print(title)
    for path in result.figures:
        console.print(f"wrote: [bold]{path}[/]")
    console.print(f"arrays, figures and lossatlas.json in [bold]{result.out}[/]")


@study_app.command("optimizers")
def optimizers(
    model: ModelOpt = "fcp",
    data: DataOpt = "digits",
    runs: Annotated[int, typer.Option(help="R runs per optimizer (paper: 75)")] = 8,
    keep: Annotated[int, typer.Option(help="S runs kept, lowest training loss (paper: 48)")] = 6,
    sgd_epochs: Annotated[int, typer.Option(help="SGD epochs")] = 30,
    sgd_lr: Annotated[float, typer.Option(help="SGD learning rate")] = 0.1,
    batch_size: Annotated[int, typer.Option(help="SGD mini-batch (paper: 64)")] = 64,
    lbfgs_iterations: Annotated[int, typer.Option(help="L-BFGS-GSS iterations")] = 150,
    max_evals: Annotated[int, typer.Option(help="L-BFGS-GSS line-search budget")] = 6,
    path_solutions: Annotated[
        int | None,
        typer.Option(help="solutions per set joined pairwise by paths (0: none; default 4)"),
    ] = None,
    path_method: Annotated[str, typer.Option(help="fourier, linear or bezier")] = "fourier",
    path_points: Annotated[int, typer.Option(help="t points per path (paper: 51)")] = 21,
    path_terms: Annotated[int, typer.Option(help="Fourier terms (paper: 10)")] = 10,
    path_steps: Annotated[int, typer.Option(help="path optimisation steps (paper: 100)")] = 30,
    path_lr: Annotated[float, typer.Option(help="path Adam learning rate")] = 1e-3,
    path_penalty: Annotated[float, typer.Option(help="FourierPathFinder λ")] = 1e-3,
    kpca_gamma: Annotated[
        float | None, typer.Option(help="RBF γ (default: 1/median squared distance)")
    ] = None,
    seed: Seed = 0,
    workers: Workers = None,
    threads: Threads = 1,
    float64: Float64 = False,
    out: Annotated[Path, typer.Option(help="study folder")] = Path("lossatlas-runs/optimizers"),
    model_arg: ArgsOpt = None,
    data_arg: ArgsOpt = None,
) -> None:
    """SGD against L-BFGS-GSS: Table 1, path heights (Fig. 4), distances (Fig. 5), kPCA (Fig. 6)."""
    from lossatlas import studies

    _show_settings(
        "lossatlas study optimizers",
        {"model": model, "data": data, "runs": runs, "keep": keep, "SGD": f"{sgd_epochs} "
         f"epochs, lr {sgd_lr}, batch {batch_size}", "L-BFGS-GSS": f"{lbfgs_iterations} "
         f"iterations", "paths": f"{path_method} between {path_solutions} per set",
         "workers": workers or "all cores", "out": str(out)},
    )  # fmt: skip
    try:
        result = studies.optimizers(
            model, data, out=out, runs=runs, keep=keep, sgd_epochs=sgd_epochs, sgd_lr=sgd_lr,
            batch_size=batch_size, lbfgs_iterations=lbfgs_iterations, max_evals=max_evals,
            path_solutions=path_solutions, path_method=path_method, path_points=path_points,
            path_terms=path_terms, path_steps=path_steps, path_lr=path_lr,
            path_penalty=path_penalty, kpca_gamma=kpca_gamma, seed=seed, workers=workers,
            threads=threads, float64=float64,
            model_kwargs=parse_kwargs(model_arg, "--model-arg"),
            data_kwargs=parse_kwargs(data_arg, "--data-arg"),
        )  # fmt: skip
    except ERRORS as err:
        _fail(err)
    _finish(result, "Table 1: mean losses of the kept runs (train: final, test: early-stopped)")

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
    DeviceOpt,
    ModelOpt,
    SgdMomentumOpt,
    SgdScheduleOpt,
    _fail,
    _show_settings,
    app,
    console,
    out_option,
    parse_kwargs,
    start,
)

study_app = typer.Typer(
    help="The papers' experiments, reproduced end to end.\n\n"
    "Each resumes from its --out folder after a kill.",
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
    sgd_epochs: Annotated[int, typer.Option(help="SGD epochs")] = 60,
    sgd_lr: Annotated[float, typer.Option(help="SGD learning rate (its peak, cosine)")] = 0.02,
    sgd_momentum: SgdMomentumOpt = 0.9,
    sgd_schedule: SgdScheduleOpt = "cosine",
    batch_size: Annotated[int, typer.Option(help="SGD mini-batch (paper: 64)")] = 64,
    lbfgs_iterations: Annotated[int, typer.Option(help="L-BFGS-GSS iterations")] = 150,
    max_evals: Annotated[int, typer.Option(help="L-BFGS-GSS line-search budget")] = 6,
    path_pairs: Annotated[
        int | None,
        typer.Option(
            help="pairs per set joined by paths, without shared endpoints where the set "
            "allows (0: none; default min(keep/2, 12))"
        ),
    ] = None,
    path_method: Annotated[str, typer.Option(help="fourier, linear or bezier")] = "fourier",
    path_points: Annotated[int, typer.Option(help="t points per path (paper: 51)")] = 51,
    path_terms: Annotated[int, typer.Option(help="Fourier terms (paper: 10)")] = 10,
    path_steps: Annotated[int, typer.Option(help="path optimisation steps (paper: 100)")] = 100,
    path_lr: Annotated[float, typer.Option(help="path Adam learning rate")] = 1e-3,
    path_penalty: Annotated[float, typer.Option(help="FourierPathFinder λ")] = 1e-3,
    kpca_gamma: Annotated[
        float | None, typer.Option(help="RBF γ (default: 1/median squared distance)")
    ] = None,
    seed: Seed = 0,
    workers: Workers = None,
    threads: Threads = 1,
    float64: Float64 = False,
    device: DeviceOpt = None,
    out: Annotated[Path, out_option("study folder")] = Path("lossatlas-runs/optimizers"),
    model_arg: ArgsOpt = None,
    data_arg: ArgsOpt = None,
    solution_set: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="NAME=FILE: a [k, n] .npy/.pt stack of solutions to analyse instead of "
            "training (repeat to compare sets)",
        ),
    ] = None,
) -> None:
    """SGD against L-BFGS-GSS: Table 1 and Figs. 4–6.

    Table 1's losses, path heights (Fig. 4), distances (Fig. 5), kPCA (Fig. 6).
    With --set NAME=FILE (repeatable) the given solution sets are analysed instead.
    """
    from lossatlas import studies

    given = _named_files(solution_set)
    if given:
        _optimizers_from_files(given, locals())
        return

    joined = min(keep // 2, 12) if path_pairs is None else path_pairs
    try:
        dev = start("study optimizers", device, parallel=False)
        _show_settings(
            "lossatlas study optimizers",
            {"model": model, "data": data, "runs": runs, "keep": keep, "SGD": f"{sgd_epochs} "
             f"epochs, lr {sgd_lr} ({sgd_schedule}), momentum {sgd_momentum}, batch "
             f"{batch_size}", "L-BFGS-GSS": f"{lbfgs_iterations} "
             f"iterations", "paths": f"{path_method}, {joined} pairs per set",
             "workers": workers or "all cores", "device": dev or "cpu", "out": str(out)},
        )  # fmt: skip
        result = studies.optimizers(
            model, data, out=out, runs=runs, keep=keep, sgd_epochs=sgd_epochs, sgd_lr=sgd_lr,
            sgd_momentum=sgd_momentum, sgd_schedule=sgd_schedule, batch_size=batch_size,
            lbfgs_iterations=lbfgs_iterations, max_evals=max_evals, path_pairs=path_pairs,
            path_method=path_method, path_points=path_points,
            path_terms=path_terms, path_steps=path_steps, path_lr=path_lr,
            path_penalty=path_penalty, kpca_gamma=kpca_gamma, seed=seed, workers=workers,
            threads=threads, float64=float64, device=dev,
            model_kwargs=parse_kwargs(model_arg, "--model-arg"),
            data_kwargs=parse_kwargs(data_arg, "--data-arg"),
        )  # fmt: skip
    except ERRORS as err:
        _fail(err)
    _finish(result, "Table 1: mean losses of the kept runs (train: final, test: early-stopped)")


def _named_files(pairs: list[str] | None) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name or not value:
            raise typer.BadParameter(
                f"`--set` must look like NAME=FILE (e.g. sgd-test=SGD_test.npy); got {pair!r}."
            )
        if name in out:
            raise typer.BadParameter(f"`--set` names {name!r} twice; give each set once.")
        out[name] = Path(value)
    return out


def _optimizers_from_files(given: dict[str, Path], a: dict) -> None:
    """`study optimizers --set NAME=FILE ...`: the analysis of given sets, no training."""
    from lossatlas import studies

    try:
        dev = start("study optimizers", a["device"], parallel=False)
        _show_settings(
            "lossatlas study optimizers (given solution sets)",
            {"model": a["model"], "data": a["data"], **{f"set {k}": str(v) for k, v in
             given.items()}, "paths": f"{a['path_method']}, up to "
             f"{a['path_pairs'] if a['path_pairs'] is not None else 12} pairs per set"
             if a["path_pairs"] != 0 else "none",
             "out": str(a["out"])},
        )  # fmt: skip
        result = studies.optimizers(
            a["model"], a["data"], out=a["out"], sets=given, path_pairs=a["path_pairs"],
            path_method=a["path_method"], path_points=a["path_points"],
            path_terms=a["path_terms"], path_steps=a["path_steps"], path_lr=a["path_lr"],
            path_penalty=a["path_penalty"], kpca_gamma=a["kpca_gamma"], seed=a["seed"],
            workers=a["workers"], threads=a["threads"], float64=a["float64"], device=dev,
            model_kwargs=parse_kwargs(a["model_arg"], "--model-arg"),
            data_kwargs=parse_kwargs(a["data_arg"], "--data-arg"),
        )  # fmt: skip
    except ERRORS as err:
        _fail(err)
    _finish(result, "Table 1 (mean losses ± s.d.) and Table S1 (weight components' mean, s.d.)")


def _lrs(pairs: list[str] | None) -> dict[str, float]:
    out = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        try:
            out[name] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise typer.BadParameter(
                f"`--lr` must look like OPTIMIZER=RATE (e.g. adam=0.01); got {pair!r}."
            )
    return out


@study_app.command("solutions")
def solutions(
    model: ModelOpt = "mlp",
    data: DataOpt = "digits",
    optimizer: Annotated[
        list[str] | None,
        typer.Option(help="optimizer, repeatable (default: sgd, adam, lbfgs-gss, rk2)"),
    ] = None,
    epochs: Annotated[int, typer.Option(help="epochs of SGD, Adam and RK2")] = 30,
    lbfgs_iterations: Annotated[int, typer.Option(help="L-BFGS-GSS iterations")] = 150,
    lr: Annotated[
        list[str] | None,
        typer.Option(help="OPTIMIZER=RATE, repeatable (default sgd=0.1, adam=0.01, rk2=0.1)"),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="mini-batch size")] = 64,
    switch: Annotated[
        list[str] | None,
        typer.Option(help="A>B: continue A's run with B, repeatable (default adam>sgd, sgd>adam)"),
    ] = None,
    switch_at: Annotated[
        list[float] | None,
        typer.Option(
            help="fraction of A's budget to switch at, repeatable (default 0.25 0.5 0.75)"
        ),
    ] = None,
    batchnorm: Annotated[
        str, typer.Option(help="both, with or without: the batch-normalisation variants")
    ] = "both",
    grid: Annotated[int, typer.Option(help="points per axis of the plane, triangle, quad")] = 21,
    alphas: Annotated[int, typer.Option(help="points on θ → αθ")] = 41,
    alpha_max: Annotated[float, typer.Option(help="θ → αθ for α in [0, alpha_max]")] = 4.0,
    path_points: Annotated[int, typer.Option(help="points on the lines between solutions")] = 21,
    same_tol: Annotated[
        float, typer.Option(help="line barrier below which two runs share a minimum")
    ] = 1e-2,
    seed: Seed = 0,
    workers: Workers = None,
    threads: Threads = 1,
    float64: Float64 = False,
    device: DeviceOpt = None,
    out: Annotated[Path, out_option("study folder")] = Path("lossatlas-runs/solutions"),
    model_arg: ArgsOpt = None,
    data_arg: ArgsOpt = None,
) -> None:
    """Im et al. (2016): four optimizers' solutions compared.

    SGD, Adam, L-BFGS-GSS and RK2: their surfaces, switches, basins, and BN.
    """
    from lossatlas import studies

    variants = {"both": (False, True), "with": (True,), "without": (False,)}
    try:
        dev = start("study solutions", device, parallel=False)
        if batchnorm not in variants:
            raise ValueError(f"`--batchnorm` must be both, with or without; got {batchnorm!r}.")
        optimizers = optimizer or ["sgd", "adam", "lbfgs-gss", "rk2"]
        switches = switch or ["adam>sgd", "sgd>adam"]
        at = switch_at or [0.25, 0.5, 0.75]
        _show_settings(
            "lossatlas study solutions",
            {"model": model, "data": data, "optimizers": ", ".join(optimizers),
             "budget": f"{epochs} epochs, L-BFGS-GSS {lbfgs_iterations} iterations",
             "switches": f"{', '.join(switches)} at {at}", "batchnorm": batchnorm,
             "workers": workers or "all cores", "device": dev or "cpu", "out": str(out)},
        )  # fmt: skip
        result = studies.solutions(
            model, data, out=out, optimizers=optimizers, epochs=epochs,
            lbfgs_iterations=lbfgs_iterations, lr=_lrs(lr), batch_size=batch_size,
            switches=switches, switch_at=at, batchnorm=variants[batchnorm], grid=grid,
            alphas=alphas, alpha_span=(0.0, alpha_max), path_points=path_points,
            same_tol=same_tol, seed=seed, workers=workers, threads=threads, float64=float64,
            device=dev, model_kwargs=parse_kwargs(model_arg, "--model-arg"),
            data_kwargs=parse_kwargs(data_arg, "--data-arg"),
        )  # fmt: skip
    except ERRORS as err:
        _fail(err)
    _finish(result, "the solutions: losses and basins along θ → αθ")


@study_app.command("asymmetry")
def asymmetry(
    model: ModelOpt = "mlp",
    data: DataOpt = "digits",
    batchnorm: Annotated[bool, typer.Option(help="give the model batch normalisation")] = True,
    epochs: Annotated[int, typer.Option(help="SGD epochs")] = 40,
    lr: Annotated[float, typer.Option(help="SGD learning rate")] = 0.1,
    batch_size: Annotated[int, typer.Option(help="mini-batch size")] = 64,
    swa_start: Annotated[float, typer.Option(help="fraction of the steps before averaging")] = 0.5,
    swa_every: Annotated[int, typer.Option(help="average every k-th step")] = 1,
    directions: Annotated[int, typer.Option(help="random directions")] = 8,
    radius: Annotated[float, typer.Option(help="r: profiles over l in [-r, r]")] = 1.0,
    points: Annotated[int, typer.Option(help="profile points per side")] = 10,
    zeta: Annotated[float, typer.Option(help="ζ of the definition")] = 0.1,
    p: Annotated[
        float | None, typer.Option(help="p of the definition (default: any p > 0)")
    ] = None,
    c: Annotated[float, typer.Option(help="c of the definition (> 1)")] = 2.0,
    norm: Annotated[
        str, typer.Option(help="direction normalisation: filter, layer, none")
    ] = "filter",
    line_points: Annotated[int, typer.Option(help="points on the SWA → SGD line")] = 51,
    seed: Seed = 0,
    workers: Workers = None,
    threads: Threads = 1,
    float64: Float64 = False,
    device: DeviceOpt = None,
    out: Annotated[Path, out_option("study folder")] = Path("lossatlas-runs/asymmetry"),
    model_arg: ArgsOpt = None,
    data_arg: ArgsOpt = None,
) -> None:
    """He et al. (2019): asymmetric valleys and SWA.

    Asymmetric directions at an SGD minimum, and where SWA lies along them.
    """
    from lossatlas import studies

    try:
        dev = start("study asymmetry", device, parallel=False)
        _show_settings(
            "lossatlas study asymmetry",
            {"model": model, "data": data, "batchnorm": batchnorm, "SGD": f"{epochs} epochs, "
             f"lr {lr}, SWA from {swa_start:.0%} of the steps", "directions": f"{directions} "
             f"({norm}), l in [-{radius}, {radius}]", "definition": f"ζ = {zeta}, c = {c}, "
             f"p = {p if p is not None else 'any'}", "device": dev or "cpu", "out": str(out)},
        )  # fmt: skip
        result = studies.asymmetry(
            model, data, out=out, batchnorm=batchnorm, epochs=epochs, lr=lr,
            batch_size=batch_size, swa_start=swa_start, swa_every=swa_every,
            directions=directions, radius=radius, points=points, zeta=zeta, p=p, c=c,
            norm=norm, line_points=line_points, seed=seed, workers=workers, threads=threads,
            float64=float64, device=dev, model_kwargs=parse_kwargs(model_arg, "--model-arg"),
            data_kwargs=parse_kwargs(data_arg, "--data-arg"),
        )  # fmt: skip
    except ERRORS as err:
        _fail(err)
    _finish(result, "directions: asymmetry and SWA's displacement towards the flat side")
    r = result.results
    console.print(
        f"asymmetric directions: {r['fraction_asymmetric']:.0%}; SWA towards the flat side in "
        f"{r['fraction_toward_flat']:.0%}; test loss SGD {r['sgd_test_loss']:.4g}, "
        f"SWA {r['swa_test_loss']:.4g}"
    )

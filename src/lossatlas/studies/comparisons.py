"""Im, Tao, Branson (2016): do different optimizers find different solutions?

From one initialisation, SGD, Adam, L-BFGS-GSS and RK2 (`optim.RK2`) each
train a network (catalogue of loss surfaces §5.1). The study then measures

- the loss over the plane and the triangle through three of the solutions and
  over the bilinear quad through four (`surface.solutions`, `triangle`,
  `quad`; §5.1.1, Fig. 1–2), and the straight-line barriers between each pair;
- their functional difference: the fraction of test inputs two solutions
  classify differently (§5.1.1: different minima are different functions);
- optimizer switches: run A is restarted from its weights after a fraction f
  of its budget with optimizer B for the rest (§5.1.3); the switched solution
  is compared with A's own: distance, straight-line barrier, disagreement,
  and whether they share a minimum (barrier below `same_tol`);
- basin size along θ → αθ (Fig. 4; `surface.scaling`): the interval of α
  around 1 where L(αθ) stays below halfway between L(θ) and L(0), also in
  absolute distance (the width times ‖θ‖, since a larger ‖θ‖ makes the same
  Δα a larger step);

each with and without batch normalisation (§5.1.4; the model needs a
`batchnorm` switch, as `zoo.mlp` has). A network with BatchNorm is measured
with the statistics of the whole data set at every point (`objective_for`),
and its predictions with statistics recomputed from the training data.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from lossatlas import manifest, paths, plot, plot_html, plot_paths, surface
from lossatlas.files import write_dataset, write_json
from lossatlas.inputs import default_loss
from lossatlas.optim.train import OPTIMIZERS as ALL_OPTIMIZERS
from lossatlas.studies import figures
from lossatlas.studies.common import (
    StudyResult,
    check_positive,
    load_theta,
    objective_for,
    predictions,
)
from lossatlas.studies.runner import RunSpec, Workers, build_model, load_split, run_all
from lossatlas.zoo.models import MODELS

DEFAULT_LR = {"sgd": 0.1, "adam": 0.01, "rk2": 0.1}


def basin_interval(alpha: np.ndarray, loss: np.ndarray, level: float, centre: float = 1.0):
    """The interval of α around `centre` where loss(α) ≤ level, ends linearly interpolated.

    Args:
        alpha: [P] increasing grid; loss: [P] values on it.
        level: the loss that bounds the basin.

    Returns:
        (low, high); an end that reaches the grid's edge is that edge; (nan, nan)
        when the loss at the grid point nearest `centre` is above `level`.
    """
    alpha, loss = np.asarray(alpha, float), np.asarray(loss, float)
    i = int(np.argmin(np.abs(alpha - centre)))
    if not loss[i] <= level:
        return float("nan"), float("nan")
    ends = []
    for step in (-1, 1):
        j = i
        while 0 <= j + step < len(alpha) and loss[j + step] <= level:
            j += step
        k = j + step
        if not 0 <= k < len(alpha) or not np.isfinite(loss[k]):
            ends.append(float(alpha[j]))
        else:  # the crossing between the last point inside and the first outside
            w = (level - loss[j]) / (loss[k] - loss[j])
            ends.append(float(alpha[j] + w * (alpha[k] - alpha[j])))
    return ends[0], ends[1]


def _switch(spec: str, optimizers: Sequence[str]) -> tuple[str, str]:
    a, sep, b = spec.partition(">")
    if not sep or a not in optimizers or b not in ALL_OPTIMIZERS:
        raise ValueError(
            f"a switch must read 'A>B' with A one of the study's optimizers {tuple(optimizers)} "
            f"and B one of {ALL_OPTIMIZERS}; got {spec!r}."
        )
    return a, b


def _check(model: str, optimizers, switch_at, batchnorm) -> None:
    if len(optimizers) < 2 or len(set(optimizers)) != len(optimizers):
        raise ValueError(f"`optimizers` must name 2 or more distinct ones; got {optimizers!r}.")
    for o in optimizers:
        if o not in ALL_OPTIMIZERS:
            raise ValueError(f"`optimizers` must be among {ALL_OPTIMIZERS}; got {o!r}.")
    if any(not 0 < f < 1 for f in switch_at):
        raise ValueError(
            f"`switch_at` must hold fractions strictly between 0 and 1; got {switch_at!r}."
        )
    if not batchnorm:
        raise ValueError("`batchnorm` must hold at least one of False and True.")
    takes = model not in MODELS or "batchnorm" in inspect.signature(MODELS[model]).parameters
    if True in batchnorm and not takes:
        raise ValueError(
            f"model {model!r} has no `batchnorm` switch; use 'mlp' (or a ResNet), or "
            "batchnorm=(False,) to skip the comparison with batch normalisation."
        )


def solutions(
    model: str = "mlp",
    data: str = "digits",
    *,
    out: str | PathLike,
    optimizers: Sequence[str] = ("sgd", "adam", "lbfgs-gss", "rk2"),
    epochs: int = 30,
    lbfgs_iterations: int = 150,
    lr: dict[str, float] | None = None,
    batch_size: int = 64,
    switches: Sequence[str] = ("adam>sgd", "sgd>adam"),
    switch_at: Sequence[float] = (0.25, 0.5, 0.75),
    batchnorm: Sequence[bool] = (False, True),
    grid: int = 21,
    alphas: int = 41,
    alpha_span: tuple[float, float] = (0.0, 4.0),
    path_points: int = 21,
    same_tol: float = 1e-2,
    seed: int = 0,
    workers: int | None = 1,
    threads: int = 1,
    model_kwargs: dict[str, Any] | None = None,
    data_kwargs: dict[str, Any] | None = None,
    float64: bool = False,
    progress: bool = True,
) -> StudyResult:
    """Im et al. (2016)'s comparisons of the solutions of four optimizers.

    Args:
        model, data: zoo names or specs; the model must take `batchnorm=`
            when True is in `batchnorm`.
        out: the study's folder; rerunning with it resumes.
        optimizers: trained from the same initialisation (seed).
        epochs: epochs of the mini-batch optimizers; lbfgs_iterations: L-BFGS-GSS's.
        lr: learning rates by optimizer (default sgd 0.1, adam 0.01, rk2 0.1).
        switches: "A>B" pairs: A's run is continued by B from each point of `switch_at`.
        switch_at: fractions of A's budget at which to switch.
        batchnorm: the variants to run (without and with batch normalisation).
        grid: points per axis of the plane, triangle and quad.
        alphas, alpha_span: the grid of θ → αθ; a basin end at the span's edge
            means the basin reaches at least that far.
        path_points: points on the straight lines between solutions.
        same_tol: a switched run shares the unswitched run's minimum when the
            straight-line barrier between them is below this.
        seed: the initialisation and batch-order seed.
        workers, threads: processes for the runs and torch threads per run.

    Returns:
        `StudyResult` with the per-solution table and the "switches" table.

    Raises:
        ValueError: unknown optimizers or switches, fractions outside (0, 1),
            a model without a batchnorm switch, or sizes below their minimum.
    """
    optimizers = list(optimizers)
    _check(model, optimizers, switch_at, batchnorm)
    pairs = [_switch(s, optimizers) for s in switches]
    check_positive(epochs=(epochs, 1), lbfgs_iterations=(lbfgs_iterations, 1), grid=(grid, 2))
    check_positive(alphas=(alphas, 2), path_points=(path_points, 2))
    lrs = {**DEFAULT_LR, **(lr or {})}
    out = Path(out)
    model_kwargs, data_kwargs = dict(model_kwargs or {}), dict(data_kwargs or {})
    settings = {
        "model": model,
        "data": data,
        "optimizers": optimizers,
        "epochs": epochs,
        "lbfgs_iterations": lbfgs_iterations,
        "lr": lrs,
        "batch_size": batch_size,
        "switches": list(switches),
        "switch_at": list(switch_at),
        "batchnorm": list(batchnorm),
        "grid": grid,
        "alphas": alphas,
        "alpha_span": list(alpha_span),
        "path_points": path_points,
        "same_tol": same_tol,
        "seed": seed,
        "threads": threads,
        "model_kwargs": model_kwargs,
        "data_kwargs": data_kwargs,
        "float64": float64,
    }
    budget = {o: lbfgs_iterations if o == "lbfgs-gss" else epochs for o in ALL_OPTIMIZERS}
    title = "Im et al. (2016): the solutions of SGD, Adam, L-BFGS-GSS and RK2 compared"
    table, switch_rows, figs, datasets, arrays = [], [], [], {}, []
    with (
        manifest.record(out, "study solutions", settings, title=title) as rec,
        Workers(workers, threads) as pool,
    ):
        for bn in batchnorm:
            variant = "bn" if bn else "no-bn"
            common = {
                "model": model,
                "data": data,
                "data_kwargs": data_kwargs,
                "model_kwargs": {**model_kwargs, **({"batchnorm": True} if bn else {})},
                "float64": float64,
                "batch_size": batch_size,
                "init_seed": seed,
                "seed": seed,
            }
            sources = {a for a, _ in pairs}
            base = [
                RunSpec(
                    key=f"{variant}/runs/{o}",
                    optimizer=o,
                    epochs=budget[o],
                    lr=lrs.get(o),
                    trajectory=o in sources,
                    **common,
                )
                for o in optimizers
            ]
            switched = []
            for a, b in pairs:
                for f in switch_at:
                    k = max(1, round(f * budget[a]))
                    rest = max(1, round((1 - f) * budget[b]))
                    switched.append(
                        RunSpec(
                            key=f"{variant}/switch/{a}-to-{b}-at-{k}",
                            optimizer=b,
                            epochs=rest,
                            lr=lrs.get(b),
                            init_from=(f"{variant}/runs/{a}", k),
                            **common,
                        )
                    )
            with rec.timed(f"training {variant}"):
                done = run_all(
                    base, out, workers=pool, progress=progress, description=f"{variant} runs"
                )
                sw_done = run_all(
                    switched,
                    out,
                    workers=pool,
                    progress=progress,
                    description=f"{variant} switched runs",
                )
            with rec.timed(f"surfaces {variant}"):
                rows, srows, vfigs, ds, varrays = _variant(
                    out,
                    variant,
                    optimizers,
                    base,
                    done,
                    switched,
                    sw_done,
                    common,
                    grid,
                    alphas,
                    alpha_span,
                    path_points,
                    same_tol,
                    progress,
                )
            table += rows
            switch_rows += srows
            figs += vfigs
            arrays += varrays
            datasets[variant] = ds
        results = {
            f"{v}_mean_disagreement": float(
                ds.disagreement.to_numpy()[np.triu_indices(len(optimizers), 1)].mean()
            )
            for v, ds in datasets.items()
        }
        results["switches_reaching_the_same_minimum"] = int(
            sum(r["same_minimum"] for r in switch_rows)
        )
        results["switches"] = len(switch_rows)
        rec.results.update(results)
        rec.table("solutions", table)
        rec.table("switches", switch_rows)
        for path, caption in figs:
            rec.figure(path, caption)
        for path in arrays:
            rec.array(path)
    return StudyResult(
        out=out,
        table=table,
        results=results,
        datasets=datasets,
        figures=[p for p, _ in figs],
        tables={"switches": switch_rows},
    )


def _variant(
    out,
    variant,
    optimizers,
    base,
    done,
    switched,
    sw_done,
    common,
    grid,
    alphas,
    alpha_span,
    path_points,
    same_tol,
    progress,
):
    """Surfaces, functional differences, basins and switches of one BN variant."""
    folder = out / variant
    split = load_split(common["data"], common["data_kwargs"])
    net = build_model(common["model"], split, common["model_kwargs"], common["init_seed"])
    dtype = torch.float64 if common["float64"] else torch.float32
    obj = objective_for(net, split.train, default_loss(split), dtype)
    thetas = [load_theta(obj, out / s.key / "final.pt") for s in base]
    x_test = split.test[0]
    preds = [predictions(net, out / s.key / "final.pt", x_test) for s in base]
    k = len(base)
    disagreement = np.array(
        [[float((preds[i] != preds[j]).float().mean()) for j in range(k)] for i in range(k)]
    )
    lines = paths.barrier_matrix(
        obj,
        thetas,
        optimizers,
        method="linear",
        points=path_points,
        store=folder / "lines.zarr",
        progress=False,
    )
    figs, arrays = [], [folder / "lines.zarr"]
    surfaces = {}
    draw = {"plane": surface.solutions, "triangle": surface.triangle, "quad": surface.quad}
    for name, corners in (("plane", 3), ("triangle", 3), ("quad", 4)):
        if k >= corners:
            surfaces[name] = draw[name](
                obj,
                thetas[:corners],
                optimizers[:corners],
                grid,
                store=folder / f"{name}.zarr",
                progress=progress,
            )
    captions = {
        "plane": "the plane through the first three solutions (orthonormal axes)",
        "triangle": "the triangle θ1 + α(θ2 − θ1) + β(θ3 − θ1) through three solutions",
        "quad": "the bilinear quad through four solutions",
    }
    for name, ds in surfaces.items():
        ds.attrs["title"] = f"{variant}: {captions[name]}"
        cap = f"Training loss over {captions[name]} ({variant}; Im et al. 2016, Fig. 1)"
        figs.append((plot.save(plot.contour(ds, log=True), folder / f"{name}.png"), cap))
        fig_json = plot_html.figure_json(ds, "contour", log=True)
        figs.append((write_json(folder / f"{name}.plotly.json", fig_json), cap))
        arrays.append(folder / f"{name}.zarr")
    curves, rows = {}, []
    zero = float(obj.value(torch.zeros_like(thetas[0])))
    for o, theta, summary in zip(optimizers, thetas, done, strict=True):
        scale = surface.scaling(
            obj, theta, alphas, span=alpha_span, progress=False, store=folder / f"scaling-{o}.zarr"
        )
        arrays.append(folder / f"scaling-{o}.zarr")
        a, loss = scale.alpha.to_numpy(), scale.loss.to_numpy()
        curves[o] = (a, loss)
        here = float(obj.value(theta))
        lo, hi = basin_interval(a, loss, 0.5 * (here + zero))
        norm = float(theta.double().norm())
        rows.append(
            {
                "variant": variant,
                "optimizer": o,
                "train_loss": here,
                "test_loss": summary.get("final_test_loss", float("nan")),
                "test_accuracy": summary.get("final_test_accuracy", float("nan")),
                "norm": norm,
                "basin_low": lo,
                "basin_high": hi,
                "basin_width": hi - lo,
                "basin_width_abs": (hi - lo) * norm,
            }
        )
    kw_lines = {
        "xlabel": "α (θ → αθ)",
        "ylabel": "training loss",
        "log": True,
        "title": f"{variant}: loss along θ → αθ (Im et al. 2016, Fig. 4)",
    }
    cap = f"Basin along θ → αθ per optimizer ({variant}; Im et al. 2016, Fig. 4)"
    figs.append(
        (
            plot.save(figures.lines(curves, marks={"θ": 1.0}, **kw_lines), folder / "scaling.png"),
            cap,
        )
    )
    figs.append(
        (write_json(folder / "scaling.plotly.json", figures.lines_json(curves, **kw_lines)), cap)
    )
    dis = xr.Dataset(
        {"disagreement": (("a", "b"), disagreement)},
        coords={"a": optimizers, "b": optimizers},
        attrs={"method": "functional"},
    )
    fig = plot_paths.barrier_heatmap(dis, "disagreement")
    fig.axes[0].set_title(f"{variant}: fraction of test inputs classified differently")
    figs.append(
        (
            plot.save(fig, folder / "disagreement.png"),
            f"Functional difference between the solutions ({variant}; Im et al. §3.1)",
        )
    )
    figs.append(
        (
            plot.save(plot_paths.barrier_heatmap(lines, "barrier"), folder / "lines.png"),
            f"Straight-line barriers between the solutions ({variant})",
        )
    )
    srows = _switches(
        out, obj, net, x_test, base, switched, sw_done, preds, path_points, same_tol, variant
    )
    ds = xr.Dataset(
        {
            "disagreement": (("a", "b"), disagreement),
            "line_barrier": (("a", "b"), lines.barrier.to_numpy()),
            "line_height": (("a", "b"), lines.height.to_numpy()),
            **{
                key: (("optimizer",), np.array([r[key] for r in rows]))
                for key in ("train_loss", "test_loss", "norm", "basin_low", "basin_high")
            },
        },
        coords={"a": optimizers, "b": optimizers, "optimizer": optimizers},
        attrs={"variant": variant, "loss_at_zero": zero},
    )
    write_dataset(ds, folder / "comparison.zarr")
    arrays.append(folder / "comparison.zarr")
    return rows, srows, figs, ds, arrays


def _switches(
    out, obj, net, x_test, base, switched, sw_done, preds, path_points, same_tol, variant
):
    """Each switched run against its unswitched source: distance, barrier, disagreement."""
    source = {s.key: i for i, s in enumerate(base)}
    rows = []
    for spec, summary in zip(switched, sw_done, strict=True):
        key, at = spec.init_from
        i = source[key]
        theta = load_theta(obj, out / spec.key / "final.pt")
        unswitched = load_theta(obj, out / key / "final.pt")
        start = torch.load(out / key / "trajectory.pt", weights_only=True)[at].to(theta)
        line = paths.linear(obj, theta, unswitched, path_points)
        pred = predictions(net, out / spec.key / "final.pt", x_test)
        rows.append(
            {
                "variant": variant,
                "switch": f"{base[i].optimizer}>{spec.optimizer}",
                "at": at,
                "train_loss": summary["final_train_loss"],
                "distance": float((theta - unswitched).double().norm()),
                "unswitched_travel": float((unswitched - start).double().norm()),
                "barrier": line.barrier,
                "same_minimum": bool(line.barrier < same_tol),
                "disagreement": float((pred != preds[i]).float().mean()),
            }
        )
    return rows

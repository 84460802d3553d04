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

from lossatlas.optim.train import OPTIMIZERS as ALL_OPTIMIZERS
from lossatlas.results import manifest
from lossatlas.studies.common import StudyResult, check_positive, settings_from, study_device
from lossatlas.studies.comparisons_measures import Variant, measure
from lossatlas.studies.pool import Workers
from lossatlas.studies.runner import RunSpec, run_all
from lossatlas.zoo.models import MODELS

DEFAULT_LR = {"sgd": 0.1, "adam": 0.01, "rk2": 0.1}


def _switch(spec: str, optimizers: Sequence[str]) -> tuple[str, str]:
    a, sep, b = spec.partition(">")
    if not sep or a not in optimizers or b not in ALL_OPTIMIZERS or a == b:
        raise ValueError(
            f"a switch must read 'A>B' with A one of the study's optimizers {tuple(optimizers)} "
            f"and B another of {ALL_OPTIMIZERS}; got {spec!r}."
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
    device: str | torch.device | None = None,
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
        device: where every run trains and every loss is evaluated, in this
            process and the workers ("cpu", "cuda", "cuda:1", "mps"; None: the
            CPU). Recorded in the manifest, but a study begun on one device
            resumes on another.

    Returns:
        `StudyResult` with the per-solution table and the "switches" table.

    Raises:
        ValueError: unknown optimizers or switches, fractions outside (0, 1),
            a model without a batchnorm switch, or sizes below their minimum.
        DeviceUnavailable: a device this machine does not have.
    """
    settings = settings_from(locals())
    settings["device"] = device = study_device(device)
    optimizers = list(optimizers)
    _check(model, optimizers, switch_at, batchnorm)
    pairs = [_switch(s, optimizers) for s in switches]
    check_positive(epochs=(epochs, 1), lbfgs_iterations=(lbfgs_iterations, 1), grid=(grid, 2))
    check_positive(alphas=(alphas, 2), path_points=(path_points, 2), batch_size=(batch_size, 1))
    if len(alpha_span) != 2 or not alpha_span[0] < alpha_span[1]:
        raise ValueError(f"`alpha_span` must be (low, high) with low < high; got {alpha_span!r}.")
    if not same_tol >= 0:
        raise ValueError(f"`same_tol` must be a loss difference ≥ 0; got {same_tol!r}.")
    unknown = sorted(set(lr or {}) - set(ALL_OPTIMIZERS))
    if unknown:
        raise ValueError(
            f"`lr` has keys that are not optimizers: {unknown}; use some of {ALL_OPTIMIZERS}."
        )
    lrs = {**DEFAULT_LR, **(lr or {})}
    settings["lr"] = lrs
    out = Path(out)
    model_kwargs, data_kwargs = dict(model_kwargs or {}), dict(data_kwargs or {})
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
            sources = {a for a, _ in pairs}  # their trajectories hold the switch points
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
            switched = [
                RunSpec(
                    key=f"{variant}/switch/{a}-to-{b}-at-{k}",
                    optimizer=b,
                    epochs=max(1, round((1 - f) * budget[b])),
                    lr=lrs.get(b),
                    init_from=(f"{variant}/runs/{a}", k),
                    **common,
                )
                for a, b in pairs
                for f in switch_at
                for k in [max(1, round(f * budget[a]))]
            ]
            with rec.timed(f"training {variant}"):
                kw = {"workers": pool, "progress": progress, "device": device}
                done = run_all(base, out, description=f"{variant} runs", **kw)
                switched_done = run_all(switched, out, description=f"{variant} switched runs", **kw)
            v = Variant(variant, out, optimizers, base, done, switched, switched_done, device)
            with rec.timed(f"measures {variant}"):
                rows, srows, vfigs, ds, stores = measure(
                    v, grid, alphas, alpha_span, path_points, same_tol, progress
                )
            table += rows
            switch_rows += srows
            figs += vfigs
            arrays += stores
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

"""The asymmetric-valley study (He, Huang, Yuan 2019; catalogue of loss surfaces §5.7).

SGD trains a network while its iterates from `swa_start` on are averaged
(stochastic weight averaging). At the SGD solution w the study draws random
directions (filter-normalised, BatchNorm parameters included: He et al. find
the asymmetry mostly along them), profiles L(w ± l·u) with exact slopes,
scores each direction's asymmetry and applies the (r, p, c, ζ) test of the
definition (`studies.valleys`); then it measures where the SWA average lies
along each direction (is it displaced towards the flat side?) and, as in He
et al.'s own figures, the train and test loss on the line from the SWA
solution (α = 0) through the SGD one (α = 1) over α ∈ [−2, 3], BatchNorm
statistics recomputed at every point. Train and test loss of both solutions
(BatchNorm statistics recomputed from the training data) close the table.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from lossatlas import plot, surface
from lossatlas.core.objective import Objective
from lossatlas.plot import surface_html as plot_html
from lossatlas.results import manifest
from lossatlas.results.files import write_dataset
from lossatlas.results.inputs import default_loss
from lossatlas.studies import figures, valleys
from lossatlas.studies.common import (
    StudyResult,
    check_positive,
    objective_for,
    save_figure,
    settings_from,
    study_device,
)
from lossatlas.studies.pool import Workers
from lossatlas.studies.runner import RunSpec, build_model, load_split, run_all
from lossatlas.surface import directions as _dirs


def _metrics(net, checkpoint: Path, split, device: str) -> dict[str, float]:
    """Train and test loss (and accuracy) of a checkpoint in eval mode, its own BN statistics."""
    net.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
    loss = default_loss(split)
    out = {}
    for part in ("train", "test"):
        data = getattr(split, part)
        obj = Objective(net, data, loss=loss, mode="eval", device=device, check=False)
        out |= {f"{part}_{k}": v for k, v in obj.metrics(obj.point()).items()}
    return out


def asymmetry(
    model: str = "mlp",
    data: str = "digits",
    *,
    out: str | PathLike,
    batchnorm: bool = True,
    epochs: int = 40,
    lr: float = 0.1,
    batch_size: int = 64,
    swa_start: float = 0.5,
    swa_every: int = 1,
    directions: int = 8,
    radius: float = 1.0,
    points: int = 10,
    zeta: float = 0.1,
    p: float | None = None,
    c: float = 2.0,
    norm: str = "filter",
    line_points: int = 51,
    seed: int = 0,
    workers: int | None = 1,
    threads: int = 1,
    model_kwargs: dict[str, Any] | None = None,
    data_kwargs: dict[str, Any] | None = None,
    float64: bool = False,
    progress: bool = True,
    device: str | torch.device | None = None,
) -> StudyResult:
    """He et al. (2019): asymmetric directions at an SGD minimum, and where SWA lies.

    Args:
        model, data: zoo names or specs; `batchnorm` is passed to the model.
        out: the study's folder; rerunning with it resumes.
        epochs, lr, batch_size: the SGD run.
        swa_start: fraction of the steps after which iterates are averaged.
        swa_every: average every k-th step.
        directions: how many random directions u (seeds seed, seed + 1, ...).
        radius, points: profiles over l ∈ [−radius, radius], `points` per side.
        zeta, p, c: the definition's ζ, p and c (r = radius); p None: a
            direction passes when some p > 0 does (c < `valleys.largest_c`).
        norm: direction normalisation, "filter", "layer" or "none" (Li et al.).
        line_points: points on He et al.'s line from SWA (0) through SGD (1) over [−2, 3].
        seed: initialisation, batch order and directions.
        device: where the run trains and every loss is evaluated ("cpu",
            "cuda", "cuda:1", "mps"; None: the CPU). Recorded in the manifest,
            but a study begun on one device resumes on another.

    Returns:
        `StudyResult`: one table row per direction, results with the fractions
        of asymmetric directions and of SWA displacements towards the flat
        side, and both solutions' losses.

    Raises:
        ValueError: bad sizes, swa_start outside [0, 1), c ≤ 1, p ≤ 0, or not 0 < ζ < r.
        DeviceUnavailable: a device this machine does not have.
    """
    settings = settings_from(locals())
    settings["device"] = device = study_device(device)
    check_positive(epochs=(epochs, 1), swa_every=(swa_every, 1), directions=(directions, 1))
    check_positive(points=(points, 1), line_points=(line_points, 2), batch_size=(batch_size, 1))
    if norm not in _dirs.NORMS:  # checked before training, not after it
        raise ValueError(f"`norm` must be one of {_dirs.NORMS}; got {norm!r}.")
    if not 0 <= swa_start < 1:
        raise ValueError(f"`swa_start` must be a fraction in [0, 1); got {swa_start!r}.")
    if not c > 1 or (p is not None and not p > 0) or not 0 < zeta < radius:
        raise ValueError(
            f"the definition needs c > 1, p > 0 and 0 < ζ < r; got c = {c!r}, p = {p!r}, "
            f"ζ = {zeta!r}, r = {radius!r}."
        )
    valleys.interior(valleys.grid(radius, points), zeta, radius)  # before training, not after
    out = Path(out)
    model_kwargs = {**(model_kwargs or {}), **({"batchnorm": True} if batchnorm else {})}
    data_kwargs = dict(data_kwargs or {})
    settings |= {"model_kwargs": model_kwargs}
    title = "He et al. (2019): asymmetric valleys and stochastic weight averaging"
    with (
        manifest.record(out, "study asymmetry", settings, title=title) as rec,
        Workers(workers, threads) as pool,
    ):
        split = load_split(data, data_kwargs)
        steps = epochs * -(-len(split.train[0]) // batch_size)
        spec = RunSpec(
            key="runs/sgd",
            model=model,
            data=data,
            optimizer="sgd",
            init_seed=seed,
            seed=seed,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            model_kwargs=model_kwargs,
            data_kwargs=data_kwargs,
            float64=float64,
            swa_start=round(swa_start * steps),
            swa_every=swa_every,
        )
        with rec.timed("training"):
            (summary,) = run_all([spec], out, workers=pool, progress=progress, device=device)
        run = out / spec.key
        net = build_model(model, split, model_kwargs, seed)
        dtype = torch.float64 if float64 else torch.float32
        obj = objective_for(net, split.train, default_loss(split), dtype, device)
        w, avg = obj.load_point(run / "final.pt"), obj.load_point(run / "swa.pt")
        # ignore=None: biases and BatchNorm parameters stay in the directions
        u = torch.stack(
            [_dirs.random_direction(obj.space, w, norm, None, seed + d) for d in range(directions)]
        )
        with rec.timed("profiles"):
            prof = valleys.profiles(
                obj,
                w,
                u,
                radius=radius,
                points=points,
                store=out / "profiles.zarr",
                progress=progress,
            )
        score = valleys.asymmetry_scores(prof)
        flat = np.where(score > 0, -1, 1)
        c_plus, c_minus = (
            valleys.largest_c(prof, zeta),
            valleys.largest_c(valleys.flipped(prof), zeta),
        )
        if p is None:
            passes = {1: c_plus > c, -1: c_minus > c}
        else:
            passes = {
                1: valleys.is_asymmetric(prof, p, c, zeta),
                -1: valleys.is_asymmetric(valleys.flipped(prof), p, c, zeta),
            }
        asym = passes[1] | passes[-1]
        side = np.where(passes[1], 1, np.where(passes[-1], -1, 0))
        proj = valleys.displacement(w, avg, u)
        toward = flat * proj
        test_obj = objective_for(net, split.test, default_loss(split), dtype, device)
        with rec.timed("line"):
            line = surface.line(
                obj,
                avg,
                w,
                line_points,
                span=(-2.0, 3.0),
                test=test_obj,
                store=out / "swa_line.zarr",
                progress=progress,
            )
        sgd_m = _metrics(net, run / "final.pt", split, device)
        swa_m = _metrics(net, run / "swa.pt", split, device)
        analysis = prof.assign(
            score=("direction", score),
            flat_side=("direction", flat),
            largest_c_plus=("direction", c_plus),
            largest_c_minus=("direction", c_minus),
            asymmetric=("direction", asym),
            asymmetric_flat_side=("direction", side),
            swa_projection=("direction", proj),
            toward_flat=("direction", toward),
        )
        analysis.attrs.update(
            {
                "zeta": zeta,
                "c": c,
                "p": "any" if p is None else p,
                "norm": norm,
                "swa_iterates": summary.get("swa_iterates", 0),
            }
        )
        write_dataset(analysis, out / "asymmetry.zarr")
        table = [
            {
                "direction": d,
                "score": float(score[d]),
                "flat_side": "+" if flat[d] > 0 else "-",
                "largest_c": float(max(c_plus[d], c_minus[d])),
                "asymmetric": bool(asym[d]),
                "swa_projection": float(proj[d]),
                "toward_flat": float(toward[d]),
            }
            for d in range(directions)
        ]
        results = {
            "fraction_asymmetric": float(asym.mean()),
            "fraction_toward_flat": float((toward > 0).mean()),
            "mean_toward_flat": float(toward.mean()),
            "mean_toward_flat_asymmetric": float(toward[asym].mean()) if asym.any() else None,
            "swa_iterates": summary.get("swa_iterates", 0),
            **{f"sgd_{k}": v for k, v in sgd_m.items()},
            **{f"swa_{k}": v for k, v in swa_m.items()},
            "swa_distance": float((avg - w).double().norm()),
        }
        figs = _figures(out, prof, score, toward, asym, line)
        rec.results.update(results)
        rec.table("directions", table)
        for path, caption in figs:
            rec.figure(path, caption)
        for name in ("asymmetry.zarr", "profiles.zarr", "swa_line.zarr"):
            rec.array(out / name)
    return StudyResult(
        out=out,
        table=table,
        results=results,
        datasets={"asymmetry": analysis, "line": line},
        figures=[p for p, _ in figs],
    )


def _figures(out: Path, prof: xr.Dataset, score, toward, asym, line: xr.Dataset):
    s = prof["s"].to_numpy()
    rise = prof["loss"].to_numpy() - prof["loss"].sel(s=0.0).to_numpy()[:, None]
    curves = {f"u{d} (score {score[d]:+.2f})": (s, rise[d]) for d in range(len(score))}
    kw = {
        "xlabel": "l (w + l·u)",
        "ylabel": "L(w + l·u) − L(w)",
        "title": "Profiles along random directions at the SGD solution",
    }
    written = save_figure(
        out,
        "profiles",
        figures.lines(curves, **kw),
        figures.lines_json(curves, **kw),
        "Loss along random directions from the SGD minimum (He et al. 2019, §3)",
    )
    groups = ["asymmetric" if a else "not asymmetric" for a in asym]
    title = "asymmetry score against SWA's displacement towards the flat side"
    panel = {title: np.stack([score, toward], axis=1)}
    labels = {title: ("score (A₊ − A₋)/(A₊ + A₋)", "displacement towards the flat side (l)")}
    written += save_figure(
        out,
        "displacement",
        figures.projections(panel, groups, axis_labels=labels),
        figures.projections_json(panel, groups),
        "SWA's displacement towards each direction's flat side (He et al. 2019, §5)",
    )
    line.attrs["title"] = "From the SWA solution (α = 0) through the SGD solution (α = 1)"
    written += save_figure(
        out,
        "swa_line",
        plot.line_plot(line),
        plot_html.figure_json(line, "line"),
        "Train and test loss on the line SWA → SGD over α ∈ [−2, 3] (He et al. 2019, Fig. 1)",
    )
    return written

"""What Im et al.'s study measures on the trained solutions of one BatchNorm variant:
surfaces through them, straight-line barriers, functional differences, basins along
θ → αθ, and each optimizer switch against its unswitched run (`comparisons`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from lossatlas import paths, plot, surface
from lossatlas.core.objective import Objective
from lossatlas.plot import paths as plot_paths
from lossatlas.plot import surface_html as plot_html
from lossatlas.results.files import write_dataset
from lossatlas.results.inputs import default_loss
from lossatlas.studies import figures
from lossatlas.studies.common import objective_for, predictions, save_figure
from lossatlas.studies.runner import RunSpec, build_model, load_split
from lossatlas.surface.basin import basin_width

CAPTIONS = {
    "plane": "the plane through the first three solutions (orthonormal axes)",
    "triangle": "the triangle θ1 + α(θ2 − θ1) + β(θ3 − θ1) through three solutions",
    "quad": "the bilinear quad through four solutions",
}


@dataclass
class Variant:
    """One BatchNorm variant's runs: the base runs (one per optimizer) and the switched."""

    name: str
    out: Path
    optimizers: list[str]
    base: list[RunSpec]
    done: list[dict[str, Any]]
    switched: list[RunSpec]
    switched_done: list[dict[str, Any]]
    device: str  # where the losses are evaluated (no setting of the runs)

    @property
    def folder(self) -> Path:
        """The variant's own result folder."""
        return self.out / self.name


def measure(
    v: Variant,
    grid: int,
    alphas: int,
    alpha_span,
    path_points: int,
    same_tol: float,
    progress: bool,
):
    """Everything of one variant: (solution rows, switch rows, figures, dataset, stores)."""
    spec = v.base[0]
    split = load_split(spec.data, spec.data_kwargs)
    net = build_model(spec.model, split, spec.model_kwargs, spec.init_seed)
    dtype = torch.float64 if spec.float64 else torch.float32
    obj = objective_for(net, split.train, default_loss(split), dtype, v.device)
    finals = [v.out / s.key / "final.pt" for s in v.base]
    thetas = [obj.load_point(f) for f in finals]
    preds = [predictions(net, f, split.test[0]) for f in finals]
    k = len(thetas)
    disagreement = np.array([[float((p != q).float().mean()) for q in preds] for p in preds])
    lines = paths.barrier_matrix(
        obj,
        thetas,
        "linear",
        labels=v.optimizers,
        points=path_points,
        store=v.folder / "lines.zarr",
        progress=False,
    )
    figs, stores = _surfaces(v, obj, thetas, grid, progress)
    rows, curves, zero = [], {}, float(obj.value(torch.zeros_like(thetas[0])))
    for o, theta in zip(v.optimizers, thetas, strict=True):
        scale = surface.scaling(
            obj,
            theta,
            alphas,
            span=alpha_span,
            progress=False,
            store=v.folder / f"scaling-{o}.zarr",
        )
        curves[o] = (scale.alpha.to_numpy(), scale.loss.to_numpy())
        rows.append(_basin_row(v, o, obj, theta, curves[o], zero))
    stores += [v.folder / "lines.zarr", *(v.folder / f"scaling-{o}.zarr" for o in v.optimizers)]
    figs += _draw(v, curves, disagreement, lines)
    switch_rows = switches(v, obj, net, split.test[0], preds, path_points, same_tol)
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
        coords={"a": v.optimizers, "b": v.optimizers, "optimizer": v.optimizers},
        attrs={"variant": v.name, "loss_at_zero": zero, "solutions": k},
    )
    write_dataset(ds, v.folder / "comparison.zarr")
    return rows, switch_rows, figs, ds, [*stores, v.folder / "comparison.zarr"]


def _surfaces(v: Variant, obj: Objective, thetas, grid: int, progress: bool):
    """The plane and triangle through the first three solutions, the quad through four."""
    draw = {"plane": surface.solutions, "triangle": surface.triangle, "quad": surface.quad}
    figs, stores = [], []
    for name, corners in (("plane", 3), ("triangle", 3), ("quad", 4)):
        if len(thetas) < corners:
            continue
        ds = draw[name](
            obj,
            thetas[:corners],
            v.optimizers[:corners],
            grid,
            store=v.folder / f"{name}.zarr",
            progress=progress,
        )
        ds.attrs["title"] = f"{v.name}: {CAPTIONS[name]}"
        caption = f"Training loss over {CAPTIONS[name]} ({v.name}; Im et al. 2016, Fig. 1)"
        figs += save_figure(
            v.folder,
            name,
            plot.contour(ds, log=True),
            plot_html.figure_json(ds, "contour", log=True),
            caption,
        )
        stores.append(v.folder / f"{name}.zarr")
    return figs, stores


def _basin_row(v: Variant, o: str, obj: Objective, theta, curve, zero: float) -> dict[str, Any]:
    """The basin along θ → αθ: where L(αθ) stays below ½(L(θ) + L(0))."""
    here = float(obj.value(theta))
    basin = basin_width(*curve, 0.5 * (here + zero))
    lo, hi = basin.low, basin.high
    norm = float(theta.double().norm())
    summary = v.done[v.optimizers.index(o)]
    return {
        "variant": v.name,
        "optimizer": o,
        "train_loss": here,
        "test_loss": summary.get("final_test_loss", float("nan")),
        "test_accuracy": summary.get("final_test_accuracy", float("nan")),
        "norm": norm,
        "basin_low": lo,
        "basin_high": hi,
        "basin_width": hi - lo,
        "basin_width_abs": (hi - lo) * norm,
        # an end at the α grid's edge: the basin reaches at least that far
        "basin_low_censored": basin.low_censored,
        "basin_high_censored": basin.high_censored,
    }


def _draw(v: Variant, curves, disagreement: np.ndarray, lines: xr.Dataset):
    kw = {
        "xlabel": "α (θ → αθ)",
        "ylabel": "training loss",
        "log": True,
        "title": f"{v.name}: loss along θ → αθ (Im et al. 2016, Fig. 4)",
    }
    figs = save_figure(
        v.folder,
        "scaling",
        figures.lines(curves, marks={"θ": 1.0}, **kw),
        figures.lines_json(curves, **kw),
        f"Basin along θ → αθ per optimizer ({v.name}; Im et al. 2016, Fig. 4)",
    )
    dis = xr.Dataset(
        {"disagreement": (("a", "b"), disagreement)}, coords={"a": v.optimizers, "b": v.optimizers}
    )
    fig = plot_paths.barrier_heatmap(dis, "disagreement")
    fig.axes[0].set_title(f"{v.name}: fraction of test inputs classified differently")
    figs += save_figure(
        v.folder,
        "disagreement",
        fig,
        None,
        f"Functional difference between the solutions ({v.name}; Im et al. §3.1)",
    )
    figs += save_figure(
        v.folder,
        "lines",
        plot_paths.barrier_heatmap(lines, "barrier"),
        None,
        f"Straight-line barriers between the solutions ({v.name})",
    )
    return figs


def switches(v: Variant, obj: Objective, net, x_test, preds, path_points: int, same_tol: float):
    """Each switched run against its unswitched source: distance, barrier, disagreement."""
    source = {s.key: i for i, s in enumerate(v.base)}
    rows = []
    for spec, summary in zip(v.switched, v.switched_done, strict=True):
        key, at = spec.init_from
        i = source[key]
        theta = obj.load_point(v.out / spec.key / "final.pt")
        unswitched = obj.load_point(v.out / key / "final.pt")
        start = torch.load(v.out / key / "trajectory.pt", weights_only=True)[at].to(theta)
        line = paths.linear(obj, theta, unswitched, path_points)
        pred = predictions(net, v.out / spec.key / "final.pt", x_test)
        rows.append(
            {
                "variant": v.name,
                "switch": f"{v.base[i].optimizer}>{spec.optimizer}",
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

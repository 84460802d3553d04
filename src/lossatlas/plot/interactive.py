"""Interactive (plotly) figures of training runs, spectra, paths and solution sets.

The plotly counterparts of `plot_curvature`, `plot_paths` and `plot_runs`, for
the HTML report (`lossatlas report`), which embeds each figure from its
`.plotly.json` file next to the PNG drawn by matplotlib:

- `training_curves`: train (solid) and test (dashed) loss of one or more runs
  against the epoch, log scale, accuracies on a second panel;
- `eigenvalues`: top (and bottom) Hessian eigenvalues by rank, one series per run;
- `density`: the SLQ eigenvalue density, log y (Ghorbani et al. 2019, Fig. 1);
- `path_profiles`: L(θ(t)) of several paths (the optimizer-strategies paper, Fig. 3b);
- `path_plane`: the loss on the plane of `paths.path_plane` with the paths on it;
- `barrier_heatmap`: a barrier matrix, values in the cells (Fig. 4's data);
- `solution_map`: kernel-PCA and linear-PCA coordinates of solution sets (Fig. 6);
- `save`: write a figure as strict JSON (`*.plotly.json`, NaN → null).

Surfaces themselves come from `plot_html.figure_json`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from lossatlas.plot.curvature import DENSITY_FLOOR, _subject
from lossatlas.plot.surface_html import _contour, _json
from lossatlas.results.files import strict, write_json

SUFFIX = ".plotly.json"
TEMPLATE = "plotly_white"
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def save(figure: go.Figure | Mapping[str, Any], path: str | PathLike) -> Path:
    """Write a plotly figure (or its dict) as strict JSON; NaN and ±inf become null.

    Raises:
        ValueError: `path` does not end in '.plotly.json'.
    """
    path = Path(path)
    if not path.name.endswith(SUFFIX):
        raise ValueError(f"`path` must end in {SUFFIX!r}; got {str(path)!r}.")
    body = json.loads(figure.to_json()) if isinstance(figure, go.Figure) else dict(figure)
    return write_json(path, strict(body))


def _colour(i: int) -> str:
    return COLOURS[i % len(COLOURS)]


def training_curves(
    runs: Mapping[str, Mapping[str, Sequence[float]]], xlabel: str = "epoch"
) -> go.Figure:
    """Loss (log scale) and accuracy against the epoch for each run (`TrainResult.history`)."""
    if not runs:
        raise ValueError("`runs` is empty: pass {label: history} for at least one run.")
    accuracy = any("train_accuracy" in h for h in runs.values())
    fig = make_subplots(rows=1, cols=2 if accuracy else 1, horizontal_spacing=0.1)
    for i, (label, h) in enumerate(runs.items()):
        x = list(h.get("epoch", h["step"]))
        for col, key in ((1, "loss"), (2, "accuracy")):
            if col == 2 and not accuracy:
                continue
            for part, dash in (("train", "solid"), ("test", "dash")):
                name = f"{part}_{key}"
                if name not in h:
                    continue
                fig.add_scatter(
                    x=x,
                    y=_json(np.asarray(h[name], dtype=float)),
                    name=f"{label} ({part})",
                    legendgroup=label,
                    showlegend=col == 1,
                    line={"color": _colour(i), "dash": dash},
                    hovertemplate=f"{label}<br>{xlabel} %{{x:.3g}}<br>{part} {key} %{{y:.4g}}"
                    "<extra></extra>",
                    row=1,
                    col=col,
                )
    fig.update_yaxes(type="log", title_text="loss", row=1, col=1)
    if accuracy:
        fig.update_yaxes(title_text="accuracy", row=1, col=2)
    fig.update_xaxes(title_text=xlabel)  # full-batch L-BFGS-GSS: one epoch is one iteration
    fig.update_layout(template=TEMPLATE, title="training curves (train solid, test dashed)")
    return fig


def eigenvalues(
    top: Mapping[str, Sequence[float]] | Sequence[float],
    bottom: Mapping[str, Sequence[float]] | Sequence[float] | None = None,
) -> go.Figure:
    """Hessian eigenvalues by rank: top (filled) and bottom (open), one colour per run."""
    series = {"top": top, "bottom": bottom}
    fig = go.Figure()
    for kind, values in series.items():
        if values is None:
            continue
        runs = values if isinstance(values, Mapping) else {"": values}
        for i, (label, vals) in enumerate(runs.items()):
            v = np.asarray(vals, dtype=float)
            name = f"{label} {kind}".strip()
            fig.add_scatter(
                x=list(range(1, len(v) + 1)),
                y=_json(v),
                mode="markers+lines",
                name=name,
                marker={
                    "color": _colour(i),
                    "size": 9,
                    "symbol": "circle" if kind == "top" else "circle-open",
                },
                line={"color": _colour(i), "width": 1, "dash": "solid" if kind == "top" else "dot"},
                hovertemplate=f"{name}<br>rank %{{x}}<br>λ = %{{y:.6g}}<extra></extra>",
            )
    fig.add_hline(y=0, line={"color": "grey", "width": 1})
    fig.update_layout(
        template=TEMPLATE,
        title="Hessian extreme eigenvalues",
        xaxis={"title": {"text": "rank"}, "dtick": 1},
        yaxis={"title": {"text": "eigenvalue"}},
    )
    return fig


def density(
    estimate: xr.DataArray, *, log: bool = True, beside: Mapping[str, xr.DataArray] | None = None
) -> go.Figure:
    """The smoothed eigenvalue density φ̂_σ(t) (`curvature.density`), log y by default.

    `beside`: other operators' densities at the same θ ({label: density}), one line each.
    """
    curves = {estimate.attrs.get("operator", "SLQ estimate"): estimate, **(beside or {})}
    for d in curves.values():
        if d.dims != ("eigenvalue",):
            raise ValueError(
                f"expected a density over `eigenvalue` (curvature.density); got dims {d.dims}."
            )
    # as in plot_curvature.density_plot: the Gaussian tails would squash the plot
    floor = DENSITY_FLOOR * float(np.nanmax(estimate.values)) if log else None
    fig = go.Figure()
    for label, d in curves.items():
        y = np.asarray(d.values, dtype=float)
        fig.add_trace(
            go.Scatter(
                x=_json(d["eigenvalue"].to_numpy().astype(float)),
                y=_json(np.maximum(y, floor) if log else y),
                mode="lines",
                name=label,
                hovertemplate="λ = %{x:.4g}<br>density %{y:.3g}<extra></extra>",
            )
        )
    a = estimate.attrs
    fig.update_layout(
        template=TEMPLATE,
        title=f"{_subject(estimate, beside)} eigenvalue density (k={a.get('draws')}, "
        f"m={a.get('steps')}, σ={float(a.get('sigma', float('nan'))):.3g})",
        xaxis={"title": {"text": "eigenvalue"}},
        yaxis={"title": {"text": "density"}, "type": "log" if log else "linear"},
    )
    return fig


def _path_label(result: Any) -> str:
    if result.method == "fourier":
        return f"Fourier, λ = {result.settings['penalty']:g}"
    return str(result.method)


def path_profiles(results: Sequence[Any], labels: Sequence[str] | None = None) -> go.Figure:
    """L(θ(t)) of each `PathResult` (train solid, test dashed), heights in the legend."""
    if not results:
        raise ValueError("`results` is empty: pass at least one PathResult.")
    labels = list(labels) if labels is not None else [_path_label(r) for r in results]
    fig = go.Figure()
    for i, (r, label) in enumerate(zip(results, labels, strict=True)):
        for part, values, dash in (("train", r.loss, "solid"), ("test", r.test_loss, "dash")):
            if values is None:
                continue
            v = np.asarray(values, dtype=float)
            fig.add_scatter(
                x=np.asarray(r.t, dtype=float).tolist(),
                y=_json(v),
                name=f"{label} ({part}, height {np.nanmax(v):.4g})",
                line={"color": "black" if r.method == "linear" else _colour(i), "dash": dash},
                hovertemplate=f"{label}<br>t = %{{x:.3f}}<br>{part} loss %{{y:.5g}}<extra></extra>",
            )
    fig.update_layout(
        template=TEMPLATE,
        title="loss along the paths",
        xaxis={"title": {"text": "t"}, "range": [0, 1]},
        yaxis={"title": {"text": "loss"}},
    )
    return fig


def path_plane(ds: xr.Dataset) -> go.Figure:
    """The plane of `paths.path_plane`: loss contours with each projected path."""
    if "paths" not in ds.attrs:
        raise ValueError("this Dataset has no projected paths; make it with paths.path_plane.")
    fig = _contour(ds, "loss", False)
    for j in range(int(ds.attrs["paths"])):
        method = str(ds.attrs[f"path{j}_method"])
        fig.add_scatter(
            x=_json(ds[f"path{j}_alpha"].to_numpy().astype(float)),
            y=_json(ds[f"path{j}_beta"].to_numpy().astype(float)),
            customdata=ds[f"path{j}_t"].to_numpy().astype(float).tolist(),
            mode="lines",
            name=method,
            line={"color": "black" if method == "linear" else _colour(j + 1), "width": 3},
            hovertemplate=f"{method}<br>t = %{{customdata:.3f}}<extra></extra>",
        )
    return fig


def barrier_heatmap(ds: xr.Dataset, var: str = "height") -> go.Figure:
    """A barrier matrix (`paths.barrier_matrix`) as a heatmap with its values in the cells."""
    if var not in ds:
        raise ValueError(f"`var` must be one of {list(ds.data_vars)}; got {var!r}.")
    m = np.asarray(ds[var].to_numpy(), dtype=float)
    labels = [str(x) for x in ds["a"].to_numpy()]
    fig = go.Figure(
        go.Heatmap(
            z=_json(m),
            x=labels,
            y=labels,
            colorscale="Magma",
            reversescale=True,
            text=[[f"{v:.3g}" for v in row] for row in m],
            texttemplate="%{text}" if len(labels) <= 16 else None,
            colorbar={"title": {"text": f"path {var}"}},
            hovertemplate="%{y} ↔ %{x}<br>" + var + " %{z:.5g}<extra></extra>",
        )
    )
    fig.update_layout(
        template=TEMPLATE,
        title=f"{ds.attrs.get('method', '')} path {var} between solutions".strip(),
        yaxis={"autorange": "reversed", "scaleanchor": "x"},
    )
    return fig


def solution_map(ds: xr.Dataset) -> go.Figure:
    """Kernel-PCA (left) and linear-PCA (right) coordinates of solutions, by set
    (`lossatlas.geometry.solution_sets.kernel_pca`; the optimizer-strategies paper, Fig. 6)."""
    for v in ("kpca", "pca"):
        if v not in ds:
            raise ValueError(f"the Dataset has no `{v}`; make it with solutions.kernel_pca.")
    sets = [str(s) for s in ds["set"].to_numpy()]
    names = [str(s) for s in ds["solution"].to_numpy()]
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("kernel PCA (RBF)", "linear PCA"), horizontal_spacing=0.12
    )
    for i, label in enumerate(dict.fromkeys(sets)):
        idx = [k for k, s in enumerate(sets) if s == label]
        for col, var in ((1, "kpca"), (2, "pca")):
            xy = np.asarray(ds[var].to_numpy(), dtype=float)[idx]
            fig.add_scatter(
                x=_json(xy[:, 0]),
                y=_json(xy[:, 1]),
                text=[names[k] for k in idx],
                mode="markers",
                name=label,
                legendgroup=label,
                showlegend=col == 1,
                marker={"color": _colour(i), "size": 11, "line": {"color": "white", "width": 1}},
                hovertemplate="%{text}<br>PC1 %{x:.4g}<br>PC2 %{y:.4g}<extra></extra>",
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="PC1")
    fig.update_yaxes(title_text="PC2")
    fig.update_layout(template=TEMPLATE, title="solution sets in kernel-PCA and PCA coordinates")
    return fig

"""Figures of the studies: matplotlib for the PNGs, plotly (strict JSON) for the report.

- `curves`: training and test loss of many runs per optimizer (the
  optimizer-strategies paper's Fig. 2 / S1);
- `histograms`: overlaid histograms per set, e.g. path heights (Fig. 4) or
  distances to centroids (Fig. 5), with reference lines;
- `projections`: scatter plots of solutions in 2-D side by side, e.g. RBF
  kernel PCA next to linear PCA (Fig. 6);
- `lines`: several curves on one axis, e.g. L(αθ) per optimizer (Im et al.
  2016, Fig. 4) or profiles along directions (He et al. 2019).

Every function returns a `matplotlib.figure.Figure` (save it with
`lossatlas.plot.save`) and has a `*_json` twin giving the plotly figure as a
strict-JSON dict (write it with `lossatlas.results.files.write_json`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

COLOURS = ("tab:red", "tab:orange", "tab:blue", "tab:cyan", "tab:green", "tab:purple", "0.3")
PLOTLY_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd")  # the matplotlib tab: ones


def _colour(i: int) -> str:
    return COLOURS[i % len(COLOURS)]


def curves(
    histories: Mapping[str, Sequence[Mapping[str, Sequence[float]]]], *, log: bool = True
) -> Figure:
    """Train (solid) and test (dashed) loss against epochs, one panel per optimizer.

    Args:
        histories: optimizer name → the `history` dicts of its runs.
    """
    fig = Figure(figsize=(5.2 * len(histories), 4.0), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(histories), squeeze=False)[0])
    for ax, (name, runs) in zip(axes, histories.items(), strict=True):
        for h in runs:
            x = h["epoch"]
            ax.plot(x, h["train_loss"], "-", color="tab:blue", lw=0.8, alpha=0.6)
            if "test_loss" in h:
                ax.plot(x, h["test_loss"], "--", color="tab:red", lw=0.8, alpha=0.6)
        ax.set_yscale("log" if log else "linear")
        ax.set_xlabel("iteration" if name == "lbfgs-gss" else "epoch")
        ax.set_ylabel("loss (train solid, test dashed)")
        ax.set_title(f"{name}: {len(runs)} runs")
        ax.grid(alpha=0.3)
    return fig


def histograms(
    values: Mapping[str, np.ndarray],
    *,
    xlabel: str,
    title: str = "",
    lines: Mapping[str, float] | None = None,
    bins: int = 15,
) -> Figure:
    """Overlaid histograms of `values` per set, with dotted vertical `lines`."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    finite = [np.asarray(v, float)[np.isfinite(v)] for v in values.values()]
    pooled = np.concatenate(finite) if finite else np.zeros(0)
    edges = np.histogram_bin_edges(pooled if pooled.size else [0.0, 1.0], bins=bins)
    for i, (name, v) in enumerate(zip(values, finite, strict=True)):
        ax.hist(v, bins=edges, alpha=0.5, color=_colour(i), label=f"{name} (n={v.size})")
    for i, (name, x) in enumerate((lines or {}).items()):
        ax.axvline(x, color=_colour(len(values) + i), ls=":", lw=1.5, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.legend(fontsize=8, framealpha=0.85)
    if title:
        ax.set_title(title)
    return fig


def histograms_json(
    values: Mapping[str, np.ndarray],
    *,
    xlabel: str,
    title: str = "",
    lines: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """A plotly figure (as JSON) of overlaid histograms, one per set, with optional lines."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, v in values.items():
        v = np.asarray(v, float)
        fig.add_trace(go.Histogram(x=v[np.isfinite(v)].tolist(), name=name, opacity=0.55))
    for name, x in (lines or {}).items():
        fig.add_vline(x=float(x), line_dash="dot", annotation_text=name)
    fig.update_layout(barmode="overlay", title=title, xaxis_title=xlabel, yaxis_title="count")
    return json.loads(fig.to_json())


def projections(
    panels: Mapping[str, np.ndarray],
    groups: Sequence[str],
    *,
    axis_labels: Mapping[str, tuple[str, str]] | None = None,
) -> Figure:
    """Side-by-side scatter plots of the same points in several 2-D projections.

    Args:
        panels: title → [k, 2] coordinates of the k points.
        groups: the set of each point (its colour), length k.
    """
    names = list(dict.fromkeys(groups))
    fig = Figure(figsize=(5.0 * len(panels), 4.4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    g = np.asarray(groups)
    for ax, (title, xy) in zip(axes, panels.items(), strict=True):
        for i, name in enumerate(names):
            pts = np.asarray(xy)[g == name]
            ax.scatter(pts[:, 0], pts[:, 1], s=22, color=_colour(2 * i), label=name, alpha=0.8)
        xl, yl = (axis_labels or {}).get(title, ("component 1", "component 2"))
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def projections_json(panels: Mapping[str, np.ndarray], groups: Sequence[str]) -> dict[str, Any]:
    """A plotly figure (as JSON) of 2-D projections side by side, points coloured by group."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = list(dict.fromkeys(groups))
    g = np.asarray(groups)
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels))
    for col, xy in enumerate(panels.values(), start=1):
        for i, name in enumerate(names):
            pts = np.asarray(xy)[g == name]
            fig.add_trace(
                go.Scatter(
                    x=pts[:, 0].tolist(),
                    y=pts[:, 1].tolist(),
                    mode="markers",
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    marker={"color": PLOTLY_COLOURS[i % len(PLOTLY_COLOURS)]},
                ),
                row=1,
                col=col,
            )
    return json.loads(fig.to_json())


def lines(
    curves_: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    xlabel: str,
    ylabel: str = "loss",
    title: str = "",
    log: bool = False,
    styles: Mapping[str, str] | None = None,
    marks: Mapping[str, float] | None = None,
) -> Figure:
    """Curves (x, y) by label on one axis; `marks` draws dotted vertical lines."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    for i, (label, (x, y)) in enumerate(curves_.items()):
        style = (styles or {}).get(label, "-")
        ax.plot(x, y, style, color=_colour(i), lw=1.4, label=label)
    for name, x in (marks or {}).items():
        ax.axvline(x, color="0.5", ls=":", lw=1)
        ax.text(x, 1.01, name, transform=ax.get_xaxis_transform(), ha="center", va="bottom")
    ax.set_yscale("log" if log else "linear")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if len(curves_) <= 12:
        ax.legend(fontsize=8, framealpha=0.85)
    if title:
        ax.set_title(title, pad=14 if marks else 6)
    return fig


def lines_json(
    curves_: Mapping[str, tuple[np.ndarray, np.ndarray]],
    *,
    xlabel: str,
    ylabel: str = "loss",
    title: str = "",
    log: bool = False,
) -> dict[str, Any]:
    """A plotly figure (as JSON) of named curves (x, y)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for label, (x, y) in curves_.items():
        y = np.asarray(y, float)
        fig.add_trace(
            go.Scatter(
                x=np.asarray(x, float).tolist(),
                y=[float(v) if np.isfinite(v) else None for v in y],
                mode="lines",
                name=label,
            )
        )
    fig.update_layout(title=title, xaxis_title=xlabel, yaxis_title=ylabel)
    if log:
        fig.update_yaxes(type="log")
    return json.loads(fig.to_json())

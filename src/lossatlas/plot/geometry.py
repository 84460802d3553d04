"""Figures of the geometry of minima (`lossatlas.geometry`).

Static (matplotlib `Figure`s, saved with `lossatlas.plot.save`):

- `throng_figure`: pairwise distances in a spherical throng, and the norm and
  loss of every copy (Chen et al. 1993, eq. 5);
- `spectrum_figure`: sorted |Hessian eigenvalues| with the zero tolerance
  (Cooper, Prop. 2.3); `walk_figure`: L and the distance moved along M;
- `certificates_figure`: the loss along each non-ascending trajectory (Hamey);
- `fdc_figure`, `statistics_figure`: Gallagher's FDC scatter plot and the
  loss quantiles on spheres around a minimum;
- `pattern_figure`: target image, achieved losses and their scatter.

Interactive: `scatter_json` and `scatter3d_json` give strict-JSON plotly
figures (`*.plotly.json`) for the report.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

_TEMPLATE = "plotly_white"


def throng_figure(members: np.ndarray, losses: np.ndarray, *, title: str = "") -> Figure:
    """Left: pairwise distances between throng members; right: their norms and losses."""
    X = np.asarray(members, dtype=np.float64)
    D = np.linalg.norm(X[:, None] - X[None], axis=-1)
    off = D[~np.eye(len(X), dtype=bool)]
    nearest = np.where(np.eye(len(X), dtype=bool), np.inf, D).min(1)
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax1, ax2 = fig.subplots(1, 2)
    ax1.hist(off, bins=30, color="tab:blue", alpha=0.7, label="all pairs")
    ax1.hist(nearest, bins=30, color="tab:red", alpha=0.7, label="nearest neighbour")
    ax1.set_xlabel("‖g(θ) − h(θ)‖")
    ax1.set_ylabel("pairs")
    ax1.legend(fontsize=8)
    norms = np.linalg.norm(X, axis=1)
    losses = np.asarray(losses, dtype=np.float64)
    ax2.plot(norms - norms[0], "o", ms=4, color="black", label="‖g(θ)‖ − ‖θ‖")
    ax2.plot(losses - losses[0], "x", ms=4, color="tab:red", label="L(g(θ)) − L(θ)")
    ax2.set_xlabel("member (0 is θ)")
    ax2.set_ylabel("difference from θ (rounding only)")
    ax2.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    ax2.legend(fontsize=8)
    fig.suptitle(title or f"spherical throng of {len(X)} copies")
    return fig


def spectrum_figure(eigenvalues: np.ndarray, tol: float, *, title: str = "") -> Figure:
    """Sorted |λ| on a log scale: positive, zero (|λ| ≤ tol) and negative eigenvalues."""
    lam = np.sort(np.asarray(eigenvalues, dtype=np.float64))[::-1]
    size = np.maximum(np.abs(lam), np.finfo(np.float64).tiny)
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    idx = np.arange(1, len(lam) + 1)
    for mask, colour, label in (
        (lam > tol, "tab:blue", f"positive ({int((lam > tol).sum())})"),
        (np.abs(lam) <= tol, "tab:gray", f"zero, |λ| ≤ tol ({int((np.abs(lam) <= tol).sum())})"),
        (lam < -tol, "tab:red", f"negative ({int((lam < -tol).sum())})"),
    ):
        if mask.any():
            ax.semilogy(idx[mask], size[mask], "o", ms=4, color=colour, label=label)
    ax.axhline(max(tol, np.finfo(np.float64).tiny), color="black", ls="--", lw=1, label="tol")
    ax.set_xlabel("index (sorted by λ)")
    ax.set_ylabel("|λ|")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "Hessian eigenvalues")
    return fig


def walk_figure(ds: xr.Dataset) -> Figure:
    """L(θ_k) (log) and the distance moved along the manifold of minima, per step."""
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    loss = np.maximum(ds["loss"].values, np.finfo(np.float64).tiny)
    ax.semilogy(ds["step"].values, loss, "o-", ms=3, color="tab:red", label="L(θ_k)")
    ax.set_xlabel("step k")
    ax.set_ylabel("L(θ_k)", color="tab:red")
    twin = ax.twinx()
    twin.plot(ds["step"].values, ds["arc_length"].values, "-", color="black", label="arc length")
    twin.plot(ds["step"].values, ds["distance"].values, "--", color="tab:blue", label="‖θ_k − θ_0‖")
    twin.set_ylabel("distance moved")
    twin.legend(fontsize=8, loc="center right")
    ax.set_title("walking on the manifold of global minima")
    return fig


def certificates_figure(
    arcs: Sequence[np.ndarray], losses: Sequence[np.ndarray], labels: Sequence[str]
) -> Figure:
    """The loss along each non-ascending trajectory against arc length (log loss)."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    for arc, loss, label in zip(arcs, losses, labels, strict=True):
        ax.semilogy(arc, np.maximum(loss, np.finfo(np.float64).tiny), lw=1.2, label=label)
    ax.set_xlabel("arc length along the trajectory")
    ax.set_ylabel("L (never rising)")
    ax.grid(alpha=0.3)
    if 0 < len(labels) <= 12:
        ax.legend(fontsize=7)
    ax.set_title("non-ascending trajectories from the stationary points")
    return fig


def fdc_figure(ds: xr.Dataset) -> Figure:
    """Gallagher's scatter plot: loss against distance from the global minimum, with r."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.plot(ds["distance"].values, ds["loss"].values, ".", ms=3, alpha=0.6)
    ax.set_xlabel("distance to the global minimum ‖θ − θ*‖")
    ax.set_ylabel("L(θ)")
    ax.grid(alpha=0.3)
    ax.set_title(f"fitness–distance correlation r = {ds.attrs['fdc']:.3f}")
    return fig


def statistics_figure(ds: xr.Dataset) -> Figure:
    """Loss quantiles (bands), mean and extremes on spheres of growing radius."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    r, q = ds["radius"].values, ds["quantile_loss"].values
    k = q.shape[1]
    for i in range(k // 2):
        lo, hi = ds["quantile"].values[i], ds["quantile"].values[k - 1 - i]
        ax.fill_between(
            r,
            q[:, i],
            q[:, k - 1 - i],
            alpha=0.25,
            color="tab:blue",
            label=f"{lo:g}–{hi:g} quantiles",
        )
    ax.plot(r, ds["mean"].values, "o-", color="black", label="mean")
    ax.plot(r, ds["min"].values, "v:", color="tab:green", label="min")
    ax.plot(r, ds["max"].values, "^:", color="tab:red", label="max")
    centre = float(ds.attrs["center_loss"])
    if centre > 1e-3 * float(ds["min"].values.min()):  # otherwise it would squash the plot
        ax.axhline(centre, color="gray", ls="--", lw=1, label="L at the centre")
    ax.set_xscale("log")
    if (ds["min"].values > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("radius ρ")
    ax.set_ylabel("L on the sphere")
    ax.legend(fontsize=7)
    ax.set_title(f"random sampling around the minimum (L there = {centre:.3g})")
    return fig


def pattern_figure(pattern: np.ndarray, achieved: np.ndarray, correlation: float) -> Figure:
    """The target image, the achieved losses on the grid, and achieved against target."""
    fig = Figure(figsize=(11, 3.6), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    ax1.imshow(pattern, cmap="viridis")
    ax1.set_title("target pattern")
    im = ax2.imshow(achieved, cmap="viridis")
    ax2.set_title("loss on the plane's grid")
    fig.colorbar(im, ax=ax2, shrink=0.8)
    for ax in (ax1, ax2):
        ax.set_xticks([])
        ax.set_yticks([])
    ax3.plot(pattern.reshape(-1), achieved.reshape(-1), "o", ms=5)
    ax3.set_xlabel("pattern value")
    ax3.set_ylabel("achieved loss")
    ax3.grid(alpha=0.3)
    ax3.set_title(f"correlation {correlation:.3f}")
    return fig


def scatter_json(
    x: np.ndarray, y: np.ndarray, *, xlabel: str, ylabel: str, title: str, hover: Any = None
) -> dict[str, Any]:
    """A plotly 2-D scatter plot as a strict-JSON dict."""
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Scattergl(
            x=np.asarray(x).tolist(),
            y=np.asarray(y).tolist(),
            mode="markers",
            marker={"size": 4, "opacity": 0.7},
            text=hover,
        )
    )
    fig.update_layout(template=_TEMPLATE, title=title, xaxis_title=xlabel, yaxis_title=ylabel)
    return json.loads(fig.to_json())


def scatter3d_json(points: np.ndarray, colour: np.ndarray, *, title: str) -> dict[str, Any]:
    """A plotly 3-D scatter of points [k, 3] coloured by `colour`, as a strict-JSON dict."""
    import plotly.graph_objects as go

    P = np.asarray(points, dtype=np.float64)
    fig = go.Figure(
        go.Scatter3d(
            x=P[:, 0].tolist(),
            y=P[:, 1].tolist(),
            z=P[:, 2].tolist(),
            mode="markers",
            marker={
                "size": 3,
                "color": np.asarray(colour).tolist(),
                "colorscale": "Viridis",
                "showscale": True,
            },
        )
    )
    fig.update_layout(template=_TEMPLATE, title=title)
    return json.loads(fig.to_json())

"""Static plots of paths between minima.

- `profile_plot`: the loss along t for several paths (train solid, test
  dashed), the optimizer-strategies paper's Fig. 3b;
- `landscape_paths`: paths drawn over the contours of a synthetic 2-D
  landscape with its known minima and saddles (the paper's Fig. 3a);
- `plane_paths`: the loss on the plane through θa, θb and θ(½) with the
  paths projected on it (`paths.path_plane`);
- `barrier_heatmap`: a barrier matrix as an annotated heatmap (Fig. 4's data).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import xarray as xr
from matplotlib.figure import Figure

from lossatlas.core.objective import Objective
from lossatlas.paths.result import PathResult
from lossatlas.plot import contour

_COLOURS = ("black", "tab:red", "tab:blue", "tab:green", "tab:purple", "tab:orange")


def _label(result: PathResult) -> str:
    if result.method == "fourier":
        return f"Fourier, λ = {result.settings['penalty']:g} (height {result.height:.4g})"
    return f"{result.method} (height {result.height:.4g})"


def profile_plot(
    results: Sequence[PathResult],
    labels: Sequence[str] | None = None,
    *,
    log: bool = False,
    title: str | None = None,
) -> Figure:
    """L(θ(t)) against t for each path; the test loss dashed where it was computed."""
    if not results:
        raise ValueError("`results` is empty: pass at least one PathResult.")
    labels = list(labels) if labels is not None else [_label(r) for r in results]
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    for i, (r, label) in enumerate(zip(results, labels, strict=True)):
        colour = _COLOURS[i % len(_COLOURS)]
        ax.plot(r.t, r.loss, "-", color=colour, lw=1.6, label=label)
        if r.test_loss is not None:
            ax.plot(r.t, r.test_loss, "--", color=colour, lw=1.1, label=f"{label}, test")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("t")
    ax.set_ylabel("loss")
    ax.set_xlim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, framealpha=0.85)
    if title:
        ax.set_title(title)
    return fig


def landscape_paths(
    obj: Objective,
    results: Sequence[PathResult],
    labels: Sequence[str] | None = None,
    *,
    grid: int = 201,
    levels: int = 30,
) -> Figure:
    """Paths over the contours of a 2-D landscape (`zoo.landscape_objective`), with the
    landscape's known minima (dots) and saddles (crosses), and beside it their profiles."""
    land = obj.model
    if not hasattr(land, "energy") or obj.size != 2:
        raise ValueError(
            "landscape_paths draws 2-D landscapes (zoo.landscape_objective); this objective "
            f"has {obj.size} parameters. Use plane_paths for networks."
        )
    labels = list(labels) if labels is not None else [_label(r) for r in results]
    (x0, x1), (y0, y1) = land.bounds
    xs, ys = np.linspace(x0, x1, grid), np.linspace(y0, y1, grid)
    xy = torch.as_tensor(np.stack(np.meshgrid(xs, ys), axis=-1), dtype=torch.float64)
    with torch.no_grad():
        z = land.energy(xy).numpy()
    fig = Figure(figsize=(11.5, 4.6), layout="constrained")
    ax, ax2 = fig.subplots(1, 2, width_ratios=(1.1, 1))
    # Levels up to a little above the highest path, where the detail is.
    top = max(float(np.max(r.loss)) for r in results) if results else float(np.max(z))
    lo = float(np.min(z))
    hi = min(float(np.percentile(z, 90)), lo + 2.0 * (top - lo))
    cs = ax.contour(xs, ys, z, levels=np.linspace(lo, hi, levels), cmap="viridis", linewidths=0.8)
    fig.colorbar(cs, ax=ax, label="E(x, y)")
    for i, (r, label) in enumerate(zip(results, labels, strict=True)):
        p = r.points().cpu().numpy()
        colour = _COLOURS[i % len(_COLOURS)]
        ax.plot(p[:, 0], p[:, 1], "-", color=colour, lw=1.8, label=label)
        ax2.plot(r.t, r.loss, "-", color=colour, lw=1.6, label=label)
    for pts, marker, name in ((land.minima, "o", "minima"), (land.saddles, "x", "saddles")):
        if len(pts):
            ax.plot(pts[:, 0], pts[:, 1], marker, ls="none", color="black", ms=7, label=name)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.legend(fontsize=7, loc="lower left", framealpha=0.85)
    ax2.set_xlabel("t")
    ax2.set_ylabel("E(θ(t))")
    ax2.set_xlim(0, 1)
    ax2.grid(alpha=0.3)
    if len(land.saddles):
        for s in land.energy(land.saddles).tolist():
            ax2.axhline(s, color="grey", ls=":", lw=1)
    return fig


def plane_paths(ds: xr.Dataset, *, log: bool = False, levels: int = 15) -> Figure:
    """The plane of `paths.path_plane` with its projected paths over the loss contours."""
    if "paths" not in ds.attrs:
        raise ValueError("this Dataset has no projected paths; make it with paths.path_plane.")
    fig = contour(ds, log=log, levels=levels, trajectory=False)
    ax = fig.axes[0]
    for j in range(int(ds.attrs["paths"])):
        a, b = ds[f"path{j}_alpha"].to_numpy(), ds[f"path{j}_beta"].to_numpy()
        method = ds.attrs[f"path{j}_method"]
        off = ds.attrs[f"path{j}_offplane"]
        label = method + (f" (leaves the plane by ≤ {off:.2g})" if off > 1e-6 else "")
        colour = "black" if method == "linear" else _COLOURS[(j + 1) % len(_COLOURS)]
        ax.plot(a, b, "-", color=colour, lw=1.8, label=label)
    ax.legend(fontsize=8, loc="best", framealpha=0.85)
    return fig


def barrier_heatmap(ds: xr.Dataset, var: str = "height", *, annotate: bool = True) -> Figure:
    """A barrier matrix (`paths.barrier_matrix`) as a heatmap, values written in the cells."""
    if var not in ds:
        raise ValueError(f"`var` must be one of {list(ds.data_vars)}; got {var!r}.")
    m = ds[var].to_numpy()
    labels = [str(x) for x in ds["a"].to_numpy()]
    k = len(labels)
    size = min(12.0, 2.5 + 0.45 * k)
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(m, cmap="magma_r")
    fig.colorbar(im, ax=ax, label=f"path {var}")
    ax.set_xticks(range(k), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    if annotate and k <= 16:
        mid = (np.nanmax(m) + np.nanmin(m)) / 2
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{m[i, j]:.3g}", ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] > mid else "black")  # fmt: skip
    method = ds.attrs.get("method", "")
    ax.set_title(f"{method} path {var} between solutions")
    return fig

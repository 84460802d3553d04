"""Static plots of training runs and solution sets (matplotlib).

- `training_curves`: train (solid) and test (dashed) loss against the epoch,
  log scale, one colour per run, with the accuracies on a second panel;
- `solution_map`: kernel-PCA and linear-PCA coordinates of solution sets side
  by side (`lossatlas.geometry.solution_sets.kernel_pca`; the optimizer-strategies paper, Fig. 6).

Interactive versions are in `lossatlas.plot.interactive`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr
from matplotlib.figure import Figure


def training_curves(
    runs: Mapping[str, Mapping[str, Sequence[float]]], xlabel: str = "epoch"
) -> Figure:
    """Loss (log) and accuracy against the epoch for each run (`TrainResult.history`)."""
    if not runs:
        raise ValueError("`runs` is empty: pass {label: history} for at least one run.")
    accuracy = any("train_accuracy" in h for h in runs.values())
    fig = Figure(figsize=(11.0 if accuracy else 6.4, 4.2), layout="constrained")
    axes = fig.subplots(1, 2 if accuracy else 1, squeeze=False)[0]
    for i, (label, h) in enumerate(runs.items()):
        x = np.asarray(h.get("epoch", h["step"]), dtype=float)
        for ax, key in zip(axes, ("loss", "accuracy"), strict=False):
            for part, style in (("train", "-"), ("test", "--")):
                if f"{part}_{key}" in h:
                    y = np.asarray(h[f"{part}_{key}"], dtype=float)
                    ax.plot(x, y, style, color=f"C{i}", label=f"{label} ({part})")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("loss")
    axes[0].legend(fontsize=7, ncols=2)
    if accuracy:
        axes[1].set_ylabel("accuracy")
    for ax in axes:
        ax.set_xlabel(xlabel)  # full-batch L-BFGS-GSS: one epoch is one iteration
        ax.grid(alpha=0.3)
    fig.suptitle("training curves (train solid, test dashed)")
    return fig


def solution_map(ds: xr.Dataset) -> Figure:
    """Kernel-PCA (left) and linear-PCA (right) coordinates of the solutions, by set."""
    for v in ("kpca", "pca"):
        if v not in ds:
            raise ValueError(f"the Dataset has no `{v}`; make it with solutions.kernel_pca.")
    sets = np.array([str(s) for s in ds["set"].to_numpy()])
    fig = Figure(figsize=(10.5, 4.4), layout="constrained")
    axes = fig.subplots(1, 2)
    titles = (f"kernel PCA (RBF, γ = {float(ds.attrs['gamma']):.3g})", "linear PCA")
    for ax, var, title in zip(axes, ("kpca", "pca"), titles, strict=True):
        xy = np.asarray(ds[var].to_numpy(), dtype=float)
        for i, label in enumerate(dict.fromkeys(sets)):
            mask = sets == label
            ax.scatter(xy[mask, 0], xy[mask, 1], s=50, color=f"C{i}", label=label, ec="white")
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend()
    return fig

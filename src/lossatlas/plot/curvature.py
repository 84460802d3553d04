"""Static plots of curvature: spectral densities, eigenvalues over training, convexity maps.

- `density_plot`: the SLQ density on a log-scale y axis (Ghorbani et al.
  2019, Figs. 1–2), optionally over the exact smoothed density or beside the
  densities of other operators (the GGN's: Papyan 2019, Sagun et al. 2017);
- `eigenvalue_plot`: the top (and bottom) eigenvalues as a stem plot;
- `eigenvalues_over_training`: the recorded top eigenvalues against steps
  (`SpectrumRecorder.to_dataset()`);
- `convexity_plot`: |λ_min/λ_max| over a plane (Li et al. 2018, Fig. 11).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lossatlas.plot import heatmap

# The density's log axis stops here: the Gaussian tails fall to 1e-300, which
# would squash the spectrum into the top of the figure.
DENSITY_FLOOR = 1e-6


def density_plot(
    density: xr.DataArray,
    *,
    exact: np.ndarray | None = None,
    log: bool = True,
    title: str | None = None,
    beside: Mapping[str, xr.DataArray] | None = None,
) -> Figure:
    """The smoothed eigenvalue density φ̂_σ(t), log-scale y by default.

    `beside` adds the densities of other operators at the same θ ({label: density},
    e.g. the GGN's), each on its own grid: Papyan (2019) and Sagun et al. (2017)
    set the Hessian's spectrum beside the Gauss–Newton's to show which outliers
    and which negative bulk the second-order term of the network adds.
    """
    for d in (density, *(beside or {}).values()):
        if d.dims != ("eigenvalue",):
            raise ValueError(
                f"expected a density over `eigenvalue` (curvature.density); got dims {d.dims}."
            )
    t = density["eigenvalue"].to_numpy()
    fig = Figure(figsize=(6.5, 4.0), layout="constrained")
    ax = fig.add_subplot()
    floor = DENSITY_FLOOR * float(np.nanmax(density.values)) if log else None
    y = np.maximum(density.values, floor) if log else density.values
    ax.plot(t, y, color="C0", label=density.attrs.get("operator", "SLQ estimate"))
    for i, (label, other) in enumerate((beside or {}).items()):
        oy = np.maximum(other.values, floor) if log else other.values
        ax.plot(other["eigenvalue"].to_numpy(), oy, color=f"C{i + 1}", label=label)
    if exact is not None:
        ex = np.maximum(exact, floor) if log else exact
        ax.plot(t, ex, color="k", ls="--", lw=1, label="exact (dense)")
    if exact is not None or beside:
        ax.legend()
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density")
    a = density.attrs
    ax.set_title(
        title
        or f"{_subject(density, beside)} eigenvalue density (k={a.get('draws')}, "
        f"m={a.get('steps')}, σ={a.get('sigma', float('nan')):.3g})"
    )
    return fig


def _subject(density: xr.DataArray, beside: Mapping[str, xr.DataArray] | None) -> str:
    """The title's matrix: the operator's name, or 'Hessian and GGN' for a comparison."""
    names = [density.attrs.get("operator", "Hessian"), *(beside or {})]
    return " and ".join(names)


def eigenvalue_plot(top: np.ndarray, bottom: np.ndarray | None = None) -> Figure:
    """Top (and bottom) eigenvalues by rank."""
    fig = Figure(figsize=(6.0, 3.8), layout="constrained")
    ax = fig.add_subplot()
    ranks = np.arange(1, len(top) + 1)
    ax.stem(ranks, np.asarray(top), label="top", basefmt=" ")
    if bottom is not None and len(bottom):
        ax.stem(
            np.arange(1, len(bottom) + 1),
            np.asarray(bottom),
            linefmt="C3-",
            markerfmt="C3o",
            label="bottom",
            basefmt=" ",
        )
        ax.legend()
    ax.axhline(0, color="0.6", lw=0.8)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("rank")
    ax.set_ylabel("eigenvalue")
    ax.set_title("Hessian extreme eigenvalues")
    return fig


def eigenvalues_over_training(record: xr.Dataset, *, log: bool = False) -> Figure:
    """Each recorded top eigenvalue against the training step."""
    if "eigenvalue" not in record:
        raise ValueError("the record has no `eigenvalue` (SpectrumRecorder(top=...)).")
    fig = Figure(figsize=(6.5, 4.0), layout="constrained")
    ax = fig.add_subplot()
    steps = record["step"].to_numpy()
    for r in record["rank"].to_numpy():
        ax.plot(steps, record["eigenvalue"].sel(rank=r).to_numpy(), marker=".", label=f"λ{r}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("eigenvalue")
    ax.set_title("top Hessian eigenvalues during training")
    ax.legend(ncol=min(5, record.sizes["rank"]))
    return fig


def convexity_plot(cmap: xr.Dataset) -> Figure:
    """|λ_min/λ_max| over the plane (Li et al. 2018, Fig. 11)."""
    fig = heatmap(cmap, var="ratio", markers=False, trajectory=False)
    fig.axes[0].set_title("|λmin / λmax| (Li et al. 2018, Fig. 11)")
    return fig

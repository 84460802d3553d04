"""Static plots of loss surfaces (matplotlib): lines, contours, heat maps, 3-D surfaces.

Draws the `xarray.Dataset`s made by `lossatlas.surface`:

- `line_plot`: 1-D interpolation, loss solid (train) and dashed (test), accuracy
  on a twin axis (Li et al. 2018, Figs. 2–3; Goodfellow et al. 2015);
- `contour`: labelled contour levels with marked solutions and an optimizer's
  trajectory (Li et al. 2018, Figs. 4–5 and, on the PCA plane, Fig. 9;
  Im et al. 2016, planes through solutions, triangles and quads);
- `heatmap`: one coloured cell per grid point;
- `surface3d`: the 3-D surface (Li et al. 2018, Fig. 1);
- `save`: PNG, PDF or SVG by suffix.

Interactive HTML versions are in `lossatlas.plot.surface_html`.

Conventions:
    α (dim `alpha`) is the x axis and β (dim `beta`) the y axis. Every 2-D plot
    reads its array through `_field`, which transposes by name to rows = β, so
    a non-square grid cannot land in the wrong cells (a defect of Li et al.'s
    reference code). NaN cells are masked and left blank. `log=True` raises
    ValueError when a value is ≤ 0 rather than masking it: a blank at the
    minimum would hide the one cell that matters. Figures are built on
    `matplotlib.figure.Figure`, never pyplot, so no global state leaks.

References:
    Li, Xu, Taylor, Studer, Goldstein (2018). Visualizing the Loss Landscape of
    Neural Nets. NeurIPS. Figs. 1–5, 9 (catalogue §5.4).
    Im, Tao, Branson (2016). An empirical analysis of the optimization of deep
    network loss surfaces. arXiv:1612.04010 (catalogue §5.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import matplotlib as mpl
import numpy as np
import xarray as xr
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.colorbar import Colorbar
from matplotlib.colors import ListedColormap, LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lossatlas.results.files import write_atomic

VARIABLES = (
    "loss",
    "accuracy",
    "test_loss",
    "test_accuracy",
    # convexity maps (lossatlas.curvature.convexity_map)
    "ratio",
    "lambda_max",
    "lambda_min",
)
FORMATS = (".pdf", ".png", ".svg")
DPI = 150

# Viridis without its palest tenth: with line contours on white the top levels
# would otherwise be nearly invisible.
_CMAP = ListedColormap(mpl.colormaps["viridis"](np.linspace(0.0, 0.9, 256)), name="lossatlas")
_HALO = [patheffects.withStroke(linewidth=2.5, foreground="white")]


# -- reading a Dataset --------------------------------------------------------------------


def _check_var(ds: xr.Dataset, var: str) -> None:
    present = [v for v in VARIABLES if v in ds.data_vars]
    if var not in present:
        raise ValueError(f"`var` must be one of {present}; got {var!r}.")


def _check_log(values: np.ndarray, var: str, log: bool) -> None:
    bad = int(np.sum(values <= 0))  # NaN compares False, so blanks are not counted
    if log and bad:
        raise ValueError(
            f"`{var}` must be positive for log=True; got {bad} value(s) ≤ 0 "
            f"(smallest {np.nanmin(values):.3g}). Use log=False, or plot a shifted copy: "
            f"ds.assign({var}=ds.{var} - ds.{var}.min() + 1e-3)."
        )


def _finite(da: xr.DataArray) -> np.ndarray:
    values = np.array(da.to_numpy(), dtype=float)  # a copy: the Dataset is not touched
    values[~np.isfinite(values)] = np.nan
    return values


def _field(ds: xr.Dataset, var: str, log: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(α [na], β [nb], values [nb, na]) with rows = β; non-finite values as NaN."""
    _check_var(ds, var)
    dims = ds[var].dims
    if set(dims) != {"alpha", "beta"}:
        raise ValueError(
            f"`ds` must be a 2-D surface with dims ('alpha', 'beta'); got dims {dims} "
            f"(kind {ds.attrs.get('kind')!r}). Draw 1-D results with `line_plot`."
        )
    z = _finite(ds[var].transpose("beta", "alpha"))
    if np.isnan(z).all():
        raise ValueError(f"`ds[{var!r}]` must have at least one finite value; got only NaN.")
    _check_log(z, var, log)
    return ds["alpha"].to_numpy().astype(float), ds["beta"].to_numpy().astype(float), z


def _label(var: str) -> str:
    return var.replace("_", " ")


def _axis_labels(ds: xr.Dataset) -> tuple[str, str]:
    kind = ds.attrs.get("kind")
    if kind == "pca":
        ev = ds.attrs.get("explained_variance")
        if ev is not None and len(ev) >= 2:
            return f"PC1 ({100 * float(ev[0]):.1f}%)", f"PC2 ({100 * float(ev[1]):.1f}%)"
        return "PC1", "PC2"
    if kind == "triangle" and "marker" in ds.coords and ds.sizes["marker"] == 3:
        a, b, c = (str(x) for x in ds["marker"].to_numpy())
        return f"α ({a} → {b})", f"β ({a} → {c})"
    if kind in ("plane", "solutions"):
        return "α (direction 1)", "β (direction 2)"
    return "α", "β"


def _edges(c: np.ndarray) -> np.ndarray:
    """Cell edges around each coordinate: midpoints inside, half a step beyond the ends."""
    if len(c) == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])


# -- figures and overlays -----------------------------------------------------------------


def _axes(
    ax: Axes | None, size: tuple[float, float], projection: str | None = None
) -> tuple[Figure, Axes]:
    if ax is None:
        fig = Figure(figsize=size, layout="constrained")
        return fig, fig.add_subplot(projection=projection)
    fig = ax.figure
    while not isinstance(fig, Figure):  # an axes in a SubFigure: return the root figure
        fig = fig.figure
    return fig, ax


def _outline(ax: Axes, a: np.ndarray, b: np.ndarray) -> None:
    """The triangle or quad through the solutions, its corners ordered by angle."""
    order = np.argsort(np.arctan2(b - b.mean(), a - a.mean()))
    ring = np.r_[order, order[:1]]
    ax.plot(a[ring], b[ring], ":", color="black", linewidth=1, zorder=3)


def _overlay(ax: Axes, ds: xr.Dataset, *, markers: bool, trajectory: bool) -> None:
    if markers and "marker_alpha" in ds:
        a, b = _finite(ds["marker_alpha"]), _finite(ds["marker_beta"])
        labels = ds["marker"].to_numpy() if "marker" in ds.coords else np.arange(len(a))
        ok = np.isfinite(a) & np.isfinite(b)
        if ds.attrs.get("kind") in ("triangle", "quad") and ok.sum() >= 3:
            _outline(ax, a[ok], b[ok])
        ax.scatter(a[ok], b[ok], marker="*", s=180, c="black", edgecolors="white", zorder=5)
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        for label, x, y in zip(labels[ok], a[ok], b[ok], strict=True):
            # Offset towards the inside, so a label at the rim stays in the plot.
            right, up = (x - x0) / (x1 - x0) < 0.75, (y - y0) / (y1 - y0) < 0.85
            ax.annotate(
                str(label),
                (x, y),
                xytext=(7 if right else -7, 7 if up else -7),
                textcoords="offset points",
                ha="left" if right else "right",
                va="bottom" if up else "top",
                fontsize=9,
                fontweight="bold",
                path_effects=_HALO,
                zorder=6,
            )
    if trajectory and "trajectory_alpha" in ds:
        a, b = _finite(ds["trajectory_alpha"]), _finite(ds["trajectory_beta"])
        steps = ds["step"].to_numpy() if "step" in ds.coords else np.arange(len(a))
        ok = np.flatnonzero(np.isfinite(a) & np.isfinite(b))
        if len(ok):
            first, last = ok[0], ok[-1]
            ax.plot(a, b, "-o", color="tab:red", ms=3, lw=1.2, zorder=4, label="trajectory")
            ends = (
                (first, "start", {"marker": "o", "ms": 10, "mfc": "white", "mew": 2}),
                (last, "end", {"marker": "D", "ms": 8, "mec": "black"}),
            )
            for i, name, style in ends:
                ax.plot(
                    a[i],
                    b[i],
                    ls="none",
                    color="tab:red",
                    zorder=5,
                    label=f"{name} (step {steps[i]})",
                    **style,
                )
            ax.legend(loc="best", fontsize=8, framealpha=0.85)


def _colorbar(fig: Figure, ax: Axes, mappable, label: str) -> Colorbar:
    # In an inset, the bar follows the axes box after `set_aspect("equal")`
    # shrinks it, so it is as tall as the plot (constrained layout makes room).
    return fig.colorbar(mappable, cax=ax.inset_axes((1.03, 0.0, 0.045, 1.0)), label=label)


def _finish(ax: Axes, ds: xr.Dataset, xlim, ylim) -> None:
    xlabel, ylabel = _axis_labels(ds)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    # The grid is the subject: overlays beyond it are clipped rather than
    # stretching the axes over cells that were never evaluated.
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    spans = sorted([abs(xlim[1] - xlim[0]), abs(ylim[1] - ylim[0])])
    if spans[0] > 0 and spans[1] / spans[0] <= 2:  # comparable: keep distances true
        ax.set_aspect("equal")
    if ds.attrs.get("title"):
        ax.set_title(str(ds.attrs["title"]))


def spans_decades(values: np.ndarray) -> bool:
    """Whether the finite values are positive and span more than two decades: the rule by
    which contours (and the report's colour scales) go logarithmic."""
    finite = np.asarray(values)[np.isfinite(values)]
    return bool(finite.size and finite.min() > 0 and finite.max() > 100 * finite.min())


def _levels(z: np.ndarray, levels: int | Sequence[float], log: bool) -> tuple[np.ndarray, bool]:
    """Contour levels and whether they are log-spaced.

    Log-spaced when asked, or when positive values span more than two decades:
    with linear levels every line would crowd into the rim and the minimum
    would get none (the look of Li et al.'s figures needs lines near it).
    """
    lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
    use_log = log or spans_decades(z)
    if not isinstance(levels, (int, np.integer)):
        values = np.sort(np.asarray(levels, dtype=float).ravel())
        if values.size == 0 or not np.isfinite(values).all():
            raise ValueError(f"`levels` must be finite values; got {levels!r}.")
        if use_log and (values <= 0).any():
            raise ValueError(f"`levels` must be positive on a log scale; got {levels!r}.")
        return values, use_log
    if levels < 2:
        raise ValueError(f"`levels` must be an int ≥ 2 or a sequence of values; got {levels!r}.")
    if hi <= lo:  # a flat field: two levels around it, so it can at least be filled
        return (
            np.array([lo / 1.01, lo * 1.01]) if use_log else np.array([lo - 1, lo + 1])
        ), use_log
    if use_log:
        # Two significant digits keep the clabel text short and readable.
        return np.unique([float(f"{v:.2g}") for v in np.geomspace(lo, hi, levels)]), True
    return MaxNLocator(levels).tick_values(lo, hi), False


# -- plots ---------------------------------------------------------------------------------


def line_plot(ds: xr.Dataset, *, log: bool = False, ax: Axes | None = None) -> Figure:
    """Loss along a line, train solid and test dashed, accuracy on a twin axis.

    The layout of Li et al. (2018), Fig. 2: blue for loss, red for accuracy,
    solid for train, dashed for test; `log=True` puts the loss on a log axis
    (their Fig. 3). For kind "line", α = 0 is θa and α = 1 is θb (Goodfellow
    et al. 2015); for "scaling", θ(α) = αθ (Im et al. 2016, Fig. 4).

    Raises:
        ValueError: `ds` is not 1-D over `alpha`, or log=True with a loss ≤ 0.
    """
    _check_var(ds, "loss")
    if ds["loss"].dims != ("alpha",):
        raise ValueError(
            f"`ds` must be a 1-D result with dim 'alpha'; got dims {ds['loss'].dims}. "
            "Draw 2-D surfaces with `contour`, `heatmap` or `surface3d`."
        )
    own = ax is None
    fig, ax = _axes(ax, (6.4, 4.2))
    alpha = ds["alpha"].to_numpy()
    handles = []
    for var, style in (("loss", "-"), ("test_loss", "--")):
        if var in ds:
            y = _finite(ds[var])
            _check_log(y, var, log)
            handles += ax.plot(alpha, y, style, color="tab:blue", label=_label(var))
    ax.set_yscale("log" if log else "linear")
    ax.set_ylabel("loss", color="tab:blue")
    top = ax
    accuracies = [v for v in ("accuracy", "test_accuracy") if v in ds]
    if accuracies:
        top = ax.twinx()
        values = {v: _finite(ds[v]) for v in accuracies}
        # Fractions are shown in percent, as in the paper.
        percent = all(np.nanmax(np.abs(y), initial=0) <= 1 for y in values.values())
        for var, y in values.items():
            style = "--" if var.startswith("test_") else "-"
            handles += top.plot(
                alpha, 100 * y if percent else y, style, color="tab:red", label=_label(var)
            )
        top.set_ylabel("accuracy (%)" if percent else "accuracy", color="tab:red")
    kind = ds.attrs.get("kind")
    ax.set_xlabel({"line": "α (θa → θb)", "scaling": "α (θ → αθ)"}.get(kind, "α"))
    ends = {"line": {0.0: "θa", 1.0: "θb"}, "scaling": {1.0: "θ"}}.get(kind, {})
    for x, name in ends.items():
        if alpha.min() <= x <= alpha.max():  # mark where the solutions themselves lie
            ax.axvline(x, color="0.6", linestyle=":", linewidth=1)
            ax.text(x, 1.01, name, transform=ax.get_xaxis_transform(), ha="center", va="bottom")
    if own:  # below the plot, where it cannot hide a curve
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    else:
        top.legend(handles=handles, loc="best", fontsize=8, framealpha=0.85)
    if ds.attrs.get("title"):
        ax.set_title(str(ds.attrs["title"]), pad=16)
    return fig


def contour(
    ds: xr.Dataset,
    *,
    var: str = "loss",
    levels: int | Sequence[float] = 12,
    log: bool = False,
    filled: bool = False,
    ax: Axes | None = None,
    markers: bool = True,
    trajectory: bool = True,
) -> Figure:
    """Contours of `var` over the (α, β) plane with labelled levels.

    Line contours coloured by level, as in Li et al. (2018), Figs. 4–5; marked
    solutions as in Im et al. (2016); the trajectory (red, start hollow circle,
    end diamond) as in Li et al. (2018), Fig. 9, whose axes read "PC1 (xx.x%)".

    Args:
        levels: how many levels to aim for, or the level values themselves.
            Log-spaced when log=True or when positive values span > 2 decades.
        filled: filled bands under thin black labelled lines instead of
            coloured lines.
        markers, trajectory: draw the overlays when the Dataset has them.

    Raises:
        ValueError: unknown `var`, a 1-D Dataset, a grid under 2×2, or log=True
            with a value ≤ 0.
    """
    alpha, beta, z = _field(ds, var, log)
    if min(z.shape) < 2:
        raise ValueError(
            f"`ds` must have at least 2 points along alpha and beta for contours; "
            f"got a {len(alpha)}×{len(beta)} grid. Use `heatmap`."
        )
    values, use_log = _levels(z, levels, log)
    fig, ax = _axes(ax, (6.0, 5.0))
    norm = (LogNorm if use_log else Normalize)(values[0], values[-1])
    lo, hi = np.nanmin(z), np.nanmax(z)
    # Only levels strictly inside the data make lines; matplotlib warns otherwise.
    inside = values[(values > lo) & (values < hi)]
    labelled = inside[:: 1 if len(inside) <= 8 else 2]  # every other one when dense
    texts = [f"{v:.3g}" for v in labelled]
    filled = filled or len(inside) == 0
    shown = None
    if filled:
        shown = ax.contourf(alpha, beta, z, levels=values, cmap=_CMAP, norm=norm, extend="both")
    if len(inside):
        colour = {"colors": "black", "alpha": 0.6} if filled else {"cmap": _CMAP, "norm": norm}
        lines = ax.contour(alpha, beta, z, levels=inside, linewidths=1.0, **colour)
        ax.clabel(lines, labelled, inline=True, fontsize=7, fmt=lambda v: f"{v:.3g}")
        if shown is None:
            shown = lines
    bar = _colorbar(fig, ax, shown, _label(var))
    if len(inside):  # ticks at the labelled levels, so bar and lines read alike
        bar.set_ticks(labelled, labels=texts)
        bar.minorticks_off()
    _finish(ax, ds, (alpha.min(), alpha.max()), (beta.min(), beta.max()))
    _overlay(ax, ds, markers=markers, trajectory=trajectory)
    return fig


def heatmap(
    ds: xr.Dataset,
    *,
    var: str = "loss",
    log: bool = False,
    ax: Axes | None = None,
    markers: bool = True,
    trajectory: bool = True,
) -> Figure:
    """One cell per grid point, centred on its (α, β), NaN cells blank.

    Cell edges are the midpoints between coordinates, so uneven or non-square
    grids are drawn where they were evaluated.

    Raises:
        ValueError: unknown `var`, a 1-D Dataset, or log=True with a value ≤ 0.
    """
    alpha, beta, z = _field(ds, var, log)
    fig, ax = _axes(ax, (6.0, 5.0))
    norm = (LogNorm if log else Normalize)(np.nanmin(z), np.nanmax(z))
    xe, ye = _edges(alpha), _edges(beta)
    mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(z), cmap="viridis", norm=norm)
    _colorbar(fig, ax, mesh, _label(var))
    _finish(ax, ds, (xe[0], xe[-1]), (ye[0], ye[-1]))
    _overlay(ax, ds, markers=markers, trajectory=trajectory)
    return fig


def surface3d(
    ds: xr.Dataset, *, var: str = "loss", log: bool = False, ax: Axes | None = None
) -> Figure:
    """The loss as a 3-D surface over (α, β), as in Li et al. (2018), Fig. 1.

    With log=True the height is log₁₀ of the value (matplotlib's 3-D axes have
    no working log scale). NaN cells are left out of the surface.

    Raises:
        ValueError: unknown `var`, a 1-D Dataset, log=True with a value ≤ 0, or
            an `ax` that is not 3-D.
    """
    if ax is not None and ax.name != "3d":
        raise ValueError(
            f"`ax` must be a 3-D axes (fig.add_subplot(projection='3d')); got a {ax.name!r} axes."
        )
    alpha, beta, z = _field(ds, var, log)
    fig, ax = _axes(ax, (7.0, 5.5), projection="3d")
    height = np.log10(z) if log else z
    label = f"log₁₀ {_label(var)}" if log else _label(var)
    a, b = np.meshgrid(alpha, beta)  # [nb, na], matching the rows = β of `z`
    # One facet per grid cell: matplotlib's default thins to 50 a side and
    # would smooth away the non-convexities the plot is for.
    surf = ax.plot_surface(
        a,
        b,
        height,
        cmap="viridis",
        rcount=min(len(beta), 400),
        ccount=min(len(alpha), 400),
        linewidth=0,
        antialiased=False,
    )
    fig.colorbar(surf, ax=ax, shrink=0.6, pad=0.1, label=label)
    xlabel, ylabel = _axis_labels(ds)
    ax.set(xlabel=xlabel, ylabel=ylabel, zlabel=label)
    if ds.attrs.get("title"):
        ax.set_title(str(ds.attrs["title"]))
    return fig


def save(fig: Figure, path: str | PathLike) -> Path:
    """Write `fig` as PNG, PDF or SVG (by suffix) at 150 dpi, creating parent folders.

    Atomic: drawn into a temporary file beside `path` and renamed into place, so an
    interrupted or failed draw leaves the previous figure, never a truncated one.
    """
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"`path` must end in one of {list(FORMATS)}; got {str(path)!r}.")
    fmt = path.suffix.lower().lstrip(".")
    return write_atomic(path, lambda f: fig.savefig(f, dpi=DPI, format=fmt))

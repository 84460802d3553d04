"""Interactive loss surfaces (plotly): standalone HTML files and figure dicts.

- `surface_html`: the rotatable 3-D surface (Li et al. 2018, Fig. 1);
- `contour_html`: labelled contours with marked solutions (Im et al. 2016) and
  the trajectory (Li et al. 2018, Fig. 9);
- `figure_json`: the same figures, and the 1-D line plot, as plain dicts for a
  report that embeds several of them.

Every HTML file embeds plotly.js inline (about 4.5 MB) so that it opens with no
internet. Arrays are written as plain JSON lists with NaN as null, so the dicts
are strict JSON and blank cells stay blank in the browser. Hovering shows α, β
and the value. With log=True contours are drawn over log₁₀ of the value (plotly
has no log colour scale) with the colour bar ticked in the values themselves,
and the 3-D surface gets a log z axis. The data conventions are those of
`lossatlas.plot`.
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import numpy as np
import plotly.graph_objects as go
import xarray as xr

from lossatlas.plot.surface import _axis_labels, _check_log, _check_var, _field, _finite, _label
from lossatlas.results.files import write_text

KINDS = ("surface", "contour", "line")
_TEMPLATE = "plotly_white"


def _json(values: np.ndarray) -> list:
    """A nested list with None for NaN (plotly's null, a blank cell)."""
    return np.where(np.isnan(values), None, values).tolist()


def _log_ticks(z: np.ndarray) -> dict[str, Any]:
    """Colour-bar ticks at 1, 2, 5 × 10^k, placed at their log₁₀ and labelled in values."""
    lo, hi = np.log10(np.nanmin(z)), np.log10(np.nanmax(z))
    nice = [m * 10.0**k for k in range(int(np.floor(lo)), int(np.ceil(hi)) + 1) for m in (1, 2, 5)]
    keep = [v for v in nice if lo <= np.log10(v) <= hi] or [float(np.nanmin(z))]
    return {"tickvals": np.log10(keep).tolist(), "ticktext": [f"{v:.3g}" for v in keep]}


def _hover(var: str, value: str = "z") -> str:
    return f"α = %{{x:.4g}}<br>β = %{{y:.4g}}<br>{_label(var)} = %{{{value}:.4g}}<extra></extra>"


def _surface(ds: xr.Dataset, var: str, log: bool) -> go.Figure:
    alpha, beta, z = _field(ds, var, log)
    xlabel, ylabel = _axis_labels(ds)
    trace = go.Surface(
        x=alpha.tolist(),
        y=beta.tolist(),
        z=_json(z),  # rows are β, as plotly expects (z[i][j] at x[j], y[i])
        # Colour by log₁₀ on a log axis, so the colours spread like the heights do.
        surfacecolor=_json(np.log10(z)) if log else None,
        colorscale="Viridis",
        colorbar={"title": {"text": _label(var)}, **(_log_ticks(z) if log else {})},
        hovertemplate=_hover(var),
    )
    fig = go.Figure(trace)
    fig.update_layout(
        template=_TEMPLATE,
        title=ds.attrs.get("title"),
        scene={
            "xaxis": {"title": {"text": xlabel}},
            "yaxis": {"title": {"text": ylabel}},
            "zaxis": {"title": {"text": _label(var)}, "type": "log" if log else "linear"},
        },
    )
    return fig


def _overlays(fig: go.Figure, ds: xr.Dataset) -> None:
    if "marker_alpha" in ds:
        a, b = _finite(ds["marker_alpha"]), _finite(ds["marker_beta"])
        labels = ds["marker"].to_numpy() if "marker" in ds.coords else np.arange(len(a))
        fig.add_scatter(
            x=_json(a),
            y=_json(b),
            text=[str(x) for x in labels],
            mode="markers+text",
            textposition="top right",
            textfont={"size": 13, "color": "black"},
            marker={"symbol": "star", "size": 15, "color": "black", "line": {"color": "white"}},
            name="solutions",
            hovertemplate="%{text}<br>α = %{x:.4g}<br>β = %{y:.4g}<extra></extra>",
        )
    if "trajectory_alpha" in ds:
        a, b = _finite(ds["trajectory_alpha"]), _finite(ds["trajectory_beta"])
        steps = ds["step"].to_numpy() if "step" in ds.coords else np.arange(len(a))
        ok = np.flatnonzero(np.isfinite(a) & np.isfinite(b))
        if not len(ok):
            return
        hover = "step %{customdata}<br>α = %{x:.4g}<br>β = %{y:.4g}<extra></extra>"
        fig.add_scatter(
            x=_json(a),
            y=_json(b),
            customdata=steps.tolist(),
            mode="lines+markers",
            line={"color": "crimson", "width": 2},
            marker={"size": 5},
            name="trajectory",
            hovertemplate=hover,
        )
        for i, name, symbol in ((ok[0], "start", "circle-open"), (ok[-1], "end", "diamond")):
            fig.add_scatter(
                x=[float(a[i])],
                y=[float(b[i])],
                customdata=[steps[i].item()],
                mode="markers",
                marker={"symbol": symbol, "size": 13, "color": "crimson", "line": {"width": 2}},
                name=f"{name} (step {steps[i]})",
                hovertemplate=hover,
            )


def _contour(ds: xr.Dataset, var: str, log: bool) -> go.Figure:
    alpha, beta, z = _field(ds, var, log)
    xlabel, ylabel = _axis_labels(ds)
    colorbar = {"title": {"text": _label(var)}, **(_log_ticks(z) if log else {})}
    trace = go.Contour(
        x=alpha.tolist(),
        y=beta.tolist(),
        z=_json(np.log10(z) if log else z),
        customdata=_json(z),  # the value itself, for the hover when z is log₁₀
        colorscale="Viridis",
        ncontours=20,
        contours={"showlabels": True, "labelfont": {"size": 10, "color": "white"}},
        colorbar=colorbar,
        connectgaps=False,
        hovertemplate=_hover(var, "customdata"),
        name=_label(var),
    )
    fig = go.Figure(trace)
    _overlays(fig, ds)
    spans = sorted([np.ptp(alpha), np.ptp(beta)])
    equal = spans[0] > 0 and spans[1] / spans[0] <= 2  # as in `plot.contour`
    fig.update_layout(
        template=_TEMPLATE,
        title=ds.attrs.get("title"),
        xaxis={"title": {"text": xlabel}, "range": [alpha.min(), alpha.max()]},
        yaxis={
            "title": {"text": ylabel},
            "range": [beta.min(), beta.max()],
            **({"scaleanchor": "x", "scaleratio": 1} if equal else {}),
        },
        legend={"bgcolor": "rgba(255,255,255,0.8)"},
    )
    return fig


def _line(ds: xr.Dataset, var: str, log: bool) -> go.Figure:
    # One figure shows every variable, so `var` only has to exist.
    _check_var(ds, var)
    if ds["loss"].dims != ("alpha",):
        raise ValueError(
            f"`ds` must be a 1-D result with dim 'alpha' for kind 'line'; got dims "
            f"{ds['loss'].dims}. Use kind 'contour' or 'surface' for 2-D surfaces."
        )
    alpha = ds["alpha"].to_numpy().tolist()
    fig = go.Figure()
    for v in ("loss", "test_loss", "accuracy", "test_accuracy"):
        if v not in ds:
            continue
        y = _finite(ds[v])
        accuracy = v.endswith("accuracy")
        if not accuracy:
            _check_log(y, v, log)
        fig.add_scatter(
            x=alpha,
            y=_json(y),
            name=_label(v),
            yaxis="y2" if accuracy else "y",
            line={"color": "crimson" if accuracy else "royalblue"}
            | ({"dash": "dash"} if v.startswith("test_") else {}),
            hovertemplate=f"α = %{{x:.4g}}<br>{_label(v)} = %{{y:.4g}}<extra></extra>",
        )
    kind = ds.attrs.get("kind")
    fig.update_layout(
        template=_TEMPLATE,
        title=ds.attrs.get("title"),
        xaxis={"title": {"text": {"line": "α (θa → θb)", "scaling": "α (θ → αθ)"}.get(kind, "α")}},
        yaxis={"title": {"text": "loss"}, "type": "log" if log else "linear"},
        yaxis2={"title": {"text": "accuracy"}, "overlaying": "y", "side": "right"},
    )
    return fig


def figure_json(
    ds: xr.Dataset,
    kind: Literal["surface", "contour", "line"],
    *,
    var: str = "loss",
    log: bool = False,
) -> dict[str, Any]:
    """The plotly figure of `ds` as a strict-JSON dict ({"data": ..., "layout": ...}).

    Args:
        kind: "surface" or "contour" for 2-D results, "line" for 1-D ones.

    Raises:
        ValueError: unknown `kind` or `var`, the wrong dimensionality for
            `kind`, or log=True with a value ≤ 0.
    """
    builders = {"surface": _surface, "contour": _contour, "line": _line}
    if kind not in builders:
        raise ValueError(f"`kind` must be one of {list(KINDS)}; got {kind!r}.")
    return json.loads(builders[kind](ds, var, log).to_json())


def _write(fig: go.Figure, path: str | PathLike) -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"`path` must end in '.html'; got {str(path)!r}.")
    # include_plotlyjs=True inlines the library: the file works with no internet.
    # Written atomically, as every result file: a failed write keeps the previous page.
    html = fig.to_html(include_plotlyjs=True, full_html=True, include_mathjax=False)
    return write_text(path, html)


def surface_html(
    ds: xr.Dataset, path: str | PathLike, *, var: str = "loss", log: bool = False
) -> Path:
    """Write the interactive 3-D surface of `var` (Li et al. 2018, Fig. 1) to `path`."""
    return _write(_surface(ds, var, log), path)


def contour_html(
    ds: xr.Dataset, path: str | PathLike, *, var: str = "loss", log: bool = False
) -> Path:
    """Write interactive labelled contours of `var`, with the solutions and trajectory
    the Dataset carries (Im et al. 2016; Li et al. 2018, Fig. 9), to `path`."""
    return _write(_contour(ds, var, log), path)

"""Interactive figures of a landscape's topology (plotly), as strict-JSON figure dicts.

The same four figures as `lossatlas.plot.topology`: barcode, persistence
diagram, merge tree and basin map. Hovering shows each minimum's loss,
persistence and grid coordinates. Infinite deaths are drawn at the same `top`
as the static figures; arrays hold None for NaN, so the dicts are strict JSON
(write them with `lossatlas.results.files.write_json`).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from matplotlib.colors import to_hex

from lossatlas.plot.surface_html import _json
from lossatlas.plot.topology import (
    basin_colours,
    basin_slice,
    persistent_minima_in,
    top_of,
    tree_layout,
)
from lossatlas.topology.mergetree import MergeTree

_TEMPLATE = "plotly_white"


def _dict(fig: go.Figure) -> dict[str, Any]:
    return json.loads(fig.to_json())


def _where(summary: xr.Dataset, i: int) -> str:
    dims = [str(d) for d in summary["values"].dims]
    return ", ".join(f"{d} = {float(summary[f'minimum_{d}'][i]):.4g}" for d in dims)


def _death_text(tree: MergeTree, i: int) -> str:
    if not np.isfinite(tree.death[i]):
        return "never merges"
    return f"death {tree.death[i]:.6g}, persistence {tree.persistence[i]:.4g}"


def barcode_json(
    tree: MergeTree, summary: xr.Dataset, threshold: float, *, max_bars: int = 60
) -> dict[str, Any]:
    """The barcode: one horizontal bar per minimum (the most persistent `max_bars`)."""
    order = np.sort(np.argsort(-tree.persistence, kind="stable")[:max_bars])
    top = top_of(tree)
    fig = go.Figure()
    for row, i in enumerate(order.tolist()):
        end = float(tree.death[i]) if np.isfinite(tree.death[i]) else top
        kept = tree.persistence[i] > threshold
        fig.add_trace(
            go.Scatter(
                x=[float(tree.birth[i]), end],
                y=[row, row],
                mode="lines",
                line={"width": 6, "color": "#1f77b4" if kept else "#bfbfbf"},
                hovertemplate=(
                    f"minimum {i} ({_where(summary, i)})<br>birth {tree.birth[i]:.6g}, "
                    f"{_death_text(tree, i)}<extra></extra>"
                ),
                showlegend=False,
            )
        )
    fig.update_layout(
        template=_TEMPLATE,
        title=f"Barcode: {tree.num_basins(threshold)} basins with persistence > {threshold:.3g}",
        xaxis={"title": {"text": "loss"}},
        yaxis={"visible": False, "autorange": "reversed"},
    )
    return _dict(fig)


def diagram_json(tree: MergeTree, summary: xr.Dataset, threshold: float) -> dict[str, Any]:
    """The persistence diagram; infinite deaths on the dotted line at the top."""
    top = top_of(tree)
    lo = float(tree.birth.min())
    death = np.where(np.isfinite(tree.death), tree.death, top)
    text = [
        f"minimum {i} ({_where(summary, i)})<br>birth {tree.birth[i]:.6g}, {_death_text(tree, i)}"
        for i in range(tree.num_leaves)
    ]
    colour = np.where(tree.persistence > threshold, "#1f77b4", "#bfbfbf").tolist()
    fig = go.Figure(
        [
            go.Scatter(
                x=[lo, top], y=[lo, top], mode="lines", line={"color": "#555"}, name="diagonal"
            ),
            go.Scatter(
                x=[lo, top - threshold],
                y=[lo + threshold, top],
                mode="lines",
                line={"color": "#888", "dash": "dash"},
                name=f"persistence = {threshold:.3g}",
            ),
            go.Scatter(
                x=tree.birth.tolist(),
                y=death.tolist(),
                mode="markers",
                marker={"color": colour, "size": 7},
                text=text,
                hovertemplate="%{text}<extra></extra>",
                name="pairs (∞ at the top)",
            ),
        ]
    )
    fig.update_layout(
        template=_TEMPLATE,
        title="Persistence diagram (H₀ of the sublevel sets)",
        xaxis={"title": {"text": "birth (loss at the minimum)"}},
        yaxis={"title": {"text": "death (loss at the merge saddle)"}},
    )
    return _dict(fig)


def merge_tree_json(tree: MergeTree, summary: xr.Dataset, threshold: float) -> dict[str, Any]:
    """The merge tree as a dendrogram; hover a leaf for its minimum."""
    layout = tree_layout(tree, threshold)
    xs: list[float | None] = []
    ys: list[float | None] = []
    for (x0, y0), (x1, y1) in layout.segments:
        xs += [x0, x1, None]
        ys += [y0, y1, None]
    leaves = layout.leaves
    fig = go.Figure(
        [
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line={"color": "black"},
                hoverinfo="skip",
                showlegend=False,
            ),
            go.Scatter(
                x=[leaf[0] for leaf in leaves],
                y=[leaf[1] for leaf in leaves],
                mode="markers",
                marker={"color": "#1f77b4", "size": 8},
                text=[
                    f"minimum {i} ({_where(summary, i)})<br>loss {tree.birth[i]:.6g}, "
                    f"{_death_text(tree, i)}"
                    for _, _, i in leaves
                ],
                hovertemplate="%{text}<extra></extra>",
                showlegend=False,
            ),
        ]
    )
    fig.update_layout(
        template=_TEMPLATE,
        title=f"Merge tree: {len(leaves)} basins with persistence > {threshold:.3g}",
        xaxis={"visible": False},
        yaxis={"title": {"text": "loss"}},
    )
    return _dict(fig)


def basin_map_json(summary: xr.Dataset) -> dict[str, Any]:
    """The landscape coloured by basin (a 2-D slice above two dims) with loss contours."""
    sl, fixed = basin_slice(summary)
    dims = [str(d) for d in sl["values"].dims]
    count = max(int(summary.attrs["num_basins"]), 1)
    colours = [to_hex(c) for c in basin_colours(count).colors]
    if len(dims) == 1:
        c = sl[dims[0]].to_numpy().tolist()
        labels = sl["basin"].to_numpy()
        traces = [
            go.Scatter(
                x=c,
                y=_json(sl["values"].to_numpy()),
                mode="lines",
                line={"color": "#999"},
                showlegend=False,
            )
        ]
        for k in range(count):
            on = labels == k
            traces.append(
                go.Scatter(
                    x=np.asarray(c)[on].tolist(),
                    y=sl["values"].to_numpy()[on].tolist(),
                    mode="markers",
                    marker={"color": colours[k]},
                    name=f"basin {k}",
                )
            )
        fig = go.Figure(traces)
        fig.update_layout(xaxis={"title": {"text": dims[0]}}, yaxis={"title": {"text": "loss"}})
    else:
        a, b = sl[dims[0]].to_numpy().tolist(), sl[dims[1]].to_numpy().tolist()
        labels = sl["basin"].to_numpy().T.astype(float)  # rows = the second dim
        labels[labels < 0] = np.nan
        scale = [[k / count + e / count, colours[k]] for k in range(count) for e in (0, 1)]
        fig = go.Figure(
            [
                go.Heatmap(
                    x=a,
                    y=b,
                    z=_json(labels),
                    colorscale=scale,
                    zmin=-0.5,
                    zmax=count - 0.5,
                    colorbar={"title": {"text": "basin"}},
                    hovertemplate=f"{dims[0]} = %{{x:.4g}}<br>{dims[1]} = %{{y:.4g}}"
                    "<br>basin %{z}<extra></extra>",
                ),
                go.Contour(
                    x=a,
                    y=b,
                    z=_json(sl["values"].to_numpy().T),
                    showscale=False,
                    contours={"coloring": "none"},
                    line={"color": "black", "width": 0.6},
                    hovertemplate="loss %{z:.4g}<extra></extra>",
                ),
            ]
        )
        minima = persistent_minima_in(summary, fixed)
        fig.add_trace(
            go.Scatter(
                x=[float(summary[f"minimum_{dims[0]}"][i]) for i in minima],
                y=[float(summary[f"minimum_{dims[1]}"][i]) for i in minima],
                mode="markers",
                marker={"symbol": "x", "color": "black", "size": 9},
                name="persistent minima",
            )
        )
        fig.update_layout(xaxis={"title": {"text": dims[0]}}, yaxis={"title": {"text": dims[1]}})
    where = ", ".join(f"{d} = {v:.3g}" for d, v in fixed.items())
    fig.update_layout(
        template=_TEMPLATE,
        title=f"{count} basins" + (f" (slice {where})" if where else ""),
    )
    return _dict(fig)

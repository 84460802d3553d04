"""Static figures of a landscape's topology (matplotlib): barcode, diagram, merge tree, basins.

- `barcode`: one bar per minimum from its birth (its loss) to its death (the
  saddle where its basin merges into an older one); the global minimum's bar
  never ends (Ghrist 2008);
- `persistence_diagram`: the same pairs as points (birth, death), the
  diagonal, and the threshold's band;
- `merge_tree_plot`: the merge tree as a dendrogram: each leaf at its
  minimum's loss, each join at its saddle's loss (basins of persistence
  ≤ threshold pruned, as `MergeTree.merges` does);
- `basin_map`: the landscape coloured by basin, with contour lines at
  quantiles of the loss; above two dimensions, the (d0, d1) slice through the
  grid point nearest the origin.

Infinite deaths are drawn at a `top` just above the highest finite value, with
an arrow (bars, tree) or on a line marked ∞ (diagram). Figures are built on
`matplotlib.figure.Figure`, never pyplot; `lossatlas.plot.save` writes them.

References:
    Ghrist (2008). Barcodes: the persistent topology of data. Bull. AMS 45, 61–75.
    Edelsbrunner, Harer (2010). Computational Topology: An Introduction. AMS.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib as mpl
import numpy as np
import xarray as xr
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from lossatlas.topology.mergetree import MergeTree

_KEPT, _PRUNED = "tab:blue", "0.75"
_LABELLED_LEAVES = 30


def top_of(tree: MergeTree) -> float:
    """Where infinite deaths are drawn: 5% of the span above the highest finite value."""
    finite = np.concatenate([tree.birth, tree.death[np.isfinite(tree.death)]])
    lo, hi = float(finite.min()), float(finite.max())
    return hi + 0.05 * max(hi - lo, abs(hi), 1e-12)


@dataclass
class TreeLayout:
    """Line segments of a merge-tree dendrogram, x = leaf order, y = loss.

    Attributes:
        segments: ((x0, y0), (x1, y1)) vertical and horizontal pieces.
        leaves: (x, birth, leaf index) of every drawn leaf.
        roots: (x, y) of the top of each never-merging branch (drawn up to `top`).
        top: the height standing for ∞.
    """

    segments: list[tuple[tuple[float, float], tuple[float, float]]]
    leaves: list[tuple[float, float, int]]
    roots: list[tuple[float, float]]
    top: float


def tree_layout(tree: MergeTree, threshold: float = 0.0) -> TreeLayout:
    """The dendrogram of `tree` with basins of persistence ≤ `threshold` pruned.

    Leaves are placed left to right by a depth-first walk that puts the elder
    branch first, so no lines cross; a join sits midway over its two branches.
    """
    kept = np.flatnonzero(tree.persistence > threshold)
    height: dict[tuple[str, int], float] = {("leaf", int(i)): float(tree.birth[i]) for i in kept}
    children: dict[tuple[str, int], tuple[tuple[str, int], tuple[str, int]]] = {}
    current = {int(i): ("leaf", int(i)) for i in kept}
    for j, (h, young, elder, _cell) in enumerate(tree.merges(threshold)):
        node = ("join", j)
        children[node] = (current[elder], current[young])
        height[node] = h
        current[elder] = node
    roots = [current[int(i)] for i in kept if not np.isfinite(tree.death[i])]
    x: dict[tuple[str, int], float] = {}
    leaves: list[tuple[float, float, int]] = []
    for root in roots:
        stack = [(root, False)]
        while stack:  # iterative post-order: trees of thousands of leaves are deep
            node, visited = stack.pop()
            if node[0] == "leaf":
                x[node] = float(len(leaves))
                leaves.append((x[node], height[node], node[1]))
            elif visited:
                a, b = children[node]
                x[node] = (x[a] + x[b]) / 2
            else:
                a, b = children[node]
                stack += [(node, True), (b, False), (a, False)]
    segments = []
    for node, (a, b) in children.items():
        h = height[node]
        segments.append(((x[a], h), (x[b], h)))
        segments += [((x[c], height[c]), (x[c], h)) for c in (a, b)]
    top = top_of(tree)
    tops = [(x[r], height[r]) for r in roots]
    segments += [((rx, ry), (rx, top)) for rx, ry in tops]
    return TreeLayout(segments, leaves, tops, top)


def _bars(tree: MergeTree, max_bars: int) -> np.ndarray:
    """Indices of the `max_bars` most persistent pairs, in birth order."""
    order = np.argsort(-tree.persistence, kind="stable")[:max_bars]
    return np.sort(order)


def barcode(tree: MergeTree, threshold: float = 0.0, *, max_bars: int = 60) -> Figure:
    """The 0-dimensional barcode: one bar per minimum, [birth, death) in loss."""
    shown = _bars(tree, max_bars)
    top = top_of(tree)
    fig = Figure(figsize=(6.4, 0.9 + 0.12 * len(shown) + 1.6), layout="constrained")
    ax = fig.subplots()
    for row, i in enumerate(shown):
        end = tree.death[i] if np.isfinite(tree.death[i]) else top
        colour = _KEPT if tree.persistence[i] > threshold else _PRUNED
        ax.plot([tree.birth[i], end], [row, row], color=colour, lw=3, solid_capstyle="butt")
        if not np.isfinite(tree.death[i]):
            ax.plot(end, row, ">", color=colour, ms=6)
    ax.set_yticks([])
    ax.set_ylim(-1, max(len(shown), 1))
    ax.invert_yaxis()
    ax.set_xlabel("loss")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(
        f"{tree.num_basins(threshold)} basins with persistence > {threshold:.3g} "
        f"({len(shown)} of {tree.num_leaves} bars)",
        fontsize=10,
    )
    return fig


def persistence_diagram(tree: MergeTree, threshold: float = 0.0) -> Figure:
    """Points (birth, death); infinite deaths on the line marked ∞ at the top."""
    top = top_of(tree)
    fig = Figure(figsize=(5.0, 5.0), layout="constrained")
    ax = fig.subplots()
    lo = float(tree.birth.min())
    ax.plot([lo, top], [lo, top], color="0.3", lw=1)
    ax.plot([lo, top - threshold], [lo + threshold, top], "--", color="0.5", lw=0.8)
    ax.axhline(top, color="0.5", lw=0.8, ls=":")
    finite = np.isfinite(tree.death)
    kept = tree.persistence > threshold
    for mask, colour, label in (
        (finite & kept, _KEPT, f"persistence > {threshold:.3g}"),
        (finite & ~kept, _PRUNED, "below the threshold"),
    ):
        if mask.any():
            ax.scatter(tree.birth[mask], tree.death[mask], s=14, color=colour, label=label)
    ax.scatter(
        tree.birth[~finite],
        np.full((~finite).sum(), top),
        s=30,
        marker="^",
        color="k",
        label="never merges (∞)",
    )
    ax.text(lo, top, " ∞", va="bottom", fontsize=9)
    ax.set_xlabel("birth (loss at the minimum)")
    ax.set_ylabel("death (loss at the merge saddle)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Persistence diagram (H₀ of the sublevel sets)", fontsize=10)
    return fig


def merge_tree_plot(tree: MergeTree, threshold: float = 0.0) -> Figure:
    """The merge tree as a dendrogram; leaves at their minima's losses."""
    layout = tree_layout(tree, threshold)
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    for (x0, y0), (x1, y1) in layout.segments:
        ax.plot([x0, x1], [y0, y1], color="k", lw=1.2)
    for rx, _ in layout.roots:
        ax.plot(rx, layout.top, "^", color="k", ms=6)
    xs = [leaf[0] for leaf in layout.leaves]
    ax.scatter(xs, [leaf[1] for leaf in layout.leaves], s=18, color=_KEPT, zorder=3)
    if len(layout.leaves) <= _LABELLED_LEAVES:
        ax.set_xticks(xs, [str(leaf[2]) for leaf in layout.leaves], fontsize=8)
        ax.set_xlabel("minimum (in birth order)")
    else:
        ax.set_xticks([])
    ax.set_ylabel("loss")
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(
        f"Merge tree: {len(layout.leaves)} basins with persistence > {threshold:.3g}", fontsize=10
    )
    return fig


def basin_colours(count: int) -> ListedColormap:
    """`count` distinguishable colours (tab10, then tab20, then cycled)."""
    base = mpl.colormaps["tab10" if count <= 10 else "tab20"].colors
    return ListedColormap([base[i % len(base)] for i in range(max(count, 1))])


def basin_slice(summary: xr.Dataset) -> tuple[xr.Dataset, dict[str, float]]:
    """The summary over its first two dims; other dims at the point nearest 0."""
    dims = list(summary["values"].dims)
    fixed = {}
    for d in dims[2:]:
        c = summary[d].to_numpy()
        fixed[d] = float(c[int(np.argmin(np.abs(c)))])
    return summary.sel(fixed), fixed


def persistent_minima_in(summary: xr.Dataset, fixed: dict[str, float]) -> list[int]:
    """Pairs above the threshold whose minimum lies in the slice `fixed`."""
    keep = summary["persistence"].to_numpy() > summary.attrs["threshold"]
    for d, v in fixed.items():
        keep &= summary[f"minimum_{d}"].to_numpy() == v
    return np.flatnonzero(keep).tolist()


def basin_map(summary: xr.Dataset, *, levels: int = 20) -> Figure:
    """The landscape coloured by basin (`topology.summary`'s `basin`), with loss contours."""
    sl, fixed = basin_slice(summary)
    labels = sl["basin"].to_numpy()
    count = int(summary.attrs["num_basins"])
    cmap = basin_colours(count)
    dims = list(sl["values"].dims)
    fig = Figure(figsize=(6.0, 4.8), layout="constrained")
    ax = fig.subplots()
    if len(dims) == 1:
        c = sl[dims[0]].to_numpy()
        v = sl["values"].to_numpy()
        ax.plot(c, v, color="0.6", lw=1)
        ax.scatter(
            c,
            v,
            c=np.where(labels < 0, np.nan, labels),
            cmap=cmap,
            s=12,
            vmin=-0.5,
            vmax=count - 0.5,
        )
        ax.set_xlabel(dims[0])
        ax.set_ylabel(summary.attrs.get("var", "loss"))
    else:
        a, b = sl[dims[0]].to_numpy(), sl[dims[1]].to_numpy()
        shown = np.ma.masked_less(labels.T.astype(float), 0)  # rows = the second dim
        mesh = ax.pcolormesh(a, b, shown, cmap=cmap, vmin=-0.5, vmax=count - 0.5, shading="nearest")
        values = sl["values"].to_numpy().T
        finite = values[np.isfinite(values)]
        # levels at quantiles: the walls of a landscape can be far higher than its basins
        steps = np.unique(np.quantile(finite, np.linspace(0, 0.9, levels))) if finite.size else []
        if len(steps) > 1:
            ax.contour(
                a,
                b,
                np.ma.masked_invalid(values),
                levels=steps,
                colors="k",
                linewidths=0.5,
                alpha=0.6,
                negative_linestyles="solid",
            )
        cbar = fig.colorbar(mesh, ax=ax, ticks=range(count))
        cbar.set_label("basin")
        for i in persistent_minima_in(summary, fixed):
            at = (float(summary[f"minimum_{dims[0]}"][i]), float(summary[f"minimum_{dims[1]}"][i]))
            ax.plot(*at, "x", color="k", ms=7, mew=1.8)
        ax.set_xlabel(dims[0])
        ax.set_ylabel(dims[1])
    where = ", ".join(f"{d} = {v:.3g}" for d, v in fixed.items())
    ax.set_title(
        f"{count} basins (persistence > {summary.attrs['threshold']:.3g})"
        + (f", slice {where}" if where else ""),
        fontsize=10,
    )
    return fig

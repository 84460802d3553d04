"""The standard files of each kind of result, and their entries in a command's manifest.

Each function draws a result's figures, a PNG (matplotlib) and, where
interaction helps, a `.plotly.json` beside it, and records the figures, key
numbers and small tables in a `manifest.Record`, so that `lossatlas report`
can show them. The CLI commands and `lossatlas demo` share these, so a result
looks the same whichever made it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from lossatlas import plot
from lossatlas.plot import interactive as plot_interactive
from lossatlas.results.manifest import Record


def _figure(rec: Record, fig, png: Path, caption: str, interactive=None) -> list[Path]:
    """Save the matplotlib `fig` as `png` and the plotly `interactive` beside it."""
    written = [plot.save(fig, png)]
    rec.figure(written[0], caption)
    if interactive is not None:
        stem = png.name.removesuffix(png.suffix)
        written.append(plot_interactive.save(interactive, png.with_name(stem + ".plotly.json")))
        rec.figure(written[-1], caption)
    return written


def training(rec: Record, out: Path, runs: Mapping[str, Any], name: str = "training") -> list[Path]:
    """Curves of one or more `TrainResult`s and a row of final numbers per run."""
    from lossatlas.plot import runs as plot_runs

    histories = {label: r.history for label, r in runs.items()}
    rows = []
    for label, r in runs.items():
        h = r.history
        best = h["step"].index(r.best_step)
        row: dict[str, Any] = {"run": label, "steps": h["step"][-1]}
        for key in ("train_loss", "test_loss", "train_accuracy", "test_accuracy"):
            if key in h:
                row[key] = h[key][-1]
        if "test_loss" in h:
            row["early_stopped_test_loss"] = h["test_loss"][best]
            row["early_stopped_step"] = r.best_step
        row["seconds"] = h["seconds"][-1]
        row["diverged"], row["stable"] = r.diverged, r.stable
        rows.append(row)
    rec.table("runs", rows)
    gone = [r["run"] for r in rows if r["diverged"]]
    if gone:  # named, and kept out of the means: their final weights are no minimum
        rec.results["diverged runs"] = gone
    for file in ("final.pt", "early_stopped.pt", "trajectory.pt", "history.json"):
        if (out / file).exists():  # written by `TrainResult.save`
            rec.array(out / file)
    if len(rows) == 1:
        rec.results.update({k: v for k, v in rows[0].items() if k != "run"})
    else:
        for key in ("train_loss", "test_loss", "test_accuracy", "early_stopped_test_loss"):
            values = [r[key] for r in rows if key in r and not r["diverged"]]
            if values:
                rec.results[f"mean_{key}"] = float(np.mean(values))
    xlabel = steps_label([r.settings.get("optimizer") for r in runs.values()])
    return _figure(
        rec,
        plot_runs.training_curves(histories, xlabel),
        out / f"{name}.png",
        "Loss (log scale) and accuracy during training; train solid, test dashed.",
        plot_interactive.training_curves(histories, xlabel),
    )


def steps_label(optimizers: list[str | None]) -> str:
    """The x axis of training curves: epochs for mini-batch runs, iterations for
    full-batch L-BFGS-GSS (whose every epoch is one iteration), both when mixed."""
    full = [o == "lbfgs-gss" for o in optimizers]
    if all(full):
        return "iteration"
    return "epoch" if not any(full) else "epoch (SGD) · iteration (L-BFGS-GSS)"


def surface(rec: Record, ds: xr.Dataset, out: Path) -> list[Path]:
    """A surface's figures (line plot, or contour, heat map, 3-D surface) and key numbers."""
    from lossatlas.plot import surface_html as plot_html

    loss = np.asarray(ds["loss"].to_numpy(), dtype=float)
    finite = np.isfinite(loss)
    rec.results["points"] = int(loss.size)
    if not finite.all():
        rec.results["non_finite_points"] = int((~finite).sum())
    if finite.any():
        rec.results["min_loss"] = float(np.nanmin(np.where(finite, loss, np.nan)))
        rec.results["max_loss"] = float(np.nanmax(np.where(finite, loss, np.nan)))
    if loss.ndim == 1:
        alpha = ds["alpha"].to_numpy()
        inside = (alpha >= 0) & (alpha <= 1) & finite
        if ds.attrs.get("kind") == "line" and inside.any():
            # the height of the straight path between the two solutions (eq. 5)
            rec.results["height_between"] = float(loss[inside].max())
        caption = "Loss (blue) and accuracy (red) along the line; train solid, test dashed."
        return _figure(
            rec,
            plot.line_plot(ds),
            out / "line.png",
            caption,
            plot_html.figure_json(ds, "line"),
        )
    # Log colour where the loss spans more than two decades: on a linear scale the corners'
    # losses (150 on the plane through three solutions) leave the region around and
    # between the solutions one colour.
    log = plot.surface.spans_decades(ds["loss"].to_numpy())
    scale = " (log colour scale)" if log else ""
    written = _figure(
        rec,
        plot.contour(ds, log=log),
        out / "contour.png",
        f"Loss contours over the plane (α, β), with the marked solutions and trajectory{scale}.",
        plot_html.figure_json(ds, "contour", log=log),
    )
    written += _figure(
        rec,
        plot.surface3d(ds, log=log),
        out / "surface3d.png",
        f"The loss surface in 3-D (drag to rotate){scale}.",
        plot_html.figure_json(ds, "surface", log=log),
    )
    written.append(plot.save(plot.heatmap(ds, log=log), out / "heatmap.png"))
    rec.figure(written[-1], f"Loss per grid point (heat map){scale}.")
    return written


def eigen(rec: Record, out: Path, top: Mapping[str, Any], bottom: Mapping[str, Any] | None = None):
    """Top (and bottom) eigenvalues of one or more points: {label: EigenResult}."""
    from lossatlas.plot import curvature as plot_curvature

    rows = []
    for label, res in top.items():
        low = bottom.get(label) if bottom else None
        row: dict[str, Any] = {"point": label, "top": res.eigenvalues.tolist()}
        if low is not None:
            row["bottom"] = low.eigenvalues.tolist()
            lmax, lmin = float(res.eigenvalues[0]), float(low.eigenvalues[0])
            row["convexity_ratio"] = abs(lmin / lmax) if lmax else float("nan")
        row["max_residual"] = float(res.residuals.max())
        row["converged"] = bool(res.converged and (low.converged if low is not None else True))
        rows.append(row)
    rec.table("eigenvalues", rows)
    if len(rows) == 1:
        rec.results.update({k: v for k, v in rows[0].items() if k != "point"})
    first = next(iter(top))
    fig = plot_curvature.eigenvalue_plot(
        top[first].eigenvalues.numpy(),
        bottom[first].eigenvalues.numpy() if bottom and first in bottom else None,
    )
    interactive = plot_interactive.eigenvalues(
        {k: v.eigenvalues.tolist() for k, v in top.items()},
        {k: v.eigenvalues.tolist() for k, v in bottom.items()} if bottom else None,
    )
    return _figure(
        rec,
        fig,
        out / "eigenvalues.png",
        "Extreme Hessian eigenvalues by rank (thick-restart Lanczos, residual-checked).",
        interactive,
    )


def density(
    rec: Record,
    out: Path,
    estimate: xr.DataArray,
    beside: Mapping[str, xr.DataArray] | None = None,
) -> list[Path]:
    """The SLQ density's figures and its summary numbers (`beside`: other operators' densities,
    drawn in the same figure and summarised in a `densities` table)."""
    from lossatlas.plot import curvature as plot_curvature

    a = estimate.attrs
    nodes = np.asarray(a.get("nodes", []), dtype=float)
    if nodes.size and np.isfinite(nodes).any():
        rec.results["smallest_node"] = float(np.nanmin(nodes))
        rec.results["largest_node"] = float(np.nanmax(nodes))
    for key in ("draws", "steps", "sigma", "products"):
        if key in a:
            rec.results[key] = a[key]
    curves = {a.get("operator", "Hessian"): estimate, **(beside or {})}
    if beside:
        rec.table("densities", [_density_row(label, d) for label, d in curves.items()])
    caption = (
        f"{' and '.join(curves)} eigenvalue densit{'ies' if beside else 'y'} by stochastic "
        "Lanczos quadrature (Ghorbani et al. 2019)" + (", at the same θ and σ." if beside else ".")
    )
    if {"Hessian", "GGN"} <= set(curves):
        caption += (
            " The Hessian's negative bulk and extra outliers are its second-order term "
            "H − GGN (Sagun et al. 2017; Papyan 2019)."
        )
    return _figure(
        rec,
        plot_curvature.density_plot(estimate, beside=beside),
        out / "density.png",
        caption,
        plot_interactive.density(estimate, beside=beside),
    )


def _density_row(label: str, d: xr.DataArray) -> dict[str, Any]:
    """One operator's density in numbers: its extreme Ritz nodes and its negative mass.

    A node counts as negative below −1e-6·max|node| (a semi-definite GGN's zero
    eigenvalues come out of Lanczos at ±rounding); unused nodes (a draw's Lanczos
    stopped early on an exhausted Krylov space) are NaN with weight 0 and skipped.
    """
    nodes = np.asarray(d.attrs.get("nodes", []), dtype=float).reshape(-1)
    weights = np.asarray(d.attrs.get("weights", []), dtype=float).reshape(-1)
    row: dict[str, Any] = {"operator": label, "products": d.attrs.get("products")}
    used = np.isfinite(nodes) & (weights > 0) if weights.shape == nodes.shape else nodes * 0 > 1
    if used.any():
        nodes, weights = nodes[used], weights[used]
        row["smallest_node"], row["largest_node"] = float(nodes.min()), float(nodes.max())
        negative = nodes < -1e-6 * np.abs(nodes).max()
        row["negative_mass"] = float(weights[negative].sum() / weights.sum())
    return row


def convexity(rec: Record, out: Path, cmap: xr.Dataset) -> list[Path]:
    """A convexity map (`curvature.convexity_map`) as a heat map and contours of the ratio."""
    from lossatlas.plot import curvature as plot_curvature
    from lossatlas.plot import surface_html as plot_html

    ratio = np.asarray(cmap["ratio"].to_numpy(), dtype=float)
    rec.results["min_ratio"] = float(np.nanmin(ratio))
    rec.results["max_ratio"] = float(np.nanmax(ratio))
    return _figure(
        rec,
        plot_curvature.convexity_plot(cmap),
        out / "convexity.png",
        "|λmin/λmax| of the Hessian over the plane (Li et al. 2018, Fig. 11).",
        plot_html.figure_json(cmap, "contour", var="ratio"),
    )


def paths(
    rec: Record,
    out: Path,
    results: Sequence[Any],
    plane: xr.Dataset | None = None,
) -> list[Path]:
    """Path profiles (and the plane through the curved path), heights in a table."""
    from lossatlas.plot import paths as plot_paths

    rows = [{"method": r.method, **r.summary(), **_scalars(r.settings)} for r in results]
    rec.table("paths", rows)
    for r, row in zip(results, rows, strict=True):
        key = r.method if r.method == "linear" else f"{r.method}_{row.get('penalty', '')}"
        rec.results[f"height_{key}".rstrip("_")] = r.height
    written = _figure(
        rec,
        plot_paths.profile_plot(results),
        out / "profile.png",
        "Loss along each path from θa (t = 0) to θb (t = 1); train solid, test dashed.",
        plot_interactive.path_profiles(results),
    )
    if plane is not None:
        written += _figure(
            rec,
            plot_paths.plane_paths(plane),
            out / "plane.png",
            "The loss on the plane through θa, θb and the curved path's midpoint θ(½), "
            "with the paths projected on it.",
            plot_interactive.path_plane(plane),
        )
    return written


def barriers(rec: Record, out: Path, ds: xr.Dataset) -> list[Path]:
    """A barrier matrix's heat map, its spread and the matrix as a table."""
    from lossatlas.plot import paths as plot_paths

    labels = [str(x) for x in ds["a"].to_numpy()]
    h = np.asarray(ds["height"].to_numpy(), dtype=float)
    upper = h[np.triu_indices(len(labels), 1)]
    rec.results.update(
        {
            "pairs": int(upper.size),
            "min_height": float(upper.min()),
            "median_height": float(np.median(upper)),
            "max_height": float(upper.max()),
        }
    )
    rows = [{"": a} | dict(zip(labels, row, strict=True)) for a, row in zip(labels, h, strict=True)]
    rec.table("height", rows)
    return _figure(
        rec,
        plot_paths.barrier_heatmap(ds),
        out / "barriers.png",
        "Path heights between every pair of solutions.",
        plot_interactive.barrier_heatmap(ds),
    )


def solution_sets(rec: Record, out: Path, ds: xr.Dataset) -> list[Path]:
    """Kernel-PCA and PCA maps of solution sets, with each set's spread."""
    from lossatlas.plot import runs as plot_runs

    sets = [str(s) for s in ds["set"].to_numpy()]
    rows = []
    for label in dict.fromkeys(sets):
        idx = [i for i, s in enumerate(sets) if s == label]
        rows.append(
            {
                "set": label,
                "solutions": len(idx),
                "mean_norm": float(ds["norm"].values[idx].mean()),
                "mean_centroid_distance": float(ds["centroid_distance"].values[idx].mean()),
            }
        )
    rec.table("sets", rows)
    rec.results["gamma"] = float(ds.attrs["gamma"])
    rec.results["kpca_eigenvalues"] = ds["kpca_eigenvalues"].values.tolist()
    rec.results["pca_explained_variance"] = ds["pca_explained_variance"].values.tolist()
    return _figure(
        rec,
        plot_runs.solution_map(ds),
        out / "solutions.png",
        "Solutions in RBF kernel-PCA coordinates (left) and linear PCA (right).",
        plot_interactive.solution_map(ds),
    )


def _scalars(settings: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if isinstance(v, (int, float, str, bool))}

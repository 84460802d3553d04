"""The optimizer-topography analysis of solution sets given as files, without training.

The optimizer-strategies paper's repository publishes its solutions as stacks of
flat vectors ([k, n] .npy, e.g. `FCP_BFGS_Training_best48_weights.npy`); a user
may have their own. `analyse_stacks` measures such sets as the study measures its
trained ones (§III):

- Table 1: each set's mean training and test loss (and accuracies) over its
  solutions, with their standard deviations;
- Table S1: the mean and standard deviation of the components of each set's
  weights, all its vectors concatenated;
- Fig. 5: distances of each solution to its set's centroid and to the common
  origin, the mean of the sets' centroids (½(c_a + c_b) for two sets, the paper's);
- Fig. 6: RBF kernel PCA of the pooled sets next to linear PCA, with the
  separation of every two sets along the first component;
- Fig. 4: path heights and barriers between random pairs within each set, drawn
  without shared endpoints where the set allows, and a two-sided Mann–Whitney U
  test for every two sets with the number of pairs.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from lossatlas.core.points import load_solution_stack
from lossatlas.geometry import solution_sets as sets
from lossatlas.paths.matrix import draw_pairs, shares_endpoints
from lossatlas.results.files import file_fingerprint
from lossatlas.studies import figures
from lossatlas.studies import topography_sets as ts
from lossatlas.studies.common import save_figure


def check_sets(given: dict[str, Any]) -> dict[str, Path]:
    """The named stack files, checked for existence before any work."""
    if not given:
        raise ValueError("give at least one solution set (--set NAME=FILE, twice to compare).")
    out = {}
    for name, path in given.items():
        if not name or "/" in name:
            raise ValueError(f"a set's name must be a plain word (e.g. sgd-test); got {name!r}.")
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"the stack of set {name!r}, {str(path)!r}, does not exist.")
        out[name] = path
    return out


def fingerprints(stacks: dict[str, Path]) -> dict[str, dict[str, str | None]]:
    """Each set's file and its SHA-256, for the manifest (a changed file is a new study)."""
    return {name: {"file": str(p), "sha256": file_fingerprint(p)} for name, p in stacks.items()}


def losses(train, test, theta: torch.Tensor) -> dict[str, np.ndarray]:
    """Per solution: training and test loss and accuracy."""
    rows = [(train.metrics(t), test.metrics(t)) for t in theta]
    out = {f"train_{k}": np.array([r[0][k] for r in rows], float) for k in rows[0][0]}
    out |= {f"test_{k}": np.array([r[1][k] for r in rows], float) for k in rows[0][1]}
    return out


def geometry(thetas: dict[str, np.ndarray], gamma: float | None, seed: int):
    """Distances (Fig. 5) and kernel/linear PCA (Fig. 6) of the pooled sets; (dataset, numbers)."""
    names = list(thetas)
    centres = {s: thetas[s].mean(0) for s in names}
    origin = np.mean([centres[s] for s in names], axis=0)
    pooled = np.concatenate([thetas[s] for s in names])
    groups = np.repeat(names, [len(thetas[s]) for s in names])
    kcoords, g, eig = sets.kernel_pca_coordinates(pooled, 2, gamma=gamma, seed=seed)
    lcoords, ratio = sets.linear_pca(pooled, 2)
    numbers: dict[str, Any] = {"kpca_gamma": g}
    for a, b in itertools.combinations(names, 2):
        numbers[f"kpca_separation {a} vs {b}"] = sets.separation(kcoords, groups == a, groups == b)
        numbers[f"pca_separation {a} vs {b}"] = sets.separation(lcoords, groups == a, groups == b)
        numbers[f"centroid_separation {a} vs {b}"] = float(np.linalg.norm(centres[a] - centres[b]))
    own = np.concatenate([sets.centroid_distances(thetas[s]) for s in names])
    common = np.concatenate([sets.centroid_distances(thetas[s], origin) for s in names])
    ds = xr.Dataset(
        {
            "distance_to_centroid": (("point",), own),
            "distance_to_origin": (("point",), common),
            "kpca": (("point", "component"), kcoords),
            "pca": (("point", "component"), lcoords),
            "point_set": (("point",), groups.astype(str).astype(object)),
        },
        coords={"component": [1, 2]},
        attrs={
            **numbers,
            "kpca_eigenvalues": eig.tolist(),
            "pca_explained": ratio.tolist(),
            "kernel": "rbf exp(-gamma |x-y|^2)",
            "origin": "the mean of the sets' centroids",
        },
    )
    return ds, numbers


def table(names: list[str], per_set: dict[str, dict[str, np.ndarray]], analysis: xr.Dataset,
          heights: dict[str, dict[str, list[float]]],
          thetas: dict[str, np.ndarray]) -> list[dict[str, Any]]:  # fmt: skip
    """Per set: Table 1 (mean losses, here with their standard deviations), Table S1 (the
    mean and standard deviation of the weight components), Fig. 5's mean distances and
    Fig. 4's median heights and barriers."""
    rows = []
    groups = analysis["point_set"].to_numpy()
    for name in names:
        m = per_set[name]
        row: dict[str, Any] = {"set": name, "solutions": len(m["train_loss"])}
        for key in ("train_loss", "test_loss", "train_accuracy", "test_accuracy"):
            if key in m:
                row[key] = float(m[key].mean())
                row[f"{key}_std"] = float(m[key].std(ddof=1)) if len(m[key]) > 1 else 0.0
        row["weight_mean"], row["weight_std"] = sets.component_stats(thetas[name])
        row["distance_to_centroid"] = float(analysis.distance_to_centroid[groups == name].mean())
        row["distance_to_origin"] = float(analysis.distance_to_origin[groups == name].mean())
        for measure in ("height", "barrier"):
            h = heights.get(name, {}).get(measure)
            row[f"{measure}_median"] = float(np.median(h)) if h else float("nan")
        rows.append(row)
    return rows


def analyse_stacks(
    stacks: dict[str, Path],
    obj,
    test,
    *,
    out: Path,
    path_pairs: int,
    path_method: str,
    opts: dict[str, Any],
    kpca_gamma: float | None,
    seed: int,
    pool,
    task_common: dict[str, Any],
    progress: bool,
    rec,
) -> tuple[list[dict], dict[str, Any], list[dict], xr.Dataset, list[tuple[Path, str]]]:
    """Measure the given sets; (table, results, Fig. 4 tests, analysis, figures)."""
    theta = {name: load_solution_stack(p, obj.size) for name, p in stacks.items()}
    names = list(theta)
    with rec.timed("losses"):
        per_set = {n: losses(obj, test, t.to(obj.dtype)) for n, t in theta.items()}
    with rec.timed("sets"):
        analysis, numbers = geometry(
            {n: t.numpy().astype(np.float64) for n, t in theta.items()}, kpca_gamma, seed
        )
    for key in ("train_loss", "test_loss"):
        analysis[key] = (("point",), np.concatenate([per_set[n][key] for n in names]))
    heights: dict[str, dict[str, list[float]]] = {}
    tests: list[dict[str, Any]] = []
    results: dict[str, Any] = {}
    if path_pairs:
        rng = np.random.default_rng(seed)
        chosen = {n: draw_pairs(len(t), min(path_pairs, _most(t)), rng) for n, t in theta.items()}
        tasks = [
            {
                "set": n,
                "theta": str(stacks[n]),
                "pairs": chosen[n],
                "store": str(out / "barriers" / f"{n}.zarr"),
                "method": path_method,
                "options": opts,
                **task_common,
            }
            for n in names
        ]
        with rec.timed("paths"):
            found = pool.map(
                ts.set_barriers, tasks, progress=progress, description=f"{path_method} paths"
            )
        heights = dict(zip(names, found, strict=True))
        tests = ts.height_tests(heights, list(itertools.combinations(names, 2)))
        results |= ts.convergence(heights)
        results["path_pairs_share_endpoints"] = any(shares_endpoints(p) for p in chosen.values())
        for name in names:
            for end, col in (("pair_a", 0), ("pair_b", 1)):
                analysis[f"{end} {name}"] = ((f"pair {name}",), [p[col] for p in chosen[name]])
            for m, values in heights[name].items():
                analysis[f"{m} {name}"] = ((f"pair {name}",), np.asarray(values, float))
        results |= ts.fig4_results(tests)
    rows = table(names, per_set, analysis, heights, {n: t.numpy() for n, t in theta.items()})
    for row in rows:
        results[f"mean_train_loss {row['set']}"] = row["train_loss"]
        results[f"mean_test_loss {row['set']}"] = row["test_loss"]
    results |= numbers
    figs = draw(out, analysis, heights, numbers, names)
    return rows, results, tests, analysis, figs


def _most(theta: torch.Tensor) -> int:
    return len(theta) * (len(theta) - 1) // 2


def draw(out: Path, analysis: xr.Dataset, heights: dict, numbers: dict, names: list[str]):
    """The figures of the given sets (PNG and plotly JSON); (path, caption) pairs."""
    groups = analysis["point_set"].to_numpy()
    written = []
    if heights:
        values = {s: np.asarray(heights[s]["height"]) for s in names}
        kw = {"xlabel": "path height max_t L(θ(t)) (training loss)", "title": "Fig. 4"}
        written += save_figure(
            out, "heights", figures.histograms(values, **kw), figures.histograms_json(values, **kw),
            "Heights of the paths between random pairs of solutions within each set (Fig. 4)",
        )  # fmt: skip
    for key, label, caption in (
        ("distance_to_centroid", "‖θ − centroid of its set‖", "to its set's centroid"),
        ("distance_to_origin", "‖θ − mean of the centroids‖", "to the common origin"),
    ):
        values = {s: analysis[key].to_numpy()[groups == s] for s in names}
        kw = {"xlabel": label, "title": f"Distances {caption} (Fig. 5)"}
        written += save_figure(
            out, key.replace("distance_to_", "distances_"), figures.histograms(values, **kw),
            figures.histograms_json(values, **kw), f"Distance of each solution {caption} (Fig. 5)",
        )  # fmt: skip
    panels = {
        f"RBF kernel PCA (γ = {numbers['kpca_gamma']:.3g})": analysis["kpca"].to_numpy(),
        "linear PCA": analysis["pca"].to_numpy(),
    }
    labels = [str(g) for g in groups]
    written += save_figure(
        out, "kpca", figures.projections(panels, labels), figures.projections_json(panels, labels),
        "The sets by RBF kernel PCA and by linear PCA (Fig. 6)",
    )  # fmt: skip
    return written

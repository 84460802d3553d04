"""The pieces of the optimizer-topography study: the kept runs, their four solution sets,
the sets' statistics, the paths within each set, Table 1 and the figures.

Set names: "sgd-train", "sgd-test", "lbfgs-gss-train", "lbfgs-gss-test": an
optimizer's final weights ("train": the minimum of the training curve) and its
early-stopped weights ("test": the minimum of the test curve), as in the
optimizer-strategies paper §III.1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from lossatlas.core.objective import Objective
from lossatlas.geometry import solution_sets as sets
from lossatlas.paths.matrix import MEASURES, SETTLED, barrier_matrix
from lossatlas.results.inputs import default_loss
from lossatlas.studies import figures
from lossatlas.studies.common import objective_for, save_figure
from lossatlas.studies.runner import build_model, load_split

OPTIMIZERS = ("sgd", "lbfgs-gss")
SETS = ("sgd-train", "sgd-test", "lbfgs-gss-train", "lbfgs-gss-test")
FILES = {"train": "final.pt", "test": "early_stopped.pt"}
# Fig. 5 and 6 compare the weights one would use from SGD with L-BFGS-GSS's overfit ones
PAIR = ("sgd-test", "lbfgs-gss-train")
PATH_METHODS = ("fourier", "linear", "bezier")


def run_key(optimizer: str, index: int) -> str:
    """The folder key of run `index` of an optimizer, e.g. runs/sgd/003."""
    return f"runs/{optimizer}/{index:03d}"


def best(summaries: list[dict], keep: int) -> list[int]:
    """Indices of the `keep` runs with the lowest final training loss (NaN and diverged
    runs last), sorted."""
    losses = np.array([s.get("final_train_loss", np.nan) for s in summaries], dtype=float)
    losses[[bool(s.get("diverged")) for s in summaries]] = np.nan
    order = np.argsort(np.where(np.isfinite(losses), losses, np.inf), kind="stable")
    return sorted(int(i) for i in order[:keep])


def runs_dataset(by_opt: dict[str, list[dict]], kept: dict[str, list[int]]) -> xr.Dataset:
    """Every run's losses and whether it was kept [optimizer, run]."""
    names = [
        "final_train_loss",
        "final_test_loss",
        "best_train_loss",
        "best_test_loss",
        "final_train_accuracy",
        "final_test_accuracy",
        "best_test_accuracy",
        "best_step",
        "seconds",
        "diverged",
        "stable",
    ]
    runs = len(by_opt[OPTIMIZERS[0]])
    data = {
        n: (("optimizer", "run"), np.array([[s[n] for s in by_opt[o]] for o in OPTIMIZERS], float))
        for n in names
        if all(n in s for o in OPTIMIZERS for s in by_opt[o])
    }
    mask = [[i in kept[o] for i in range(runs)] for o in OPTIMIZERS]
    data["kept"] = (("optimizer", "run"), np.array(mask))
    return xr.Dataset(data, coords={"optimizer": list(OPTIMIZERS), "run": np.arange(runs)})


def solutions_dataset(obj: Objective, out: Path, kept: dict[str, list[int]]) -> xr.Dataset:
    """θ of the kept runs [set, solution, parameter] with their run indices."""
    theta, runs = [], []
    for name in SETS:
        opt, weights = name.rsplit("-", 1)
        files = [out / run_key(opt, i) / FILES[weights] for i in kept[opt]]
        theta.append(torch.stack([obj.load_point(f) for f in files]).cpu().numpy())
        runs.append(kept[opt])
    return xr.Dataset(
        {
            "theta": (("set", "solution", "parameter"), np.stack(theta)),
            "run": (("set", "solution"), np.asarray(runs)),
        },
        coords={"set": list(SETS), "solution": np.arange(len(runs[0]))},
        attrs={"parameters": obj.size},
    )


def _separation(coords: np.ndarray, groups: np.ndarray) -> float:
    """The separation of the two sets of `PAIR` along the first component."""
    return sets.separation(coords, groups == PAIR[0], groups == PAIR[1])


def analyse(theta: np.ndarray, gamma: float | None, seed: int) -> tuple[xr.Dataset, dict]:
    """Distances to centroids (Fig. 5) and kernel/linear PCA (Fig. 6) of the sets [4, S, n]."""
    index = {s: i for i, s in enumerate(SETS)}
    theta = theta.astype(np.float64)
    own = np.stack([sets.centroid_distances(t) for t in theta])
    centres = [theta[index[s]].mean(0) for s in PAIR]
    origin = 0.5 * (centres[0] + centres[1])
    common = np.stack([sets.centroid_distances(t, origin) for t in theta])
    pooled = np.concatenate([theta[index[s]] for s in PAIR])
    groups = np.repeat(list(PAIR), theta.shape[1])
    kcoords, g, eig = sets.kernel_pca_coordinates(pooled, 2, gamma=gamma, seed=seed)
    lcoords, ratio = sets.linear_pca(pooled, 2)
    numbers = {
        "kpca_gamma": g,
        "kpca_separation": _separation(kcoords, groups),
        "pca_separation": _separation(lcoords, groups),
        "centroid_separation": float(np.linalg.norm(centres[0] - centres[1])),
    }
    ds = xr.Dataset(
        {
            "distance_to_centroid": (("set", "solution"), own),
            "distance_to_origin": (("set", "solution"), common),
            "kpca": (("point", "component"), kcoords),
            "pca": (("point", "component"), lcoords),
            "point_set": (("point",), groups.astype(str)),
        },
        coords={"set": list(SETS), "solution": np.arange(theta.shape[1]), "component": [1, 2]},
        attrs={
            **numbers,
            "kpca_eigenvalues": eig.tolist(),
            "pca_explained": ratio.tolist(),
            "kernel": "rbf exp(-gamma |x-y|^2)",
            "origin": "½(centroid of sgd-test + centroid of lbfgs-gss-train)",
        },
    )
    return ds, numbers


def path_options(method: str, points: int, terms: int, steps: int, lr: float, penalty: float):
    """The keyword arguments of the chosen path method (linear, bezier or fourier)."""
    if method not in PATH_METHODS:
        raise ValueError(f"`path_method` must be one of {PATH_METHODS}; got {method!r}.")
    if method == "linear":
        return {"points": points}
    if method == "bezier":
        return {"points": points, "steps": steps, "lr": lr}
    return {"points": points, "terms": terms, "steps": steps, "lr": lr, "penalty": penalty}


def set_barriers(task: dict[str, Any]) -> dict[str, list[float]]:
    """Path measures between the chosen pairs of one set's solutions (a worker task;
    resumable pair by pair in its own store), in the order of `task["pairs"]`."""
    split = load_split(task["data"], task["data_kwargs"])
    net = build_model(task["model"], split, task["model_kwargs"])
    dtype = torch.float64 if task["float64"] else torch.float32
    obj = objective_for(net, split.train, default_loss(split), dtype, task["device"])
    if "theta" in task:  # a stack given as a file, passed on as its path
        from lossatlas.core.points import load_solution_stack

        theta = load_solution_stack(task["theta"], obj.size).numpy()
        labels = [str(i) for i in range(len(theta))]
    else:
        stack = xr.open_zarr(task["solutions"], consolidated=False)
        theta = stack["theta"].sel(set=task["set"]).to_numpy()
        labels = [str(r) for r in stack["run"].sel(set=task["set"]).to_numpy()]
    pairs = [tuple(p) for p in task["pairs"]]
    ds = barrier_matrix(
        obj,
        [torch.from_numpy(t).to(dtype) for t in theta],
        task["method"],
        labels=labels,
        pairs=pairs,
        store=task["store"],
        progress=False,
        redo_on_new_solutions=True,  # derived from this study's runs: redo when they were
        **task["options"],
    )
    return {m: [float(ds[m].to_numpy()[i, j]) for i, j in pairs] for m in MEASURES}


def add_heights(analysis: xr.Dataset, heights: dict, pairs: dict[str, list]) -> None:
    """The path measures [set, pair] and each pair's solutions (`pair_a`, `pair_b`)."""
    names = list(heights)
    for m in MEASURES:
        analysis[m] = (("set", "pair"), np.array([heights[s][m] for s in names]))
    for end, col in (("pair_a", 0), ("pair_b", 1)):
        analysis[end] = (("set", "pair"), np.array([[p[col] for p in pairs[s]] for s in names]))


def height_tests(heights: dict, comparisons: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Fig. 4 as a test: a two-sided Mann–Whitney U test of heights and barriers per
    comparison of two sets, with the number of pairs on each side."""
    rows = []
    for a, b in comparisons:
        for measure in ("height", "barrier"):
            test = sets.mann_whitney(heights[a][measure], heights[b][measure])
            rows.append({"comparison": f"{a} vs {b}", "measure": measure, **test})
    return rows


def fig4_results(tests: list[dict[str, Any]]) -> dict[str, float]:
    """The p-value of every Fig. 4 test as a key number."""
    return {
        f"fig4 {row['measure']} {row['comparison']}: p (Mann–Whitney, two-sided)": row["p"]
        for row in tests
    }


def record(rec, table: list[dict], results: dict, tests: list[dict], figs) -> None:
    """A study's table, key numbers, Fig. 4 tests and figures into its manifest."""
    rec.results.update(results)
    rec.table("table1", table)
    if tests:
        rec.table("fig4_tests", tests)
    for path, caption in figs:
        rec.figure(path, caption)


def convergence(heights: dict) -> dict[str, Any]:
    """How many paths converged (`PathResult.settled` below `SETTLED`) and the worst one."""
    settled = np.concatenate([np.asarray(h["settled"], float) for h in heights.values()])
    return {
        "paths": int(settled.size),
        "paths_converged": int((settled < SETTLED).sum()),
        "path_settled_max": float(settled.max()) if settled.size else float("nan"),
        "path_converged_criterion": f"height moved < {SETTLED:.0%} over the last 10% of steps",
    }


def table1(
    by_opt, kept, analysis: xr.Dataset, heights: dict, solutions: xr.Dataset | None = None
) -> list[dict[str, Any]]:
    """Table 1 and more: mean losses of the kept runs, mean distances to the set's
    centroid, median path heights (eq. 5) and barriers (height − the higher endpoint),
    and with `solutions` Table S1: the mean and standard deviation of the components of
    each set's weights."""
    rows = []
    for o in OPTIMIZERS:
        ks = [by_opt[o][i] for i in kept[o]]
        dist = analysis["distance_to_centroid"]
        row = {
            "optimizer": o,
            "runs": len(by_opt[o]),
            "diverged": sum(bool(s.get("diverged")) for s in by_opt[o]),
            "unstable": sum(not s.get("stable", True) for s in by_opt[o]),
            "kept": len(ks),
            "kept_diverged": sum(bool(s.get("diverged")) for s in ks),
            "train_loss": float(np.mean([s["final_train_loss"] for s in ks])),
            "test_loss": float(np.mean([s.get("best_test_loss", np.nan) for s in ks])),
            "test_loss_final": float(np.mean([s.get("final_test_loss", np.nan) for s in ks])),
            "distance_train": float(dist.sel(set=f"{o}-train").mean()),
            "distance_test": float(dist.sel(set=f"{o}-test").mean()),
        }
        for w in ("train", "test") if solutions is not None else ():
            theta = solutions["theta"].sel(set=f"{o}-{w}").to_numpy()
            row[f"weight_mean_{w}"], row[f"weight_std_{w}"] = sets.component_stats(theta)
        for measure in ("height", "barrier"):  # eq. 5, and above the higher endpoint
            for w in ("train", "test"):
                h = heights.get(f"{o}-{w}", {}).get(measure)
                row[f"{measure}_{w}"] = float(np.median(h)) if h else float("nan")
        rows.append(row)
    return rows


def draw(out: Path, kept, analysis: xr.Dataset, heights: dict, numbers: dict):
    """Write the figures (PNG and plotly JSON); return (path, caption) pairs."""
    histories = {
        o: [json.loads((out / run_key(o, i) / "history.json").read_text()) for i in kept[o]]
        for o in OPTIMIZERS
    }
    written = save_figure(
        out,
        "curves",
        figures.curves(histories),
        None,
        "Training (solid) and test (dashed) loss of the kept runs (paper Fig. 2, S1)",
    )
    if heights:
        values = {s: np.asarray(heights[s]["height"]) for s in SETS}
        kw = {
            "xlabel": "path height max_t L(θ(t)) (training loss)",
            "title": "Path heights within each set (Fig. 4)",
        }
        written += save_figure(
            out,
            "heights",
            figures.histograms(values, **kw),
            figures.histograms_json(values, **kw),
            "Heights of the paths between pairs of solutions within each set (paper Fig. 4)",
        )
    own = {s: analysis["distance_to_centroid"].sel(set=s).to_numpy() for s in SETS}
    kw = {"xlabel": "‖θ − centroid of its set‖", "title": "Distances to the set's centroid"}
    written += save_figure(
        out,
        "distances",
        figures.histograms(own, **kw),
        figures.histograms_json(own, **kw),
        "Distance of each solution to its set's centroid (paper Fig. 5)",
    )
    pair = {s: analysis["distance_to_origin"].sel(set=s).to_numpy() for s in PAIR}
    kw = {
        "xlabel": "‖θ − ½(c_SGD + c_BFGS)‖",
        "title": "Distances to the common origin (Fig. 5)",
        "lines": {"‖c_SGD − c_BFGS‖": numbers["centroid_separation"]},
    }
    written += save_figure(
        out,
        "origin_distances",
        figures.histograms(pair, **kw),
        figures.histograms_json(pair, **kw),
        "SGD test and L-BFGS-GSS train weights: distance to the common "
        "origin, the centroids' separation dotted (paper Fig. 5)",
    )
    groups = analysis["point_set"].to_numpy().tolist()
    panels = {
        f"RBF kernel PCA (γ = {numbers['kpca_gamma']:.3g})": analysis["kpca"].to_numpy(),
        "linear PCA": analysis["pca"].to_numpy(),
    }
    written += save_figure(
        out,
        "kpca",
        figures.projections(panels, groups),
        figures.projections_json(panels, groups),
        "SGD test and L-BFGS-GSS train weights by RBF kernel PCA and by linear PCA (paper Fig. 6)",
    )
    return written

"""The optimizer-topography experiment: SGD against L-BFGS-GSS, whole.

The optimizer-strategies paper (§III) trains a network R times from
independent initialisations with SGD (mini-batches of 64) and with L-BFGS-GSS
(full batch), keeps the S runs of each with the lowest training loss (R = 75,
S = 48) and compares four sets of solutions: the final weights ("train", the
minimum of the training curve) and the early-stopped weights ("test", the
minimum of the test curve) of each optimizer. It reports

- Table 1: the mean training loss of the train weights and the mean test loss
  of the test weights per optimizer (L-BFGS-GSS fits the training data far
  more closely; the test losses are comparable);
- Fig. 4: FourierPathFinder path heights (eq. 5) between pairs within each set
  (SGD's are lower);
- Fig. 5: distances of the solutions to their set's centroid and to the
  common origin ½(c_SGD + c_BFGS) (L-BFGS-GSS's lie farther out);
- Fig. 6: RBF kernel PCA of the pooled SGD test and L-BFGS-GSS train weights
  (separated along the first component) next to linear PCA (not separated).

Run i of both optimizers starts from the same initialisation (seed + i), so
the sets differ by the optimizer alone. Runs are trained in parallel
(`workers`) and resumed after a kill (`studies.runner`); the path heights fill
resumable stores pair by pair (`paths.barrier_matrix`).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from lossatlas import manifest, plot
from lossatlas.files import write_dataset, write_json
from lossatlas.inputs import default_loss
from lossatlas.paths.matrix import MEASURES, barrier_matrix
from lossatlas.studies import figures, sets
from lossatlas.studies.common import StudyResult, check_positive, load_theta, objective_for
from lossatlas.studies.runner import RunSpec, Workers, build_model, load_split, run_all

OPTIMIZERS = ("sgd", "lbfgs-gss")
SETS = ("sgd-train", "sgd-test", "lbfgs-gss-train", "lbfgs-gss-test")
PATH_METHODS = ("fourier", "linear", "bezier")


def _separation(coords: np.ndarray, groups: np.ndarray, a: str, b: str) -> float:
    """|mean_a − mean_b| / √(½(var_a + var_b)) along the first component."""
    xa, xb = coords[groups == a, 0], coords[groups == b, 0]
    pooled = np.sqrt(0.5 * (xa.var() + xb.var()))
    return float(abs(xa.mean() - xb.mean()) / pooled) if pooled > 0 else float("inf")


def _set_barriers(task: dict[str, Any]) -> dict[str, list[float]]:
    """Path heights between every pair of one set's chosen solutions (a worker task)."""
    split = load_split(task["data"], task["data_kwargs"])
    net = build_model(task["model"], split, task["model_kwargs"])
    dtype = torch.float64 if task["float64"] else torch.float32
    obj = objective_for(net, split.train, default_loss(split), dtype)
    stack = xr.open_zarr(task["solutions"], consolidated=False)
    theta = stack["theta"].sel(set=task["set"]).to_numpy()[task["indices"]]
    points = [torch.from_numpy(t).to(dtype) for t in theta]
    labels = [str(r) for r in stack["run"].sel(set=task["set"]).to_numpy()[task["indices"]]]
    ds = barrier_matrix(
        obj,
        points,
        labels,
        method=task["method"],
        store=task["store"],
        progress=False,
        **task["options"],
    )
    upper = np.triu_indices(len(points), 1)
    return {m: ds[m].to_numpy()[upper].tolist() for m in MEASURES}


def _path_options(method: str, points: int, terms: int, steps: int, lr: float, penalty: float):
    if method not in PATH_METHODS:
        raise ValueError(f"`path_method` must be one of {PATH_METHODS}; got {method!r}.")
    if method == "linear":
        return {"points": points}
    if method == "bezier":
        return {"points": points, "steps": steps, "lr": lr}
    return {"points": points, "terms": terms, "steps": steps, "lr": lr, "penalty": penalty}


def optimizers(
    model: str = "fcp",
    data: str = "digits",
    *,
    out: str | PathLike,
    runs: int = 8,
    keep: int = 6,
    sgd_epochs: int = 30,
    sgd_lr: float = 0.1,
    batch_size: int = 64,
    lbfgs_iterations: int = 150,
    max_evals: int = 6,
    path_solutions: int | None = None,
    path_method: str = "fourier",
    path_points: int = 21,
    path_terms: int = 10,
    path_steps: int = 30,
    path_lr: float = 1e-3,
    path_penalty: float = 1e-3,
    kpca_gamma: float | None = None,
    seed: int = 0,
    workers: int | None = 1,
    threads: int = 1,
    model_kwargs: dict[str, Any] | None = None,
    data_kwargs: dict[str, Any] | None = None,
    float64: bool = False,
    progress: bool = True,
) -> StudyResult:
    """SGD against L-BFGS-GSS solution sets (the optimizer-strategies paper, §III).

    Defaults take a few minutes on 2 CPU cores with the FCP on digits; the
    paper's settings are runs=75, keep=48, path_points=51, path_steps=100
    (and its MNIST data and epochs).

    Args:
        model, data: zoo names or specs (`lossatlas.inputs`).
        out: the study's folder; rerunning with it resumes.
        runs: R runs per optimizer, from initialisations seed, seed + 1, ...
        keep: S runs kept per optimizer, those with the lowest final training loss.
        sgd_epochs, sgd_lr, batch_size: SGD (paper: mini-batches of 64).
        lbfgs_iterations, max_evals: L-BFGS-GSS full-batch iterations and its
            line-search budget (paper: 6).
        path_solutions: solutions per set, drawn at random (seeded), joined
            pairwise by paths (Fig. 4); 0 skips the paths; None: min(4, keep).
        path_method: "fourier" (FourierPathFinder, the paper's), "linear" or "bezier".
        path_points, path_terms, path_steps, path_lr, path_penalty: the path
            method's settings (paper: 51 points, 10 terms, 100 Adam steps at
            1e-3, λ = 1e-3).
        kpca_gamma: RBF γ; None: 1/median‖θ_i − θ_j‖² (`sets.median_gamma`).
        seed: first initialisation seed; also seeds the choice of path pairs.
        workers: processes for the runs and the path sets (None: all cores).
        threads: torch threads per run, the same in serial and parallel runs.
        float64: train and measure in float64.

    Returns:
        `StudyResult`; `out` holds runs/, solutions.zarr, runs.zarr,
        analysis.zarr, barriers/, the figures and lossatlas.json.

    Raises:
        ValueError: keep > runs, fewer than 2 runs or kept, path_solutions
            outside {0} ∪ [2, keep], or an unknown path method.
    """
    check_positive(runs=(runs, 2), keep=(keep, 2), sgd_epochs=(sgd_epochs, 1))
    path_solutions = min(4, keep) if path_solutions is None else path_solutions
    check_positive(lbfgs_iterations=(lbfgs_iterations, 1), path_solutions=(path_solutions, 0))
    if keep > runs:
        raise ValueError(f"`keep` ({keep}) must be at most `runs` ({runs}).")
    if path_solutions == 1 or path_solutions > keep:
        raise ValueError(
            f"`path_solutions` must be 0 (no paths) or from 2 to `keep` ({keep}); "
            f"got {path_solutions}."
        )
    opts = _path_options(path_method, path_points, path_terms, path_steps, path_lr, path_penalty)
    out = Path(out)
    model_kwargs, data_kwargs = dict(model_kwargs or {}), dict(data_kwargs or {})
    settings = {
        "model": model,
        "data": data,
        "runs": runs,
        "keep": keep,
        "sgd_epochs": sgd_epochs,
        "sgd_lr": sgd_lr,
        "batch_size": batch_size,
        "lbfgs_iterations": lbfgs_iterations,
        "max_evals": max_evals,
        "path_solutions": path_solutions,
        "path_method": path_method,
        "path_options": opts,
        "kpca_gamma": kpca_gamma,
        "seed": seed,
        "threads": threads,
        "model_kwargs": model_kwargs,
        "data_kwargs": data_kwargs,
        "float64": float64,
    }
    title = "Optimizer strategies: SGD against L-BFGS-GSS solution sets"
    with (
        manifest.record(out, "study optimizers", settings, title=title) as rec,
        Workers(workers, threads) as pool,
    ):
        common = {
            "model": model,
            "data": data,
            "model_kwargs": model_kwargs,
            "data_kwargs": data_kwargs,
            "float64": float64,
            "batch_size": batch_size,
        }
        specs = [
            RunSpec(
                key=f"runs/{opt}/{i:03d}",
                optimizer=opt,
                init_seed=seed + i,
                seed=seed + i,
                epochs=sgd_epochs if opt == "sgd" else lbfgs_iterations,
                lr=sgd_lr if opt == "sgd" else None,
                max_evals=max_evals,
                **common,
            )
            for opt in OPTIMIZERS
            for i in range(runs)
        ]
        with rec.timed("training"):
            summaries = run_all(specs, out, workers=pool, progress=progress)
        by_opt = {o: [s for s in summaries if s["optimizer"] == o] for o in OPTIMIZERS}
        kept = {o: _best(by_opt[o], keep) for o in OPTIMIZERS}
        split = load_split(data, data_kwargs)
        dtype = torch.float64 if float64 else torch.float32
        obj = objective_for(
            build_model(model, split, model_kwargs), split.train, default_loss(split), dtype
        )
        stacks, run_ids = [], []
        for name in SETS:
            opt, weights = name.rsplit("-", 1)
            file = "final.pt" if weights == "train" else "early_stopped.pt"
            idx = kept[opt]
            stacks.append(
                torch.stack([load_theta(obj, out / specs_key(opt, i) / file) for i in idx])
            )
            run_ids.append(idx)
        theta = torch.stack(stacks).cpu().numpy()  # [set, solution, parameter]
        solutions = xr.Dataset(
            {
                "theta": (("set", "solution", "parameter"), theta),
                "run": (("set", "solution"), np.asarray(run_ids)),
            },
            coords={"set": list(SETS), "solution": np.arange(keep)},
            attrs={"model": model, "data": data, "parameters": obj.size},
        )
        write_dataset(solutions, out / "solutions.zarr")
        runs_ds = _runs_dataset(by_opt, kept)
        write_dataset(runs_ds, out / "runs.zarr")

        with rec.timed("sets"):
            analysis, numbers = _analyse(theta, kpca_gamma, seed)
        heights: dict[str, dict[str, list[float]]] = {}
        if path_solutions:
            rng = np.random.default_rng(seed)
            chosen = {
                o: np.sort(rng.choice(keep, path_solutions, replace=False)).tolist()
                for o in OPTIMIZERS
            }
            tasks = [
                {
                    "set": name,
                    "indices": chosen[name.rsplit("-", 1)[0]],
                    "solutions": str(out / "solutions.zarr"),
                    "store": str(out / "barriers" / f"{name}.zarr"),
                    "method": path_method,
                    "options": opts,
                    **common,
                }
                for name in SETS
            ]
            with rec.timed("paths"):
                found = pool.map(
                    _set_barriers,
                    tasks,
                    description=f"{path_method} paths per set",
                    progress=progress,
                )
            heights = dict(zip(SETS, found, strict=True))
            pairs = np.array(np.triu_indices(path_solutions, 1)).T
            for m in MEASURES:
                analysis[m] = (("set", "pair"), np.array([heights[s][m] for s in SETS]))
            for end, col in (("pair_a", 0), ("pair_b", 1)):
                analysis[end] = (
                    ("set", "pair"),
                    np.array(
                        [[chosen[s.rsplit("-", 1)[0]][p] for p in pairs[:, col]] for s in SETS]
                    ),
                )
        write_dataset(analysis, out / "analysis.zarr")

        table = _table(by_opt, kept, analysis, heights)
        results = {
            "mean_train_loss": {r["optimizer"]: r["train_loss"] for r in table},
            "mean_test_loss": {r["optimizer"]: r["test_loss"] for r in table},
            "lbfgs_lower_train_loss": table[1]["train_loss"] < table[0]["train_loss"],
            **numbers,
        }
        figs = _figures(out, by_opt, kept, analysis, heights, numbers)
        rec.results.update(results)
        rec.table("table1", table)
        for path, caption in figs:
            rec.figure(path, caption)
        for name in ("runs.zarr", "solutions.zarr", "analysis.zarr"):
            rec.array(out / name)
        if heights:
            for name in SETS:
                rec.array(out / "barriers" / f"{name}.zarr")
    return StudyResult(
        out=out,
        table=table,
        results=results,
        datasets={"runs": runs_ds, "solutions": solutions, "analysis": analysis},
        figures=[p for p, _ in figs],
    )


def specs_key(optimizer: str, index: int) -> str:
    return f"runs/{optimizer}/{index:03d}"


def _best(summaries: list[dict], keep: int) -> list[int]:
    """Indices of the `keep` runs with the lowest final training loss (NaN last), sorted."""
    losses = np.array([s.get("final_train_loss", np.nan) for s in summaries], dtype=float)
    order = np.argsort(np.where(np.isfinite(losses), losses, np.inf), kind="stable")
    return sorted(int(i) for i in order[:keep])


def _runs_dataset(by_opt: dict[str, list[dict]], kept: dict[str, list[int]]) -> xr.Dataset:
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
    ]
    data = {}
    for n in names:
        if all(n in s for runs in by_opt.values() for s in runs):
            data[n] = (
                ("optimizer", "run"),
                np.array([[s[n] for s in by_opt[o]] for o in OPTIMIZERS], dtype=float),
            )
    r = len(by_opt[OPTIMIZERS[0]])
    data["kept"] = (
        ("optimizer", "run"),
        np.array([[i in kept[o] for i in range(r)] for o in OPTIMIZERS]),
    )
    return xr.Dataset(data, coords={"optimizer": list(OPTIMIZERS), "run": np.arange(r)})


def _analyse(theta: np.ndarray, gamma: float | None, seed: int) -> tuple[xr.Dataset, dict]:
    """Distances to centroids (Fig. 5) and kernel/linear PCA (Fig. 6) of the sets [4, S, n]."""
    index = {s: i for i, s in enumerate(SETS)}
    own = np.stack([sets.centroid_distances(t) for t in theta])
    c_sgd, c_bfgs = theta[index["sgd-test"]].mean(0), theta[index["lbfgs-gss-train"]].mean(0)
    origin = 0.5 * (c_sgd.astype(np.float64) + c_bfgs)
    common = np.stack([sets.centroid_distances(t, origin) for t in theta])
    pooled = np.concatenate([theta[index["sgd-test"]], theta[index["lbfgs-gss-train"]]])
    groups = np.repeat(["sgd-test", "lbfgs-gss-train"], theta.shape[1])
    kcoords, g, eig = sets.kernel_pca(pooled, 2, gamma=gamma, seed=seed)
    lcoords, ratio = sets.linear_pca(pooled, 2)
    numbers = {
        "kpca_gamma": g,
        "kpca_separation": _separation(kcoords, groups, "sgd-test", "lbfgs-gss-train"),
        "pca_separation": _separation(lcoords, groups, "sgd-test", "lbfgs-gss-train"),
        "centroid_separation": float(np.linalg.norm(c_sgd.astype(np.float64) - c_bfgs)),
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


def _table(by_opt, kept, analysis: xr.Dataset, heights: dict) -> list[dict[str, Any]]:
    rows = []
    for o in OPTIMIZERS:
        ks = [by_opt[o][i] for i in kept[o]]
        row = {
            "optimizer": o,
            "runs": len(by_opt[o]),
            "kept": len(ks),
            "train_loss": float(np.mean([s["final_train_loss"] for s in ks])),
            "test_loss": float(np.mean([s.get("best_test_loss", np.nan) for s in ks])),
            "test_loss_final": float(np.mean([s.get("final_test_loss", np.nan) for s in ks])),
            "distance_train": float(analysis["distance_to_centroid"].sel(set=f"{o}-train").mean()),
            "distance_test": float(analysis["distance_to_centroid"].sel(set=f"{o}-test").mean()),
        }
        for w in ("train", "test"):
            h = heights.get(f"{o}-{w}", {}).get("height")
            row[f"height_{w}"] = float(np.median(h)) if h else float("nan")
        rows.append(row)
    return rows


def _figures(out: Path, by_opt, kept, analysis: xr.Dataset, heights: dict, numbers: dict):
    """Write the figures; return (path, caption) pairs."""
    import json

    written = []

    def both(name: str, fig, fig_json, caption: str) -> None:
        written.append((plot.save(fig, out / f"{name}.png"), caption))
        written.append((write_json(out / f"{name}.plotly.json", fig_json), caption))

    histories = {
        o: [json.loads((out / specs_key(o, i) / "history.json").read_text()) for i in kept[o]]
        for o in OPTIMIZERS
    }
    written.append(
        (
            plot.save(figures.curves(histories), out / "curves.png"),
            "Training (solid) and test (dashed) loss of the kept runs (paper Fig. 2, S1)",
        )
    )
    if heights:
        values = {s: np.asarray(heights[s]["height"]) for s in SETS}
        kw = {
            "xlabel": "path height max_t L(θ(t)) (training loss)",
            "title": "Path heights within each set (Fig. 4)",
        }
        both(
            "heights",
            figures.histograms(values, **kw),
            figures.histograms_json(values, **kw),
            "Heights of the paths between pairs of solutions within each set (paper Fig. 4)",
        )
    own = {s: analysis["distance_to_centroid"].sel(set=s).to_numpy() for s in SETS}
    kw = {"xlabel": "‖θ − centroid of its set‖", "title": "Distances to the set's centroid"}
    both(
        "distances",
        figures.histograms(own, **kw),
        figures.histograms_json(own, **kw),
        "Distance of each solution to its set's centroid (paper Fig. 5)",
    )
    pair = {
        s: analysis["distance_to_origin"].sel(set=s).to_numpy()
        for s in ("sgd-test", "lbfgs-gss-train")
    }
    lines = {"‖c_SGD − c_BFGS‖": numbers["centroid_separation"]}
    kw = {"xlabel": "‖θ − ½(c_SGD + c_BFGS)‖", "title": "Distances to the common origin (Fig. 5)"}
    both(
        "origin_distances",
        figures.histograms(pair, lines=lines, **kw),
        figures.histograms_json(pair, lines=lines, **kw),
        "SGD test and L-BFGS-GSS train weights: distance to the common origin, with the "
        "centroids' separation dotted (paper Fig. 5)",
    )
    groups = analysis["point_set"].to_numpy().tolist()
    panels = {
        f"RBF kernel PCA (γ = {numbers['kpca_gamma']:.3g})": analysis["kpca"].to_numpy(),
        "linear PCA": analysis["pca"].to_numpy(),
    }
    both(
        "kpca",
        figures.projections(panels, groups),
        figures.projections_json(panels, groups),
        "SGD test and L-BFGS-GSS train weights by RBF kernel PCA and by linear PCA (paper Fig. 6)",
    )
    return written

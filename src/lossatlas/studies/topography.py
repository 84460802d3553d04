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
- Fig. 4: FourierPathFinder path heights (eq. 5) between random pairs within
  each set (SGD's are lower), the pairs without shared endpoints so that they
  are independent samples, compared by a two-sided Mann–Whitney U test;
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

from lossatlas.optim.train import SCHEDULES
from lossatlas.paths.matrix import draw_pairs, shares_endpoints
from lossatlas.results import manifest
from lossatlas.results.files import write_dataset
from lossatlas.results.inputs import default_loss
from lossatlas.studies import topography_sets as ts
from lossatlas.studies.common import (
    StudyResult,
    check_positive,
    objective_for,
    settings_from,
    study_device,
)
from lossatlas.studies.pool import Workers
from lossatlas.studies.runner import RunSpec, build_model, load_split, run_all

# Fig. 4 compares the optimizers' sets of the same weights (final with final, early-stopped
# with early-stopped).
COMPARISONS = [("sgd-train", "lbfgs-gss-train"), ("sgd-test", "lbfgs-gss-test")]


def optimizers(
    model: str = "fcp",
    data: str = "digits",
    *,
    out: str | PathLike,
    runs: int = 8,
    keep: int = 6,
    sgd_epochs: int = 60,
    sgd_lr: float = 0.02,
    sgd_momentum: float = 0.9,
    sgd_schedule: str = "cosine",
    batch_size: int = 64,
    lbfgs_iterations: int = 150,
    max_evals: int = 6,
    path_pairs: int | None = None,
    path_method: str = "fourier",
    path_points: int = 51,
    path_terms: int = 10,
    path_steps: int = 100,
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
    device: str | torch.device | None = None,
    sets: dict[str, str | PathLike] | None = None,
) -> StudyResult:
    """SGD against L-BFGS-GSS solution sets (the optimizer-strategies paper, §III).

    With `sets` (name → a [k, n] .npy/.pt stack of flat solutions, e.g. the authors'
    published `*_best48_weights.npy`) nothing is trained: the given sets are measured
    as the trained ones are (`topography_stacks`: Table 1 mean losses with their
    standard deviations, Table S1 weight components' mean and s.d., Fig. 5
    distances, Fig. 6 kernel against linear PCA, Fig. 4 paths on random pairs with
    Mann–Whitney tests between every two sets).

    Defaults take a few minutes on 2 CPU cores with the FCP on digits; the
    paper's settings are runs=75, keep=48 (and its MNIST data and epochs); the
    path settings are the paper's (51 points, 100 steps), at which the paths
    have converged (`PathResult.settled` < 1%: the path's summed loss moved by
    less than 1% over its last 10 steps; `results["paths_converged"]` counts them).

    Args:
        model, data: zoo names or specs (`lossatlas.results.inputs`).
        out: the study's folder; rerunning with it resumes.
        runs: R runs per optimizer, from initialisations seed, seed + 1, ...
        keep: S runs kept per optimizer, those with the lowest final training loss.
        sgd_epochs, sgd_lr, sgd_momentum, sgd_schedule, batch_size: SGD (paper:
            mini-batches of 64). The defaults are chosen so that every SGD run
            converges (`optim.train.stable`; benchmarks/sgd_settings.py): plain SGD
            at batch 64 on the FCP spikes at every rate that trains in 60 epochs
            (0.1: 0 of 8 runs stable, 1 diverged; 0.05: 0 of 8), while heavy-ball
            momentum 0.9 with a cosine decay from 0.02 gave 8 of 8 stable at a final
            training loss of 0.080–0.088 on digits.
        lbfgs_iterations, max_evals: L-BFGS-GSS full-batch iterations and its
            line-search budget (paper: 6).
        path_pairs: pairs of solutions per set joined by paths (Fig. 4), drawn at
            random (seeded) without shared endpoints while 2·path_pairs ≤ keep;
            0 skips the paths; None: min(keep // 2, 12).
        path_method: "fourier" (FourierPathFinder, the paper's), "linear" or "bezier".
        path_points, path_terms, path_steps, path_lr, path_penalty: the path
            method's settings (paper: 51 points, 10 terms, 100 Adam steps at
            1e-3, λ = 1e-3).
        kpca_gamma: RBF γ; None: 1/median‖θ_i − θ_j‖² (`solutions.median_gamma`).
        seed: first initialisation seed; also seeds the choice of path pairs.
        workers: processes for the runs and the path sets (None: all cores).
        threads: torch threads per run, the same in serial and parallel runs.
        float64: train and measure in float64.
        sets: solution sets from files instead of training (one, or several to
            compare); the training settings are then unused.
        device: where every run trains and every loss is evaluated, in this
            process and the workers ("cpu", "cuda", "cuda:1", "mps"; None: the
            CPU). Recorded in the manifest, but a study begun on one device
            resumes on another.

    Returns:
        `StudyResult`; `out` holds runs/, solutions.zarr, runs.zarr,
        analysis.zarr, barriers/, the figures and lossatlas.json.

    Raises:
        ValueError: keep > runs, fewer than 2 runs or kept, path_pairs outside
            0 … keep·(keep − 1)/2, or an unknown path method.
        DeviceUnavailable: a device this machine does not have.
    """
    settings = settings_from(locals())
    settings["device"] = device = study_device(device)
    if sets is not None:
        return _from_files(settings, locals())
    check_positive(runs=(runs, 2), keep=(keep, 2), sgd_epochs=(sgd_epochs, 1))
    if sgd_schedule not in SCHEDULES:
        raise ValueError(f"`sgd_schedule` must be 'constant' or 'cosine'; got {sgd_schedule!r}.")
    path_pairs = min(keep // 2, 12) if path_pairs is None else path_pairs
    check_positive(lbfgs_iterations=(lbfgs_iterations, 1), path_pairs=(path_pairs, 0))
    # everything is checked here, before 2R training runs, not after them
    check_positive(batch_size=(batch_size, 1), max_evals=(max_evals, 1))
    check_positive(path_points=(path_points, 2))
    if kpca_gamma is not None and not (isinstance(kpca_gamma, int | float) and kpca_gamma > 0):
        raise ValueError(
            f"`kpca_gamma` must be a positive number (or None for the median heuristic); "
            f"got {kpca_gamma!r}."
        )
    if keep > runs:
        raise ValueError(f"`keep` ({keep}) must be at most `runs` ({runs}).")
    if path_pairs > keep * (keep - 1) // 2:
        raise ValueError(
            f"`path_pairs` must be 0 (no paths) to {keep * (keep - 1) // 2} (the distinct pairs "
            f"of `keep` = {keep} solutions); got {path_pairs}."
        )
    opts = ts.path_options(path_method, path_points, path_terms, path_steps, path_lr, path_penalty)
    settings |= {"path_pairs": path_pairs, "path_options": opts}
    out = Path(out)
    common = {
        "model": model,
        "data": data,
        "model_kwargs": dict(model_kwargs or {}),
        "data_kwargs": dict(data_kwargs or {}),
        "float64": float64,
        "batch_size": batch_size,
    }
    title = "Optimizer strategies: SGD against L-BFGS-GSS solution sets"
    with (
        manifest.record(out, "study optimizers", settings, title=title) as rec,
        Workers(workers, threads) as pool,
    ):
        # run i of both optimizers starts from the same initialisation, seed + i
        specs = [
            RunSpec(
                key=ts.run_key(o, i),
                optimizer=o,
                init_seed=seed + i,
                seed=seed + i,
                epochs=sgd_epochs if o == "sgd" else lbfgs_iterations,
                lr=sgd_lr if o == "sgd" else None,
                momentum=sgd_momentum if o == "sgd" else 0.0,
                schedule=sgd_schedule if o == "sgd" else "constant",
                max_evals=max_evals,
                **common,
            )
            for o in ts.OPTIMIZERS
            for i in range(runs)
        ]
        with rec.timed("training"):
            summaries = run_all(specs, out, workers=pool, progress=progress, device=device)
        by_opt = {o: [s for s in summaries if s["optimizer"] == o] for o in ts.OPTIMIZERS}
        kept = {o: ts.best(by_opt[o], keep) for o in ts.OPTIMIZERS}
        split = load_split(data, common["data_kwargs"])
        net = build_model(model, split, common["model_kwargs"])
        dtype = torch.float64 if float64 else torch.float32
        obj = objective_for(net, split.train, default_loss(split), dtype, device)
        solutions = ts.solutions_dataset(obj, out, kept)
        runs_ds = ts.runs_dataset(by_opt, kept)
        write_dataset(solutions, out / "solutions.zarr")
        write_dataset(runs_ds, out / "runs.zarr")
        with rec.timed("sets"):
            analysis, numbers = ts.analyse(solutions["theta"].to_numpy(), kpca_gamma, seed)
        heights: dict[str, dict[str, list[float]]] = {}
        tests: list[dict[str, Any]] = []
        if path_pairs:
            rng = np.random.default_rng(seed)  # the paper joins randomly chosen pairs
            drawn = {o: draw_pairs(keep, path_pairs, rng) for o in ts.OPTIMIZERS}
            chosen = {name: drawn[name.rsplit("-", 1)[0]] for name in ts.SETS}
            tasks = [
                {
                    "set": name,
                    "pairs": chosen[name],
                    "solutions": str(out / "solutions.zarr"),
                    "store": str(out / "barriers" / f"{name}.zarr"),
                    "method": path_method,
                    "options": opts,
                    "device": device,
                    **common,
                }
                for name in ts.SETS
            ]
            with rec.timed("paths"):
                found = pool.map(
                    ts.set_barriers,
                    tasks,
                    progress=progress,
                    description=f"{path_method} paths per set",
                )
            heights = dict(zip(ts.SETS, found, strict=True))
            ts.add_heights(analysis, heights, chosen)
            tests = ts.height_tests(heights, COMPARISONS)
        write_dataset(analysis, out / "analysis.zarr")
        table = ts.table1(by_opt, kept, analysis, heights, solutions)
        results = {
            "mean_train_loss": {r["optimizer"]: r["train_loss"] for r in table},
            "mean_test_loss": {r["optimizer"]: r["test_loss"] for r in table},
            "lbfgs_lower_train_loss": table[1]["train_loss"] < table[0]["train_loss"],
            "diverged_runs": {r["optimizer"]: r["diverged"] for r in table},
            "unstable_runs": {r["optimizer"]: r["unstable"] for r in table},
            **numbers,
        }
        if any(r["kept_diverged"] for r in table):
            import warnings

            warnings.warn(
                "more runs diverged than `runs` − `keep`, so diverged runs are among the kept "
                f"ones ({ {r['optimizer']: r['kept_diverged'] for r in table} }); lower "
                "`sgd_lr` or raise `runs`.",
                RuntimeWarning,
                stacklevel=2,
            )
        if heights:
            results |= ts.convergence(heights)
            results["path_pairs_share_endpoints"] = shares_endpoints(drawn[ts.OPTIMIZERS[0]])
            results |= ts.fig4_results(tests)
        figs = ts.draw(out, kept, analysis, heights, numbers)
        ts.record(rec, table, results, tests, figs)
        stores = ["runs.zarr", "solutions.zarr", "analysis.zarr"]
        stores += [f"barriers/{name}.zarr" for name in ts.SETS] if heights else []
        for name in stores:
            rec.array(out / name)
    return StudyResult(
        out=out,
        table=table,
        results=results,
        datasets={"runs": runs_ds, "solutions": solutions, "analysis": analysis},
        figures=[p for p, _ in figs],
        tables={"Fig. 4: Mann–Whitney tests of path heights and barriers": tests} if tests else {},
    )


def _from_files(settings: dict[str, Any], args: dict[str, Any]) -> StudyResult:
    """The study's analysis of solution sets given as files (`sets=`), without training."""
    from lossatlas.studies import topography_stacks as stk

    stacks = stk.check_sets(dict(args["sets"]))
    keep_pairs = args["path_pairs"]
    check_positive(path_points=(args["path_points"], 2))
    if keep_pairs is None:
        keep_pairs = 12
    check_positive(path_pairs=(keep_pairs, 0))
    opts = ts.path_options(
        args["path_method"], args["path_points"], args["path_terms"], args["path_steps"],
        args["path_lr"], args["path_penalty"],
    )  # fmt: skip
    training = ("runs", "keep", "sgd_epochs", "sgd_lr", "sgd_momentum", "sgd_schedule")
    training += ("batch_size", "lbfgs_iterations")
    settings = {k: v for k, v in settings.items() if k not in (*training, "max_evals", "sets")}
    settings |= {"sets": stk.fingerprints(stacks), "path_pairs": keep_pairs, "path_options": opts}
    out = Path(args["out"])
    common = {
        "model": args["model"],
        "data": args["data"],
        "model_kwargs": dict(args["model_kwargs"] or {}),
        "data_kwargs": dict(args["data_kwargs"] or {}),
        "float64": args["float64"],
        "device": settings["device"],
    }
    split = load_split(common["data"], common["data_kwargs"])
    net = build_model(common["model"], split, common["model_kwargs"])
    dtype = torch.float64 if args["float64"] else torch.float32
    obj = objective_for(net, split.train, default_loss(split), dtype, settings["device"])
    test = obj.with_data(split.test)
    for path in stacks.values():  # every width checked before any work
        stk.load_solution_stack(path, obj.size)
    title = "Optimizer strategies: the given solution sets"
    with (
        manifest.record(out, "study optimizers", settings, title=title) as rec,
        Workers(args["workers"], args["threads"]) as pool,
    ):
        table, results, tests, analysis, figs = stk.analyse_stacks(
            stacks, obj, test, out=out, path_pairs=keep_pairs, path_method=args["path_method"],
            opts=opts, kpca_gamma=args["kpca_gamma"], seed=args["seed"], pool=pool,
            task_common=common, progress=args["progress"], rec=rec,
        )  # fmt: skip
        write_dataset(analysis, out / "analysis.zarr")
        ts.record(rec, table, results, tests, figs)
        rec.array(out / "analysis.zarr")
        for name in stacks if keep_pairs else []:
            rec.array(out / "barriers" / f"{name}.zarr")
    return StudyResult(
        out=out,
        table=table,
        results=results,
        datasets={"analysis": analysis},
        figures=[p for p, _ in figs],
        tables={"Fig. 4: Mann–Whitney tests of path heights and barriers": tests} if tests else {},
    )

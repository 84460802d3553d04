"""Resumable multi-run work: independent training runs (and other tasks) in parallel.

A study is many independent runs. Each `RunSpec` names everything a run needs
(model and data by their zoo names or file specs, the optimizer and its
budget, the seeds), so any process can execute it. A run trains in a hidden
temporary folder beside its target, writes its checkpoints, its history and
last a `done.json` marker, and only then is renamed into place: a run folder
that exists is finished, whatever moment a kill came at. Running the same
specs again skips every finished run and trains only the rest.

Pending runs go to a `studies.pool.Workers` pool: in parallel processes,
with the same torch threads as a serial run, so the number of workers never
changes a number.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from lossatlas.results.files import _jsonable, file_fingerprint, write_json
from lossatlas.studies.pool import Workers, parallel_map

DONE = "done.json"


@dataclass
class RunSpec:
    """One training run, described by names and numbers only (so it pickles).

    Attributes:
        key: its folder below the study's run root, e.g. "sgd/003".
        model, data: zoo names or specs, as `lossatlas.results.inputs` reads them.
        optimizer: "sgd", "adam", "rk2" or "lbfgs-gss".
        init_seed: seed of the model's initialisation.
        seed: seed of the mini-batch order.
        epochs: passes over the data (L-BFGS-GSS: iterations).
        lr, batch_size, momentum, schedule, max_evals, record_every: as in `optim.train`.
        model_kwargs, data_kwargs: extra keywords of the factories.
        float64: train in float64.
        init_from: (run key, record index): start from that record of another
            finished run's trajectory instead of `init_seed` (an optimizer
            switch, Im et al. 2016 §3.3).
        swa_start, swa_every: average the iterates of steps swa_start,
            swa_start + swa_every, ... (stochastic weight averaging, He et al.
            2019) into `swa.pt`; None for no averaging.
        trajectory: keep `trajectory.pt` (θ at every record).

    The device is no part of a spec (`execute` takes it): a run finished on one
    device is the same run on another, so a study may resume elsewhere.
    """

    key: str
    model: str
    data: str
    optimizer: str
    init_seed: int
    seed: int
    epochs: int
    lr: float | None = None
    batch_size: int = 64
    momentum: float = 0.0
    schedule: str = "constant"
    max_evals: int = 6
    record_every: int | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    data_kwargs: dict[str, Any] = field(default_factory=dict)
    float64: bool = False
    init_from: tuple[str, int] | None = None
    swa_start: int | None = None
    swa_every: int = 1
    trajectory: bool = False

    def settings(self) -> dict[str, Any]:
        """The run's settings as a dict, for its fingerprint and manifest (a constant
        schedule, the default, is left out, so runs finished before schedules existed
        resume as the same runs)."""
        out = asdict(self)
        if out["schedule"] == "constant":
            del out["schedule"]
        return out


@functools.lru_cache(maxsize=4)
def _split(data: str, frozen_kwargs: tuple) -> Any:
    from lossatlas.results import inputs

    return inputs.load_data(data, **dict(frozen_kwargs))


def load_split(data: str, data_kwargs: dict[str, Any] | None = None) -> Any:
    """The data `Split` of a spec (cached per process: workers load it once)."""
    return _split(data, tuple(sorted((data_kwargs or {}).items())))


def build_model(
    model: str, split: Any, model_kwargs: dict[str, Any] | None = None, seed: int = 0
) -> nn.Module:
    """The model of a spec, initialised by `seed` (a user factory under torch's seed)."""
    from lossatlas.results import inputs

    kw = dict(model_kwargs or {})
    if ":" in model:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            return inputs.load_model(model, split, **kw)
    return inputs.load_model(model, split, seed=seed, **kw)


def _inputs(spec: RunSpec, root: str | PathLike) -> dict[str, str | None]:
    """The files a run starts from (another run's trajectory), with their fingerprints."""
    if spec.init_from is None:
        return {}
    key = f"{spec.init_from[0]}/trajectory.pt"
    return {key: file_fingerprint(Path(root) / key)}


def _finished(spec: RunSpec, root: str | PathLike) -> bool:
    """Done, and from the inputs as they are now: a run switched from another run's
    trajectory is redone when that run was redone since (its start has moved)."""
    folder = Path(root) / spec.key
    return is_done(folder) and read_summary(folder).get("inputs", {}) == _inputs(spec, root)


def is_done(folder: str | PathLike) -> bool:
    """Whether the run in `folder` finished (its summary file exists)."""
    return (Path(folder) / DONE).is_file()


class _Average:
    """Running mean of the iterates θ_s at s = start, start + every, ... (train callback)."""

    def __init__(self, start: int, every: int):
        self.start, self.every = start, every
        self.sum: Tensor | None = None
        self.count = 0

    def __call__(self, step: int, theta: Tensor, _obj: Any) -> None:
        if step < self.start or (step - self.start) % self.every:
            return
        t = theta.detach().double()
        self.sum = t.clone() if self.sum is None else self.sum + t
        self.count += 1


def _save_at(model: nn.Module, theta: Tensor, x: Tensor, path: Path, settings: dict) -> None:
    """Checkpoint `model` at θ, BatchNorm statistics recomputed there (a no-op without BN)."""
    from lossatlas.core.space import ParamSpace
    from lossatlas.optim import recompute_batchnorm
    from lossatlas.results.checkpoint import save_checkpoint

    ParamSpace.of(model).assign(model, theta.to(next(model.parameters())))
    recompute_batchnorm(model, x)
    save_checkpoint(path, model, settings)


def execute(spec: RunSpec, root: str | PathLike, device: str | None = None) -> dict[str, Any]:
    """Train one run into `root/spec.key` on `device` (None: the CPU) unless it is already
    done; return its summary. The checkpoints are written from the CPU."""
    from lossatlas.optim import train

    target = Path(root) / spec.key
    if _finished(spec, root):
        return read_summary(target)
    split = load_split(spec.data, spec.data_kwargs)
    model = build_model(spec.model, split, spec.model_kwargs, spec.init_seed)
    if spec.init_from is not None:
        source, index = spec.init_from
        trajectory = torch.load(Path(root) / source / "trajectory.pt", weights_only=True)
        from lossatlas.core.space import ParamSpace

        ParamSpace.of(model).assign(model, trajectory[index].to(next(model.parameters())))
    callbacks = []
    if spec.swa_start is not None:
        callbacks.append(_Average(spec.swa_start, spec.swa_every))
    result = train(
        model,
        split,
        optimizer=spec.optimizer,  # type: ignore[arg-type]
        epochs=spec.epochs,
        lr=spec.lr,
        batch_size=spec.batch_size,
        momentum=spec.momentum,
        schedule=spec.schedule,  # type: ignore[arg-type]
        max_evals=spec.max_evals,
        record_every=spec.record_every,
        seed=spec.seed,
        dtype=torch.float64 if spec.float64 else torch.float32,
        device=device,
        progress=False,
        callbacks=callbacks,
    )
    tmp = target.parent / f".tmp-{target.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    settings = {**result.settings, "spec": spec.settings()}
    x = split.train[0]
    _save_at(model, result.theta, x, tmp / "final.pt", settings)
    _save_at(model, result.best_theta, x, tmp / "early_stopped.pt", settings)
    h = result.history
    best = h["step"].index(result.best_step)
    summary = {
        "key": spec.key,
        "optimizer": spec.optimizer,
        "init_seed": spec.init_seed,
        "steps": int(h["step"][-1]),
        "best_step": result.best_step,
        "seconds": h["seconds"][-1],
        "diverged": result.diverged,
        "stable": result.stable,
        "spec": _jsonable(spec.settings()),
        **({"inputs": _inputs(spec, root)} if spec.init_from is not None else {}),
    }
    for name, values in h.items():
        if name.endswith(("loss", "accuracy")):
            summary[f"final_{name}"] = values[-1]
            summary[f"best_{name}"] = values[best]
    if callbacks and callbacks[0].count:
        avg = callbacks[0]
        _save_at(model, (avg.sum / avg.count).to(result.theta), x, tmp / "swa.pt", settings)
        summary["swa_iterates"] = avg.count
    if spec.trajectory:
        torch.save(result.trajectory.cpu(), tmp / "trajectory.pt")
    write_json(tmp / "history.json", h)
    write_json(tmp / DONE, summary)  # last: the marker of a whole run
    shutil.rmtree(target, ignore_errors=True)  # an unfinished folder from older code
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)
    return summary


def _check_same(spec: RunSpec, folder: Path) -> None:
    """Refuse to resume into a finished run that was made with other settings."""
    stored = read_summary(folder).get("spec")
    now = _jsonable(spec.settings())
    if stored != now:
        diffs = [
            f"{k}: stored {stored.get(k)!r}, now {now.get(k)!r}"
            for k in sorted(set(stored or {}) | set(now))
            if (stored or {}).get(k) != now.get(k)
        ]
        raise ValueError(
            f"the finished run in {str(folder)!r} was made with other settings ("
            + "; ".join(diffs)
            + "). Use the same settings to resume, or another output directory."
        )


def read_summary(folder: str | PathLike) -> dict[str, Any]:
    """The summary a finished run wrote."""
    return json.loads((Path(folder) / DONE).read_text())


def run_all(
    specs: Sequence[RunSpec],
    root: str | PathLike,
    *,
    workers: int | Workers | None = 1,
    threads: int = 1,
    description: str = "training runs",
    progress: bool = True,
    device: str | None = None,
) -> list[dict[str, Any]]:
    """Execute every spec not yet done below `root`; return all summaries in order.

    `workers` is a number of processes or a `Workers` pool to share; every run
    trains on `device` (a name, passed to the worker processes; None: the CPU).

    Raises:
        ValueError: two specs with the same key.
    """
    keys = [s.key for s in specs]
    if len(set(keys)) != len(keys):
        twice = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"run keys must be unique; repeated: {', '.join(twice)}.")
    root = Path(root)
    for spec in specs:  # the folder of a run killed while it was being saved
        target = root / spec.key
        for stale in target.parent.glob(f".tmp-{target.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
    for s in specs:
        if is_done(root / s.key):
            _check_same(s, root / s.key)
    pending = [s for s in specs if not _finished(s, root)]
    redone = sum(is_done(root / s.key) for s in pending)
    items = [(s, str(root), device) for s in pending]
    label = f"{description} ({len(specs) - len(pending)} of {len(specs)} done before"
    label += f"; {redone} redone: the runs they start from changed)" if redone else ")"
    if isinstance(workers, Workers):
        workers.map(execute, items, description=label, progress=progress)
    else:
        parallel_map(
            execute, items, workers=workers, threads=threads, description=label, progress=progress
        )
    return [read_summary(root / s.key) for s in specs]

"""Training on flat parameters, recording everything later analyses need.

`train` runs SGD (mini-batches of 64 by default, as in the optimizer-strategies
paper §II.1), Adam, RK2 (a second-order Runge–Kutta step on the same
mini-batches, Im et al. 2016; `lossatlas.optim.rk2`), or L-BFGS-GSS (full
batch, §II.2) on one flat vector θ
through an `Objective`, and records:

- the trajectory: θ every `record_every` steps (for PCA planes, Li et al.
  2018 §6; Gallagher 2000);
- train and test loss (and accuracy) at each record;
- the final weights and the early-stopped weights, those with the minimum
  test loss among the records (the paper's "test set" solutions, §II.1);
- on request, checkpoints as plain state_dicts with a JSON of the settings.

BatchNorm: a network with BatchNorm is trained and recorded on batch
statistics (mode "train"); at the end its running statistics are recomputed
from the training data at the final weights, so that the returned model in
eval mode is the trained network.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from lossatlas.core.objective import Objective
from lossatlas.core.progress import progress_bar
from lossatlas.optim.lbfgs_gss import LBFGSGSS
from lossatlas.optim.rk2 import RK2
from lossatlas.results.checkpoint import save_checkpoint
from lossatlas.results.files import save_torch, write_json
from lossatlas.results.inputs import default_loss

OptimizerName = Literal["sgd", "adam", "rk2", "lbfgs-gss"]
OPTIMIZERS: tuple[str, ...] = ("sgd", "adam", "rk2", "lbfgs-gss")
_DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3, "rk2": 0.1}


DIVERGED = 10.0
SCHEDULES = ("constant", "cosine")  # the mini-batch optimizers' learning rate over a run


def diverged(losses: list[float]) -> bool:
    """Non-finite final loss, or a final loss above `DIVERGED` × the lowest recorded."""
    finite = [v for v in losses if math.isfinite(v)]
    if not losses or not math.isfinite(losses[-1]) or not finite:
        return True
    return losses[-1] > DIVERGED * min(finite)


def stable(losses: list[float]) -> bool:
    """After the first quarter of the records no loss above 2× the best so far, and the
    final loss within 1.5× the best: the criterion the studies' SGD settings are chosen by."""
    if diverged(losses):
        return False
    best, start = math.inf, len(losses) // 4
    for k, v in enumerate(losses):
        if k >= max(start, 1) and v > 2 * best:
            return False
        best = min(best, v)
    return losses[-1] <= 1.5 * best


class DivergedWarning(RuntimeWarning):
    """A training run diverged (`TrainResult.diverged`)."""


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        theta: the final weights θ_T.
        best_theta: the early-stopped weights (minimum test loss over the
            records; the final weights when there is no test data).
        best_step: the step of `best_theta`.
        trajectory: [R, n] θ at each record (step 0 included).
        history: per record: step, epoch, train_loss, test_loss, train_accuracy,
            test_accuracy (where defined), seconds since the start.
        settings: every setting of the run.
    """

    theta: Tensor
    best_theta: Tensor
    best_step: int
    trajectory: Tensor
    history: dict[str, list[float]]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def final_loss(self) -> float:
        """The full-data training loss at the end of training."""
        return self.history["train_loss"][-1]

    @property
    def diverged(self) -> bool:
        """Whether the run diverged: its final training loss is not finite, or above
        `DIVERGED` (10) times the lowest it recorded. Such a run's final weights are no
        minimum; studies report it instead of averaging it in."""
        return diverged(self.history["train_loss"])

    @property
    def stable(self) -> bool:
        """Whether the run converged smoothly (`stable`): after its first quarter no
        recorded training loss is above 2× the best so far, and its final loss is within
        1.5× its best."""
        return stable(self.history["train_loss"])

    def save(self, directory: str | PathLike, model: nn.Module) -> Path:
        """Write final.pt, early_stopped.pt (state_dicts of `model`'s architecture),
        trajectory.pt, history.json, settings.json and outcome.json (`outcome`) into
        `directory`."""
        from lossatlas.core.space import ParamSpace

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        space = ParamSpace.of(model)
        original = space.flatten(model)
        try:
            for name, theta in (("final", self.theta), ("early_stopped", self.best_theta)):
                space.assign(model, theta.to(original))
                save_checkpoint(out / f"{name}.pt", model, self.settings)
        finally:
            space.assign(model, original)
        save_torch(self.trajectory.cpu(), out / "trajectory.pt")
        write_json(out / "history.json", self.history)
        write_json(out / "settings.json", self.settings)
        write_json(out / "outcome.json", self.outcome())
        return out

    def outcome(self) -> dict[str, Any]:
        """Whether the run diverged or converged smoothly, with the losses that say so."""
        finite = [v for v in self.history["train_loss"] if math.isfinite(v)]
        return {
            "diverged": self.diverged,
            "stable": self.stable,
            "final_train_loss": self.final_loss,
            "best_train_loss": min(finite) if finite else float("nan"),
        }


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _split_data(data: Any, test_data: Any) -> tuple[tuple[Tensor, Tensor], Any]:
    """(train tensors, test data) from a zoo Split or tensors."""
    if hasattr(data, "train") and hasattr(data, "test"):
        return data.train, data.test if test_data is None else test_data
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], Tensor):
        return (data[0], data[1]), test_data
    raise TypeError(
        "`data` must be a lossatlas.zoo Split or a pair of tensors (x, y) for training "
        f"(mini-batches are cut from tensors in memory); got {type(data).__name__}."
    )


def train(
    model: nn.Module,
    data: Any,
    *,
    optimizer: OptimizerName = "sgd",
    epochs: int | None = None,
    steps: int | None = None,
    lr: float | None = None,
    batch_size: int = 64,
    momentum: float = 0.0,
    schedule: Literal["constant", "cosine"] = "constant",
    test_data: Any = None,
    loss: str | Any | None = None,
    record_every: int | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    max_evals: int = 6,
    out: str | PathLike | None = None,
    progress: bool = True,
    callbacks: Sequence[Callable[[int, Tensor, Objective], Any]] = (),
) -> TrainResult:
    """Train `model` on `data` with SGD, Adam, RK2 or L-BFGS-GSS and record the run.

    The model's parameters are set to the final weights on return (and its
    BatchNorm running statistics recomputed, if it has any).

    Args:
        model: the network; its current parameters are the initialisation.
        data: a zoo `Split` (train and test) or training tensors (x, y).
        optimizer: "sgd", "adam", "rk2" (Heun steps, two gradients of each
            mini-batch) or "lbfgs-gss".
        epochs: passes over the training data (mini-batch optimizers; for
            L-BFGS-GSS one epoch is one full-batch iteration).
        steps: parameter updates, instead of `epochs`.
        lr: learning rate (SGD and RK2 0.1, Adam 1e-3 by default; unused by
            L-BFGS-GSS).
        batch_size: samples per mini-batch (paper: 64).
        momentum: SGD momentum (paper: none).
        schedule: the mini-batch optimizers' learning rate over the run: "constant",
            or "cosine" (lr·½(1 + cos(π·step/steps)), from lr down to 0), which lets a
            rate fast enough to train settle at the end instead of ending on a spike.
        test_data: (x, y) for the test curve and early stopping (taken from the
            Split when `data` is one).
        loss: per-sample loss name or callable; by default from the Split's task.
        record_every: steps between records (default: one epoch for mini-batch
            optimizers, every iteration for L-BFGS-GSS).
        seed: seeds the mini-batch order.
        max_evals: L-BFGS-GSS line-search budget (paper: 6).
        out: a directory to write checkpoints, trajectory and curves into.
        progress: show a progress bar.
        callbacks: called as `cb(step, θ, objective)` at step 0 and after every
            step (θ detached; the callback decides when to act, e.g.
            `lossatlas.curvature.SpectrumRecorder(every=k)`).

    Raises:
        ValueError: an unknown optimizer, or neither/both of epochs and steps.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"`optimizer` must be one of {OPTIMIZERS}; got {optimizer!r}.")
    if (epochs is None) == (steps is None):
        raise ValueError(
            f"give exactly one of `epochs` and `steps`; got epochs={epochs!r}, steps={steps!r}."
        )
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer; got {batch_size}.")
    if schedule not in SCHEDULES:
        raise ValueError(f"`schedule` must be 'constant' or 'cosine'; got {schedule!r}.")
    loss = default_loss(data) if loss is None else loss
    for name, value in (("epochs", epochs), ("steps", steps)):
        if value is not None and (not isinstance(value, numbers.Integral) or value < 0):
            raise ValueError(f"`{name}` must be an integer ≥ 0; got {value!r}.")
    (x, y), test = _split_data(data, test_data)
    mode = "train" if _has_batchnorm(model) else "eval"
    # shard=False: mini-batches are drawn from the whole training set on every process
    obj = Objective(model, (x, y), loss=loss, mode=mode, dtype=dtype, device=device, shard=False)
    test_obj = (
        Objective(model, test, loss=loss, mode=mode, dtype=dtype, device=device, check=False)
        if test is not None
        else None
    )
    n_train = x.shape[0]
    full_batch = optimizer == "lbfgs-gss"
    steps_per_epoch = 1 if full_batch else math.ceil(n_train / batch_size)
    total = steps if steps is not None else epochs * steps_per_epoch
    if total < 0:
        raise ValueError(f"the number of steps must be ≥ 0; got {total}.")
    record_every = record_every or steps_per_epoch
    lr = _DEFAULT_LR.get(optimizer) if lr is None else lr
    settings = {
        "optimizer": optimizer,
        "steps": total,
        "epochs": total / steps_per_epoch,
        "lr": lr if not full_batch else None,
        "batch_size": None if full_batch else batch_size,
        "momentum": momentum if optimizer == "sgd" else None,
        **({"schedule": schedule} if schedule != "constant" and not full_batch else {}),
        "loss": obj.loss_name,
        "record_every": record_every,
        "seed": seed,
        "dtype": str(dtype),
        "bn_mode": mode,
        "model": type(model).__name__,
        "parameters": obj.size,
        "train_samples": n_train,
        "max_evals": max_evals if full_batch else None,
        "data": getattr(data, "name", "tensors"),
    }

    theta = obj.point()
    history: dict[str, list[float]] = {"step": [], "epoch": [], "seconds": []}
    trajectory: list[Tensor] = []
    start = time.perf_counter()

    def record(step: int, theta: Tensor) -> None:
        history["step"].append(step)
        history["epoch"].append(step / steps_per_epoch)
        history["seconds"].append(time.perf_counter() - start)
        for prefix, o in (("train", obj), ("test", test_obj)):
            if o is None:
                continue
            for k, v in o.metrics(theta).items():
                history.setdefault(f"{prefix}_{k}", []).append(v)
        trajectory.append(theta.detach().clone())

    record(0, theta)
    for cb in callbacks:
        cb(0, theta.detach(), obj)
    if full_batch:
        stepper = LBFGSGSS(obj, theta, max_evals=max_evals)
        advance = lambda _i: stepper.step()  # noqa: E731 - one full-batch iteration
        current = lambda: stepper.theta  # noqa: E731
    else:
        theta = theta.clone().requires_grad_(True)
        if optimizer == "sgd":
            opt = torch.optim.SGD([theta], lr=lr, momentum=momentum)
        elif optimizer == "rk2":
            opt = RK2([theta], lr=lr)
        else:
            opt = torch.optim.Adam([theta], lr=lr)
        order = torch.Generator().manual_seed(seed)
        perm = torch.empty(0, dtype=torch.long)

        def advance(i: int) -> None:
            nonlocal perm
            if schedule == "cosine":
                for group in opt.param_groups:
                    group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * i / total))
            j = i % steps_per_epoch
            if j == 0:
                perm = torch.randperm(n_train, generator=order).to(obj.device)
            idx = perm[j * batch_size : (j + 1) * batch_size]
            xb, yb = obj.data.x[idx], (obj.data.x if obj.data.y is None else obj.data.y)[idx]

            def closure() -> Tensor:  # RK2 calls it twice, on the same mini-batch
                opt.zero_grad(set_to_none=True)
                loss = obj.batch_loss(theta, xb, yb)
                loss.backward()
                return loss

            opt.step(closure)

        current = lambda: theta.detach()  # noqa: E731

    with progress_bar(f"{optimizer} on {settings['data']}", total, enabled=progress) as bar:
        for i in range(total):
            advance(i)
            for cb in callbacks:
                cb(i + 1, current(), obj)
            if (i + 1) % record_every == 0 or i + 1 == total:
                record(i + 1, current())
                bar.update(i + 1, loss=history["train_loss"][-1])
            else:
                bar.update(i + 1)

    final = current().detach().clone()
    losses = history.get("test_loss", history["train_loss"])
    best = min(range(len(losses)), key=lambda k: (not math.isfinite(losses[k]), losses[k]))
    result = TrainResult(
        theta=final,
        best_theta=trajectory[best] if test_obj is not None else final,
        best_step=int(history["step"][best]) if test_obj is not None else total,
        trajectory=torch.stack(trajectory),
        history=history,
        settings=settings,
    )
    if result.diverged:
        warnings.warn(
            f"{optimizer} diverged: its final training loss is {result.final_loss:.4g}, "
            f"against {min(history['train_loss']):.4g} at its best (non-finite, or more than "
            f"{DIVERGED:g}x). "
            + (f"Lower the learning rate (now {lr}); " if settings.get("lr") else "")
            + "its final weights are no minimum.",
            DivergedWarning,
            stacklevel=2,
        )
    obj.space.assign(model, final.to(next(model.parameters())))
    if mode == "train":
        recompute_batchnorm(model, x)
    if out is not None:
        result.save(out, model)
    return result


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, x: Tensor, batch_size: int = 256) -> nn.Module:
    """Set every BatchNorm's running statistics to the exact per-sample mean and
    unbiased variance of its input over `x` at the current weights.

    One pass in train mode, as Izmailov et al. (2018) update BatchNorm after
    weight averaging, but the moments are accumulated over samples (Σx, Σx²
    in float64) rather than averaged over batches, so uneven batches weigh
    nothing wrong.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return model
    sums: dict[nn.Module, list] = {m: [0, 0, 0] for m in bns}

    def accumulate(module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        h = inputs[0].detach().double().transpose(0, 1).reshape(inputs[0].shape[1], -1)
        acc = sums[module]
        acc[0] += h.sum(1)
        acc[1] += (h * h).sum(1)
        acc[2] += h.shape[1]

    hooks = [m.register_forward_pre_hook(accumulate) for m in bns]
    was_training = model.training
    try:
        model.train()
        param = next(model.parameters())
        for start in range(0, x.shape[0], batch_size):
            model(x[start : start + batch_size].to(param))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    for m in bns:
        s1, s2, n = sums[m]
        mean = s1 / n
        var = (s2 - n * mean * mean) / max(n - 1, 1)
        m.running_mean.copy_(mean.to(m.running_mean))
        m.running_var.copy_(var.clamp_min(0).to(m.running_var))
    return model

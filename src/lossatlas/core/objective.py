"""L(θ): the full-data loss of a model as a function of its flat parameters.

`Objective` owns the hard parts once, so that surfaces, spectra, paths and
studies are thin functions over it:

- evaluation by `torch.func.functional_call` over `ParamSpace.unflatten(θ)`,
  on a private copy of the module whose parameters live on the meta device
  (no second copy of the weights) and whose buffers follow the chosen mode;
- the exact mean over all samples, L(θ) = (1/N) Σ_i ℓ_i(θ), whatever the
  batching (each batch contributes its sum of per-sample losses);
- ∇L(θ), and exact Hessian–vector products H(θ)·v by Pearlmutter's trick
  (1994) as forward-over-reverse differentiation (`jvp` of `grad`);
- losses at many points at once, by a loop or by `vmap` over chunks of
  points, with memory bounded by the chunk;
- the data-parallel reduction: under `torch.distributed` each process sweeps
  its shard of the samples and the sums are all-reduced, so every quantity
  above is the exact full-data mean on every process (`lossatlas.core.distributed`).

References:
    Pearlmutter (1994). Fast exact multiplication by the Hessian. Neural
    Computation 6(1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from os import PathLike
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, vmap

from lossatlas.core import distributed
from lossatlas.core import losses as _losses
from lossatlas.core.data import DataSource
from lossatlas.core.derivatives import (
    HVP_STRATEGIES,
    Derivatives,
    HvpStrategy,
    Strategy,
    _derivative_batch,
)
from lossatlas.core.devices import resolve_device
from lossatlas.core.errors import cause
from lossatlas.core.module_copies import (
    _BN_TYPES,
    Mode,
    _device_of,
    _dtype_of,
    _materialised,
    _set_tensor,
    _stateless_copy,
)
from lossatlas.core.points import read_point
from lossatlas.core.space import ParamSpace

_CONV_TYPES = (nn.modules.conv._ConvNd,)

# Below this many parameter-samples (n × N) the CPU evaluates many points with vmap:
# per-call overhead, not arithmetic, is the cost there (`resolved_strategy`).
TINY_WORK = 2**22
# In-memory data is cut into chunks of about this many input numbers on the CPU (digits:
# all 1,797 at once; MNIST: ~670 images; CIFAR: 256), and of 4096 samples on accelerators.
CPU_CHUNK_NUMBERS = 2**19
DEVICE_BATCH = 4096


class DeterminismError(RuntimeError):
    """Two evaluations of the same loss disagreed; every estimate would be wrong."""


class Objective(Derivatives):
    """The full-data loss L(θ) of `model` on `data`, with its derivatives.

    Args:
        model: any `nn.Module`. It is never modified: the objective evaluates a
            private copy that shares no parameter memory with it.
        data: a pair of tensors (x, y) (fast path: moved to the device once and
            cut in chunks of `batch_size`), a tensor x or (x, None) for
            unsupervised data (the target is the input), or any re-iterable of
            (x, y) batches such as a DataLoader (streamed on every evaluation).
        loss: a name in `lossatlas.core.losses.LOSSES` ("cross_entropy", "mse",
            "sse", "bce", "identity") or a callable(output, target) returning
            per-sample losses [B] or a batch mean. L(θ) is always the mean over
            samples: with "sse" (alias "mean_sse") it is the total SSE / N.
        mode: "eval" uses the BatchNorm running statistics stored in the model;
            "train" normalises with the statistics of each batch (so the value
            depends on how the data is batched). Dropout is off in both, and
            no running statistic is ever updated.
        dtype: the dtype θ, the data and every result are computed in. None
            (the default) follows the model's floating-point parameters, so a
            float64 model gives float64 values and HVPs (float32 for a model
            with none); float64 for reference computations on a float32 model.
        device: where to compute; defaults to the device of the model.
        batch_size: samples per chunk for in-memory data; by default sized to
            the input on the CPU (all 1,797 digits, ~670 MNIST images, 256 CIFAR
            images: large batches of conv activations are cache-hostile) and
            4096 on an accelerator; all at once for BatchNorm on batch
            statistics (which then are full-data statistics).
        strategy: how `values` evaluates many points: "loop", "vmap", or "auto"
            (vmap on an accelerator, loop on the CPU).
        points_chunk: points per `vmap` call in `values` and vectors per call in
            `hvps`; bounds their memory.
        check: evaluate the first batch twice on construction and raise a
            `DeterminismError` naming the cause if the two disagree.
        hvp_strategy: how `hvp`/`hvps` differentiate twice: "vmap", "reuse",
            "loop", or "auto" (see `resolved_hvp_strategy`). All are exact.
        shard: under `torch.distributed` with several processes, sweep only
            this process's share of the samples and all-reduce the sums
            (`sharded`). None shards whenever that is exact and possible (not
            for BatchNorm on batch statistics, whose loss depends on the
            batching, nor for fewer samples than processes); False keeps the
            whole data on every process (for work divided by points instead).

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
        <torch._C.Generator object at ...>
        >>> model = nn.Linear(3, 2)
        >>> x, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
        >>> obj = Objective(model, (x, y))
        >>> theta = obj.point()
        >>> bool(torch.isclose(obj.value(theta), nn.functional.cross_entropy(model(x), y)))
        True
    """

    def __init__(
        self,
        model: nn.Module,
        data: Any,
        loss: str | _losses.LossFn = "cross_entropy",
        mode: Mode = "eval",
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        batch_size: int | None = None,
        strategy: Strategy = "auto",
        points_chunk: int = 32,
        check: bool = True,
        hvp_strategy: HvpStrategy = "auto",
        shard: bool | None = None,
    ):
        if mode not in ("eval", "train"):
            raise ValueError(f"`mode` must be 'eval' or 'train'; got {mode!r}.")
        if strategy not in ("auto", "loop", "vmap"):
            raise ValueError(f"`strategy` must be 'auto', 'loop' or 'vmap'; got {strategy!r}.")
        if hvp_strategy not in HVP_STRATEGIES:
            raise ValueError(
                f"`hvp_strategy` must be one of {HVP_STRATEGIES}; got {hvp_strategy!r}."
            )
        if dtype is None:
            dtype = _dtype_of(model)
        if not dtype.is_floating_point:
            raise ValueError(f"`dtype` must be a floating-point dtype; got {dtype}.")
        if points_chunk < 1:
            raise ValueError(f"`points_chunk` must be a positive integer; got {points_chunk}.")
        self.model = model
        self.space = ParamSpace.of(model)
        self.loss_name = _losses.name_of(loss)
        self._loss = _losses.resolve(loss)
        self.mode: Mode = mode
        self.dtype = dtype
        self.device = resolve_device(device) if device is not None else _device_of(model)
        self.strategy: Strategy = strategy
        self.points_chunk = points_chunk
        self._module = _stateless_copy(model, self.space, mode, self.device, dtype)
        self._batch_statistics = mode == "train" and any(
            isinstance(m, _BN_TYPES) for m in self._module.modules()
        )
        user_batch = batch_size is not None
        if batch_size is None and not self._batch_statistics:
            # Measured: LeNet over 10,000 MNIST images is 2.5x slower on the CPU in one batch
            # than in batches of 256-512 (cache); accelerators want large batches. Batch
            # statistics keep the whole set unless told otherwise.
            batch_size = _default_batch(data, self.device)
        self.sharded = _resolve_shard(shard, data, self._batch_statistics)
        self.data = DataSource(
            data,
            device=self.device,
            dtype=dtype,
            batch_size=batch_size,
            shard=(distributed.rank(), distributed.world_size()) if self.sharded else None,
        )
        self.hvp_strategy: HvpStrategy = hvp_strategy
        self._has_conv = any(isinstance(m, _CONV_TYPES) for m in self._module.modules())
        # Derivative sweeps of convolutional networks hold ~3x a forward pass's activations:
        # on the CPU they get smaller chunks (ResNet-20 on CIFAR: 2.2 s per HVP at 128 images
        # against 4.1 s at 256; LeNet on 10,000 MNIST-shaped images: 0.56 s per gradient at
        # 334 against 1.09 s in one batch). Dense networks are the other way round (the FCP
        # there: 38 ms at 334, 20 ms at 4096), so they keep the data's chunks. Never with
        # batch statistics, where the chunks define the loss.
        self._grad_batch = (
            _derivative_batch(self.data)
            if not user_batch
            and not self._batch_statistics
            and self.device.type == "cpu"
            and self._has_conv
            else None
        )
        self._vmap_ok = True
        # per-vector seconds of the block strategies, measured by HessianOperator's probe
        self._block_timing: dict[str, float] = {}
        self._is_classifier: bool | None = None
        self._eval_module: nn.Module | None = None
        self._eval_params: list[Tensor] = []
        if check:
            self.check_deterministic()

    # -- points ----------------------------------------------------------------

    @property
    def size(self) -> int:
        """n, the number of trainable parameters (the length of θ)."""
        return self.space.size

    def point(self) -> Tensor:
        """The model's current parameters as one flat θ (a copy, on the objective's device)."""
        return self._cast(self.space.flatten(self.model))

    def load_point(
        self,
        source: str | PathLike | Mapping[str, Tensor] | nn.Module | Tensor,
        *,
        buffers: bool = True,
    ) -> Tensor:
        """θ from a checkpoint: a file (.pt/.pth state_dict, .npy flat vector), a
        state_dict, a module, or a flat tensor.

        A checkpoint is checked against the user's model, whose state_dict it
        is. With mode="train" the objective normalises with batch statistics:
        the BatchNorm running statistics a checkpoint holds are accepted and
        ignored (the objective's copy keeps none).

        Args:
            source: the checkpoint.
            buffers: also take the checkpoint's buffers (BatchNorm running
                statistics) into this objective, so that eval-mode losses are
                those of the checkpointed network.

        Raises:
            CheckpointMismatch: listing the missing, unexpected and mis-shaped
                tensors when the checkpoint does not fit the model.
        """
        theta, found_buffers = read_point(source, self.space, self.model)
        used = {name for name, _ in self._module.named_buffers()}  # mode="train": no BN stats
        taken = {n: v for n, v in found_buffers.items() if n in used} if buffers else {}
        for name, value in taken.items():
            _set_tensor(self._module, name, self._cast_like_buffer(value, name))
        if taken:
            self._eval_module = None  # its buffers were copied before: remake it
        return self._cast(theta)

    def _cast(self, t: Tensor) -> Tensor:
        return t.detach().to(device=self.device, dtype=self.dtype)

    def _cast_like_buffer(self, value: Tensor, name: str) -> Tensor:
        current = self._module.get_buffer(name)
        return value.detach().to(device=current.device, dtype=current.dtype)

    # -- the loss on one batch ---------------------------------------------------

    def batch_losses(self, theta: Tensor, x: Tensor, y: Tensor) -> Tensor:
        """Per-sample losses ℓ_i(θ) [B] on one batch (differentiable in θ)."""
        output = functional_call(self._module, self.space.unflatten(theta), (x,))
        return self._loss(output, y)

    def batch_loss(self, theta: Tensor, x: Tensor, y: Tensor) -> Tensor:
        """Mean loss on one batch (differentiable in θ): the mini-batch objective of SGD."""
        return self.batch_losses(theta, x, y).mean()

    def module_at(self, theta: Tensor) -> nn.Module:
        """The objective's evaluation module with θ copied into its parameters (no grad).

        A second private copy with real parameter tensors, made on first use:
        for the forward passes of plain evaluation a copy of n numbers is far
        cheaper than `functional_call`'s re-parametrisation of every module,
        which dominates the cost of a point on small networks. Derivatives
        always go through `functional_call`.
        """
        if self._eval_module is None:
            self._eval_module, self._eval_params = _materialised(
                self._module, self.space, self.device
            )
        with torch.no_grad():
            for p, e in zip(self._eval_params, self.space.entries, strict=True):
                p.copy_(theta[e.slice].view(e.shape))
        return self._eval_module

    def _stats_on(self, module: nn.Module, x: Tensor, y: Tensor, accuracy: bool) -> Tensor:
        out = module(x)
        loss_sum = self._loss(out, y).sum()
        if not accuracy:
            return torch.stack([loss_sum, torch.zeros_like(loss_sum)])
        correct = (out.argmax(dim=1) == y).sum().to(loss_sum.dtype)
        return torch.stack([loss_sum, correct])

    def _batch_sum(self, theta: Tensor, x: Tensor, y: Tensor) -> Tensor:
        return self.batch_losses(theta, x, y).sum()

    def batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        """The data as (x, y) batches on the objective's device and dtype."""
        return iter(self.data)

    # -- full-data quantities ----------------------------------------------------

    def _sweep(
        self, per_batch: Callable[[Tensor, Tensor], Any], derivative: bool = False
    ) -> tuple[list, int]:
        """Apply `per_batch` to every batch; return the results and the sample count.

        Derivative sweeps use the (smaller) derivative chunks where those apply.
        """
        results, n = [], 0
        for x, y in self.data.batches(self._grad_batch if derivative else None):
            results.append(per_batch(x, y))
            n += x.shape[0]
        return results, n

    def data_mean(self, sums: list[Tensor], n: int) -> list[Tensor]:
        """Each sum over this process's samples → the mean over all N samples.

        With a sharded objective the sums and the count are all-reduced over
        the processes first (one collective), so the result is the full-data
        mean, the same on every process.
        """
        if self.sharded:
            sums = distributed.all_reduce_sum(sums)
            n = (
                self.data.num_samples
                if self.data.num_samples is not None
                else distributed.all_reduce_count(n, self.device)
            )
        return [s / n for s in sums]

    def value(self, theta: Tensor) -> Tensor:
        """L(θ) = (1/N) Σ_i ℓ_i(θ), exact over all N samples (0-d tensor)."""
        return self._full_stats(self._checked(theta), accuracy=False)[0]

    def _full_stats(self, theta: Tensor, accuracy: bool) -> Tensor:
        """[L(θ), accuracy(θ)] in one no-grad sweep through the evaluation module."""
        with torch.no_grad():
            module = self.module_at(theta)
            sums, n = self._sweep(lambda x, y: self._stats_on(module, x, y, accuracy))
        return self.data_mean([torch.stack(sums).sum(0)], n)[0]

    @property
    def is_classifier(self) -> bool:
        """Whether accuracy is defined: integer class targets of shape [B]."""
        if self._is_classifier is None:
            _, y = self.data.first()
            self._is_classifier = y.dim() == 1 and not y.is_floating_point()
        return self._is_classifier

    def _batch_stats(self, theta: Tensor, x: Tensor, y: Tensor) -> Tensor:
        """[Σ_i ℓ_i, number correct] on one batch (the count is 0 for non-classifiers)."""
        out = functional_call(self._module, self.space.unflatten(theta), (x,))
        loss_sum = self._loss(out, y).sum()
        if not self.is_classifier:
            return torch.stack([loss_sum, torch.zeros_like(loss_sum)])
        correct = (out.argmax(dim=1) == y).sum().to(loss_sum.dtype)
        return torch.stack([loss_sum, correct])

    def metrics(self, theta: Tensor) -> dict[str, float]:
        """The loss and, for classifiers (integer targets [B]), the accuracy."""
        stats = self._full_stats(self._checked(theta), accuracy=self.is_classifier)
        metrics = {"loss": float(stats[0])}
        if self.is_classifier:
            metrics["accuracy"] = float(stats[1])
        return metrics

    def resolved_strategy(self, strategy: Strategy | None = None) -> str:
        """What "auto" (or `strategy`, when given) means for many-point evaluations.

        Accelerators take "vmap". On the CPU, "loop" wins for real networks
        (the batched matmuls of vmap gain nothing over one point's, and the
        chunks' memory costs cache), but for tiny problems the per-call
        overhead dominates and "vmap" wins by orders of magnitude (a 2-D
        landscape: 99 gradients in 4 ms against 130 ms), so problems with
        n × samples ≤ `TINY_WORK` take "vmap" there.
        """
        strategy = strategy or self.strategy
        if strategy not in ("auto", "loop", "vmap"):
            raise ValueError(f"`strategy` must be 'auto', 'loop' or 'vmap'; got {strategy!r}.")
        if strategy != "auto":
            return strategy
        if self.device.type != "cpu":
            return "vmap"
        samples = self.data.num_samples if not self.data.streamed else None
        tiny = samples is not None and self.size * samples <= TINY_WORK and not self._has_conv
        return "vmap" if tiny else "loop"

    def _vmapped(self, fn, chunk: Tensor, fallback):
        """`vmap(fn)(chunk)`, or `fallback(chunk)` for good once an op has no batching rule."""
        if self._vmap_ok:
            try:
                return vmap(fn)(chunk)
            except RuntimeError as err:
                if "Batching rule not implemented" not in str(err):
                    raise
                self._vmap_ok = False  # e.g. aten::lstm: remember, and loop from now on
        return fallback(chunk)

    def values(
        self, points: Tensor, *, strategy: Strategy | None = None, accuracy: bool = False
    ) -> Tensor:
        """L at each row of a [P, n] stack of points → [P] (or [P, 2] with accuracy).

        "vmap" evaluates `points_chunk` points per forward pass with
        `torch.func.vmap` (fast on accelerators, memory ∝ chunk × batch);
        "loop" evaluates one point at a time. Both give the same numbers.

        Args:
            points: [P, n].
            strategy: overrides the objective's strategy for this call.
            accuracy: also return each point's accuracy (classifiers), in the
                same pass: the result is then [P, 2] = (loss, accuracy).
        """
        points = self._checked(points, "points", batched=True)
        strategy = self.resolved_strategy(strategy)
        if accuracy and not self.is_classifier:
            raise ValueError("accuracy needs integer class targets; this data has none.")
        if len(points) == 0:
            empty = points.new_zeros(0, 2)
            return empty if accuracy else empty[:, 0]
        if strategy == "loop":
            out = [self._full_stats(p, accuracy)[None] for p in points]
        else:
            out = []
            with torch.no_grad():
                for chunk in points.split(self.points_chunk):

                    def per_batch(x: Tensor, y: Tensor, c: Tensor = chunk) -> Tensor:
                        def one(t: Tensor) -> Tensor:
                            return self._batch_stats(t, x, y)

                        return self._vmapped(one, c, lambda c: torch.stack([one(t) for t in c]))

                    sums, n = self._sweep(per_batch)
                    out.append(self.data_mean([torch.stack(sums).sum(0)], n)[0])
        stats = torch.cat(out) if out else points.new_zeros(0, 2)
        return stats if accuracy else stats[:, 0]

    # -- checks ----------------------------------------------------------------------

    def _checked(self, t: Tensor, what: str = "theta", batched: bool = False) -> Tensor:
        self.space.check(t, what)
        expected = 2 if batched else 1
        if t.dim() != expected:
            shape = "[k, n]" if batched else "[n]"
            raise ValueError(
                f"`{what}` must have shape {shape} with n = {self.size}; got {tuple(t.shape)}."
            )
        if t.dtype != self.dtype or t.device != self.device:
            t = t.to(device=self.device, dtype=self.dtype)
        return t

    def check_deterministic(self) -> None:
        """Evaluate the first batch twice and raise `DeterminismError` if they differ.

        Every estimate in lossatlas assumes L(θ) is a function. Randomness in the
        data pipeline (shuffling with `drop_last`, augmentation) or in the model's
        forward pass breaks that; this names which of the two is to blame and,
        for the model, the first submodule whose output changed.
        """
        x1, y1 = self.data.first()
        if self.data.streamed:
            x2, y2 = self.data.first()
            if x1.shape != x2.shape or not torch.equal(x1, x2) or not torch.equal(y1, y2):
                raise DeterminismError(
                    "`data` yields a different first batch on each pass (a DataLoader with "
                    "shuffle=True, a random sampler, or random augmentation); the loss must "
                    "be the same function on every evaluation. Use shuffle=False and no "
                    "random transforms, or pass the tensors (x, y) directly."
                )
        theta = self.point()
        with torch.no_grad():
            a = self._first_losses(theta, x1, y1)
            b = self.batch_losses(theta, x1, y1)
        tol = 0.0 if self.device.type == "cpu" else 1e-5
        if not torch.allclose(a, b, rtol=tol, atol=tol, equal_nan=True):
            culprit = _first_random_module(self, theta, x1)
            raise DeterminismError(
                "the model's forward pass is random: two evaluations of the same batch "
                f"at the same θ differ (by up to {float((a - b).abs().max()):.3g}). "
                + (f"The first module whose output changed is {culprit}. " if culprit else "")
                + "Remove or disable the random layer (noise injection, stochastic depth, "
                "sampling) or pass check=False if you know what you are doing."
            )

    def _first_losses(self, theta: Tensor, x: Tensor, y: Tensor) -> Tensor:
        """Per-sample losses on the first batch, with a shape mismatch named as one."""
        try:
            losses = self.batch_losses(theta, x, y)
        except torch.OutOfMemoryError:
            raise  # not a mismatch: the batch is too large for the device
        except (RuntimeError, IndexError, ValueError) as err:
            raise ValueError(
                f"the model does not fit the data: its loss on a first batch (x of shape "
                f"{tuple(x.shape)}, y of shape {tuple(y.shape)}) failed with: {cause(err)}. Check "
                f"the model's input size and number of outputs against the data and the "
                f"loss ({self.loss_name})."
            ) from err
        return losses

    def with_data(self, data: Any) -> Objective:
        """The same model, loss, mode, dtype and device over other data (e.g. the test set).

        The new objective carries this one's buffers (the BatchNorm statistics a
        `load_point` took from a checkpoint). The determinism probe is not
        repeated: it concerns the model, already checked.
        """
        other = Objective(
            self.model,
            data,
            loss=self._loss,
            mode=self.mode,
            dtype=self.dtype,
            device=self.device,
            strategy=self.strategy,
            points_chunk=self.points_chunk,
            check=False,
            hvp_strategy=self.hvp_strategy,
            shard=self.sharded,  # data-parallel like this one, or whole like it
        )
        # The copy was made from the user's module: give it this objective's buffers, which
        # `load_point` may have replaced (a checkpoint's BatchNorm statistics), so test losses
        # are those of the checkpointed network and not of the module's own initialisation.
        for name, value in self._module.named_buffers():
            if value is not None:
                _set_tensor(other._module, name, value.clone())
        return other

    def describe(self) -> dict[str, Any]:
        """The settings of this objective, for the attributes of stored results."""
        data = self.data.describe()
        if not self._batch_statistics:
            # The loss is the mean over all samples whatever the chunks (they change rounding
            # only, and differ by device), so they do not define it; with batch statistics
            # they do, and stay.
            data.pop("chunk", None)
        return {
            "model": type(self.model).__name__,
            "parameters": self.size,
            "loss": self.loss_name,
            "mode": self.mode,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "data": data,
        }

    def __repr__(self) -> str:
        d = self.describe()
        return (
            f"Objective({d['model']}, n={d['parameters']}, loss={d['loss']}, "
            f"mode={d['mode']}, {d['dtype']}, {d['device']})"
        )


# -- helpers ---------------------------------------------------------------------------


def _default_batch(data: Any, device: torch.device) -> int | None:
    """Samples per chunk when the user gives none (see CPU_CHUNK_NUMBERS)."""
    if device.type != "cpu":
        return DEVICE_BATCH
    x = data if isinstance(data, Tensor) else None
    if isinstance(data, (tuple, list)) and data and isinstance(data[0], Tensor):
        x = data[0]
    if x is None or x.dim() == 0 or x.shape[0] == 0:
        return None  # DataSource names the problem with an empty tensor
    per_sample = max(1, x[0].numel())
    return int(min(4096, max(256, CPU_CHUNK_NUMBERS // per_sample)))


def _resolve_shard(shard: bool | None, data: Any, batch_statistics: bool) -> bool:
    """Whether an objective sweeps only this process's shard (see `Objective`'s `shard`)."""
    if shard is False or not distributed.is_active():
        return False
    if batch_statistics:
        if shard:
            raise ValueError(
                "`shard=True` cannot split data normalised by BatchNorm on batch statistics "
                "(mode='train'): the loss depends on the batching. Use mode='eval' or shard=False."
            )
        return False
    x = data if isinstance(data, Tensor) else None
    if isinstance(data, (tuple, list)) and data and isinstance(data[0], Tensor):
        x = data[0]
    # too few samples to give every process one (a 2-D landscape): each takes them all
    too_few = x is not None and x.dim() > 0 and x.shape[0] < distributed.world_size()
    return not (shard is None and too_few)


def _first_random_module(obj: Objective, theta: Tensor, x: Tensor) -> str | None:
    """Name and type of the first submodule whose output differs between two runs."""
    runs: list[list[tuple[str, Any]]] = []
    hooks = []
    for name, m in obj._module.named_modules():
        if not name:
            continue

        def hook(_m, _inp, out, name=name):
            runs[-1].append((name, out))

        hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            for _ in range(2):
                runs.append([])
                functional_call(obj._module, obj.space.unflatten(theta), (x,))
    finally:
        for h in hooks:
            h.remove()
    for (name, a), (_, b) in zip(runs[0], runs[1], strict=False):
        if isinstance(a, Tensor) and isinstance(b, Tensor) and not torch.equal(a, b):
            return f"{name!r} ({type(obj._module.get_submodule(name)).__name__})"
    return None

"""The data an `Objective` sweeps: in-memory tensors or a stream of batches.

Both give the same thing, an iteration over (x, y) batches on the objective's
device and in its dtype, so the full-data loss is one exact sum over batches.
In-memory tensors are the fast path: moved to the device once and cut into
fixed chunks. Any re-iterable of batches (a DataLoader, a list) is streamed.
Unsupervised data (an autoencoder) is given as x alone or (x, None): the
target is the input itself.

A source may be one process's shard of the data (`shard=(rank, world)`,
`lossatlas.core.distributed`): a contiguous 1/world of in-memory samples, or every
world-th batch of a stream. `num_samples` stays the size of the whole set.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor

from lossatlas.core.distributed import shard_range


def _as_pair(batch: Any, where: str) -> tuple[Tensor, Tensor | None]:
    if isinstance(batch, Tensor):
        return batch, None
    if isinstance(batch, (tuple, list)) and len(batch) in (1, 2):
        x = batch[0]
        y = batch[1] if len(batch) == 2 else None
        if isinstance(x, Tensor) and (y is None or isinstance(y, Tensor)):
            return x, y
    raise TypeError(
        f"{where} must be a tensor x, a pair (x, y) of tensors, or (x, None) for "
        f"unsupervised data; got {type(batch).__name__}"
        + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
        + "."
    )


class DataSource:
    """Batches of (x, y) for an objective, with targets defaulting to the input."""

    def __init__(
        self,
        data: Any,
        *,
        device: torch.device,
        dtype: torch.dtype,
        batch_size: int | None = None,
        shard: tuple[int, int] | None = None,
    ):
        self.device, self.dtype = device, dtype
        self.shard = shard
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer; got {batch_size}.")
        if isinstance(data, Tensor) or (
            isinstance(data, (tuple, list))
            and 1 <= len(data) <= 2
            and isinstance(data[0], Tensor)
            and (len(data) == 1 or data[1] is None or isinstance(data[1], Tensor))
        ):
            x, y = _as_pair(data, "`data`")
            if y is not None and y.shape[0] != x.shape[0]:
                raise ValueError(
                    "`data` inputs and targets must have the same number of samples; got "
                    f"x with {x.shape[0]} and y with {y.shape[0]}."
                )
            if x.shape[0] == 0:
                raise ValueError("`data` must hold at least one sample; got an empty tensor.")
            for name, t in (("inputs x", x), ("targets y", y)):
                # one NaN input makes every loss NaN: an all-NaN surface, silently
                if t is not None and t.is_floating_point() and not bool(torch.isfinite(t).all()):
                    bad = int((~torch.isfinite(t)).sum())
                    raise ValueError(
                        f"`data` {name} hold {bad} non-finite value{'s' if bad > 1 else ''} "
                        "(NaN or inf); every loss over them would be NaN. Clean or drop "
                        "those samples first."
                    )
            self.num_samples: int | None = int(x.shape[0])
            if shard is not None:
                lo, hi = shard_range(int(x.shape[0]), *shard)
                if hi <= lo:
                    raise ValueError(
                        f"`data` has {x.shape[0]} samples, fewer than the {shard[1]} processes "
                        "sharing it; run with fewer processes or without sharding."
                    )
                x, y = x[lo:hi], (None if y is None else y[lo:hi])
            self.x, self.y = self._move(x), (None if y is None else self._move(y))
            self.streamed = False
            self.batch_size = batch_size or int(self.x.shape[0])
        elif isinstance(data, Iterable):
            if iter(data) is data:
                raise TypeError(
                    "`data` is an iterator, which can be read only once, but the loss is "
                    "evaluated many times; pass a list of batches or a DataLoader instead."
                )
            self.loader = data
            self.streamed = True
            self.num_samples = None  # counted on each pass
            self.batch_size = batch_size
        else:
            raise TypeError(
                "`data` must be a pair of tensors (x, y), a tensor x (unsupervised), or a "
                f"re-iterable of (x, y) batches such as a DataLoader; got {type(data).__name__}."
            )

    def _move(self, t: Tensor) -> Tensor:
        dtype = self.dtype if t.is_floating_point() else t.dtype
        return t.to(device=self.device, dtype=dtype)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield (x, y) batches on the device; y is x for unsupervised data."""
        return self.batches()

    def batches(self, size: int | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """Like iteration, with in-memory data cut into chunks of `size` instead
        (streamed data keeps its loader's batches)."""
        if not self.streamed:
            n, b = int(self.x.shape[0]), size or self.batch_size
            for start in range(0, n, b):
                x = self.x[start : start + b]
                yield x, (x if self.y is None else self.y[start : start + b])
            return
        mine = 0
        for x, y in self._stream(self.shard):
            mine += 1
            yield x, y
        if self.shard is not None and mine == 0:
            x, y = self.first()  # a stream with fewer batches than processes: this one
            yield x[:0], y[:0]  # contributes an empty batch (zero sums, zero samples)

    def _stream(self, shard: tuple[int, int] | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """The loader's batches (every world-th one from `rank` with a shard), on the device."""
        for i, batch in enumerate(self.loader):
            if shard is not None and i % shard[1] != shard[0]:
                continue
            x, y = _as_pair(batch, f"batch {i} of `data`")
            x = self._move(x)
            if y is None:
                yield x, x
                continue
            if y.shape[0] != x.shape[0]:
                raise ValueError(
                    f"batch {i} of `data` has {x.shape[0]} inputs but {y.shape[0]} targets."
                )
            yield x, self._move(y)

    def first(self) -> tuple[Tensor, Tensor]:
        """The first batch (of the whole stream, whatever the shard)."""
        for batch in self._stream() if self.streamed else self.batches():
            return batch
        raise ValueError("`data` must yield at least one batch; it yielded none.")

    def describe(self) -> dict[str, Any]:
        """How the data are swept (in memory in chunks, or streamed), for manifests."""
        if self.streamed:
            return {"kind": "streamed", "loader": type(self.loader).__name__}
        return {"kind": "in-memory", "samples": self.num_samples, "chunk": self.batch_size}

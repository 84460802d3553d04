"""Many processes, one result: lossatlas under torchrun or Slurm's srun.

Launched as N processes (`torchrun --nproc_per_node=N ...`, or `srun
--ntasks=N ...`), the commands share their work in one of two ways:

- **by data** (`spectrum`, `path`, `evaluate`): each process holds 1/N of the
  samples. `Objective` evaluates its shard and all-reduces the sums (of
  per-sample losses, gradients, Hessian–vector products and sample counts),
  so L(θ), ∇L(θ) and H(θ)·v are the exact full-data means on every process.
  Everything above the objective (Lanczos, trace, density, FourierPathFinder)
  runs unchanged and identically on every process: its random vectors come
  from seeded generators, and every process sees the same reduced numbers.
- **by chunks** (`surface`, `barriers`): every process evaluates the whole
  data at its share of the grid's pending chunks, r, r + N, r + 2N, …, and
  writes them into the shared store itself (zarr chunks are aligned with the
  work chunks, so two processes never write the same file).

Only rank 0 creates a store, writes its attributes and the result files;
`main_first` runs the creation on rank 0 before the others open the store,
and raises rank 0's error (a store made with other settings, say) on every
process, so a bad input stops the whole job instead of leaving it waiting.

The process group is joined from the environment: torchrun's RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT, or Slurm's
SLURM_PROCID, SLURM_STEP_NUM_TASKS and SLURM_LOCALID (srun sets these per
task; a batch script itself is one process), with the master taken from
MASTER_ADDR/MASTER_PORT or else the step's first node and a port derived
from the job id. CPU tensors go through gloo, CUDA tensors through NCCL.
"""

from __future__ import annotations

import atexit
import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor

T = TypeVar("T")


def _int_env(*names: str) -> int | None:
    for name in names:
        value = os.environ.get(name)
        if value not in (None, ""):
            return int(value)
    return None


def launch_environment() -> dict[str, Any] | None:
    """Rank, world size, local rank and master of a torchrun or srun launch, else None.

    A launch of one process (torchrun --nproc_per_node=1, srun -n 1) is None too:
    there is nothing to share.
    """
    world = _int_env("WORLD_SIZE")
    if world is not None:
        rank = _int_env("RANK") or 0
        local = _int_env("LOCAL_RANK")
        addr, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
    else:
        world = _int_env("SLURM_STEP_NUM_TASKS")
        if world is None and os.environ.get("SLURM_STEP_ID") not in (None, "", "batch"):
            world = _int_env("SLURM_NTASKS")
        if world is None:
            return None
        rank = _int_env("SLURM_PROCID") or 0
        local = _int_env("SLURM_LOCALID")
        addr = os.environ.get("MASTER_ADDR") or first_host(
            os.environ.get("SLURM_STEP_NODELIST") or os.environ.get("SLURM_JOB_NODELIST") or ""
        )
        job = _int_env("SLURM_JOB_ID") or 0
        port = os.environ.get("MASTER_PORT") or str(29500 + job % 1000)
    if world <= 1:
        return None
    return {
        "rank": rank,
        "world_size": world,
        "local_rank": rank if local is None else local,
        "master_addr": addr or "127.0.0.1",
        "master_port": port or "29500",
    }


def first_host(nodelist: str) -> str | None:
    """The first host of a Slurm node list: 'gpu[03-05,09],cpu1' → 'gpu03'."""
    if not nodelist:
        return None
    m = re.match(r"([^,\[]*)(?:\[([^\]]*)\])?([^,]*)", nodelist)
    if m is None:
        return None
    prefix, ranges, suffix = m.groups()
    if ranges is None:
        return prefix + suffix
    return prefix + ranges.split(",")[0].split("-")[0] + suffix


def is_active() -> bool:
    """Whether this process is one of several in an initialised process group."""
    d = torch.distributed
    return d.is_available() and d.is_initialized() and d.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return torch.distributed.get_rank() if is_active() else 0


def world_size() -> int:
    """The number of processes (1 when not distributed)."""
    return torch.distributed.get_world_size() if is_active() else 1


def is_main() -> bool:
    """Whether this process writes the files (rank 0, or the only process)."""
    return rank() == 0


def init(device: torch.device | str | None = None) -> torch.device | None:
    """Join the process group when launched by torchrun or srun; the device to use.

    Args:
        device: the device asked for. "cuda" without an index becomes this
            process's GPU, cuda:LOCAL_RANK; an explicit index is kept.

    Returns:
        The device for this process (`device` unchanged when not launched as
        several processes).
    """
    env = launch_environment()
    if env is None:
        return None if device is None else torch.device(device)
    dev = None if device is None else torch.device(device)
    if dev is not None and dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", env["local_rank"] % max(1, torch.cuda.device_count()))
    if is_active():
        return dev
    os.environ.setdefault("MASTER_ADDR", env["master_addr"])
    os.environ.setdefault("MASTER_PORT", str(env["master_port"]))
    backend = "gloo"
    if dev is not None and dev.type == "cuda":
        torch.cuda.set_device(dev)
        backend = "cpu:gloo,cuda:nccl"  # objects and barriers on gloo, CUDA tensors on NCCL
    torch.distributed.init_process_group(
        backend, rank=env["rank"], world_size=env["world_size"], init_method="env://"
    )
    atexit.register(_leave)
    return dev


def _leave() -> None:
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def barrier() -> None:
    """Wait until every process gets here (nothing when not distributed)."""
    if is_active():
        torch.distributed.barrier()


def all_reduce_sum(tensors: list[Tensor]) -> list[Tensor]:
    """Each tensor summed over all processes, in one collective (new tensors)."""
    if not is_active():
        return list(tensors)
    flat = torch.cat([t.reshape(-1) for t in tensors])
    torch.distributed.all_reduce(flat)
    out, start = [], 0
    for t in tensors:
        out.append(flat[start : start + t.numel()].view(t.shape))
        start += t.numel()
    return out


def all_reduce_count(n: int, device: torch.device) -> int:
    """An integer summed over all processes (exact, as int64)."""
    if not is_active():
        return n
    t = torch.tensor([n], dtype=torch.int64, device=device)
    torch.distributed.all_reduce(t)
    return int(t.item())


def all_gather_objects(value: Any) -> list[Any]:
    """Every process's `value` (any picklable object), in rank order."""
    if not is_active():
        return [value]
    out: list[Any] = [None] * world_size()
    torch.distributed.all_gather_object(out, value)
    return out


def main_first(make: Callable[[], T]) -> T:
    """`make()` on rank 0, then on the others; rank 0's exception is raised everywhere.

    For a resource rank 0 creates and the others open (a store): the others
    wait until it exists, and a refusal on rank 0 stops every process with the
    same error instead of leaving them waiting at the next collective.
    """
    if not is_active():
        return make()
    result, failure = None, None
    if is_main():
        try:
            result = make()
        except Exception as err:
            failure = err
    # the class and message travel (any exception pickles that way, whatever its __init__)
    box = [None if failure is None else (type(failure), str(failure))]
    torch.distributed.broadcast_object_list(box, src=0)
    if failure is not None:
        raise failure
    if box[0] is not None:
        kind, message = box[0]
        try:
            error = kind(message)
        except Exception:
            error = RuntimeError(message)
        raise error
    if not is_main():
        result = make()
    return result  # type: ignore[return-value]


def shard_range(n: int, rank_: int, world: int) -> tuple[int, int]:
    """[lo, hi) of process `rank_`'s contiguous share of n items (sizes differ by ≤ 1)."""
    return rank_ * n // world, (rank_ + 1) * n // world


def require_whole_data(obj: Any, needs: str) -> None:
    """Refuse an objective that holds only this process's shard of the samples.

    For computations that are not a mean over samples (and so cannot be
    all-reduced): one row per sample, dense matrices, minibatches drawn from
    the whole data. Without it they would silently see 1/N of the data.

    Args:
        obj: an `Objective` (its `sharded` flag is read).
        needs: what needs the whole data and why, the start of the message.

    Raises:
        ValueError: `obj.sharded` is true; the message says how to fix it.
    """
    if getattr(obj, "sharded", False):
        raise ValueError(
            f"{needs}, which a sharded objective (under torchrun or srun, each process's "
            "share of the samples) does not hold; build the Objective with shard=False "
            "(every process then holds the whole data)."
        )

"""Where to compute: a device name checked against what this machine has.

`torch.device("cuda")` is accepted on any machine, and the failure comes
later, deep in a tensor move, as "Torch not compiled with CUDA enabled" or an
invalid device ordinal. `resolve_device` checks the request up front and,
when it cannot be met, says which device was asked for and which exist.
"""

from __future__ import annotations

import torch


class DeviceUnavailable(ValueError):
    """The requested device does not exist on this machine."""


def available() -> list[str]:
    """The devices this machine can compute on: cpu, then cuda:0 …, then mps."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def resolve_device(device: torch.device | str | None, default: str = "cpu") -> torch.device:
    """`device` as a `torch.device`, checked to exist here.

    Args:
        device: "cpu", "cuda", "cuda:1", "mps", a `torch.device`, or None for
            `default`.
        default: the device None stands for.

    Raises:
        DeviceUnavailable: the name is not a device, or this machine has no
            such device; the message lists the devices it has.
    """
    if device is None:
        device = default
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceUnavailable(
            f"`device` must be cpu, cuda, cuda:N or mps; got {str(device)!r}."
        ) from None
    have = ", ".join(available())
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = (
                "this PyTorch was built without CUDA"
                if torch.version.cuda is None
                else "no CUDA GPU is visible (check CUDA_VISIBLE_DEVICES and the driver)"
            )
            raise DeviceUnavailable(
                f"device {str(dev)!r} was requested but {why}; available: {have}. "
                "Use --device cpu, or run on a machine with a GPU."
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise DeviceUnavailable(
                f"device {str(dev)!r} was requested but this machine has {count} CUDA "
                f"GPU(s); available: {have}."
            )
    elif dev.type == "mps":
        if "mps" not in available():
            raise DeviceUnavailable(
                f"device {str(dev)!r} was requested but Apple's MPS is not available here; "
                f"available: {have}."
            )
    elif dev.type not in ("cpu", "meta"):
        raise DeviceUnavailable(
            f"device {str(dev)!r} is not supported by lossatlas; use one of: {have}."
        )
    return dev

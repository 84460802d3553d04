"""Reading checkpoints into flat parameter space.

A checkpoint on disk is a plain PyTorch state_dict (`model.state_dict()`,
loadable without lossatlas), a flat .npy/.pt vector, or a lossatlas
checkpoint with the settings JSON beside it (written by
`lossatlas.results.checkpoint.save_checkpoint`). Reading one checks that it
fits the model and, when it does not, lists every missing, unexpected and
mis-shaped tensor at once, so the user sees the whole mismatch instead of the
first `KeyError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lossatlas.core.errors import read_file
from lossatlas.core.space import ParamSpace


class CheckpointMismatch(ValueError):
    """A checkpoint does not fit the model; the message lists every difference."""

    def __init__(self, source: str, missing, unexpected, misshaped):
        self.missing, self.unexpected, self.misshaped = list(missing), list(unexpected), misshaped
        lines = [f"checkpoint {source} does not fit the model:"]
        if self.missing:
            lines.append(f"  missing ({len(self.missing)}): " + ", ".join(self.missing))
        if self.unexpected:
            lines.append(f"  unexpected ({len(self.unexpected)}): " + ", ".join(self.unexpected))
        for name, (want, got) in misshaped.items():
            lines.append(
                f"  mis-shaped: {name} is {tuple(got)} in the checkpoint, "
                f"{tuple(want)} in the model"
            )
        lines.append(
            "Build the model with the same architecture and settings as the one that was "
            "saved (the settings JSON beside a lossatlas checkpoint records them)."
        )
        super().__init__("\n".join(lines))


def _strip_prefix(state: Mapping[str, Any], known: set[str]) -> dict[str, Any]:
    """Drop the 'module.' prefix DataParallel/DDP add, when every key has it."""
    keys = list(state)
    if keys and all(k.startswith("module.") for k in keys) and not (set(keys) & known):
        return {k.removeprefix("module."): v for k, v in state.items()}
    return dict(state)


def _load_file(path: Path) -> Mapping[str, Tensor] | Tensor:
    if not path.exists():
        raise FileNotFoundError(f"checkpoint file {str(path)!r} does not exist.")
    if path.suffix == ".npy":
        return torch.from_numpy(read_file(path, np.load, "checkpoint (a .npy flat vector)"))
    obj = read_file(
        path,
        lambda p: torch.load(p, map_location="cpu", weights_only=True),
        "checkpoint (a .pt/.pth state_dict saved with torch.save, or a .npy flat vector)",
    )
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]  # a common wrapping: {"state_dict": ..., "epoch": ...}
    if not isinstance(obj, (Mapping, Tensor)):
        raise TypeError(
            f"checkpoint {str(path)!r} must hold a state_dict or a flat tensor; "
            f"got {type(obj).__name__}."
        )
    return obj


def read_point(
    source: str | PathLike | Mapping[str, Tensor] | nn.Module | Tensor,
    space: ParamSpace,
    module: nn.Module,
) -> tuple[Tensor, dict[str, Tensor]]:
    """(θ, buffers) from a checkpoint of a model with layout `space`.

    Args:
        source: a path (.pt/.pth state_dict or .npy), a state_dict, a module or
            a flat tensor of length n.
        space: the model's parameter space.
        module: the model (for the names of its buffers and frozen parameters,
            which a state_dict also holds and which are not part of θ).

    Returns:
        θ (float tensor on the CPU) and the checkpoint's buffers by name.

    Raises:
        CheckpointMismatch: the state_dict does not fit; lists every difference.
        ValueError: a flat vector of the wrong length.
    """
    label = repr(str(source)) if isinstance(source, (str, PathLike)) else "(in memory)"
    if isinstance(source, (str, PathLike)):
        source = _load_file(Path(source))
    if isinstance(source, nn.Module):
        source = source.state_dict()
    if isinstance(source, Tensor):
        flat = source.detach().reshape(-1) if source.dim() == 1 or source.shape[0] == 1 else None
        if flat is None or flat.numel() != space.size:
            raise ValueError(
                f"checkpoint {label} is a tensor of shape {tuple(source.shape)}; a flat "
                f"checkpoint must have {space.size} elements (the model's trainable "
                "parameters in named_parameters() order)."
            )
        _check_finite(label, {"the flat vector": flat})
        return flat.float() if not flat.is_floating_point() else flat, {}
    if not isinstance(source, Mapping):
        raise TypeError(
            "a checkpoint must be a path, a state_dict, a module or a flat tensor; "
            f"got {type(source).__name__}."
        )
    other = {n for n, _ in module.named_buffers()} | {
        n for n, _ in module.named_parameters() if n not in space._by_name
    }
    state = _strip_prefix(source, set(space.names) | other)
    missing = [n for n in space.names if n not in state]
    unexpected = [k for k in state if k not in space._by_name and k not in other]
    misshaped = {
        e.name: (e.shape, tuple(state[e.name].shape))
        for e in space.entries
        if e.name in state and tuple(state[e.name].shape) != e.shape
    }
    if missing or unexpected or misshaped:
        raise CheckpointMismatch(label, missing, unexpected, misshaped)
    _check_finite(label, {n: state[n] for n in space.names})
    buffers = {n: state[n] for n, _ in module.named_buffers() if n in state}
    return space.flatten(state), buffers


def _check_finite(label: str, tensors: Mapping[str, Tensor]) -> None:
    """Refuse NaN or infinite parameters (a diverged run): no analysis of them means anything."""
    bad = {
        name: int((~torch.isfinite(t)).sum())
        for name, t in tensors.items()
        if t.is_floating_point() and not bool(torch.isfinite(t).all())
    }
    if bad:
        listed = ", ".join(f"{name} ({count})" for name, count in bad.items())
        raise ValueError(
            f"checkpoint {label} has non-finite values (NaN or inf) in: {listed}. "
            "Its training probably diverged; choose an earlier checkpoint."
        )

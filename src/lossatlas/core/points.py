"""Reading checkpoints into flat parameter space.

A checkpoint on disk is a plain PyTorch state_dict (`model.state_dict()`,
loadable without lossatlas), a flat .npy/.pt vector, a row of a stack of
solutions (`FILE.npy:i`, see `load_solution_stack`), or a lossatlas
checkpoint with the settings JSON beside it (written by
`lossatlas.results.checkpoint.save_checkpoint`). Reading one checks that it
fits the model and, when it does not, lists every missing, unexpected and
mis-shaped tensor at once, so the user sees the whole mismatch instead of the
first `KeyError`.
"""

from __future__ import annotations

import re
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


STACK_SUFFIXES = (".npy", ".pt", ".pth")
_ROW = re.compile(r"^(?P<file>.+\.(?:npy|pt|pth)):(?P<row>-?\d+)$")


def load_solution_stack(path: str | PathLike, size: int | None = None) -> Tensor:
    """A set of solutions: a [k, n] stack of flat vectors, one solution a row.

    The form the optimizer-strategies paper's repository publishes its solutions in
    (e.g. `LSTM_BFGS_Training_best48_weights.npy`: 48 rows in `model.parameters()`
    order). A .npy file (read without pickles) or a .pt/.pth file holding one 2-D tensor.

    Args:
        path: the file.
        size: the model's number of parameters n; a stack of another width is refused
            naming both sizes.

    Raises:
        ValueError: not a 2-D numeric stack, the wrong width, or non-finite rows.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"solution stack {str(path)!r} does not exist.")
    if path.suffix not in STACK_SUFFIXES:
        raise ValueError(
            f"solution stack {str(path)!r} must be a .npy or .pt file (k × n, one flattened "
            "solution per row)."
        )
    what = "solution stack (k × n, one flattened solution per row)"
    if path.suffix == ".npy":
        value: Any = torch.from_numpy(
            read_file(path, lambda p: np.load(p, allow_pickle=False), what)
        )
    else:
        value = read_file(
            path, lambda p: torch.load(p, map_location="cpu", weights_only=True), what
        )
    if not isinstance(value, Tensor) or value.dim() != 2 or not value.is_floating_point():
        shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise ValueError(
            f"solution stack {str(path)!r} must hold a 2-D float array (k solutions × n "
            f"parameters); got {shape}."
        )
    if size is not None and value.shape[1] != size:
        raise ValueError(
            f"the solutions in {str(path)!r} have {value.shape[1]} parameters each, but the "
            f"model has {size}: build the model the stack was trained with (the vectors are "
            "its parameters in named_parameters() order)."
        )
    bad = [i for i in range(len(value)) if not bool(torch.isfinite(value[i]).all())]
    if bad:
        raise ValueError(
            f"solution stack {str(path)!r} has non-finite values (NaN or inf) in rows "
            f"{bad[:10]}{' …' if len(bad) > 10 else ''}; drop those solutions."
        )
    return value


def _stack_row(text: str) -> Tensor | None:
    """Row i of a solution stack named as `FILE.npy:i` (negative i counts from the end)."""
    match = _ROW.match(text)
    if match is None or Path(text).exists():
        return None
    stack = load_solution_stack(match["file"])
    row = int(match["row"])
    if not -len(stack) <= row < len(stack):
        raise ValueError(
            f"{text!r}: the stack {match['file']!r} has {len(stack)} solutions (rows 0 to "
            f"{len(stack) - 1}); got row {row}."
        )
    return stack[row]


def _load_file(path: Path) -> Mapping[str, Tensor] | Tensor:
    row = _stack_row(str(path))
    if row is not None:
        return row
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

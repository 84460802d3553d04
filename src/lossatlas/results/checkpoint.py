"""Writing checkpoints: a plain PyTorch state_dict beside a JSON file of the settings
that made it, both written atomically. Reading them back is
`lossatlas.core.points.read_point` (`Objective.load_point`).
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from torch import nn

from lossatlas.core.points import CheckpointMismatch, read_point

__all__ = ["CheckpointMismatch", "read_point", "save_checkpoint"]


def save_checkpoint(
    path: str | PathLike, model: nn.Module, settings: Mapping[str, Any] | None = None
) -> Path:
    """Write `model.state_dict()` to `path` (.pt) and `settings` to `path` with .json.

    Both are written to a temporary file first and renamed, so a kill while
    saving never leaves a truncated checkpoint or settings file behind.
    """
    from lossatlas.results.files import save_torch, write_json

    path = Path(path)
    save_torch({k: v.detach().cpu() for k, v in model.state_dict().items()}, path)
    if settings is not None:
        write_json(path.with_suffix(".json"), dict(settings), sort_keys=True)
    return path

"""Finding a data set's files on the local disk (there is no download): the `root`
argument, then the `LOSSATLAS_DATA` directory, and an error that lists where it looked."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lossatlas.zoo.data.splits import (
    DATA_ENV,
)


def _resolve_root(root: str | os.PathLike[str] | None, what: str, files: str, where: str) -> Path:
    if root is None:
        root = os.environ.get(DATA_ENV) or None
    if root is None:
        raise FileNotFoundError(
            f"`root` must be the directory holding the {what} files; got None and "
            f"{DATA_ENV} is not set. Expected files: {files}. {where} "
            f"Then pass root=... or set {DATA_ENV}."
        )
    return Path(root).expanduser()


def _find_files(
    candidates: Sequence[Path], names: Sequence[str], *, gz: bool
) -> tuple[Path, list[Path]] | None:
    """The first candidate directory holding every name (raw first, else ``.gz``)."""
    for folder in candidates:
        found = []
        for name in names:
            options = [folder / name, folder / f"{name}.gz"] if gz else [folder / name]
            hit = next((p for p in options if p.is_file()), None)
            if hit is None:
                break
            found.append(hit)
        else:
            return folder, found
    return None


def _missing_message(what: str, candidates: Sequence[Path], files: str, where: str) -> str:
    searched = ", ".join(f"'{c}'" for c in candidates)
    return (
        f"{what} files not found: searched {searched} for {files}. {where} "
        f"Then pass root=... or set {DATA_ENV}."
    )


def _check_labels(labels: np.ndarray, n: int, num_classes: int, source: str) -> None:
    if labels.shape != (n,):
        raise ValueError(
            f"labels in '{source}' must have shape ({n},) to match the images; "
            f"got {labels.shape}. The files do not belong together; download them again."
        )
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"labels in '{source}' must lie in 0..{num_classes - 1}; "
            f"got values in {labels.min()}..{labels.max()}. The file is corrupt."
        )

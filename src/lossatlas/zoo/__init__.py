"""Models, data sets and synthetic landscapes that ship with lossatlas.

`build(name, **kw)` makes a model, `dataset(name, **kw)` a seeded train/test
`Split`, `landscape(name)` a 2-D landscape with known critical points;
`build_for(name, split)` sizes a model to a data set, and
`landscape_objective(name)` turns a landscape into an `Objective` with
L(θ) = E(θ) exactly.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from lossatlas.zoo.data import DATASETS, Split, dataset
from lossatlas.zoo.landscapes import LANDSCAPES, Landscape, landscape
from lossatlas.zoo.models import MODELS, build
from lossatlas.zoo.registry import lookup


def build_for(name: str, split: Split, **kw: Any) -> nn.Module:
    """`build(name)` with the input shape, number of classes or widths of `split`.

    Only the keywords the model takes are filled in, and explicit ones win:
    image models get `input_shape` and `num_classes`; an `mlp` gets
    `widths=(inputs, 16, 16, outputs)` unless `widths` is given.
    """
    if name not in MODELS:
        return build(name, **kw)  # the registry's own error lists the names
    accepted = inspect.signature(MODELS[name]).parameters
    derived: dict[str, Any] = {}
    if "input_shape" in accepted and len(split.input_shape) == 3:
        derived["input_shape"] = tuple(split.input_shape)
    if "num_classes" in accepted and split.num_classes is not None:
        derived["num_classes"] = split.num_classes
    if "widths" in accepted:
        inputs = int(torch.tensor(split.input_shape).prod())
        y = split.train[1]
        outputs = split.num_classes or (y.shape[1] if y.dim() > 1 else 1)
        derived["widths"] = (inputs, 16, 16, outputs)
    return build(name, **{**derived, **kw})


def landscape_objective(name: str, start: Sequence[float] | Tensor | None = None, **kw: Any):
    """An `Objective` whose L(θ) is the landscape's energy E(θ), θ = (x, y), in float64."""
    from lossatlas.core.objective import Objective

    if start is None:  # the default start in float64 itself, not a float32 rounding of it
        start = lookup(LANDSCAPES, name).default_start
    point = torch.as_tensor(start, dtype=torch.float64)
    surface = landscape(name, start=point, **kw)
    return Objective(surface, torch.zeros(1, 1), loss="identity", dtype=torch.float64)


__all__ = [
    "DATASETS",
    "LANDSCAPES",
    "MODELS",
    "Landscape",
    "Split",
    "build",
    "build_for",
    "dataset",
    "landscape",
    "landscape_objective",
]

"""What a user points lossatlas at, resolved: models, data and checkpoints by name or path.

A model is a zoo name (`fcp`) or `package.module:function` returning an
`nn.Module`; data is a zoo name (`digits`) or a local file holding tensors
(`.pt` with a dict or tuple, `.npz`), so the command line works on the
user's own models and data without editing any code.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lossatlas import zoo
from lossatlas.core.errors import read_file
from lossatlas.results.keywords import coerce_keywords
from lossatlas.zoo.data import Split


def default_loss(data: Any) -> str:
    """cross_entropy for classification splits, mse for regression and reconstruction."""
    task = getattr(data, "task", "classification")
    return "cross_entropy" if task == "classification" else "mse"


@contextlib.contextmanager
def _importable(folder: Path):
    """`folder` on sys.path for the duration (console scripts leave the current one out)."""
    entry = str(folder)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


def load_model(spec: str, split: Split | None = None, **kw: Any) -> nn.Module:
    """A model from a zoo name (sized to `split`) or from `package.module:function`.

    The function is imported with the current directory on the path, so a
    `mymodels.py` beside the user's files works. Importing it runs its code: a
    model spec, on the command line or in a config file, is trusted like a script.
    """
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            with _importable(Path.cwd()):  # `--model mymodels:tiny` beside the user's files
                factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise ValueError(
                f"model {spec!r} must be a zoo name or an importable `package.module:function`; "
                f"importing it failed: {err}."
            ) from err
        model = factory(**coerce_keywords(factory, kw, "--model-arg"))
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"model factory {spec!r} must return a torch.nn.Module; got {type(model).__name__}."
            )
        return model
    if spec in zoo.MODELS:
        kw = coerce_keywords(zoo.MODELS[spec], kw, "--model-arg")
    if split is None:
        return zoo.build(spec, **kw)
    return zoo.build_for(spec, split, **kw)


def _pair(obj: Any, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(obj, dict) and "x" in obj:
        x, y = obj["x"], obj.get("y", obj["x"])
    elif isinstance(obj, (tuple, list)) and len(obj) == 2:
        x, y = obj
    else:
        raise ValueError(f"{where} must hold x and y (a dict with keys 'x', 'y' or a pair).")
    return torch.as_tensor(x), torch.as_tensor(y)


def _read_npz(path: Path) -> dict:
    with np.load(path) as archive:
        return dict(archive)


def _read_pt(path: Path) -> Any:
    return torch.load(path, map_location="cpu", weights_only=True)


def _check_arrays(x: torch.Tensor, y: torch.Tensor, where: str) -> None:
    """At least one sample, as many targets as inputs, and only finite numbers."""
    if x.dim() == 0 or x.shape[0] == 0:
        raise ValueError(f"{where} must hold at least one sample; x has shape {tuple(x.shape)}.")
    if y.dim() == 0 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"{where}: x and y must have the same number of samples; got x of shape "
            f"{tuple(x.shape)} and y of shape {tuple(y.shape)}."
        )
    for name, t in (("x", x), ("y", y)):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            count = int((~torch.isfinite(t)).sum())
            raise ValueError(
                f"{where} has {count} non-finite value{'s' if count > 1 else ''} in {name} "
                "(NaN or inf); clean or drop those samples first."
            )


def _count_classes(labels: list[torch.Tensor], classes: int | None, where: str) -> int:
    """The number of classes of integer labels, checked.

    Labels must be 0..C-1. Without `classes`, C is the largest label + 1 and
    every label below it must occur: one stray label of 1000 would otherwise
    build a 1001-class model in silence.
    """
    y = torch.cat([t.reshape(-1) for t in labels])
    low, high = int(y.min()), int(y.max())
    if low < 0:
        count = int((y < 0).sum())
        raise ValueError(
            f"{where} has {count} negative label{'s' if count > 1 else ''} (the smallest is "
            f"{low}); class labels must be 0, 1, …, C-1."
        )
    if classes is not None:
        if high >= classes:
            raise ValueError(
                f"{where} has the label {high}, outside `--classes {classes}` (labels 0 to "
                f"{classes - 1}); give --classes {high + 1} or more."
            )
        return classes
    present = torch.unique(y)
    if len(present) < high + 1:
        absent = sorted(set(range(high + 1)) - set(present.tolist()))
        shown = ", ".join(map(str, absent[:8])) + (", …" if len(absent) > 8 else "")
        raise ValueError(
            f"{where}'s labels run up to {high}, which implies {high + 1} classes, but only "
            f"{len(present)} of them occur (absent: {shown}). Relabel the classes as 0 to "
            f"{len(present) - 1}, or pass --classes {high + 1} if the absent ones are real."
        )
    return high + 1


def load_data(spec: str, classes: int | None = None, **kw: Any) -> Split:
    """A `Split` from a zoo name or a local file.

    Files: `.pt` with {"x", "y"[, "x_test", "y_test"]} or (x, y); `.npz` with
    arrays x, y[, x_test, y_test]. Without test arrays the test split is the
    training split (and said so in `info`). Integer labels of a file must be
    0..C-1 with every class present, unless `classes` gives C.
    """
    path = Path(spec).expanduser()
    if path.suffix not in (".pt", ".pth", ".npz"):
        if classes is not None:
            raise ValueError(
                f"`--classes` is for data files; the zoo data set {spec!r} knows its classes."
            )
        return zoo.dataset(spec, **coerce_keywords(zoo.data.loader(spec), kw, "--data-arg"))
    if not path.exists():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist.")
    raw: Any = read_file(
        path,
        _read_npz if path.suffix == ".npz" else _read_pt,
        f"data file ({path.suffix} of arrays x, y)",
    )
    x, y = _pair(raw, f"data file {str(path)!r}")
    _check_arrays(x, y, f"data file {str(path)!r}")
    test = (
        _pair({"x": raw["x_test"], "y": raw["y_test"]}, "test arrays")
        if isinstance(raw, dict) and "x_test" in raw
        else (x, y)
    )
    if test[0] is not x:
        _check_arrays(*test, f"the test arrays of {str(path)!r}")
    if x.is_floating_point():
        x, test = x.float(), (test[0].float(), test[1])
    labelled = not y.is_floating_point() and y.dim() == 1
    where = f"data file {str(path)!r}"
    num_classes = _count_classes([y, test[1]], classes, where) if labelled else None
    return Split(
        name=path.stem,
        train=(x, y),
        test=test,
        input_shape=tuple(x.shape[1:]),
        num_classes=num_classes,
        task="classification" if labelled else "regression",
        info={"source": str(path), "test_is_train": test[0] is x},
    )

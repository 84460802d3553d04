"""`Split`, the seeded train/test split every loader returns, and the checks loaders share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from torch import Tensor

Task = Literal["classification", "regression", "reconstruction"]


#: Environment variable read when a file-based loader gets no ``root``.
DATA_ENV = "LOSSATLAS_DATA"


@dataclass(frozen=True, repr=False, eq=False)  # tensors have no truth value for ==
class Split:
    """A data set split into a training and a test set.

    Attributes:
        name: the registry name, e.g. ``"digits"``.
        train: ``(inputs, targets)`` of the training set.
        test: ``(inputs, targets)`` of the test set.
        input_shape: shape of one input, e.g. ``(1, 8, 8)``.
        num_classes: number of classes, or None for regression and reconstruction.
        task: ``"classification"`` (int64 class targets), ``"regression"`` (float
            targets) or ``"reconstruction"`` (targets are the inputs).
        info: provenance: source, seed, sizes and loader-specific entries.
    """

    name: str
    train: tuple[Tensor, Tensor]
    test: tuple[Tensor, Tensor]
    input_shape: tuple[int, ...]
    num_classes: int | None
    task: Task
    info: dict[str, Any]

    def __repr__(self) -> str:
        # The default dataclass repr would print every tensor.
        def shapes(pair: tuple[Tensor, Tensor]) -> str:
            x, y = pair
            return f"({tuple(x.shape)} {x.dtype}, {tuple(y.shape)} {y.dtype})"

        return (
            f"Split(name={self.name!r}, task={self.task!r}, train={shapes(self.train)}, "
            f"test={shapes(self.test)}, input_shape={self.input_shape}, "
            f"num_classes={self.num_classes})"
        )


def _check_fraction(test_fraction: float) -> float:
    if not (isinstance(test_fraction, int | float) and 0.0 < test_fraction < 1.0):
        raise ValueError(
            f"`test_fraction` must be a number strictly between 0 and 1; got {test_fraction!r}."
        )
    return float(test_fraction)


def _check_count(name: str, value: Any, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        also = " or None" if allow_none else ""
        raise ValueError(f"`{name}` must be a positive integer{also}; got {value!r}.")
    return value


def _check_task(task: str, allowed: Sequence[str]) -> None:
    if task not in allowed:
        raise ValueError(f"`task` must be one of {', '.join(map(repr, allowed))}; got {task!r}.")


def _image_split(
    name: str,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    num_classes: int,
    task: str,
    info: dict[str, Any],
) -> Split:
    """Build the Split of an image classification set, or its reconstruction variant."""
    if task == "reconstruction":
        # Keep the labels: they colour plots of an autoencoder's codes.
        info = {**info, "train_labels": train[1], "test_labels": test[1]}
        train, test = (train[0], train[0].clone()), (test[0], test[0].clone())
        num_classes_or_none = None
    else:
        num_classes_or_none = num_classes
    return Split(
        name=name,
        train=train,
        test=test,
        input_shape=tuple(train[0].shape[1:]),
        num_classes=num_classes_or_none,
        task=task,  # type: ignore[arg-type]
        info=info,
    )

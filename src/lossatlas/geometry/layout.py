"""The layout of a plain MLP in θ: its Linear layers and the activations between them.

Weight-space symmetries (`geometry.symmetry`) act unit by unit on the hidden
layers of an MLP built as nn.Sequential([Flatten,] Linear, act, ..., Linear[,
act]); this module finds those layers in θ and says, for each activation,
which kind of symmetry it allows: "odd" (tanh: flips), "sigmoid" (flips that
move weight into the next bias), "homogeneous" (ReLU: positive rescalings)
or "other" (permutations only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import nn

from lossatlas.core.objective import Objective
from lossatlas.core.space import ParamSpace
from lossatlas.zoo.models import SmooLU

Kind = Literal["odd", "sigmoid", "homogeneous", "other"]

_ODD = (nn.Tanh, nn.Softsign, nn.Hardtanh, nn.Tanhshrink, nn.Softshrink, nn.Hardshrink)
_HOMOGENEOUS = (nn.ReLU, nn.LeakyReLU, nn.ReLU6)
_ELEMENTWISE = (
    *_ODD,
    *_HOMOGENEOUS,
    nn.Sigmoid,
    nn.Softplus,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.CELU,
    nn.SELU,
    SmooLU,
)


def _kind(act: nn.Module) -> Kind:
    if isinstance(act, nn.ReLU6):
        return "other"  # min(max(z, 0), 6) is not homogeneous: the cap moves with c
    if isinstance(act, nn.Hardtanh) and act.min_val != -act.max_val:
        return "other"  # an asymmetric clip is not odd
    if isinstance(act, _ODD):
        return "odd"
    if isinstance(act, _HOMOGENEOUS):
        return "homogeneous"
    return "sigmoid" if isinstance(act, nn.Sigmoid) else "other"


@dataclass(frozen=True)
class MLPLayout:
    """Where each Linear layer of an MLP lives in θ, and its hidden activations.

    Attributes:
        weights: θ slice of each layer's weight, input layer first.
        shapes: (out, in) of each weight.
        biases: θ slice of each bias, or None.
        activations: class name of the activation after each hidden layer.
        kinds: symmetry kind of each hidden layer ("odd", "sigmoid",
            "homogeneous", "other").
        size: n, the length of θ.
    """

    weights: tuple[slice, ...]
    shapes: tuple[tuple[int, int], ...]
    biases: tuple[slice | None, ...]
    activations: tuple[str, ...]
    kinds: tuple[Kind, ...]
    size: int

    @property
    def widths(self) -> tuple[int, ...]:
        """M_l: hidden units per hidden layer."""
        return tuple(s[0] for s in self.shapes[:-1])


def mlp_layout(model: nn.Module | Objective) -> MLPLayout:
    """Parse an MLP built as nn.Sequential([Flatten,] Linear, act, Linear, ..., Linear[, act]).

    Raises:
        ValueError: for any other structure, naming the module that does not fit.
    """
    if isinstance(model, Objective):
        model = model.model
    if not isinstance(model, nn.Sequential):
        raise ValueError(
            "`model` must be an MLP built as nn.Sequential (Linear layers with elementwise "
            f"activations between them); got {type(model).__name__}."
        )
    space = ParamSpace.of(model)
    children = list(model.named_children())
    linears: list[tuple[str, nn.Linear]] = []
    acts: list[nn.Module] = []
    pending: nn.Module | None = None
    for i, (name, child) in enumerate(children):
        if isinstance(child, nn.Linear):
            if linears and pending is None:
                raise ValueError(
                    f"`model` has two Linear layers with no activation between them "
                    f"(before {name!r}); merge them into one."
                )
            if linears:
                acts.append(pending)
            linears.append((name, child))
            pending = None
        elif isinstance(child, nn.Flatten) and i == 0:
            continue
        elif isinstance(child, _ELEMENTWISE):
            if pending is not None or not linears:
                raise ValueError(
                    f"module {name!r} ({type(child).__name__}) must follow a Linear layer."
                )
            pending = child
        else:
            raise ValueError(
                f"module {name!r} ({type(child).__name__}) is not a Linear layer or a known "
                "parameter-free elementwise activation; weight-space symmetries are defined "
                "here for plain MLPs only."
            )
    if len(linears) < 2:
        raise ValueError("`model` needs at least two Linear layers (one hidden layer).")
    weights, biases = [], []
    for name, layer in linears:
        weights.append(space[f"{name}.weight"].slice)
        has_bias = layer.bias is not None and f"{name}.bias" in space._by_name
        biases.append(space[f"{name}.bias"].slice if has_bias else None)
    return MLPLayout(
        weights=tuple(weights),
        shapes=tuple((lin.out_features, lin.in_features) for _, lin in linears),
        biases=tuple(biases),
        activations=tuple(type(a).__name__ for a in acts),
        kinds=tuple(_kind(a) for a in acts),
        size=space.size,
    )

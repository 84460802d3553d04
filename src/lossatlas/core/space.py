"""The flat parameter space of a model.

Everything in lossatlas is a function of one flat vector θ ∈ R^n that holds
every trainable number of the network. `ParamSpace` is the layout that maps
θ back to the named tensors of a module (and the other way round), and knows
what each tensor is: a weight, a bias, or a normalisation parameter, and
which coordinates form one *filter* in the sense of Li et al. (2018), §4:
a filter is a slice along dim 0 of a weight tensor (an output channel of a
convolution, a row of a Linear weight).

References:
    Li, Xu, Taylor, Studer, Goldstein (2018). Visualizing the Loss Landscape
    of Neural Nets. NeurIPS. §4 (filter normalisation).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import torch
from torch import Tensor, nn

Kind = Literal["weight", "bias", "norm"]

# Modules whose parameters are normalisation scales and shifts (Li et al.'s "bn"):
# direction normalisation treats them like biases.
_NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
)
if hasattr(nn, "RMSNorm"):
    _NORM_TYPES = (*_NORM_TYPES, nn.RMSNorm)


@dataclass(frozen=True)
class ParamEntry:
    """One trainable tensor: where it lives in θ and what it is.

    Attributes:
        name: its name in `model.named_parameters()`.
        shape: its shape.
        offset: index of its first element in θ.
        numel: number of elements.
        kind: "weight" (at least 2-D, or 1-D outside a normalisation layer and not
            named bias), "bias", or "norm" (a parameter of a normalisation layer).
    """

    name: str
    shape: tuple[int, ...]
    offset: int
    numel: int
    kind: Kind

    @property
    def slice(self) -> slice:
        """Where this tensor lies in θ: `theta[entry.slice]`."""
        return slice(self.offset, self.offset + self.numel)

    @property
    def num_filters(self) -> int:
        """Filters along dim 0 for a weight; a bias or norm parameter is one group."""
        return self.shape[0] if (self.kind == "weight" and len(self.shape) >= 2) else 1


def _kind_of(module: nn.Module, param_name: str, param: Tensor) -> Kind:
    if isinstance(module, _NORM_TYPES):
        return "norm"
    if param_name.endswith("bias") or param.dim() <= 1:
        # 1-D parameters that are not normalisation scales act as biases or
        # per-unit offsets; Li et al. treat every 1-D tensor this way.
        return "bias"
    return "weight"


class ParamSpace:
    """Layout of every trainable tensor of a model in one flat vector.

    The order is `model.named_parameters()` order; a parameter shared by two
    modules appears once (PyTorch's de-duplication), so θ has no repeated
    coordinates. Parameters with `requires_grad=False` are not part of θ.

    Examples:
        >>> import torch
        >>> from torch import nn
        >>> space = ParamSpace.of(nn.Linear(3, 2))
        >>> space.size
        8
        >>> theta = space.flatten(nn.Linear(3, 2))
        >>> {k: tuple(v.shape) for k, v in space.unflatten(theta).items()}
        {'weight': (2, 3), 'bias': (2,)}
    """

    def __init__(self, entries: Iterable[ParamEntry]):
        self.entries: tuple[ParamEntry, ...] = tuple(entries)
        self.size: int = sum(e.numel for e in self.entries)
        self._by_name = {e.name: e for e in self.entries}

    @classmethod
    def of(cls, model: nn.Module) -> ParamSpace:
        """The layout of `model`'s trainable parameters."""
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"`model` must be a torch.nn.Module; got {type(model).__name__} instead."
            )
        owners = {}
        for mod_name, module in model.named_modules():
            for p_name, _ in module.named_parameters(recurse=False):
                owners.setdefault(f"{mod_name}.{p_name}" if mod_name else p_name, module)
        entries, offset = [], 0
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            local = name.rsplit(".", 1)[-1]
            kind = _kind_of(owners[name], local, p)
            entries.append(ParamEntry(name, tuple(p.shape), offset, p.numel(), kind))
            offset += p.numel()
        if not entries:
            raise ValueError(
                "`model` must have at least one trainable parameter; got none "
                "(all parameters have requires_grad=False)."
            )
        return cls(entries)

    # -- mapping between θ and named tensors ---------------------------------

    @property
    def names(self) -> list[str]:
        """The tensors' names, in θ's order."""
        return [e.name for e in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, name: str) -> ParamEntry:
        return self._by_name[name]

    def __repr__(self) -> str:
        kinds = {k: sum(e.numel for e in self.entries if e.kind == k) for k in _KINDS}
        return (
            f"ParamSpace(size={self.size}, tensors={len(self)}, "
            + ", ".join(f"{k}={v}" for k, v in kinds.items())
            + ")"
        )

    def flatten(self, tensors: nn.Module | Mapping[str, Tensor]) -> Tensor:
        """One flat θ from a module or a name → tensor mapping (a copy).

        Raises:
            KeyError: a tensor of the layout is missing from the mapping.
            ValueError: a tensor has the wrong shape.
        """
        if isinstance(tensors, nn.Module):
            tensors = dict(tensors.named_parameters())
        parts = []
        for e in self.entries:
            if e.name not in tensors:
                raise KeyError(f"tensor {e.name!r} of the parameter space is missing")
            t = tensors[e.name]
            if tuple(t.shape) != e.shape:
                raise ValueError(
                    f"tensor {e.name!r} must have shape {e.shape}; got {tuple(t.shape)}."
                )
            parts.append(t.detach().reshape(-1))
        return torch.cat(parts)

    def unflatten(self, theta: Tensor) -> dict[str, Tensor]:
        """Name → tensor views into θ (no copies; gradients flow back to θ).

        θ may carry leading batch dimensions ([..., n]); each view then has
        shape [..., *shape].
        """
        self.check(theta, "theta")
        lead = theta.shape[:-1]
        # a tuple, not *args: a 0-d parameter (a learnt scalar) has the empty shape ()
        return {e.name: theta[..., e.slice].view((*lead, *e.shape)) for e in self.entries}

    def assign(self, model: nn.Module, theta: Tensor) -> nn.Module:
        """Write θ into `model`'s parameters in place (the inverse of `flatten`); returns it."""
        self.check(theta)
        if theta.dim() != 1:
            raise ValueError(f"`theta` must be 1-D to assign it; got {tuple(theta.shape)}.")
        params = dict(model.named_parameters())
        with torch.no_grad():
            for name, view in self.unflatten(theta).items():
                params[name].copy_(view)
        return model

    def check(self, theta: Tensor, what: str = "theta") -> None:
        """Raise a clear error unless `theta` is a tensor whose last dim is `size`."""
        if not isinstance(theta, Tensor):
            raise TypeError(f"`{what}` must be a torch.Tensor; got {type(theta).__name__}.")
        if theta.dim() == 0 or theta.shape[-1] != self.size:
            raise ValueError(
                f"`{what}` must be a flat parameter vector of length {self.size} "
                f"(the model's trainable parameters); got shape {tuple(theta.shape)}."
            )

    # -- groups used by direction normalisation ------------------------------

    def mask(self, kind: Kind | Iterable[Kind], device=None) -> Tensor:
        """Boolean [n] mask of the coordinates of the given kind(s)."""
        kinds = {kind} if isinstance(kind, str) else set(kind)
        unknown = kinds - set(_KINDS)
        if unknown:
            raise ValueError(f"`kind` must be one of {_KINDS}; got {sorted(unknown)}.")
        m = torch.zeros(self.size, dtype=torch.bool, device=device)
        for e in self.entries:
            if e.kind in kinds:
                m[e.slice] = True
        return m

    @cached_property
    def filter_index(self) -> Tensor:
        """Long [n]: the filter group of each coordinate.

        A weight tensor of shape [F, ...] contributes F consecutive groups (one
        per slice along dim 0, Li et al. 2018 §4); a bias or normalisation
        tensor is one group. Groups are numbered 0..num_groups−1 in θ order, so
        per-filter norms are one `index_add_` (no Python loop over filters).
        """
        idx = torch.empty(self.size, dtype=torch.long)
        group = 0
        for e in self.entries:
            f = e.num_filters
            per = e.numel // f
            idx[e.slice] = torch.arange(group, group + f).repeat_interleave(per)
            group += f
        return idx

    @property
    def num_groups(self) -> int:
        """The number of filter groups (Li et al. 2018 §4) over all tensors."""
        return sum(e.num_filters for e in self.entries)

    @cached_property
    def layer_index(self) -> Tensor:
        """Long [n]: the index of the tensor (layer) each coordinate belongs to."""
        return torch.repeat_interleave(
            torch.arange(len(self.entries)), torch.tensor([e.numel for e in self.entries])
        )


_KINDS: tuple[Kind, ...] = ("weight", "bias", "norm")

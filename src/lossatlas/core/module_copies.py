"""Private copies of a user's module: parameters on the meta device, buffers moved.

`Objective` evaluates the model through `torch.func.functional_call` on a
copy whose parameters take no memory (they come from θ on every call) and
whose buffers (BatchNorm statistics) live on the objective's device and dtype,
so the user's module is never modified and no second copy of the weights
exists.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from torch import Tensor, nn

from lossatlas.core.space import ParamSpace

Mode = Literal["eval", "train"]
# BatchNorm layers: their buffers follow the mode (running statistics, or none on batch statistics)
_BN_TYPES = (nn.modules.batchnorm._BatchNorm,)


def _dtype_of(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating-point parameter; float32 if it has none."""
    for t in model.parameters():
        if t.is_floating_point():
            return t.dtype
    return torch.float32


def _device_of(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    return torch.device("cpu")


def _stateless_copy(
    model: nn.Module, space: ParamSpace, mode: Mode, device: torch.device, dtype: torch.dtype
) -> nn.Module:
    """A copy of `model` for functional evaluation.

    Trainable parameters become meta tensors (they are always supplied from θ,
    so copying them would only double the memory); buffers and frozen
    parameters are real, on `device`, in `dtype` if floating. The copy is in
    eval mode so dropout is off; for mode "train" every BatchNorm forgets its
    running statistics, which makes it normalise with batch statistics and
    never update a buffer (safe under vmap and for the user's model).
    """
    trainable = dict(model.named_parameters())
    memo = {
        id(p): nn.Parameter(torch.empty(p.shape, device="meta", dtype=dtype))
        for name, p in trainable.items()
        if name in space._by_name
    }
    module = copy.deepcopy(model, memo)
    module.eval()
    for name, buf in list(module.named_buffers()):
        if buf is not None:
            _set_tensor(module, name, _moved(buf, device, dtype))
    for name, p in list(module.named_parameters()):
        if name not in space._by_name:
            _set_tensor(module, name, nn.Parameter(_moved(p.detach(), device, dtype), False))
    if mode == "train":
        for m in module.modules():
            if isinstance(m, _BN_TYPES):
                m.track_running_stats = False
                m.running_mean = None
                m.running_var = None
                m.num_batches_tracked = None
    return module


def _materialised(
    module: nn.Module, space: ParamSpace, device: torch.device
) -> tuple[nn.Module, list[Tensor]]:
    """A copy of the stateless module whose θ parameters are real tensors (no grad).

    Returns the copy and its parameters in `space.entries` order. A parameter
    shared between modules is replaced once and stays shared.
    """
    copy_ = copy.deepcopy(module)
    originals = dict(copy_.named_parameters())  # de-duplicated: one name per tensor
    real: dict[int, nn.Parameter] = {}
    for e in space.entries:
        p = originals[e.name]
        real[id(p)] = nn.Parameter(
            torch.empty(e.shape, dtype=p.dtype, device=device), requires_grad=False
        )
    for m in copy_.modules():
        for name, p in list(m._parameters.items()):
            if p is not None and id(p) in real:
                setattr(m, name, real[id(p)])  # setattr: nn.LSTM re-reads its flat weights
    return copy_, [real[id(originals[e.name])] for e in space.entries]


def _moved(t: Tensor, device: torch.device, dtype: torch.dtype) -> Tensor:
    return t.to(device=device, dtype=dtype if t.is_floating_point() else t.dtype)


def _set_tensor(module: nn.Module, name: str, value: Tensor) -> None:
    owner_name, _, attr = name.rpartition(".")
    owner = module.get_submodule(owner_name) if owner_name else module
    if attr in owner._parameters:
        setattr(owner, attr, value)  # setattr, not _parameters: nn.LSTM re-reads flat weights
    else:
        owner._buffers[attr] = value

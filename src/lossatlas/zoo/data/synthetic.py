"""Synthetic data with known minima: XOR and the student-teacher setting.

References:
    Hamey (1998). XOR has no local minima: a case study in neural network error
    surface analysis. Neural Networks 11(4), 669-681.
    Gallagher (2000). Multi-layer Perceptron Error Surfaces: Visualization,
    Structure and Modelling. PhD thesis, University of Queensland (student-teacher
    setting; catalogue §5.6).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from lossatlas.zoo.data.splits import (
    Split,
    _check_count,
)


def xor(*, seed: int = 0) -> Split:
    """The four XOR patterns, as a regression problem.

    Inputs (0,0), (0,1), (1,0), (1,1) with targets 0, 1, 1, 0; Hamey (1998) and
    Gallagher (2000, §5.6.2 of the catalogue) study the sum of squared errors of a
    2-2-1 sigmoid network on them. The training and test sets are the same four
    patterns (as separate tensors).

    Args:
        seed: accepted for a uniform signature and stored in ``info``; nothing is random.

    Returns:
        The split: inputs float32 [4, 2], targets float32 [4, 1], task "regression".
    """
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    info = {
        "source": "XOR truth table (Hamey 1998; Gallagher 2000); train = test",
        "seed": seed,
        "n_train": 4,
        "n_test": 4,
    }
    return Split("xor", (x, y), (x.clone(), y.clone()), (2,), None, "regression", info)


def teacher_mlp(widths: Sequence[int], parameters: Tensor | None = None) -> nn.Sequential:
    """The tanh network of the student-teacher setting, optionally with given parameters.

    ``Linear(w0, w1), Tanh, Linear(w1, w2), Tanh, ..., Linear(w_{L-1}, w_L)``: tanh
    after every hidden layer, a linear output (Gallagher 2000).

    Args:
        widths: layer widths, input first, e.g. ``(4, 8, 1)``.
        parameters: flat parameters in ``model.parameters()`` order (each layer's
            weight [out, in] row-major, then its bias), as stored in a
            student-teacher split's ``info["teacher_parameters"]``; None keeps
            PyTorch's default initialisation.

    Returns:
        The network (float32, or the dtype of ``parameters``).

    Raises:
        ValueError: for fewer than two widths, a non-positive width, or a parameter
            vector of the wrong length.
    """
    widths = [int(w) for w in widths]
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(
            f"`widths` must hold at least two positive integers (input first); got {widths}."
        )
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2:
            layers.append(nn.Tanh())
    net = nn.Sequential(*layers)
    if parameters is not None:
        n = sum(p.numel() for p in net.parameters())
        if parameters.ndim != 1 or parameters.numel() != n:
            raise ValueError(
                f"`parameters` must be a flat vector of {n} numbers for widths {widths}; "
                f"got shape {tuple(parameters.shape)}."
            )
        net = net.to(parameters.dtype)
        nn.utils.vector_to_parameters(parameters.detach().clone(), net.parameters())
    return net


def student_teacher(
    *,
    inputs: int = 4,
    widths: Sequence[int] | None = None,
    n_train: int = 200,
    n_test: int = 200,
    noise: float = 0.0,
    seed: int = 0,
    teacher_seed: int = 0,
) -> Split:
    """Gaussian inputs labelled by a random teacher network (Gallagher 2000).

    The student-teacher setting of Gallagher's thesis (catalogue §5.6): a fixed,
    randomly drawn *teacher* MLP defines the targets, so a *student* of the same
    shape has a known global minimum (zero error at the teacher's weights and at
    its symmetric copies). Here::

        x ~ N(0, I_inputs),   y = teacher(x) + noise · ε,   ε ~ N(0, 1),

    with the teacher from `teacher_mlp` (tanh hidden layers, linear output) whose
    weights and biases are drawn i.i.d. N(0, 1/fan_in), so that the hidden
    pre-activations have about unit variance (tanh neither linear nor saturated).
    This scale is our choice; the thesis's exact draw is not reproduced.

    The teacher is drawn from ``teacher_seed`` and the data from ``seed`` through
    separate numpy streams, so equal seeds do not correlate them. The first
    ``n_train`` samples form the training set, the next ``n_test`` the test set.

    Args:
        inputs: input dimension.
        widths: teacher layer widths, input first; None means ``(inputs, 8, 1)``.
            ``widths[0]`` must equal ``inputs``.
        n_train: number of training samples.
        n_test: number of test samples.
        noise: standard deviation of Gaussian noise added to every target (train and test).
        seed: seed of the inputs and the noise.
        teacher_seed: seed of the teacher's parameters.

    Returns:
        The split: inputs float32 [N, inputs], targets float32 [N, widths[-1]],
        task "regression". ``info`` holds ``teacher_widths`` (list),
        ``teacher_parameters`` (flat float32 tensor in `teacher_mlp`'s parameter
        order), ``teacher_activation`` ("tanh"), the seeds and the noise level.

    Raises:
        ValueError: for non-positive sizes, a negative noise level, or widths that
            do not start with ``inputs``.
    """
    _check_count("inputs", inputs)
    _check_count("n_train", n_train)
    _check_count("n_test", n_test)
    if not (isinstance(noise, int | float) and noise >= 0.0 and math.isfinite(noise)):
        raise ValueError(f"`noise` must be a finite number >= 0; got {noise!r}.")
    widths = [inputs, 8, 1] if widths is None else [int(w) for w in widths]
    if widths[0] != inputs:
        raise ValueError(
            f"`widths` must start with the input dimension `inputs`={inputs}; got {widths}. "
            f"Pass widths=({inputs}, ...) or change `inputs`."
        )
    teacher = teacher_mlp(widths)  # validates the widths

    teacher_rng = np.random.default_rng([teacher_seed, 1])
    with torch.no_grad():
        for layer in teacher:
            if isinstance(layer, nn.Linear):
                std = 1.0 / math.sqrt(layer.in_features)
                for p in (layer.weight, layer.bias):
                    draw = teacher_rng.standard_normal(tuple(p.shape)) * std
                    p.copy_(torch.from_numpy(draw.astype(np.float32)))

    data_rng = np.random.default_rng([seed, 0])
    n = n_train + n_test
    x = torch.from_numpy(data_rng.standard_normal((n, inputs)).astype(np.float32))
    with torch.no_grad():
        y = teacher(x)
    if noise > 0:
        eps = data_rng.standard_normal(tuple(y.shape)).astype(np.float32)
        y = y + noise * torch.from_numpy(eps)

    info = {
        "source": "student-teacher setting (Gallagher 2000): x ~ N(0, I), y = teacher(x) + noise",
        "seed": seed,
        "teacher_seed": teacher_seed,
        "noise": float(noise),
        "n_train": n_train,
        "n_test": n_test,
        "teacher_widths": list(widths),
        "teacher_activation": "tanh",
        "teacher_parameters": nn.utils.parameters_to_vector(teacher.parameters()).detach(),
    }
    return Split(
        name="student-teacher",
        train=(x[:n_train], y[:n_train]),
        test=(x[n_train:], y[n_train:]),
        input_shape=(inputs,),
        num_classes=None,
        task="regression",
        info=info,
    )

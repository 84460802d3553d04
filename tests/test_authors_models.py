"""The zoo's paper models compute the authors' functions of the same flat vector.

The reference modules below are written here from the facts of the authors'
``NN_arch.py`` (github.com/jy856-jpg/path-finding; the optimizer-strategies
paper, §II.1): layer sizes, order, activations, biases, the LSTM's pixel
permutation and how it reads the image. Their published solutions are flat
vectors in ``model.parameters()`` order, so the zoo model must take the same
vector through ``vector_to_parameters`` and give the same outputs.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from lossatlas.zoo import build


class AuthorsFCP(nn.Module):
    """784→50→50→10, no biases, softplus after the two hidden layers."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 50, bias=False)
        self.fc2 = nn.Linear(50, 50, bias=False)
        self.fc3 = nn.Linear(50, 10, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.softplus(self.fc1(x.reshape(-1, 784)))
        return self.fc3(F.softplus(self.fc2(h)))


class AuthorsLeNet(nn.Module):
    """conv 1→6 (5×5, pad 2), softplus, avg-pool 2; conv 6→16 (5×5), softplus,
    avg-pool 2; flatten; linear 400→120→84→10 with softplus between; all biased."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(F.softplus(self.conv1(x)), 2)
        x = F.avg_pool2d(F.softplus(self.conv2(x)), 2)
        x = F.softplus(self.fc1(x.reshape(x.shape[0], -1)))
        return self.fc3(F.softplus(self.fc2(x)))


class AuthorsLSTM(nn.Module):
    """Pixels permuted by randperm(784) from a generator seeded 1234, read as 28
    steps of 28 features; LSTM(28, 48); the output at the last step through a
    bias-free linear 48→10."""

    def __init__(self) -> None:
        super().__init__()
        self.perm = torch.randperm(784, generator=torch.Generator().manual_seed(1234))
        self.rnn = nn.LSTM(28, 48, batch_first=True)
        self.fc = nn.Linear(48, 10, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], 784)[:, self.perm].reshape(x.shape[0], 28, 28)
        out, _ = self.rnn(x)
        return self.fc(out[:, -1, :])


class AuthorsAutoencoder(nn.Module):
    """On flat 784-vectors: encoder 784→32, softplus, 32→32, softplus; decoder
    32→32, softplus, 32→784, sigmoid; no biases."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(784, 32, bias=False),
            nn.Softplus(),
            nn.Linear(32, 32, bias=False),
            nn.Softplus(),
        )
        self.decoder = nn.Sequential(
            nn.Linear(32, 32, bias=False),
            nn.Softplus(),
            nn.Linear(32, 784, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


AUTHORS = {
    "fcp": (AuthorsFCP, 42_200),
    "lenet": (AuthorsLeNet, 61_706),
    "lstm": (AuthorsLSTM, 15_456),
    "autoencoder": (AuthorsAutoencoder, 52_224),
}


@pytest.mark.parametrize("name", list(AUTHORS))
def test_same_function_of_the_same_flat_vector(name: str) -> None:
    make, count = AUTHORS[name]
    theirs, ours = make().double(), build(name, seed=0).double()
    assert sum(p.numel() for p in ours.parameters()) == count
    assert sum(p.numel() for p in theirs.parameters()) == count
    # Same shapes in the same order, so one flat vector means the same weights.
    assert [p.shape for p in ours.parameters()] == [p.shape for p in theirs.parameters()]
    theta = torch.randn(count, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    theta *= 0.3
    vector_to_parameters(theta, theirs.parameters())
    vector_to_parameters(theta, ours.parameters())
    assert torch.equal(parameters_to_vector(ours.parameters()), theta)
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    with torch.no_grad():
        if name == "autoencoder":  # theirs reads flattened images and returns 784 values
            expected, got = theirs(x.reshape(6, 784)), ours(x).reshape(6, 784)
        else:
            expected, got = theirs(x), ours(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_lstm_permutation_is_the_authors() -> None:
    ours = build("lstm")
    assert torch.equal(ours.perm, AuthorsLSTM().perm)
    # It is a buffer, not a parameter: the flat vector is the weights alone.
    assert "perm" in dict(ours.named_buffers())
    assert all(p.is_floating_point() for p in ours.parameters())

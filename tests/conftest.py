"""Tiny models shared by the tests: each case is (model, data, loss, mode) in float64."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn


class SharedLayer(nn.Module):
    """Uses one Linear twice, so its weight appears once in θ but twice in the graph."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(4, 4)
        self.out = nn.Linear(4, 3)

    def forward(self, x):
        return self.out(torch.tanh(self.inner(torch.tanh(self.inner(x)))))


class TinyLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True)
        self.fc = nn.Linear(4, 2, bias=False)

    def forward(self, x):
        return self.fc(self.lstm(x)[0][:, -1])


@dataclass
class Case:
    name: str
    model: nn.Module
    data: Any
    loss: str = "cross_entropy"
    mode: str = "eval"


def _randomise_bn(model: nn.Module, g: torch.Generator) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g))
    return model


def make_case(name: str) -> Case:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(13, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (13,), generator=g)
    if name == "mlp":
        return Case(name, nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)), (x, y))
    if name == "shared":
        return Case(name, SharedLayer(), (x, y))
    if name in ("batchnorm-eval", "batchnorm-train"):
        model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Tanh(), nn.Linear(5, 3))
        return Case(name, _randomise_bn(model, g), (x, y), mode=name.split("-")[1])
    if name == "conv-bn":
        model = nn.Sequential(
            nn.Conv2d(1, 2, 3, padding=1),
            nn.BatchNorm2d(2),
            nn.Softplus(),
            nn.Flatten(),
            nn.Linear(2 * 4 * 4, 3),
        )
        xi = torch.randn(7, 1, 4, 4, generator=g, dtype=torch.float64)
        return Case(name, _randomise_bn(model, g), (xi, y[:7]))
    if name == "autoencoder":
        model = nn.Sequential(nn.Linear(4, 2, bias=False), nn.Softplus(), nn.Linear(2, 4))
        return Case(name, model, x, loss="mse")
    if name == "lstm":
        xs = torch.randn(6, 5, 3, generator=g, dtype=torch.float64)
        return Case(name, TinyLSTM(), (xs, y[:6] % 2))
    raise KeyError(name)


CASES = ["mlp", "shared", "batchnorm-eval", "batchnorm-train", "conv-bn", "autoencoder", "lstm"]


@pytest.fixture(params=CASES)
def case(request) -> Case:
    return make_case(request.param)


def assert_close_report(actual: torch.Tensor, expected: torch.Tensor, rtol: float, what: str):
    """Relative error ‖a − e‖∞ / ‖e‖∞ below rtol, with a message that explains itself."""
    scale = expected.abs().max().clamp_min(1e-300)
    err = float((actual - expected).abs().max() / scale)
    worst = int((actual - expected).abs().argmax())
    assert err < rtol, (
        f"{what}: relative error {err:.3e} ≥ {rtol:.0e}; worst at flat index {worst}: "
        f"got {float(actual.reshape(-1)[worst])!r}, expected {float(expected.reshape(-1)[worst])!r}"
    )


# The demo with every setting at its smallest: seconds, not minutes (tests/test_demo.py and
# the browser test share one run).
TINY_DEMO = ["--data", "digits", "--seeds", "3", "--sgd-epochs", "1",
             "--lbfgs-iterations", "3", "--lenet-epochs", "1",
             "--lenet-iterations", "2",
             "--line-points", "5", "--grid", "4", "--top", "2", "--density-draws", "2",
             "--density-steps", "6", "--path-points", "5", "--path-steps", "2",
             "--path-grid", "3"]  # fmt: skip


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """(run directory, CLI output) of `lossatlas demo` with TINY_DEMO settings."""
    from typer.testing import CliRunner

    from lossatlas.cli import app

    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(app, ["demo", *TINY_DEMO, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture
def one_thread():
    """Run the test with one torch thread: on a shared, loaded machine two spinning
    OpenMP threads can make small dense networks 20x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

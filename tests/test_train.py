import itertools
import json

import pytest
import torch
from torch import nn

from lossatlas import Objective, zoo
from lossatlas.optim import train
from lossatlas.optim.train import recompute_batchnorm


@pytest.fixture(scope="module")
def digits():
    return zoo.dataset("digits")


def test_sgd_records_trajectory_curves_and_early_stopping(digits, tmp_path):
    net = zoo.build_for("fcp", digits, seed=0)
    start = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    # 1,347 samples / 64 → 22 steps an epoch; a record every 4 epochs; SGD at lr 0.1 leaves
    # the softplus FCP's plateau at ln 10 after about 15 epochs
    result = train(
        net,
        digits,
        optimizer="sgd",
        epochs=20,
        record_every=88,
        seed=0,
        out=tmp_path,
        progress=False,
    )
    h = result.history
    assert h["step"] == [0, 88, 176, 264, 352, 440]
    assert result.trajectory.shape == (6, 6200)
    assert torch.equal(result.trajectory[0], start)
    assert torch.equal(result.trajectory[-1], result.theta)
    assert h["train_loss"][-1] < 0.5 * h["train_loss"][0]
    best = min(range(6), key=lambda i: h["test_loss"][i])
    assert torch.equal(result.best_theta, result.trajectory[best])
    assert result.best_step == h["step"][best]
    # the model holds the final weights, and the recorded losses are the full-data ones
    assert torch.equal(torch.cat([p.detach().reshape(-1) for p in net.parameters()]), result.theta)
    obj = Objective(net, digits.test)
    assert obj.value(result.theta).item() == pytest.approx(h["test_loss"][-1], rel=1e-5)
    # checkpoints on disk load back to the same points, with the settings beside them
    assert torch.equal(obj.load_point(tmp_path / "final.pt"), result.theta)
    assert torch.equal(obj.load_point(tmp_path / "early_stopped.pt"), result.best_theta)
    settings = json.loads((tmp_path / "final.json").read_text())
    assert settings["optimizer"] == "sgd" and settings["batch_size"] == 64
    assert json.loads((tmp_path / "history.json").read_text())["step"] == h["step"]
    assert torch.equal(torch.load(tmp_path / "trajectory.pt"), result.trajectory)


def test_same_seed_same_run(digits):
    runs = [
        train(
            zoo.build_for("fcp", digits, seed=1),
            digits,
            optimizer="sgd",
            steps=30,
            seed=3,
            progress=False,
        ).theta
        for _ in range(2)
    ]
    assert torch.equal(*runs)


def test_lbfgs_gss_never_raises_the_loss_and_beats_sgd_on_training_loss(digits):
    lbfgs = train(
        zoo.build_for("fcp", digits, seed=0),
        digits,
        optimizer="lbfgs-gss",
        epochs=60,
        progress=False,
    )
    losses = lbfgs.history["train_loss"]
    assert all(b <= a for a, b in itertools.pairwise(losses))
    sgd = train(
        zoo.build_for("fcp", digits, seed=0), digits, optimizer="sgd", epochs=5, progress=False
    )
    assert lbfgs.final_loss < sgd.final_loss


def test_adam_and_reconstruction_task():
    split = zoo.dataset("digits", task="reconstruction")
    net = zoo.build_for("autoencoder", split, seed=0)
    result = train(net, split, optimizer="adam", epochs=2, lr=1e-2, progress=False)
    assert result.settings["loss"] == "mse"
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]


def test_batchnorm_statistics_are_recomputed_exactly():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2))
    x = torch.randn(100, 3, dtype=torch.float64)
    model.double()
    recompute_batchnorm(model, x, batch_size=7)  # uneven batches: still the exact moments
    h = model[0](x).detach()
    assert torch.allclose(model[1].running_mean, h.mean(0))
    assert torch.allclose(model[1].running_var, h.var(0, unbiased=True))


def test_batchnorm_model_trains_and_ends_with_matching_statistics():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 3, generator=g), torch.randint(0, 2, (64,), generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Tanh(), nn.Linear(4, 2))
    result = train(model, (x, y), optimizer="sgd", epochs=3, batch_size=16, progress=False)
    assert result.settings["bn_mode"] == "train"
    assert torch.allclose(model[1].running_mean, model[0](x).detach().mean(0), atol=1e-6)


def test_bad_arguments(digits):
    net = zoo.build_for("fcp", digits)
    with pytest.raises(ValueError, match="`optimizer` must be one of"):
        train(net, digits, optimizer="rmsprop", epochs=1)
    with pytest.raises(ValueError, match="exactly one of `epochs` and `steps`"):
        train(net, digits, epochs=1, steps=3)
    with pytest.raises(TypeError, match=r"`data` must be a lossatlas\.zoo Split"):
        train(net, [digits.train], epochs=1)

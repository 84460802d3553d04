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


def test_divergence_and_stability_are_read_from_the_training_curve():
    from lossatlas.optim.train import diverged, stable

    assert not diverged([2.3, 1.0, 0.5, 0.4]) and stable([2.3, 1.0, 0.5, 0.4])
    assert diverged([2.3, 0.1, 1.2])  # final > 10x best
    assert diverged([2.3, 0.5, float("nan")]) and diverged([float("inf")])
    # a spike above 2x the best so far after the first quarter: not diverged, not stable
    spiky = [2.3, 1.0, 0.5, 0.4, 0.3, 0.9, 0.3, 0.3]
    assert not diverged(spiky) and not stable(spiky)
    assert stable([2.3, 6.0, 1.0, 0.5, 0.4, 0.35, 0.3, 0.3])  # a spike in the first quarter
    assert not stable([2.3, 0.5, 0.2, 0.1, 0.1, 0.1, 0.1, 0.16])  # final > 1.5x best


def test_a_diverged_run_is_marked_warned_and_left_out_of_the_means(digits, tmp_path):
    from lossatlas.optim import DivergedWarning
    from lossatlas.plot import outputs
    from lossatlas.results import manifest

    net = zoo.build_for("fcp", digits, seed=0)
    with pytest.warns(DivergedWarning, match=r"sgd diverged: .*Lower the learning rate"):
        bad = train(net, digits, optimizer="sgd", lr=50.0, epochs=2, out=tmp_path / "bad")
    assert bad.diverged and not bad.stable
    outcome = json.loads((tmp_path / "bad" / "outcome.json").read_text())
    assert outcome["diverged"] is True and outcome["stable"] is False
    good = train(zoo.build_for("fcp", digits, seed=1), digits, optimizer="sgd", lr=0.02, epochs=2)
    assert not good.diverged
    rec = manifest.begin(tmp_path / "m", "train", {})
    (tmp_path / "m").mkdir()
    outputs.training(rec, tmp_path / "m", {"bad": bad, "good": good})
    assert rec.results["diverged runs"] == ["bad"]
    assert rec.results["mean_train_loss"] == pytest.approx(good.final_loss)
    assert [r["diverged"] for r in rec.tables["runs"]] == [True, False]

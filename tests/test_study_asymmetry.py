"""He et al.'s asymmetric directions: the definition's test on a constructed valley with
slopes a and c·a (asymmetric) and on a quadratic (never), SWA's bias to the flat side,
and `lossatlas study asymmetry` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from lossatlas import Objective, zoo
from lossatlas.cli import app
from lossatlas.studies import valleys
from lossatlas.studies.common import objective_for
from lossatlas.studies.runner import _Average
from lossatlas.surface.directions import random_direction

pytestmark = pytest.mark.usefixtures("one_thread")

A, C_TRUE, K = 0.5, 5.0, 3.0


class Valley(nn.Module):
    """L(θ) = a·max(θ0, 0) + c·a·max(−θ0, 0) + ½k(θ1² + θ2²): along e0 from 0 the loss
    rises with slope a on the + side and c·a on the − side; along e1, e2 it is quadratic."""

    def __init__(self):
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(3, dtype=torch.float64))

    def forward(self, x):
        t = self.theta
        value = A * torch.relu(t[0]) + C_TRUE * A * torch.relu(-t[0]) + 0.5 * K * (t[1:] ** 2).sum()
        return value.repeat(x.shape[0])


@pytest.fixture(scope="module")
def valley():
    obj = Objective(Valley(), torch.zeros(1, 1), loss="identity", dtype=torch.float64)
    u = torch.eye(3, dtype=torch.float64)
    return obj, valleys.profiles(
        obj, torch.zeros(3, dtype=torch.float64), u, radius=1.0, points=10, progress=False
    )


def test_profiles_carry_the_exact_slopes(valley):
    _, ds = valley
    s = ds.s.to_numpy()
    np.testing.assert_allclose(ds.loss[0], np.where(s > 0, A * s, -C_TRUE * A * s), atol=1e-15)
    inner = s != 0  # the kink: either one-sided slope
    np.testing.assert_allclose(ds.slope[0][inner], np.where(s > 0, A, -C_TRUE * A)[inner])
    np.testing.assert_allclose(ds.slope[1], K * s, atol=1e-15)


def test_slopes_a_and_ca_are_asymmetric_and_a_quadratic_never(valley):
    _, ds = valley
    # + side slope a < p, − side slope −5a < −c·p: asymmetric for p just above a and c = 2
    assert valleys.is_asymmetric(ds, p=1.1 * A, c=2.0, zeta=0.1).tolist() == [True, False, False]
    # the inequalities are strict: p = a fails on the + side, c·p = 5a on the − side
    assert not valleys.is_asymmetric(ds, p=A, c=2.0, zeta=0.1)[0]
    assert not valleys.is_asymmetric(ds, p=1.1 * A, c=C_TRUE / 1.1, zeta=0.1)[0]
    largest = valleys.largest_c(ds, zeta=0.1)
    assert largest[0] == pytest.approx(C_TRUE, rel=1e-12)
    # the quadratic: slopes k·l on both sides, so c* = k·l_min / (k·l_max) < 1, for both signs
    for side in (ds, valleys.flipped(ds)):
        assert (valleys.largest_c(side, zeta=0.1)[1:] < 1).all()
        for p in (1e-3, 0.5, 3.0, 10.0):
            assert not valleys.is_asymmetric(side, p=p, c=1.01, zeta=0.1)[1:].any()
    # along −e0 the steep side comes first: not asymmetric that way round
    assert valleys.largest_c(valleys.flipped(ds), zeta=0.1)[0] == pytest.approx(1 / C_TRUE)
    # scores: (A₊ − A₋)/(A₊ + A₋) = (1 − 5)/(1 + 5) along e0, 0 for the quadratic
    score = valleys.asymmetry_scores(ds)
    assert score[0] == pytest.approx((1 - C_TRUE) / (1 + C_TRUE), rel=1e-12)
    np.testing.assert_allclose(score[1:], 0.0, atol=1e-15)


def test_the_definition_refuses_constants_outside_its_ranges(valley):
    _, ds = valley
    with pytest.raises(ValueError, match="`c` must be > 1"):
        valleys.is_asymmetric(ds, p=1.0, c=1.0, zeta=0.1)
    with pytest.raises(ValueError, match="`p` must be > 0"):
        valleys.is_asymmetric(ds, p=0.0, c=2.0, zeta=0.1)
    with pytest.raises(ValueError, match="needs 0 < ζ < r"):
        valleys.largest_c(ds, zeta=1.5)
    with pytest.raises(ValueError, match="no grid point lies in"):
        valleys.largest_c(ds, zeta=0.95)


def test_averaged_sgd_iterates_lie_on_the_flat_side(valley):
    """He et al.'s Theorem (§5.1) on the constructed valley: noisy SGD oscillates across
    the kink and the average of its iterates is displaced to the flat (+) side."""
    obj, ds = valley
    gen = torch.Generator().manual_seed(0)
    theta = torch.zeros(3, dtype=torch.float64)
    average = _Average(start=100, every=1)
    for step in range(4000):
        noise = torch.randn(3, generator=gen, dtype=torch.float64)
        slope = A if theta[0] > 0 else -C_TRUE * A  # ∇L in closed form
        grad = torch.cat([torch.tensor([slope], dtype=torch.float64), K * theta[1:]])
        theta = theta - 0.05 * (grad + noise)
        average(step + 1, theta, obj)
    mean = average.sum / average.count
    flat = -np.sign(valleys.asymmetry_scores(ds)[0])
    shift = valleys.displacement(torch.zeros(3, dtype=torch.float64), mean, torch.eye(3)[:1])
    # the small-step limit's stationary density ∝ exp(−2L/(ησ²)) has mean
    # (ℓ₊² − ℓ₋²)/(ℓ₊ + ℓ₋) = 0.04 with ℓ± = ησ²/(2·slope±); half of it is the bar
    assert flat == 1 and flat * shift[0] > 0.02


def test_the_study_end_to_end(tmp_path):
    args = [
        "study",
        "asymmetry",
        "--epochs",
        "4",
        "--directions",
        "2",
        "--points",
        "3",
        "--line-points",
        "5",
        "--workers",
        "1",
        "--device",
        "cpu",
        "--out",
        str(tmp_path),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "asymmetric directions:" in result.output
    body = json.loads((tmp_path / "lossatlas.json").read_text())
    assert len(body["tables"]["directions"]) == 2 and body["settings"]["device"] == "cpu"
    r = body["results"]
    # 4 epochs of 22 steps, averaged from step 44 on: iterates 44, 45, ..., 88
    assert r["swa_iterates"] == 45
    split = zoo.dataset("digits")
    net = zoo.build_for("mlp", split, batchnorm=True, seed=0)
    obj = objective_for(net, split.train, "cross_entropy")
    w = obj.load_point(tmp_path / "runs/sgd/final.pt")
    avg = obj.load_point(tmp_path / "runs/sgd/swa.pt")
    for row in body["tables"]["directions"]:
        u = random_direction(obj.space, w, "filter", None, row["direction"])
        expected = float((avg - w).double() @ u.double() / (u.double() @ u.double()))
        assert row["swa_projection"] == pytest.approx(expected, rel=1e-4, abs=1e-7)
        sign = 1 if row["flat_side"] == "+" else -1
        assert row["toward_flat"] == pytest.approx(sign * row["swa_projection"])
    assert r["swa_distance"] == pytest.approx(float((avg - w).double().norm()), rel=1e-6)
    for name in ("profiles.png", "displacement.png", "swa_line.png", "swa_line.plotly.json"):
        assert (tmp_path / name).stat().st_size > 0

"""Fitness–distance correlation (Gallagher, eq. 9) and patterns in the landscape."""

import math

import numpy as np
import pytest
import torch
from matplotlib import image as mpimg
from torch import nn

from lossatlas import Objective, zoo
from lossatlas.geometry import (
    fdc,
    fit_pattern,
    fitness_distance_correlation,
    load_pattern,
    pattern_names,
    sampling_statistics,
)
from lossatlas.zoo.data import teacher_mlp


class Bowl(nn.Module):
    """L(θ) = ‖θ‖^power, returned once per sample (loss='identity')."""

    def __init__(self, n: int, power: float):
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(n, dtype=torch.float64))
        self.power = power

    def forward(self, x):
        return (self.theta.norm() ** self.power).expand(x.shape[0])


def bowl(n, power):
    return Objective(
        Bowl(n, power), torch.zeros(1, 1, dtype=torch.float64), loss="identity", dtype=torch.float64
    )


def test_fdc_of_a_convex_quadratic_is_its_analytic_value():
    # radial sampling, ρ ~ U[0, R]: r = corr(ρ, ρ²) = (1/12) / sqrt(1/12 · 4/45) = √15/4
    ds = fdc(bowl(5, 2), torch.zeros(5, dtype=torch.float64), count=20000, radius=2.0)
    assert ds.attrs["fdc"] == pytest.approx(math.sqrt(15) / 4, abs=0.01)
    assert np.allclose(ds["loss"].values, ds["distance"].values ** 2)
    # the check, "FDC of a convex quadratic is ≈ 1": uniform in the cube, distances
    # bunch near their mean, where ρ² is nearly linear in ρ (measured 0.988)
    cube = fdc(bowl(5, 2), torch.zeros(5, dtype=torch.float64), count=20000, sampling="cube")
    assert 0.98 <= cube.attrs["fdc"] < 1.0
    cone = fdc(bowl(5, 1), torch.zeros(5, dtype=torch.float64), count=500, sampling="cube")
    assert cone.attrs["fdc"] == pytest.approx(1.0, abs=1e-12)  # L = distance exactly


def test_fdc_is_eq_9_and_refuses_undefined_cases():
    rng = np.random.default_rng(0)
    d, e = rng.random(50), rng.random(50)
    assert fitness_distance_correlation(d, e) == pytest.approx(np.corrcoef(d, e)[0, 1])
    assert fitness_distance_correlation(d, -3 * d) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="undefined when the distances or the losses are constant"):
        fitness_distance_correlation(d, np.ones(50))
    with pytest.raises(ValueError, match="same length"):
        fitness_distance_correlation(d, e[:3])
    with pytest.raises(ValueError, match="`sampling` must be 'radial' or 'cube'"):
        fdc(bowl(2, 2), torch.zeros(2, dtype=torch.float64), sampling="ball")


def test_sampling_statistics_on_spheres_match_the_bowl():
    st = sampling_statistics(
        bowl(4, 2), torch.zeros(4, dtype=torch.float64), radii=(0.5, 2.0), count=50
    )
    assert np.allclose(st["mean"].values, [0.25, 4.0]) and np.allclose(st["std"].values, 0)
    assert (st["below"].values == 0).all()
    assert st["quantile_loss"].shape == (2, 5)


def test_student_teacher_fdc_is_positive_around_the_teacher():
    split = zoo.dataset("student-teacher", inputs=3, widths=(3, 4, 1), n_train=100)
    theta = split.info["teacher_parameters"].double()
    obj = Objective(teacher_mlp([3, 4, 1], theta), split.train, loss="mse", dtype=torch.float64)
    ds = fdc(obj, theta, count=400, radius=2.0)
    assert ds.attrs["minimum_loss"] < 1e-12  # the teacher is the global minimum
    assert 0.3 < ds.attrs["fdc"] < 1.0


def test_a_5x5_pattern_is_reproduced_by_a_plane():
    split = zoo.dataset("student-teacher", inputs=2, widths=(2, 8, 1), n_train=48)
    net = zoo.build("mlp", widths=(2, 8, 1), activation="tanh", seed=0)
    obj = Objective(net, split.train, loss="mse", dtype=torch.float64)
    fit = fit_pattern(obj, "smiley", steps=200, lr=0.05, seed=0)
    assert fit.pattern.shape == (5, 5)
    assert fit.correlation >= 0.9
    # the reported losses are those of the plane's points
    alpha, beta = fit.alphas[1], fit.betas[3]
    point = fit.origin + alpha * fit.d1 + beta * fit.d2
    assert float(obj.value(point)) == pytest.approx(fit.achieved[3, 1], rel=1e-10)
    assert fit.history[-1] < fit.history[0]
    # a grey image too (the ramp's 5 levels); the ring and checkerboard reach 0.8 here
    grey = fit_pattern(obj, "ramp", steps=200, lr=0.05, seed=0)
    assert grey.correlation >= 0.9


def test_patterns_load_from_names_files_and_arrays(tmp_path):
    for name in pattern_names():
        p = load_pattern(name)
        assert p.shape == (5, 5) and p.min() == 0.0 and p.max() == 1.0
    image = np.arange(12, dtype=float).reshape(3, 4)
    np.save(tmp_path / "p.npy", image)
    assert np.allclose(load_pattern(tmp_path / "p.npy"), image / 11)
    mpimg.imsave(tmp_path / "p.png", image, cmap="gray")
    assert np.corrcoef(load_pattern(tmp_path / "p.png").ravel(), image.ravel())[0, 1] > 0.99
    with pytest.raises(ValueError, match="constant"):
        load_pattern(np.ones((3, 3)))
    with pytest.raises(ValueError, match="2-D image"):
        load_pattern(np.ones((2, 3, 3)))
    with pytest.raises(ValueError, match=r"a \.npy or a \.png file"):
        load_pattern("heart")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_pattern(tmp_path / "missing.npy")
    with pytest.raises(ValueError, match="at most 1024 cells"):
        load_pattern(np.random.default_rng(0).random((40, 40)))

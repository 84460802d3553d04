"""Synthetic 2-D landscapes: critical points, Hessian signatures, energies, forward."""

from __future__ import annotations

import pytest
import torch
from torch.autograd.functional import hessian

from lossatlas.zoo.landscapes import (
    LANDSCAPES,
    Himmelblau,
    Landscape,
    MullerBrown,
    Rosenbrock,
    TwoWells,
    landscape,
)

ALL = [MullerBrown(), TwoWells(), TwoWells(k=5.0, c=-0.7), Rosenbrock(), Himmelblau()]
IDS = ["muller-brown", "two-wells", "two-wells-bent-down", "rosenbrock", "himmelblau"]


def gradient(model: Landscape, point: torch.Tensor) -> torch.Tensor:
    xy = point.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model.energy(xy), xy)
    return g


def hessian_eigenvalues(model: Landscape, point: torch.Tensor) -> torch.Tensor:
    return torch.linalg.eigvalsh(hessian(model.energy, point))


@pytest.mark.parametrize("model", ALL, ids=IDS)
def test_critical_points_have_zero_gradient_and_the_right_signature(model: Landscape) -> None:
    for kind, points in (("min", model.minima), ("saddle", model.saddles), ("max", model.maxima)):
        assert points.dtype == torch.float64 and points.ndim == 2 and points.shape[1] == 2
        for point in points:
            g = gradient(model, point)
            assert g.norm() < 1e-6, f"{kind} {point.tolist()}: |grad| = {g.norm():.3g}"
            eig = hessian_eigenvalues(model, point)
            negative = int((eig < 0).sum())
            expected = {"min": 0, "saddle": 1, "max": 2}[kind]
            assert negative == expected, f"{kind} {point.tolist()}: eigenvalues {eig.tolist()}"
            assert eig.abs().min() > 1e-3  # non-degenerate


def test_muller_brown_energies_match_the_literature() -> None:
    model = MullerBrown()
    # Three-digit literature values (e.g. Müller & Brown 1979; many NEB papers).
    e_min = model.energy(MullerBrown.minima)
    e_saddle = model.energy(MullerBrown.saddles)
    torch.testing.assert_close(
        e_min, torch.tensor([-146.70, -108.17, -80.77], dtype=torch.float64), atol=0.01, rtol=0
    )
    torch.testing.assert_close(
        e_saddle, torch.tensor([-40.66, -72.25], dtype=torch.float64), atol=0.01, rtol=0
    )
    # The refined points agree with the literature's coordinates to about 1e-3.
    literature = torch.tensor(
        [[-0.558, 1.442], [0.623, 0.028], [-0.050, 0.467]], dtype=torch.float64
    )
    assert (MullerBrown.minima - literature).abs().max() < 1e-3


def test_two_wells_closed_forms() -> None:
    for k, c in [(2.0, 1.0), (0.5, 2.0), (3.0, -1.0)]:
        model = TwoWells(k=k, c=c)
        torch.testing.assert_close(model.energy(model.minima), torch.zeros(2, dtype=torch.float64))
        torch.testing.assert_close(model.saddles, torch.tensor([[0.0, c]], dtype=torch.float64))
        torch.testing.assert_close(model.energy(model.saddles), torch.ones(1, dtype=torch.float64))
        # Straight segment between the minima: highest at (0, 0), with energy 1 + k c².
        t = torch.linspace(0, 1, 101, dtype=torch.float64)[:, None]
        line = (1 - t) * model.minima[0] + t * model.minima[1]
        heights = model.energy(line)
        assert heights.max().item() == pytest.approx(1 + k * c * c)
        # Along the valley floor y = c(1 − x²) the height is the saddle energy.
        x = torch.linspace(-1, 1, 101, dtype=torch.float64)
        valley = torch.stack([x, c * (1 - x * x)], dim=-1)
        assert model.energy(valley).max().item() == pytest.approx(1.0)


def test_rosenbrock_and_himmelblau_values() -> None:
    assert Rosenbrock().energy(Rosenbrock.minima).item() == 0.0
    assert Rosenbrock().energy(torch.tensor([-1.2, 1.0], dtype=torch.float64)).item() == (
        pytest.approx(24.2)
    )
    energies = Himmelblau().energy(Himmelblau.minima)
    assert energies.abs().max() < 1e-12
    h = hessian(Rosenbrock().energy, Rosenbrock.minima[0])
    torch.testing.assert_close(h, torch.tensor([[802.0, -400.0], [-400.0, 200.0]]).double())


@pytest.mark.parametrize("model", ALL, ids=IDS)
def test_forward_repeats_the_energy_per_sample(model: Landscape) -> None:
    out = model(torch.zeros(3, 5))
    assert out.shape == (3,)
    assert torch.equal(out, out[:1].expand(3))
    assert out[0] == model.energy(model.xy)
    # A one-sample data set and a mean-reduced loss give L(θ) = E(θ), gradient included.
    loss = model(torch.zeros(1, 1)).mean()
    (g,) = torch.autograd.grad(loss, model.xy)
    torch.testing.assert_close(g, gradient(model, model.xy.detach()))


@pytest.mark.parametrize("model", ALL, ids=IDS)
def test_energy_is_vectorised_over_a_grid(model: Landscape) -> None:
    (x0, x1), (y0, y1) = model.bounds
    xs = torch.linspace(x0, x1, 7, dtype=torch.float64)
    ys = torch.linspace(y0, y1, 5, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # [5, 7, 2]
    values = model.energy(grid)
    assert values.shape == (5, 7)
    probe = type(model)(**({"k": model.k, "c": model.c} if isinstance(model, TwoWells) else {}))
    probe = probe.double()
    for i in (0, 2, 4):
        for j in (0, 3, 6):
            with torch.no_grad():
                probe.xy.copy_(grid[i, j])
                assert probe(torch.zeros(1, 1)).item() == pytest.approx(values[i, j].item())


def test_start_point_default_and_given() -> None:
    assert MullerBrown().xy.tolist() == pytest.approx(list(MullerBrown.default_start))
    assert Rosenbrock().xy.tolist() == pytest.approx([-1.2, 1.0])
    model = TwoWells(start=(0.5, -0.25))
    assert model.xy.tolist() == [0.5, -0.25]
    assert model.xy.dtype == torch.get_default_dtype()
    assert [name for name, _ in model.named_parameters()] == ["xy"]
    double = Himmelblau(torch.tensor([1.0, 2.0], dtype=torch.float64))
    assert double.xy.dtype == torch.float64


def test_registry() -> None:
    assert set(LANDSCAPES) == {"muller-brown", "two-wells", "rosenbrock", "himmelblau"}
    model = landscape("Two_Wells", start=(0.0, 0.0), k=3.0)
    assert isinstance(model, TwoWells) and model.k == 3.0
    assert model.xy.tolist() == [0.0, 0.0]
    assert isinstance(landscape("muller-brown"), MullerBrown)


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"`name` must be one of 'muller-brown'.*got 'nope'"):
        landscape("nope")
    with pytest.raises(ValueError, match=r"`start` must be two finite numbers"):
        MullerBrown(start=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match=r"`start` must be two finite numbers"):
        Rosenbrock(start=(float("nan"), 0.0))
    with pytest.raises(ValueError, match=r"`k` must be a finite number > 0; got -1"):
        TwoWells(k=-1.0)
    with pytest.raises(ValueError, match=r"`xy` must be a tensor whose last dimension has size 2"):
        Himmelblau().energy(torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"`x` must have a batch dimension"):
        Himmelblau()(torch.tensor(0.0))

"""Zoo pieces used through Objective: landscapes as losses, models sized to data sets."""

import pytest
import torch

from lossatlas import zoo


@pytest.mark.parametrize("name", ["muller-brown", "two-wells", "himmelblau", "rosenbrock"])
def test_landscape_objective_is_the_energy_with_zero_gradient_at_critical_points(name):
    obj = zoo.landscape_objective(name)
    surface = obj.model
    for point in torch.cat([surface.minima, surface.saddles]):
        assert float(obj.value(point)) == pytest.approx(float(surface.energy(point)), abs=1e-12)
        assert float(obj.grad(point).norm()) < 1e-6
    for point in surface.minima:  # positive definite Hessian at a minimum
        H = torch.stack([obj.hvp(point, e) for e in torch.eye(2, dtype=torch.float64)])
        assert torch.linalg.eigvalsh(H).min() > 0


def test_models_sized_to_the_digits():
    split = zoo.dataset("digits")
    x = split.train[0][:5]
    for name in ("fcp", "lenet", "lstm"):
        assert zoo.build_for(name, split)(x).shape == (5, 10)
    ae = zoo.build_for("autoencoder", zoo.dataset("digits", task="reconstruction"))
    assert ae(x).shape == x.shape
    mlp = zoo.build_for("mlp", zoo.dataset("student-teacher"))
    assert mlp(zoo.dataset("student-teacher").train[0][:3]).shape == (3, 1)

import pytest
import torch
from torch import nn

from lossatlas import ParamSpace


def test_layout_order_kinds_and_offsets():
    model = nn.Sequential(nn.Conv2d(1, 3, 2), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(12, 2))
    space = ParamSpace.of(model)
    assert space.names == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
    assert [e.kind for e in space.entries] == ["weight", "bias", "norm", "norm", "weight", "bias"]
    assert [e.offset for e in space.entries] == [0, 12, 15, 18, 21, 45]
    assert space.size == sum(p.numel() for p in model.parameters()) == 47


def test_shared_parameters_appear_once_and_frozen_are_excluded():
    lin = nn.Linear(3, 3)
    model = nn.Sequential(lin, nn.Tanh(), lin, nn.Linear(3, 1))
    model[3].bias.requires_grad_(False)
    space = ParamSpace.of(model)
    assert space.names == ["0.weight", "0.bias", "3.weight"]
    assert space.size == 9 + 3 + 3


def test_flatten_unflatten_roundtrip_and_views():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    space = ParamSpace.of(model)
    theta = space.flatten(model)
    assert torch.equal(theta, torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    views = space.unflatten(theta)
    for name, p in model.named_parameters():
        assert torch.equal(views[name], p.detach())
    views["0.weight"][0, 0] = 123.0  # a view: writes go through to θ
    assert theta[0] == 123.0
    batched = space.unflatten(torch.stack([theta, 2 * theta]))
    assert batched["2.bias"].shape == (2, 2)
    assert torch.equal(batched["2.bias"][1], 2 * views["2.bias"])


def test_filter_groups_are_rows_of_weights():
    model = nn.Sequential(nn.Conv2d(2, 3, 2), nn.Flatten(), nn.Linear(3, 2))
    space = ParamSpace.of(model)
    idx = space.filter_index
    # conv weight: 3 filters of 2*2*2 = 8; conv bias: 1 group; linear weight: 2 rows of 3; bias 1
    expected = [0] * 8 + [1] * 8 + [2] * 8 + [3] * 3 + [4] * 3 + [5] * 3 + [6] * 2
    assert idx.tolist() == expected
    assert space.num_groups == 7
    theta = space.flatten(model)
    norms = torch.zeros(space.num_groups).index_add_(0, idx, theta**2).sqrt()
    assert torch.allclose(norms[:3], model[0].weight.detach().flatten(1).norm(dim=1))
    assert space.layer_index.tolist() == [0] * 24 + [1] * 3 + [2] * 6 + [3] * 2


def test_mask_by_kind():
    model = nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2))
    space = ParamSpace.of(model)
    assert space.mask("weight").tolist() == [True] * 4 + [False] * 6
    assert space.mask(["bias", "norm"]).sum() == 6
    with pytest.raises(ValueError, match="`kind` must be one of"):
        space.mask("filter")


def test_bad_input_errors():
    with pytest.raises(TypeError, match=r"`model` must be a torch\.nn\.Module"):
        ParamSpace.of("resnet")
    with pytest.raises(ValueError, match="at least one trainable parameter"):
        ParamSpace.of(nn.ReLU())
    space = ParamSpace.of(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="flat parameter vector of length 6"):
        space.unflatten(torch.zeros(5))
    with pytest.raises(ValueError, match=r"must have shape \(2, 2\)"):
        space.flatten({"weight": torch.zeros(3, 2), "bias": torch.zeros(2)})


def test_a_learnt_scalar_parameter_round_trips():
    """A 0-d parameter (a temperature, a scale) is one entry of θ with the empty shape."""
    from lossatlas import Objective

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 2)
            self.scale = nn.Parameter(torch.tensor(1.5))

        def forward(self, x):
            return self.scale * self.linear(x)

    model = Scaled()
    space = ParamSpace.of(model)
    theta = space.flatten(model)
    scale = space.unflatten(theta)["scale"]
    assert space.size == 9 and scale.shape == () and float(scale) == 1.5
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 1])
    obj = Objective(model, (x, y))
    expected = nn.functional.cross_entropy(model(x), y).detach()
    assert float(obj.value(obj.point())) == pytest.approx(float(expected), rel=1e-6)

"""Weight-space symmetry (Chen, Lu & Hecht-Nielsen 1993): the group, its order, the wedge."""

import math

import pytest
import torch
from torch import nn

from lossatlas import zoo
from lossatlas.geometry import SymmetryGroup, canonicalise, in_region, mlp_layout

X = torch.randn(40, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def net(activation="tanh", widths=(3, 4, 3, 2), bias=True, seed=0):
    return zoo.build("mlp", widths=widths, activation=activation, bias=bias, seed=seed).double()


def flat(model):
    return nn.utils.parameters_to_vector(model.parameters()).detach().clone()


def outputs(model, theta, x=X):
    nn.utils.vector_to_parameters(theta, model.parameters())
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "softplus", "smoolu"])
def test_group_elements_keep_the_outputs_and_isometries_the_norm(activation):
    model = net(activation)
    theta = flat(model)
    group = SymmetryGroup(model)
    y0 = outputs(model, theta)
    for seed in range(5):
        moved = group.apply(theta, group.random_element(seed))
        assert not torch.equal(moved, theta)
        assert (outputs(model, moved) - y0).abs().max() < 1e-10
        if group.isometric:
            assert moved.norm() == pytest.approx(float(theta.norm()), rel=1e-14)
    # the throng: same outputs and, for tanh, the same norm (Chen et al. eq. 5)
    members = group.throng(theta, 8, seed=1)
    assert torch.equal(members[0], theta)
    if activation == "tanh":
        assert torch.allclose(members.norm(dim=1), theta.norm().expand(8), rtol=1e-14)


@pytest.mark.parametrize(
    ("activation", "widths", "bias", "order"),
    [
        ("tanh", (2, 2, 3, 1), True, 2 * 4 * 6 * 8),  # Π M_l!·2^{M_l} (eq. 2)
        ("tanh", (2, 3, 1), False, 6 * 8),  # flips need no biases
        ("sigmoid", (2, 2, 1), True, 2 * 4),  # Hamey's XOR net
        ("relu", (2, 3, 2, 1), True, 6 * 2),  # permutations only (rescalings are continuous)
        ("softplus", (2, 3, 1), False, 6),  # the FCP's case: no flips
    ],
)
def test_group_order_formula_matches_enumeration(activation, widths, bias, order):
    model = net(activation, widths, bias)
    theta = flat(model)
    group = SymmetryGroup(model)
    assert group.order == order
    images = {
        tuple(torch.round(group.apply(theta, g), decimals=9).tolist()) for g in group.elements()
    }
    assert len(images) == order  # a generic θ has #G distinct copies
    y0 = outputs(model, theta, X[:, :2])
    for g in list(group.elements())[:: max(1, order // 10)]:
        assert (outputs(model, group.apply(theta, g), X[:, :2]) - y0).abs().max() < 1e-10


def test_the_zoo_xor_net_and_the_fcp_are_described_honestly():
    xor = SymmetryGroup(zoo.build("xor"))
    assert xor.order == 8 and not xor.isometric and "absorbed by the next bias" in xor.describe()
    fcp = SymmetryGroup(zoo.build("fcp", input_shape=(1, 8, 8)))
    assert fcp.order == math.factorial(50) ** 2
    assert "no flips or rescalings" in fcp.describe() and fcp.isometric


def test_composition_is_the_group_law():
    model = net("sigmoid")
    theta = flat(model)
    group = SymmetryGroup(model)
    g, h = group.random_element(1), group.random_element(2)
    both = group.apply(group.apply(theta, g), h)
    assert torch.allclose(both, group.apply(theta, group.compose(h, g)), atol=1e-14)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_wedge_canonicalisation_is_idempotent_orbit_invariant_and_in_the_wedge(activation):
    model = net(activation)
    theta = flat(model)
    group = SymmetryGroup(model)
    canon = canonicalise(group, theta, "wedge")
    lay = group.layout
    assert in_region(group, canon.theta, "wedge") and not in_region(group, theta, "wedge")
    for b in lay.biases[:-1]:  # eq. 3: biases positive and decreasing
        bias = canon.theta[b]
        assert (bias > 0).all() and (bias[:-1] > bias[1:]).all()
    assert torch.equal(canonicalise(group, canon.theta, "wedge").theta, canon.theta)
    assert torch.allclose(group.apply(theta, canon.element), canon.theta)
    assert (outputs(model, canon.theta) - outputs(model, theta)).abs().max() < 1e-10
    for seed in range(4):  # every copy of θ has the same representative
        copy = group.apply(theta, group.random_element(seed))
        assert torch.allclose(canonicalise(group, copy, "wedge").theta, canon.theta, atol=1e-12)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cone_follows_the_sign_of_the_output_bias(sign):
    model = net("tanh", widths=(3, 4, 1))
    theta = flat(model)
    group = SymmetryGroup(model)
    theta[group.layout.biases[-1]] = sign * 0.3
    canon = canonicalise(group, theta, "cone")
    assert in_region(group, canon.theta, "cone")
    b = canon.theta[group.layout.biases[0]]
    assert (sign * b > 0).all() and (sign * (b[:-1] - b[1:]) > 0).all()  # eq. 4
    assert in_region(group, canon.theta, "wedge") == (sign > 0)
    assert torch.equal(canonicalise(group, canon.theta, "cone").theta, canon.theta)


def test_relu_rescalings_change_the_norm_but_not_the_outputs_and_sort_canonically():
    model = net("relu")
    theta = flat(model)
    group = SymmetryGroup(model)
    g = group.random_element(3, log_scale=1.0)
    moved = group.apply(theta, g)
    assert abs(float(moved.norm() - theta.norm())) > 1e-3
    assert (outputs(model, moved) - outputs(model, theta)).abs().max() < 1e-10
    canon = canonicalise(group, moved, "sorted")
    assert in_region(group, canon.theta, "sorted")
    assert torch.allclose(canon.theta, canonicalise(group, theta, "sorted").theta, atol=1e-12)
    assert torch.allclose(canonicalise(group, canon.theta, "sorted").theta, canon.theta)


def test_regions_the_network_does_not_have_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="needs sign-flip symmetry"):
        canonicalise(net("softplus"), flat(net("softplus")), "wedge")
    with pytest.raises(ValueError, match="hidden biases"):
        canonicalise(net("tanh", bias=False), flat(net("tanh", bias=False)), "wedge")
    sig = net("sigmoid")
    with pytest.raises(ValueError, match="odd activations"):
        canonicalise(sig, flat(sig), "cone")
    tanh = net("tanh", widths=(3, 4, 1))
    theta = flat(tanh)
    theta[-1] = 0.0
    with pytest.raises(ValueError, match="nonzero output bias"):
        canonicalise(tanh, theta, "cone")
    with pytest.raises(ValueError, match="use region='wedge'"):
        canonicalise(tanh, theta, "sorted")
    with pytest.raises(ValueError, match="`region` must be one of"):
        canonicalise(tanh, theta, "ball")


def test_bad_networks_and_elements_are_refused():
    with pytest.raises(ValueError, match="not a Linear layer"):
        mlp_layout(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3), nn.Tanh(), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match="at least two Linear layers"):
        mlp_layout(nn.Sequential(nn.Linear(2, 3)))
    with pytest.raises(ValueError, match="no activation between them"):
        mlp_layout(nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)))
    big = SymmetryGroup(zoo.build("fcp", input_shape=(1, 8, 8)))
    with pytest.raises(ValueError, match="enumerating more than"):
        next(big.elements())
    softplus = SymmetryGroup(net("softplus"))
    flips = SymmetryGroup(net("tanh")).random_element(0)
    with pytest.raises(ValueError, match="has no sign-flip symmetry"):
        softplus.apply(flat(net("softplus")), flips)
    with pytest.raises(ValueError, match="flat vector of the model's"):
        softplus.apply(torch.zeros(3, dtype=torch.float64), softplus.identity())

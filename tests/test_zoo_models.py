"""The model zoo: exact parameter counts, shapes, seeding, smooLU and error messages."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from lossatlas.zoo.models import MODELS, SmooLU, build, make_activation
from lossatlas.zoo.resnet import BasicBlock, WideBlock

DIGITS = (1, 8, 8)


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- the optimizer-strategies paper's models (its Table 1) -------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # 784·50 + 50·50 + 50·10, no biases
        ("fcp", 784 * 50 + 50 * 50 + 50 * 10),
        # conv1 6·1·25 + 6, conv2 16·6·25 + 16, then 400·120 + 120, 120·84 + 84, 84·10 + 10
        ("lenet", 156 + 2416 + 48_120 + 10_164 + 850),
        # LSTM 4·48·(28 + 48) weights + 2·4·48 biases, Linear 48·10 without bias
        ("lstm", 4 * 48 * (28 + 48) + 2 * 4 * 48 + 48 * 10),
        # 784·32 + 32·32 + 32·32 + 32·784, no biases
        ("autoencoder", 784 * 32 + 32 * 32 + 32 * 32 + 32 * 784),
    ],
)
def test_paper_models_have_the_papers_parameter_counts(name, expected):
    table_1 = {"fcp": 42_200, "lenet": 61_706, "lstm": 15_456, "autoencoder": 52_224}
    assert expected == table_1[name]
    assert num_params(build(name)) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("fcp", 64 * 50 + 50 * 50 + 50 * 10),
        # conv2 padded: 8 → pool 4 → conv2 (pad 2) 4 → pool 2, so Linear 16·2·2 → 120
        ("lenet", 156 + 2416 + (64 * 120 + 120) + 10_164 + 850),
        ("lstm", 4 * 48 * (8 + 48) + 2 * 4 * 48 + 48 * 10),
        ("autoencoder", 64 * 32 + 32 * 32 + 32 * 32 + 32 * 64),
    ],
)
def test_paper_models_at_digits_shape(name, expected):
    assert num_params(build(name, input_shape=DIGITS)) == expected


def test_lenet_pads_its_second_convolution_only_for_small_inputs():
    convs = lambda m: [c for c in m.modules() if isinstance(c, nn.Conv2d)]  # noqa: E731
    assert convs(build("lenet"))[1].padding == (0, 0)
    assert convs(build("lenet", input_shape=DIGITS))[1].padding == (2, 2)


def test_lstm_reads_permuted_pixels_row_by_row():
    model = build("lstm", seed=0)
    assert [name for name, _ in model.named_buffers()] == ["perm"]
    assert torch.equal(model.perm.sort().values, torch.arange(784))
    assert torch.equal(model.perm, build("lstm", seed=1).perm)  # seed does not move it
    assert not torch.equal(model.perm, build("lstm", perm_seed=1).perm)
    x = torch.rand(3, 1, 28, 28)
    steps = x.reshape(3, 784)[:, model.perm].reshape(3, 28, 28)
    expected = model.fc(model.lstm(steps)[1][0][-1])
    torch.testing.assert_close(model(x), expected)


def test_autoencoder_reconstructs_in_the_input_shape():
    out = build("autoencoder", seed=0)(torch.rand(5, 1, 28, 28))
    assert out.shape == (5, 1, 28, 28)
    assert bool(((out > 0) & (out < 1)).all())


# --- every registered model runs ------------------------------------------------------

# name → (keyword arguments, input shape of one sample, output shape of one sample)
FORWARD_CASES = {
    "fcp": [({}, (1, 28, 28), (10,)), ({"input_shape": DIGITS}, DIGITS, (10,))],
    "lenet": [({}, (1, 28, 28), (10,)), ({"input_shape": DIGITS}, DIGITS, (10,))],
    "lstm": [({}, (1, 28, 28), (10,)), ({"input_shape": DIGITS}, DIGITS, (10,))],
    "autoencoder": [({}, (1, 28, 28), (1, 28, 28)), ({"input_shape": DIGITS}, DIGITS, DIGITS)],
    "mlp": [
        ({}, (1, 28, 28), (10,)),
        ({"widths": (64, 16, 10)}, DIGITS, (10,)),
        ({"widths": (2, 16, 16, 1), "activation": "smoolu"}, (2,), (1,)),
    ],
    "xor": [({}, (2,), (1,))],
    "resnet20": [({}, (3, 32, 32), (10,)), ({"shortcut": False}, (3, 16, 16), (10,))],
    "resnet56": [({"batchnorm": False}, (3, 16, 16), (10,))],
    "resnet110": [({}, (3, 16, 16), (10,))],
    "wide_resnet": [({}, (3, 16, 16), (10,)), ({"num_classes": 100}, (3, 16, 16), (100,))],
}


def test_every_registered_model_has_a_forward_case():
    assert set(FORWARD_CASES) == set(MODELS)


@pytest.mark.parametrize(
    ("name", "kw", "in_shape", "out_shape"),
    [(name, *case) for name, cases in FORWARD_CASES.items() for case in cases],
)
def test_forward_shapes(name, kw, in_shape, out_shape):
    model = build(name, seed=0, **kw)
    with torch.no_grad():
        out = model(torch.rand(2, *in_shape))
    assert out.shape == (2, *out_shape)
    assert bool(torch.isfinite(out).all())


# --- seeding ---------------------------------------------------------------------------


def _same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("name", ["fcp", "lenet", "lstm", "autoencoder", "mlp", "xor", "resnet20"])
def test_seed_is_deterministic_and_leaves_global_rng_alone(name):
    before = torch.get_rng_state()
    first, again, other = build(name, seed=3), build(name, seed=3), build(name, seed=4)
    assert torch.equal(torch.get_rng_state(), before)
    assert _same(first, again)
    assert not _same(first, other)


def test_no_seed_draws_from_the_global_generator():
    torch.manual_seed(0)
    a = build("fcp")
    torch.manual_seed(0)
    assert _same(a, build("fcp"))
    assert not _same(a, build("fcp"))


# --- smooLU (Cooper 2018, Def. 3.2) -------------------------------------------------


def _derivatives(f, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Value, first and second derivative of an elementwise f at every entry of x."""
    x = x.clone().requires_grad_(True)
    y = f(x)
    (d1,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), x)
    return y.detach(), d1.detach(), d2


def test_smoolu_is_finite_and_matches_its_formula():
    x = torch.tensor([-1.0, 0.0, 1e-8, 1e-3, 1.0, 10.0], dtype=torch.float64)
    value, d1, d2 = _derivatives(SmooLU(), x)
    for what, t in [("value", value), ("first derivative", d1), ("second derivative", d2)]:
        assert bool(torch.isfinite(t).all()), f"{what} not finite: {t}"
    off = x <= 0
    assert not value[off].any() and not d1[off].any() and not d2[off].any()
    # x > 0: autograd of the closed form x·exp(−1/x), and the derivatives by hand.
    pos = x[~off]
    ref_value, ref_d1, ref_d2 = _derivatives(lambda t: t * torch.exp(-1 / t), pos)
    torch.testing.assert_close(value[~off], ref_value, rtol=1e-12, atol=0)
    torch.testing.assert_close(d1[~off], ref_d1, rtol=1e-12, atol=0)
    torch.testing.assert_close(d2[~off], ref_d2, rtol=1e-12, atol=0)
    e = torch.exp(-1 / pos)
    torch.testing.assert_close(d1[~off], e * (1 + 1 / pos), rtol=1e-12, atol=0)
    torch.testing.assert_close(d2[~off], e / pos**3, rtol=1e-12, atol=0)
    assert float(value[-2]) == pytest.approx(torch.e**-1)


def test_smoolu_has_no_nan_at_tiny_float32_inputs():
    x = torch.tensor([-1e-45, 0.0, 1e-45, 1e-38, 1e-30, 1e-8, 1e-3, 0.5], dtype=torch.float32)
    for t in _derivatives(SmooLU(), x):
        assert bool(torch.isfinite(t).all()), t


# --- structure switches ---------------------------------------------------------------


def test_xor_has_nine_weights():
    assert num_params(build("xor")) == 2 * 2 + 2 + 2 + 1
    assert num_params(build("xor", hidden=3)) == 2 * 3 + 3 + 3 + 1


def test_mlp_without_bias():
    model = build("mlp", widths=(2, 16, 16, 1), bias=False)
    assert not any("bias" in name for name, _ in model.named_parameters())
    assert num_params(model) == 2 * 16 + 16 * 16 + 16


def test_mlp_batchnorm_switch_adds_one_bn_per_hidden_layer_and_keeps_the_weights():
    plain = build("mlp", widths=(4, 6, 5, 3), seed=2)
    normed = build("mlp", widths=(4, 6, 5, 3), batchnorm=True, seed=2)
    bns = [m for m in normed.modules() if isinstance(m, nn.BatchNorm1d)]
    assert [m.num_features for m in bns] == [6, 5]
    assert num_params(normed) == num_params(plain) + 2 * (6 + 5)
    # BatchNorm's initialisation draws nothing: the linear layers are the same for a seed
    linear = [m.weight for m in plain.modules() if isinstance(m, nn.Linear)]
    linear_bn = [m.weight for m in normed.modules() if isinstance(m, nn.Linear)]
    assert all(torch.equal(a, b) for a, b in zip(linear, linear_bn, strict=True))
    normed.eval()
    assert normed(torch.randn(7, 4)).shape == (7, 3)


@pytest.mark.parametrize("name", ["resnet20", "resnet56", "resnet110", "wide_resnet"])
def test_noshort_has_no_shortcuts(name):
    model = build(name, shortcut=False)
    assert not any("shortcut" in n for n, _ in model.named_modules())
    blocks = [m for m in model.modules() if isinstance(m, BasicBlock | WideBlock)]
    assert blocks and all(b.shortcut is None for b in blocks)
    assert any("shortcut" in n for n, _ in build(name).named_modules())


@pytest.mark.parametrize("name", ["resnet20", "resnet56", "resnet110", "wide_resnet"])
def test_without_batchnorm_every_conv_has_a_bias(name):
    model = build(name, batchnorm=False)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(c.bias is not None for c in convs)


def test_deep_residual_net_without_batchnorm_does_not_explode_at_init():
    # He init doubles the variance per block without BN; the branches are rescaled.
    with torch.no_grad():
        out = build("resnet110", batchnorm=False, seed=0)(torch.randn(4, 3, 16, 16))
    assert float(out.std()) < 10


# --- ResNet parameter counts, derived layer by layer ----------------------------------


def _conv(c_in: int, c_out: int, k: int, bias: bool) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


def cifar_resnet_count(depth: int, shortcut: bool, batchnorm: bool, widen: int = 1) -> int:
    """He et al. (2016, §4.2): stem, 3 stages of n blocks of two 3×3 convs, 1×1 projections."""
    n, bias = (depth - 2) // 6, not batchnorm
    norm = (lambda c: 2 * c) if batchnorm else (lambda c: 0)  # BN has γ and β
    widths = [16 * widen, 32 * widen, 64 * widen]
    total = _conv(3, widths[0], 3, bias) + norm(widths[0])
    c_in = widths[0]
    for c in widths:
        for _ in range(n):
            total += _conv(c_in, c, 3, bias) + norm(c) + _conv(c, c, 3, bias) + norm(c)
            if shortcut and c_in != c:
                total += _conv(c_in, c, 1, bias) + norm(c)
            c_in = c
    return total + c_in * 10 + 10


def wide_resnet_count(depth: int, widen: int, shortcut: bool, batchnorm: bool) -> int:
    """Zagoruyko & Komodakis (2016): pre-activation blocks, projections without BN."""
    n, bias = (depth - 4) // 6, not batchnorm
    norm = (lambda c: 2 * c) if batchnorm else (lambda c: 0)
    total = _conv(3, 16, 3, bias)
    c_in = 16
    for c in [16 * widen, 32 * widen, 64 * widen]:
        for _ in range(n):
            total += norm(c_in) + _conv(c_in, c, 3, bias) + norm(c) + _conv(c, c, 3, bias)
            if shortcut and c_in != c:
                total += _conv(c_in, c, 1, bias)
            c_in = c
    return total + norm(c_in) + c_in * 10 + 10


def test_resnet20_by_hand():
    stem = 3 * 16 * 9 + 2 * 16
    stage1 = 3 * (2 * 16 * 16 * 9 + 2 * 2 * 16)
    stage2 = (16 * 32 * 9 + 32 * 32 * 9 + 2 * 2 * 32) + (16 * 32 + 2 * 32)  # + projection
    stage2 += 2 * (2 * 32 * 32 * 9 + 2 * 2 * 32)
    stage3 = (32 * 64 * 9 + 64 * 64 * 9 + 2 * 2 * 64) + (32 * 64 + 2 * 64)
    stage3 += 2 * (2 * 64 * 64 * 9 + 2 * 2 * 64)
    fc = 64 * 10 + 10
    total = stem + stage1 + stage2 + stage3 + fc
    assert total == 272_474 == cifar_resnet_count(20, shortcut=True, batchnorm=True)
    assert num_params(build("resnet20")) == total


@pytest.mark.parametrize("depth", [20, 56, 110])
@pytest.mark.parametrize(("shortcut", "batchnorm"), [(True, True), (False, True), (True, False)])
def test_cifar_resnet_counts(depth, shortcut, batchnorm):
    model = build(f"resnet{depth}", shortcut=shortcut, batchnorm=batchnorm)
    assert num_params(model) == cifar_resnet_count(depth, shortcut, batchnorm)


def test_wide_resnet56_of_li_et_al():
    model = build("resnet56", widen=2)
    assert num_params(model) == cifar_resnet_count(56, True, True, widen=2)


@pytest.mark.parametrize(("shortcut", "batchnorm"), [(True, True), (False, True), (True, False)])
def test_wide_resnet_counts(shortcut, batchnorm):
    model = build("wide_resnet", shortcut=shortcut, batchnorm=batchnorm)
    assert num_params(model) == wide_resnet_count(16, 4, shortcut, batchnorm)
    small = build("wide_resnet", depth=10, widen=1, shortcut=shortcut, batchnorm=batchnorm)
    assert num_params(small) == wide_resnet_count(10, 1, shortcut, batchnorm)


# --- errors --------------------------------------------------------------------------

ALLOWED_ACTIVATIONS = "'relu', 'tanh', 'softplus', 'sigmoid', 'smoolu'"


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(
        ValueError, match=r"`name` must be one of 'fcp', .*'wide_resnet'; got 'vgg'"
    ):
        build("vgg")


def test_unknown_activation_lists_the_allowed_ones():
    message = re.escape(f"`activation` must be one of {ALLOWED_ACTIVATIONS}; got 'gelu'.")
    with pytest.raises(ValueError, match=message):
        make_activation("gelu")
    with pytest.raises(ValueError, match=message):
        build("mlp", activation="gelu")
    with pytest.raises(ValueError, match=message):
        build("lenet", activation="gelu")


def test_unknown_keyword_names_it_and_the_accepted_ones():
    with pytest.raises(TypeError, match=r"'widht'.*accepts input_shape, num_classes, hidden"):
        build("fcp", widht=3)


@pytest.mark.parametrize(
    ("name", "kw", "message"),
    [
        ("mlp", {"widths": (5,)}, r"`widths` must be .*; got \(5,\)"),
        ("lenet", {"input_shape": (1, 3, 3)}, r"`input_shape` must be at least 4×4"),
        ("fcp", {"input_shape": (28, 28)}, r"`input_shape` must be \(C, H, W\)"),
        ("wide_resnet", {"depth": 15}, r"`depth` must be 6n \+ 4"),
    ],
)
def test_bad_arguments(name, kw, message):
    with pytest.raises(ValueError, match=message):
        build(name, **kw)


def test_bad_resnet_depth():
    from lossatlas.zoo.resnet import CifarResNet

    with pytest.raises(ValueError, match=r"`depth` must be 6n \+ 2 .*; got 21"):
        CifarResNet(21)

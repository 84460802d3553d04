"""Objective against independent dense references on tiny float64 models."""

import pytest
import torch
from torch import nn

from conftest import CASES, assert_close_report, make_case
from lossatlas import DeterminismError, Objective
from lossatlas.core import reference

RTOL = 1e-8


def _objective(case, **kw):
    return Objective(
        case.model, case.data, loss=case.loss, mode=case.mode, dtype=torch.float64, **kw
    )


def _perturbed(obj, seed=0):
    g = torch.Generator().manual_seed(seed)
    return obj.point() + 0.1 * torch.randn(obj.size, generator=g, dtype=torch.float64)


def test_value_matches_a_plain_forward_pass(case):
    obj = _objective(case)
    theta = _perturbed(obj)
    if case.mode == "eval":
        assert_close_report(obj.value(theta), reference.loss(obj, theta), RTOL, "value")
    model = reference.module_at(obj, obj.point())
    if case.mode == "train":  # batch statistics: the module in train mode on the whole batch
        model.train()
    x, y = case.data if isinstance(case.data, tuple) else (case.data, case.data)
    loss_fn = nn.functional.mse_loss if case.loss == "mse" else nn.functional.cross_entropy
    with torch.no_grad():
        expected = loss_fn(model(x), y)
    assert_close_report(obj.value(obj.point()), expected, RTOL, "value at the model's point")


def test_grad_matches_autograd(case):
    obj = _objective(case)
    theta = _perturbed(obj)
    assert_close_report(obj.grad(theta), reference.gradient(obj, theta), RTOL, "grad")
    value, g = obj.value_and_grad(theta)
    assert_close_report(value, obj.value(theta), RTOL, "value_and_grad value")
    assert_close_report(g, obj.grad(theta), RTOL, "value_and_grad grad")


@pytest.mark.parametrize("hvp_strategy", ["auto", "vmap", "reuse", "loop"])
def test_hvp_and_hvps_match_dense_hessian(case, hvp_strategy):
    obj = _objective(case, hvp_strategy=hvp_strategy)
    theta = _perturbed(obj)
    H = reference.hessian(obj, theta)
    assert_close_report(H, H.T, 1e-10, "dense Hessian symmetry")
    g = torch.Generator().manual_seed(3)
    V = torch.randn(5, obj.size, generator=g, dtype=torch.float64)
    assert_close_report(obj.hvp(theta, V[0]), H @ V[0], RTOL, "hvp")
    assert_close_report(obj.hvps(theta, V), V @ H, RTOL, "hvps")


def test_hvp_matches_finite_differences_of_grad():
    """An independent check of the reference itself, on the BatchNorm train-mode case."""
    obj = _objective(make_case("batchnorm-train"))
    theta = _perturbed(obj)
    v = torch.randn(obj.size, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    eps = 1e-5
    fd = (obj.grad(theta + eps * v) - obj.grad(theta - eps * v)) / (2 * eps)
    assert_close_report(obj.hvp(theta, v), fd, 1e-6, "hvp vs central differences")


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("strategy", ["loop", "vmap"])
def test_values_equals_loop_of_value(name, strategy):
    obj = _objective(make_case(name), points_chunk=3)
    points = torch.stack([_perturbed(obj, seed) for seed in range(7)])
    expected = torch.stack([obj.value(p) for p in points])
    assert_close_report(obj.values(points, strategy=strategy), expected, 1e-12, "values")


@pytest.mark.parametrize("batch_size", [1, 4, 13, 100])
def test_streamed_and_chunked_data_give_the_same_value(batch_size):
    case = make_case("mlp")
    x, y = case.data
    whole = _objective(case)
    theta = _perturbed(whole)
    chunked = _objective(case, batch_size=batch_size)
    batches = [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, 13, batch_size)]
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=batch_size
    )
    streamed_list = Objective(case.model, batches, dtype=torch.float64)
    streamed_loader = Objective(case.model, loader, dtype=torch.float64)
    for other in (chunked, streamed_list, streamed_loader):
        assert_close_report(other.value(theta), whole.value(theta), 1e-14, "value")
        assert_close_report(other.grad(theta), whole.grad(theta), 1e-12, "grad")


def test_unequal_batches_are_weighted_by_size():
    """Batches of 10 and 3 samples: the mean is over samples, not over batches."""
    case = make_case("mlp")
    x, y = case.data
    obj = Objective(case.model, [(x[:10], y[:10]), (x[10:], y[10:])], dtype=torch.float64)
    with torch.no_grad():
        expected = nn.functional.cross_entropy(case.model.double()(x), y)
    assert_close_report(obj.value(obj.point()), expected, 1e-14, "weighted mean")


def test_unsupervised_data_uses_input_as_target():
    case = make_case("autoencoder")
    obj = _objective(case)
    with torch.no_grad():
        expected = nn.functional.mse_loss(case.model.double()(case.data), case.data)
    assert_close_report(obj.value(obj.point()), expected, 1e-14, "autoencoder loss")
    pair = Objective(case.model, (case.data, None), loss="mse", dtype=torch.float64)
    assert_close_report(pair.value(pair.point()), expected, 1e-14, "(x, None)")


def test_metrics_accuracy():
    case = make_case("mlp")
    obj = _objective(case)
    x, y = case.data
    with torch.no_grad():
        acc = (case.model.double()(x).argmax(1) == y).double().mean()
    m = obj.metrics(obj.point())
    assert m["accuracy"] == pytest.approx(float(acc))
    assert m["loss"] == pytest.approx(float(obj.value(obj.point())))
    autoencoder = _objective(make_case("autoencoder"))
    assert "accuracy" not in autoencoder.metrics(autoencoder.point())


def test_model_and_its_buffers_are_never_modified():
    case = make_case("batchnorm-train")
    model = case.model.double().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    obj = _objective(case)
    theta = _perturbed(obj)
    (
        obj.value(theta),
        obj.grad(theta),
        obj.hvp(theta, theta),
        obj.values(theta[None], strategy="vmap"),
    )
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert model.training  # the user's flag is untouched


def test_dropout_is_off():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2)).train()
    x, y = torch.randn(20, 4), torch.randint(0, 2, (20,))
    obj = Objective(model, (x, y))
    theta = obj.point()
    assert obj.value(theta) == obj.value(theta)


def test_float32_default_and_float64_on_request():
    case = make_case("mlp")
    assert Objective(case.model.float(), case.data).point().dtype == torch.float32
    assert _objective(case).point().dtype == torch.float64


class NoisyLayer(nn.Module):
    def forward(self, x):
        return x + torch.randn_like(x)


def test_random_forward_is_named():
    model = nn.Sequential(nn.Linear(4, 3), NoisyLayer())
    x, y = torch.randn(5, 4), torch.randint(0, 3, (5,))
    with pytest.raises(DeterminismError, match=r"'1' \(NoisyLayer\)"):
        Objective(model, (x, y))


def test_shuffled_loader_is_refused():
    x, y = torch.randn(50, 4), torch.randint(0, 3, (50,))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=8, shuffle=True
    )
    with pytest.raises(DeterminismError, match="shuffle=True"):
        Objective(nn.Linear(4, 3), loader)


def test_bad_input_errors():
    model = nn.Linear(4, 3)
    x, y = torch.randn(5, 4), torch.randint(0, 3, (5,))
    with pytest.raises(ValueError, match="`mode` must be 'eval' or 'train'"):
        Objective(model, (x, y), mode="test")
    with pytest.raises(ValueError, match="`loss` must be one of"):
        Objective(model, (x, y), loss="hinge")
    with pytest.raises(TypeError, match="iterator, which can be read only once"):
        Objective(model, iter([(x, y)]))
    with pytest.raises(ValueError, match="same number of samples"):
        Objective(model, (x, y[:3]))
    obj = Objective(model, (x, y))
    with pytest.raises(ValueError, match="flat parameter vector of length 15"):
        obj.value(torch.zeros(14))
    with pytest.raises(ValueError, match=r"`points` must have shape \[k, n\]"):
        obj.values(torch.zeros(15))
    with pytest.raises(ValueError, match="`strategy` must be"):
        obj.values(torch.zeros(2, 15), strategy="parallel")


def test_callable_loss_with_batch_mean_is_weighted_exactly():
    case = make_case("mlp")
    x, y = case.data
    batches = [(x[:10], y[:10]), (x[10:], y[10:])]
    obj = Objective(case.model, batches, loss=nn.CrossEntropyLoss(), dtype=torch.float64)
    assert_close_report(obj.value(obj.point()), _objective(case).value(obj.point()), 1e-14, "mean")


def test_tied_weights_stay_tied_in_every_evaluation_path():
    torch.manual_seed(0)
    enc, dec = nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False)
    dec.weight = enc.weight  # one tensor used by two modules
    model = nn.Sequential(enc, nn.Tanh(), dec)
    x = torch.randn(6, 4, dtype=torch.float64)
    obj = Objective(model, x, loss="mse", dtype=torch.float64)
    assert obj.size == 16
    theta = obj.point() + 0.1
    with torch.no_grad():
        w = theta.view(4, 4)
        expected = nn.functional.mse_loss(torch.tanh(x @ w.T) @ w.T, x)
    assert_close_report(obj.value(theta), expected, 1e-14, "tied value")
    assert_close_report(obj.values(theta[None], strategy="vmap")[0], expected, 1e-14, "tied vmap")


def test_loaded_buffers_reach_evaluations_made_before_the_load(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).eval()
    x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    obj = Objective(model, (x, y))
    before = obj.value(obj.point())
    trained = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).eval()
    trained.load_state_dict(model.state_dict())
    trained[1].running_mean.fill_(2.0)
    theta = obj.load_point(trained.state_dict())
    with torch.no_grad():
        expected = nn.functional.cross_entropy(trained(x), y)
    assert torch.allclose(obj.value(theta), expected) and not torch.allclose(before, expected)


def test_cross_entropy_is_torchs_with_every_derivative():
    """The logsumexp form of the built-in loss against F.cross_entropy: values, gradients and
    Hessians in float64 (HVPs and Lanczos rely on the second derivatives)."""
    from torch.autograd.functional import hessian

    from lossatlas.core.losses import cross_entropy

    g = torch.Generator().manual_seed(0)
    z = torch.randn(7, 5, generator=g, dtype=torch.float64) * 4
    y = torch.randint(0, 5, (7,), generator=g)
    ours = lambda z: cross_entropy(z, y).sum()  # noqa: E731
    torchs = lambda z: torch.nn.functional.cross_entropy(z, y, reduction="sum")  # noqa: E731

    def torchs_none(z, target):
        return torch.nn.functional.cross_entropy(z, target, reduction="none")

    torch.testing.assert_close(cross_entropy(z, y), torchs_none(z, y))
    torch.testing.assert_close(torch.func.grad(ours)(z), torch.func.grad(torchs)(z))
    torch.testing.assert_close(hessian(ours, z), hessian(torchs, z))
    probs = torch.softmax(torch.randn(7, 5, generator=g, dtype=torch.float64), 1)
    torch.testing.assert_close(cross_entropy(z, probs), torchs_none(z, probs))


def test_sse_is_the_mean_over_samples_of_each_patterns_sum_of_squares():
    """loss="sse" (alias "mean_sse"): L = (1/N) Σ_i Σ_j (f_j(x_i) − y_ij)², by hand."""
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2).double()
    x, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    expected = ((net(x) - y) ** 2).sum() / 5
    for name in ("sse", "mean_sse"):
        obj = Objective(net, (x, y), loss=name, dtype=torch.float64)
        assert obj.value(obj.point()).item() == pytest.approx(expected.item(), rel=1e-12)

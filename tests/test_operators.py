"""The generalised Gauss–Newton matrix and the empirical Fisher against their dense definitions,
and every estimator taking them by name."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, hessian, jacrev

from conftest import make_case
from lossatlas import Objective
from lossatlas import curvature as C
from lossatlas.core.derivatives import _load_jvp_decompositions
from lossatlas.curvature.ggn import GGNOperator
from lossatlas.curvature.operators import as_operator

F64 = torch.float64
_load_jvp_decompositions()  # torch.func.hessian's forward mode, without torch's own warning


def _dense_ggn(obj: Objective, theta: torch.Tensor) -> torch.Tensor:
    """(1/N) Σ_i J_iᵀ ∇²_f ℓ_i J_i written out: the whole Jacobian and output Hessian."""
    x = obj.data.x
    y = x if obj.data.y is None else obj.data.y  # an autoencoder reconstructs its input

    def outputs(t):
        return functional_call(obj._module, obj.space.unflatten(t), (x,))

    out = outputs(theta).detach()
    J = jacrev(outputs)(theta).reshape(out.numel(), -1)
    H = hessian(lambda o: obj._loss(o, y).sum())(out).reshape(out.numel(), out.numel())
    return J.T @ H @ J / x.shape[0]


def _sample_gradient(obj: Objective, theta: torch.Tensor, i: int) -> torch.Tensor:
    x, y = obj.data.x[i : i + 1], obj.data.y[i : i + 1]
    return torch.autograd.functional.jacobian(lambda t: obj.batch_losses(t, x, y).sum(), theta)


def _dense_fisher(obj: Objective, theta: torch.Tensor) -> torch.Tensor:
    """(1/N) Σ_i ∇ℓ_i ∇ℓ_iᵀ from every sample's gradient."""
    G = torch.stack([_sample_gradient(obj, theta, i) for i in range(obj.data.x.shape[0])])
    return G.T @ G / G.shape[0]


@pytest.mark.parametrize("name", ["mlp", "autoencoder", "conv-bn"])
def test_ggn_products_equal_the_dense_ggn(name):
    case = make_case(name)
    obj = Objective(case.model, case.data, loss=case.loss, dtype=F64)
    theta = obj.point() + 0.3 * torch.randn(
        obj.size, generator=torch.Generator().manual_seed(1), dtype=F64
    )
    dense = _dense_ggn(obj, theta)
    op = GGNOperator(obj, theta)
    torch.testing.assert_close(op.dense(), (dense + dense.T) / 2, rtol=1e-9, atol=1e-11)
    assert torch.linalg.eigvalsh(dense).min() > -1e-10  # positive semi-definite (convex losses)


def test_ggn_equals_the_hessian_for_a_model_linear_in_theta():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(20, 4, generator=g, dtype=F64), torch.randint(0, 3, (20,), generator=g)
    obj = Objective(nn.Linear(4, 3), (x, y), dtype=F64)
    theta = obj.point()
    torch.testing.assert_close(
        GGNOperator(obj, theta).dense(), C.operators.dense_hessian(obj, theta)
    )


def test_every_estimator_takes_the_operator_by_name():
    case = make_case("mlp")
    obj = Objective(case.model, case.data, loss=case.loss, dtype=F64)
    theta = obj.point() + 0.3 * torch.randn(
        obj.size, generator=torch.Generator().manual_seed(1), dtype=F64
    )
    dense = {"ggn": _dense_ggn(obj, theta), "fisher": _dense_fisher(obj, theta)}
    dense["hessian"] = C.operators.dense_hessian(obj, theta)
    for name, matrix in dense.items():
        exact = torch.linalg.eigvalsh((matrix + matrix.T) / 2)
        top = C.top_eigenvalues(obj, theta, k=2, operator=name, tol=1e-10)
        np.testing.assert_allclose(top.eigenvalues.numpy(), exact.flip(0)[:2].numpy(), rtol=1e-7)
        tr = C.trace(obj, theta, samples=3 * obj.size, operator=name)
        assert tr.estimate == pytest.approx(float(matrix.trace()), rel=1e-9)
        d = C.density(obj, theta, draws=2, steps=obj.size, operator=name, progress=False)
        assert d.attrs["operator"] == as_operator(obj, theta, name).name
    with pytest.raises(ValueError, match="`operator` must be one of hessian, ggn, fisher"):
        C.top_eigenvalues(obj, theta, operator="gauss")


def test_the_command_line_takes_the_operator(tmp_path):
    import json

    from typer.testing import CliRunner

    from lossatlas.cli import app

    base = ["spectrum", "--model", "mlp", "--model-arg", "widths=64,4,10", "--float64"]
    out = tmp_path / "ggn"
    r = CliRunner().invoke(
        app, [*base, "eigen", "--k", "2", "--bottom", "0", "--operator", "ggn", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    body = json.loads((out / "lossatlas-eigen.json").read_text())
    assert body["settings"]["operator"] == "ggn"
    from lossatlas import zoo

    split = zoo.dataset("digits")
    obj = Objective(zoo.build_for("mlp", split, seed=0, widths=(64, 4, 10)), split.train, dtype=F64)
    dense = GGNOperator(obj, obj.point()).dense()
    exact = torch.linalg.eigvalsh(dense).flip(0)[:2]
    assert body["results"]["top"] == pytest.approx(exact.tolist(), rel=1e-6)
    bad = CliRunner().invoke(
        app, [*base, "covariance", "--operator", "ggn", "--out", str(tmp_path / "c")]
    )
    assert bad.exit_code == 2 and "applies to eigen, trace, density, diagonal and" in " ".join(
        bad.output.split()
    )


def test_the_convexity_map_of_the_ggn_and_the_fisher():
    from lossatlas import surface

    case = make_case("mlp")
    obj = Objective(case.model, case.data, loss=case.loss, dtype=F64)
    plane = surface.random_plane(obj, obj.point(), grid=(2, 2), progress=False)
    for name, dense in (("ggn", _dense_ggn), ("fisher", _dense_fisher)):
        cm = C.convexity_map(obj, plane, tol=1e-10, operator=name, progress=False)
        assert cm.attrs["operator"] == name
        for i, a in enumerate(plane.alpha.values):
            for j, b in enumerate(plane.beta.values):
                point = plane.origin.values + a * plane.d1.values + b * plane.d2.values
                lam = torch.linalg.eigvalsh(dense(obj, torch.as_tensor(point)))
                assert float(cm.lambda_max[i, j]) == pytest.approx(float(lam[-1]), rel=1e-6)
                assert float(cm.lambda_min[i, j]) == pytest.approx(float(lam[0]), abs=1e-8)
    hessian_map = C.convexity_map(obj, plane, tol=1e-10, progress=False)
    assert "operator" not in hessian_map.attrs  # the settings of stores made before the option


def test_the_diagonal_estimators_against_the_dense_diagonal():
    case = make_case("mlp")
    obj = Objective(case.model, case.data, loss=case.loss, dtype=F64)
    theta = obj.point() + 0.3 * torch.randn(
        obj.size, generator=torch.Generator().manual_seed(1), dtype=F64
    )
    for name in ("hessian", "ggn", "fisher"):
        dense = as_operator(obj, theta, name).dense()
        exact = C.diagonal(obj, theta, method="exact", operator=name)
        torch.testing.assert_close(
            exact.estimate, torch.diagonal(dense).cpu(), rtol=1e-10, atol=1e-12
        )
        assert exact.products == obj.size
        est = C.diagonal(obj, theta, samples=4000, operator=name, seed=3)
        z = (est.estimate - exact.estimate) / est.stderr.clamp(min=1e-12)
        assert float(z.abs().max()) < 5.5  # every entry within its error bar (43 entries)
        assert est.products == 4000
    # a diagonal matrix: one ±1 draw is exact, whatever the draw
    D = torch.diag(torch.tensor([3.0, -1.0, 0.5, 2.0], dtype=F64))
    torch.testing.assert_close(C.diagonal(D, samples=2).estimate, torch.diagonal(D))
    with pytest.raises(ValueError, match="`samples` must be an integer ≥ 2"):
        C.diagonal(D, samples=1)


def test_the_command_line_diagonal(tmp_path):
    import json

    from typer.testing import CliRunner

    from lossatlas import zoo
    from lossatlas.cli import app

    out = tmp_path / "diag"
    args = ["spectrum", "diagonal", "--model", "mlp", "--model-arg", "widths=64,4,10"]
    args += ["--float64", "--method", "exact", "--operator", "ggn", "--out", str(out)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    got = torch.load(out / "diagonal.pt")
    split = zoo.dataset("digits")
    obj = Objective(zoo.build_for("mlp", split, seed=0, widths=(64, 4, 10)), split.train, dtype=F64)
    want = torch.diagonal(GGNOperator(obj, obj.point()).dense())
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    body = json.loads((out / "lossatlas-diagonal.json").read_text())
    assert body["results"]["sum"] == pytest.approx(float(want.sum()))

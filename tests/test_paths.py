"""Paths between minima: exact references on a 2-D landscape, the FCP on digits, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lossatlas import Objective, zoo
from lossatlas.optim import train
from lossatlas.paths import (
    NonFinitePathLoss,
    align,
    barrier_matrix,
    bezier,
    fourier,
    linear,
)
from lossatlas.paths.fourier import coefficient_gradient, sine_basis
from lossatlas.results.store import StoreMismatch

F64 = torch.float64
A = torch.tensor([-1.0, 0.0], dtype=F64)
B = torch.tensor([1.0, 0.0], dtype=F64)


@pytest.fixture(scope="module")
def wells():
    """TwoWells (k = 2, c = 1): minima (±1, 0), saddle (0, 1) at E = 1, the line's peak E = 3."""
    return zoo.landscape_objective("two-wells")


def test_linear_profile_is_the_closed_form(wells):
    r = linear(wells, A, B, points=101)
    x = 2 * r.t - 1
    np.testing.assert_allclose(r.loss, 3.0 * (1 - x**2) ** 2, atol=1e-12)
    assert r.height == pytest.approx(3.0, abs=1e-12)
    assert r.barrier == pytest.approx(3.0, abs=1e-12)
    assert r.barrier_mean == pytest.approx(3.0, abs=1e-12)
    assert r.length == pytest.approx(2.0, abs=1e-12)


def test_fourier_finds_the_saddle_and_keeps_the_endpoints(wells):
    line = linear(wells, A, B, points=101)
    r = fourier(wells, A, B, terms=15, points=101, penalty=0.1, steps=600, lr=0.02, progress=False)
    saddle = 1.0  # E at the known saddle (0, 1)
    # eq. 5: the max over the 101 t points, measured at 1.0251 on a converged path (the
    # same after 1,200 steps); the path cuts the saddle's corner, see below
    assert saddle <= r.height <= 1.03 * saddle
    assert r.height < line.height - 1.5
    ends = r.points(np.array([0.0, 1.0]))
    assert torch.equal(ends[0], A) and torch.equal(ends[1], B)
    assert torch.equal(r.points()[0], A) and torch.equal(r.points()[-1], B)
    # Between the t points the continuous path crosses x = 0 a little below the saddle
    # (the cumulative-loss objective cuts the corner, as a plain elastic band does): its
    # maximum on a 4001-point grid is measured at 1.027.
    fine = r.points(np.linspace(0, 1, 4001))
    values = wells.values(fine)
    assert saddle <= float(values.max()) <= 1.05 * saddle
    assert r.height <= float(values.max()) + 1e-12  # the t points lie on the path
    top = fine[values.argmax()]
    assert torch.allclose(top, torch.tensor([0.0, 1.0], dtype=F64), atol=0.15)
    # the kept path is the one with the lowest cumulative loss
    assert sum(r.loss) == pytest.approx(min(r.history), rel=1e-12)
    assert r.coefficients.shape == (15, 2)
    ds = r.to_dataset()
    assert ds.loss.dims == ("t",) and ds.attrs["height"] == r.height


def test_fourier_coefficient_gradient_matches_autograd():
    torch.manual_seed(0)
    points, terms, n = 9, 4, 5
    t = np.linspace(0, 1, points)
    S = torch.as_tensor(sine_basis(t, terms))
    assert torch.all(S[0] == 0) and torch.all(S[-1] == 0)
    a, b = torch.randn(n, dtype=F64), torch.randn(n, dtype=F64)
    M = torch.randn(n, n, dtype=F64)

    def loss(theta):  # a non-quadratic L with a known autograd gradient
        return torch.log1p((theta @ M).pow(2).sum(-1)) + theta.sin().sum(-1)

    coeffs = torch.randn(terms, n, dtype=F64, requires_grad=True)
    tt = torch.as_tensor(t)[:, None]
    thetas = (1 - tt) * a + tt * b + S @ coeffs
    lam = 0.7
    F = loss(thetas).sum() + lam * (thetas[1:] - thetas[:-1]).pow(2).sum()
    (expected,) = torch.autograd.grad(F, coeffs)
    th = thetas.detach().requires_grad_(True)
    (grads,) = torch.autograd.grad(loss(th).sum(), th)
    got = coefficient_gradient(S, grads[1:-1], thetas.detach(), lam)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_fourier_penalty_pulls_towards_the_line(wells):
    heights, lengths = [], []
    for lam in (0.1, 35.0):
        r = fourier(wells, A, B, terms=15, points=101, penalty=lam, steps=150, lr=0.01,
                    progress=False)  # fmt: skip
        heights.append(r.height)
        lengths.append(r.length)
    assert lengths[0] > lengths[1] > 2.0  # a stiffer path is shorter, never shorter than the line
    assert heights[0] < heights[1] < 3.0


def test_bezier_curve_reaches_the_saddle(wells):
    # θ(t) = (1−t)²a + 2t(1−t)c + t²b passes through the valley y = 1 − x² exactly at c = (0, 2)
    r = bezier(wells, A, B, points=101, steps=2000, lr=0.01, seed=0, progress=False)
    assert r.height == pytest.approx(1.0, rel=0.01)
    assert torch.allclose(r.coefficients[0], torch.tensor([0.0, 2.0], dtype=F64), atol=0.15)
    assert torch.equal(r.points()[0], A) and torch.equal(r.points()[-1], B)
    poly = bezier(wells, A, B, curve="polychain", points=101, steps=800, lr=0.01,
                  progress=False)  # fmt: skip
    assert poly.height < 3.0
    # the polychain's kink sits at t = ½ on the control point
    assert torch.allclose(poly.points(np.array([0.5]))[0], poly.coefficients[0])


@pytest.fixture(scope="module")
def fcp_pair():
    """Two L-BFGS-GSS solutions of the zoo FCP on digits from different seeds."""
    digits = zoo.dataset("digits")
    thetas = []
    for seed in (0, 1):
        net = zoo.build_for("fcp", digits, seed=seed)
        thetas.append(
            train(net, digits, optimizer="lbfgs-gss", epochs=60, seed=seed, progress=False).theta
        )
    obj = Objective(zoo.build_for("fcp", digits), digits.train, loss="cross_entropy", dtype=F64)
    return obj, digits, [t.to(F64) for t in thetas]


def test_fourier_lowers_the_fcp_path(fcp_pair):
    obj, digits, (a, b) = fcp_pair
    line = linear(obj, a, b, points=21, test=digits.test)
    r = fourier(obj, a, b, terms=5, points=21, penalty=1e-3, steps=15, lr=1e-3,
                test=digits.test, progress=False)  # fmt: skip
    assert line.barrier > 0.1  # a real barrier between two separately trained solutions
    assert r.height <= line.height
    assert sum(r.loss) < sum(line.loss)
    assert r.test_loss is not None and len(r.test_loss) == 21
    assert r.loss[0] == pytest.approx(line.loss[0]) and r.loss[-1] == pytest.approx(line.loss[-1])


def test_alignment_keeps_outputs_and_does_not_raise_the_barrier(fcp_pair):
    obj, digits, (a, b) = fcp_pair
    al = align(obj, a, b)
    x = digits.test[0].to(F64)
    with torch.no_grad():
        before = torch.func.functional_call(obj.model, obj.space.unflatten(b), (x,))
        after = torch.func.functional_call(obj.model, obj.space.unflatten(al.theta), (x,))
    torch.testing.assert_close(after, before, rtol=0, atol=1e-6)
    assert al.similarity_after >= al.similarity_before
    assert any(not np.array_equal(p, np.arange(len(p))) for p in al.permutations)
    plain = linear(obj, a, b, points=11)
    aligned = linear(obj, a, al.theta, points=11)
    assert aligned.barrier <= plain.barrier
    # aligning a network with itself finds the identity
    same = align(obj, a, a)
    assert all(np.array_equal(p, np.arange(len(p))) for p in same.permutations)
    assert torch.equal(same.theta, a)


def test_alignment_undoes_a_known_permutation():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(20, 3)
    obj = Objective(net, (x, torch.randint(0, 2, (20,))), loss="cross_entropy")
    a = obj.point()
    p1, p2 = torch.randperm(6), torch.randperm(4)
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    sd["0.weight"], sd["0.bias"] = sd["0.weight"][p1], sd["0.bias"][p1]
    sd["2.weight"], sd["2.bias"] = sd["2.weight"][p2][:, p1], sd["2.bias"][p2]
    sd["4.weight"] = sd["4.weight"][:, p2]
    b = obj.load_point(sd)
    assert not torch.equal(a, b)
    assert torch.allclose(obj.values(torch.stack([a, b]))[0], obj.values(b[None])[0])
    torch.testing.assert_close(align(obj, a, b).theta, a)


def test_barrier_matrix_is_symmetric_and_resumes(wells, tmp_path, monkeypatch):
    sols = [A, B, torch.tensor([-1.0, 0.5], dtype=F64)]
    m = barrier_matrix(wells, sols, labels=["a", "b", "c"], method="linear", points=11,
                       store=tmp_path / "m.zarr", progress=False)  # fmt: skip
    h = m.height.values
    np.testing.assert_array_equal(h, h.T)
    assert np.all(np.diag(h) == 0)
    assert h[0, 1] == pytest.approx(linear(wells, A, B, points=11).height)
    assert h[0, 2] == pytest.approx(linear(wells, A, sols[2], points=11).height)
    assert list(m.a.values) == ["a", "b", "c"]
    # a second call with the same settings reads every pair back and computes none
    import lossatlas.paths.matrix as matrix

    def boom(*a, **k):
        raise AssertionError("a finished pair was recomputed")

    monkeypatch.setattr(matrix, "linear", boom)
    again = barrier_matrix(wells, sols, labels=["a", "b", "c"], method="linear", points=11,
                           store=tmp_path / "m.zarr", progress=False)  # fmt: skip
    np.testing.assert_array_equal(again.height.values, h)
    with pytest.raises(StoreMismatch):
        barrier_matrix(wells, sols, labels=["a", "b", "c"], method="linear", points=21,
                       store=tmp_path / "m.zarr", progress=False)  # fmt: skip


def test_a_barrier_store_of_other_solutions_is_refused_or_redone_when_derived(wells, tmp_path):
    """A study's barriers derive from its runs: after a run was redone they are recomputed
    (InputsChangedWarning); a user's store of other solutions is refused, not replaced."""
    from lossatlas.results.store import InputsChangedWarning

    store = tmp_path / "m.zarr"
    kw = dict(labels=["a", "b", "c"], method="linear", points=11, store=store, progress=False)
    first = [A, B, torch.tensor([-1.0, 0.5], dtype=F64)]
    barrier_matrix(wells, first, **kw)
    moved = [A, B, torch.tensor([-0.5, 0.8], dtype=F64)]
    with pytest.raises(StoreMismatch, match="solutions"):
        barrier_matrix(wells, moved, **kw)
    with pytest.warns(InputsChangedWarning, match=r"other inputs \(solutions\); recomputing"):
        again = barrier_matrix(wells, moved, redo_on_new_solutions=True, **kw)
    fresh = barrier_matrix(wells, moved, **{**kw, "store": None})
    np.testing.assert_array_equal(again.height.values, fresh.height.values)
    with pytest.raises(StoreMismatch, match="points"):  # other settings: still refused
        barrier_matrix(wells, moved, redo_on_new_solutions=True, **{**kw, "points": 21})


def test_barrier_matrix_method_is_positional_and_fourier_entries_equal_single_paths(wells):
    sols = [A, B, torch.tensor([-1.0, 0.5], dtype=F64)]
    opts = dict(terms=3, points=11, steps=20, lr=0.05, progress=False)
    m = barrier_matrix(wells, sols, "fourier", **opts)
    assert m.attrs["method"] == "fourier"
    for i, j in ((0, 1), (0, 2), (1, 2)):
        single = fourier(wells, sols[i], sols[j], **opts)
        assert m.height.values[i, j] == pytest.approx(single.height, rel=1e-12)
        assert m.length.values[j, i] == pytest.approx(single.length, rel=1e-12)
    with pytest.raises(TypeError, match="third positional argument"):
        barrier_matrix(wells, sols, "linear", labels="abc")


class Reciprocal(nn.Module):
    """L(w) = 1/w: infinite at w = 0, half-way between w = −1 and w = 1."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1, dtype=F64))

    def forward(self, x):
        return (1 / self.w).repeat(x.shape[0])


def test_bad_input_is_refused(wells):
    with pytest.raises(ValueError, match="length 2"):
        linear(wells, A, torch.zeros(3, dtype=F64))
    with pytest.raises(ValueError, match="points"):
        linear(wells, A, B, points=1)
    with pytest.raises(ValueError, match="non-finite"):
        fourier(wells, A, torch.tensor([np.nan, 0.0], dtype=F64), progress=False)
    with pytest.raises(ValueError, match="terms"):
        fourier(wells, A, B, terms=0, progress=False)
    with pytest.raises(ValueError, match="penalty"):
        fourier(wells, A, B, penalty=-1.0, progress=False)
    with pytest.raises(ValueError, match="curve"):
        bezier(wells, A, B, curve="spline", progress=False)
    with pytest.raises(ValueError, match="at least 2 solutions"):
        barrier_matrix(wells, [A], method="linear")
    with pytest.raises(ValueError, match=r"nn\.Sequential"):
        align(wells, A, B)
    obj = Objective(Reciprocal(), torch.zeros(1, 1), loss="identity", dtype=F64)
    one = torch.ones(1, dtype=F64)
    with pytest.raises(NonFinitePathLoss, match=r"t = 0\.5"):
        linear(obj, -one, one, points=3)
    with pytest.raises(NonFinitePathLoss, match=r"starting path is not finite at t = 0\.5"):
        fourier(obj, -one, one, points=3, steps=2, progress=False)
    moat = Objective(Moat(), torch.zeros(1, 1), loss="identity", dtype=F64)
    with pytest.raises(NonFinitePathLoss, match=r"minibatch loss became inf at step \d+ \(t = "):
        bezier(moat, -one, one, steps=2, progress=False)


class Moat(nn.Module):
    """L(w) = 1/relu(|w| − 0.9): finite at w = ±1, infinite on (−0.9, 0.9)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1, dtype=F64))

    def forward(self, x):
        return (1 / torch.relu(self.w.abs() - 0.9)).repeat(x.shape[0])


class Kink(nn.Module):
    """L(w) = √(w²): finite everywhere, its gradient NaN at w = 0 (autograd's 0·∞)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1, dtype=F64))

    def forward(self, x):
        return torch.sqrt(self.w**2).repeat(x.shape[0])


def test_fourier_stops_on_a_non_finite_gradient_keeps_the_best_path_and_says_so():
    obj = Objective(Kink(), torch.zeros(1, 1), loss="identity", dtype=F64)
    one = torch.ones(1, dtype=F64)
    with pytest.warns(RuntimeWarning, match="stopped at step 0 of 5"):
        r = fourier(obj, -one, one, points=3, steps=5, progress=False, shortcut=False)
    assert r.settings["stopped_at_step"] == 0 and r.settings["best_step"] == 0
    np.testing.assert_allclose(r.loss, [1.0, 0.0, 1.0])  # the straight line, kept
    finished = fourier(obj, -one, one, points=4, steps=3, progress=False, shortcut=False)
    assert finished.settings["stopped_at_step"] is None


def test_two_points_is_the_line(wells):
    r = fourier(wells, A, B, points=2, steps=3, progress=False)
    np.testing.assert_allclose(r.loss, [0.0, 0.0], atol=1e-15)
    assert r.length == pytest.approx(2.0)


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("name", ["mlp", "conv-bn"])
def test_fourier_shortcut_equals_per_point_gradients(name, batched):
    """The shared-first-layer step (batched over t or looped) against one gradient per point."""
    from conftest import make_case
    from lossatlas.paths.shortcut import FourierShortcut

    case = make_case(name)
    obj = Objective(case.model, case.data, loss=case.loss, mode=case.mode, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    a = obj.point()
    b = a + 0.5 * torch.randn(obj.size, generator=g, dtype=torch.float64)
    coeffs = 0.1 * torch.randn(4, obj.size, generator=g, dtype=torch.float64)
    t_all = np.linspace(0, 1, 9)
    S = torch.as_tensor(sine_basis(t_all, 4))[1:-1]
    t = torch.as_tensor(t_all[1:-1])
    fast = FourierShortcut(obj, a, b, t, S)
    fast.vmap = batched
    values, grad = fast.values_and_coefficient_grad(coeffs)
    thetas = (1 - t)[:, None] * a + t[:, None] * b + S @ coeffs
    ref_values, ref_grads = zip(*(obj.value_and_grad(th) for th in thetas), strict=True)
    torch.testing.assert_close(values, torch.stack(ref_values), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad, S.T @ torch.stack(ref_grads), rtol=1e-10, atol=1e-12)

"""Surfaces against direct forward passes, directions against their definitions."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from conftest import make_case
from lossatlas import Objective, surface
from lossatlas.core import reference
from lossatlas.results.store import StoreMismatch
from lossatlas.surface import NonFiniteLossWarning, directions


def _obj(name="conv-bn"):
    case = make_case(name)
    return Objective(case.model, case.data, loss=case.loss, dtype=torch.float64)


def _points(obj, k, scale=0.3):
    g = torch.Generator().manual_seed(7)
    return [
        obj.point() + scale * torch.randn(obj.size, generator=g, dtype=torch.float64)
        for _ in range(k)
    ]


def test_plane_values_equal_direct_forward_passes():
    obj = _obj()
    theta = obj.point()
    ds = surface.random_plane(
        obj, theta, grid=(5, 4), span=((-1, 1), (-0.5, 0.5)), seed=3, chunk=3, progress=False
    )
    d1, d2 = directions.random_plane(obj.space, theta, seed=3)
    assert torch.equal(torch.from_numpy(ds.d1.values), d1)
    for i, j in [(0, 0), (4, 3), (2, 1), (3, 0)]:
        a, b = float(ds.alpha[i]), float(ds.beta[j])
        direct = reference.loss(obj, theta + a * d1 + b * d2)
        assert float(ds.loss[i, j]) == pytest.approx(float(direct), rel=1e-12)
    assert ds.loss.dims == ("alpha", "beta") and ds.attrs["norm"] == "filter"


def test_line_and_scaling_endpoints_and_accuracy():
    obj = _obj("mlp")
    a, b = _points(obj, 2)
    ds = surface.line(obj, a, b, [0.0, 0.5, 1.0], test=make_case("mlp").data, progress=False)
    assert float(ds.loss[0]) == pytest.approx(float(obj.value(a)), rel=1e-12)
    assert float(ds.loss[2]) == pytest.approx(float(obj.value(b)), rel=1e-12)
    assert float(ds.accuracy[1]) == pytest.approx(obj.metrics((a + b) / 2)["accuracy"])
    assert np.allclose(ds.test_loss, ds.loss)  # the same data as test data
    sc = surface.scaling(obj, a, [0.0, 1.0, 2.0], progress=False)
    assert float(sc.loss[1]) == pytest.approx(float(obj.value(a)), rel=1e-12)
    assert float(sc.loss[2]) == pytest.approx(float(obj.value(2 * a)), rel=1e-12)


def test_solution_planes_reproduce_the_solutions_losses():
    obj = _obj("mlp")
    pts = _points(obj, 4)
    basis = directions.through_three(pts[:3])
    for p, (alpha, beta) in zip(pts[:3], basis.coords, strict=True):
        assert torch.allclose(basis.point(float(alpha), float(beta)), p, atol=1e-12)
    assert float(basis.d1 @ basis.d2) == pytest.approx(0.0, abs=1e-12)
    # the triangle and the quad put the solutions on grid points: their losses appear exactly
    tri = surface.triangle(obj, pts[:3], grid=(3, 3), span=((0, 1), (0, 1)), progress=False)
    quad = surface.quad(obj, pts, grid=(2, 2), span=((0, 1), (0, 1)), progress=False)
    losses = [float(obj.value(p)) for p in pts]
    assert [float(tri.loss[0, 0]), float(tri.loss[2, 0]), float(tri.loss[0, 2])] == pytest.approx(
        losses[:3], rel=1e-12
    )
    assert quad.loss.values.ravel().tolist() == pytest.approx(
        [losses[0], losses[2], losses[1], losses[3]], rel=1e-12
    )
    sol = surface.solutions(obj, pts[:3], labels=("a", "b", "c"), grid=(4, 4), progress=False)
    assert list(sol.marker.values) == ["a", "b", "c"]
    assert np.allclose(sol.marker_alpha.values, basis.coords[:, 0].numpy())


def test_pca_plane_of_a_planar_trajectory_is_exact():
    obj = _obj("mlp")
    g = torch.Generator().manual_seed(0)
    final = obj.point()
    u, v = torch.randn(2, obj.size, generator=g, dtype=torch.float64)
    t = torch.linspace(0, 1, 9, dtype=torch.float64)
    traj = final + torch.outer(1 - t, u) + torch.outer((1 - t) ** 2, v)
    basis = directions.pca_directions(traj)
    assert sum(basis.explained_variance) == pytest.approx(1.0)
    for k in range(len(traj)):
        rebuilt = basis.point(float(basis.coords[k, 0]), float(basis.coords[k, 1]))
        assert torch.allclose(rebuilt, traj[k], atol=1e-10)
    ds = surface.pca_plane(obj, traj, grid=(3, 3), progress=False)
    assert ds.trajectory_alpha.shape == (9,) and len(ds.attrs["explained_variance"]) == 2


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    norm=st.sampled_from(["filter", "layer"]),
    ignore=st.sampled_from(["biasbn", None]),
)
def test_normalised_direction_group_norms_match_theta(seed, norm, ignore):
    model = nn.Sequential(nn.Conv2d(2, 3, 2), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(12, 4))
    from lossatlas import ParamSpace

    space = ParamSpace.of(model)
    theta = space.flatten(model).double()
    d = directions.random_direction(space, theta, norm=norm, ignore=ignore, seed=seed)
    index = space.filter_index if norm == "filter" else space.layer_index
    ignored = space.mask(["bias", "norm"])
    for group in index.unique():
        sel = index == group
        if ignore == "biasbn" and ignored[sel].all():
            assert torch.all(d[sel] == 0)
        else:
            assert float(d[sel].norm()) == pytest.approx(float(theta[sel].norm()), rel=1e-10)
    again = directions.random_direction(space, theta, norm=norm, ignore=ignore, seed=seed)
    assert torch.equal(d, again)


class LogWeight(nn.Module):
    """L(w) = log w: NaN for w < 0, so part of a line through 0 has no finite loss."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1, dtype=torch.float64))

    def forward(self, x):
        return torch.log(self.w).expand(x.shape[0])


def test_non_finite_points_are_stored_as_nan_with_one_warning():
    obj = Objective(LogWeight(), torch.zeros(2, 1), loss="identity", dtype=torch.float64)
    a, b = torch.tensor([1.0], dtype=torch.float64), torch.tensor([-1.0], dtype=torch.float64)
    with pytest.warns(NonFiniteLossWarning, match="3 of 5 points of the line surface"):
        ds = surface.line(obj, a, b, [0.0, 0.25, 0.5, 0.75, 1.0], progress=False)
    # w = 1, 0.5, 0, −0.5, −1: log 0 = −inf and log of a negative number is NaN
    assert np.isnan(ds.loss.values).tolist() == [False, False, True, True, True]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"grid": (0, 5)}, "`grid` sizes must be positive integers"),
        ({"span": ((1, -1), (-1, 1))}, r"`span` for alpha must be \(low, high\)"),
        ({"norm": "unit"}, "`norm` must be one of"),
    ],
)
def test_bad_input_gives_clear_errors_and_writes_nothing(tmp_path, kwargs, message):
    obj = _obj("mlp")
    with pytest.raises(ValueError, match=message):
        surface.random_plane(obj, obj.point(), store=tmp_path / "s", progress=False, **kwargs)
    assert not (tmp_path / "s").exists()


def test_a_store_from_other_settings_is_refused(tmp_path):
    obj = _obj("mlp")
    theta = obj.point()
    surface.random_plane(obj, theta, grid=(3, 3), seed=0, store=tmp_path / "s", progress=False)
    with pytest.raises(StoreMismatch, match="seed: stored 0, now 1"):
        surface.random_plane(obj, theta, grid=(3, 3), seed=1, store=tmp_path / "s", progress=False)
    # the same settings reopen it, and computing nothing again gives the same array
    again = surface.random_plane(
        obj, theta, grid=(3, 3), seed=0, store=tmp_path / "s", progress=False
    )
    assert np.array_equal(again.loss.values, surface.load(tmp_path / "s").loss.values)


def test_a_store_resumes_on_another_device(tmp_path):
    """The device is recorded, not compared: a store begun on one device finishes on another."""
    from lossatlas.results.store import GridStore

    begun = {"kind": "plane", "objective": {"device": "cpu", "mode": "eval"}}
    first = GridStore(tmp_path / "s", begun, ["loss"], 4, 2)
    first.write(0, {"loss": np.array([1.0, 2.0])})
    elsewhere = {"kind": "plane", "objective": {"device": "cuda:0", "mode": "eval"}}
    assert GridStore(tmp_path / "s", elsewhere, ["loss"], 4, 2).pending() == [1]
    other = {"kind": "plane", "objective": {"device": "cuda:0", "mode": "train"}}
    with pytest.raises(StoreMismatch, match=r"objective\.mode: stored 'eval', now 'train'"):
        GridStore(tmp_path / "s", other, ["loss"], 4, 2)


SCRIPT = textwrap.dedent("""
    import sys, time, torch
    from torch import nn
    from lossatlas import Objective, surface

    class Slow(nn.Module):  # 25 ms a forward pass, so the kill lands mid-grid
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.lin = nn.Linear(3, 2)
        def forward(self, x):
            time.sleep(float(sys.argv[2]))
            return self.lin(x)

    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 3, generator=g), torch.randint(0, 2, (8,), generator=g)
    obj = Objective(Slow(), (x, y), dtype=torch.float64)
    ds = surface.random_plane(obj, obj.point(), grid=(6, 5), chunk=2, store=sys.argv[1],
                              progress=False)
    torch.save(torch.from_numpy(ds.loss.values), sys.argv[1] + ".pt")
""")


def test_a_killed_grid_resumes_to_an_identical_array(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    store = tmp_path / "grid"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([sys.executable, str(script), str(store), "0.025"], env=env)
    from lossatlas.results.store import open_store

    deadline = time.time() + 120
    while time.time() < deadline:
        if store.exists():
            done = open_store(store)["done"][:]
            if 3 <= done.sum() < len(done):
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_at_kill = int(open_store(store)["done"][:].sum())
    assert 0 < done_at_kill < 15, "the kill must land in the middle of the grid"
    partial = surface.load(store)
    assert np.isnan(partial.loss.values).sum() > 0
    subprocess.run([sys.executable, str(script), str(store), "0"], env=env, check=True)
    resumed = torch.load(str(store) + ".pt")
    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, str(script), str(fresh), "0"], env=env, check=True)
    assert torch.equal(resumed, torch.load(str(fresh) + ".pt"))
    finished = partial.loss.values[~np.isnan(partial.loss.values)]
    assert np.array_equal(finished, resumed.numpy()[~np.isnan(partial.loss.values)])


@pytest.mark.parametrize("name", ["mlp", "conv-bn", "autoencoder"])
def test_first_layer_shortcut_equals_the_general_path(name, monkeypatch):
    import json

    from lossatlas.surface import planar

    monkeypatch.setattr(planar, "MIN_FAN_IN", 0)  # the tiny test layers have fan-in 4 and 9
    obj = _obj(name)
    theta = obj.point()
    kw = {"grid": (4, 3), "seed": 2, "chunk": 5, "progress": False, "ignore": None}
    fast = surface.random_plane(obj, theta, **kw)
    slow = surface.random_plane(obj, theta, shortcut=False, **kw)
    taken = json.loads(fast.attrs["settings"])["shortcut"]["train"]
    assert taken  # a Linear or a conv first: BatchNorm after it does not matter in eval mode
    assert np.allclose(fast.loss.values, slow.loss.values, rtol=1e-12, atol=0)
    if "accuracy" in slow:
        assert np.array_equal(fast.accuracy.values, slow.accuracy.values)


def test_shortcut_with_a_conv_first_layer():
    import json

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(8, 3, 3), nn.Softplus(), nn.Flatten(), nn.Linear(12, 3))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(9, 8, 4, 4, generator=g), torch.randint(0, 3, (9,), generator=g)
    obj = Objective(model, (x, y), dtype=torch.float64, batch_size=4)
    kw = {"grid": (3, 3), "progress": False}
    fast = surface.random_plane(obj, obj.point(), **kw)  # fan-in 8·3·3 = 72: taken
    assert json.loads(fast.attrs["settings"])["shortcut"]["train"]
    slow = surface.random_plane(obj, obj.point(), shortcut=False, **kw)
    assert np.allclose(fast.loss.values, slow.loss.values, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["lstm", "shared", "batchnorm-train", "mlp"])
def test_shortcut_is_declined_where_it_does_not_apply(name):
    """An LSTM, a layer used twice, batch statistics, and a small fan-in (mlp: 4)."""
    import json

    case = make_case(name)
    obj = Objective(case.model, case.data, loss=case.loss, mode=case.mode, dtype=torch.float64)
    ds = surface.random_plane(obj, obj.point(), grid=(2, 2), progress=False)
    assert json.loads(ds.attrs["settings"])["shortcut"]["train"] is False

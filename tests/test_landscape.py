"""N-dimensional landscapes: against planes, direct forward passes, the dense Hessian, resumes."""

import json

import numpy as np
import pytest
import torch

from conftest import make_case
from lossatlas import Objective, surface
from lossatlas.core import reference
from lossatlas.curvature import dense_hessian
from lossatlas.surface import landscape


def _obj(name="mlp"):
    case = make_case(name)
    return Objective(case.model, case.data, loss=case.loss, dtype=torch.float64)


@pytest.mark.parametrize("shortcut_taken", [False, True])
def test_eigenvector_grid_at_n2_is_the_plane_point_for_point(shortcut_taken, monkeypatch):
    from lossatlas.surface import planar

    if shortcut_taken:
        monkeypatch.setattr(planar, "MIN_FAN_IN", 0)  # the mlp's first layer has fan-in 4
    obj = _obj()
    theta = obj.point()
    ds = landscape.landscape(obj, theta, steps=(7, 5), span=(-2.0, 2.0), chunk=4, progress=False)
    settings = json.loads(ds.attrs["settings"])
    assert settings["shortcut"]["train"] is shortcut_taken and settings["source"] == "hessian"
    # the directions are the top-2 eigenvectors of the dense Hessian
    h = dense_hessian(obj, theta)
    values = torch.linalg.eigvalsh(h)
    assert ds.eigenvalues.values == pytest.approx(values.flip(0)[:2].numpy(), rel=1e-8)
    d = torch.from_numpy(ds.directions.values)
    assert torch.allclose(d @ h @ d.T, torch.diag(values.flip(0)[:2]), atol=1e-8)
    plane = surface.plane(obj, theta, d[0], d[1], (7, 5), ((-2, 2), (-2, 2)), progress=False)
    assert np.array_equal(ds.loss.values, plane.loss.values)
    assert np.array_equal(ds.accuracy.values, plane.accuracy.values)
    assert ds.loss.dims == ("d0", "d1") and np.array_equal(ds.d1.values, plane.beta.values)


@pytest.mark.parametrize("dims", [1, 3, 4])
def test_grid_values_equal_direct_forward_passes(dims):
    obj = _obj()
    theta = obj.point()
    g = torch.Generator().manual_seed(dims)
    dirs = torch.randn(dims, obj.size, generator=g, dtype=torch.float64)
    steps = [3, 4, 2, 3][:dims]
    spans = [(-1.0, 1.0), (0.0, 0.5), (-0.3, 0.2), (2.0, 3.0)][:dims]
    ds = landscape.landscape(obj, theta, dirs, steps, spans, chunk=5, progress=False)
    assert ds.loss.shape == tuple(steps) and ds.directions.shape == (dims, obj.size)
    rng = np.random.default_rng(0)
    for _ in range(4):
        cell = tuple(int(rng.integers(0, s)) for s in steps)
        c = [float(ds[f"d{k}"][i]) for k, i in enumerate(cell)]
        point = theta + sum(ck * d for ck, d in zip(c, dirs, strict=True))
        assert float(ds.loss[cell]) == pytest.approx(float(reference.loss(obj, point)), rel=1e-12)


def test_shortcut_agrees_with_the_general_path_in_three_dimensions(monkeypatch):
    from lossatlas.surface import planar

    monkeypatch.setattr(planar, "MIN_FAN_IN", 0)
    obj = _obj("conv-bn")
    theta = obj.point()
    dirs = torch.randn(3, obj.size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    kw = {"steps": 3, "span": (-0.5, 0.5), "chunk": 4, "progress": False}
    fast = landscape.landscape(obj, theta, dirs, **kw)
    slow = landscape.landscape(obj, theta, dirs, shortcut=False, **kw)
    assert json.loads(fast.attrs["settings"])["shortcut"]["train"]
    assert np.allclose(fast.loss.values, slow.loss.values, rtol=1e-12, atol=0)
    assert np.array_equal(fast.accuracy.values, slow.accuracy.values)


def test_an_interrupted_grid_resumes_to_an_identical_array(tmp_path, monkeypatch):
    obj = _obj()
    theta = obj.point()
    store = tmp_path / "landscape.zarr"
    kw = {"dims": 3, "steps": 4, "span": (-1.0, 1.0), "chunk": 5, "progress": False}
    fresh = landscape.landscape(obj, theta, **kw)

    calls = {"n": 0}
    real = obj.values

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:  # a Ctrl-C in the middle of the 13 chunks
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(obj, "values", interrupted)
    with pytest.raises(KeyboardInterrupt):
        landscape.landscape(obj, theta, store=store, **kw)
    partial = landscape.load(store)
    assert np.isnan(partial.loss.values).sum() == 64 - 25
    monkeypatch.setattr(obj, "values", real)

    # the resumed run reads its eigenvectors from the store instead of recomputing them
    def no_solve(*args, **kwargs):
        raise AssertionError("the eigenvectors were recomputed")

    monkeypatch.setattr(landscape, "hessian_directions", no_solve)
    resumed = landscape.landscape(obj, theta, store=store, **kw)
    assert np.array_equal(resumed.loss.values, fresh.loss.values)
    assert np.array_equal(resumed.directions.values, fresh.directions.values)
    done = ~np.isnan(partial.loss.values)
    assert np.array_equal(partial.loss.values[done], fresh.loss.values[done])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"directions": torch.zeros(5, 43)}, "`directions` must have 1 to 4 rows"),
        ({"directions": torch.zeros(43)}, r"`directions` must be a \[N, n\] tensor"),
        ({"dims": 0}, "`dims` must be an integer from 1 to 4"),
        ({"directions": torch.zeros(2, 43), "steps": (3, 3, 3)}, "`steps` must be one number"),
        ({"directions": torch.zeros(2, 43), "span": ((0, 1),) * 3}, "`span` must be"),
        ({"directions": torch.zeros(1, 43), "span": (1, -1)}, r"`span` for d0 must be"),
        ({"directions": torch.zeros(2, 43), "steps": 0}, "`grid` sizes must be positive"),
    ],
)
def test_bad_input_gives_clear_errors_and_writes_nothing(tmp_path, kwargs, message):
    obj = _obj()
    assert obj.size == 43
    with pytest.raises(ValueError, match=message):
        landscape.landscape(obj, obj.point(), store=tmp_path / "s", progress=False, **kwargs)
    assert not (tmp_path / "s").exists()

"""`lossatlas study solutions` (Im et al. 2016) on digits: surfaces through the solutions,
functional differences, switches and basins checked against direct computations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr
from typer.testing import CliRunner

from lossatlas import paths, surface, zoo
from lossatlas.cli import app
from lossatlas.studies import solutions
from lossatlas.studies.common import objective_for, predictions
from lossatlas.studies.pool import torch_threads
from lossatlas.surface.basin import basin_width

pytestmark = pytest.mark.usefixtures("one_thread")

OPTIMIZERS = ["sgd", "adam", "lbfgs-gss", "rk2"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("solutions")
    args = [
        "study",
        "solutions",
        "--epochs",
        "6",
        "--lbfgs-iterations",
        "15",
        "--switch",
        "adam>sgd",
        "--switch-at",
        "0.5",
        "--grid",
        "7",
        "--alphas",
        "9",
        "--path-points",
        "5",
        "--workers",
        "1",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    with torch_threads(1):
        result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out, result.output, json.loads((out / "lossatlas.json").read_text())


def _objective(bn: bool):
    split = zoo.dataset("digits")
    net = zoo.build_for("mlp", split, seed=0, **({"batchnorm": True} if bn else {}))
    return split, net, objective_for(net, split.train, "cross_entropy")


@pytest.mark.parametrize("bn", [False, True])
def test_surfaces_pass_through_the_solutions_and_differences_are_exact(study, bn):
    out, _, body = study
    variant = "bn" if bn else "no-bn"
    split, net, obj = _objective(bn)
    finals = [out / variant / "runs" / o / "final.pt" for o in OPTIMIZERS]
    state = torch.load(finals[0])
    assert any("running_mean" in k for k in state) == bn
    thetas = torch.stack([obj.load_point(f) for f in finals])
    losses = obj.values(thetas).double().numpy()
    # the quad's corners (0,0), (1,0), (0,1), (1,1) and the triangle's are the solutions
    quad, tri = (
        surface.load(out / variant / "quad.zarr"),
        surface.load(out / variant / "triangle.zarr"),
    )
    for (a, b), i in (((0, 0), 0), ((1, 0), 1), ((0, 1), 2), ((1, 1), 3)):
        assert float(quad.loss.sel(alpha=a, beta=b)) == pytest.approx(losses[i], rel=1e-5)
        if i < 3:
            assert float(tri.loss.sel(alpha=a, beta=b)) == pytest.approx(losses[i], rel=1e-5)
    # the functional difference: the fraction of test inputs two solutions label differently
    labels = [predictions(net, f, split.test[0]) for f in finals]
    ds = xr.open_zarr(out / variant / "comparison.zarr", consolidated=False).load()
    expected = np.array([[float((p != q).float().mean()) for q in labels] for p in labels])
    np.testing.assert_allclose(ds.disagreement.to_numpy(), expected)
    assert ds.disagreement.to_numpy()[np.triu_indices(4, 1)].min() > 0
    rows = [r for r in body["tables"]["solutions"] if r["variant"] == variant]
    assert [r["optimizer"] for r in rows] == OPTIMIZERS
    for r, loss in zip(rows, losses, strict=True):
        assert r["train_loss"] == pytest.approx(loss, rel=1e-6)


@pytest.mark.parametrize("bn", [False, True])
def test_switched_runs_start_where_the_source_was_and_are_measured_against_it(study, bn):
    out, output, body = study
    variant = "bn" if bn else "no-bn"
    _, _, obj = _objective(bn)
    (row,) = [r for r in body["tables"]["switches"] if r["variant"] == variant]
    assert row["switch"] == "adam>sgd" and row["at"] == 3
    source = out / variant / "runs" / "adam"
    switched = out / variant / "switch" / "adam-to-sgd-at-3"
    # the switched run's first record is Adam's record at epoch 3, to the last bit
    first = json.loads((switched / "history.json").read_text())["train_loss"][0]
    assert first == json.loads((source / "history.json").read_text())["train_loss"][3]
    a, b = obj.load_point(switched / "final.pt"), obj.load_point(source / "final.pt")
    assert row["distance"] == pytest.approx(float((a - b).double().norm()), rel=1e-6)
    line = paths.linear(obj, a, b, 5)
    assert row["barrier"] == pytest.approx(line.barrier, abs=1e-6)
    assert row["same_minimum"] == (line.barrier < 1e-2)
    assert "switches" in output and "adam>sgd" in output


def test_basin_width_is_exact_on_a_piecewise_linear_valley(study):
    alpha = np.linspace(0.0, 2.0, 13)  # no grid point at the crossings 0.75 and 1.25
    b = basin_width(alpha, 2 * np.abs(alpha - 1), level=0.5)
    assert (b.low, b.high, b.width) == pytest.approx((0.75, 1.25, 0.5), rel=1e-12)
    assert not b.censored
    edge = basin_width(alpha, np.zeros(13), level=1.0)  # still inside at both edges
    assert (edge.low, edge.high) == (0.0, 2.0) and edge.low_censored and edge.high_censored
    assert "≥ 2" in edge.describe() and "widen --span" in edge.describe()
    one_sided = basin_width(alpha, np.maximum(0.5 - alpha, 0.0), level=0.25)  # open to the right
    assert one_sided.low == pytest.approx(0.25) and not one_sided.low_censored
    assert one_sided.high_censored
    assert np.isnan(basin_width(alpha, np.ones(13), level=0.5).low)
    out, _, body = study
    for row in body["tables"]["solutions"]:
        scale = surface.load(out / row["variant"] / f"scaling-{row['optimizer']}.zarr")
        zero = float(scale.loss.sel(alpha=0.0))  # θ → 0·θ is in the grid
        level = 0.5 * (row["train_loss"] + zero)
        b = basin_width(scale.alpha.to_numpy(), scale.loss.to_numpy(), level)
        lo, hi = b.low, b.high
        assert (row["basin_low"], row["basin_high"]) == pytest.approx((lo, hi), rel=1e-5)
        assert row["basin_high_censored"] == b.high_censored
        assert row["basin_width_abs"] == pytest.approx((hi - lo) * row["norm"], rel=1e-9)


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="a switch must read 'A>B'"):
        solutions(out=tmp_path, switches=("adam->sgd",))
    with pytest.raises(ValueError, match="`switch_at` must hold fractions strictly between"):
        solutions(out=tmp_path, switch_at=(1.0,))
    with pytest.raises(ValueError, match="model 'fcp' has no `batchnorm` switch"):
        solutions("fcp", out=tmp_path)
    with pytest.raises(ValueError, match="`optimizers` must be among"):
        solutions(out=tmp_path, optimizers=("sgd", "lbfgs"))
    result = CliRunner().invoke(app, ["study", "solutions", "--lr", "adam", "--out", str(tmp_path)])
    assert result.exit_code != 0 and "OPTIMIZER=RATE" in result.output
    assert not (tmp_path / "lossatlas.json").exists()

"""`lossatlas path` and `lossatlas barriers` end to end, checked against the library."""

import json

import numpy as np
import pytest
import torch
import xarray as xr
from typer.testing import CliRunner

from lossatlas import Objective, paths, zoo
from lossatlas.cli import app
from lossatlas.optim import train
from lossatlas.results.checkpoint import save_checkpoint

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result, result.output


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Three FCP-on-digits solutions (short L-BFGS-GSS runs) as run directories."""
    root = tmp_path_factory.mktemp("runs")
    split = zoo.dataset("digits")
    for seed in (0, 1, 2):
        net = zoo.build_for("fcp", split, seed=seed)
        train(net, split, optimizer="lbfgs-gss", epochs=30, seed=seed, progress=False)
        save_checkpoint(root / f"run{seed}" / "final.pt", net)
    return root


def test_path_writes_heights_equal_to_the_library(checkpoints, tmp_path):
    a, b = checkpoints / "run0" / "final.pt", checkpoints / "run1" / "final.pt"
    result, out = invoke("path", a, b, "--points", 11, "--terms", 3, "--steps", 4,
                         "--grid", 5, "--align", "--out", tmp_path)  # fmt: skip
    assert result.exit_code == 0, out
    summary = json.loads((tmp_path / "path.json").read_text())
    methods = [p["method"] for p in summary["paths"]]
    assert methods == ["linear", "fourier"]
    split = zoo.dataset("digits")
    obj = Objective(zoo.build_for("fcp", split), split.train, loss="cross_entropy")
    ta, tb = obj.load_point(a), obj.load_point(b)
    tb = paths.align(obj, ta, tb).theta
    line = paths.linear(obj, ta, tb, 11)
    assert summary["paths"][0]["height"] == pytest.approx(line.height, rel=1e-6)
    assert summary["paths"][1]["height"] <= summary["paths"][0]["height"]
    assert summary["alignment"]["similarity_after"] >= summary["alignment"]["similarity_before"]
    ds = xr.open_zarr(tmp_path / "fourier.zarr", consolidated=False)
    assert ds.loss.shape == (11,) and "test_loss" in ds
    for name in ("profile.png", "plane.png", "b_aligned.pt", "fourier_coefficients.pt"):
        assert (tmp_path / name).stat().st_size > 0
    assert torch.load(tmp_path / "fourier_coefficients.pt").shape == (3, obj.size)


def test_path_on_a_landscape_draws_three_penalties(tmp_path):
    result, out = invoke("path", "--landscape", "two-wells", "--points", 21, "--steps", 20,
                         "--lr", 0.01, "--out", tmp_path)  # fmt: skip
    assert result.exit_code == 0, out
    summary = json.loads((tmp_path / "path.json").read_text())
    assert [p.get("penalty") for p in summary["paths"]] == [None, 0.1, 1.0, 35.0]
    assert summary["paths"][0]["height"] == pytest.approx(3.0)
    assert all(p["height"] < 3.0 for p in summary["paths"][1:])
    assert (tmp_path / "landscape_paths.png").stat().st_size > 0


def test_path_on_a_landscape_defaults_to_the_papers_fig3_settings(tmp_path):
    result, out = invoke("path", "--landscape", "two-wells", "--no-plane", "--out", tmp_path)
    assert result.exit_code == 0, out
    summary = json.loads((tmp_path / "path.json").read_text())
    settings = summary["settings"]
    assert {k: settings[k] for k in ("points", "terms", "steps", "lr", "noise")} == {
        "points": 101, "terms": 15, "steps": 300, "lr": 0.01, "noise": 1.0,
    }  # fmt: skip
    wells = zoo.landscape_objective("two-wells")
    a, b = wells.model.minima[0], wells.model.minima[1]
    for entry, lam in zip(summary["paths"][1:], (0.1, 1.0, 35.0), strict=True):
        same = paths.fourier(wells, a, b, terms=15, points=101, penalty=lam, steps=300,
                             lr=0.01, noise=1.0, seed=0, progress=False)  # fmt: skip
        assert entry["height"] == pytest.approx(same.height, rel=1e-12)
    # the networks' defaults are unchanged: a flag given still wins on a landscape
    result, out = invoke("path", "--landscape", "two-wells", "--points", 11, "--steps", 2,
                         "--no-plane", "--out", tmp_path / "b")  # fmt: skip
    assert json.loads((tmp_path / "b" / "path.json").read_text())["settings"]["points"] == 11


def test_barriers_over_a_directory_resume(checkpoints, tmp_path):
    args = ("barriers", checkpoints, "--method", "linear", "--points", 7, "--out", tmp_path)
    result, out = invoke(*args)
    assert result.exit_code == 0, out
    summary = json.loads((tmp_path / "barriers.json").read_text())
    assert summary["labels"] == ["run0/final.pt", "run1/final.pt", "run2/final.pt"]
    h = np.array(summary["height"])
    assert h.shape == (3, 3) and np.allclose(h, h.T) and np.all(np.diag(h) == 0)
    split = zoo.dataset("digits")
    obj = Objective(zoo.build_for("fcp", split), split.train, loss="cross_entropy")
    t0, t2 = (obj.load_point(checkpoints / f"run{i}" / "final.pt") for i in (0, 2))
    assert h[0, 2] == pytest.approx(paths.linear(obj, t0, t2, 7).height, rel=1e-6)
    again, out = invoke(*args)
    assert again.exit_code == 0, out
    assert np.array_equal(
        np.array(json.loads((tmp_path / "barriers.json").read_text())["height"]), h
    )
    assert (tmp_path / "barriers.png").stat().st_size > 0
    # a .npy stack of flattened solutions (the authors' published format) works the same
    np.save(tmp_path / "stack.npy", torch.stack([t0, t2]).numpy())
    result, out = invoke("barriers", tmp_path / "stack.npy", "--method", "linear",
                         "--points", 7, "--out", tmp_path / "npy")  # fmt: skip
    assert result.exit_code == 0, out
    h2 = np.array(json.loads((tmp_path / "npy" / "barriers.json").read_text())["height"])
    assert h2[0, 1] == pytest.approx(h[0, 2], rel=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("path",), "give two checkpoints"),
        (("path", "--landscape", "rosenbrock"), "1 known minimum"),
        (("path", "--landscape", "two-wells", "--method", "spline"), "--method"),
        (("path", "missing_a.pt", "missing_b.pt"), "does not exist"),
        (("barriers", "nowhere"), "does not exist"),
    ],
)
def test_bad_input_gets_a_clear_error(args, message, tmp_path):
    result, out = invoke(*args, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert message in out
    assert not (tmp_path / "out").exists()  # nothing half written


def test_barriers_needs_two_solutions(tmp_path):
    (tmp_path / "one").mkdir()
    net = zoo.build_for("fcp", zoo.dataset("digits"))
    save_checkpoint(tmp_path / "one" / "a" / "final.pt", net)
    result, out = invoke("barriers", tmp_path / "one", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "at least 2" in out

"""`lossatlas spectrum` end to end: numbers checked against the dense Hessian."""

import json

import numpy as np
import pytest
import torch
import xarray as xr
from typer.testing import CliRunner

from lossatlas import Objective, zoo
from lossatlas.cli import app
from lossatlas.core import reference
from lossatlas.curvature import load_convexity
from lossatlas.results.inputs import default_loss

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result, result.output


def _xor_objective() -> Objective:
    """The zoo XOR network at its seed-0 initialisation, as the CLI builds it (float64)."""
    split = zoo.dataset("xor")
    return Objective(
        zoo.build_for("xor", split, seed=0),
        split.train,
        loss=default_loss(split),
        dtype=torch.float64,
    )


@pytest.fixture(scope="module")
def xor_hessian():
    """The eigenvalues of the dense Hessian of `_xor_objective` at its initialisation."""
    obj = _xor_objective()
    return torch.linalg.eigvalsh(reference.hessian(obj, obj.point())).numpy()


def test_eigen_matches_the_dense_spectrum(tmp_path, xor_hessian):
    result, out = invoke(
        "spectrum",
        "eigen",
        "-m",
        "xor",
        "-d",
        "xor",
        "--k",
        "3",
        "--bottom",
        "2",
        "--float64",
        "--out",
        tmp_path,
    )
    assert result.exit_code == 0, out
    summary = json.loads((tmp_path / "eigen.json").read_text())
    assert np.allclose(summary["top"], xor_hessian[::-1][:3], rtol=1e-6)
    assert np.allclose(summary["bottom"], xor_hessian[:2], rtol=1e-6)
    top = xor_hessian[::-1]
    assert summary["outlier_ratio"] == pytest.approx(top[0] / top[2], rel=1e-6)
    assert summary["converged"] and (tmp_path / "eigenvalues.png").stat().st_size > 0
    assert torch.load(tmp_path / "top_eigenvectors.pt").shape == (3, 9)


def test_trace_density_and_covariance(tmp_path, xor_hessian):
    result, out = invoke(
        "spectrum",
        "trace",
        "-m",
        "xor",
        "-d",
        "xor",
        "--samples",
        "60",
        "--float64",
        "--out",
        tmp_path,
    )
    assert result.exit_code == 0, out
    t = json.loads((tmp_path / "trace.json").read_text())
    # a third of 60 products exceeds n = 9: Hutch++ takes the exact trace from 9 products
    assert t["products"] == 9 and t["low"] == t["estimate"] == t["high"]
    assert t["estimate"] == pytest.approx(xor_hessian.sum(), rel=1e-10)
    result, out = invoke(
        "spectrum",
        "density",
        "-m",
        "xor",
        "-d",
        "xor",
        "--draws",
        "3",
        "--steps",
        "9",
        "--float64",
        "--out",
        tmp_path,
    )
    assert result.exit_code == 0, out
    ds = xr.open_zarr(tmp_path / "density.zarr", consolidated=False)
    nodes = ds["node"].values[ds["weight"].values > 0]
    # nine steps on a 9×9 Hessian: every node is an exact eigenvalue
    assert np.abs(nodes[:, None] - xor_hessian[None]).min(1).max() < 1e-8
    assert (tmp_path / "density.png").exists()
    result, out = invoke(
        "spectrum",
        "covariance",
        "-m",
        "xor",
        "-d",
        "xor",
        "--k",
        "2",
        "--float64",
        "--out",
        tmp_path,
    )
    assert result.exit_code == 0, out
    c = json.loads((tmp_path / "covariance.json").read_text())
    assert 0 <= c["hessian_energy_in_covariance"] <= 1 + 1e-9
    assert np.allclose(c["hessian_eigenvalues"], xor_hessian[::-1][:2], rtol=1e-6)


def test_convexity_on_a_new_plane_and_resume(tmp_path):
    args = (
        "spectrum",
        "convexity",
        "-m",
        "xor",
        "-d",
        "xor",
        "--grid",
        "2",
        "--float64",
        "--out",
        tmp_path,
    )
    result, out = invoke(*args)
    assert result.exit_code == 0, out
    first = load_convexity(tmp_path / "convexity.zarr")["ratio"].values
    assert first.shape == (2, 2) and np.isfinite(first).all()
    result, out = invoke(*args)
    assert result.exit_code == 0, out
    assert np.array_equal(load_convexity(tmp_path / "convexity.zarr")["ratio"].values, first)
    result, out = invoke(*args[:-2], "--tol", "0.1", "--out", tmp_path)
    assert result.exit_code == 2 and "other settings" in out


def test_bad_spectrum_input(tmp_path):
    result, out = invoke("spectrum", "eigenvalues", "--out", tmp_path)
    assert result.exit_code == 2 and "must be one of eigen" in out
    result, out = invoke(
        "spectrum", "eigen", "-m", "xor", "-d", "xor", "--k", "50", "--out", tmp_path
    )
    assert result.exit_code == 2 and "between 1 and n = 9" in out
    assert not (tmp_path / "eigen.json").exists()
    result, out = invoke(
        "spectrum", "density", "-m", "xor", "-d", "xor", "--steps", "10", "--out", tmp_path
    )
    assert result.exit_code == 2 and "`steps` must be between 1 and n = 9" in out


def test_train_records_the_spectrum(tmp_path):
    result, out = invoke(
        "train",
        "-m",
        "xor",
        "-d",
        "xor",
        "--epochs",
        "6",
        "--batch-size",
        "2",
        "--spectrum-every",
        "4",
        "--spectrum-top",
        "2",
        "--out",
        tmp_path,
    )
    assert result.exit_code == 0, out
    record = xr.open_zarr(tmp_path / "spectrum.zarr", consolidated=False)
    assert list(record["step"].values) == [0, 4, 8, 12]
    assert record["eigenvalue"].shape == (4, 2)
    assert (tmp_path / "eigenvalues_over_training.png").exists()


def test_density_beside_the_ggn(tmp_path, xor_hessian):
    from lossatlas.curvature.ggn import GGNOperator

    result, out = invoke(
        "spectrum", "density", "-m", "xor", "-d", "xor", "--draws", "2", "--steps", "9",
        "--beside", "ggn", "--float64", "--out", tmp_path,
    )  # fmt: skip
    assert result.exit_code == 0, out
    obj = _xor_objective()
    exact = {"Hessian": xor_hessian, "GGN": torch.linalg.eigvalsh(
        GGNOperator(obj, obj.point()).dense()).numpy()}  # fmt: skip
    for name, store in (("Hessian", "density.zarr"), ("GGN", "density_ggn.zarr")):
        ds = xr.open_zarr(tmp_path / store, consolidated=False)
        nodes = ds["node"].values[ds["weight"].values > 0]
        # nine steps on a 9×9 matrix: every node is one of its eigenvalues
        assert np.abs(nodes[:, None] - exact[name][None]).min(1).max() < 1e-8
        assert (
            ds.attrs["sigma"]
            == xr.open_zarr(tmp_path / "density.zarr", consolidated=False).attrs["sigma"]
        )
    body = json.loads((tmp_path / "lossatlas-density.json").read_text())
    rows = {r["operator"]: r for r in body["tables"]["densities"]}
    assert (
        set(rows) == {"Hessian", "GGN"}
        and rows["GGN"]["negative_mass"] == 0 < rows["Hessian"]["negative_mass"]
    )
    figure = json.loads((tmp_path / "density.plotly.json").read_text())
    assert [t["name"] for t in figure["data"]] == ["Hessian", "GGN"]
    bad, out = invoke("spectrum", "trace", "-m", "xor", "-d", "xor", "--beside", "ggn",
                      "--out", tmp_path / "t")  # fmt: skip
    assert bad.exit_code == 2 and "applies to density" in " ".join(out.split())
    same, out = invoke("spectrum", "density", "-m", "xor", "-d", "xor", "--beside", "hessian",
                       "--out", tmp_path / "s")  # fmt: skip
    assert same.exit_code == 2 and "other than `--operator`" in " ".join(out.split())

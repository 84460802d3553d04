"""`lossatlas geometry ...` end to end: files, manifests and numbers against the library."""

import json
import math

import numpy as np
import pytest
import torch
import xarray as xr
from typer.testing import CliRunner

from lossatlas import zoo
from lossatlas.cli import app
from lossatlas.geometry import fitness_distance_correlation

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, ["geometry", *(str(a) for a in args)])
    return result, result.output


def manifest(out):
    return json.loads((out / "lossatlas.json").read_text())


def files_of(body, out):
    for f in body["figures"]:
        assert (out / f["path"]).stat().st_size > 0, f
    for a in body["arrays"]:
        assert (out / a).exists(), a


def test_symmetry_of_the_teacher(tmp_path):
    result, out = invoke(
        "symmetry", "--count", 8, "--data-arg", "widths=(4,3,1)", "--out", tmp_path
    )
    assert result.exit_code == 0, out
    body = manifest(tmp_path)
    files_of(body, tmp_path)
    r = body["results"]
    assert r["group_order"] == math.factorial(3) * 2**3
    assert r["max_output_deviation"] < 1e-12 and r["norm_spread"] < 1e-12
    assert r["in_wedge"] and r["wedge_idempotent"] and r["in_cone"] and r["cone_idempotent"]
    ds = xr.open_zarr(tmp_path / "throng.zarr", consolidated=False)
    assert ds["members"].shape == (8, 4 * 3 + 3 + 3 + 1)
    assert {f["path"] for f in body["figures"]} == {"throng.png", "throng.plotly.json"}


def test_symmetry_of_a_relu_mlp_sorts_and_says_why_there_is_no_wedge(tmp_path):
    result, out = invoke(
        "symmetry",
        "--model",
        "mlp",
        "--data",
        "xor",
        "--model-arg",
        "activation=relu",
        "--model-arg",
        "widths=(2,3,1)",
        "--count",
        4,
        "--out",
        tmp_path,
    )
    assert result.exit_code == 0, out
    r = manifest(tmp_path)["results"]
    assert r["group_order"] == 6 and not r["isometric"] and r["in_sorted"]
    assert "rescalings" in r["symmetries"] and r["max_output_deviation"] < 1e-12


def test_symmetry_refuses_a_teacher_without_student_teacher_data(tmp_path):
    result, out = invoke("symmetry", "--data", "xor", "--out", tmp_path)
    assert result.exit_code == 2 and "needs --data student-teacher" in out
    assert not (tmp_path / "lossatlas.json").exists()


def test_overparam_verifies_prop_2_3_and_walks(tmp_path):
    result, out = invoke("overparam", "--points", 5, "--steps", 4, "--out", tmp_path)
    assert result.exit_code == 0, out
    body = manifest(tmp_path)
    files_of(body, tmp_path)
    r = body["results"]
    assert r["prop_2_3_holds"] and r["zero"] == r["n"] - 5 and r["positive"] == 5
    assert r["max_residual"] < 1e-8 and r["walk_max_loss"] < 1e-8
    walk = xr.open_zarr(tmp_path / "walk.zarr", consolidated=False)
    assert walk["loss"].shape == (5,) and float(walk["distance"][-1]) > 0.1


def test_inertia_at_the_xor_origin(tmp_path):
    np.save(tmp_path / "zero.npy", np.zeros(9))
    result, out = invoke("inertia", "--checkpoint", tmp_path / "zero.npy", "--out", tmp_path)
    assert result.exit_code == 0, out
    r = manifest(tmp_path)["results"]
    assert r["negative"] == 0 and r["zero"] + r["positive"] == 9 and r["d"] == 4
    assert r["loss"] == pytest.approx(0.25)


def test_xor_certifies_every_finite_stationary_point(tmp_path):
    result, out = invoke("xor", "--starts", 3, "--target", 0.1, "--out", tmp_path)
    assert result.exit_code == 0, out
    body = manifest(tmp_path)
    files_of(body, tmp_path)
    r = body["results"]
    assert r["finite_stationary_points"] >= 1
    assert r["certified"] == r["finite_stationary_points"]
    assert r["regional_local_minima"] == 0
    rows = body["tables"]["stationary_points"]
    assert len(rows) == 3 and all(row["max_rise"] <= 1e-13 for row in rows if row["certified"])
    paths = xr.open_zarr(tmp_path / "certificates.zarr", consolidated=False)
    for start in np.unique(paths["start"].values):
        loss = paths["loss"].values[paths["start"].values == start]
        assert (np.diff(loss) <= 1e-13).all()


def test_fdc_writes_the_correlation_of_its_samples(tmp_path):
    result, out = invoke(
        "fdc",
        "--count",
        300,
        "--radii",
        "0.5,2",
        "--sphere-count",
        20,
        "--data-arg",
        "widths=(4,3,1)",
        "--out",
        tmp_path,
    )
    assert result.exit_code == 0, out
    body = manifest(tmp_path)
    files_of(body, tmp_path)
    ds = xr.open_zarr(tmp_path / "fdc.zarr", consolidated=False)
    r = fitness_distance_correlation(ds["distance"].values, ds["loss"].values)
    assert body["results"]["fdc"] == pytest.approx(r, rel=1e-12)
    assert len(body["tables"]["spheres"]) == 2


def test_pattern_from_a_npy_file(tmp_path):
    np.save(tmp_path / "p.npy", np.eye(3))
    model = ["--model-arg", "widths=(2,4,1)", "--data-arg", "inputs=2", "--data-arg", "n_train=32"]
    args = ["pattern", tmp_path / "p.npy", *model, "--grid", 5, "--out", tmp_path / "run"]
    for steps in (20, 30):  # a second, different run into the same folder replaces the first
        result, out = invoke(*args, "--steps", steps)
    assert result.exit_code == 0, out
    run = tmp_path / "run"
    body = manifest(run)
    files_of(body, run)
    ds = xr.open_zarr(run / "pattern.zarr", consolidated=False)
    corr = np.corrcoef(ds["achieved"].values.ravel(), ds["pattern"].values.ravel())[0, 1]
    assert body["results"]["correlation"] == pytest.approx(corr, rel=1e-12)
    assert body["results"]["shape"] == [3, 3]
    split = zoo.dataset("student-teacher", inputs=2, n_train=32)
    model = zoo.build("mlp", widths=(2, 4, 1), seed=0).double()
    point = torch.from_numpy(ds["origin"].values)
    torch.nn.utils.vector_to_parameters(point, model.parameters())
    with torch.no_grad():
        centre = float(((model(split.train[0].double()) - split.train[1].double()) ** 2).mean())
    plane = xr.open_zarr(run / "plane.zarr", consolidated=False)
    assert float(plane["loss"].sel(alpha=0.0, beta=0.0)) == pytest.approx(centre, rel=1e-9)


def test_pattern_refuses_an_unknown_image(tmp_path):
    result, out = invoke("pattern", "heart", "--out", tmp_path)
    assert result.exit_code == 2 and "a .npy or a .png file" in out

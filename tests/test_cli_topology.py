"""`lossatlas topology` end to end: known basins, the dense Hessian, stores, manifests."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lossatlas import Objective, zoo
from lossatlas.cli import app
from lossatlas.core import reference
from lossatlas.results import manifest
from lossatlas.results.inputs import default_loss
from lossatlas.surface.landscape import load

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result, result.output


def strict_json(path):
    def refuse(constant):
        raise ValueError(f"{path} is not strict JSON: {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_synthetic_landscape_writes_its_basins_figures_and_manifest(tmp_path):
    out = tmp_path / "himmelblau"
    result, text = invoke("topology", "--synthetic", "himmelblau", "--steps", "81", "--out", out)
    assert result.exit_code == 0, text
    assert "4 basins with persistence" in text
    record = manifest.read(out)
    assert record["command"] == "topology" and record["results"]["num_basins"] == 4
    assert record["settings"]["synthetic"] == "himmelblau"
    figures = {f["path"] for f in record["figures"]}
    for name in ("barcode", "persistence_diagram", "merge_tree", "basins"):
        assert {f"{name}.png", f"{name}.plotly.json"} <= figures
        assert (out / f"{name}.png").stat().st_size > 0
        assert "data" in strict_json(out / f"{name}.plotly.json")
    assert set(record["arrays"]) == {"landscape.zarr", "topology.zarr"}
    pairs = strict_json(out / "persistence.json")["pairs"]
    assert len(pairs) == record["results"]["num_minima"]
    assert pairs[0]["death"] is None and pairs[0]["persistence"] is None  # the global minimum
    top = sorted(p["persistence"] for p in pairs[1:4])
    assert top == pytest.approx([13.31, 67.72, 104.02], abs=2.5)  # grid step 0.125
    # the store is analysed again as it is, and a landscape is at distance 0 from itself
    again = tmp_path / "again"
    result, text = invoke("topology", "--store", out / "landscape.zarr", "--compare", out,
                          "--out", again)  # fmt: skip
    assert result.exit_code == 0, text
    results = manifest.read(again)["results"]
    assert results["bottleneck_distance"] == 0.0 and results["num_basins"] == 4
    assert manifest.read(again)["arrays"] == ["topology.zarr"]


def test_model_landscape_runs_along_the_dense_hessians_top_eigenvectors(tmp_path):
    out = tmp_path / "xor"
    args = ("topology", "-m", "xor", "-d", "xor", "--float64", "--steps", "7", "--span=-2,2",
            "--device", "cpu")  # fmt: skip
    result, text = invoke(*args, "--out", out)
    assert result.exit_code == 0, text
    split = zoo.dataset("xor")
    net = zoo.build_for("xor", split, seed=0)
    obj = Objective(net, split.train, loss=default_loss(split), dtype=torch.float64)
    theta = obj.point()
    exact = torch.linalg.eigvalsh(reference.hessian(obj, theta)).flip(0)[:2].numpy()
    results = manifest.read(out)["results"]
    assert np.allclose(results["eigenvalues"], exact, rtol=1e-6)
    assert manifest.read(out)["settings"]["device"] == "cpu"
    ds = load(out / "landscape.zarr")
    d = torch.from_numpy(ds.directions.values)
    for i, j in [(0, 0), (3, 3), (6, 2)]:
        point = theta + float(ds.d0[i]) * d[0] + float(ds.d1[j]) * d[1]
        assert float(ds.loss[i, j]) == pytest.approx(float(reference.loss(obj, point)), rel=1e-10)
    # running it again resumes the finished store: the same landscape and numbers
    result, text = invoke(*args, "--out", out)
    assert result.exit_code == 0, text
    assert np.array_equal(load(out / "landscape.zarr").loss.values, ds.loss.values)
    assert manifest.read(out)["results"]["num_basins"] == results["num_basins"]


def test_model_landscape_along_given_directions_equals_the_library(tmp_path):
    from lossatlas.surface.landscape import landscape

    split = zoo.dataset("xor")
    obj = Objective(zoo.build_for("xor", split, seed=0), split.train,
                    loss=default_loss(split), dtype=torch.float64)  # fmt: skip
    g = torch.Generator().manual_seed(5)
    D = torch.randn(3, obj.size, generator=g, dtype=torch.float64)
    torch.save(D, tmp_path / "d.pt")
    np.save(tmp_path / "d.npy", D[:2].numpy())
    out = tmp_path / "given"
    result, text = invoke("topology", "-m", "xor", "-d", "xor", "--float64", "--steps", "5",
                          "--directions", tmp_path / "d.pt", "--out", out)  # fmt: skip
    assert result.exit_code == 0, text
    ds = load(out / "landscape.zarr")
    assert ds.loss.dims == ("d0", "d1", "d2") and ds.loss.shape == (5, 5, 5)
    same = landscape(obj, obj.point(), D, 5, (-1.0, 1.0))
    np.testing.assert_allclose(ds.loss.values, same.loss.values, rtol=1e-12)
    assert manifest.read(out)["settings"]["directions"] == str(tmp_path / "d.pt")
    npy = tmp_path / "npy"
    result, text = invoke("topology", "-m", "xor", "-d", "xor", "--float64", "--steps", "5",
                          "--directions", tmp_path / "d.npy", "--out", npy)  # fmt: skip
    assert result.exit_code == 0, text
    assert load(npy / "landscape.zarr").loss.shape == (5, 5)
    torch.save(D[:, :4], tmp_path / "short.pt")
    result, text = invoke("topology", "-m", "xor", "-d", "xor", "--directions",
                          tmp_path / "short.pt", "--out", tmp_path / "bad")  # fmt: skip
    assert result.exit_code == 2 and "n = 9" in " ".join(text.split())
    assert not (tmp_path / "bad" / manifest.MANIFEST).exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (("--synthetic", "himmelblau", "-c", "x.pt"), "`--synthetic` takes no `--store`"),
        (("--synthetic", "himmelblau", "--dims", "3"), "`--dims` must be 2 for a synthetic"),
        (("--synthetic", "nowhere"), "`name` must be one of"),
        (("--synthetic", "himmelblau", "--steps", "5,5,5"), "`--steps` must have 1 or 2 numbers"),
        (("--store", "absent.zarr", "--compare", "x"), "absent.zarr"),
        (("--synthetic", "himmelblau", "--directions", "d.pt"), "`--directions` applies to"),
        (("-m", "xor", "-d", "xor", "--directions", "nowhere.pt"), "'nowhere.pt' does not exist"),
    ],
)
def test_bad_input_names_the_problem_and_leaves_no_manifest(tmp_path, args, message):
    result, text = invoke("topology", *args, "--out", tmp_path / "o")
    assert result.exit_code != 0
    assert message in " ".join(text.split())
    assert not (tmp_path / "o" / manifest.MANIFEST).exists()

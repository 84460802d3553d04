"""Every command leaves a manifest whose figures, arrays and numbers exist and match its files."""

import json

import pytest
from typer.testing import CliRunner

from lossatlas.cli import app
from lossatlas.results import manifest

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def strict_json(path):
    """Parse as strict JSON: NaN and Infinity are refused, as a browser's JSON.parse does."""

    def refuse(name):
        raise ValueError(f"{path} holds {name}: not strict JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def check(body, folder):
    for fig in body["figures"]:
        path = folder / fig["path"]
        assert path.stat().st_size > 0, fig
        if path.name.endswith(".plotly.json"):
            figure = strict_json(path)
            assert figure["data"] and "layout" in figure
    for array in body["arrays"]:
        assert (folder / array).exists(), array
    assert body["timings"]["total"] > 0 and body["versions"]["torch"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    for seed in (0, 1):
        invoke("train", "--epochs", 2, "--seed", seed, "--out", root / f"train{seed}")
    return root


def test_train_and_surface_record_their_results(run_dir):
    body = manifest.read(run_dir / "train0")
    assert body["command"] == "train" and body["settings"]["epochs"] == 2
    history = json.loads((run_dir / "train0" / "history.json").read_text())
    assert body["results"]["train_loss"] == pytest.approx(history["train_loss"][-1])
    assert {f["path"] for f in body["figures"]} == {"training.png", "training.plotly.json"}
    assert "final.pt" in body["arrays"]
    check(body, run_dir / "train0")
    ckpt = run_dir / "train0" / "final.pt"
    invoke("surface", "--kind", "plane", "-c", ckpt, "--grid", 4, "--out", run_dir / "plane")
    body = manifest.read(run_dir / "plane")
    paths = {f["path"] for f in body["figures"]}
    assert {"contour.png", "contour.plotly.json", "surface3d.plotly.json"} <= paths
    check(body, run_dir / "plane")
    from lossatlas.surface import load

    loss = load(run_dir / "plane" / "surface.zarr").loss.values
    assert body["results"]["min_loss"] == pytest.approx(float(loss.min()))
    assert body["settings"]["grid"] == "4" and body["settings"]["kind"] == "plane"


def test_spectrum_analyses_share_a_folder(run_dir):
    ckpt = run_dir / "train0" / "final.pt"
    out = run_dir / "spectrum"
    invoke("spectrum", "eigen", "-c", ckpt, "--k", 2, "--bottom", 0, "--out", out)
    invoke("spectrum", "density", "-c", ckpt, "--draws", 2, "--steps", 8, "--out", out)
    found = manifest.find(out)
    assert [p.name for p in found] == ["lossatlas-density.json", "lossatlas-eigen.json"]
    eigen = manifest.read(found[1])
    top = json.loads((out / "eigen.json").read_text())["top"]
    assert eigen["results"]["top"] == pytest.approx(top)
    for path in found:
        check(manifest.read(path), out)


def test_path_and_barriers_record_heights(run_dir):
    a, b = run_dir / "train0" / "final.pt", run_dir / "train1" / "final.pt"
    out = run_dir / "path"
    invoke("path", a, b, "--points", 7, "--terms", 2, "--steps", 2, "--grid", 4, "--out", out)
    body = manifest.read(out)
    summary = json.loads((out / "path.json").read_text())
    assert [r["height"] for r in body["tables"]["paths"]] == [p["height"] for p in summary["paths"]]
    assert body["results"]["height_linear"] == summary["paths"][0]["height"]
    assert {"profile.plotly.json", "plane.plotly.json"} <= {f["path"] for f in body["figures"]}
    check(body, out)
    out = run_dir / "barriers"
    invoke("barriers", run_dir, "--pattern", "train*/final.pt", "--method", "linear",
           "--points", 5, "--out", out)  # fmt: skip
    body = manifest.read(out)
    matrix = json.loads((out / "barriers.json").read_text())["height"]
    assert body["results"]["max_height"] == pytest.approx(max(max(r) for r in matrix))
    check(body, out)

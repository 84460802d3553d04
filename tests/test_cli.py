"""The command line, end to end on small settings, and its error messages."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lossatlas.cli import app
from lossatlas.surface import load

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result, result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two short SGD runs and one L-BFGS-GSS run of the FCP on digits."""
    root = tmp_path_factory.mktemp("runs")
    for name, args in {
        "a": ["--optimizer", "sgd", "--epochs", "2", "--seed", "0"],
        "b": ["--optimizer", "sgd", "--epochs", "2", "--seed", "1"],
        "c": ["--optimizer", "lbfgs-gss", "--epochs", "5", "--seed", "2"],
    }.items():
        result, out = invoke("train", *args, "--out", root / name)
        assert result.exit_code == 0, out
    return root


def test_train_writes_checkpoints_and_evaluate_reads_them(trained):
    assert {p.name for p in (trained / "a").iterdir()} >= {
        "final.pt",
        "final.json",
        "early_stopped.pt",
        "trajectory.pt",
        "history.json",
    }
    result, out = invoke("evaluate", trained / "a" / "final.pt")
    assert result.exit_code == 0, out
    metrics = json.loads(out)
    history = json.loads((trained / "a" / "history.json").read_text())
    assert metrics["train"]["loss"] == pytest.approx(history["train_loss"][-1], rel=1e-5)


def test_checkpoint_of_another_model_is_a_clear_error(trained):
    result, out = invoke("evaluate", trained / "a" / "final.pt", "--model", "lenet")
    assert result.exit_code == 2
    assert "does not fit the model" in out and "missing" in out


@pytest.mark.parametrize("kind", ["line", "solutions", "triangle", "pca", "plane"])
def test_surface_kinds_write_store_and_figures(trained, tmp_path, kind):
    ckpts = {
        "line": ["a", "b"],
        "solutions": ["a", "b", "c"],
        "triangle": ["a", "b", "c"],
        "pca": [],
        "plane": ["c"],
    }[kind]
    args = [a for name in ckpts for a in ("-c", trained / name / "final.pt")]
    if kind == "pca":
        args += ["--trajectory", trained / "c" / "trajectory.pt"]
    grid = "7" if kind == "line" else "5,4"
    result, out = invoke("surface", "--kind", kind, *args, "--grid", grid, "--out", tmp_path)
    assert result.exit_code == 0, out
    ds = load(tmp_path / "surface.zarr")
    assert ds.attrs["kind"] == kind and not np.isnan(ds.loss.values).any()
    assert {"loss", "accuracy", "test_loss", "test_accuracy"} <= set(ds.data_vars)
    figures = ["line.png"] if kind == "line" else ["contour.png", "heatmap.png", "contour.html"]
    for name in figures:
        assert (tmp_path / name).stat().st_size > 1000
    assert str(tmp_path / "surface.zarr") in out.replace("\n", "")


def test_surface_resumes_and_refuses_other_settings(trained, tmp_path):
    base = ["surface", "--kind", "plane", "-c", trained / "c" / "final.pt", "--out", tmp_path]
    assert invoke(*base, "--grid", "4")[0].exit_code == 0
    first = load(tmp_path / "surface.zarr").loss.values
    assert invoke(*base, "--grid", "4")[0].exit_code == 0
    assert np.array_equal(load(tmp_path / "surface.zarr").loss.values, first)
    result, out = invoke(*base, "--grid", "4", "--seed", "3")
    assert result.exit_code == 2 and "other settings" in out and "seed" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--kind", "cube"], "`--kind` must be one of"),
        (["--kind", "line"], "needs 2 checkpoints"),
        (["--kind", "pca"], "needs `--trajectory`"),
        (["--grid", "0"], "`grid` sizes must be positive integers"),
        (["--span", "1,-1,-1,1"], "`span` for alpha must be (low, high)"),
        (["--norm", "unit"], "`norm` must be one of"),
        (["--model", "vgg"], "`name` must be one of"),
        (["--data", "imagenet"], "imagenet"),
        (["--data", "missing.pt"], "does not exist"),
    ],
)
def test_surface_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, args, message):
    result, out = invoke("surface", *args, "--out", tmp_path / "o")
    assert result.exit_code == 2, out
    assert message in " ".join(out.split())
    assert not (tmp_path / "o" / "surface.zarr").exists()


def test_local_data_file_and_user_model(tmp_path, monkeypatch):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 5, generator=g), torch.randint(0, 3, (40,), generator=g)
    torch.save({"x": x, "y": y}, tmp_path / "mine.pt")
    (tmp_path / "mymodels.py").write_text(
        "import torch\n"
        "def tiny():\n"
        "    return torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(),"
        " torch.nn.Linear(4, 3))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    result, out = invoke(
        "surface",
        "--model",
        "mymodels:tiny",
        "--data",
        tmp_path / "mine.pt",
        "--grid",
        "3",
        "--out",
        tmp_path / "o",
    )
    assert result.exit_code == 0, out
    assert load(tmp_path / "o" / "surface.zarr").attrs["parameters"] == 5 * 4 + 4 + 4 * 3 + 3


def test_zoo_and_env():
    result, out = invoke("zoo")
    assert result.exit_code == 0 and "fcp" in out and "digits" in out and "muller-brown" in out
    result, out = invoke("env")
    assert result.exit_code == 0 and "torch" in out


def test_scaling_reports_the_basin_and_flags_an_end_at_the_grids_edge(tmp_path, monkeypatch):
    """L(αθ) = 4(α − 1)²·E[x²] for y = 2x and θ = 2: the level ½(L(θ) + L(0)) = 2E[x²]
    is crossed at α = 1 ± 1/√2 exactly; a span inside those ends leaves both censored."""
    (tmp_path / "linear_models.py").write_text(
        "import torch\ndef one(**kw):\n    return torch.nn.Linear(1, 1, bias=False)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    x = torch.linspace(-1, 1, 9)[:, None].double()
    torch.save({"x": x, "y": 2 * x}, tmp_path / "line.pt")
    torch.save({"weight": torch.tensor([[2.0]])}, tmp_path / "best.pt")
    common = ["-m", "linear_models:one", "-d", tmp_path / "line.pt", "-c", tmp_path / "best.pt"]
    common += ["--kind", "scaling", "--float64"]
    result, out = invoke("surface", *common, "--grid", "201", "--out", tmp_path / "wide")
    assert result.exit_code == 0, out
    body = json.loads((tmp_path / "wide" / "lossatlas.json").read_text())["results"]
    assert body["basin_low"] == pytest.approx(1 - 0.5**0.5, abs=1e-4)
    assert body["basin_high"] == pytest.approx(1 + 0.5**0.5, abs=1e-4)
    assert not body["basin_censored"] and "widen" not in out
    args = ["--grid", "11", "--span", "0.5,1.5", "--out", tmp_path / "narrow"]
    result, out = invoke("surface", *common, *args)
    assert result.exit_code == 0, out
    body = json.loads((tmp_path / "narrow" / "lossatlas.json").read_text())["results"]
    assert body["basin_low_censored"] and body["basin_high_censored"]
    assert (body["basin_low"], body["basin_high"]) == (0.5, 1.5)
    assert "≤ 0.5" in out and "≥ 1.5" in out and "widen --span" in out

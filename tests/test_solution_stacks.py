"""Solution sets from files: [k, n] stacks of flat vectors, as the paper's repository publishes."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lossatlas import Objective, zoo
from lossatlas.cli import app
from lossatlas.core.points import load_solution_stack

WIDTHS = ["--model-arg", "widths=64,4,10"]


def _objective():
    split = zoo.dataset("digits")
    net = zoo.build_for("mlp", split, seed=0, widths=(64, 4, 10))
    return Objective(net, split.train, loss="cross_entropy")


@pytest.fixture
def stack(tmp_path):
    obj = _objective()
    g = torch.Generator().manual_seed(3)
    rows = obj.point() + 0.05 * torch.randn(4, obj.size, generator=g)
    np.save(tmp_path / "set.npy", rows.numpy())
    torch.save(rows, tmp_path / "set.pt")
    return obj, rows, tmp_path


def test_npy_and_pt_stacks_load_and_a_wrong_width_names_both_sizes(stack):
    obj, rows, where = stack
    for name in ("set.npy", "set.pt"):
        assert torch.equal(load_solution_stack(where / name, obj.size), rows)
    with pytest.raises(ValueError, match=rf"have {obj.size} parameters each, but the model has 7"):
        load_solution_stack(where / "set.npy", 7)
    np.save(where / "cube.npy", np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"2-D float array .* got \(2, 3, 4\)"):
        load_solution_stack(where / "cube.npy")
    bad = rows.clone()
    bad[2, 0] = float("nan")
    np.save(where / "nan.npy", bad.numpy())
    with pytest.raises(ValueError, match=r"non-finite values .* rows \[2\]"):
        load_solution_stack(where / "nan.npy")


def test_a_row_is_picked_by_index_wherever_a_checkpoint_is_taken(stack):
    obj, rows, where = stack
    assert torch.equal(obj.load_point(f"{where / 'set.npy'}:1"), rows[1])
    assert torch.equal(obj.load_point(f"{where / 'set.pt'}:-1"), rows[3])
    with pytest.raises(ValueError, match=r"has 4 solutions \(rows 0 to 3\); got row 4"):
        obj.load_point(f"{where / 'set.npy'}:4")


def test_surface_through_three_rows_of_a_stack(stack):
    obj, rows, where = stack
    cps = [arg for i in range(3) for arg in ("-c", f"{where / 'set.npy'}:{i}")]
    out = where / "solutions"
    args = ["surface", "--kind", "solutions", "--model", "mlp", *WIDTHS, *cps]
    result = CliRunner().invoke(app, [*args, "--grid", "5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    from lossatlas.surface import load

    ds = load(out / "surface.zarr")
    found = sorted(float(v) for v in ds["loss"].values.ravel())
    for i in range(3):  # the plane passes through every solution: its loss is in the array
        want = obj.value(rows[i]).item()
        assert min(abs(v - want) for v in found) < 1e-5 * max(1.0, abs(want))


def test_barriers_over_a_pt_stack_and_a_stack_of_another_model(stack):
    obj, _, where = stack
    args = ["barriers", str(where / "set.pt"), "--model", "mlp", *WIDTHS, "--method", "linear"]
    result = CliRunner().invoke(app, [*args, "--points", "5", "--out", str(where / "b")])
    assert result.exit_code == 0, result.output
    other = ["barriers", str(where / "set.pt"), "--model", "mlp", "--model-arg", "widths=64,5,10"]
    result = CliRunner().invoke(app, [*other, "--out", str(where / "c")])
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert f"have {obj.size} parameters each, but the model has" in text


def test_study_optimizers_analyses_given_sets_without_training(stack):
    import json

    import xarray as xr

    obj, rows, where = stack
    other = rows.flip(0) + 0.2 * torch.randn(
        4, obj.size, generator=torch.Generator().manual_seed(5)
    )
    np.save(where / "other.npy", other.numpy())
    out = where / "study"
    args = ["study", "optimizers", "--model", "mlp", *WIDTHS, "--set", f"a={where / 'set.npy'}"]
    args += ["--set", f"b={where / 'other.npy'}", "--path-method", "linear", "--path-points", "5"]
    args += ["--path-pairs", "2", "--workers", "1", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert not (out / "runs").exists()  # nothing trained
    body = json.loads((out / "lossatlas.json").read_text())
    table = {r["set"]: r for r in body["tables"]["table1"]}
    split = zoo.dataset("digits")
    test = obj.with_data(split.test)
    for name, theta in (("a", rows), ("b", other)):
        train_losses = obj.values(theta).double()
        test_losses = test.values(theta).double()
        assert table[name]["train_loss"] == pytest.approx(float(train_losses.mean()), rel=1e-5)
        assert table[name]["train_loss_std"] == pytest.approx(float(train_losses.std()), rel=1e-4)
        assert table[name]["test_loss"] == pytest.approx(float(test_losses.mean()), rel=1e-5)
        centre = theta.double().mean(0)
        dist = (theta.double() - centre).norm(dim=1).mean()
        assert table[name]["distance_to_centroid"] == pytest.approx(float(dist), rel=1e-6)
        assert table[name]["weight_mean"] == pytest.approx(float(theta.double().mean()), rel=1e-9)
        assert table[name]["weight_std"] == pytest.approx(
            float(theta.double().std(correction=0)), rel=1e-9
        )
    tests = body["tables"]["fig4_tests"]
    assert [(t["comparison"], t["n_a"], t["n_b"]) for t in tests] == [("a vs b", 2, 2)] * 2
    analysis = xr.open_zarr(out / "analysis.zarr", consolidated=False)
    pairs = list(zip(analysis["pair_a a"].values, analysis["pair_b a"].values, strict=True))
    assert len({i for p in pairs for i in p}) == 4  # two pairs, no shared endpoint
    for (i, j), h in zip(pairs, analysis["height a"].values, strict=True):
        line = obj.values(
            torch.stack([rows[i] + t * (rows[j] - rows[i]) for t in np.linspace(0, 1, 5)])
        )
        assert h == pytest.approx(float(line.max()), rel=1e-5)
    assert body["settings"]["sets"]["a"]["sha256"]
    for name in ("heights.png", "distances_centroid.png", "distances_origin.png", "kpca.png"):
        assert (out / name).stat().st_size > 0
    one = CliRunner().invoke(app, [*args[:8], *args[10:-1], str(where / "x")])  # one set
    assert one.exit_code == 0, one.output
    assert "fig4_tests" not in json.loads((where / "x" / "lossatlas.json").read_text())["tables"]
    wrong = ["study", "optimizers", "--model", "mlp", "--set", f"a={where / 'set.npy'}"]
    bad = CliRunner().invoke(app, [*wrong, "--out", str(where / "y")])  # another width
    assert bad.exit_code == 2 and "but the model has" in " ".join(bad.output.split())
    assert not (where / "y").exists()

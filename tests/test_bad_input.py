"""Bad input, table-driven: every case fails early with a message that names the problem.

Command-line cases must exit with code 2, print no traceback, and leave the
output directory exactly as it was (no store, manifest or figure half
written). Library cases must raise the named exception with the message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lossatlas import Objective, save_checkpoint, zoo
from lossatlas.cli import app

XOR = ["-m", "xor", "-d", "xor"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """Bad (and a few good) input files, made once."""
    root = tmp_path_factory.mktemp("inputs")
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(20, 2, generator=g), torch.randint(0, 2, (20,), generator=g)
    np.savez(root / "mismatch.npz", x=x.numpy(), y=y[:15].numpy())
    np.savez(root / "empty.npz", x=np.zeros((0, 2), np.float32), y=np.zeros(0, np.int64))
    nan = x.clone()
    nan[3, 1] = float("nan")
    np.savez(root / "nan.npz", x=nan.numpy(), y=y.numpy())
    np.savez(root / "no_y.npz", z=x.numpy())
    (root / "garbage.npz").write_bytes(b"this is not a zip archive")
    (root / "garbage.pt").write_bytes(b"\x00\x01 not a pickle")
    (root / "text.pt").write_text("epoch,loss\n1,0.5\n")  # a text file named .pt
    (root / "afile").write_text("not a folder")
    np.savez(root / "gap.npz", x=x.numpy(), y=np.where(y.numpy() == 1, 1000, 0))
    np.savez(root / "negative.npz", x=x.numpy(), y=y.numpy() - 3)
    np.savez(root / "wide.npz", x=torch.randn(20, 3, generator=g).numpy(), y=y.numpy())
    np.savez(root / "huge.npz", x=x.numpy(), y=np.full((20, 1), 1e30, np.float32))  # L = inf
    split = zoo.dataset("xor")
    net = zoo.build_for("xor", split, seed=0)
    save_checkpoint(root / "xor.pt", net)
    save_checkpoint(root / "other.pt", zoo.build_for("xor", split, seed=1))
    save_checkpoint(root / "fcp.pt", zoo.build_for("fcp", zoo.dataset("digits"), seed=0))
    broken = {k: v.clone() for k, v in net.state_dict().items()}
    next(iter(broken.values()))[0] = float("nan")
    torch.save(broken, root / "nan_weights.pt")
    torch.save({"not": "a tensor"}, root / "trajectory.pt")
    (root / "one").mkdir()
    save_checkpoint(root / "one" / "final.pt", net)
    return root


# (arguments, expected message); `{f}` is the directory of `files`, `{out}` the output one
CLI_CASES = [
    # missing files
    (["evaluate", "{f}/absent.pt", *XOR], "checkpoint file '.*absent.pt' does not exist"),
    (["surface", "-c", "{f}/absent.pt", *XOR], "does not exist"),
    (["surface", *XOR[:2], "-d", "{f}/absent.npz"], "data file '.*absent.npz' does not exist"),
    (["barriers", "{f}/nowhere", *XOR], "'.*nowhere' does not exist"),
    # a checkpoint of another model, or unreadable, or not finite
    (["evaluate", "{f}/fcp.pt", *XOR], "does not fit the model.*missing"),
    (["spectrum", "eigen", *XOR, "-c", "{f}/garbage.pt"], "not a readable checkpoint"),
    (["spectrum", "eigen", *XOR, "-c", "{f}/nan_weights.pt"], "non-finite values"),
    (["spectrum", "trace", "-m", "xor", "-d", "{f}/huge.npz"], "loss at θ is not finite"),
    # data of the wrong shape, empty, NaN, unreadable
    (["evaluate", "{f}/xor.pt", *XOR[:2], "-d", "{f}/mismatch.npz"], "same number of samples"),
    (["evaluate", "{f}/xor.pt", *XOR[:2], "-d", "{f}/empty.npz"], "at least one sample"),
    (["evaluate", "{f}/xor.pt", *XOR[:2], "-d", "{f}/nan.npz"], "1 non-finite value in x"),
    (["evaluate", "{f}/xor.pt", *XOR[:2], "-d", "{f}/no_y.npz"], "must hold x and y"),
    (["evaluate", "{f}/xor.pt", *XOR[:2], "-d", "{f}/garbage.npz"], "not a readable data file"),
    (["evaluate", "{f}/xor.pt", *XOR[:2], "-d", "{f}/wide.npz"], "does not fit the data"),
    # grids, spans and sizes
    (["surface", *XOR, "--grid", "0"], "`grid` sizes must be positive integers; got 0"),
    (["surface", *XOR, "--grid", "-3,4"], "`grid` sizes must be positive integers; got -3"),
    (["surface", *XOR, "--grid", "4,4,4"], "`--grid` must have 1 or 2 numbers"),
    (["surface", *XOR, "--chunk", "0"], "`chunk` must be a positive integer; got 0"),
    (["surface", *XOR, "--span", "1,-1,-1,1"], r"`span` for alpha must be \(low, high\)"),
    (["surface", *XOR, "--span", "a,b,c,d"], "`--span` must be comma-separated numbers"),
    (["surface", *XOR, "--kind", "line", "-c", "{f}/xor.pt"], "needs 2 checkpoints"),
    (["surface", *XOR, "--kind", "pca", "--trajectory", "{f}/trajectory.pt"], r"\[T, n\] tensor"),
    # unknown names
    (["surface", "-m", "vgg", "-d", "xor"], "`name` must be one of"),
    (["surface", "-m", "xor", "-d", "imagenet"], "imagenet"),
    (["surface", *XOR, "--kind", "cube"], "`--kind` must be one of"),
    (["spectrum", "eigenvalues", *XOR], "the analysis must be one of eigen"),
    (["spectrum", "trace", *XOR, "--method", "exact"], "`method` must be"),
    (["path", "--landscape", "two-wells", "--method", "spline"], "`--method` must be one of"),
    (["train", *XOR, "--optimizer", "adamw"], "`optimizer` must be one of"),
    (["surface", *XOR, "--mode", "batch"], "`mode` must be 'eval' or 'train'"),
    # devices
    (
        ["surface", *XOR, "--device", "cuda:99"],
        "device 'cuda:99' was requested but .*available: cpu",
    ),
    (["spectrum", "eigen", *XOR, "--device", "cuda:99"], "device 'cuda:99' was requested"),
    (["train", *XOR, "--device", "gpu"], "`device` must be cpu, cuda, cuda:N or mps; got 'gpu'"),
    (["study", "optimizers", "--device", "cuda:99"], "device 'cuda:99' was requested"),
    (["study", "solutions", "--device", "cuda:99"], "device 'cuda:99' was requested"),
    (["study", "asymmetry", "--device", "cuda:99"], "device 'cuda:99' was requested"),
    (["topology", *XOR, "--device", "cuda:99"], "device 'cuda:99' was requested"),
    # counts out of range
    (["spectrum", "eigen", *XOR, "--k", "50"], "between 1 and n = 9"),
    (["spectrum", "density", *XOR, "--steps", "0"], "`steps` must be between 1 and n = 9 .*got 0"),
    (["spectrum", "density", *XOR, "--draws", "0"], "`draws` must be a positive integer"),
    (["spectrum", "density", *XOR, "--steps", "4", "--block", "0"], "`block` must be a positive"),
    (["spectrum", "trace", *XOR, "--samples", "0"], "needs `samples` ≥ 6"),
    (["path", "--landscape", "two-wells", "--points", "1"], "`points` must be"),
    (["barriers", "{f}/one", *XOR], "at least 2"),
    # studies and geometry: refused before any training
    (["study", "asymmetry", "--norm", "bogus"], "`norm` must be one of"),
    (["study", "asymmetry", "--batch-size", "0"], "`batch_size` must be an integer ≥ 1"),
    (["study", "asymmetry", "--zeta", "0.95", "--points", "2"], r"no grid point lies in \(ζ, r\)"),
    (["study", "optimizers", "--kpca-gamma", "-1"], "`kpca_gamma` must be a positive number"),
    (["study", "optimizers", "--max-evals", "0"], "`max_evals` must be an integer ≥ 1"),
    (["study", "optimizers", "--path-points", "1"], "`path_points` must be an integer ≥ 2"),
    (["study", "solutions", "--batch-size", "0"], "`batch_size` must be an integer ≥ 1"),
    (["study", "solutions", "--same-tol", "-1"], "`same_tol` must be a loss difference ≥ 0"),
    (["study", "solutions", "--switch", "adam>adam"], "a switch must read 'A>B'"),
    (["study", "solutions", "--lr", "sgdd=0.1"], "`lr` has keys that are not optimizers"),
    (["geometry", "xor", "--scales", ","], "`--scales` must hold at least one number"),
    # a text file where a torch or NumPy file belongs
    (
        ["evaluate", "{f}/text.pt", *XOR],
        "text.pt' is not a readable checkpoint .*not a file torch.save or NumPy",
    ),
    (["surface", *XOR, "-c", "{f}/text.pt"], "text.pt' is not a readable checkpoint"),
    (
        ["surface", *XOR, "--kind", "pca", "--trajectory", "{f}/text.pt"],
        "not a readable trajectory",
    ),
    (["evaluate", "{f}/xor.pt", "-m", "xor", "-d", "{f}/text.pt"], "text.pt"),
    # output folders that cannot be one
    (["surface", *XOR, "--out", "{f}/afile"], "--out.*afile' is a file; give a folder"),
    (["surface", *XOR, "--out", "{f}/afile/sub"], "afile/sub' lies under the file"),
    (["train", *XOR, "--out", ""], "`--out` is empty"),
    # accepted before, silently changed or ignored
    (["surface", *XOR, "--grid", "5.5"], "`--grid` sizes must be whole numbers; got '5.5'"),
    (["surface", *XOR, "--grid", "1001"], "1,002,001 points.*--yes"),
    (["surface", *XOR, "--trajectory", "{f}/trajectory.pt"], "--trajectory.*--kind pca"),
    (["spectrum", "covariance", *XOR, "--k", "70"], "`k` must be an integer between 1 and n = 9"),
    (["spectrum", "eigen", *XOR, "--bottom", "-1"], "`--bottom` must be between 0 and n = 9"),
    (["train", *XOR, "--epochs", "-2"], "`epochs` must be an integer ≥ 0; got -2"),
    (
        ["evaluate", "{f}/xor.pt", "-m", "xor", "-d", "{f}/gap.npz"],
        "up to 1000, which implies 1001 classes.*--classes 1001",
    ),
    (["evaluate", "{f}/xor.pt", "-m", "xor", "-d", "{f}/negative.npz"], "negative labels"),
    (["evaluate", "{f}/xor.pt", *XOR, "--classes", "3"], "--classes.*data file"),
    (["surface", *XOR, "--data-arg", "colour=red"], "xor takes no keyword 'colour'; it takes seed"),
    (["path", "{f}/xor.pt", "{f}/xor.pt", *XOR], "θa and θb are the same point"),
    (["path", "{f}/xor.pt", "{f}/other.pt", *XOR, "--steps", "0"], "`--steps` must be ≥ 1"),
    # malformed KEY=VALUE
    (["surface", *XOR, "--model-arg", "hidden"], "must look like KEY=VALUE"),
    (["surface", *XOR, "--model-arg", "width=3"], "width"),
]


def _snapshot(root: Path) -> dict[str, int]:
    """Every file under `root` with its modification time."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


@pytest.mark.parametrize(("args", "message"), CLI_CASES, ids=lambda v: None)
def test_command_line_bad_input(files, tmp_path, args, message):
    out = tmp_path / "out"
    argv = [a.format(f=files) for a in args]
    before = _snapshot(out)
    own_out = argv[0] == "evaluate" or "--out" in argv
    result = CliRunner().invoke(app, argv if own_out else [*argv, "--out", str(out)])
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())  # rich's error box
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert re.search(message, text), f"{message!r} not in: {text}"
    assert _snapshot(out) == before, "the failed command left files behind"


def test_a_store_from_other_settings_is_left_as_it_was(tmp_path):
    args = ["surface", *XOR, "--grid", "3", "--out", str(tmp_path)]
    assert CliRunner().invoke(app, args).exit_code == 0
    before = _snapshot(tmp_path)
    result = CliRunner().invoke(app, [*args[:-2], "--seed", "1", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "other settings" in result.output and "seed" in result.output
    assert _snapshot(tmp_path) == before


def _xor_objective(**kw):
    split = zoo.dataset("xor")
    return Objective(zoo.build_for("xor", split), split.train, loss="mse", **kw)


def _api_cases():
    from lossatlas import curvature, paths, surface
    from lossatlas.core.devices import DeviceUnavailable
    from lossatlas.curvature.lanczos import lanczos
    from lossatlas.results.store import GridStore, StoreMismatch

    obj = _xor_objective(dtype=torch.float64)
    theta = obj.point()
    x, y = zoo.dataset("xor").train
    op = curvature.hessian_operator(obj, theta)
    return [
        (lambda: _xor_objective(device="cuda:99"), DeviceUnavailable, "was requested"),
        (lambda: Objective(obj.model, (x, y[:2]), loss="mse"), ValueError, "same number"),
        (lambda: Objective(obj.model, (x[:0], y[:0])), ValueError, "at least one sample"),
        (lambda: Objective(obj.model, iter([(x, y)])), TypeError, "an iterator"),
        (lambda: obj.value(torch.zeros(4)), ValueError, "9"),
        (lambda: surface.plane(obj, theta, theta, theta, grid=(0, 3)), ValueError, "got 0"),
        (lambda: surface.line(obj, theta, theta, 5, span=(1, 1)), ValueError, "low < high"),
        (lambda: curvature.density(obj, theta, steps=10), ValueError, "between 1 and n = 9"),
        (lambda: lanczos(op, torch.zeros(9), 3), ValueError, "starting vector is zero"),
        (lambda: curvature.top_eigenvalues(obj, theta, 10), ValueError, "n = 9"),
        (lambda: paths.fourier(obj, theta, theta + 1, steps=-1), ValueError, "`steps`"),
        (lambda: paths.barrier_matrix(obj, [theta]), ValueError, "at least 2 solutions"),
        (lambda: GridStore(os.devnull, {}, ["a"], 4, 2), StoreMismatch, "not a lossatlas store"),
    ]


def test_library_bad_input():
    for call, error, message in _api_cases():
        with pytest.raises(error, match=message):
            call()


def test_a_folder_another_process_writes_is_refused_naming_it(tmp_path):
    from lossatlas.results.lock import LOCK_NAME, FolderLock

    out = tmp_path / "busy"
    held = FolderLock(out, "lossatlas surface --grid 41")
    try:
        result = CliRunner().invoke(app, ["surface", *XOR, "--grid", "3", "--out", str(out)])
        text = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert f"pid {os.getpid()}" in text and "lossatlas surface --grid 41" in text, text
        assert [p.name for p in out.iterdir()] == [LOCK_NAME]  # nothing written beside it
    finally:
        held.release()
    assert not out.exists()  # the holder made the folder and put nothing else in it
    # free again: the same command now runs, and leaves no lock behind
    result = CliRunner().invoke(app, ["surface", *XOR, "--grid", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "surface.zarr").exists() and not (out / LOCK_NAME).exists()


def test_an_out_folder_that_cannot_be_written_is_refused(tmp_path, monkeypatch):
    # root may write anywhere, so the permission is what `os.access` reports
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == tmp_path else real(p, m))
    result = CliRunner().invoke(app, ["train", *XOR, "--out", str(tmp_path / "run")])
    text = " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())
    assert result.exit_code == 2 and "is not writable" in text, text
    assert list(tmp_path.iterdir()) == []

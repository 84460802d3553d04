"""Killed and started again: a surface grid, a spectral density and a barrier matrix.

Each command runs in a subprocess that SIGKILLs itself at a fixed point
(`kill_after.py`: after k stored chunks, half way through storing the next,
its values written but not its done flag), so the test does not depend on
timing. Running the same command again must store only the missing chunks
(no finished one is computed or written again) and end with arrays identical,
bit for bit, to an uninterrupted run's.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import xarray as xr
from typer.testing import CliRunner

from lossatlas import save_checkpoint, zoo
from lossatlas.cli import app
from lossatlas.surface import load

HERE = Path(__file__).parent
XOR = ["-m", "xor", "-d", "xor", "--float64"]


def killed_then_resumed(tmp_path: Path, args: list, kill_after: int, chunks: int) -> Path:
    """Run `args` into tmp/run, killed after `kill_after` chunks, then again; check the logs.

    Returns the output directory, after checking that the first run stored
    `kill_after` chunks and the second exactly the others.
    """
    out = tmp_path / "run"
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    runs = []
    for limit, log in zip((kill_after, -1), logs, strict=True):
        cmd = [sys.executable, HERE / "kill_after.py", limit, log, *args, "--out", out]
        run = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, check=False)
        runs.append((run.returncode, run.stdout + run.stderr))
    assert [code for code, _ in runs] == [-signal.SIGKILL, 0], runs
    first, second = ([int(i) for i in log.read_text().split()] for log in logs)
    assert len(first) == kill_after
    assert not set(first) & set(second), "a finished chunk was computed again"
    assert sorted(first + second) == list(range(chunks)), "a chunk is missing"
    return out


def reference(tmp_path: Path, args: list) -> Path:
    """The same command, uninterrupted, in a fresh directory."""
    out = tmp_path / "uninterrupted"
    result = CliRunner().invoke(app, [*map(str, args), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_surface_grid_killed_and_resumed(tmp_path):
    args = ["surface", *XOR, "--grid", "6", "--chunk", "4"]  # 36 points in 9 chunks
    out = killed_then_resumed(tmp_path, args, kill_after=3, chunks=9)
    want = load(reference(tmp_path, args) / "surface.zarr")
    got = load(out / "surface.zarr")
    for name in ("loss", "test_loss"):
        assert np.array_equal(got[name].values, want[name].values), name
    assert (out / "contour.png").stat().st_size > 0


def test_spectral_density_killed_and_resumed(tmp_path):
    args = ["spectrum", "density", *XOR, "--draws", "5", "--steps", "6", "--sigma", "0.05"]
    out = killed_then_resumed(tmp_path, [*args, "--block", "1"], kill_after=2, chunks=5)
    want = xr.open_zarr(reference(tmp_path, args) / "density.zarr", consolidated=False)
    got = xr.open_zarr(out / "density.zarr", consolidated=False)
    for name in ("density", "node", "weight"):
        assert np.array_equal(got[name].values, want[name].values, equal_nan=True), name


def test_barrier_matrix_killed_and_resumed(tmp_path):
    split = zoo.dataset("xor")
    for seed in range(4):  # 4 solutions: 6 pairs
        save_checkpoint(tmp_path / "runs" / f"{seed}.pt", zoo.build_for("xor", split, seed=seed))
    args = ["barriers", tmp_path / "runs", *XOR, "--pattern", "*.pt", "--points", "7"]
    args += ["--terms", "2", "--steps", "3", "--lr", "0.05"]
    out = killed_then_resumed(tmp_path, args, kill_after=2, chunks=6)
    want = json.loads((reference(tmp_path, args) / "barriers.json").read_text())
    got = json.loads((out / "barriers.json").read_text())
    assert got == want

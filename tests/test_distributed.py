"""Two processes give one process's results: torchrun and srun launches on the CPU (gloo).

Each launch costs a few seconds of start-up (two Python processes importing
torch), so the library is checked in one launch of a worker script
(`distributed_worker.py`) and the command line in two launches of the real
`lossatlas` command (torchrun, and the environment srun gives its tasks); the
references are computed here, in one process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from typer.testing import CliRunner

from lossatlas import Objective, save_checkpoint, zoo
from lossatlas.cli import app
from lossatlas.core import distributed
from lossatlas.surface import load

HERE = Path(__file__).parent
LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS and "SLURM" not in k}
    return env | {"OMP_NUM_THREADS": "1"} | extra


def torchrun(*args: object) -> subprocess.CompletedProcess:
    """`python -m torch.distributed.run --standalone --nproc_per_node=2 ARGS` (a free port)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    return subprocess.run(
        [*cmd, *map(str, args)], env=_env(), capture_output=True, text=True, check=False
    )


def srun(*args: object, n: int = 2, script: Path = HERE / "cli_sequence.py") -> list:
    """[(exit code, output)] of `script ARGS` (by default `lossatlas` command lines,
    `cli_sequence.py`) run as n tasks with the environment srun gives each task."""
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [
        subprocess.Popen(
            [sys.executable, script, *map(str, args)],
            env=_env(
                SLURM_PROCID=str(r),
                SLURM_STEP_NUM_TASKS=str(n),
                SLURM_LOCALID=str(r),
                SLURM_JOB_ID="4242",
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=str(port),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(n)
    ]
    outputs = [p.communicate()[0] for p in procs]
    return [(p.returncode, out) for p, out in zip(procs, outputs, strict=True)]


def invoke(*args: object):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_whole_data_computations_refuse_a_sharded_objective(monkeypatch):
    """Dense references and Bezier curves need every sample in the process; a sharded
    objective is refused with the fix (set as `Objective` sets it under torchrun)."""
    from lossatlas import paths
    from lossatlas.core import reference

    split = zoo.dataset("xor")
    obj = Objective(zoo.build_for("xor", split), split.train, loss="mse", dtype=torch.float64)
    theta = obj.point()
    monkeypatch.setattr(obj, "sharded", True)
    with pytest.raises(ValueError, match=r"dense references need the whole data.*shard=False"):
        reference.hessian(obj, theta)
    with pytest.raises(ValueError, match=r"minibatches of the whole data.*shard=False"):
        paths.bezier(obj, theta, theta + 1, steps=1)


def test_library_under_two_processes_equals_one_process(tmp_path):
    """Objective sums, curvature, paths, shared surface stores and barrier matrices
    (launched as srun would: the torchrun launch is tested with `lossatlas surface`)."""
    sys.path.insert(0, str(HERE))
    try:
        import distributed_worker as worker
    finally:
        sys.path.remove(str(HERE))
    runs = srun(tmp_path, script=HERE / "distributed_worker.py")
    assert [code for code, _ in runs] == [0, 0], runs
    got = torch.load(tmp_path / "results.pt")

    def make(data, **kw):
        return Objective(worker.problem()[0], data, dtype=torch.float64, **kw)

    obj, theta, _, want = worker.compute(make)
    assert not obj.sharded
    from lossatlas import curvature, paths, surface

    want["density"] = torch.as_tensor(
        curvature.density(obj, theta, draws=4, steps=6, block=3, sigma=0.1).values
    )
    plane = surface.random_plane(obj, theta, grid=(5, 4), chunk=3, progress=False)
    for name in ("surface", "surface_memory"):  # chunks shared out: the same arithmetic
        assert np.array_equal(got[name].numpy(), plane.loss.values), name
    want["surface_lockstep"] = torch.as_tensor(plane.loss.values)
    solutions = [theta, theta + 0.3 * worker.problem()[3][0], theta - 0.2 * worker.problem()[3][1]]
    want["barriers"] = torch.as_tensor(
        paths.barrier_matrix(obj, solutions, method="linear", points=5).height.values
    )
    for name, expected in want.items():  # sums over two shards: equal to rounding
        assert torch.allclose(got[name], expected.to(got[name]), rtol=1e-9, atol=1e-12), name
    assert np.array_equal(load(tmp_path / "surface.zarr").loss.values, plane.loss.values)


def test_surface_command_under_torchrun_equals_one_process(tmp_path):
    args = ["surface", "-m", "xor", "-d", "xor", "--grid", "7,5", "--chunk", "4", "--float64"]
    run = torchrun("-m", "lossatlas", *args, "--out", tmp_path / "two")
    assert run.returncode == 0, run.stdout + run.stderr
    invoke(*args, "--out", tmp_path / "one")
    one, two = load(tmp_path / "one" / "surface.zarr"), load(tmp_path / "two" / "surface.zarr")
    for name in ("loss", "test_loss"):
        assert np.array_equal(one[name].values, two[name].values), name
    assert (tmp_path / "two" / "contour.png").stat().st_size > 0  # rank 0 drew the figures
    assert run.stdout.count("lossatlas surface (plane)") == 1  # rank 1 prints nothing


def test_spectrum_path_and_a_refusal_under_srun(tmp_path):
    """spectrum (sharded data), path (sharded data) and, last, a store of other settings,
    which rank 0 refuses and every process then stops on, with rank 0's message."""
    split = zoo.dataset("xor")
    for seed in (0, 1):
        save_checkpoint(tmp_path / f"{seed}.pt", zoo.build_for("xor", split, seed=seed))
    common = ["-m", "xor", "-d", "xor", "--float64"]
    spectrum = ["spectrum", "density", *common, "--draws", "3", "--steps", "6", "--sigma", "0.05"]
    path = ["path", tmp_path / "0.pt", tmp_path / "1.pt", *common, "--points", "9"]
    path += ["--terms", "2", "--steps", "5", "--lr", "0.05", "--grid", "5"]
    refused = ["surface", *common, "--grid", "3", "--out", tmp_path / "surface"]
    invoke(*refused, "--seed", "1")
    spectrum_two = [*spectrum, "--out", tmp_path / "spectrum" / "two"]
    path_two = [*path, "--out", tmp_path / "path" / "two"]
    runs = srun(*spectrum_two, "--then", *path_two, "--then", *refused, "--seed", "2")
    assert [code for code, _ in runs] == [2, 2], runs
    assert all("other settings" in out and "Traceback" not in out for _, out in runs), runs
    invoke(*spectrum, "--out", tmp_path / "spectrum" / "one")
    invoke(*path, "--out", tmp_path / "path" / "one")
    one, two = (
        xr.open_zarr(tmp_path / "spectrum" / n / "density.zarr", consolidated=False)
        for n in ("one", "two")
    )
    assert np.allclose(one.node.values, two.node.values, rtol=1e-10, equal_nan=True)
    assert np.allclose(one.density.values, two.density.values, rtol=1e-8)
    one, two = (
        xr.open_zarr(tmp_path / "path" / n / "fourier.zarr", consolidated=False)
        for n in ("one", "two")
    )
    assert np.allclose(one.loss.values, two.loss.values, rtol=1e-10)
    assert (tmp_path / "path" / "two" / "plane.png").stat().st_size > 0


def test_launch_environment_of_torchrun_srun_and_a_batch_script(monkeypatch):
    for name in [k for k in os.environ if k in LAUNCH_VARS or "SLURM" in k]:
        monkeypatch.delenv(name)
    assert distributed.launch_environment() is None
    monkeypatch.setenv("SLURM_NTASKS", "4")  # a batch script: one process, not four
    monkeypatch.setenv("SLURM_PROCID", "0")
    assert distributed.launch_environment() is None
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "4")  # a task of `srun -n 4`
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    monkeypatch.setenv("SLURM_JOB_ID", "1234")
    monkeypatch.setenv("SLURM_STEP_NODELIST", "gpu[07-08,11],cpu1")
    assert distributed.launch_environment() == {
        "rank": 3,
        "world_size": 4,
        "local_rank": 1,
        "master_addr": "gpu07",
        "master_port": "29734",
    }
    monkeypatch.setenv("WORLD_SIZE", "2")  # torchrun inside an allocation wins
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29600")
    env = distributed.launch_environment()
    assert env is not None and (env["rank"], env["world_size"]) == (1, 2)
    assert (env["master_addr"], env["master_port"]) == ("10.0.0.1", "29600")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.launch_environment() is None


@pytest.mark.parametrize(
    ("nodelist", "first"),
    [("node1", "node1"), ("a[3-5]", "a3"), ("a[09,11-12]-ib,b2", "a09-ib"), ("x,y", "x")],
)
def test_first_host_of_a_slurm_node_list(nodelist, first):
    assert distributed.first_host(nodelist) == first


@pytest.mark.parametrize(
    "command",
    ["train -m xor -d xor", "study optimizers", "study solutions", "study asymmetry",
     "topology -m xor -d xor"],
)  # fmt: skip
def test_one_process_commands_refuse_a_distributed_launch(monkeypatch, tmp_path, command):
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = CliRunner().invoke(app, [*command.split(), "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    name = command.split(" -")[0]  # the command without its flags
    assert f"`lossatlas {name}` runs in one process" in " ".join(result.output.split())
    assert not any(tmp_path.iterdir())

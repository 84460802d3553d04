"""Regenerate the documentation's figures: .venv/bin/python docs/make_figures.py"""

from pathlib import Path

import torch

from lossatlas import Objective, curvature, paths, plot, surface, topology, zoo
from lossatlas.geometry import fdc
from lossatlas.optim import train
from lossatlas.plot import curvature as plot_curvature
from lossatlas.plot import geometry as plot_geometry
from lossatlas.plot import paths as plot_paths
from lossatlas.plot import runs as plot_runs
from lossatlas.plot import topology as plot_topology
from lossatlas.zoo.data import teacher_mlp

HERE = Path(__file__).parent / "img"


def main() -> None:
    split = zoo.dataset("digits")
    model = zoo.build_for("fcp", split, seed=0)
    run = train(model, split, optimizer="sgd", epochs=40, lr=0.3, record_every=22, progress=False)
    obj = Objective(model, split.train)
    ds = surface.pca_plane(
        obj, run.trajectory, grid=(41, 41), steps=run.history["step"], progress=False
    )
    ds.attrs["title"] = "digits FCP: loss over the PCA plane of its SGD trajectory"
    plot.save(plot.contour(ds, log=True), HERE / "pca_plane.png")
    density = curvature.density(obj, run.theta, draws=10, steps=90, seed=0)
    fig = plot_curvature.density_plot(
        density, title="digits FCP after SGD: Hessian eigenvalue density (SLQ, k=10, m=90)"
    )
    plot.save(fig, HERE / "density.png")
    training_figure(run)
    landscape_paths()
    merge_tree_figure()
    fdc_figure()


def training_figure(plain) -> None:
    """Plain SGD at lr 0.3 (spiky), the demo's SGD (momentum 0.9, cosine from 0.03) and
    L-BFGS-GSS, from one initialisation of the digits FCP."""
    split = zoo.dataset("digits")
    demo_sgd = train(
        zoo.build_for("fcp", split, seed=0), split, optimizer="sgd", epochs=40, lr=0.03,
        momentum=0.9, schedule="cosine", record_every=22, progress=False,
    )  # fmt: skip
    lbfgs_model = zoo.build_for("fcp", split, seed=0)
    lbfgs = train(lbfgs_model, split, optimizer="lbfgs-gss", epochs=150, progress=False)
    runs = {
        "SGD 0.3": plain.history,
        "SGD demo": demo_sgd.history,
        "L-BFGS-GSS": lbfgs.history,
    }
    plot.save(plot_runs.training_curves(runs, "epoch · iteration"), HERE / "training.png")


def merge_tree_figure() -> None:
    """The merge tree of Himmelblau's function on a 101 × 101 grid: four minima, one maximum."""
    wells = zoo.landscape("himmelblau")
    (x0, x1), (y0, y1) = wells.bounds
    xs, ys = torch.linspace(x0, x1, 101), torch.linspace(y0, y1, 101)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="ij"), dim=-1)
    values = wells.energy(grid.double()).numpy()
    tree = topology.merge_tree(values)
    plot.save(plot_topology.merge_tree_plot(tree), HERE / "merge_tree.png")


def fdc_figure() -> None:
    """Gallagher's fitness–distance scatter around the teacher of the student-teacher data."""
    split = zoo.dataset("student-teacher")
    theta_star = split.info["teacher_parameters"].double()
    model = teacher_mlp([4, 8, 1], theta_star)
    obj = Objective(model, split.train, loss="mse", dtype=torch.float64)
    ds = fdc(obj, theta_star, count=2000, radius=3.0)
    plot.save(plot_geometry.fdc_figure(ds), HERE / "fdc.png")


def landscape_paths() -> None:
    """The optimizer-strategies paper's Fig. 3 set-up on the two-wells landscape."""
    wells = zoo.landscape_objective("two-wells")
    a, b = wells.model.minima[0], wells.model.minima[1]
    results = [paths.linear(wells, a, b, points=101)]
    for penalty in (0.1, 1.0, 35.0):
        results.append(
            paths.fourier(
                wells, a, b, terms=15, points=101, penalty=penalty, steps=300, lr=0.01,
                noise=1.0, seed=0, progress=False,
            )
        )  # fmt: skip
    plot.save(plot_paths.landscape_paths(wells, results), HERE / "landscape_paths.png")


if __name__ == "__main__":
    main()

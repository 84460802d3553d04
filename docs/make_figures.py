"""Regenerate the README's figures: .venv/bin/python docs/make_figures.py"""

from pathlib import Path

from lossatlas import Objective, curvature, paths, plot, plot_curvature, plot_paths, surface, zoo
from lossatlas.optim import train

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
    landscape_paths()


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

"""`lossatlas zoo` and `lossatlas env`: what ships, and what is installed."""

from __future__ import annotations

import platform

from rich.table import Table

from lossatlas.cli.common import _show_settings, app, console


@app.command(name="zoo")
def zoo_list() -> None:
    """List the shipped models, data sets and landscapes.

    Everything listed ships with lossatlas: nothing is downloaded.
    """
    from lossatlas import zoo

    table = Table(title="lossatlas zoo")
    table.add_column("kind")
    table.add_column("names")
    table.add_row("models", ", ".join(sorted(zoo.MODELS)))
    table.add_row("data sets", ", ".join(sorted(zoo.DATASETS)))
    table.add_row("landscapes", ", ".join(sorted(zoo.LANDSCAPES)))
    console.print(table)


@app.command()
def env() -> None:
    """Versions of lossatlas and its dependencies, for bug reports."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    rows = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in (
        "lossatlas",
        "torch",
        "numpy",
        "scipy",
        "scikit-learn",
        "xarray",
        "zarr",
        "matplotlib",
        "plotly",
        "typer",
        "rich",
    ):
        try:
            rows[pkg] = version(pkg)
        except PackageNotFoundError:
            rows[pkg] = "not installed"
    rows["cuda"] = torch.version.cuda or "none"
    rows["gpus"] = str(torch.cuda.device_count())
    _show_settings("lossatlas env", rows)

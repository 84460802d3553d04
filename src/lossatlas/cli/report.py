"""`lossatlas report`: the HTML report of a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lossatlas.cli.common import _fail, app, console


@app.command()
def report(
    run_dir: Annotated[
        Path, typer.Argument(help="a directory holding the outputs of lossatlas commands")
    ],
    out: Annotated[
        Path | None, typer.Option(help="the page to write (default: RUN_DIR/report.html)")
    ] = None,
) -> None:
    """One self-contained HTML page of a run directory.

    Every analysis found below the directory, interactive figures included, offline.
    """
    from lossatlas import report as reports

    try:
        path = reports.build(run_dir, out)
    except (ValueError, FileNotFoundError) as err:
        _fail(err)
    console.print(f"report: [bold]{path}[/] ({path.stat().st_size / 2**20:.1f} MiB)")

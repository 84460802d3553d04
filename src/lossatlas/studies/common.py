"""What every study shares: its result, its objectives, its tables and figures on disk."""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import torch
import xarray as xr
from torch import Tensor, nn

from lossatlas.core.objective import Objective


@dataclass
class StudyResult:
    """What a study wrote and found.

    Attributes:
        out: the study's folder (its `lossatlas.json` manifest lists everything).
        table: the summary table, one dict per row (also in the manifest).
        results: key numbers (also in the manifest).
        datasets: the labelled arrays written, by name (e.g. "analysis").
        figures: paths of the figures written.
        tables: further tables by name (the summary is `table`).
    """

    out: Path
    table: list[dict[str, Any]]
    results: dict[str, Any]
    datasets: dict[str, xr.Dataset] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def print(self, title: str | None = None) -> None:
        """Print the summary table (and the further tables) to the terminal."""
        print_table(self.table, title or "summary")
        for name, rows in self.tables.items():
            print_table(rows, name)


def print_table(rows: list[dict[str, Any]], title: str) -> None:
    """A list of dicts as a rich table; floats to 4 significant digits."""
    from rich.console import Console
    from rich.table import Table

    if not rows:
        return
    table = Table(title=title)
    for col in rows[0]:
        table.add_column(str(col), justify="right")
    cells = [[_cell(v) for v in row.values()] for row in rows]
    for row in cells:
        table.add_row(*row)
    # wide enough that no column is cut, even where the terminal's width is unknown (80)
    widths = [max(len(str(c)), *(len(r[i]) for r in cells)) for i, c in enumerate(rows[0])]
    console = Console()
    console.width = max(console.width, sum(widths) + 3 * len(widths) + 1)
    console.print(table)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def has_batchnorm(model: nn.Module) -> bool:
    """Whether the model has a BatchNorm layer."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def objective_for(
    model: nn.Module,
    data: Any,
    loss: str,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Objective:
    """L(θ) on `data` on `device`; a network with BatchNorm normalises with the statistics
    of all of `data` at every θ (mode "train", one batch), i.e. its statistics are
    recomputed at each point, as He et al. (2019) and Garipov et al. (2018) evaluate
    interpolations."""
    mode = "train" if has_batchnorm(model) else "eval"
    return Objective(model, data, loss=loss, mode=mode, dtype=dtype, device=device, check=False)


def study_device(device: torch.device | str | None) -> str:
    """The device a study computes on, checked here (None: the CPU), as a name for its
    manifest and its worker processes.

    Not a setting that decides whether finished work is reused: runs, stores and
    studies begun on one device resume on another (results agree to float tolerance).

    Raises:
        DeviceUnavailable: a device this machine does not have.
    """
    from lossatlas.core.devices import resolve_device

    return str(resolve_device(device))


def predictions(model: nn.Module, checkpoint: str | PathLike, x: Tensor) -> Tensor:
    """Class predictions of the checkpointed network (eval mode, its own BatchNorm
    statistics), in batches."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            param = next(model.parameters())
            return torch.cat([model(b.to(param)).argmax(1) for b in x.split(1024)])
    finally:
        model.train(was)


def check_positive(**values: Any) -> None:
    """Raise a ValueError naming the first value that is not an integer ≥ its minimum."""
    for name, (value, low) in values.items():
        if not (isinstance(value, int) and not isinstance(value, bool) and value >= low):
            raise ValueError(f"`{name}` must be an integer ≥ {low}; got {value!r}.")


def settings_from(arguments: dict[str, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A study's settings from its arguments (`locals()` at its first line), minus
    those that do not change a result (the folder, workers, progress). The device is
    kept, to be recorded in the manifest; no study compares it on resuming."""
    skip = {"out", "workers", "progress", *drop}
    return {
        k: (dict(v) if isinstance(v, dict) else v) for k, v in arguments.items() if k not in skip
    }


def save_figure(
    folder: Path, name: str, fig: Any, fig_json: dict[str, Any] | None, caption: str
) -> list[tuple[Path, str]]:
    """Write `name`.png (matplotlib) and, given, `name`.plotly.json; (path, caption) pairs."""
    from lossatlas import plot
    from lossatlas.results.files import write_json

    written = [(plot.save(fig, folder / f"{name}.png"), caption)]
    if fig_json is not None:
        written.append((write_json(folder / f"{name}.plotly.json", fig_json), caption))
    return written

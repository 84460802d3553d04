"""The `lossatlas` command: a thin shell over the library.

Every command resolves its settings, prints them, runs library functions and
writes what they return; no analysis lives here. One module per command group.
"""

from lossatlas.cli import (  # noqa: F401  (registers the commands)
    demo,
    geometry,
    geometry_search,
    info,
    paths,
    report,
    spectrum,
    study,
    surface,
    topology,
    train,
)
from lossatlas.cli.common import app

__all__ = ["app"]

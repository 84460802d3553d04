"""`lossatlas --help` lists every command with a one-line summary."""

import re

import pytest
import typer
from typer.testing import CliRunner

from lossatlas.cli import app
from lossatlas.cli.config import EPILOG

MAX = 60  # characters of a command's summary line: one line in an 80-column terminal


def commands(group, prefix=()):
    """(path, click command) of every command and group below `group`."""
    for name, command in group.commands.items():
        yield (*prefix, name), command
        if hasattr(command, "commands"):
            yield from commands(command, (*prefix, name))


def test_every_command_has_a_one_line_summary():
    root = typer.main.get_command(app)
    found = list(commands(root))
    assert {"demo", "report", "train", "surface", "spectrum", "path", "barriers"} <= {
        p[0] for p, _ in found
    }
    for path, command in found:
        help_text = (command.help or "").strip()
        first = help_text.split("\n\n")[0]
        assert first, f"`lossatlas {' '.join(path)}` has no docstring"
        assert "\n" not in first, f"`lossatlas {' '.join(path)}`: the summary spans lines"
        assert len(first) <= MAX, f"`lossatlas {' '.join(path)}`: summary over {MAX} characters"
        if not hasattr(command, "commands"):
            assert command.epilog == EPILOG or any("--config" in p.opts for p in command.params)


def help_rows(args, width):
    """`lossatlas ARGS --help` at `width` columns: (output, {command: its summary row})."""
    result = CliRunner().invoke(app, [*args, "--help"], terminal_width=width,
                                env={"COLUMNS": str(width)})  # fmt: skip
    assert result.exit_code == 0
    rows = {}
    for line in result.output.splitlines():
        m = re.match(r"│ (\S+)\s{2,}(.+?)\s*│$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return result.output, rows


@pytest.mark.parametrize("group", [(), ("geometry",), ("study",)], ids=str)
def test_help_lists_every_command_on_one_line_in_80_columns(group):
    _, rows = help_rows(group, 80)
    command = typer.main.get_command(app)
    for name in group:
        command = command.commands[name]
    for name, sub in command.commands.items():
        assert rows.get(name) == sub.help.split("\n\n")[0].strip(), name


def test_help_lists_every_command_on_one_line():
    output, rows = help_rows((), 140)
    root = typer.main.get_command(app)
    for name, command in root.commands.items():
        assert rows.get(name) == command.help.split("\n\n")[0].strip(), name
    assert "--config FILE" in " ".join(output.split())

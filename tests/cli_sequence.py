"""Run several `lossatlas` command lines in one process (tests/test_distributed.py).

Usage: python cli_sequence.py ARGS... [--then ARGS...]...; stops at the first
command that fails, with its exit code. It saves the start-up of a process per
command when each launch starts several processes.
"""

import sys

from lossatlas.cli import app


def main(argv: list[str]) -> int:
    commands, current = [], []
    for arg in argv:
        if arg == "--then":
            commands.append(current)
            current = []
        else:
            current.append(arg)
    commands.append(current)
    for args in commands:
        code = app(args, prog_name="lossatlas", standalone_mode=False)  # the exit code
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

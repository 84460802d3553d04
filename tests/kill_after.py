"""Run a `lossatlas` command that SIGKILLs itself mid-way (tests/test_interruption.py).

Usage: python kill_after.py K LOG ARGS...

Every chunk the command stores (`GridStore.write`) is appended to LOG as it
is written. After K chunks, the next one is torn on purpose: its values are
written but, before its `done` flag, the process kills itself with SIGKILL,
the signal nothing can catch. K < 0 never kills (the resumed run).
"""

import os
import signal
import sys

import numpy as np

from lossatlas.cli import app
from lossatlas.results.store import GridStore


def main(limit: int, log: str, args: list[str]) -> int:
    original = GridStore.write
    written = 0

    def write(self, index, values):
        nonlocal written
        if written == limit:
            where = self.span(index)
            for name in self.variables:  # the values, but not the done flag
                self._group[name][where] = np.asarray(values[name], dtype=np.float64)
            os.kill(os.getpid(), signal.SIGKILL)
        original(self, index, values)
        with open(log, "a") as f:
            f.write(f"{index}\n")
        written += 1

    GridStore.write = write
    return app(args, prog_name="lossatlas", standalone_mode=False) or 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), sys.argv[2], sys.argv[3:]))

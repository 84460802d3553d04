"""`python -m lossatlas ...`: the `lossatlas` command (also `torchrun -m lossatlas ...`)."""

from lossatlas.cli import app

if __name__ == "__main__":
    app(prog_name="lossatlas")

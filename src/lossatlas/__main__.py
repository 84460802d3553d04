"""`python -m lossatlas ...`, the same as the `lossatlas` command (and `torchrun -m lossatlas ...`)."""

from lossatlas.cli import app

if __name__ == "__main__":
    app(prog_name="lossatlas")

"""Shortening other libraries' errors for messages that name the problem first."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def cause(err: BaseException) -> str:
    """The first sentence of an exception's message (its type when it has none).

    torch and NumPy errors often run to a paragraph of advice that does not
    apply (torch.load on a file that is no checkpoint suggests unsafe
    unpickling); the first sentence says what failed, and ours says what to do.
    """
    text = str(err).strip()
    if not text:
        return type(err).__name__
    first = text.splitlines()[0]
    end = first.find(". ")
    return (first[: end + 1] if end >= 0 else first).rstrip(".")


def read_file(path: Path, read: Callable[[Path], T], what: str) -> T:
    """`read(path)`, with what torch.load and np.load raise on a foreign file said plainly.

    Raises:
        ValueError: "'path' is not a readable <what> (<cause>)".
    """
    try:
        return read(path)
    except IsADirectoryError:
        raise ValueError(f"{str(path)!r} is a folder; give a {what}.") from None
    except (KeyError, IndexError, AttributeError, UnicodeDecodeError) as err:
        # The unpickler reading a text file takes its first letter for an opcode and
        # fails with `KeyError: 101` ('e'): the file is no pickle at all.
        raise ValueError(
            f"{str(path)!r} is not a readable {what} (not a file torch.save or NumPy wrote: "
            f"{type(err).__name__} {cause(err)})."
        ) from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError) as err:
        raise ValueError(f"{str(path)!r} is not a readable {what} ({cause(err)}).") from None

"""Shortening other libraries' errors for messages that name the problem first."""

from __future__ import annotations


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

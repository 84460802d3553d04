"""Looking a name up in one of the zoo's registries (data sets, landscapes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def lookup(registry: Mapping[str, T], name: str) -> T:
    """`registry[name]`, names case-insensitive and with ``_`` standing for ``-``.

    Raises:
        ValueError: for an unknown name; the message lists the known ones.
    """
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else name
    if key not in registry:
        known = ", ".join(repr(k) for k in registry)
        raise ValueError(f"`name` must be one of {known}; got {name!r}.")
    return registry[key]

"""Keyword arguments from the command line, read as the function they go to expects.

`--model-arg shortcut=false` arrives as text. Read as a Python literal it is
the string 'false', which is true, so a "no shortcut" ResNet would silently
keep its shortcuts. `coerce_keywords` reads each value against the
annotation of the parameter it is for: booleans from true/false, yes/no,
on/off, 1/0 (any case), integers that are integers, floats from numbers,
sequences from comma-separated lists (one value is a list of one), and text
from anything scalar; a value that does not fit is refused, naming the
argument, what it must be and what was given. A keyword the function does not
take is refused with the list of those it does.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _base(annotation: Any) -> tuple[Any, bool]:
    """(the annotation without `| None`, whether None is allowed)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        return (args[0] if len(args) == 1 else annotation), optional
    return annotation, False


def _coerce(value: Any, annotation: Any, label: str) -> Any:
    base, optional = _base(annotation)
    if value is None or (isinstance(value, str) and value.lower() == "none" and optional):
        if optional or base is Any:
            return None
        raise ValueError(f"{label} must be a {getattr(base, '__name__', base)}; got None.")
    if base is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"{label} must be true or false (or yes/no, 1/0); got {value!r}.")
    if base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValueError(f"{label} must be an integer; got {value!r}.")
    if base is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ValueError(f"{label} must be a number; got {value!r}.")
    if base is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"{label} must be text; got {value!r}.")
    if typing.get_origin(base) in (collections.abc.Sequence, list, tuple):
        args = [a for a in typing.get_args(base) if a is not Ellipsis]
        items = value if isinstance(value, (list, tuple)) else (value,)  # hidden=50: one layer
        if isinstance(value, str):
            raise ValueError(f"{label} must be a comma-separated list (e.g. 64,16); got {value!r}.")
        element = args[0] if len(set(args)) == 1 else Any
        return tuple(_coerce(v, element, f"{label} (each entry)") for v in items)
    return value  # unions, callables: the function checks them itself


def coerce_keywords(fn: Callable[..., Any], kw: Mapping[str, Any], what: str) -> dict[str, Any]:
    """`kw` read against `fn`'s signature; `what` names the flag in errors (`--model-arg`).

    Raises:
        ValueError: a keyword `fn` does not take (the message lists the ones
            it does), or a value that does not fit its parameter's annotation.
    """
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature: nothing to read it against
        return dict(kw)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation that cannot be resolved: check names only
        hints = {}
    named = [n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    out = {}
    for key, value in kw.items():
        if key not in params and not takes_any:
            raise ValueError(
                f"{what} {key}={value!r}: {getattr(fn, '__name__', fn)!s} takes no keyword "
                f"{key!r}; it takes {', '.join(named) or 'none'}."
            )
        annotation = hints.get(key, Any)
        out[key] = _coerce(value, annotation, f"{what} {key}")
    return out

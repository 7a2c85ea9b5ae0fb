"""Known keys: which keys a stack file may write at a place, and the closest one to a typo.

The models are the one list of keys (camelCase aliases, as in the file). :func:`models_at`
follows a key path through them, the way pydantic's error locations do: through optional
values, lists (an index), switched unions (both variants, since either may be meant) and the
parts of a location that are not keys (:data:`~components.config.switch.TRANSPARENT_LOC`).
:func:`unknown_key` is the message of a key that is not among them, with a "did you mean" when
one known key is close.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Final, Union, get_args, get_origin

from pydantic import BaseModel

from components.config.switch import TRANSPARENT_LOC, UNUSED

_CUTOFF: Final = 0.6
"""difflib's similarity ratio a known key needs to be suggested (``stepz``/``steps``: 0.8)."""

_LISTED: Final = 12
"""Without a close key, at most this many known keys are listed in the message."""


def models_of(annotation: Any) -> list[type[BaseModel]]:
    """The models a field's annotation holds: through Annotated, unions, optionals, lists."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return models_of(get_args(annotation)[0])
    if origin in (Union, types.UnionType, tuple, list):
        found: list[type[BaseModel]] = []
        for arg in get_args(annotation):
            if arg is not Ellipsis:
                found += [m for m in models_of(arg) if m not in found]
        return found
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def key_of(model: type[BaseModel], name: str) -> str:
    """The stack-file spelling (camelCase alias) of a field."""
    return model.model_fields[name].alias or name


def keys_of(models: Iterable[type[BaseModel]]) -> list[str]:
    """Stack-file keys of these models (a switch's variants together), in declaration order."""
    keys: list[str] = []
    for model in models:
        keys += [key_of(model, n) for n in model.model_fields if n != UNUSED]
    return list(dict.fromkeys(keys))


def models_at(root: type[BaseModel], loc: Sequence[int | str]) -> list[type[BaseModel]]:
    """The models that hold the keys at ``loc`` (a pydantic error location under ``root``)."""
    models = [root]
    for part in loc:
        if isinstance(part, int) or part in TRANSPARENT_LOC or part in {"str", "int"}:
            continue
        following: list[type[BaseModel]] = []
        for model in models:
            for name, info in model.model_fields.items():
                if part in (name, info.alias):
                    following += models_of(info.annotation)
        models = following
    return models


def closest(key: str, known: Iterable[str]) -> str | None:
    """The known key nearest to ``key`` (case ignored), if one is close enough."""
    import difflib  # only a stack file with an unknown key pays for it (issue 14 item 8)

    by_lower = {k.lower(): k for k in known}
    found = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=_CUTOFF)
    return by_lower[found[0]] if found else None


def unknown_key(key: str, known: Sequence[str]) -> str:
    """The message after the key path: ``is not a known key; did you mean steps?``."""
    suggestion = closest(key, known)
    if suggestion is not None:
        return f"is not a known key; did you mean {suggestion}?"
    if not known:
        return "is not a known key"
    listed = ", ".join(sorted(known)[:_LISTED]) + (", ..." if len(known) > _LISTED else "")
    return f"is not a known key (known here: {listed})"

"""Problems and messages: one line per thing wrong with a stack file, and the error that carries them.

A :class:`Problem` names the key path under ``cicd:`` (or ``cicd-platform:``), what is wrong and
the value; :meth:`Problem.line` escapes the line (components/messages.py) so that no value can
break it or read as a workflow command. Pydantic's errors are turned into the same shape here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import pulumi
from pydantic import BaseModel, ValidationError

from components.config.keys import keys_of, models_at, unknown_key
from components.config.switch import TRANSPARENT_LOC
from components.messages import escape

NAMESPACE: Final = "cicd"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a stack file: the key path under ``cicd:``, what is wrong, the value."""

    path: str
    message: str
    got: str | None = None
    namespace: str = NAMESPACE

    def line(self, stack_file: str) -> str:
        """One line, whatever the values hold: escaped (components/messages.py)."""
        got = f" (got {self.got})" if self.got is not None else ""
        return escape(f"{stack_file}: {self.namespace}:{self.path} {self.message}{got}")


class ConfigError(pulumi.RunError):
    """Raised when a stack file is invalid; its message is one line per problem, no traceback.

    ``pulumi.RunError`` makes the Pulumi CLI print the message without a stack trace, and the
    offline render prints the same lines and exits 1.
    """

    def __init__(self, stack_file: str, problems: Sequence[Problem]) -> None:
        self.stack_file = stack_file
        self.problems = tuple(problems)
        self.lines = tuple(p.line(stack_file) for p in self.problems)
        super().__init__("\n".join(self.lines))


_TYPE_WORDS: Final = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "missing": "is required",
}


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"str", "int"} or part in TRANSPARENT_LOC:  # union tags, set-aside: not keys
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def show_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def problems_from(error: ValidationError, model: type[BaseModel]) -> list[Problem]:
    """One problem per key path; an unknown key names the closest known key of ``model`` there."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for item in error.errors(include_url=False):
        path = _path(item["loc"])
        kind = item["type"]
        if kind == "extra_forbidden":
            # The key is the mistake, not its value: the line names the key it could have been.
            known = keys_of(models_at(model, item["loc"][:-1]))
            problems.append(Problem(path, unknown_key(str(item["loc"][-1]), known)))
            seen.add(path)
            continue
        if kind == "value_error":
            message = str(item["msg"]).removeprefix("Value error, ")
        elif kind == "enum":
            message = f"must be one of {item['ctx']['expected'].replace(chr(39), '')}"
        else:
            message = _TYPE_WORDS.get(kind, str(item["msg"]).lower())
        if path in seen:  # a union reports each member; one line per key is enough
            continue
        seen.add(path)
        got = None if kind == "missing" else show_value(item["input"])
        problems.append(Problem(path, message, got))
    return problems

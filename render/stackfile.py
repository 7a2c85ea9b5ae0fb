"""Reading ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` as untrusted input.

The render runs on pull requests, forks included, so a stack file is read the way a careful
parser reads hostile text. Every problem ends in exactly one line,
``Pulumi.<stack>.yaml:<line>:<col>: <what>`` (1-based, as editors count), never a traceback:

- syntax errors, tabs used for indentation and bytes that are not UTF-8 are reported where they
  are;
- duplicate keys are an error: the YAML spec forbids them, and PyYAML would silently keep the last
  one, which can switch prod deploys on behind a reviewer's back;
- aliases (``*name``) are refused outright. Nothing in a stack file needs them, and refusing them
  (rather than bounding their expansion) removes the "billion laughs" blow-up by construction;
- nesting deeper than :data:`MAX_DEPTH` and files larger than :data:`MAX_BYTES` are refused, so the
  parser's recursion and memory stay bounded;
- only plain data is accepted: strings, numbers, booleans, null, lists and mappings with string
  keys. Explicit tags (``!!binary``, ``!!set``, ``!!python/...``) are refused. A value that YAML 1.1
  would read as a date (``2024-01-01``) stays the string it is, as the Pulumi CLI (YAML 1.2) reads it;
- an empty file, a top level that is not a mapping, and a ``config:`` that is not a mapping are
  errors that say what the file must hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml
from yaml.composer import ComposerError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from components.config.keys import closest
from components.messages import escape

MAX_BYTES: Final = 1024 * 1024
"""A stack file holds settings, not data: 1 MiB is far beyond any real one."""

STACK_FILE_KEYS: Final = frozenset(
    {"config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"}
)
"""Top-level keys of a Pulumi stack file (the automation API's ``StackSettings``,
sdk/python/lib/pulumi/automation/_stack_settings.py: secretsprovider, encryptedkey,
encryptionsalt, config; ``environment`` imports Pulumi ESC environments): never taken for a
misspelt ``config:``."""

MAX_DEPTH: Final = 64
"""Deepest nesting of lists and mappings; the real stack files use 5."""

_PLAIN_TAGS: Final = frozenset(
    {
        "tag:yaml.org,2002:str",
        "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float",
        "tag:yaml.org,2002:bool",
        "tag:yaml.org,2002:null",
        "tag:yaml.org,2002:seq",
        "tag:yaml.org,2002:map",
    }
)
_TIMESTAMP: Final = "tag:yaml.org,2002:timestamp"
_STR: Final = "tag:yaml.org,2002:str"


class StackFileError(Exception):
    """A stack or project file that cannot be read as plain YAML data: one line, exit 1."""

    def __init__(self, file_name: str, line: int, column: int, what: str) -> None:
        self.file_name = file_name
        self.line_text = f"{file_name}:{line}:{column}: {escape(what)}"
        self.lines = (self.line_text,)
        super().__init__(self.line_text)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and bounds nesting while the node tree is composed."""

    depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise ComposerError(
                None,
                None,
                "aliases (*name) are not allowed in stack files; write the value out",
                event.start_mark,
            )
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                event = self.peek_event()  # type: ignore[no-untyped-call]
                raise ComposerError(
                    None, None, f"nesting deeper than {MAX_DEPTH} levels", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _where(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _check_plain(node: Node, file_name: str) -> None:
    """Refuse tags that would build non-data objects; check keys are strings and unique."""
    if isinstance(node, ScalarNode):
        if node.tag == _TIMESTAMP:
            node.tag = _STR  # YAML 1.2 (the Pulumi CLI) has no timestamp type
        elif node.tag not in _PLAIN_TAGS:
            raise StackFileError(
                file_name, *_where(node), f"the tag {node.tag} is not allowed; write plain data"
            )
        return
    if node.tag not in _PLAIN_TAGS:
        raise StackFileError(
            file_name, *_where(node), f"the tag {node.tag} is not allowed; write plain data"
        )
    if isinstance(node, SequenceNode):
        for item in node.value:
            _check_plain(item, file_name)
    elif isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == "<<" and key.style is None:
                raise StackFileError(
                    file_name, *_where(key), "merge keys (<<) are not allowed in stack files"
                )
            if not isinstance(key, ScalarNode) or key.tag != _STR:
                raise StackFileError(file_name, *_where(key), "a key must be a string (quote it)")
            if key.value in seen:
                raise StackFileError(
                    file_name,
                    *_where(key),
                    f"duplicate key {key.value!r} (first on line {seen[key.value]}); "
                    "YAML forbids it: keep one",
                )
            seen[key.value] = key.start_mark.line + 1
            _check_plain(value, file_name)


def _yaml_error(err: yaml.YAMLError, file_name: str) -> StackFileError:
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        what = err.problem or err.context or "is not valid YAML"
        if "'\\t'" in what:
            what = "a tab character where YAML needs spaces: indent with spaces"
        else:
            what = f"{what} ({err.context})" if err.context and err.problem else what
        if mark is not None:
            return StackFileError(file_name, mark.line + 1, mark.column + 1, what)
        return StackFileError(file_name, 1, 1, what)
    return StackFileError(file_name, 1, 1, f"is not valid YAML: {err}")


def parse(text: bytes, file_name: str) -> Any:
    """The plain data in ``text``, or :class:`StackFileError`. Empty means ``None``."""
    if len(text) > MAX_BYTES:
        raise StackFileError(file_name, 1, 1, f"is larger than {MAX_BYTES // 1024} KiB")
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as err:
        before = text[: err.start]
        line = before.count(b"\n") + 1
        column = err.start - (before.rfind(b"\n") + 1) + 1
        raise StackFileError(file_name, line, column, "is not UTF-8 text") from None
    loader = _Loader(decoded)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_plain(node, file_name)
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        raise _yaml_error(err, file_name) from None
    finally:
        loader.dispose()


def read_mapping(path: Path, what: str) -> dict[str, Any]:
    """A YAML file whose top level must be a non-empty mapping (``what`` says what it holds)."""
    text = path.read_bytes()
    data = parse(text, path.name)
    if data is None:
        raise StackFileError(path.name, 1, 1, f"is empty; it must be a mapping holding {what}")
    if not isinstance(data, dict):
        raise StackFileError(path.name, 1, 1, f"must be a mapping holding {what}")
    return data


def config_mapping(path: Path) -> dict[str, Any]:
    """The ``config:`` mapping of a stack file, checked to be a mapping of ``namespace:key``."""
    text = path.read_bytes()
    data = parse(text, path.name)
    if data is None:
        raise StackFileError(
            path.name, 1, 1, "is empty; a stack file holds a config: mapping of its settings"
        )
    if not isinstance(data, dict):
        raise StackFileError(
            path.name, 1, 1, "must be a mapping with a config: key holding the stack's settings"
        )
    config = data.get("config")
    if not isinstance(config, dict):
        line = _key_line(text, "config")
        if line > 0:
            what = "config: must be a mapping of settings (namespace:key: value)"
        else:
            # The settings are probably there under a misspelt key (configs:, Config:): name it.
            found = closest("config", [k for k in data if k not in STACK_FILE_KEYS])
            if found is not None:
                line = _key_line(text, found)
                what = f"{found}: is not a stack file key; did you mean config:?"
            else:
                what = "has no config: mapping; put the stack's settings under config:"
        raise StackFileError(path.name, max(line, 1), 1, what)
    return config


def _key_line(text: bytes, key: str) -> int:
    """1-based line of a top-level key, for messages about its value; 0 when absent."""
    for number, line in enumerate(text.decode("utf-8").splitlines(), start=1):
        if line.startswith(f"{key}:"):
            return number
    return 0

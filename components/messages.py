"""One problem, one line: how values from stack files are shown in messages.

A stack file is untrusted (the render runs on pull requests from forks), and what the render
prints lands in a GitHub Actions log, where the runner reads some lines as workflow commands:
a line whose text starts with ``::`` (after leading spaces: ``::error::``, ``::add-mask::``,
``::stop-commands::``) and, in the older syntax, ``##[`` anywhere in a line. :func:`escape`
makes any text safe to print as one line of such a log:

- a backslash, control characters (newline, carriage return, tab, escape, ...) and Unicode line
  and paragraph separators are written as Python-style escapes (``\\n``, ``\\x1b``, ``\\u2028``),
  so one problem is always one line and nothing can move the cursor or fake another line;
- ``::`` at the start of the text (after spaces) gets a leading ``\\`` and ``##[`` becomes
  ``##\\[``, so no line reads as a workflow command even after escaping.

The render applies it to every line it prints, so a message built from any value is safe.
"""

from __future__ import annotations

import re
from typing import Final

_CONTROL: Final = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SHORT: Final = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """``text`` as one printable line that no CI runner reads as a command."""
    out = _CONTROL.sub(_escape_char, text)
    out = out.replace("##[", "##\\[")
    stripped = out.lstrip(" ")
    if stripped.startswith("::"):
        out = out[: len(out) - len(stripped)] + "\\" + stripped
    return out

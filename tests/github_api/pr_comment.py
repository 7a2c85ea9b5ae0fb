"""The pull-request comment the preview job's pulumi/actions step posts, built as that action does.

Fake of: pulumi/actions v7.0.0 (commit 8e5e406f, the SHA .github/workflows/pull-request.yml pins),
``src/libs/pr.ts`` ``handlePullRequestMessage`` and ``trimOutputByCharacters``, with
``stripAnsiControlCodes`` from ``src/libs/utils.ts``: the ``pulumi preview`` output, ANSI codes
removed, is cut to ``MAX_CHARACTER_COMMENT`` = 64,000 characters, from the end by default or from
the front with ``always-include-summary: true`` (action.yml: "This ensures the resources summary
is always included in the comment"), and wrapped in a heading ``#### :tropical_drink: `COMMAND`
on PROJECT/STACK``, a ``<details>`` block with ``<summary>Pulumi report</summary>``, an optional
"View in Pulumi Cloud" link, a ``<pre>`` block and a warning line when it was cut. The action is
TypeScript that cannot run in the tests (no network for its bundle), so this is the model the
test checks the workflow's inputs against. JavaScript's ``length`` counts UTF-16 code units, at
least as many as the characters GitHub counts, so the model's character count is an upper bound.
"""

from __future__ import annotations

import re
from typing import Final

GITHUB_COMMENT_LIMIT: Final = 65_536
"""GitHub refuses an issue or pull-request comment body longer than this (characters)."""
MAX_CHARACTER_COMMENT: Final = 64_000
"""pulumi/actions v7.0.0 ``src/libs/pr.ts``."""
_ANSI: Final = re.compile(r"\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])")
_VIEW_LIVE: Final = "View Live: "


def preview_comment(
    output: str, *, command: str, project: str, stack: str, always_include_summary: bool
) -> str:
    """The comment body for ``output`` (``pulumi preview`` stdout)."""
    output = _ANSI.sub("", output)
    heading = f"#### :tropical_drink: `{command}` on {project}/{stack}"
    summary = "<summary>Pulumi report</summary>"
    message, trimmed = output, False
    if len(output) > MAX_CHARACTER_COMMENT:
        excess = len(output) - MAX_CHARACTER_COMMENT
        message = output[excess:] if always_include_summary else output[: len(output) - excess]
        trimmed = True
    live = next((line for line in output.split("\n") if "View Live:" in line), "")
    link = f"\n[View in Pulumi Cloud]({live.split(_VIEW_LIVE, 1)[1]})\n" if live else ""
    front = (
        ":warning: **Warn**: The output was too long and trimmed from the front."
        if trimmed and always_include_summary
        else ""
    )
    back = (
        ":warning: **Warn**: The output was too long and trimmed."
        if trimmed and not always_include_summary
        else ""
    )
    return "\n".join(
        [
            heading,
            "",
            "<details>",
            summary,
            link,
            front,
            "<pre>",
            message,
            "</pre>",
            back,
            "</details>",
        ]
    )

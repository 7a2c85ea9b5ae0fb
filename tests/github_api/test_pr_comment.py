"""The preview job's pull-request comment fits GitHub's comment limit and keeps the summary.

Given the preview step of .github/workflows/pull-request.yml as written (its pulumi/actions inputs,
its stacks) and a ``pulumi preview --diff`` output far over GitHub's 65,536-character limit (a
workflow file rewritten in every stack), when pulumi/actions v7.0.0 builds its comment
(tests/github_api/pr_comment.py), then the comment fits, says it was cut, and still ends with the
``Resources:`` summary a reviewer reads first.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.conftest import project_path
from tests.github_api.pr_comment import GITHUB_COMMENT_LIMIT, preview_comment

SUMMARY = "Resources:\n    ~ 1 to update\n    141 unchanged\n\nDuration: 9s\n"


def preview_step() -> dict[str, Any]:
    workflow = yaml.safe_load(project_path(".github", "workflows", "pull-request.yml").read_text())
    job = workflow["jobs"]["preview"]
    (step,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    step["stacks"] = job["strategy"]["matrix"]["stack"]
    return dict(step)


def preview_output(lines: int) -> str:
    """What ``pulumi preview --diff`` prints for a workflow file rewritten line by line."""
    head = (
        "Previewing update (prod)\n\nView Live: https://app.pulumi.com/acme/cicd/prod/previews/1\n\n"
        "  pulumi:pulumi:Stack: (same)\n"
        "    ~ github:index/repositoryFile:RepositoryFile: (update)\n"
        "        [urn=urn:pulumi:prod::cicd::cicd:github:PipelineWorkflows$github:index/"
        "repositoryFile:RepositoryFile::pipeline-prod-deploy]\n"
        "      ~ content: (\n"
    )
    body = "".join(
        f"\x1b[31m          - run: echo step {n} of the old workflow\x1b[0m\n"
        f"\x1b[32m          + run: echo step {n} of the new workflow, reworded\x1b[0m\n"
        for n in range(lines)
    )
    return head + body + "        )\n" + SUMMARY


def comment_for(output: str, stack: str, step: dict[str, Any]) -> str:
    project = yaml.safe_load(project_path("Pulumi.yaml").read_text())["name"]
    return preview_comment(
        output,
        command=step["with"]["command"],
        project=project,
        stack=stack,
        always_include_summary=bool(step["with"].get("always-include-summary", False)),
    )


def test_a_huge_preview_fits_one_comment_and_keeps_its_summary() -> None:
    step = preview_step()
    output = preview_output(3000)
    assert len(output) > 2 * GITHUB_COMMENT_LIMIT
    for stack in step["stacks"]:
        comment = comment_for(output, stack, step)
        assert len(comment) <= GITHUB_COMMENT_LIMIT, stack
        assert "The output was too long and trimmed" in comment  # the note says it was cut
        assert SUMMARY.rstrip() in comment, "the Resources: summary was cut off"
        assert "\x1b[" not in comment


@pytest.mark.parametrize("always_include_summary", [False, True])
def test_the_action_cuts_at_the_end_unless_told_to_keep_the_summary(
    always_include_summary: bool,
) -> None:
    comment = preview_comment(
        preview_output(3000),
        command="preview",
        project="cicd",
        stack="prod",
        always_include_summary=always_include_summary,
    )
    assert len(comment) <= GITHUB_COMMENT_LIMIT
    assert ("Resources:" in comment) is always_include_summary


def test_a_small_preview_is_posted_whole() -> None:
    step = preview_step()
    output = preview_output(5)
    comment = comment_for(output, "dev", step)
    assert "trimmed" not in comment
    assert "[View in Pulumi Cloud](https://app.pulumi.com/acme/cicd/prod/previews/1)" in comment
    assert comment.startswith("#### :tropical_drink: `preview` on cicd/dev")

"""``python -m render repo-workflows [--check]``: this repository's own pipeline follows the stack files.

.github/workflows/deploy.yml applies a merged change to the stacks in chain order: ``up`` of the
first stage after the tests, then for each later stage a preview (read by the reviewer) and an
``up`` gated by that stage's ``infra-<stage>`` environment. drift.yml and pull-request.yml run
one matrix entry per stack and loop over the stacks in scripts. Those parts follow from the
chain the root stack files form (render/project.py), so they are written here, from the chain,
as data:

- deploy.yml: the stage jobs (``up-<stage>``, ``preview-<stage>``) are rebuilt from
  :func:`up_job` and :func:`preview_job`; what does not depend on the stages (the header
  fields, the trigger, the ``test`` job) is kept as committed;
- drift.yml, pull-request.yml: every ``strategy.matrix.stack`` list and every step ``env``
  ``STACKS`` value (the scripts loop over ``$STACKS``) are set to the chain.

The files are edited as YAML documents (ruamel.yaml round trip: comments and layout kept), never
as text. ``--check`` writes nothing and exits 1 when a committed file differs from what the
stack files say (tests/test_repo_pipeline.py runs it), so adding or dropping a stage is one
stack file, one ``promotesFrom`` line and this command.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

from components.chain import Chain, Stage
from components.messages import escape
from components.workflows.pins import CHECKOUT, SETUP_PYTHON, Action
from render.engine import PROJECT_DIR

WORKFLOWS: Final = Path(".github") / "workflows"
PULUMI_VERSION: Final = "3.272.0"
"""The Pulumi CLI the jobs run: the version of the pulumi SDK pinned in requirements.txt."""
PYTHON_VERSION: Final = "3.11"
PULUMI_ACTION: Final = Action(
    repository="pulumi/actions",
    sha="8e5e406f4007fca908480587cb9893c07090f58d",
    version="v7.0.0",
    inputs=frozenset(),
)
"""pulumi/actions as pinned in /work/shared/action-pins.yaml (the program's workflows never use
it, so components/workflows/pins.py does not list it)."""
COMMAND: Final = "python -m render repo-workflows"


def _yaml() -> YAML:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    yaml.preserve_quotes = True
    return yaml


def _map(items: Sequence[tuple[str, Any]], comments: Mapping[str, str] | None = None) -> Any:
    node = CommentedMap(items)
    for key, comment in (comments or {}).items():
        node.yaml_add_eol_comment(f"# {comment}", key, column=0)  # one space, as committed
    return node


def _uses(action: Action, with_: Sequence[tuple[str, Any]], **fields: Any) -> Any:
    head = [("name", fields.pop("name"))]
    head += [(k.replace("_", "-"), v) for k, v in fields.items()]
    return _map([*head, ("uses", action.ref), ("with", _map(with_))], {"uses": action.version})


def _script(*lines: str) -> Any:
    """A ``run:`` script, written as a literal block (``|``)."""
    return LiteralScalarString("\n".join(lines) + "\n")


def _setup_steps() -> list[Any]:
    return [
        _uses(CHECKOUT, [("persist-credentials", False)], name="Check out"),
        _uses(
            SETUP_PYTHON,
            [("python-version", DoubleQuotedScalarString(PYTHON_VERSION))],
            name="Set up Python",
        ),
        _map(
            [
                ("name", "Install the program's and the policy pack's dependencies"),
                (
                    "run",
                    _script(
                        "python -m venv .venv",
                        ".venv/bin/pip install --quiet --disable-pip-version-check "
                        "-r requirements.txt",
                        "python -m venv policy/venv",
                        "policy/venv/bin/pip install --quiet --disable-pip-version-check "
                        "-r policy/requirements.txt",
                    ),
                ),
            ]
        ),
        _map(
            [
                ("name", "Write the kubeconfig of the stack"),
                ("env", _map([("KUBECONFIG_CONTENT", "${{ secrets.KUBECONFIG }}")])),
                (
                    "run",
                    _script(
                        "umask 077",
                        'printf \'%s\\n\' "$KUBECONFIG_CONTENT" > "$RUNNER_TEMP/kubeconfig"',
                    ),
                ),
            ]
        ),
    ]


def _pulumi(command: str, stack: str, **extra: Any) -> Any:
    step_fields = {"name": f"Pulumi {command}"}
    if command == "preview":
        step_fields["id"] = "preview"
    with_: list[tuple[str, Any]] = [
        ("command", command),
        ("stack-name", stack),
        ("pulumi-version", PULUMI_VERSION),
        ("diff", True),
        ("policyPacks", "policy"),
        *extra.items(),
    ]
    step = _uses(PULUMI_ACTION, with_, **step_fields)
    env = _map(
        [
            ("PULUMI_ACCESS_TOKEN", "${{ secrets.PULUMI_ACCESS_TOKEN }}"),
            ("GITHUB_TOKEN", "${{ secrets.PULUMI_GITHUB_TOKEN }}"),
            ("KUBECONFIG", "${{ runner.temp }}/kubeconfig"),
        ]
    )
    step.insert(len(step) - 1, "env", env)
    return step


def _job(name: str, needs: str, environment: str, steps: list[Any], concurrency: str | None) -> Any:
    items: list[tuple[str, Any]] = [
        ("name", name),
        ("needs", needs),
        ("runs-on", "ubuntu-latest"),
        ("timeout-minutes", 30),
        ("environment", environment),
    ]
    if concurrency is not None:
        items.append(("concurrency", _map([("group", concurrency), ("cancel-in-progress", False)])))
    permissions = _map([("contents", "read")], {"contents": "check out the repository"})
    items += [("permissions", permissions), ("steps", CommentedSeq(steps))]
    return _map(items)


def up_job(stage: Stage, needs: str) -> Any:
    """``pulumi up`` of one stage in its ``infra-<stage>`` environment (reviewers gate the later
    stages there); later stages also run one update at a time."""
    message = f"Deploy ${{{{ github.sha }}}} to {stage.name}"
    return _job(
        f"Pulumi up ({stage.name})",
        needs,
        f"infra-{stage.name}",
        [*_setup_steps(), _pulumi("up", stage.name, message=message)],
        None if stage.is_first else f"pulumi-up-{stage.name}",
    )


def preview_job(stage: Stage, needs: str) -> Any:
    """The preview a reviewer reads in the run summary before approving ``infra-<stage>``."""
    summary = _map(
        [
            ("name", "Show the preview in the run summary"),
            (
                "env",
                _map([("STACK", stage.name), ("PREVIEW", "${{ steps.preview.outputs.output }}")]),
            ),
            (
                "run",
                _script(
                    "{",
                    '  printf \'## Preview of %s, approve "infra-%s" only if this is '
                    'expected\\n\\n\' "$STACK" "$STACK"',
                    "  # shellcheck disable=SC2016 # the backticks are Markdown",
                    "  printf '```diff\\n%s\\n```\\n' \"${PREVIEW:0:900000}\"",
                    '} >> "$GITHUB_STEP_SUMMARY"',
                ),
            ),
        ]
    )
    return _job(
        f"Pulumi preview ({stage.name}), read it before approving",
        needs,
        f"infra-{stage.name}-preview",
        [*_setup_steps(), _pulumi("preview", stage.name), summary],
        None,
    )


def _header(chain: Chain) -> str:
    first, *later = chain.stages
    lines = [
        "Applies a merged change to the stacks in chain order (docs/pipeline.md):",
        f"  test → up {first.name}",
        *(f"       → preview {s.name} → [approval in infra-{s.name}] → up {s.name}" for s in later),
        "Each `up` runs in a GitHub environment of this repository that holds that stack's deploy",
        "credentials. The infra-<stage> environments of the later stages require reviewers, "
        "and the",
        "preview job before each of them writes what the update will do into the run's "
        "summary, so a",
        "reviewer approves the update after reading its preview. Every preview and update runs the",
        "CrossGuard pack in ./policy. The stage jobs follow the stack files' chain; written by",
        f"`{COMMAND}` (render/repo_pipeline.py): edit that, not the jobs here.",
    ]
    return "".join(f"# {line}\n" for line in lines)


def deploy_workflow(committed: str, chain: Chain) -> str:
    """deploy.yml with its stage jobs rebuilt for ``chain`` (``committed``: the current file)."""
    yaml = _yaml()
    document = yaml.load(committed)
    jobs = document["jobs"]
    kept = [(k, v) for k, v in jobs.items() if not k.startswith(("up-", "preview-"))]
    rebuilt = CommentedMap(kept)
    previous = "test"
    for stage in chain.stages:
        if not stage.is_first:
            rebuilt[f"preview-{stage.name}"] = preview_job(stage, previous)
            previous = f"preview-{stage.name}"
        rebuilt[f"up-{stage.name}"] = up_job(stage, previous)
        previous = f"up-{stage.name}"
    # A blank line between jobs; the kept jobs' own trailing blank line stays theirs.
    for key in list(rebuilt)[len(kept) + 1 :]:
        rebuilt.yaml_set_comment_before_after_key(key, before="\n", indent=2)
    document["jobs"] = rebuilt
    out = io.StringIO()
    yaml.dump(document, out)
    body = out.getvalue()
    body = body[body.index("name:") :]  # the header comment is the chain's
    return _header(chain) + body


def _set_stack_lists(node: Any, stacks: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "matrix" and isinstance(value, dict) and "stack" in value:
                seq = CommentedSeq(stacks)
                seq.fa.set_flow_style()
                value["stack"] = seq
            elif key == "env" and isinstance(value, dict) and "STACKS" in value:
                value["STACKS"] = " ".join(stacks)
            else:
                _set_stack_lists(value, stacks)
    elif isinstance(node, list):
        for item in node:
            _set_stack_lists(item, stacks)


def stack_list_workflow(committed: str, chain: Chain) -> str:
    """A workflow with every ``matrix.stack`` list and ``env.STACKS`` set to the chain."""
    yaml = _yaml()
    document = yaml.load(committed)
    _set_stack_lists(document, list(chain.names))
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


GENERATED: Final = {
    "deploy.yml": deploy_workflow,
    "drift.yml": stack_list_workflow,
    "pull-request.yml": stack_list_workflow,
}


def workflows(chain: Chain, root: Path = PROJECT_DIR) -> dict[Path, str]:
    """Path -> the content the stack files' chain gives each generated workflow file."""
    folder = root / WORKFLOWS
    return {
        folder / name: write((folder / name).read_text(), chain)
        for name, write in GENERATED.items()
    }


def main(argv: Sequence[str]) -> int:
    from render.__main__ import _Parser
    from render.project import project_config

    p = _Parser(prog=COMMAND, description=__doc__)
    p.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a file is stale"
    )
    args = p.parse_args(list(argv))
    result = project_config(PROJECT_DIR)
    for line in result.lines:
        print(line, file=sys.stderr)
    if result.lines or result.chain is None:
        return 1
    stale = []
    for path, text in workflows(result.chain).items():
        if path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text)
            print(escape(f"wrote {path.relative_to(PROJECT_DIR)}"))
    if args.check and stale:
        for path in stale:
            print(
                escape(f"render: {path.relative_to(PROJECT_DIR)} is stale; run {COMMAND}"),
                file=sys.stderr,
            )
        return 1
    if not stale:
        print(
            escape(f"the repository's workflows follow the stages {', '.join(result.chain.names)}")
        )
    return 0

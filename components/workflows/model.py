"""Typed model of a GitHub Actions workflow, rendered to YAML by PyYAML (never a string template).

A workflow is built from frozen dataclasses (:class:`Workflow`, :class:`Job`, :class:`Step`,
triggers) that turn into plain dicts and then into YAML. The model refuses, while the Pulumi
program runs, what reviewers and zizmor would otherwise have to catch later:

- a step is either ``run`` or ``uses``; ``uses`` takes a pinned :class:`~.pins.Action` (never a
  free string), and every ``with:`` key must be an input of that action at the pinned commit,
  with the action's required inputs present;
- a ``run`` script may not contain ``${{``: every value, trusted or not, reaches a script through
  ``env:``, so no expression can ever be spliced into shell code;
- ``needs`` may only name jobs declared earlier (the job graph is acyclic by construction);
- every job has ``timeout-minutes`` and an explicit ``permissions`` block, and every permission
  carries a reason.

PyYAML cannot write comments, so :func:`render` adds the few that matter after dumping, driven
by the model: the ``# vX.Y.Z`` release after each pinned ``uses:`` (for people and Dependabot),
the reason after each permission (zizmor's undocumented-permissions audit asks for it) and the
justification of a ``workflow_run`` trigger as a zizmor ignore comment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Final

import yaml

from components.workflows.pins import BY_REF, Action

RUNNER: Final = "ubuntu-24.04"
"""GitHub-hosted runner, a fixed release: a new Ubuntu image reaches the pipeline through a
change here, not silently through ``ubuntu-latest`` moving."""

Scalar = str | int | bool


class Scope(StrEnum):
    """GITHUB_TOKEN permission scopes the generated workflows use."""

    ACTIONS = "actions"
    ATTESTATIONS = "attestations"
    CONTENTS = "contents"
    DEPLOYMENTS = "deployments"
    ID_TOKEN = "id-token"
    PACKAGES = "packages"
    SECURITY_EVENTS = "security-events"


class Access(StrEnum):
    """Access level of a permission scope."""

    READ = "read"
    WRITE = "write"


@dataclass(frozen=True)
class Grant:
    """One permission of a job's GITHUB_TOKEN, with the reason written next to it."""

    scope: Scope
    access: Access
    why: str


@dataclass(frozen=True)
class Step:
    """One step: a shell script (``run``) or a pinned action (``uses``) with checked inputs."""

    name: str
    run: str | None = None
    uses: Action | None = None
    with_: Mapping[str, Scalar] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    id: str | None = None
    if_: str | None = None

    def __post_init__(self) -> None:
        if (self.run is None) == (self.uses is None):
            raise ValueError(f"step {self.name!r}: set exactly one of run and uses")
        if self.run is not None:
            if self.with_:
                raise ValueError(f"step {self.name!r}: with: only applies to uses steps")
            if "${{" in self.run:
                raise ValueError(
                    f"step {self.name!r}: run scripts must not contain '${{{{'; "
                    "pass values through env:"
                )
        if self.uses is not None:
            unknown = sorted(set(self.with_) - self.uses.inputs)
            if unknown:
                raise ValueError(
                    f"step {self.name!r}: {self.uses.repository} has no input {', '.join(unknown)}"
                )
            missing = sorted(self.uses.required_inputs - set(self.with_))
            if missing:
                raise ValueError(
                    f"step {self.name!r}: {self.uses.repository} requires {', '.join(missing)}"
                )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.id is not None:
            out["id"] = self.id
        if self.if_ is not None:
            out["if"] = self.if_
        if self.uses is not None:
            out["uses"] = self.uses.ref
        if self.with_:
            out["with"] = dict(self.with_)
        if self.env:
            out["env"] = dict(self.env)
        if self.run is not None:
            out["run"] = self.run
        return out


@dataclass(frozen=True)
class Environment:
    """The GitHub deployment environment a job runs in (approvals, its secrets and variables)."""

    name: str
    url: str | None = None

    def to_value(self) -> dict[str, str]:
        out = {"name": self.name}
        if self.url is not None:
            out["url"] = self.url
        return out


@dataclass(frozen=True)
class Matrix:
    """A one-dimensional matrix; ``fail_fast`` off so one package's failure hides no other."""

    key: str
    values: tuple[str, ...]
    fail_fast: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"fail-fast": self.fail_fast, "matrix": {self.key: list(self.values)}}


@dataclass(frozen=True)
class Job:
    """One job. ``permissions`` empty means ``permissions: {}`` (no token scopes at all)."""

    name: str
    steps: tuple[Step, ...]
    timeout_minutes: int
    permissions: tuple[Grant, ...] = ()
    needs: tuple[str, ...] = ()
    if_: str | None = None
    environment: Environment | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, str] = field(default_factory=dict)
    matrix: Matrix | None = None
    runs_on: str = RUNNER

    def __post_init__(self) -> None:
        if not 1 <= self.timeout_minutes <= 360:
            raise ValueError(f"job {self.name!r}: timeout_minutes must be between 1 and 360")
        if not self.steps:
            raise ValueError(f"job {self.name!r}: needs at least one step")
        scopes = [grant.scope for grant in self.permissions]
        if len(scopes) != len(set(scopes)):
            raise ValueError(f"job {self.name!r}: a permission scope is granted twice")
        ids = [step.id for step in self.steps if step.id is not None]
        if len(ids) != len(set(ids)):
            raise ValueError(f"job {self.name!r}: step ids must be unique")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.needs:
            out["needs"] = list(self.needs)
        if self.if_ is not None:
            out["if"] = self.if_
        out["runs-on"] = self.runs_on
        out["timeout-minutes"] = self.timeout_minutes
        out["permissions"] = {g.scope.value: g.access.value for g in self.permissions}
        if self.environment is not None:
            out["environment"] = self.environment.to_value()
        if self.matrix is not None:
            out["strategy"] = self.matrix.to_dict()
        if self.env:
            out["env"] = dict(self.env)
        if self.outputs:
            out["outputs"] = dict(self.outputs)
        out["steps"] = [step.to_dict() for step in self.steps]
        return out


# --------------------------------------------------------------------------------------------
# Triggers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Push:
    """``push`` to the listed branches (and tags matching ``tags``, if any)."""

    branches: tuple[str, ...]
    tags: tuple[str, ...] = ()

    key: ClassVar[str] = "push"

    def to_value(self) -> dict[str, Any]:
        value: dict[str, Any] = {"branches": list(self.branches)}
        if self.tags:
            value["tags"] = list(self.tags)
        return value


@dataclass(frozen=True)
class PullRequest:
    """``pull_request`` (never ``pull_request_target``: fork code runs without secrets)."""

    key: ClassVar[str] = "pull_request"

    def to_value(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class WorkflowRun:
    """``workflow_run`` of other workflows; ``why_safe`` is written next to it for zizmor.

    zizmor's dangerous-triggers audit flags every ``workflow_run`` because such a run gets
    secrets while reacting to a possibly untrusted run. It is accepted here only with a written
    reason, which :func:`render` places in the ignore comment on the trigger line.
    """

    workflows: tuple[str, ...]
    branches: tuple[str, ...]
    why_safe: str
    types: tuple[str, ...] = ("completed",)

    key: ClassVar[str] = "workflow_run"

    def to_value(self) -> dict[str, Any]:
        return {
            "workflows": list(self.workflows),
            "types": list(self.types),
            "branches": list(self.branches),
        }


@dataclass(frozen=True)
class DispatchInput:
    """A ``workflow_dispatch`` string input; scripts read it through ``env:`` only."""

    name: str
    description: str
    required: bool = True
    options: tuple[str, ...] = ()
    """Non-empty: a ``choice`` input of these options, the first the default."""

    def to_value(self) -> dict[str, Any]:
        if self.options:
            return {
                "description": self.description,
                "required": self.required,
                "type": "choice",
                "options": list(self.options),
                "default": self.options[0],
            }
        return {"description": self.description, "required": self.required, "type": "string"}


@dataclass(frozen=True)
class WorkflowDispatch:
    """Manual ``workflow_dispatch`` with typed inputs."""

    inputs: tuple[DispatchInput, ...] = ()

    key: ClassVar[str] = "workflow_dispatch"

    def to_value(self) -> dict[str, Any]:
        if not self.inputs:
            return {}
        return {"inputs": {i.name: i.to_value() for i in self.inputs}}


Trigger = Push | PullRequest | WorkflowRun | WorkflowDispatch


@dataclass(frozen=True)
class Concurrency:
    """Concurrency group; ``cancel_in_progress`` may be an expression (cancel PR runs only)."""

    group: str
    cancel_in_progress: bool | str

    def to_dict(self) -> dict[str, Any]:
        return {"group": self.group, "cancel-in-progress": self.cancel_in_progress}


@dataclass(frozen=True)
class Workflow:
    """A whole workflow file. Top-level ``permissions: {}``: every job asks for what it needs."""

    name: str
    on: tuple[Trigger, ...]
    jobs: Mapping[str, Job]
    concurrency: Concurrency
    env: Mapping[str, str] = field(default_factory=dict)
    header: str = ""

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for job_id, job in self.jobs.items():
            for need in job.needs:
                if need not in seen:
                    raise ValueError(
                        f"workflow {self.name!r}: job {job_id!r} needs {need!r}, "
                        "which is not declared before it"
                    )
            seen.add(job_id)
        keys = [trigger.key for trigger in self.on]
        if len(keys) != len(set(keys)) or not keys:
            raise ValueError(f"workflow {self.name!r}: triggers must be distinct and non-empty")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "on": {trigger.key: trigger.to_value() for trigger in self.on},
            "permissions": {},
            "concurrency": self.concurrency.to_dict(),
            # An explicit shell turns on pipefail (GitHub runs `bash -eo pipefail` then).
            "defaults": {"run": {"shell": "bash"}},
        }
        if self.env:
            out["env"] = dict(self.env)
        out["jobs"] = {job_id: job.to_dict() for job_id, job in self.jobs.items()}
        return out


# --------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style, indented sequences, literal blocks for scripts, no anchors; quoted scalars
    in double quotes unless the text holds one, as Prettier writes them: the files are committed
    into the application repository, whose CI runs ``prettier --check`` over everything."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def choose_scalar_style(self) -> str:
        style: str = super().choose_scalar_style()
        value = getattr(self.event, "value", "")
        if style == "'" and '"' not in value:
            return '"'
        return style

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)


def dump(data: Mapping[str, Any]) -> str:
    """Plain data -> YAML text (keys in insertion order)."""
    return yaml.dump(
        dict(data), Dumper=_Dumper, sort_keys=False, width=10_000, default_flow_style=False
    )


_USES = re.compile(r"^(?P<lead>\s*(?:- )?uses: )(?P<ref>\S+)$")
_TOP_KEY = re.compile(r"^(?P<key>['\"]?[A-Za-z_-]+['\"]?):")
_JOB_KEY = re.compile(r"^  (?P<key>[A-Za-z0-9_-]+):$")
_JOB_FIELD = re.compile(r"^    (?P<key>[A-Za-z0-9_-]+):")
_GRANT = re.compile(r"^      (?P<scope>[a-z-]+): (?:read|write)$")


def render(workflow: Workflow) -> str:
    """The workflow file's text: dumped by PyYAML, then annotated with the model's comments."""
    reasons = {
        (job_id, grant.scope.value): grant.why
        for job_id, job in workflow.jobs.items()
        for grant in job.permissions
    }
    trigger_notes = {
        trigger.key: f"zizmor: ignore[dangerous-triggers] {trigger.why_safe}"
        for trigger in workflow.on
        if isinstance(trigger, WorkflowRun)
    }
    lines: list[str] = []
    top = job = job_field = ""
    for line in dump(workflow.to_dict()).splitlines():
        if match := _TOP_KEY.match(line):
            top, job, job_field = match["key"].strip("'\""), "", ""
        elif top == "jobs" and (match := _JOB_KEY.match(line)):
            job, job_field = match["key"], ""
        elif top == "jobs" and (match := _JOB_FIELD.match(line)):
            job_field = match["key"]
        comment = None
        if match := _USES.match(line):
            comment = BY_REF[match["ref"]].version
        elif job_field == "permissions" and (match := _GRANT.match(line)):
            comment = reasons[(job, match["scope"])]
        elif top == "on" and line.strip().rstrip(":") in trigger_notes:
            comment = trigger_notes[line.strip().rstrip(":")]
        lines.append(f"{line} # {comment}" if comment else line)
    header = "".join(f"# {text}\n" if text else "#\n" for text in workflow.header.splitlines())
    return header + "\n".join(lines) + "\n"

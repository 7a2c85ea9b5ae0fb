"""Typed model of a GitHub Actions workflow, rendered to YAML by ruamel.yaml (never a string template).

A workflow is built from frozen dataclasses (:class:`Workflow`, :class:`Job`, :class:`Step`,
triggers) that turn into plain dicts and then into YAML. The model refuses, while the Pulumi
program runs, what reviewers and zizmor would otherwise have to catch later:

- a step is either ``run`` or ``uses``; ``uses`` takes a pinned :class:`~.pins.Action` (never a
  free string), and every ``with:`` key must be an input of that action at the pinned commit,
  with the action's required inputs present;
- a ``run`` script may not contain ``${{``: every value, trusted or not, reaches a script through
  ``env:``, so no expression can ever be spliced into shell code;
- only the generator writes GitHub expressions: an expression is an :class:`Expr`, made by
  :func:`expr`, :func:`template` or :func:`condition`; ``${{`` in any plain string (a value from
  stack config: a path, a version, a URL) is refused, and ``if:`` takes only a condition;
- ``needs`` may only name jobs declared earlier (the job graph is acyclic by construction);
- every job has ``timeout-minutes`` and an explicit ``permissions`` block, and every permission
  carries a reason.

:func:`render` writes the few comments that matter with ruamel.yaml, attached to the nodes they
explain: the ``# vX.Y.Z`` release after each pinned ``uses:`` (for people and Dependabot), the
reason after each permission (zizmor's undocumented-permissions audit asks for it) and the
justification of a ``workflow_run`` trigger as a zizmor ignore comment. Text is never searched
for places to comment, so a ``run:`` script that looks like YAML is left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Final

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.compat import StringIO
from ruamel.yaml.emitter import RoundTripEmitter
from ruamel.yaml.scalarstring import LiteralScalarString, SingleQuotedScalarString

from components.workflows.pins import BY_REF, Action

RUNNER: Final = "ubuntu-24.04"
"""GitHub-hosted runner, a fixed release: a new Ubuntu image reaches the pipeline through a
change here, not silently through ``ubuntu-latest`` moving."""


Scalar = str | int | bool

_OPEN: Final = "${{"


class Expr(str):
    """Text that GitHub evaluates: an expression, or text with expressions, or an ``if:``.

    Only the generator makes these, through :func:`expr`, :func:`template` and
    :func:`condition`; values from stack config are plain ``str`` and stay data. The model
    refuses ``${{`` in any plain string (names, ``with:``, ``env:``, outputs, URLs, concurrency)
    and takes ``if:`` only as an :class:`Expr`, so no config value can become an expression in a
    workflow file, whatever it contains.
    """

    __slots__ = ()


def _refuse_plain_expression(text: str, where: str) -> None:
    if not isinstance(text, Expr) and _OPEN in text:
        raise ValueError(
            f"{where}: plain text must not contain '${{{{' (it would be evaluated by GitHub); "
            "build expressions with expr() or template()"
        )


def expr(inner: str) -> Expr:
    """``${{ inner }}``: one expression over GitHub's contexts, written by the generator."""
    if _OPEN in inner or "}}" in inner:
        raise ValueError(f"expr({inner!r}): give the expression without ${{{{ }}}}")
    return Expr(f"${{{{ {inner} }}}}")


def template(*parts: str) -> Expr:
    """Literal text and expressions in one value; the literal parts are data.

    ``template("coverage-", expr("matrix.package"))`` writes ``coverage-${{ matrix.package }}``;
    a literal part holding ``${{`` is refused (it came from somewhere it should not have).
    """
    for part in parts:
        _refuse_plain_expression(part, f"template part {part!r}")
    return Expr("".join(parts))


def condition(text: str) -> Expr:
    """An ``if:`` condition. GitHub evaluates ``if:`` even without ``${{ }}``, so it is an Expr."""
    if _OPEN in text:
        raise ValueError(f"condition({text!r}): write the condition without ${{{{ }}}}")
    return Expr(text)


class Cond(Expr):
    """A condition built from typed parts (:func:`eq`, :func:`all_of`, ...), never by joining
    strings: the builders quote literals and place the parentheses, so a reader sees the logic
    in Python and no part can change the meaning of another.

    Parentheses are the fewest that keep the meaning: ``&&`` binds tighter than ``||`` in
    GitHub's expression syntax (docs "Evaluate expressions in workflows and actions",
    Operators), so :func:`all_of` parenthesizes an :func:`any_of` part and nothing else, and
    nested groups of the same operator are written flat.
    """

    __slots__ = ()


class _AllOf(Cond):
    __slots__ = ()


class _AnyOf(Cond):
    __slots__ = ()


def _literal(value: str) -> str:
    """A string literal of GitHub's expression syntax (a single quote is doubled)."""
    return "'" + value.replace("'", "''") + "'"


def _atom(text: str) -> Cond:
    return Cond(condition(text))


def success() -> Cond:
    """``success()``: every previous step (or needed job) succeeded, GitHub's default ``if:``."""
    return _atom("success()")


def always() -> Cond:
    """``always()``: run whatever happened before, even when the run is cancelled."""
    return _atom("always()")


def failure() -> Cond:
    """``failure()``: a previous step (or needed job) failed."""
    return _atom("failure()")


def cancelled() -> Cond:
    """``cancelled()``: the run was cancelled."""
    return _atom("cancelled()")


def eq(ref: str, value: str) -> Cond:
    """``ref == 'value'``: a context reference (``steps.x.outputs.y``, ``JobRef.result``)
    against a literal."""
    return _atom(f"{ref} == {_literal(value)}")


def ne(ref: str, value: str) -> Cond:
    """``ref != 'value'``."""
    return _atom(f"{ref} != {_literal(value)}")


def starts_with(ref: str, prefix: str) -> Cond:
    """``startsWith(ref, 'prefix')``."""
    return _atom(f"startsWith({ref}, {_literal(prefix)})")


def never() -> Cond:
    """``false``: the job or step never runs (an empty :func:`any_of`, written plainly)."""
    return _atom("false")


def same(left: str, right: str) -> Cond:
    """``left == right``: two context references (``github.repository``, ...)."""
    return _atom(f"{left} == {right}")


def not_(part: Cond) -> Cond:
    """``!(part)``."""
    return _atom(f"!({part})")


def all_of(*parts: Cond) -> Cond:
    """``a && b && ...``; an :func:`any_of` part is parenthesized."""
    if not parts:
        raise ValueError("all_of() needs at least one condition")
    if len(parts) == 1:
        return parts[0]
    return _AllOf(" && ".join(f"({part})" if isinstance(part, _AnyOf) else part for part in parts))


def any_of(*parts: Cond) -> Cond:
    """``a || b || ...`` (``&&`` binds tighter, so no part needs parentheses)."""
    if not parts:
        raise ValueError("any_of() needs at least one condition")
    if len(parts) == 1:
        return parts[0]
    return _AnyOf(" || ".join(parts))


def _check_values(values: Mapping[str, Any], where: str) -> None:
    for key, value in values.items():
        _refuse_plain_expression(key, where)
        if isinstance(value, str):
            _refuse_plain_expression(value, f"{where}.{key}")


def _check_condition(value: str | None, where: str) -> None:
    if value is not None and not isinstance(value, Expr):
        raise ValueError(f"{where}: if: takes a condition() (GitHub evaluates it), not plain text")


class Scope(StrEnum):
    """GITHUB_TOKEN permission scopes the generated workflows use."""

    ACTIONS = "actions"
    ATTESTATIONS = "attestations"
    CONTENTS = "contents"
    DEPLOYMENTS = "deployments"
    ID_TOKEN = "id-token"
    PACKAGES = "packages"
    PULL_REQUESTS = "pull-requests"
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
class StepRef:
    """A step's ``id`` and the outputs it writes, spelled once: :meth:`output` and
    :attr:`outcome` build what later steps read, and an output the step does not declare fails
    the render instead of reading as an empty string on GitHub."""

    id: str
    outputs: tuple[str, ...] = ()

    def output_ref(self, name: str) -> str:
        """``steps.<id>.outputs.<name>``, for a condition or a larger expression."""
        if name not in self.outputs:
            raise ValueError(f"step {self.id!r} has no output {name!r}")
        return f"steps.{self.id}.outputs.{name}"

    def output(self, name: str) -> Expr:
        """``${{ steps.<id>.outputs.<name> }}``."""
        return expr(self.output_ref(name))

    @property
    def outcome(self) -> str:
        """``steps.<id>.outcome`` (success, failure, cancelled or skipped)."""
        return f"steps.{self.id}.outcome"

    def outcome_in(self, *outcomes: str) -> Cond:
        """The step's outcome is one of ``outcomes``."""
        return any_of(*(eq(self.outcome, outcome) for outcome in outcomes))


@dataclass(frozen=True)
class JobRef:
    """A job named in ``needs``: its id and the outputs it declares, spelled once."""

    id: str
    outputs: tuple[str, ...] = ()

    def output_ref(self, name: str) -> str:
        """``needs.<id>.outputs.<name>``, for a condition or a larger expression."""
        if name not in self.outputs:
            raise ValueError(f"job {self.id!r} has no output {name!r}")
        return f"needs.{self.id}.outputs.{name}"

    def output(self, name: str) -> Expr:
        """``${{ needs.<id>.outputs.<name> }}``."""
        return expr(self.output_ref(name))

    @property
    def result(self) -> str:
        """``needs.<id>.result`` (success, failure, cancelled or skipped)."""
        return f"needs.{self.id}.result"


NEEDS_RESULTS: Final = "needs.*.result"
"""The results of every job in ``needs`` (an array filter: ``contains(...)``, ``join(...)``)."""


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
        where = f"step {self.name!r}"
        _refuse_plain_expression(self.name, where)
        _check_values(self.with_, f"{where} with")
        _check_values(self.env, f"{where} env")
        _check_condition(self.if_, where)
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

    def __post_init__(self) -> None:
        _refuse_plain_expression(self.name, "environment name")
        if self.url is not None:
            _refuse_plain_expression(self.url, f"environment {self.name!r} url")

    def to_value(self) -> dict[str, str]:
        out = {"name": self.name}
        if self.url is not None:
            out["url"] = self.url
        return out


@dataclass(frozen=True)
class RunsOn:
    """A job's ``runs-on``, in the forms GitHub documents ("Choosing the runner for a job"):

    - labels only: one label is written as a string (``ubuntu-24.04``, or an Actions Runner
      Controller scale set's name), several as a list (``[self-hosted, linux, x64]``): the job
      runs on a runner that has every label;
    - a runner group: ``{group: NAME}``, with ``labels`` when given (a runner of the group that
      has every label).

    Labels are data from stack config (validated there); the model still refuses an empty
    value and ``${{``, so a label can never become an expression.
    """

    labels: tuple[str, ...] = (RUNNER,)
    group: str | None = None
    self_hosted: bool = False
    """Not written to the file: whether the runner is the team's own machine (self-hosted labels,
    a group, a scale set) rather than a GitHub image, so that the job first checks it carries
    the tools its steps call (components/workflows/runner_tools.py)."""

    def __post_init__(self) -> None:
        if self.group is None and not self.labels:
            raise ValueError("runs-on: needs at least one label or a runner group")
        for value in (*self.labels, *((self.group,) if self.group is not None else ())):
            if not value.strip():
                raise ValueError("runs-on: a label or group must not be empty")
            _refuse_plain_expression(value, "runs-on")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"runs-on: labels repeat ({', '.join(self.labels)})")

    def to_value(self) -> str | list[str] | dict[str, Any]:
        if self.group is not None:
            value: dict[str, Any] = {"group": self.group}
            if self.labels:
                value["labels"] = list(self.labels)
            return value
        if len(self.labels) == 1:
            return self.labels[0]
        return list(self.labels)


GITHUB_HOSTED: Final = RunsOn()
"""Every job's default: the fixed GitHub-hosted image :data:`RUNNER`."""


@dataclass(frozen=True)
class Matrix:
    """A one-dimensional matrix; ``fail_fast`` off so one package's failure hides no other."""

    key: str
    values: tuple[str, ...]
    fail_fast: bool = False

    def __post_init__(self) -> None:
        for value in (self.key, *self.values):
            _refuse_plain_expression(value, f"matrix {self.key!r}")

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
    runs_on: RunsOn = GITHUB_HOSTED
    concurrency: Concurrency | None = None

    def __post_init__(self) -> None:
        where = f"job {self.name!r}"
        _refuse_plain_expression(self.name, where)
        _check_values(self.env, f"{where} env")
        _check_values(self.outputs, f"{where} outputs")
        _check_condition(self.if_, where)
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
        out["runs-on"] = self.runs_on.to_value()
        out["timeout-minutes"] = self.timeout_minutes
        out["permissions"] = {g.scope.value: g.access.value for g in self.permissions}
        if self.environment is not None:
            out["environment"] = self.environment.to_value()
        if self.concurrency is not None:
            out["concurrency"] = self.concurrency.to_dict()
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
        value: dict[str, Any] = {}
        if self.branches or not self.tags:
            value["branches"] = list(self.branches)
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


@dataclass(frozen=True)
class Schedule:
    """``schedule`` on a cron expression (UTC; GitHub may start it some minutes late)."""

    cron: str

    key: ClassVar[str] = "schedule"

    def __post_init__(self) -> None:
        if len(self.cron.split()) != 5:
            raise ValueError(f"schedule {self.cron!r}: a cron expression has five fields")

    def to_value(self) -> list[dict[str, str]]:
        return [{"cron": self.cron}]


Trigger = Push | PullRequest | WorkflowRun | WorkflowDispatch | Schedule


@dataclass(frozen=True)
class Concurrency:
    """Concurrency group; ``cancel_in_progress`` may be an expression (cancel PR runs only).

    ``queue_all``: ``queue: max``, up to 100 pending runs or jobs wait in the group in FIFO order
    instead of the default one, which a newer one cancels and replaces (GitHub's "Control the
    concurrency of workflows and jobs"; changelog 2026-05-07). GitHub refuses it together with
    ``cancel-in-progress: true``, and so does this model.
    """

    group: str
    cancel_in_progress: bool | str
    queue_all: bool = False

    def __post_init__(self) -> None:
        _refuse_plain_expression(self.group, "concurrency group")
        if isinstance(self.cancel_in_progress, str):
            _refuse_plain_expression(self.cancel_in_progress, "concurrency cancel-in-progress")
        if self.queue_all and self.cancel_in_progress is not False:
            raise ValueError("concurrency: queue max needs cancel-in-progress false")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"group": self.group, "cancel-in-progress": self.cancel_in_progress}
        if self.queue_all:
            out["queue"] = "max"
        return out


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
        _check_values(self.env, f"workflow {self.name!r} env")
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


def _plain_data(value: Any, where: str) -> Any:
    """The model's dict with every :class:`Expr` turned into ``str``; plain text is checked.

    The last line of defence: a ``${{`` in any plain string, key or value, means a value that did
    not come from the generator's expression helpers, and the workflow is refused.
    """
    if isinstance(value, Expr):
        return str(value)
    if isinstance(value, str):
        _refuse_plain_expression(value, where)
        return value
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            _refuse_plain_expression(str(key), where)
            out[str(key)] = _plain_data(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [_plain_data(item, f"{where}[{index}]") for index, item in enumerate(value)]
    return value


_YAML_11 = yaml.resolver.Resolver()


def _scalar(text: str) -> Any:
    """A string as ruamel should write it, matching what PyYAML wrote before (byte-identical).

    Multi-line text is a literal block; text that a YAML 1.1 reader (PyYAML, actionlint's
    older parsers) would take for another type (``on``, ``yes``, ``22``) is single-quoted.
    """
    if "\n" in text:
        return LiteralScalarString(text)
    tag = _YAML_11.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    if tag != "tag:yaml.org,2002:str":
        return SingleQuotedScalarString(text)
    return text


class _PrettierQuotes(RoundTripEmitter):
    """Quoted scalars in double quotes, as Prettier writes them, unless the text holds a double
    quote or a backslash (which double quotes would have to escape). The files are committed into
    the application repository, whose CI runs ``prettier --check`` over everything."""

    def choose_scalar_style(self) -> Any:
        style = super().choose_scalar_style()
        value = self.event.value or ""
        if style == "'" and '"' not in value and "\\" not in value:
            return '"'
        return style


def _commented(value: Any) -> Any:
    if isinstance(value, dict):
        out = CommentedMap()
        for key, item in value.items():
            out[_scalar(key)] = _commented(item)
        return out
    if isinstance(value, list):
        return CommentedSeq(_commented(item) for item in value)
    if isinstance(value, str):
        return _scalar(value)
    return value


def _comment(mapping: CommentedMap, key: str, text: str) -> None:
    if "\n" in text or "\r" in text:
        raise ValueError(f"a comment must be one line: {text!r}")
    mapping.yaml_add_eol_comment(text, key, column=0)


def render(workflow: Workflow) -> str:
    """The workflow file's text, with the model's comments emitted by ruamel.yaml.

    The comments are attached to the nodes they explain (the ``uses:`` key of a step, a
    permission scope, a ``workflow_run`` trigger), never found again in dumped text, so nothing
    inside a ``run:`` script can be mistaken for a place to comment.
    """
    data = _plain_data(workflow.to_dict(), f"workflow {workflow.name!r}")
    tree = _commented(data)
    for trigger in workflow.on:
        if isinstance(trigger, WorkflowRun):
            _comment(
                tree["on"], trigger.key, f"zizmor: ignore[dangerous-triggers] {trigger.why_safe}"
            )
    for job_id, job in workflow.jobs.items():
        node = tree["jobs"][job_id]
        for grant in job.permissions:
            _comment(node["permissions"], grant.scope.value, grant.why)
        for step, step_node in zip(job.steps, node["steps"], strict=True):
            if step.uses is not None:
                _comment(step_node, "uses", BY_REF[step.uses.ref].version)
    header = "".join(f"# {line}\n" if line else "#\n" for line in workflow.header.splitlines())
    return header + _emit(tree)


def _emit(tree: Any) -> str:
    """The one YAML emitter of every file a stack commits (workflows, dependabot.yml).

    The render's review tree (kubernetes/, github/settings.yaml: render/tree.py) is written by
    PyYAML's libyaml emitter instead: those files are read by people and tests, never committed
    or checked by Prettier, and ruamel's pure-Python emitter takes about eight times the CPU for
    them (prod's 25 objects: 93 ms against 11 ms, measured for issue 27), which the render's
    1.3x import budget (docs/render.md) does not have room for. The deployer kubeconfig
    (components/access.py) keeps its bytes, so no environment's KUBECONFIG secret changes."""
    emitter = YAML(typ="rt", pure=True)
    emitter.Emitter = _PrettierQuotes
    emitter.indent(mapping=2, sequence=4, offset=2)
    emitter.width = 10_000
    emitter.allow_unicode = False
    text = StringIO()
    emitter.dump(tree, text)
    return text.getvalue()


def dump(data: Mapping[str, Any]) -> str:
    """Plain data (keys in insertion order) -> YAML text, written by the same emitter as the
    workflows: block style, indented sequences, literal blocks for multi-line text, double
    quotes as Prettier writes them (the application's CI runs ``prettier --check`` over every
    committed file), YAML 1.1 look-alikes (``on``, ``yes``) quoted."""
    return _emit(_commented(_plain_data(dict(data), "document")))

"""The contract between the stacks and the workflows: the GitHub variables and secrets a workflow
reads, who writes each one, and which files read it.

The generators never spell ``vars.X``, ``secrets.X`` or ``refs/heads/...`` themselves: they ask
:func:`var`, :func:`secret` and :func:`branch_ref`, which refuse a name that is not in
:data:`CONTRACT`. So a workflow cannot read a variable no stack is declared to write, and
tests/test_contract.py proves on the rendered files that what the stacks write (github/
settings.yaml) and what the workflows read are the same set.

Ownership (decided in design.md, mirrored here): every environment stack writes its GitHub
environment's variables and secrets and its own repository deploy switch, and commits its own
deploy workflow; the first stage of the chain also writes the repository secrets (shared by every
workflow of the repository) and commits ci.yml, metrics.yml, rescan.yml and dependabot.yml.

The stages are a chain of any length and names (components/chain.py), so the deploy workflows
are a file pattern (:data:`DEPLOY_FILES`, ``*-deploy.yml``) and the deploy switches a name
pattern (``<STAGE>_DEPLOY_ENABLED``): :func:`lookup` answers for every stage's switch.

Variables and secrets that stack config adds on its own (``cicd:environment.variables`` such as
LOG_LEVEL, ``cicd:environment.secrets`` such as SENTRY_DSN) are for the application's own
workflows, not these; they are not in the contract and config refuses the contract's names there.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any, Final

from components.chain import deploy_switch_variable, deploy_workflow_file
from components.workflows.model import Expr, expr


class Where(StrEnum):
    """Where GitHub keeps the value, which decides who can read it."""

    ENVIRONMENT = "environment"
    """In the stack's GitHub environment: only jobs that enter it read it (not a job ``if:``)."""
    REPOSITORY = "repository"
    """Repository-wide: every job of every workflow, and job-level ``if:`` too."""
    AUTOMATIC = "automatic"
    """Provided by GitHub for every run (``secrets.GITHUB_TOKEN``); nobody writes it."""


class Writer(StrEnum):
    """Which stack writes the value."""

    EACH_STACK = "each stack"
    """Every environment stack writes its own (in its environment, or its own repository name)."""
    FIRST_STAGE = "first stage"
    """The first stage of the chain (dev), which owns the shared pipeline."""
    GITHUB = "github"
    """Nobody: GitHub provides it."""


class When(StrEnum):
    """Under which configuration the value is written (and read)."""

    ALWAYS = "always"
    TOKEN_ACCESS = "cicd:cluster.access token"
    OIDC_ACCESS = "cicd:cluster.access githubOidc"
    CONFIGURED = (
        "the matching cicd:pipeline scanner is on, or a notification route (or the rescan) "
        "uses the channel"
    )
    PUSHGATEWAY_AUTH = "cicd:metrics.pushgatewayAuth is bearer or basic"


SHARED_FILES: Final = ("ci.yml", "release.yml", "metrics.yml", "rescan.yml")
"""Workflow files only the first stage commits."""

DEPLOY_FILES: Final = ("*-deploy.yml",)
"""Every stage's deploy workflow (components.chain.deploy_workflow_file), as a file pattern."""


@dataclass(frozen=True)
class Entry:
    """One variable or secret the workflows read."""

    name: str
    secret: bool
    where: Where
    writer: Writer
    read_by: tuple[str, ...]
    """Workflow files (under .github/workflows) that may read it; ``*`` patterns allowed."""
    when: When = When.ALWAYS
    meaning: str = ""
    may_be_absent: bool = False
    """Every reader copes with an empty value (a notifier or scanner checks first and warns).
    GitHub gives repository secrets neither to pull requests from forks nor to Dependabot's, so
    only such a secret may be read by a job that runs on ``pull_request``."""


_DEPLOY_JOB_VARIABLES: Final = {
    "NAMESPACE": "the namespace the deploy job changes",
    "WORKLOAD_NAME": "the Deployment or Rollout the deploy job sets the image of",
    "WORKLOAD_KIND": "Deployment or Rollout",
    "APP_URL": "the environment's URL (environment url, tests, health checks)",
    "DEPLOY_ENABLED": "checked again by the environment job first thing (cicd:deploy.enabled)",
}

_ENTRIES: Final = (
    *(
        Entry(name, False, Where.ENVIRONMENT, Writer.EACH_STACK, DEPLOY_FILES, meaning=meaning)
        for name, meaning in _DEPLOY_JOB_VARIABLES.items()
    ),
    *(
        Entry(name, False, Where.ENVIRONMENT, Writer.EACH_STACK, DEPLOY_FILES, When.OIDC_ACCESS)
        for name in ("KUBE_SERVER", "KUBE_CA_DATA", "KUBE_AUDIENCE")
    ),
    Entry(
        "KUBECONFIG",
        True,
        Where.ENVIRONMENT,
        Writer.EACH_STACK,
        DEPLOY_FILES,
        When.TOKEN_ACCESS,
        "the deployer's kubeconfig",
    ),
    *(
        # Every workflow that sends notifications: which of them reads which secret follows the
        # first stage's routes (components/workflows/notify.py).
        Entry(
            name,
            True,
            Where.REPOSITORY,
            Writer.FIRST_STAGE,
            ("ci.yml", "release.yml", *DEPLOY_FILES, "rescan.yml"),
            When.CONFIGURED,
            meaning,
            may_be_absent=True,
        )
        for name, meaning in {
            "DISCORD_WEBHOOK_URL": "the Discord channel's webhook (cicd:discordWebhookUrl)",
            "SLACK_WEBHOOK_URL": "the Slack channel's webhook (cicd:slackWebhookUrl)",
            "TEAMS_WEBHOOK_URL": "the Teams Workflows webhook (cicd:teamsWebhookUrl)",
            "SMTP_CREDENTIALS": "the SMTP login, user:password (cicd:smtpCredentials)",
        }.items()
    ),
    *(
        Entry(
            name, True, Where.REPOSITORY, Writer.FIRST_STAGE, ("ci.yml",), When.CONFIGURED, "", True
        )
        for name in ("SNYK_TOKEN", "SONAR_TOKEN")
    ),
    Entry(
        "PUSHGATEWAY_CREDENTIALS",
        True,
        Where.REPOSITORY,
        Writer.FIRST_STAGE,
        ("metrics.yml",),
        When.PUSHGATEWAY_AUTH,
        "the Pushgateway's bearer token or user:password (cicd:pushgatewayCredentials)",
    ),
    Entry(
        "GITHUB_TOKEN",
        True,
        Where.AUTOMATIC,
        Writer.GITHUB,
        ("ci.yml", "release.yml", *DEPLOY_FILES),
        meaning="the run's own token",
    ),
)

CONTRACT: Final = {(entry.secret, entry.name): entry for entry in _ENTRIES}
"""Every fixed variable (``(False, name)``) and secret (``(True, name)``) a workflow may read;
the deploy switches, one per stage, come from :func:`switch_entry` (:func:`lookup` has both)."""

_SWITCH: Final = re.compile(r"(?P<stage>[A-Z0-9][A-Z0-9_]*)_DEPLOY_ENABLED")


def switch_entry(stage: str) -> Entry:
    """The deploy switch of ``stage``: the repository variable every job of its deploy workflow
    reads in its ``if:``, written by that stage's stack from ``cicd:deploy.enabled``."""
    return Entry(
        deploy_switch_variable(stage),
        False,
        Where.REPOSITORY,
        Writer.EACH_STACK,
        (deploy_workflow_file(stage),),
        meaning="the deploy switch every job's if: reads (cicd:deploy.enabled)",
    )


def lookup(ref: tuple[bool, str]) -> Entry | None:
    """The contract's entry of ``(is_secret, NAME)``; a ``<STAGE>_DEPLOY_ENABLED`` variable is
    the switch of the stage of that name (``_`` read back as ``-``, as chain spells it)."""
    found = CONTRACT.get(ref)
    if found is not None:
        return found
    is_secret, name = ref
    match = None if is_secret else _SWITCH.fullmatch(name)
    if match is None:
        return None
    return switch_entry(match["stage"].lower().replace("_", "-"))


def reads_in(entry: Entry, workflow_file: str) -> bool:
    """Whether the contract lets ``workflow_file`` (a name under .github/workflows) read it."""
    return any(fnmatchcase(workflow_file, pattern) for pattern in entry.read_by)


def _entry(name: str, *, is_secret: bool) -> Entry:
    found = lookup((is_secret, name))
    if found is None:
        kind = "secret" if is_secret else "variable"
        raise KeyError(
            f"{kind} {name} is not in components/workflows/contract.py: add who writes it first"
        )
    return found


def var_name(name: str) -> str:
    """``vars.NAME`` for use inside a larger expression or condition; NAME must be in the contract."""
    _entry(name, is_secret=False)
    return f"vars.{name}"


def var(name: str) -> Expr:
    """``${{ vars.NAME }}``; NAME must be in the contract."""
    return expr(var_name(name))


def secret_name(name: str) -> str:
    """``secrets.NAME`` for use inside an expression; NAME must be in the contract."""
    _entry(name, is_secret=True)
    return f"secrets.{name}"


def secret(name: str) -> Expr:
    """``${{ secrets.NAME }}``; NAME must be in the contract."""
    return expr(secret_name(name))


def deploy_switch(stage: str) -> str:
    """The repository variable that guards every job of ``stage``'s deploy workflow."""
    return switch_entry(stage).name


def branch_ref(branch: str) -> str:
    """The full ref of a branch, as ``github.ref`` and a certificate identity spell it."""
    return f"refs/heads/{branch}"


def tag_ref(tag: str) -> str:
    """The full ref of a tag (or tag pattern), as ``github.ref`` spells it."""
    return f"refs/tags/{tag}"


TAG_REF_PREFIX: Final = tag_ref("v")
"""Release tags (v*), as ``github.ref`` spells them."""


# --------------------------------------------------------------------------------------------
# Scope: which job of a rendered workflow can see which value
# --------------------------------------------------------------------------------------------

_READ: Final = re.compile(r"\b(vars|secrets)\.([A-Za-z_][A-Za-z0-9_]*)")

BEFORE_ENVIRONMENT: Final = ("if", "runs-on", "concurrency", "strategy", "name")
"""Job keys GitHub evaluates before the job enters its environment: an environment's values are
empty there even in a job that names the environment (GitHub docs, "Contexts": ``vars`` of an
environment are available once the job references it; a job's ``if:`` is evaluated first)."""

_PULL_REQUEST_TRIGGERS: Final = frozenset({"pull_request", "pull_request_target"})


def reads(value: object) -> frozenset[tuple[bool, str]]:
    """Every ``(is_secret, NAME)`` a piece of a workflow (string, list or mapping) reads."""
    if isinstance(value, str):
        return frozenset((kind == "secrets", name) for kind, name in _READ.findall(value))
    if isinstance(value, Mapping):
        items: Iterable[object] = value.values()
    elif isinstance(value, list | tuple):
        items = value
    else:
        return frozenset()
    return frozenset().union(*(reads(item) for item in items))


def job_environment(job: Mapping[str, Any]) -> str | None:
    """The GitHub environment a job enters (``environment: NAME`` or ``{name: NAME, url: ...}``)."""
    environment = job.get("environment")
    if isinstance(environment, Mapping):
        return str(environment.get("name"))
    return None if environment is None else str(environment)


def _runs_on_pull_requests(workflow: Mapping[Any, Any], job: Mapping[str, Any]) -> bool:
    # PyYAML reads an unquoted ``on:`` key as the boolean True.
    triggers = workflow.get("on") or workflow.get(True) or {}
    names = {triggers} if isinstance(triggers, str) else set(triggers)
    if not names & _PULL_REQUEST_TRIGGERS:
        return False
    # A job whose if: requires a push (publish, notify) never runs for a pull request.
    return "github.event_name == 'push' &&" not in str(job.get("if", ""))


def scope_problems(filename: str, workflow: Mapping[Any, Any], environment: str) -> list[str]:
    """Reads of a rendered workflow that GitHub would answer with an empty value.

    ``environment`` is the GitHub environment of the stack that commits the file. An
    environment's variables and secrets are shown only to jobs whose ``environment:`` names it,
    and not in the job keys of :data:`BEFORE_ENVIRONMENT`; repository secrets are withheld from
    pull requests from forks and from Dependabot, so a job that runs on ``pull_request`` may read
    only those whose readers cope with an empty value (:attr:`Entry.may_be_absent`).
    """
    problems: list[str] = []
    for job_id, job in workflow.get("jobs", {}).items():
        entered = job_environment(job)
        early = reads([job.get(key) for key in BEFORE_ENVIRONMENT])
        inside = reads([value for key, value in job.items() if key not in BEFORE_ENVIRONMENT])
        for is_secret, name in sorted(early | inside):
            entry = lookup((is_secret, name))
            if entry is None:
                continue
            read = f"{filename}: job {job_id} reads {'secrets' if is_secret else 'vars'}.{name}"
            if entry.where is Where.ENVIRONMENT:
                if (is_secret, name) in early:
                    problems.append(
                        f"{read} in a job key GitHub evaluates before the job enters "
                        f"environment {environment} ({', '.join(BEFORE_ENVIRONMENT)}): empty there"
                    )
                elif entered != environment:
                    problems.append(
                        f"{read}, a value of GitHub environment {environment}, but the job "
                        f"does not enter it (environment: {entered or 'none'}): empty there"
                    )
            elif (
                entry.where is Where.REPOSITORY
                and is_secret
                and not entry.may_be_absent
                and _runs_on_pull_requests(workflow, job)
            ):
                problems.append(
                    f"{read}, which GitHub withholds from pull requests from forks and "
                    "Dependabot, and the job runs on pull_request without checking for it"
                )
    return problems

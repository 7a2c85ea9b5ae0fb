"""Runners: ``cicd:deploy.runner`` (where an environment's deploy job runs) and
``cicd-platform:runners`` (Actions Runner Controller and one runner scale set per environment).

``deploy.runner`` chooses one of GitHub's ``runs-on`` forms ("Choosing the runner for a job" in
GitHub's Actions documentation):

- nothing set: GitHub-hosted ``ubuntu-24.04``, as before;
- ``labels``: GitHub-hosted (one image label) or self-hosted labels such as
  ``[self-hosted, linux, x64]``: a runner with every label takes the job;
- ``group`` (with optional ``labels``): a runner of that runner group;
- ``scaleSet``: an Actions Runner Controller runner scale set, chosen by its name (its only
  label, ``runs-on: NAME``). With ``cicd:cluster.access: inCluster`` the deploy job uses that
  scale set's in-cluster ServiceAccount and the stack writes no KUBECONFIG secret.

Only the job in the environment (the one that reaches the cluster) moves to it; docs/runners.md
says why every other job stays on GitHub-hosted runners, and why a public repository may not
send its deploy job to a self-hosted runner.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, Final

from pydantic import AfterValidator, Field, Tag

from components.config.fields import ConfigModel, DnsLabel, SemVer, between, matches
from components.config.problems import Problem
from components.config.switch import OFF, ON, SwitchedOff, by_switch, is_switched

_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}$")
_HOSTED_IMAGE = re.compile(r"^(ubuntu|windows|macos|xcode)-[a-z0-9.-]+$")
"""GitHub-hosted image labels (``ubuntu-24.04``, ``windows-2025``, ``macos-15``, ...)."""
_NOT_LINUX = re.compile(r"^(windows|macos|xcode)(-|$)")

SELF_HOSTED: Final = "self-hosted"
RUNNER_BASE_IMAGE: Final = "ghcr.io/actions/actions-runner:2.334.0"
"""The official runner image a scale set's image is built FROM (docs/runners.md): the runner
release that actions-runner-controller's Makefile at tag gha-runner-scale-set-0.14.2 builds
(``RUNNER_VERSION ?= 2.334.0``). Not usable as it is: actions/runner's images/Dockerfile (read at
commit 00242473a238e2febc0d549a15ac0342cd04c9e5; the file builds every release, RUNNER_VERSION
is a build argument) installs curl, jq, unzip, git and docker on dotnet runtime-deps
8.0-jammy, but not ``gh``, which the deploy job's steps call; so
``runnerImage`` has no default and this image is refused (:func:`_carries_the_deploy_tools`)."""

_OFFICIAL_RUNNER_REPOSITORY: Final = "ghcr.io/actions/actions-runner"

RunnerLabel = Annotated[
    str,
    AfterValidator(
        matches(_LABEL, "must be a runner label: letters, digits, '.', '_' or '-', at most 100")
    ),
]
RunnerGroup = Annotated[
    str,
    AfterValidator(
        matches(_GROUP, "must be a runner group name: letters, digits, spaces, '.', '_' or '-'")
    ),
]


def _some(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("must list at least one label (leave labels out for the default)")
    return value


class RunnerConfig(ConfigModel):
    """Where the deploy job in the environment runs (``cicd:deploy.runner``). Default: GitHub-
    hosted ``ubuntu-24.04``. Set ``labels``, ``group`` (optionally with ``labels``) or
    ``scaleSet``."""

    labels: Annotated[tuple[RunnerLabel, ...], AfterValidator(_some)] | None = Field(
        default=None,
        description="Runner labels, all required: one GitHub-hosted image (ubuntu-24.04) or "
        "self-hosted labels such as [self-hosted, linux, x64]. Default ubuntu-24.04.",
    )
    group: RunnerGroup | None = Field(
        default=None,
        description="A runner group (runs-on: {group, labels}); with labels, a runner of the "
        "group that has them all. Default none.",
    )
    scale_set: DnsLabel | None = Field(
        default=None,
        description="An Actions Runner Controller runner scale set of this cluster's platform "
        "stack (cicd-platform:runners.scaleSets[].name), its name the only label. Required by "
        "cluster.access inCluster. Default none.",
    )

    @property
    def self_hosted(self) -> bool:
        """Whether the job leaves GitHub's own runners (anything but one GitHub image label)."""
        if self.scale_set is not None or self.group is not None:
            return True
        if self.labels is None:
            return False  # the default, ubuntu-24.04
        return not (len(self.labels) == 1 and _HOSTED_IMAGE.fullmatch(self.labels[0]))


def runner_problems(
    runner: RunnerConfig, in_cluster: bool, public_repository: bool | None
) -> Iterable[Problem]:
    """What is wrong with ``deploy.runner``, given the cluster access and, where this stack
    knows it (the first stage's ``pipeline.github.visibility``), whether the repository is
    public."""
    path = "deploy.runner"
    labels = runner.labels or ()
    if runner.scale_set is not None and (runner.labels is not None or runner.group is not None):
        yield Problem(
            f"{path}.scaleSet",
            "is the runner's only label (a scale set is chosen by its name, its runner group "
            "is set in the platform stack): remove labels and group",
            runner.scale_set,
        )
    seen: set[str] = set()
    for index, label in enumerate(labels):
        if label.lower() in seen:
            yield Problem(f"{path}.labels[{index}]", "repeats an earlier label", label)
        seen.add(label.lower())
    hosted = [label for label in labels if _HOSTED_IMAGE.fullmatch(label)]
    if hosted and (len(labels) > 1 or runner.group is not None):
        yield Problem(
            f"{path}.labels",
            f"mixes the GitHub-hosted image {hosted[0]} with other labels or a group: a "
            "GitHub-hosted runner is chosen by its one image label; a self-hosted one by "
            "self-hosted and its own labels",
            ", ".join(labels),
        )
    for index, label in enumerate(labels):
        if _NOT_LINUX.match(label.lower()):
            yield Problem(
                f"{path}.labels[{index}]",
                "must name a Linux runner: the deploy job's steps are bash scripts and a "
                "Linux kubectl",
                label,
            )
    if in_cluster and runner.scale_set is None:
        yield Problem(
            "cluster.access",
            "inCluster needs deploy.runner.scaleSet: the deploy job must run on the "
            "environment's runner scale set, whose pods carry the in-cluster identity",
            "inCluster",
        )
    if public_repository and (public := public_runner_problem(runner)) is not None:
        yield public


def public_runner_problem(runner: RunnerConfig) -> Problem | None:
    """A self-hosted runner (labels, group or scale set) on a public repository: refused in
    every stage (the first stage's render knows the visibility; the project check,
    components/config/project.py, applies it to the later stages)."""
    if not runner.self_hosted:
        return None
    return Problem(
        "deploy.runner",
        "must be a GitHub-hosted runner on a public repository "
        "(pipeline.github.visibility public): a pull request from a fork can add a "
        "workflow that runs on a self-hosted runner's labels and take over what it can "
        "reach (docs/runners.md)",
        runner.scale_set or runner.group or ", ".join(runner.labels or ()),
    )


# --------------------------------------------------------------------------------------------
# The platform side: cicd-platform:runners
# --------------------------------------------------------------------------------------------

_GITHUB_CONFIG_URL = re.compile(
    r"^https://[A-Za-z0-9.-]+/(enterprises/)?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?/?$"
)


class ScaleSetConfig(ConfigModel):
    """One runner scale set (``gha-runner-scale-set`` release), for one environment."""

    name: DnsLabel = Field(
        description="The scale set's name: its Helm release, its runnerScaleSetName and the "
        "label jobs choose it by (cicd:deploy.runner.scaleSet)."
    )
    environment: DnsLabel = Field(
        description="The environment stack whose deploy job runs here: its stack binds this "
        "scale set's ServiceAccount to its deployer Role (cicd:cluster.access inCluster)."
    )
    namespace: DnsLabel | None = Field(
        default=None,
        description="Namespace of the runner pods and their ServiceAccount. Default "
        "arc-runners-<environment>.",
    )
    min_runners: Annotated[int, AfterValidator(between(0, 20))] = Field(
        default=0, description="Idle runners kept (minRunners). Default 0."
    )
    max_runners: Annotated[int, AfterValidator(between(1, 50))] = Field(
        default=2, description="Most runners at once (maxRunners). Default 2."
    )
    runner_group: RunnerGroup | None = Field(
        default=None,
        description="GitHub runner group the scale set registers in (runnerGroup); null: the "
        "default group.",
    )

    @property
    def runner_namespace(self) -> str:
        return self.namespace or f"arc-runners-{self.environment}"


_ENABLED = "Install Actions Runner Controller and the scale sets. Default false."
_CHART_VERSION = (
    "Version of both charts, gha-runner-scale-set-controller and gha-runner-scale-set (they "
    "are released together). Default 0.14.2."
)
_CONFIG_URL = (
    "Where the scale sets register (githubConfigUrl): the repository URL keeps them to that "
    "repository. Required when enabled."
)
_CONFIG_SECRET = (
    "Name of a Secret that exists in each runner namespace with the GitHub App's "
    "github_app_id, github_app_installation_id and github_app_private_key, created outside "
    "Pulumi (never a value in config). Required when enabled."
)
_RUNNER_IMAGE = (
    "Runner image of every scale set, with a tag or digest. Required when enabled: an image "
    "built FROM ghcr.io/actions/actions-runner:2.334.0 that adds gh (and keeps bash, curl, jq), "
    "which the deploy job's steps call; the official image itself has no gh and is refused "
    "(docs/runners.md)."
)
_SCALE_SETS = "One runner scale set per environment of this cluster. Required when enabled."

GithubConfigUrl = Annotated[
    str,
    AfterValidator(
        matches(
            _GITHUB_CONFIG_URL,
            "must be the repository, organisation or enterprise URL the scale sets register "
            "with, such as https://github.com/acme/webshop",
        )
    ),
]


def _carries_the_deploy_tools(image: str) -> str:
    """Refuse the official runner image itself: it has no ``gh`` (actions/runner
    images/Dockerfile), so every release's first GitHub step would fail on it."""
    name = image.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    if name == _OFFICIAL_RUNNER_REPOSITORY:
        raise ValueError(
            "must be an image built FROM the official runner image with gh and jq added: "
            f"{_OFFICIAL_RUNNER_REPOSITORY} has no gh, which the deploy job calls "
            "(docs/runners.md)"
        )
    return image


RunnerImage = Annotated[
    str,
    AfterValidator(
        matches(
            re.compile(
                r"^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]{64})$"
            ),
            "must be an image with a tag or digest",
        )
    ),
    AfterValidator(_carries_the_deploy_tools),
]


def _some_scale_sets(value: tuple[ScaleSetConfig, ...]) -> tuple[ScaleSetConfig, ...]:
    if not value:
        raise ValueError("must list at least one scale set when enabled")
    return value


class RunnersOn(ConfigModel):
    """Actions Runner Controller (``cicd-platform:runners``), installed: the controller chart
    and one runner scale set per environment of this cluster. What it registers with and the
    scale sets are part of the type: it cannot be on without them."""

    enabled: Annotated[bool, is_switched(True)] = Field(description=_ENABLED)
    controller_namespace: DnsLabel = Field(
        default="arc-systems", description="Namespace of the controller. Default arc-systems."
    )
    chart_version: SemVer = Field(default="0.14.2", description=_CHART_VERSION)
    github_config_url: GithubConfigUrl = Field(description=_CONFIG_URL)
    github_config_secret: DnsLabel = Field(description=_CONFIG_SECRET)
    runner_image: RunnerImage = Field(description=_RUNNER_IMAGE)
    scale_sets: Annotated[tuple[ScaleSetConfig, ...], AfterValidator(_some_scale_sets)] = Field(
        description=_SCALE_SETS
    )


class RunnersSettings(ConfigModel):
    """The runners' settings set aside while ARC is off (all optional)."""

    controller_namespace: DnsLabel | None = Field(default=None, description="As when on.")
    chart_version: SemVer | None = Field(default=None, description=_CHART_VERSION)
    github_config_url: GithubConfigUrl | None = Field(default=None, description=_CONFIG_URL)
    github_config_secret: DnsLabel | None = Field(default=None, description=_CONFIG_SECRET)
    runner_image: RunnerImage | None = Field(default=None, description=_RUNNER_IMAGE)
    scale_sets: tuple[ScaleSetConfig, ...] = Field(default=(), description=_SCALE_SETS)


class RunnersOff(SwitchedOff):
    """``runners`` absent or ``enabled: false``: no runner scale sets in this cluster."""

    SWITCH = "enabled"
    enabled: Annotated[bool, is_switched(False)] = Field(default=False, description=_ENABLED)
    unused: RunnersSettings | None = Field(
        default=None, description="Settings written while ARC is off (ignored)."
    )


RunnersConfig = Annotated[
    Annotated[RunnersOn, Tag(ON)] | Annotated[RunnersOff, Tag(OFF)],
    by_switch(RunnersOn, RunnersOff),
]


def platform_runner_problems(runners: RunnersOn | RunnersOff) -> Iterable[Problem]:
    """The runners section's cross-field rules (``cicd-platform:`` paths): one scale set per
    environment, each in a namespace of its own."""
    namespace = "cicd-platform"
    if not isinstance(runners, RunnersOn):
        return
    names: dict[str, int] = {}
    environments: dict[str, int] = {}
    namespaces: dict[str, int] = {}
    for index, scale_set in enumerate(runners.scale_sets):
        path = f"runners.scaleSets[{index}]"
        if scale_set.name in names:
            yield Problem(f"{path}.name", "must be unique", scale_set.name, namespace)
        shared_environment = scale_set.environment in environments
        if shared_environment:
            yield Problem(
                f"{path}.environment",
                f"already has scale set {runners.scale_sets[environments[scale_set.environment]].name}: "
                "one per environment, so that no runner identity can act in two",
                scale_set.environment,
                namespace,
            )
        if scale_set.runner_namespace in namespaces and not shared_environment:
            yield Problem(
                f"{path}.namespace",
                "must differ from every other scale set's: a ServiceAccount of a shared "
                "namespace could be used by either scale set's pods",
                scale_set.runner_namespace,
                namespace,
            )
        if scale_set.runner_namespace == runners.controller_namespace:
            yield Problem(
                f"{path}.namespace",
                "must not be the controller's namespace",
                scale_set.runner_namespace,
                namespace,
            )
        if scale_set.min_runners > scale_set.max_runners:
            yield Problem(
                f"{path}.minRunners",
                f"must be at most maxRunners ({scale_set.max_runners})",
                str(scale_set.min_runners),
                namespace,
            )
        names.setdefault(scale_set.name, index)
        environments.setdefault(scale_set.environment, index)
        namespaces.setdefault(scale_set.runner_namespace, index)


def runner_facts(runners: RunnersOn | RunnersOff) -> dict[str, Any] | None:
    """The platform stack's ``runners`` output: per scale set name, its environment, namespace,
    ServiceAccount (what an environment stack binds) and ``githubConfigUrl`` (what it serves:
    an environment stack with ``cluster.access: inCluster`` refuses a scale set that serves more
    than its own repository); None when ARC is off."""
    if not isinstance(runners, RunnersOn):
        return None
    return {
        scale_set.name: {
            "environment": scale_set.environment,
            "namespace": scale_set.runner_namespace,
            "serviceAccount": runner_service_account(scale_set.name),
            "githubConfigUrl": runners.github_config_url,
        }
        for scale_set in runners.scale_sets
    }


def runner_service_account(scale_set: str) -> str:
    """The ServiceAccount of a scale set's runner pods (the platform stack creates it)."""
    return f"{scale_set}-runner"

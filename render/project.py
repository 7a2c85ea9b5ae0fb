"""``python -m render check-project [--stacks DIR] [--list]``: every stack file of a folder, together.

Reads every ``Pulumi.<stack>.yaml`` of DIR (default: the project folder), checks what only shows
across them (components/config/project.py: one chain, one app, the branching preset per stage),
renders each stack in-process (render/engine.py) and finds every GitHub object that two stacks
would both own. Ownership is derived from what the renders register, not from a list of config
keys: each custom ``github:`` resource is keyed by its type, the provider's owner and its
identifying inputs (:func:`identity`), so a resource type added later is covered as soon as a
stack registers it.

Each object owned twice is refused with one line naming the stack files, the object and the
stack that should own it (:func:`rightful_owner`). Kubernetes objects are keyed the same way
(:func:`kubernetes_identity`: the stack's platform stack, API group, kind, namespace, name), so
two stacks sharing a namespace on one cluster are refused object by object. Exit 1 on any problem, 0 otherwise; nothing
is written. ``--list`` prints the stages in chain order as a JSON list (the repository's own
workflows read it) after the same checks.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from components.chain import Chain, Stage, deploy_switch_variable, deploy_workflow_file
from components.config.app import Branching
from components.config.branching import production_stage
from components.config.project import (
    AppIdentity,
    ProjectConfig,
    check_project_config,
    stack_file,
)
from components.messages import escape
from render.engine import PROJECT_DIR, DuplicateUrnError, Registration, Rendered, UsageError, render
from render.stackfile import StackFileError, config_mapping
from render.stackref import StackReferenceError
from render.tree import is_kubernetes_object

IDENTIFYING_INPUT: Final = re.compile(
    r"^(repository|repositoryId|environment|pattern|branch|file|name|key|target|team|username)$"
    r"|(Name|Pattern|Slug|Id)$"
)
"""Inputs that name a GitHub object rather than describe it: the parts of the GitHub provider's
import ids (``repository:environment:secretName``, ``repository:pattern``,
``repository/file:branch``, ``repository:rulesetId``...; pulumi-github's resource docs,
"Import" sections, v6). Values (``content``, ``value``, settings) are left out, so two stacks
writing different content to one file still own one object."""

_NOT_OBJECTS: Final = ("pulumi:",)


def stacks_in(folder: Path) -> list[str]:
    """The stack names of the ``Pulumi.<stack>.yaml`` files in ``folder``."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in folder.glob("Pulumi.*.yaml"))


def provider_owners(rendered: Rendered) -> dict[str, str]:
    """Provider resource name -> the GitHub owner it acts on."""
    return {
        r.name: str(r.inputs.get("owner", "")).lower()
        for r in rendered.resources
        if r.type == "pulumi:providers:github"
    }


@dataclass(frozen=True)
class GitHubObject:
    """One object on GitHub: resource type, owner, identifying inputs (lower case)."""

    type: str
    owner: str
    fields: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.fields if k == key), None)

    def describe(self) -> str:
        kind = self.type.rsplit(":", 1)[-1]
        parts = ", ".join(f"{k} {v}" for k, v in self.fields)
        return f"GitHub {kind} ({parts})"


def identity(resource: Registration, owners: Mapping[str, str]) -> GitHubObject | None:
    """The GitHub object ``resource`` manages, or None when it is not one."""
    if not resource.custom or not resource.type.startswith("github:"):
        return None
    fields = tuple(
        sorted(
            (key, str(value).lower())
            for key, value in resource.inputs.items()
            if IDENTIFYING_INPUT.search(key) and isinstance(value, str | int)
        )
    )
    owner = owners.get(str(resource.options.get("provider")), "")
    return GitHubObject(resource.type, owner, fields)


def rightful_owner(obj: GitHubObject, chain: Chain, app: AppIdentity) -> tuple[Stage, str]:
    """The stage that owns ``obj`` by the chain and the preset, and why."""
    environment = obj.get("environment")
    for stage in chain.stages:
        if environment is not None and environment == stage.github_environment.lower():
            return stage, f"its GitHub environment is {stage.name}'s"
        if obj.get("file") == f".github/workflows/{deploy_workflow_file(stage.name)}".lower():
            return stage, f"it is {stage.name}'s deploy workflow"
        if obj.get("variableName") == deploy_switch_variable(stage.name).lower():
            return stage, f"it is {stage.name}'s deploy switch"
    protected = obj.get("pattern") if "branchProtection" in obj.type else None
    if (
        protected == "main"
        and app.branching is Branching.GITFLOW
        and app.default_branch.lower() != "main"
    ):
        stage = production_stage(chain)
        return stage, "gitflow: the production stage protects main"
    if protected is not None:
        return chain.first, (
            f"{app.branching}: the first stage protects the default branch {app.default_branch}"
        )
    return chain.first, "the first stage owns what the whole pipeline shares"


@dataclass(frozen=True)
class KubernetesObject:
    """One object on a cluster: the cluster (its platform stack), API group, kind, namespace
    (None: cluster-scoped) and name. The version is left out: one object is served at every
    version of its group."""

    cluster: str
    group: str
    kind: str
    namespace: str | None
    name: str

    def describe(self) -> str:
        where = [f"group {self.group}"] if self.group else []
        where.append("cluster-scoped" if self.namespace is None else f"namespace {self.namespace}")
        return (
            f"Kubernetes {self.kind} {self.name} ({', '.join(where)}) on the cluster of the "
            f"platform stack {self.cluster}"
        )


def kubernetes_identity(resource: Registration, cluster: str) -> KubernetesObject | None:
    """The Kubernetes object ``resource`` manages on ``cluster``, or None when it is not one
    (a provider, a component, a ``*Patch`` of an object declared elsewhere, or an object
    without a fixed name: Pulumi's auto-names carry a random suffix and cannot collide)."""
    if not resource.custom or not is_kubernetes_object(resource):
        return None
    metadata = resource.inputs.get("metadata")
    api_version = resource.inputs.get("apiVersion")
    kind = resource.inputs.get("kind")
    if not isinstance(metadata, dict) or not isinstance(api_version, str):
        return None
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not isinstance(name, str) or not isinstance(kind, str):
        return None
    return KubernetesObject(
        cluster=cluster,
        group=api_version.rpartition("/")[0],
        kind=kind,
        namespace=namespace if isinstance(namespace, str) and namespace else None,
        name=name,
    )


def kubernetes_ownership_problems(
    chain: Chain, clusters: Mapping[str, str], renders: Mapping[str, Rendered]
) -> list[str]:
    """One line per Kubernetes object that more than one stack would own.

    ``clusters`` maps each stack to its ``cicd:cluster.platformStack``: stacks naming one
    platform stack deploy to one cluster (docs/platform.md), so their objects must differ.
    Two stacks owning one object would each undo the other's changes, and destroying one would
    delete the other's (a shared Namespace takes everything in it along).
    """
    claims: dict[KubernetesObject, list[str]] = {}
    for stack in chain.names:
        if stack not in renders or stack not in clusters:
            continue
        for resource in renders[stack].resources:
            obj = kubernetes_identity(resource, clusters[stack])
            if obj is not None and stack not in claims.setdefault(obj, []):
                claims[obj].append(stack)
    return [
        escape(
            f"{' and '.join(stack_file(s) for s in stacks)} both own the {obj.describe()}: "
            "each stack needs objects of its own, or destroying one deletes the other's; give "
            "each stack on one cluster its own cicd:environment.namespace"
        )
        for obj, stacks in claims.items()
        if len(stacks) > 1
    ]


@dataclass
class ProjectCheck:
    """The outcome: the chain (when the stack files form one), renders and problem lines."""

    chain: Chain | None
    lines: list[str] = field(default_factory=list)
    renders: dict[str, Rendered] = field(default_factory=dict)


def project_config(stacks_dir: Path) -> ProjectConfig:
    """The chain and the project-wide config problems of ``stacks_dir``'s stack files, without
    rendering (what the repository's workflows need)."""
    stacks = stacks_in(stacks_dir)
    if not stacks:
        raise UsageError(f"no Pulumi.<stack>.yaml in {stacks_dir}")
    configs: dict[str, Mapping[str, Any]] = {}
    lines: list[str] = []
    for stack in stacks:
        try:
            configs[stack] = config_mapping(stacks_dir / stack_file(stack))
        except StackFileError as err:
            lines += err.lines
    if lines:
        return ProjectConfig(None, None, tuple(lines))
    return check_project_config(configs)


def check_project(stacks_dir: Path, project_dir: Path = PROJECT_DIR) -> ProjectCheck:
    """Check every stack file of ``stacks_dir`` together (see the module docstring)."""
    from components.config import ConfigError

    project = project_config(stacks_dir)
    result = ProjectCheck(chain=project.chain)
    result.lines += project.lines
    if project.chain is None or project.app is None:
        return result
    for stack in project.chain.names:
        try:
            result.renders[stack] = render(stack, project_dir, stacks_dir=stacks_dir)
        except (ConfigError, StackFileError, DuplicateUrnError) as err:
            result.lines += (line for line in err.lines if line not in result.lines)
        except StackReferenceError as err:
            result.lines.append(escape(f"{stack_file(stack)}: {err}"))
    result.lines += ownership_problems(project.chain, project.app, result.renders)
    clusters = {
        stack: facts.platform_stack
        for stack, facts in project.facts.items()
        if facts.platform_stack is not None
    }
    result.lines += kubernetes_ownership_problems(project.chain, clusters, result.renders)
    return result


def ownership_problems(
    chain: Chain, app: AppIdentity, renders: Mapping[str, Rendered]
) -> list[str]:
    """One line per GitHub object that more than one stack would own."""
    claims: dict[GitHubObject, list[str]] = {}
    for stack in chain.names:
        if stack not in renders:
            continue
        owners = provider_owners(renders[stack])
        for resource in renders[stack].resources:
            obj = identity(resource, owners)
            if obj is not None and stack not in claims.setdefault(obj, []):
                claims[obj].append(stack)
    lines = []
    for obj, stacks in claims.items():
        if len(stacks) < 2:
            continue
        owner, why = rightful_owner(obj, chain, app)
        others = [s for s in stacks if s != owner.name]
        files = " and ".join(stack_file(s) for s in stacks)
        lines.append(
            escape(
                f"{files} both own the {obj.describe()}: only {stack_file(owner.name)} should "
                f"({why}); remove it from {', '.join(stack_file(s) for s in others)}"
            )
        )
    return lines


def main(argv: Sequence[str]) -> int:
    from render.__main__ import _Parser

    p = _Parser(
        prog="python -m render check-project",
        description="Check every stack file of a folder together: one chain, one app, one "
        "owner per GitHub object.",
    )
    p.add_argument(
        "--stacks",
        type=Path,
        default=PROJECT_DIR,
        help="folder of the Pulumi.<stack>.yaml files (default the project folder)",
    )
    p.add_argument(
        "--list",
        action="store_true",
        help="print the stages in chain order as a JSON list (after the same checks)",
    )
    args = p.parse_args(list(argv))
    try:
        result = check_project(args.stacks.resolve())
    except UsageError as err:
        print(escape(f"render: {err}"), file=sys.stderr)
        return 2
    for line in result.lines:
        print(line, file=sys.stderr)
    if result.lines or result.chain is None:
        return 1
    if args.list:
        print(json.dumps(list(result.chain.names)))
        return 0
    objects = sum(
        1
        for rendered in result.renders.values()
        for r in rendered.resources
        if identity(r, provider_owners(rendered)) is not None
    )
    print(
        escape(
            f"project {args.stacks}: stages {' -> '.join(result.chain.names)}; "
            f"{objects} GitHub objects, each owned by one stack"
        )
    )
    return 0

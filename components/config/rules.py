"""Cross-field rules: checks that need more than one section; each yields Problems with explicit paths."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from pydantic.alias_generators import to_camel

from components.chain import Chain, Tier, default_tier
from components.config.branching import BranchPolicies, branching_rules, stage_role
from components.config.canary import CanaryOn, CanaryPlanConfig
from components.config.fields import SECRET_LOOKING, github_secret_name
from components.config.metrics import MetricsOn
from components.config.pipeline import (
    ATTESTATIONS_NEED,
    CODE_SCANNING_NEEDS,
    CODE_SECURITY_PLANS,
)
from components.config.problems import Problem
from components.config.settings import StackSettings
from components.config.switch import SwitchedOff
from components.release import duration_seconds, job_seconds_needed
from components.vocabulary import (
    MetricsPreset,
    PodSecurityLevel,
)

UNTRUSTED_ISSUERS: Final = frozenset({"letsencrypt-staging"})
"""ClusterIssuer names (cert-manager's documented examples) whose certificates chain to a CA that
is untrusted by design: Let's Encrypt's staging environment."""


def ingress_host(s: StackSettings) -> str:
    """The host of the environment's Ingress: ``ingress.host``, else the host of its URL."""
    return s.ingress.host or str(urlsplit(s.environment.url).hostname)


def canary_plan(s: StackSettings) -> CanaryPlanConfig | None:
    """The canary settings written in the stack file, whether the canary is on or set aside
    while off: rules on their values hold either way, so switching back on cannot surprise."""
    return s.canary if isinstance(s.canary, CanaryOn) else s.canary.unused


def cluster_side_rules(s: StackSettings) -> Iterable[Problem]:
    """Ingress, egress and what moved to the platform project."""
    plan = canary_plan(s)
    if plan is not None and plan.install_controller:
        yield Problem(
            "canary.installController",
            "must be false: the Argo Rollouts controller is installed by the platform project "
            "(platform/Pulumi.<cluster>.yaml); see docs/platform.md for the migration steps",
            "true",
        )
    nginx = plan.nginx if plan is not None else None
    if nginx is not None and nginx.host is not None and nginx.host != ingress_host(s):
        yield Problem(
            "canary.nginx.host",
            f"must equal the Ingress host {ingress_host(s)}: the canary splits the stack's "
            "one Ingress",
            nginx.host,
        )
    names = [rule.name for rule in s.network.egress]
    for index, rule in enumerate(s.network.egress):
        path = f"network.egress[{index}]"
        if rule.name in names[:index]:
            yield Problem(f"{path}.name", "must be unique", rule.name)
        if not (rule.cidrs or rule.namespaces):
            yield Problem(path, "must name at least one destination in cidrs or namespaces")
        if not rule.ports:
            yield Problem(f"{path}.ports", "must list at least one port")


def canary_rules(s: StackSettings) -> Iterable[Problem]:
    plan = canary_plan(s)
    previous = 0
    for index, step in enumerate(plan.steps if plan is not None else ()):
        if step.weight <= previous:
            yield Problem(
                f"canary.steps[{index}].weight",
                f"must be greater than the previous step's weight {previous}",
                str(step.weight),
            )
        previous = max(previous, step.weight)
    canary = s.canary_on
    if canary is not None and not canary.steps:
        yield Problem("canary.steps", "must list at least one step when canary.enabled is true")
    if s.analysis_on is not None and s.app.health_path is None:
        yield Problem(
            "app.healthPath",
            "is required when canary analysis is enabled (the analysis probes it)",
            "null",
        )
    analysis = s.analysis_on
    if (
        analysis is not None
        and analysis.metrics.preset is MetricsPreset.INGRESS_NGINX
        and (canary is None or canary.nginx is None)
    ):
        yield Problem(
            "canary.analysis.metrics.preset",
            "ingress-nginx needs canary.nginx, the nginx router's split (the controller counts "
            "the canary's requests only when it routes them)",
            analysis.metrics.preset.value,
        )
    if s.ingress.cluster_issuer in UNTRUSTED_ISSUERS:
        yield Problem(
            "ingress.clusterIssuer",
            "issues certificates no runner trusts (Let's Encrypt's staging CA), so the deploy "
            "workflow's health check and tests would fail; use a publicly trusted issuer such "
            "as letsencrypt-prod",
            s.ingress.cluster_issuer,
        )
    if s.app.health_path is not None and not s.app.health_path.startswith("/"):
        yield Problem("app.healthPath", "must start with '/'", s.app.health_path)
    yield from _timing_rules(s)


def _timing_rules(s: StackSettings) -> Iterable[Problem]:
    """Reject timing that cannot fit: a wait shorter than the steps, a job shorter than the wait."""
    canary = s.canary_on
    if canary is not None and not canary.steps:
        return
    plan = s.release_plan
    step_deadline = canary.step_deadline if canary is not None else "the default step deadline"
    if s.deploy.rollout_timeout is not None:
        timeout = duration_seconds(s.deploy.rollout_timeout)
        if timeout < plan.wait_seconds:
            yield Problem(
                "deploy.rolloutTimeout",
                f"must be at least {plan.wait_seconds}s: the canary steps between manual pauses "
                f"take up to that (pauses plus {step_deadline} per weight step)",
                s.deploy.rollout_timeout,
            )
    needed = job_seconds_needed(
        s.rollout_wait_seconds, plan.rollback_seconds, s.deploy.health_check_retries
    )
    if s.deploy.job_timeout_minutes * 60 < needed:
        yield Problem(
            "deploy.jobTimeoutMinutes",
            f"must be at least {-(-needed // 60)}: the job waits up to "
            f"{s.rollout_wait_seconds}s for the rollout, then checks health and may roll back",
            str(s.deploy.job_timeout_minutes),
        )


def plan_rules(s: StackSettings) -> Iterable[Problem]:
    """What CI uses must exist on the repository's GitHub plan (``cicd:pipeline.github``)."""
    pipeline = s.pipeline
    if pipeline is None:
        return
    github = pipeline.github
    if github.code_security and github.plan not in CODE_SECURITY_PLANS:
        yield Problem(
            "pipeline.github.codeSecurity",
            f"needs plan {', '.join(sorted(CODE_SECURITY_PLANS))}: GitHub sells Code Security "
            "for those only",
            f"true on plan {github.plan}",
        )
    if pipeline.scanners.sarif_upload and not github.code_scanning:
        yield Problem(
            "pipeline.scanners.sarifUpload",
            f"needs {CODE_SCANNING_NEEDS}; set it false or leave it out",
            f"true for {github.describe()}",
        )
    if pipeline.build_provenance and not github.attestations:
        yield Problem(
            "pipeline.buildProvenance",
            f"needs {ATTESTATIONS_NEED}; set it false or leave it out",
            f"true for {github.describe()}",
        )


def approval_rules(s: StackSettings) -> Iterable[Problem]:
    env = s.environment
    a = s.approval
    for kind in ("teams", "users"):
        entries = getattr(a.reviewers, kind)
        if len(entries) > 6:
            yield Problem(
                f"approval.reviewers.{kind}",
                "must list at most 6 entries (GitHub's limit)",
                str(len(entries)),
            )
    if a.protected_branches == a.custom_branch_policies:
        yield Problem(
            "approval",
            "must set exactly one of protectedBranches and customBranchPolicies to true",
            f"protectedBranches={str(a.protected_branches).lower()}, "
            f"customBranchPolicies={str(a.custom_branch_policies).lower()}",
        )
    if a.custom_branch_policies and not (a.branches or a.tags):
        yield Problem(
            "approval.branches", "must list a branch or tag when customBranchPolicies is true"
        )
    if not a.deploy_ref_roles:
        yield Problem(
            "approval.deployRefRoles",
            "must name at least one role (admin, maintain, write): without one nobody could "
            "create the refs this environment deploys from",
        )
    elif len(set(a.deploy_ref_roles)) != len(a.deploy_ref_roles):
        yield Problem("approval.deployRefRoles", "must not name a role twice")
    if a.protected_branches and (a.branches or a.tags):
        yield Problem(
            "approval.branches",
            "must be empty when protectedBranches is true (GitHub ignores them)",
        )
    if env.needs_approval:
        if not (a.reviewers.teams or a.reviewers.users):
            yield Problem("approval.reviewers", f"must name at least one reviewer in {env.name}")
        if not a.prevent_self_review:
            yield Problem("approval.preventSelfReview", f"must be true in {env.name}", "false")
        if a.can_admins_bypass:
            yield Problem("approval.canAdminsBypass", f"must be false in {env.name}", "true")
    if env.is_production:
        if a.protected_branches:
            yield Problem(
                "approval.protectedBranches",
                f"must be false in {env.name} (tier production): it deploys only from main or "
                "release tags",
                "true",
            )
        for index, branch in enumerate(a.branches):
            if branch != "main":
                yield Problem(
                    f"approval.branches[{index}]",
                    f"must be main in {env.name} (tier production)",
                    branch,
                )
        for index, tag in enumerate(a.tags):
            if not re.fullmatch(r"v[0-9A-Za-z.*]*", tag):
                yield Problem(
                    f"approval.tags[{index}]", "must be a release tag pattern such as v*", tag
                )


def environment_rules(s: StackSettings, stack: str) -> Iterable[Problem]:
    env = s.environment
    if env.name != stack:
        yield Problem("environment.name", f"must match the stack name '{stack}'", env.name)
    elif env.tier is None and default_tier(env.name) is None:
        yield Problem(
            "environment.tier",
            f"is required for a stage named '{env.name}' (development, staging or production; "
            "only dev, staging and prod have a default)",
        )
    if env.is_first and env.is_production:
        yield Problem(
            "environment.promotesFrom",
            f"is required in {env.name} (tier production): the first stage deploys after green "
            "CI without any approval; name the stage it promotes from",
        )
    if (
        env.stage_tier is not Tier.DEVELOPMENT
        and env.pod_security_level is not PodSecurityLevel.RESTRICTED
    ):
        yield Problem(
            "environment.podSecurity",
            f"must be restricted in {env.name} (tier {env.stage_tier})",
            env.pod_security_level,
        )
    for name in env.variables:
        try:
            github_secret_name(name)
        except ValueError as err:
            yield Problem(f"environment.variables.{name}", str(err), name)
    names = [secret.name for secret in env.secrets]
    for index, name in enumerate(names):
        if name in names[:index] or name == "KUBECONFIG":
            yield Problem(
                f"environment.secrets[{index}].name",
                "must be unique and not KUBECONFIG (the stack writes that one)",
                name,
            )
    if s.pipeline is not None and not env.is_first:
        yield Problem(
            "pipeline",
            f"must be removed from the {env.name} stack: only the first stage sets it (it owns "
            "ci.yml)",
        )
    if s.pipeline is None and env.is_first:
        yield Problem("pipeline", f"is required in the first stage ({env.name}), which owns ci.yml")
    if s.app.image.split("/")[0] != s.registry.server:
        yield Problem("app.image", f"must be in the registry {s.registry.server}", s.app.image)
    if s.app.image_tag == "latest":
        yield Problem("app.imageTag", "must pin a version, never latest", "latest")


def stage_branching_rules(s: StackSettings, chain: Chain) -> Iterable[Problem]:
    """The branching preset's rules for this stack's place in ``chain`` (the chain read from the
    sibling stack files): the same role (components/config/branching.py stage_role) as the
    project-wide check gives it, so one configuration passes both or neither."""
    bp = s.branch_protection
    yield from branching_rules(
        s.app.branching,
        s.app.default_branch,
        stage_role(chain, chain.stage(s.environment.name)),
        BranchPolicies(
            protected_branch=None if bp is None else bp.branch,
            branches=s.approval.branches,
            tags=s.approval.tags,
        ),
    )


def metrics_rules(s: StackSettings) -> Iterable[Problem]:
    if "metrics" not in s.model_fields_set:
        return
    metrics = s.metrics if isinstance(s.metrics, MetricsOn) else s.metrics.unused
    if not s.environment.is_first:
        yield Problem(
            "metrics",
            "must only be set in the first stage (no environment.promotesFrom), which owns the "
            "shared files",
        )
    if metrics is None:
        return
    if not metrics.windows or len(set(metrics.windows)) != len(metrics.windows):
        yield Problem("metrics.windows", "must list distinct window lengths", str(metrics.windows))
    if metrics.environments is not None and not metrics.environments:
        yield Problem("metrics.environments", "must name at least one GitHub environment")
    if metrics.pushgateway_auth != "none" and metrics.pushgateway_url is None:
        yield Problem(
            "metrics.pushgatewayAuth",
            "needs cicd:metrics.pushgatewayUrl: credentials for no gateway",
            str(metrics.pushgateway_auth),
        )
    elif metrics.pushgateway_auth != "none" and not str(metrics.pushgateway_url).startswith(
        "https://"
    ):
        yield Problem(
            "metrics.pushgatewayUrl",
            f"must be https:// with pushgatewayAuth {metrics.pushgateway_auth}: the credentials "
            "would cross the network in clear text",
            str(metrics.pushgateway_url),
        )


STACK_VARIABLES: Final = frozenset(
    {"NAMESPACE", "WORKLOAD_NAME", "WORKLOAD_KIND", "APP_URL", "DEPLOY_ENABLED"}
)
"""Environment variables the stack writes itself (``__main__.py``); config may not set them."""

REPOSITORY_VARIABLE: Final = re.compile(r"[A-Z0-9_]+_DEPLOY_ENABLED")
"""Repository variables the stacks write, the deploy switches ``<STAGE>_DEPLOY_ENABLED``
(components.chain.deploy_switch_variable) of any stage; an environment variable of such a name
would shadow one."""


def written_by_a_stack(name: str) -> bool:
    """Whether a variable of that name is one the stacks write themselves."""
    upper = name.upper()
    return upper in STACK_VARIABLES or REPOSITORY_VARIABLE.fullmatch(upper) is not None


MAX_ENVIRONMENT_VARIABLES: Final = 100
"""GitHub's limit of configuration variables per environment."""

MAX_VARIABLE_BYTES: Final = 48 * 1024
"""GitHub's limit on the size of one configuration variable (48 KB)."""

MAX_GROUP_NAME: Final = 253
"""Longest RBAC subject name accepted here (a Kubernetes object name's limit)."""


def limit_rules(s: StackSettings) -> Iterable[Problem]:
    """Values GitHub or Kubernetes would refuse at apply time, refused now with the limit named."""
    env = s.environment
    for kind in ("teams", "users"):
        entries = [str(entry) for entry in getattr(s.approval.reviewers, kind)]
        for index, entry in enumerate(entries):
            if entry.lower() in (e.lower() for e in entries[:index]):
                yield Problem(
                    f"approval.reviewers.{kind}[{index}]", "lists the same reviewer twice", entry
                )
    for kind in ("branches", "tags"):
        patterns = getattr(s.approval, kind)
        for index, pattern in enumerate(patterns):
            if pattern in patterns[:index]:
                yield Problem(f"approval.{kind}[{index}]", "lists the same pattern twice", pattern)
    stack_written = len(STACK_VARIABLES)
    if len(env.variables) + stack_written > MAX_ENVIRONMENT_VARIABLES:
        yield Problem(
            "environment.variables",
            f"must list at most {MAX_ENVIRONMENT_VARIABLES - stack_written} variables: GitHub "
            f"allows {MAX_ENVIRONMENT_VARIABLES} per environment and the stack writes "
            f"{stack_written} itself",
            str(len(env.variables)),
        )
    for name, value in env.variables.items():
        path = f"environment.variables.{name}"
        if written_by_a_stack(name):
            yield Problem(
                path,
                "is written by the stack itself; remove it from environment.variables",
                name,
            )
        elif SECRET_LOOKING.search(name):
            yield Problem(
                path,
                "looks like a secret, and variables are shown unmasked in logs: use "
                "environment.secrets with a config key set by pulumi config set --secret",
            )
        if len(value.encode()) > MAX_VARIABLE_BYTES:
            yield Problem(path, "must be at most 48 KB (GitHub's limit per variable)")
    for kind in ("viewer_groups", "operator_groups"):
        for index, group in enumerate(getattr(s.access, kind)):
            if (
                not group.strip()
                or group != group.strip()
                or len(group) > MAX_GROUP_NAME
                or re.search(r"[\x00-\x1f\x7f]", group)
            ):
                yield Problem(
                    f"access.{to_camel(kind)}[{index}]",
                    f"must be a group name: not empty, no surrounding spaces or control "
                    f"characters, at most {MAX_GROUP_NAME} characters",
                    group,
                )


def warnings_of(s: StackSettings) -> Iterable[str]:
    if s.pipeline is not None and "github" not in s.pipeline.model_fields_set:
        yield (
            "cicd:pipeline.github not set: assuming a private repository on plan free, so ci.yml "
            "runs no build provenance attestation and no SARIF upload (docs/supply-chain.md)"
        )
    canary = s.canary_on
    for path, switch, off in (
        ("canary", "enabled", s.canary),
        ("canary.analysis", "enabled", canary.analysis if canary else None),
        ("pipeline.scanners", "sonarqube", s.pipeline.scanners if s.pipeline else None),
        ("metrics", "enabled", s.metrics),
    ):
        if isinstance(off, SwitchedOff) and off.ignored_keys():
            yield (
                f"cicd:{path}: {', '.join(off.ignored_keys())} ignored while {switch} is false "
                "(kept for when it is switched back on)"
            )
    # Weights as pod ratios are warned about once the platform's router is known
    # (components/stack.py, replica_weight_warning).

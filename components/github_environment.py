"""GitHub side of one environment, and the repository-wide pieces a stack owns.

``DeploymentEnvironment`` is the environment reviewers use: a staging or prod job that names it
waits until one of the required reviewers approves (and the wait timer has run). It holds:

- ``RepositoryEnvironment`` with reviewers (team and user ids; slugs are looked up with
  ``get_team``/``get_user`` and turned into numbers, numeric ids are used as given), wait timer,
  ``prevent_self_review`` (only with reviewers: GitHub refuses it without) and
  ``can_admins_bypass``;
- one ``RepositoryEnvironmentDeploymentPolicy`` per branch or tag pattern, created after the
  environment (custom branch policies);
- ``ActionsEnvironmentSecret``s (``value=``, a secret Output): ``KUBECONFIG`` from the Kubernetes
  side and the named secrets of stack config; a secret marked ``rotate_outside_pulumi`` ignores
  ``remoteUpdatedAt`` so a rotation made in GitHub is not reverted;
- ``ActionsEnvironmentVariable``s the deploy workflows read.

``RepositoryGuards`` holds what one stack owns at repository level: the shared pipeline's
repository secrets (the first stage), the stack's deploy switch (``<STAGE>_DEPLOY_ENABLED``:
``DEV_DEPLOY_ENABLED``, ..., components.chain.deploy_switch_variable; a job-level
``if:`` cannot read environment variables, so the switch that keeps a deploy workflow inert must
live at repository level) and the protection of a branch (the first stage: the default branch; tier production: main). The branch
protection is created after the workflow files (``depends_on``) because RepositoryFile commits
straight to the default branch: on the first ``pulumi up`` the files land before the branch is
protected, and afterwards the stack's token (a repository admin) may still commit because
``enforce_admins`` is off. That is the documented bypass: see docs/going-live.md, "GitHub token".
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_github as github

from components.vocabulary import BranchPolicy, RepositoryRole, Reviewer


@dataclass(frozen=True)
class EnvironmentSecretArgs:
    value: pulumi.Input[str]
    rotate_outside_pulumi: bool = False


@dataclass(frozen=True)
class RefGuardArgs:
    """Who may create, move or delete the refs an environment deploys from.

    The environment's branch policy says which refs may deploy; it does not say who may make
    such a ref. A ``workflow_dispatch`` runs the workflow file of the ref it is dispatched on, so
    anyone who could push a ``v9`` tag or a ``release/x`` branch could run their own version of
    the deploy workflow with this environment's secrets once a reviewer approves. The rulesets
    close that: tags (``tags``) may be created, moved or deleted only by ``roles``; branches
    (``branches``: the deploy patterns other than the default branch and the stack's protected
    branch, which have their own protection) may be created, force-pushed or deleted only by
    ``roles``, while ordinary pushes and pull-request merges stay open to writers.
    """

    branches: Sequence[str]
    tags: Sequence[str]
    roles: Sequence[RepositoryRole]


@dataclass(frozen=True)
class DeploymentEnvironmentArgs:
    """Inputs of a GitHub deployment environment.

    ``branch_policy`` is one of GitHub's two exclusive modes (its API's two booleans are derived
    from it, so both or neither cannot be sent); ``branches``/``tags`` are the patterns of
    :attr:`BranchPolicy.CUSTOM` and ignored otherwise.
    """

    repository: str
    environment: str
    reviewer_teams: Sequence[Reviewer]
    reviewer_users: Sequence[Reviewer]
    wait_timer: int
    prevent_self_review: bool
    can_admins_bypass: bool
    branch_policy: BranchPolicy
    branches: Sequence[str]
    tags: Sequence[str]
    secrets: Mapping[str, EnvironmentSecretArgs]
    variables: Mapping[str, pulumi.Input[str]]
    protect_secrets: bool = False
    ref_guard: RefGuardArgs | None = None


def _reviewer_id(
    slug_or_id: Reviewer, lookup: Callable[[str], pulumi.Output[str]]
) -> pulumi.Output[int]:
    """Numeric ids are used as given (tokens that cannot read the org); slugs are looked up."""
    if isinstance(slug_or_id, int) or str(slug_or_id).isdigit():
        return pulumi.Output.from_input(int(slug_or_id))
    return lookup(str(slug_or_id)).apply(int)


class DeploymentEnvironment(pulumi.ComponentResource):
    """One GitHub deployment environment with its protection rules, secrets and variables."""

    environment: github.RepositoryEnvironment

    def __init__(
        self,
        name: str,
        args: DeploymentEnvironmentArgs,
        opts: pulumi.ResourceOptions | None = None,
        provider: pulumi.ProviderResource | None = None,
    ) -> None:
        super().__init__("cicd:github:DeploymentEnvironment", name, None, opts)
        lookup_opts = pulumi.InvokeOutputOptions(provider=provider)

        def team_lookup(slug: str) -> pulumi.Output[str]:
            return github.get_team_output(slug=slug, opts=lookup_opts).id

        def user_lookup(login: str) -> pulumi.Output[str]:
            return github.get_user_output(username=login, opts=lookup_opts).id

        reviewers = None
        if args.reviewer_teams or args.reviewer_users:
            reviewers = [
                github.RepositoryEnvironmentReviewerArgs(
                    teams=[_reviewer_id(t, team_lookup) for t in args.reviewer_teams],
                    users=[_reviewer_id(u, user_lookup) for u in args.reviewer_users],
                )
            ]
        self.environment = github.RepositoryEnvironment(
            f"{name}-environment",
            repository=args.repository,
            environment=args.environment,
            reviewers=reviewers,
            wait_timer=args.wait_timer,
            # GitHub answers 422 to self-review prevention on an environment without required
            # reviewers (dev): it is only sent where there is a review to protect.
            prevent_self_review=args.prevent_self_review and reviewers is not None,
            can_admins_bypass=args.can_admins_bypass,
            deployment_branch_policy=github.RepositoryEnvironmentDeploymentBranchPolicyArgs(
                protected_branches=args.branch_policy is BranchPolicy.PROTECTED_BRANCHES,
                custom_branch_policies=args.branch_policy is BranchPolicy.CUSTOM,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        after_env = pulumi.ResourceOptions(parent=self, depends_on=[self.environment])
        environment_name = self.environment.environment
        if args.branch_policy is BranchPolicy.CUSTOM:
            branch_suffix = _suffixes(args.branches)
            tag_suffix = _suffixes(args.tags)
            for pattern in args.branches:
                github.RepositoryEnvironmentDeploymentPolicy(
                    f"{name}-branch-{branch_suffix[pattern]}",
                    repository=args.repository,
                    environment=environment_name,
                    branch_pattern=pattern,
                    opts=after_env,
                )
            for pattern in args.tags:
                github.RepositoryEnvironmentDeploymentPolicy(
                    f"{name}-tag-{tag_suffix[pattern]}",
                    repository=args.repository,
                    environment=environment_name,
                    tag_pattern=pattern,
                    opts=after_env,
                )
        if args.ref_guard is not None:
            _guard_refs(name, args.repository, args.environment, args.ref_guard, self)
        for secret_name, secret in sorted(args.secrets.items()):
            github.ActionsEnvironmentSecret(
                f"{name}-secret-{secret_name.lower()}",
                repository=args.repository,
                environment=environment_name,
                secret_name=secret_name,
                value=pulumi.Output.secret(secret.value),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[self.environment],
                    ignore_changes=["remoteUpdatedAt"] if secret.rotate_outside_pulumi else None,
                    protect=args.protect_secrets,
                    retain_on_delete=args.protect_secrets,
                ),
            )
        for variable_name, value in sorted(args.variables.items()):
            github.ActionsEnvironmentVariable(
                f"{name}-variable-{variable_name.lower()}",
                repository=args.repository,
                environment=environment_name,
                variable_name=variable_name,
                value=value,
                opts=after_env,
            )
        self.register_outputs({"environment": environment_name})


def _guard_refs(
    name: str, repository: str, environment: str, guard: RefGuardArgs, parent: pulumi.Resource
) -> None:
    """One tag ruleset and one branch ruleset (where there are patterns) per environment."""
    bypass = [
        github.RepositoryRulesetBypassActorArgs(
            actor_type="RepositoryRole", actor_id=role.actor_id, bypass_mode="always"
        )
        for role in guard.roles
    ]
    for target, prefix, patterns in (
        ("tag", "refs/tags/", guard.tags),
        ("branch", "refs/heads/", guard.branches),
    ):
        if not patterns:
            continue
        github.RepositoryRuleset(
            f"{name}-{target}-refs",
            repository=repository,
            name=f"{environment}: deploy {'tags' if target == 'tag' else 'branches'}",
            target=target,
            enforcement="active",
            conditions=github.RepositoryRulesetConditionsArgs(
                ref_name=github.RepositoryRulesetConditionsRefNameArgs(
                    includes=[prefix + pattern for pattern in patterns], excludes=[]
                )
            ),
            rules=github.RepositoryRulesetRulesArgs(
                creation=True,
                deletion=True,
                non_fast_forward=True,
                # A release tag is a name that never moves; a release branch takes pushes.
                update=target == "tag",
            ),
            bypass_actors=bypass,
            opts=pulumi.ResourceOptions(parent=parent),
        )


def _slug(pattern: str) -> str:
    """A stable resource-name suffix for a branch or tag pattern (``release/*`` -> ``release-all``)."""
    return pattern.replace("*", "all").replace("/", "-").replace(".", "-")


def _suffixes(patterns: Sequence[str]) -> dict[str, str]:
    """Pattern -> resource-name suffix, distinct for distinct patterns.

    :func:`_slug` is readable but not one-to-one (``release/*`` and ``release-*`` both give
    ``release-all``), and two resources with one name would be one URN, which the engine
    refuses. Patterns whose slugs collide get a short hash of the pattern appended; the others
    keep their plain slug, so existing resource names do not change.
    """
    by_slug: dict[str, set[str]] = {}
    for pattern in patterns:
        by_slug.setdefault(_slug(pattern), set()).add(pattern)
    out = {}
    for pattern in patterns:
        slug = _slug(pattern)
        if len(by_slug[slug]) > 1:
            slug += "-" + hashlib.sha256(pattern.encode()).hexdigest()[:8]
        out[pattern] = slug
    return out


@dataclass(frozen=True)
class BranchProtectionArgs:
    branch: str
    required_checks: Sequence[str]
    required_approvals: int
    require_code_owner_reviews: bool
    dismiss_stale_reviews: bool


@dataclass(frozen=True)
class RepositoryGuardsArgs:
    """Repository-level settings a stack owns; empty when the stack owns none."""

    repository: str
    secrets: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    variables: Mapping[str, str] = field(default_factory=dict)
    protection: BranchProtectionArgs | None = None
    committed_files: Sequence[pulumi.Resource] = ()


class RepositoryGuards(pulumi.ComponentResource):
    """Repository secrets of the shared pipeline and protection of the stack's branch."""

    def __init__(
        self, name: str, args: RepositoryGuardsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cicd:github:RepositoryGuards", name, None, opts)
        for secret_name, value in sorted(args.secrets.items()):
            github.ActionsSecret(
                f"{name}-secret-{secret_name.lower()}",
                repository=args.repository,
                secret_name=secret_name,
                value=pulumi.Output.secret(value),
                opts=pulumi.ResourceOptions(parent=self),
            )
        for variable_name, value in sorted(args.variables.items()):
            github.ActionsVariable(
                f"{name}-variable-{variable_name.lower()}",
                repository=args.repository,
                variable_name=variable_name,
                value=value,
                opts=pulumi.ResourceOptions(parent=self),
            )
        if args.protection is not None:
            p = args.protection
            github.BranchProtection(
                f"{name}-protect-{_slug(p.branch)}",
                repository_id=args.repository,
                pattern=p.branch,
                enforce_admins=False,
                allows_deletions=False,
                allows_force_pushes=False,
                require_conversation_resolution=True,
                required_status_checks=[
                    github.BranchProtectionRequiredStatusCheckArgs(
                        strict=True, contexts=list(p.required_checks)
                    )
                ],
                required_pull_request_reviews=[
                    github.BranchProtectionRequiredPullRequestReviewArgs(
                        required_approving_review_count=p.required_approvals,
                        require_code_owner_reviews=p.require_code_owner_reviews,
                        dismiss_stale_reviews=p.dismiss_stale_reviews,
                        require_last_push_approval=True,
                    )
                ],
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.committed_files)),
            )
        self.register_outputs({})

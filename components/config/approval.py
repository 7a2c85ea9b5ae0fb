"""Section ``cicd:approval``: who approves a deployment, and from which branches and tags."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
)

from components.config.fields import (
    TEAM_SLUG,
    USER_LOGIN,
    BranchPattern,
    ConfigModel,
    between,
    reviewer_id,
)
from components.vocabulary import BranchPolicy, RepositoryRole, Reviewer

TeamReviewer = Annotated[
    Reviewer,
    BeforeValidator(reviewer_id(TEAM_SLUG, "must be a team slug (lower case, digits, '-', '_')")),
]
UserReviewer = Annotated[
    Reviewer,
    BeforeValidator(reviewer_id(USER_LOGIN, "must be a GitHub login (letters, digits, '-')")),
]


class ReviewersConfig(ConfigModel):
    """Required reviewers: slugs (looked up to ids) or numeric ids."""

    teams: tuple[TeamReviewer, ...] = Field(
        default=(), description="Team slugs or numeric team ids; at most 6."
    )
    users: tuple[UserReviewer, ...] = Field(
        default=(), description="User logins or numeric user ids; at most 6."
    )


class ApprovalConfig(ConfigModel):
    """Who approves a deployment and from where it may come (``cicd:approval``)."""

    reviewers: ReviewersConfig = Field(
        default=ReviewersConfig(), description="Required reviewers of the environment."
    )
    wait_timer: Annotated[int, AfterValidator(between(0, 43200))] = Field(
        default=0, description="Minutes to wait before a job may proceed (0..43200). Default 0."
    )
    prevent_self_review: bool = Field(
        default=True, description="The person who triggered a deployment cannot approve it."
    )
    can_admins_bypass: bool | None = Field(
        default=None,
        description="Admins may skip the protection rules. Default true in the first stage, false in later ones.",
    )
    protected_branches: bool = Field(
        default=False,
        description="Deploy only from branches with protection rules (GitHub mode 1 of 2).",
    )
    custom_branch_policies: bool = Field(
        default=True,
        description="Deploy only from the branches and tags listed here (GitHub mode 2 of 2).",
    )
    branches: tuple[BranchPattern, ...] = Field(
        default=(), description="Branch patterns allowed to deploy (custom policies)."
    )
    tags: tuple[BranchPattern, ...] = Field(
        default=(), description="Tag patterns allowed to deploy (custom policies)."
    )
    deploy_ref_roles: tuple[RepositoryRole, ...] = Field(
        default=(RepositoryRole.ADMIN, RepositoryRole.MAINTAIN),
        description="Repository roles that may create, move or delete the tags and the branches "
        "(other than the default branch and this stack's protected branch) this environment "
        "deploys from; a ruleset refuses everyone else. Default [admin, maintain].",
    )

    @property
    def branch_policy(self) -> BranchPolicy:
        """The one branch-policy mode the two keys select (the rules reject both or neither)."""
        if self.protected_branches:
            return BranchPolicy.PROTECTED_BRANCHES
        return BranchPolicy.CUSTOM
